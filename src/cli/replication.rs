//! `pgcert issue replication`: the client certificate a streaming standby logs in with, and
//! the primary's and standby's settings for it.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::cli::Ctx;
use crate::cli::args::{KeyTypeArgs, ValidityArgs};
use crate::error::Hint;
use crate::issuance::SubjectKey;
use crate::issuance::set::{Content, FileSpec, Layout, Member, issue_set};
use crate::pki::name::{San, Subject};
use crate::postgres::cluster::Cluster;
use crate::postgres::conf::{conninfo_quote, shell_quote};
use crate::postgres::verify::{DEFAULT_SECURITY_LEVEL, Purpose, Request, verify};
use crate::report::{CertSummary, Outcome, Snippet};

pub(crate) const HELP: &str = "Issues the client certificate of a replication role (CN = --user, or --cn with a pg_ident map) \
into --standby-out DIR (postgresql.crt with the chain, postgresql.key 0600, root.crt), owned by the primary data \
directory's owner, the account the standby's server runs as. Prints the primary's pg_hba.conf line (hostssl replication \
... cert), the pg_ident.conf line when the CN is not the role, the CREATE ROLE statement, the standby's primary_conninfo \
with sslmode=verify-full, and the pg_basebackup -R command that writes it. --host is the name standbys connect to \
(default: the first DNS name of the primary's certificate); pgcert checks that the primary's certificate verifies for \
it against root.crt, and that the primary's ssl_ca_file trusts the new certificate. A standby made by pg_basebackup \
starts with copies of the primary's server certificate, key and CRL files: give it its own.

EXAMPLES:
  pgcert issue replication --ca ca/pg --user replicator --pgdata /var/lib/postgresql/15/main --host db1.example.com
  pgcert issue replication --ca ca/pg --user replicator --cn standby-2 --pgdata $PGDATA --standby-out /etc/postgresql/replication

EXIT CODES:
  0  success
  1  failure (no CA, not a data directory, existing files without --force)
  2  bad usage";

/// `issue replication` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The replication role the standby logs in as.
    #[arg(long, value_name = "NAME")]
    user: String,
    /// The certificate's CN, when it cannot be the role name (a pg_ident map is printed).
    #[arg(long, value_name = "NAME")]
    cn: Option<String>,
    /// The primary's data directory (its owner gets the files; its settings are checked).
    #[arg(long, value_name = "DIR")]
    pgdata: PathBuf,
    /// The primary's postgresql.conf when it is not in the data directory.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The host name standbys connect to (default: the primary certificate's first DNS name).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// The primary's port.
    #[arg(long, default_value_t = 5432)]
    port: u16,
    /// Where the standby's files go.
    #[arg(long, value_name = "DIR")]
    standby_out: Option<PathBuf>,
    /// Where pg_basebackup makes the standby's data directory (for the printed command).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/postgresql/15/standby"
    )]
    standby_pgdata: PathBuf,
    #[command(flatten)]
    validity: ValidityArgs,
    #[command(flatten)]
    key_type: KeyTypeArgs,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let cluster = Cluster::open(&a.pgdata, a.config.as_deref()).map_err(|e| {
        anyhow!(e).context(Hint::new(
            "give the primary's data directory, and --config FILE when postgresql.conf lives elsewhere",
        ))
    })?;
    let ca = ctx.open_ca(&ctx.ca)?;
    let primary_cert = crate::ca::read_certs(&cluster.settings.cert).ok();
    let host = match (&a.host, primary_cert.as_ref().and_then(|c| c.first())) {
        (Some(h), _) => h.clone(),
        (None, Some(c)) => c
            .sans
            .iter()
            .find_map(|s| match s {
                San::Dns(d) => Some(d.clone()),
                San::Ip(_) => None,
            })
            .or_else(|| c.cn.clone())
            .unwrap_or_else(|| "localhost".into()),
        (None, None) => {
            return Err(anyhow!(
                "cannot read the primary's certificate {} to find its host name",
                cluster.settings.cert.display()
            )
            .context(Hint::new("give the name standbys connect to with --host")));
        }
    };
    let cn = a.cn.clone().unwrap_or_else(|| a.user.clone());
    let subject = Subject::from_cn(&cn).map_err(|e| anyhow!("--cn {cn}: {e}"))?;
    let spec = a.validity.spec("client", subject, Vec::new())?;
    let dir = a
        .standby_out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("replication-{}", a.user)));
    let layout = Layout {
        files: vec![
            FileSpec::new(0, Content::Chain, dir.join("postgresql.crt")),
            FileSpec::new(0, Content::KeyPem, dir.join("postgresql.key")),
            FileSpec::new(0, Content::Roots, dir.join("root.crt")),
        ],
        owner: Some(cluster.owner),
        force: ctx.force,
    };
    let key = a.key_type.generate(&ctx.report)?;
    let r = issue_set(
        &ca,
        vec![Member {
            name: "replication".into(),
            spec,
            key: SubjectKey::private(key),
        }],
        &layout,
        ctx.allow_outlive,
        ctx.waiting(),
    )?;
    let mut notes = Vec::new();
    // would the standby accept the primary, and the primary the standby?
    if let Some(chain) = primary_cert.as_ref().filter(|c| !c.is_empty()) {
        let v = verify(&Request {
            leaf: &chain[0],
            untrusted: &chain[1..],
            roots: &r.roots,
            roots_label: "root.crt",
            host: Some(&host),
            user: None,
            crls: &[],
            purpose: Some(Purpose::Server),
            now: time::OffsetDateTime::now_utc(),
            security_level: DEFAULT_SECURITY_LEVEL,
        });
        if let Some(f) = v.first_failure() {
            ctx.report.warn(&format!(
                "the standby will refuse the primary: its certificate does not verify for {host} against {}: {}",
                dir.join("root.crt").display(),
                f.detail
            ));
        }
    }
    match &cluster.settings.ca {
        None => ctx.report.warn(&format!(
            "{} sets no ssl_ca_file: the primary cannot verify the replication certificate; set ssl_ca_file = 'root.crt' (pgcert bundle --trust ... --pgdata)",
            a.pgdata.display()
        )),
        Some(p) => {
            let trusted = crate::ca::read_certs(p).unwrap_or_default();
            if !r.roots.iter().all(|root| trusted.iter().any(|t| t.der == root.der)) {
                ctx.report.warn(&format!(
                    "the primary's ssl_ca_file {} does not hold this CA's root, so it will refuse the standby's certificate",
                    p.display()
                ));
            }
        }
    }
    notes.push("a standby made by pg_basebackup starts with copies of the primary's server certificate, key and CRL files (and its postgresql.conf): give it its own certificate (pgcert issue server --pgdata STANDBY --force) and keep its CRLs fresh".into());
    let conninfo = format!(
        "host={} port={} user={} sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        conninfo_quote(&host),
        a.port,
        conninfo_quote(&a.user),
        conninfo_quote(
            &crate::files::absolute_or_given(&dir.join("root.crt"))
                .display()
                .to_string()
        ),
        conninfo_quote(
            &crate::files::absolute_or_given(&dir.join("postgresql.crt"))
                .display()
                .to_string()
        ),
        conninfo_quote(
            &crate::files::absolute_or_given(&dir.join("postgresql.key"))
                .display()
                .to_string()
        ),
    );
    let mapped = cn != a.user;
    let mut hba = format!("hostssl replication {} all cert", a.user);
    if mapped {
        hba.push_str(" map=pgcert-replication");
    }
    let mut snippets = vec![Snippet {
        title: "pg_hba.conf on the primary (above other host lines; the first match wins)".into(),
        lines: vec![hba],
    }];
    if mapped {
        snippets.push(Snippet {
            title: "pg_ident.conf on the primary (the certificate's CN is not the role)".into(),
            lines: vec![format!("pgcert-replication {cn} {}", a.user)],
        });
    }
    snippets.push(Snippet {
        title: "SQL on the primary".into(),
        lines: vec![format!(
            "CREATE ROLE \"{}\" WITH REPLICATION LOGIN;",
            a.user.replace('"', "\"\"")
        )],
    });
    snippets.push(Snippet {
        title: "primary_conninfo on the standby (postgresql.auto.conf; pg_basebackup -R writes it)"
            .into(),
        lines: vec![format!(
            "primary_conninfo = '{}'",
            conninfo.replace('\'', "''")
        )],
    });
    snippets.push(Snippet {
        title: "make the standby (as the server's user)".into(),
        lines: vec![format!(
            "pg_basebackup -D {} -R -X stream -d {}",
            shell_quote(&a.standby_pgdata.display().to_string()),
            shell_quote(&conninfo)
        )],
    });
    ctx.report.finish(&Outcome {
        command: "issue replication".into(),
        certificates: vec![CertSummary::new(
            "replication",
            Some(dir.join("postgresql.crt")),
            &r.issued[0].cert,
        )],
        files: r.written,
        ca: Some(ctx.ca.clone()),
        snippets,
        notes,
        ..Default::default()
    });
    Ok(())
}
