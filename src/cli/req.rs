//! `pgcert req`: a key and a certificate signing request (`openssl req -new`), for a CA
//! elsewhere to sign.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::cli::Ctx;
use crate::cli::args::{KeyTypeArgs, OutArgs, SanArgs, SubjectArgs, load_key, parse_pass};
use crate::files::{FileWrite, Overwrite, Staging};
use crate::passphrase::PassSource;
use crate::pki::csr::{Asks, make_csr};
use crate::pki::encoding::to_pem;
use crate::report::Outcome;

pub(crate) const HELP: &str = "Writes BASE.csr and, unless --key is given, a new BASE.key (0600). BASE is --name, else the CN. \
The request carries the subject, the SANs given with --san and, with --profile, the extendedKeyUsage of a server \
(serverAuth) or client (clientAuth) certificate, from which 'pgcert sign' takes its profile; the signing CA's profile \
decides the rest. \
A server certificate signed by `pgcert sign --profile server` also gets its CN as a SAN.

EXAMPLES:
  pgcert req --cn db1.example.com --san db1 --san 10.0.0.5 --profile server
  pgcert req --cn alice --profile client
  pgcert req --subj \"/O=Example/CN=db1.example.com\" --key server.key --passin env:KEY_PASS --name db1

EXIT CODES:
  0  success
  1  failure (existing files without --force, unreadable key, wrong passphrase)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    subject: SubjectArgs,
    #[command(flatten)]
    sans: SanArgs,
    /// Use this existing key (PEM or DER; PKCS#8, PKCS#1 or SEC1) instead of making one.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Passphrase of --key: env:VAR, file:PATH, fd:N, stdin or pass:TEXT.
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passin: Option<PassSource>,
    #[command(flatten)]
    key_type: KeyTypeArgs,
    /// What the certificate is for: server (a host) or client (a database user). The request
    /// then asks for that extendedKeyUsage, and 'pgcert sign' picks the matching profile.
    #[arg(long, value_name = "PROFILE", value_parser = ["server", "client"])]
    profile: Option<String>,
    #[command(flatten)]
    out: OutArgs,
}

fn base_from_cn(cn: &str) -> String {
    let b: String = cn
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    b.trim_start_matches('.').to_string()
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let subject = a.subject.resolve(None)?;
    let base = match (&a.out.name, subject.cn()) {
        (Some(n), _) => n.clone(),
        (None, Some(cn)) if !base_from_cn(cn).is_empty() => base_from_cn(cn),
        _ => "request".into(),
    };
    let o = Overwrite::forced_or(ctx.force, Overwrite::Never);
    let csr_path = a.out.out.join(format!("{base}.csr"));
    let key_path = a.out.out.join(format!("{base}.key"));
    let mut targets = vec![(csr_path.as_path(), o)];
    if a.key.is_none() {
        targets.push((key_path.as_path(), o));
    }
    Staging::precheck(&targets)?;
    let key = match &a.key {
        Some(p) => load_key(p, a.passin.as_ref(), "--passin", &ctx.report)?,
        None => a.key_type.generate(&ctx.report)?,
    };
    let asks = match a.profile.as_deref() {
        Some("server") => Asks::Server,
        Some("client") => Asks::Client,
        _ => Asks::Nothing,
    };
    let der = make_csr(&subject, &a.sans.sans, &key, asks).map_err(|e| anyhow!(e))?;
    let created = crate::files::create_dir(&a.out.out, crate::files::MODE_DIR)?;
    let result = (|| {
        let mut s = Staging::new();
        if a.key.is_none() {
            s.stage(FileWrite::key(
                key_path.clone(),
                key.pkcs8_pem().into_bytes(),
                o,
            ))?;
        }
        s.stage(FileWrite::public(
            csr_path.clone(),
            to_pem("CERTIFICATE REQUEST", &der).into_bytes(),
            "certificate request",
            o,
        ))?;
        s.commit()
    })();
    let files = result.inspect_err(|_| crate::files::remove_created_dirs(&created))?;
    ctx.report.finish(&Outcome {
        command: "req".into(),
        files,
        notes: vec![match asks {
            Asks::Nothing => format!(
                "request for {} ({}); sign it with 'pgcert sign {} --profile client' for a database user, or '--profile server' for a host",
                subject,
                key.kind().describe(),
                csr_path.display()
            ),
            _ => format!(
                "request for a {} certificate for {} ({}); sign it with 'pgcert sign {}'",
                a.profile.as_deref().unwrap_or_default(),
                subject,
                key.kind().describe(),
                csr_path.display()
            ),
        }],
        ..Default::default()
    });
    Ok(())
}
