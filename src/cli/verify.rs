//! `pgcert verify`: chain, validity, CA flags, purpose, libpq host rules, cert-auth CN, CRLs.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};

use crate::ca::read_certs;
use crate::cli::Ctx;
use crate::error::Hint;
use crate::pki::encoding;
use crate::pki::inspect::CertInfo;
use crate::postgres::verify::{DEFAULT_SECURITY_LEVEL, Purpose, Request, verify};
use crate::report::Mode;

pub(crate) const HELP: &str = "Gives the verdict OpenSSL 3 gives when libpq (checking a server, --purpose server) or the \
PostgreSQL server (checking a client, --purpose client) verifies CERT: the chain from CERT (its first certificate; the \
others in the file are untrusted intermediates) through --untrusted to a self-signed root in --root (no partial chains: \
an intermediate as sslrootcert fails), validity at --at, unknown critical and malformed extensions, CA flags and pathlen, \
the sslserver/sslclient purpose of every certificate, security level 2 (RSA under 2048 bits and SHA-1 refused; \
--security-level models another), signatures, name constraints, then libpq's own rules: host (verify-full: dNSName and \
iPAddress SANs, the CN only when no SAN of the host's type exists, one-label wildcards) and user (the CN equals the \
database user, for cert authentication) and, with --crl, revocation as PostgreSQL does it: every certificate of the \
chain needs a current CRL from its issuer. Prints each check; the first failure is the error. docs/verify.md lists \
what is modelled and where libpq differs from openssl verify.

EXAMPLES:
  pgcert verify server.crt --root root.crt --host db.example.com --purpose server
  pgcert verify ~/.postgresql/postgresql.crt --root root.crt --user alice --purpose client --crl crl.pem
  pgcert verify server.crt --root root.crt --at 2027-06-01T00:00:00Z

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
    /// Judge at this moment instead of now (RFC 3339, e.g. 2027-06-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// OpenSSL security level to model (0-5; Debian's default, which libpq and the server use, is 2).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SECURITY_LEVEL, value_parser = clap::value_parser!(u8).range(0..=5))]
    security_level: u8,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let mut certs = read_certs(&a.cert)?;
    let leaf = certs.remove(0);
    let mut untrusted: Vec<CertInfo> = certs;
    for u in &a.untrusted {
        untrusted.extend(read_certs(u)?);
    }
    let now = match &a.at {
        None => time::OffsetDateTime::now_utc(),
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| anyhow!("--at {t}: not an RFC 3339 time ({e})"))
            .context(Hint::new("write it like 2027-06-01T00:00:00Z"))?,
    };
    let mut roots = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for r in &a.root {
        roots.extend(read_certs(r)?);
        labels.push(r.display().to_string());
    }
    if roots.is_empty() {
        let default = ctx.ca.join("root.crt");
        if default.exists() {
            roots = read_certs(&default)?;
            labels.push(default.display().to_string());
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
        roots_label: &labels.join(" + "),
        host: a.host.as_deref(),
        user: a.user.as_deref(),
        crls: &crls,
        purpose,
        now,
        security_level: a.security_level,
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
