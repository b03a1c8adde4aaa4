//! `pgcert issue server|client`: a leaf from the CA, with the file set PostgreSQL or libpq
//! reads.

use clap::Subcommand;

use crate::cli::Ctx;
use crate::cli::args::{
    ClusterArgs, KeyTypeArgs, OutArgs, OwnerArgs, SanArgs, SubjectArgs, TemplateArgs, ValidityArgs,
};
use crate::issuance::{self, LeafRequest, LeafRole, Outputs, SubjectKey};
use crate::pki::issue::CertSpec;
use crate::pki::serial::Serial;
use crate::postgres::cluster::{Cluster, Expect};
use crate::report::{CertSummary, Outcome};

const SERVER_HELP: &str = "Writes server.crt (the leaf, then this CA's intermediates; never the root), server.key (0600) and \
root.crt (the root, for ssl_ca_file and for clients' sslrootcert). The CN is always added as a SAN (libpq ignores the CN \
once any dNSName SAN is present); give every host name and IP address clients will use with --san. \
With --pgdata DIR the certificate and key go where that data directory's ssl_cert_file and ssl_key_file point (read \
from its postgresql.conf and includes, or --config FILE; relative names are in the data directory), owned by the \
directory's owner, so a root-run script can hand them to the postgres user. root.crt is written into the data directory \
only while ssl_ca_file is unset: ssl_ca_file decides which clients are trusted, and a server certificate never changes \
it (pgcert notes when it lacks this CA's root). Replacing a certificate that served names the new one lacks is warned \
about. --reload then reloads the running server as the directory's owner and waits until it presents the new serial.

EXAMPLES:
  pgcert issue server --cn db.example.com --san db --san 10.0.0.5
  pgcert issue server --cn localhost --san 127.0.0.1 --pgdata /var/lib/postgresql/15/main
  pgcert issue server --cn db.example.com --pgdata /var/lib/postgresql/15/main \\
      --config /etc/postgresql/15/main/postgresql.conf --force --reload

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
    /// A streaming standby's client certificate, with the primary's and standby's settings.
    #[command(after_long_help = crate::cli::replication::HELP)]
    Replication(crate::cli::replication::Args),
    /// pgBouncer's two certificates (towards clients and towards PostgreSQL) and its settings.
    #[command(after_long_help = crate::cli::pgbouncer::HELP)]
    Pgbouncer(crate::cli::pgbouncer::Args),
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
    /// Write the certificate alone, without this CA's intermediates (a test matrix's
    /// leaf-only file; PostgreSQL's ssl_cert_file normally needs them).
    #[arg(long)]
    leaf_only: bool,
}

/// `issue server` flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("destination").args(["pgdata", "out"])))]
pub struct ServerArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
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
    #[command(flatten)]
    connect: crate::cli::args::PrintConnectArgs,
    /// The server's host name, for --print-connect.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "localhost",
        requires = "kinds"
    )]
    host: String,
    /// The server's port, for --print-connect.
    #[arg(long, default_value_t = 5432, requires = "kinds")]
    port: u16,
}

/// Run.
pub fn run(ctx: &Ctx, cmd: IssueCommand) -> anyhow::Result<()> {
    let mut connect = None;
    let (role, leaf, cluster_args, owner_args) = match cmd {
        IssueCommand::Server(a) => (LeafRole::Server, a.leaf, Some(a.cluster), None),
        IssueCommand::Client(a) => {
            connect = Some((a.connect, a.host, a.port));
            (LeafRole::Client, a.leaf, None, Some(a.owner))
        }
        IssueCommand::Replication(a) => return crate::cli::replication::run(ctx, a),
        IssueCommand::Pgbouncer(a) => return crate::cli::pgbouncer::run(ctx, a),
    };
    let cluster = match &cluster_args {
        Some(c) => c.open()?,
        None => None,
    };
    let profile_name = match role {
        LeafRole::Server => "server",
        _ => "client",
    };
    let ca = ctx.open_ca(&ctx.ca)?;
    let profile = leaf.template.load(profile_name)?;
    let subject = leaf.subject.resolve(None)?;
    let outputs = match &cluster {
        Some(c) => Outputs::for_cluster(c, ctx.force),
        None => {
            let dir = leaf.out.out.clone();
            let owner = owner_args.as_ref().and_then(OwnerArgs::ids);
            if let Some(o) = &owner_args {
                o.warn_if_foreign(&dir, &ctx.report);
            }
            let base = leaf
                .out
                .name
                .clone()
                .unwrap_or_else(|| role.default_base().into());
            Outputs::in_dir(dir, base, owner, ctx.force)
        }
    };
    let mut outputs = outputs;
    outputs.leaf_only = leaf.leaf_only;
    let replaced = crate::ca::read_certs(&outputs.crt_path()).ok();
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
    let mut notes = Vec::new();
    if let Some(old) = replaced.as_ref().and_then(|c| c.first()) {
        let dropped = crate::pki::inspect::names_dropped(old, &result.issued.cert);
        if !dropped.is_empty() {
            ctx.report.warn(&format!(
                "the certificate replaced at {} also served {}; clients connecting by those names now fail verify-full (add them with --san)",
                outputs.crt_path().display(),
                dropped.join(", ")
            ));
        }
    }
    if let (Some(c), Some(args)) = (&cluster, &cluster_args) {
        server_trust_note(c, &ca, &mut notes);
        args.finish(
            c,
            Expect::Serial(result.issued.cert.serial.to_string()),
            &mut notes,
        )?;
    }
    let mut snippets = Vec::new();
    if let Some((c, host, port)) = &connect {
        let abs = |ext: &str| {
            crate::files::absolute_or_given(&outputs.dir.join(format!("{}.{ext}", outputs.base)))
        };
        let root = crate::files::absolute_or_given(&outputs.dir.join("root.crt"));
        let user = result.issued.cert.cn.clone().unwrap_or_default();
        snippets = c.snippets(&crate::postgres::conf::ConnectInput {
            host,
            port: *port,
            user: &user,
            root: &root,
            cert: &abs("crt"),
            key: &abs("key"),
            pk8: &abs("pk8"),
        });
    }
    ctx.report.finish(&Outcome {
        command: format!("issue {profile_name}"),
        snippets,
        certificates: vec![CertSummary::new(
            profile_name,
            Some(outputs.crt_path()),
            &result.issued.cert,
        )],
        files: result.written,
        notes,
        ca: Some(ctx.ca.clone()),
        ..Default::default()
    });
    Ok(())
}

/// When ssl_ca_file is set and does not hold the root of `ca`, say so: the server certificate
/// is fine, but client certificates from this CA are refused until it does.
pub(crate) fn server_trust_note(cluster: &Cluster, ca: &crate::ca::CaDir, notes: &mut Vec<String>) {
    let Some(path) = &cluster.settings.ca else {
        return;
    };
    let roots = ca.load_signer().and_then(|s| ca.root_certs(&s));
    let held = crate::ca::read_certs(path).unwrap_or_default();
    if let Ok(roots) = roots {
        for r in roots {
            if !held.iter().any(|h| h.der == r.der) {
                notes.push(format!(
                    "ssl_ca_file ({}) does not hold {}, so client certificates from this CA are refused; add it with 'pgcert bundle --trust ... --pgdata {}'",
                    path.display(),
                    r.subject,
                    cluster.pgdata.display()
                ));
            }
        }
    }
}
