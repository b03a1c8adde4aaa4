//! `pgcert issue pgbouncer`: the certificates a pgBouncer needs for both of its hops, and the
//! pgbouncer.ini, auth_file and PostgreSQL lines that use them.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::cli::Ctx;
use crate::cli::args::{KeyTypeArgs, OwnerArgs, ValidityArgs};
use crate::issuance::SubjectKey;
use crate::issuance::set::{Content, FileSpec, Layout, Member, issue_set};
use crate::pki::name::San;
use crate::report::{CertSummary, Outcome, Snippet};

pub(crate) const HELP: &str = "pgBouncer terminates TLS twice: towards clients it is a server, towards PostgreSQL a client. \
This issues both certificates from one CA into --out DIR: pooler.crt/pooler.key (serverAuth; CN the first --host, every \
--host a SAN; pgbouncer.ini client_tls_*), backend.crt/backend.key (clientAuth; CN --backend-user; server_tls_*), and \
root.crt for both sides' CA files, owned by --owner (default: postgres when run as root, the account Debian's pgbouncer \
runs as). It prints the pgbouncer.ini settings (client_tls_sslmode = verify-full: clients must present a certificate; \
server_tls_sslmode = verify-full: the backend must present one for its host name; auth_type = cert: the user is the \
client certificate's CN), the auth_file lines for --user, and PostgreSQL's pg_hba/pg_ident lines that let the pooler's \
certificate log in as each user. pgBouncer does not check CRLs: a revoked client certificate still passes the pooler, \
so keep client certificates short-lived (--days) and remove a user from the auth_file to lock them out at once.

EXAMPLES:
  pgcert issue pgbouncer --ca ca/pg --host pooler.example.com --user alice --user app --out /etc/pgbouncer/tls
  pgcert issue pgbouncer --ca ca/pg --host localhost --host 127.0.0.1 --backend-user pgbouncer --user alice

EXIT CODES:
  0  success
  1  failure (no CA, existing files without --force)
  2  bad usage";

/// `issue pgbouncer` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Host name or address clients use for the pooler; repeatable (the first is the CN).
    #[arg(long = "host", value_name = "NAME", required = true)]
    hosts: Vec<String>,
    /// CN of the pooler's certificate towards PostgreSQL.
    #[arg(long, value_name = "NAME", default_value = "pgbouncer")]
    backend_user: String,
    /// A database user who connects through the pooler with a client certificate; repeatable.
    #[arg(long = "user", value_name = "NAME")]
    users: Vec<String>,
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "pgbouncer-tls")]
    out: PathBuf,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    validity: ValidityArgs,
    #[command(flatten)]
    key_type: KeyTypeArgs,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let ca = ctx.open_ca(&ctx.ca)?;
    let sans = a
        .hosts
        .iter()
        .map(|h| h.parse::<San>().map_err(|e| anyhow!("--host {h}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let owner = a.owner.ids().or_else(|| {
        (crate::users::effective_uid() == Some(0))
            .then(|| crate::users::by_name("postgres"))
            .flatten()
            .map(|u| (u.uid, u.gid))
    });
    let d = &a.out;
    let layout = Layout {
        files: vec![
            FileSpec::new(0, Content::KeyPem, d.join("pooler.key")),
            FileSpec::new(0, Content::Chain, d.join("pooler.crt")),
            FileSpec::new(1, Content::KeyPem, d.join("backend.key")),
            FileSpec::new(1, Content::Chain, d.join("backend.crt")),
            FileSpec::new(0, Content::Roots, d.join("root.crt")),
        ],
        owner,
        force: ctx.force,
    };
    let members = vec![
        Member {
            name: "pooler (towards clients)".into(),
            spec: a.validity.spec_for_cn("server", &a.hosts[0], sans)?,
            key: SubjectKey::private(a.key_type.generate(&ctx.report)?),
        },
        Member {
            name: "pooler (towards PostgreSQL)".into(),
            spec: a
                .validity
                .spec_for_cn("client", &a.backend_user, Vec::new())?,
            key: SubjectKey::private(a.key_type.generate(&ctx.report)?),
        },
    ];
    let r = issue_set(&ca, members, &layout, ctx.allow_outlive, ctx.waiting())?;
    let abs = |f: &str| {
        crate::files::absolute_or_given(d)
            .join(f)
            .display()
            .to_string()
    };
    let auth_file = abs("userlist.txt");
    let mut snippets = vec![Snippet {
        title: "pgbouncer.ini, [pgbouncer] section".into(),
        lines: vec![
            "auth_type = cert".into(),
            format!("auth_file = {auth_file}"),
            "client_tls_sslmode = verify-full".into(),
            format!("client_tls_cert_file = {}", abs("pooler.crt")),
            format!("client_tls_key_file = {}", abs("pooler.key")),
            format!("client_tls_ca_file = {}", abs("root.crt")),
            "server_tls_sslmode = verify-full".into(),
            format!("server_tls_cert_file = {}", abs("backend.crt")),
            format!("server_tls_key_file = {}", abs("backend.key")),
            format!("server_tls_ca_file = {}", abs("root.crt")),
        ],
    }];
    snippets.push(Snippet {
        title: format!("{auth_file} (auth_file: the users the pooler lets in)"),
        lines: a.users.iter().map(|u| format!("\"{u}\" \"\"")).collect(),
    });
    snippets.push(Snippet {
        title: "pg_hba.conf on PostgreSQL (the pooler's certificate logs in for each user; above other host lines)".into(),
        lines: vec!["hostssl all all POOLER_ADDRESS/32 cert map=pgcert-pgbouncer".into()],
    });
    snippets.push(Snippet {
        title: "pg_ident.conf on PostgreSQL".into(),
        lines: a
            .users
            .iter()
            .map(|u| format!("pgcert-pgbouncer {} {u}", a.backend_user))
            .collect(),
    });
    let notes = vec![
        "pgBouncer does not check CRLs: a revoked client certificate still gets through the pooler. Keep client certificates short-lived (--days) and remove a user from the auth_file (then RELOAD on the admin console) to lock them out at once".into(),
        "in [databases], give each backend by the host name its certificate carries: server_tls_sslmode = verify-full checks it".into(),
    ];
    if a.users.is_empty() {
        ctx.report.warn("no --user given: the auth_file and pg_ident lines are empty; add one line per database user who connects through the pooler");
    }
    ctx.report.finish(&Outcome {
        command: "issue pgbouncer".into(),
        certificates: vec![
            CertSummary::new("pooler", Some(d.join("pooler.crt")), &r.issued[0].cert),
            CertSummary::new(
                "backend-client",
                Some(d.join("backend.crt")),
                &r.issued[1].cert,
            ),
        ],
        files: r.written,
        ca: Some(ctx.ca.clone()),
        snippets,
        notes,
        ..Default::default()
    });
    Ok(())
}
