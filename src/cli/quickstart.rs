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
crl.pem holds the intermediate's CRL followed by the root's, valid for --crl-days (default 30): PostgreSQL checks a \
CRL for every CA of a chain once ssl_crl_file is set, and refuses every client certificate once one has lapsed, so the \
printed settings end with that date and the command that refreshes them. With --pgdata the server files go into that \
data directory instead, owned by its owner. Run as root without --pgdata, the server files are given to the server's \
account (--server-user, default postgres); when that account still cannot use them where they are (a directory it \
cannot enter), the printed settings start with the `install` command that copies them into the data directory and name \
them relative to it. The client certificate is for --user, default the current user (postgres when that is root).
Then it prints, on stdout, the postgresql.conf settings, the pg_hba.conf lines for `cert` authentication and a psql \
command with sslmode=verify-full that work as printed. The server certificate's CN is the first --host; every --host \
is a SAN (an address as an iPAddress SAN, which libpq and PgJDBC check IP hosts against).

EXAMPLES:
  pgcert quickstart --out pg-tls
  pgcert quickstart --out pg-tls --host db.example.com --host 10.0.0.5 --user app
  pgcert quickstart --out pg-tls --pgdata /var/lib/postgresql/15/main --user postgres
  pgcert quickstart --out pg-tls --crl-days 365

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
    /// The account the server runs as, which must own and read server.key (default: postgres
    /// when run as root, else the current user). As root, the server files are given to it.
    #[arg(long, value_name = "USER", conflicts_with = "pgdata")]
    server_user: Option<String>,
    /// Days until the CRLs in crl.pem lapse; from then the server refuses every client
    /// certificate until 'pgcert crl' publishes new ones.
    #[arg(long, value_name = "N", default_value_t = crate::ca::DEFAULT_CRL_DAYS)]
    crl_days: u32,
    #[command(flatten)]
    key_type: KeyTypeArgs,
    #[command(flatten)]
    connect: crate::cli::args::PrintConnectArgs,
}

fn current_user() -> Option<String> {
    crate::users::effective_uid()
        .and_then(crate::users::name_of)
        .or_else(|| {
            ["USER", "LOGNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        })
}

/// The client certificate's user: --user, else the current user, except root (no cluster has
/// a root role; postgres is the superuser every cluster has).
fn client_user(given: Option<&str>) -> (String, bool) {
    match (given, current_user()) {
        (Some(u), _) => (u.to_string(), false),
        (None, Some(u)) if u != "root" => (u, false),
        _ => ("postgres".into(), true),
    }
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let hosts = if a.hosts.is_empty() {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        a.hosts.clone()
    };
    let (server_dir, mut owner) =
        crate::cli::args::pgdata_or_out(a.pgdata.as_deref(), &a.out.join("server"))?;
    let root = crate::users::effective_uid() == Some(0);
    // the server's account: it must own (or, for root-owned 0640 keys, read) server.key
    let server_user = match (&a.pgdata, &a.server_user) {
        (Some(_), _) => None,
        (None, Some(u)) => Some(crate::users::by_name(u).ok_or_else(|| {
            anyhow::anyhow!("--server-user {u}: no such user").context(crate::error::Hint::new(
                "give the account PostgreSQL runs as",
            ))
        })?),
        (None, None) if root => crate::users::by_name("postgres"),
        (None, None) => crate::users::effective_uid().and_then(crate::users::by_uid),
    };
    if root && let Some(u) = &server_user {
        owner = Some((u.uid, u.gid));
    }
    let (user, defaulted) = client_user(a.user.as_deref());
    let req = QuickstartRequest {
        out: a.out.clone(),
        hosts,
        user: user.clone(),
        port: a.port,
        server_dir: server_dir.clone(),
        owner,
        force: ctx.force,
        crl_days: a.crl_days,
        key_type: a.key_type.key_type,
    };
    let waiting = |d: &std::path::Path| {
        ctx.report
            .warn(&format!("waiting for lock on {}", d.display()))
    };
    let mut r = ctx.report.with_spinner(
        a.key_type.key_type.is_slow(),
        &format!("generating four {} keys", a.key_type.key_type),
        || quickstart(&req, ctx.ca_passin.clone(), &waiting),
    )?;
    let mut notes = Vec::new();
    let mut crl_in_pgdata = a.pgdata.is_some();
    if defaulted {
        notes.push(format!("the client certificate is for database user {user} (there is no root role); choose another with --user"));
    }
    if a.pgdata.is_none() {
        let key = server_dir.join("server.key");
        let usable = server_user.as_ref().is_some_and(|u| {
            crate::files::owner_of(&key).is_ok_and(|(uid, _)| uid == u.uid)
                && crate::users::readable_as(&key, u.uid) == Some(true)
        });
        if !usable {
            // the files cannot be used where they are: copy them into the data directory
            // as the server's user, and name them relative to it
            let who = server_user
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_else(|| "postgres".into());
            let abs = |f: &str| {
                crate::files::absolute_or_given(&server_dir.join(f))
                    .display()
                    .to_string()
            };
            let sudo = if root { "" } else { "sudo " };
            crl_in_pgdata = true;
            let conf = &mut r.settings.postgresql_conf;
            for l in conf.iter_mut() {
                for f in ["server.crt", "server.key", "root.crt", "crl.pem"] {
                    if l.contains(&format!("{}'", abs(f))) {
                        let name = l.split(" = ").next().unwrap_or_default().to_string();
                        *l = format!("{name} = '{f}'");
                    }
                }
            }
            conf.insert(
                0,
                format!("# {who} cannot use server.key where it is: first copy the files into the data directory:"),
            );
            conf.insert(1, format!(
                "#   {sudo}install -o {who} -g {who} -m 600 {} \"$PGDATA/\" && {sudo}install -o {who} -g {who} -m 644 {} {} {} \"$PGDATA/\"",
                crate::postgres::conf::shell_quote(&abs("server.key")),
                crate::postgres::conf::shell_quote(&abs("server.crt")),
                crate::postgres::conf::shell_quote(&abs("root.crt")),
                crate::postgres::conf::shell_quote(&abs("crl.pem")),
            ));
        }
    }
    if let Some(n) = r.crl_next_update {
        let ca = crate::postgres::conf::shell_quote(
            &crate::files::absolute_or_given(&r.inter_dir)
                .display()
                .to_string(),
        );
        let refresh = match (&a.pgdata, crl_in_pgdata) {
            (Some(d), _) => format!(
                "pgcert crl --ca {ca} --pgdata {} --reload",
                crate::postgres::conf::shell_quote(&d.display().to_string())
            ),
            (None, true) => format!("pgcert crl --ca {ca} --pgdata \"$PGDATA\" --reload"),
            (None, false) => format!(
                "pgcert crl --ca {ca} --out {} && pg_ctl reload -D \"$PGDATA\"",
                crate::postgres::conf::shell_quote(
                    &crate::files::absolute_or_given(&r.crl_path)
                        .display()
                        .to_string()
                )
            ),
        };
        r.settings.postgresql_conf.push(format!(
            "# the CRLs in {} lapse on {}; from then every client certificate is refused. Refresh them before: {refresh}",
            if crl_in_pgdata && a.pgdata.is_none() {
                "crl.pem".to_string()
            } else {
                r.crl_path.display().to_string()
            },
            crate::pki::inspect::when(n)
        ));
    }
    let client_dir = crate::files::absolute_or_given(&a.out.join("client"));
    let first_host = req.hosts.first().cloned().unwrap_or_default();
    let snippets = a.connect.snippets(&crate::postgres::conf::ConnectInput {
        host: &first_host,
        port: a.port,
        user: &user,
        root: &client_dir.join("root.crt"),
        cert: &client_dir.join("postgresql.crt"),
        key: &client_dir.join("postgresql.key"),
        pk8: &client_dir.join("postgresql.pk8"),
    });
    ctx.report.finish(&Outcome {
        command: "quickstart".into(),
        snippets,
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
