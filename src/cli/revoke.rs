//! `pgcert revoke`: mark a certificate revoked in the CA database (`openssl ca -revoke`).

use std::path::PathBuf;

use anyhow::anyhow;

use crate::ca::read_certs;
use crate::ca::revocation::{self, parse_reason};
use crate::cli::Ctx;
use crate::error::Hint;
use crate::pki::serial::Serial;
use crate::report::Outcome;

pub(crate) const HELP: &str = "The index.txt line becomes an OpenSSL `R` line with the revocation time and, with --reason, an RFC \
5280 reason: unspecified, keyCompromise, CACompromise, affiliationChanged, superseded, cessationOfOperation, \
certificateHold, removeFromCRL (any case). A certificate of this CA that is not in the database (made with \
`openssl x509 -req`) is added as revoked, as `openssl ca -revoke` does. Revoking does not publish anything: run \
`pgcert crl` next, and give the new CRL to PostgreSQL (ssl_crl_file / ssl_crl_dir).

EXAMPLES:
  pgcert revoke --cert alice.crt --reason keyCompromise && pgcert crl
  pgcert revoke 3E1CC6AA55FD6E0D154AB620EB150384

EXIT CODES:
  0  success
  1  unknown serial, already revoked, certificate of another CA
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serial to revoke (hex, as in index.txt).
    #[arg(value_name = "SERIAL", required_unless_present = "cert", conflicts_with = "cert",
          value_parser = |s: &str| s.parse::<Serial>())]
    serial: Option<Serial>,
    /// The certificate to revoke.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// RFC 5280 reason.
    #[arg(long, value_name = "REASON", value_parser = |s: &str| parse_reason(s))]
    reason: Option<&'static str>,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let ca = ctx.open_ca(&ctx.ca)?;
    let ca_cert = ca.cert()?; // the key is not needed to revoke
    let cert = match &a.cert {
        Some(f) => {
            let c = read_certs(f)?.remove(0);
            if !c.is_signed_by(&ca_cert) {
                return Err(anyhow!(
                    "{} ({}) was not issued by the CA in {}",
                    f.display(),
                    c.subject,
                    ctx.ca.display()
                )
                .context(Hint::new("point --ca at the CA that issued it")));
            }
            Some(c)
        }
        None => None,
    };
    let serial = match (&a.serial, &cert) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => c.serial.clone(),
        _ => unreachable!("clap requires one"),
    };
    let lock = ca.lock(ctx.waiting())?;
    let now = time::OffsetDateTime::now_utc();
    let entry = revocation::revoke(&lock, &serial, cert.as_ref(), a.reason, now)?;
    drop(lock);
    let listed = revocation::list(std::slice::from_ref(&entry), now)?;
    ctx.report.finish(&Outcome {
        command: "revoke".into(),
        ca: Some(ctx.ca.clone()),
        notes: vec![format!(
            "revoked {} ({}); publish it with 'pgcert crl --ca {}'",
            entry.serial,
            entry.subject,
            ctx.ca.display()
        )],
        entries: listed,
        ..Default::default()
    });
    Ok(())
}
