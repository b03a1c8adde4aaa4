//! `pgcert verify`: chain, validity, CA flags, purpose, libpq host rules, cert-auth CN, CRLs.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::ca::read_certs;
use crate::cli::Ctx;
use crate::error::Hint;
use crate::pki::encoding;
use crate::pki::inspect::CertInfo;
use crate::pki::verify::{Purpose, Request, verify};
use crate::report::Mode;

pub(crate) const HELP: &str = "Builds the chain from CERT (its first certificate; any others in the file count as untrusted \
intermediates) through --untrusted to a root in --root, and checks, in order: chain (every signature; the root must be \
in --root, as libpq's sslrootcert needs it), validity of every certificate, issuers (CA:TRUE, keyCertSign, pathlen), \
purpose (serverAuth/clientAuth), host (libpq's verify-full rules: dNSName and iPAddress SANs, the CN only when no SAN of \
the host's type exists, one-label wildcards), user (the CN equals the database user, for cert authentication) and, with \
--crl, revocation as PostgreSQL does it: every CA of the chain needs a current CRL. Prints each check; the first \
failure is the error.

EXAMPLES:
  pgcert verify server.crt --root root.crt --host db.example.com --purpose server
  pgcert verify ~/.postgresql/postgresql.crt --root root.crt --user alice --purpose client --crl crl.pem

EXIT CODES:
  0  every check passed
  1  a check failed (the message says which and why), or a file is unreadable
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The certificate (PEM or DER; extra certificates in the file are treated as intermediates).
    #[arg(value_name = "CERT")]
    cert: PathBuf,
    /// Trusted root certificate(s) (default: the CA directory's root.crt when --ca exists).
    #[arg(long, value_name = "FILE")]
    root: Vec<PathBuf>,
    /// Untrusted intermediates.
    #[arg(long, value_name = "FILE")]
    untrusted: Vec<PathBuf>,
    /// Host name or address clients connect to (libpq verify-full).
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Database user the certificate must name (cert authentication).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// CRL file(s); enables revocation checks for the whole chain.
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// server or client.
    #[arg(long, value_parser = ["server", "client"])]
    purpose: Option<String>,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let mut certs = read_certs(&a.cert)?;
    let leaf = certs.remove(0);
    let mut untrusted: Vec<CertInfo> = certs;
    for u in &a.untrusted {
        untrusted.extend(read_certs(u)?);
    }
    let mut roots = Vec::new();
    for r in &a.root {
        roots.extend(read_certs(r)?);
    }
    if roots.is_empty() {
        let default = ctx.ca.join("root.crt");
        if default.exists() {
            roots = read_certs(&default)?;
        } else {
            return Err(anyhow!("no trusted root given").context(Hint::new(
                "give the root certificate with --root FILE (what clients use as sslrootcert)",
            )));
        }
    }
    let mut crls = Vec::new();
    for c in &a.crl {
        let bytes = std::fs::read(c).map_err(|e| anyhow!("cannot read {}: {e}", c.display()))?;
        for b in encoding::blocks(&bytes).map_err(|e| anyhow!("{}: {e}", c.display()))? {
            crls.push(b.der);
        }
    }
    let purpose = a.purpose.as_deref().map(|p| {
        if p == "server" {
            Purpose::Server
        } else {
            Purpose::Client
        }
    });
    let verdict = verify(&Request {
        leaf: &leaf,
        untrusted: &untrusted,
        roots: &roots,
        host: a.host.as_deref(),
        user: a.user.as_deref(),
        crls: &crls,
        purpose,
        now: time::OffsetDateTime::now_utc(),
    });
    match ctx.report.mode() {
        Mode::Json => {
            let j = serde_json::json!({ "command": "verify", "file": a.cert, "ok": verdict.ok, "chain": verdict.chain, "checks": verdict.checks });
            ctx.report
                .data(&format!("{}\n", serde_json::to_string_pretty(&j)?));
        }
        Mode::Human => {
            let mut out = String::new();
            out.push_str(&crate::report::check_lines(&verdict.checks));
            ctx.report.data(&crate::error::sanitize(&out));
        }
        Mode::Quiet => {}
    }
    match verdict.first_failure() {
        None => Ok(()),
        Some(f) => Err(anyhow!(
            "{} failed verification: {}",
            a.cert.display(),
            f.detail
        )),
    }
}
