//! `pgcert quickstart`: root CA, intermediate CA, server set, client set and CRL in one
//! process, and the settings that put them to use.

use std::path::PathBuf;

use crate::cli::Ctx;
use crate::cli::args::KeyTypeArgs;
use crate::issuance::quickstart::{QuickstartRequest, quickstart};
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Writes, under --out DIR (default .):
  root-ca/           root CA directory (demoCA layout, openssl.cnf included)
  intermediate-ca/   intermediate CA directory, issued by the root; it signs the leaves
  server/            server.crt (leaf + intermediate), server.key (0600), root.crt, crl.pem
  client/            postgresql.crt (leaf + intermediate), postgresql.key, postgresql.pk8, root.crt
crl.pem holds the intermediate's CRL followed by the root's: PostgreSQL checks a CRL for every CA of a chain once \
ssl_crl_file is set. With --pgdata the server files go into that data directory instead, owned by its owner.
Then it prints, on stdout, the postgresql.conf settings, the pg_hba.conf lines for `cert` authentication and a psql \
command with sslmode=verify-full that work as printed. The server certificate's CN is the first --host; every --host \
is a SAN (an address as an iPAddress SAN, which libpq and PgJDBC check IP hosts against).

EXAMPLES:
  pgcert quickstart --out pg-tls
  pgcert quickstart --out pg-tls --host db.example.com --host 10.0.0.5 --user app
  pgcert quickstart --out pg-tls --pgdata /var/lib/postgresql/15/main --user postgres

EXIT CODES:
  0  success
  1  failure (e.g. pg-tls/root-ca exists); nothing is left behind
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Host name or address clients connect to; repeatable (default: localhost and 127.0.0.1).
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Database user of the client certificate (default: the current user).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Port in the printed connection string.
    #[arg(long, default_value_t = 5432)]
    port: u16,
    /// Write the server files into this PostgreSQL data directory, owned by its owner.
    #[arg(long, value_name = "DIR")]
    pgdata: Option<PathBuf>,
    #[command(flatten)]
    key_type: KeyTypeArgs,
}

fn current_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "postgres".into())
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let hosts = if a.hosts.is_empty() {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        a.hosts.clone()
    };
    let (server_dir, owner) =
        crate::cli::args::pgdata_or_out(a.pgdata.as_deref(), &a.out.join("server"))?;
    let req = QuickstartRequest {
        out: a.out.clone(),
        hosts,
        user: a.user.clone().unwrap_or_else(current_user),
        port: a.port,
        server_dir: server_dir.clone(),
        owner,
        force: ctx.force,
    };
    let mut keygen = || a.key_type.generate(&ctx.report);
    let waiting = |d: &std::path::Path| {
        ctx.report
            .warn(&format!("waiting for lock on {}", d.display()))
    };
    let r = quickstart(&req, &mut keygen, ctx.ca_passin.clone(), &waiting)?;
    let mut notes = Vec::new();
    if a.pgdata.is_none() {
        notes.push(format!(
            "note: the server reads server.key only if it is owned by the database user (0600) or by root (0640): \
             e.g. 'install -o postgres -m 600 {0}/server.key {0}/server.crt {0}/root.crt {0}/crl.pem $PGDATA/', or use --pgdata",
            server_dir.display()
        ));
    }
    ctx.report.finish(&Outcome {
        command: "quickstart".into(),
        files: r.written,
        certificates: r
            .certificates
            .iter()
            .map(|(role, path, cert)| CertSummary::new(role, Some(path.clone()), cert))
            .collect(),
        ca: Some(r.inter_dir),
        settings: Some(r.settings),
        notes,
        ..Default::default()
    });
    Ok(())
}
