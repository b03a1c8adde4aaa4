//! `pgcert self-signed`: the PostgreSQL manual's one-shot self-signed server certificate.

use crate::cli::Ctx;
use crate::cli::args::{KeyTypeArgs, OutArgs, SanArgs, SubjectArgs, TemplateArgs, ValidityArgs};
use crate::issuance::{self, Outputs};
use crate::pki::issue::CertSpec;
use crate::pki::serial::Serial;
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Writes server.crt and server.key (0600). The certificate is its own trust anchor: give the same \
server.crt to clients as sslrootcert for sslmode=verify-full. The CN is always added as a SAN.

EXAMPLES:
  pgcert self-signed --cn db.example.com
  pgcert self-signed --cn localhost --san 127.0.0.1 --out /var/lib/postgresql/15/main

EXIT CODES:
  0  success
  1  failure (e.g. server.key exists: pass --force)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    subject: SubjectArgs,
    #[command(flatten)]
    sans: SanArgs,
    #[command(flatten)]
    validity: ValidityArgs,
    #[command(flatten)]
    key_type: KeyTypeArgs,
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    out: OutArgs,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let profile = a.template.load("server")?;
    let spec = CertSpec {
        subject: a.subject.resolve(None)?,
        sans: a.sans.sans.clone(),
        validity: a.validity.resolve(&profile)?,
        serial: Serial::random(),
        pathlen: None,
        profile,
    };
    let outputs = Outputs {
        dir: a.out.out.clone(),
        base: a.out.name.clone().unwrap_or_else(|| "server".into()),
        owner: None,
        force: ctx.force,
        server_files: None,
        extra_chain: Vec::new(),
        leaf_only: false,
    };
    let key = a.key_type.generate(&ctx.report)?;
    let (issued, files) = issuance::self_signed(&spec, &key, &outputs)?;
    ctx.report.finish(&Outcome {
        command: "self-signed".into(),
        certificates: vec![CertSummary::new(
            "self-signed",
            Some(outputs.dir.join(format!("{}.crt", outputs.base))),
            &issued.cert,
        )],
        files,
        ..Default::default()
    });
    Ok(())
}
