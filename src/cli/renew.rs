//! `pgcert renew`: re-issue a certificate of this CA with the same subject, SANs and profile.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::ca::read_certs;
use crate::cli::Ctx;
use crate::cli::args::{ClusterArgs, OutArgs, TemplateArgs, ValidityArgs};
use crate::error::Hint;
use crate::issuance::{self, LeafRequest, LeafRole, Outputs, SubjectKey};
use crate::pki::issue::CertSpec;
use crate::pki::key::{KeyType, PrivateKey};
use crate::pki::serial::Serial;
use crate::postgres::cluster::Expect;
use crate::report::{CertSummary, Outcome};

pub(crate) const HELP: &str = "Finds the certificate (by serial in the CA's newcerts/, or the file given with --cert, which must \
have been issued by this CA) and issues a new one with the same subject and SANs, the same profile (server or client, \
from its extendedKeyUsage) and a fresh validity (--days, default the profile's). The public key is kept unless --rekey, \
which makes a new key (of the same type unless --key-type). --revoke-old marks the old certificate revoked \
(superseded) in index.txt in the same database change.
Writes BASE.crt (with the chain) and root.crt, plus BASE.key (and .pk8 for clients) with --rekey; BASE defaults to \
server or postgresql. Renewing in place (--pgdata DIR, or --out ~/.postgresql) needs --force. With --pgdata the files go \
where that data directory's ssl_cert_file and ssl_key_file point (read from its postgresql.conf, or --config FILE), \
owned by the directory's owner; --reload then reloads the running server as that owner and waits until it presents \
the new serial (exit 1 if it does not within 15 s). Without --reload PostgreSQL picks the new files up on its next \
reload (pg_ctl reload / SELECT pg_reload_conf()).

EXAMPLES:
  pgcert renew --cert $PGDATA/server.crt --pgdata $PGDATA --force --reload
  pgcert renew 3E1CC6AA55FD6E0D154AB620EB150383 --rekey --revoke-old --out new/

EXIT CODES:
  0  success
  1  failure (unknown serial, certificate of another CA, existing files without --force)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("destination").args(["pgdata", "out"])))]
pub struct Args {
    /// Serial of the certificate to renew (hex, as in index.txt).
    #[arg(value_name = "SERIAL", required_unless_present = "cert", conflicts_with = "cert",
          value_parser = |s: &str| s.parse::<Serial>())]
    serial: Option<Serial>,
    /// The certificate to renew (its first certificate).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Make a new key instead of keeping the old public key.
    #[arg(long)]
    rekey: bool,
    /// Key type for --rekey (default: the old key's type).
    #[arg(long, value_name = "TYPE", requires = "rekey", value_parser = |s: &str| s.parse::<KeyType>())]
    key_type: Option<KeyType>,
    /// Mark the old certificate revoked (superseded).
    #[arg(long)]
    revoke_old: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    validity: ValidityArgs,
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    out: OutArgs,
    /// Write the certificate alone, without this CA's intermediates (a test matrix's
    /// leaf-only file; PostgreSQL's ssl_cert_file normally needs them).
    #[arg(long)]
    leaf_only: bool,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let ca = ctx.open_ca(&ctx.ca)?;
    let signer = ca.load_signer()?;
    let old = match (&a.serial, &a.cert) {
        (Some(s), _) => {
            let p = ca.newcerts().join(format!("{s}.pem"));
            if !p.exists() {
                return Err(anyhow!("serial {s} is not in {}", ca.newcerts().display())
                    .context(Hint::new("give the certificate file with --cert instead")));
            }
            read_certs(&p)?.remove(0)
        }
        (None, Some(f)) => read_certs(f)?.remove(0),
        _ => unreachable!("clap requires one"),
    };
    if !old.is_signed_by(signer.cert()) {
        return Err(anyhow!(
            "{} was not issued by the CA in {}",
            old.subject,
            ctx.ca.display()
        )
        .context(Hint::new("point --ca at the CA that issued it")));
    }
    let (profile_name, role) = if old.is_ca {
        return Err(anyhow!(
            "{} is a CA certificate; renew re-issues server and client certificates",
            old.subject
        )
        .context(Hint::new(
            "make a new intermediate with 'pgcert init-ca --parent'",
        )));
    } else if old.eku_server {
        ("server", LeafRole::Server)
    } else if old.eku_client {
        ("client", LeafRole::Client)
    } else {
        return Err(anyhow!(
            "{} has neither serverAuth nor clientAuth, so its profile is unknown",
            old.subject
        ));
    };
    let profile = a.template.load(profile_name)?;
    let subject = old
        .subject_name()
        .map_err(|e| anyhow!("cannot reuse the subject of {}: {e}", old.subject))?;
    let spec = CertSpec {
        subject,
        sans: old.sans.clone(),
        validity: a.validity.resolve(&profile)?,
        serial: Serial::random(),
        pathlen: None,
        profile,
    };
    let cluster = a.cluster.open()?;
    let outputs = match &cluster {
        Some(_) if role != LeafRole::Server => {
            return Err(anyhow!(
                "{} is a client certificate; --pgdata renews the server's",
                old.subject
            )
            .context(Hint::new("write it with --out DIR instead")));
        }
        Some(c) => Outputs::for_cluster(c, ctx.force),
        None => Outputs::in_dir(
            a.out.out.clone(),
            a.out
                .name
                .clone()
                .unwrap_or_else(|| role.default_base().into()),
            None,
            ctx.force,
        ),
    };
    let mut outputs = outputs;
    outputs.leaf_only = a.leaf_only;
    outputs.precheck(role, a.rekey)?;
    let key = if a.rekey {
        let kt = match a
            .key_type
            .or_else(|| old.key_kind.and_then(|k| k.key_type()))
        {
            Some(t) => t,
            None => {
                return Err(anyhow!(
                    "the old key's type is not one pgcert makes; pass --key-type"
                ));
            }
        };
        let k = ctx
            .report
            .with_spinner(kt.is_slow(), &format!("generating {kt} key"), || {
                PrivateKey::generate(kt)
            })
            .map_err(|e| anyhow!(e))?;
        SubjectKey::private(k)
    } else {
        SubjectKey {
            spki: old.spki.clone(),
            rsa: old.key_kind.is_some_and(|k| k.is_rsa()),
            private: None,
        }
    };
    let req = LeafRequest {
        role,
        spec,
        key,
        outputs: outputs.clone(),
        allow_outlive: ctx.allow_outlive,
        revoke_old: a.revoke_old.then(|| old.serial.clone()),
    };
    let r = issuance::issue_leaf(&ca, req, ctx.waiting())?;
    let mut notes = vec![format!(
        "renewed serial {} as {}",
        old.serial, r.issued.cert.serial
    )];
    if a.revoke_old {
        notes.push(format!(
            "serial {} is now revoked (superseded); publish a new CRL",
            old.serial
        ));
    }
    if let Some(c) = &cluster {
        a.cluster.finish(
            c,
            Expect::Serial(r.issued.cert.serial.to_string()),
            &mut notes,
        )?;
    }
    ctx.report.finish(&Outcome {
        command: "renew".into(),
        certificates: vec![CertSummary::new(
            profile_name,
            Some(outputs.crt_path()),
            &r.issued.cert,
        )],
        files: r.written,
        ca: Some(ctx.ca.clone()),
        notes,
        ..Default::default()
    });
    Ok(())
}
