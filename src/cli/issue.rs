//! `pgcert issue server|client`: a leaf from the CA, with the file set PostgreSQL or libpq
//! reads.

use std::path::PathBuf;

use clap::Subcommand;

use crate::cli::Ctx;
use crate::cli::args::{
    KeyTypeArgs, OutArgs, OwnerArgs, SanArgs, SubjectArgs, TemplateArgs, ValidityArgs,
};
use crate::issuance::{self, LeafRequest, LeafRole, Outputs, SubjectKey};
use crate::pki::issue::CertSpec;
use crate::pki::serial::Serial;
use crate::report::{CertSummary, Outcome};

const SERVER_HELP: &str = "Writes server.crt (the leaf, then this CA's intermediates; never the root), server.key (0600) and \
root.crt (the root, for ssl_ca_file and for clients' sslrootcert). The CN is always added as a SAN (libpq ignores the CN \
once any dNSName SAN is present); give every host name and IP address clients will use with --san. \
With --pgdata DIR the files go into that data directory, owned by the directory's owner, so a root-run script can hand \
them to the postgres user.

EXAMPLES:
  pgcert issue server --cn db.example.com --san db --san 10.0.0.5
  pgcert issue server --cn localhost --san 127.0.0.1 --pgdata /var/lib/postgresql/15/main

EXIT CODES:
  0  success
  1  failure (no CA, existing files without --force, certificate would outlive the CA, ...)
  2  bad usage";

const CLIENT_HELP: &str = "The CN is the database user name (`cert` authentication and clientcert=verify-full compare them). \
Writes postgresql.crt (leaf, then intermediates: the server's ssl_ca_file usually holds only the root), postgresql.key \
(PEM, 0600), postgresql.pk8 (DER PKCS#8, 0600, for PgJDBC) and root.crt: with --out ~/.postgresql, libpq and PgJDBC \
find them without any connection parameter. Run as root for another account, give the files to it with --owner USER \
(libpq refuses a key its user cannot read); without it pgcert warns when the directory belongs to someone else.

EXAMPLES:
  pgcert issue client --cn alice --out ~/.postgresql
  sudo pgcert issue client --cn alice --out ~alice/.postgresql --owner alice
  pgcert issue client --cn app_user --name app --out secrets/

EXIT CODES:
  0  success
  1  failure
  2  bad usage";

/// `issue server` / `issue client`.
#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Server certificate (serverAuth) with server.crt, server.key and root.crt.
    #[command(after_long_help = SERVER_HELP)]
    Server(ServerArgs),
    /// Client certificate (clientAuth) whose CN is the database user.
    #[command(after_long_help = CLIENT_HELP)]
    Client(ClientArgs),
}

/// Flags common to both.
#[derive(Debug, clap::Args)]
pub struct LeafArgs {
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

/// `issue server` flags.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Write into this PostgreSQL data directory, owned by its owner (instead of --out).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pgdata: Option<PathBuf>,
    #[command(flatten)]
    leaf: LeafArgs,
}

/// `issue client` flags.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    leaf: LeafArgs,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// Run.
pub fn run(ctx: &Ctx, cmd: IssueCommand) -> anyhow::Result<()> {
    let (role, leaf, pgdata, owner_args) = match cmd {
        IssueCommand::Server(a) => (LeafRole::Server, a.leaf, a.pgdata, None),
        IssueCommand::Client(a) => (LeafRole::Client, a.leaf, None, Some(a.owner)),
    };
    let profile_name = match role {
        LeafRole::Server => "server",
        _ => "client",
    };
    let ca = ctx.open_ca(&ctx.ca)?;
    let profile = leaf.template.load(profile_name)?;
    let subject = leaf.subject.resolve(None)?;
    let (dir, mut owner) = crate::cli::args::pgdata_or_out(pgdata.as_deref(), &leaf.out.out)?;
    if let Some(o) = &owner_args {
        owner = owner.or(o.ids());
        o.warn_if_foreign(&dir, &ctx.report);
    }
    let outputs = Outputs {
        dir,
        base: leaf
            .out
            .name
            .clone()
            .unwrap_or_else(|| role.default_base().into()),
        owner,
        force: ctx.force,
    };
    let spec = CertSpec {
        subject,
        sans: leaf.sans.sans.clone(),
        validity: leaf.validity.resolve(&profile)?,
        serial: Serial::random(), // replaced by the CA's next serial under the lock
        pathlen: None,
        profile,
    };
    outputs.precheck(role, true)?;
    let key = leaf.key_type.generate(&ctx.report)?;
    let req = LeafRequest {
        role,
        spec,
        key: SubjectKey::private(key),
        revoke_old: None,
        outputs: outputs.clone(),
        allow_outlive: ctx.allow_outlive,
    };
    let result = issuance::issue_leaf(&ca, req, ctx.waiting())?;
    ctx.report.finish(&Outcome {
        command: format!("issue {profile_name}"),
        certificates: vec![CertSummary::new(
            profile_name,
            Some(outputs.dir.join(format!("{}.crt", outputs.base))),
            &result.issued.cert,
        )],
        files: result.written,
        ca: Some(ctx.ca.clone()),
        ..Default::default()
    });
    Ok(())
}
