//! `pgcert quickstart`: root CA, intermediate CA, server set, client set and CRL in one
//! process, and the settings that put them to use.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use crate::cli::Ctx;
use crate::cli::args::KeyTypeArgs;
use crate::files::{self, FileWrite, Overwrite, Written};
use crate::issuance::{self, CaRequest, LeafRequest, LeafRole, Outputs, SubjectKey};
use crate::pki::issue::{CertSpec, Validity};
use crate::pki::name::{San, Subject};
use crate::pki::profile::Profile;
use crate::pki::serial::Serial;
use crate::postgres::conf::{SettingsInput, quickstart_settings};
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

fn spec(profile: &str, subject: Subject, sans: Vec<San>) -> anyhow::Result<CertSpec> {
    let profile = Profile::builtin(profile);
    let validity = Validity::resolve(
        None,
        None,
        None,
        profile.default_days,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| anyhow!(e))?;
    Ok(CertSpec {
        profile,
        subject,
        sans,
        validity,
        serial: Serial::random(),
        pathlen: None,
    })
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let hosts = if a.hosts.is_empty() {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        a.hosts.clone()
    };
    let sans = hosts
        .iter()
        .map(|h| h.parse::<San>().map_err(|e| anyhow!("--host {h}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let user = a.user.clone().unwrap_or_else(current_user);
    let user_subject = Subject::from_cn(&user).map_err(|e| anyhow!("--user {user}: {e}"))?;
    let server_subject =
        Subject::from_cn(&hosts[0]).map_err(|e| anyhow!("--host {}: {e}", hosts[0]))?;
    let root_dir = a.out.join("root-ca");
    let inter_dir = a.out.join("intermediate-ca");
    let (server_dir, owner) =
        crate::cli::args::pgdata_or_out(a.pgdata.as_deref(), &a.out.join("server"))?;
    let client_dir = a.out.join("client");
    let server_out = Outputs {
        dir: server_dir.clone(),
        base: "server".into(),
        owner,
        force: ctx.force,
    };
    let client_out = Outputs {
        dir: client_dir.clone(),
        base: "postgresql".into(),
        owner: None,
        force: ctx.force,
    };
    crate::ca::check_new_ca_dir(&root_dir)?;
    crate::ca::check_new_ca_dir(&inter_dir)?;
    server_out.precheck(LeafRole::Server, true)?;
    client_out.precheck(LeafRole::Client, true)?;
    let crl_path = server_dir.join("crl.pem");
    files::Staging::precheck(&[(
        crl_path.as_path(),
        Overwrite::forced_or(ctx.force, Overwrite::Never),
    )])?;

    let mut written: Vec<Written> = Vec::new();
    let result = (|| -> anyhow::Result<Vec<CertSummary>> {
        let root_key = a.key_type.generate(&ctx.report)?;
        let (root, w) = issuance::create_root(
            &root_dir,
            CaRequest {
                spec: spec(
                    "root-ca",
                    Subject::from_cn("PostgreSQL quickstart Root CA").map_err(|e| anyhow!(e))?,
                    vec![],
                )?,
                key: root_key,
                first_serial: Serial::random(),
                allow_outlive: false,
                key_passphrase: None,
            },
        )?;
        written.extend(w);
        let root_ca = ctx.open_ca(&root_dir)?;
        let inter_key = a.key_type.generate(&ctx.report)?;
        let (inter, w) = issuance::create_intermediate(
            &root_ca,
            &inter_dir,
            CaRequest {
                spec: spec(
                    "intermediate-ca",
                    Subject::from_cn("PostgreSQL quickstart Intermediate CA")
                        .map_err(|e| anyhow!(e))?,
                    vec![],
                )?,
                key: inter_key,
                first_serial: Serial::random(),
                allow_outlive: false,
                key_passphrase: None,
            },
            ctx.waiting(),
        )?;
        written.extend(w);
        let inter_ca = ctx.open_ca(&inter_dir)?;
        let mut leaf = |role: LeafRole,
                        profile: &str,
                        subject: Subject,
                        sans: Vec<San>,
                        outputs: Outputs|
         -> anyhow::Result<CertSummary> {
            let key = a.key_type.generate(&ctx.report)?;
            let r = issuance::issue_leaf(
                &inter_ca,
                LeafRequest {
                    role,
                    spec: spec(profile, subject, sans)?,
                    key: SubjectKey::private(key),
                    revoke_old: None,
                    outputs: outputs.clone(),
                    allow_outlive: false,
                },
                ctx.waiting(),
            )?;
            written.extend(r.written);
            Ok(CertSummary::new(
                profile,
                Some(outputs.dir.join(format!("{}.crt", outputs.base))),
                &r.issued.cert,
            ))
        };
        let server = leaf(
            LeafRole::Server,
            "server",
            server_subject.clone(),
            sans.clone(),
            server_out.clone(),
        )?;
        let client = leaf(
            LeafRole::Client,
            "client",
            user_subject.clone(),
            vec![],
            client_out.clone(),
        )?;
        // PostgreSQL sets CRL_CHECK_ALL: one CRL per CA of the chain, in one file; the
        // intermediate's crl.pem already holds its CRL followed by the root's
        let crl = std::fs::read(inter_ca.crl())
            .with_context(|| format!("cannot read {}", inter_ca.crl().display()))?;
        written.push(files::write_one(
            FileWrite::public(
                crl_path.clone(),
                crl,
                "CRL (intermediate + root)",
                Overwrite::forced_or(ctx.force, Overwrite::Never),
            )
            .owned_by(owner),
        )?);
        Ok(vec![
            CertSummary::new("root-ca", Some(root_dir.join("cacert.pem")), &root.cert),
            CertSummary::new(
                "intermediate-ca",
                Some(inter_dir.join("cacert.pem")),
                &inter.cert,
            ),
            server,
            client,
        ])
    })();
    let certificates = match result {
        Ok(c) => c,
        Err(e) => {
            // leave nothing behind: files this run wrote, and the CA directories it created
            for w in written.iter().filter(|w| w.changed) {
                files::remove_placed(&w.path);
            }
            for d in [&inter_dir, &root_dir] {
                if d.join("cacert.pem").exists() && written.iter().any(|w| w.path.starts_with(d)) {
                    files::remove_tree(d);
                }
            }
            return Err(e);
        }
    };
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let settings = quickstart_settings(&SettingsInput {
        server_cert: &abs(&server_dir.join("server.crt")),
        server_key: &abs(&server_dir.join("server.key")),
        server_ca: &abs(&server_dir.join("root.crt")),
        server_crl: &abs(&crl_path),
        host: &hosts[0],
        port: a.port,
        user: &user,
        client_cert: &abs(&client_dir.join("postgresql.crt")),
        client_key: &abs(&client_dir.join("postgresql.key")),
        client_root: &abs(&client_dir.join("root.crt")),
    });
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
        files: written,
        certificates,
        ca: Some(inter_dir.clone()),
        settings: Some(settings),
        notes,
        ..Default::default()
    });
    Ok(())
}
