//! The verdict libpq and the PostgreSQL server reach: OpenSSL 3's `X509_verify_cert` as they
//! configure it, plus libpq's own host-name rule and the `cert` authentication CN rule.
//!
//! How they configure OpenSSL (fe-secure-openssl.c, be-secure-openssl.c):
//! - trust anchors come only from the root file (`sslrootcert`, `ssl_ca_file`), with default
//!   flags: no X509_V_FLAG_PARTIAL_CHAIN, so the chain must end at a self-signed certificate
//!   of that file;
//! - the purpose is OpenSSL's default for the side: a client checks the server with
//!   `sslserver`, the server checks clients with `sslclient` (EKU, keyUsage and nsCertType of the
//!   leaf; EKU, keyUsage and the CA flags of every issuer);
//! - the security level of the SSL_CTX (Debian: 2) is the auth level: keys and signatures under
//!   112 bits (RSA under 2048, SHA-1) are refused, except the trust anchor's own signature;
//! - with a CRL file or directory, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL: every
//!   certificate of the chain needs a current CRL from its issuer.
//!
//! The order of the checks follows X509_verify_cert: chain building, extensions (unknown critical
//! ones, CA flags, purpose, pathlen), security level, revocation, signatures and validity, name
//! constraints. Not evaluated: certificate policies (no PostgreSQL setting asks for an explicit
//! policy), name-constraint minimum/maximum fields, delta CRLs and indirect CRLs; see docs/verify.md.

use serde::Serialize;
use time::OffsetDateTime;

use crate::pki::crl::{CrlFacts, CrlSubject, check_cert_crl};
use crate::pki::inspect::{CertInfo, when};
use crate::pki::signature::{SigError, level_bits};
use crate::pki::x509::{self, Facts, ku, ns};
use crate::postgres::rules::{HostMatch, check_host, check_user};

/// What the certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A PostgreSQL server certificate (OpenSSL's `sslserver`, what libpq checks).
    Server,
    /// A client certificate (`sslclient`, what the server checks).
    Client,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Passed.
    pub ok: bool,
    /// Details or the reason it failed.
    pub detail: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// All checks passed.
    pub ok: bool,
    /// The chain, leaf first, as far as it was built (one-line subjects).
    pub chain: Vec<String>,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Verdict {
    /// The first failing check, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }
}

/// The security level Debian's OpenSSL uses by default, and so libpq and the server.
pub const DEFAULT_SECURITY_LEVEL: u8 = 2;

/// What to verify.
pub struct Request<'a> {
    /// The certificate.
    pub leaf: &'a CertInfo,
    /// Certificates that may be intermediates (the rest of the chain file).
    pub untrusted: &'a [CertInfo],
    /// The trust anchors (the root file's certificates).
    pub roots: &'a [CertInfo],
    /// The name of the root file(s), for messages.
    pub roots_label: &'a str,
    /// libpq verify-full host, if checked.
    pub host: Option<&'a str>,
    /// Database user for the cert-auth CN rule, if checked.
    pub user: Option<&'a str>,
    /// CRLs (DER); when any is given every certificate of the chain needs one (CRL_CHECK_ALL).
    pub crls: &'a [Vec<u8>],
    /// The purpose, if checked.
    pub purpose: Option<Purpose>,
    /// The moment of the verdict.
    pub now: OffsetDateTime,
    /// OpenSSL security level (0 to 5) used as the auth level.
    pub security_level: u8,
}

#[derive(Clone)]
struct Node {
    info: CertInfo,
    facts: Facts,
    trusted: bool,
}

fn node(c: &CertInfo, trusted: bool) -> Result<Node, String> {
    Ok(Node {
        info: c.clone(),
        facts: Facts::parse(&c.der).map_err(|e| format!("{}: {e}", c.subject))?,
        trusted,
    })
}

fn in_time(n: &Node, now: OffsetDateTime) -> bool {
    n.info.not_before <= now && now < n.info.not_after
}

/// Build the chain as OpenSSL's build_chain does (trusted issuers first, then the untrusted
/// certificates; a time-valid candidate preferred). Err carries the chain so far and the reason.
fn build(req: &Request<'_>, leaf: Node) -> Result<Vec<Node>, (Vec<Node>, String)> {
    let mut roots = Vec::new();
    for r in req.roots {
        match node(r, true) {
            Ok(n) => roots.push(n),
            Err(e) => {
                return Err((
                    vec![leaf],
                    format!("a certificate in {}: {e}", req.roots_label),
                ));
            }
        }
    }
    let mut untrusted = Vec::new();
    for u in req.untrusted {
        match node(u, false) {
            Ok(n) => untrusted.push(n),
            Err(e) => return Err((vec![leaf], format!("an intermediate: {e}"))),
        }
    }
    let mut chain = vec![leaf];
    loop {
        let cur = chain.last().expect("non-empty").clone();
        if let Some(why) = &cur.facts.invalid {
            return Err((
                chain,
                format!(
                    "{} is malformed ({why}); OpenSSL does not use such a certificate",
                    cur.info.subject
                ),
            ));
        }
        if cur.facts.self_signed() {
            if cur.trusted {
                return Ok(chain);
            }
            if let Some(i) = roots.iter().position(|r| r.info.der == cur.info.der) {
                let last = chain.len() - 1;
                chain[last] = roots[i].clone();
                return Ok(chain);
            }
            let msg = if chain.len() == 1 {
                format!(
                    "{} is self-signed and {} does not hold it: not trusted by {} (self-signed certificate)",
                    cur.info.subject, req.roots_label, req.roots_label
                )
            } else {
                format!(
                    "the chain ends at the root {}, which {} does not hold: not trusted by {} (self-signed certificate in certificate chain)",
                    cur.info.subject, req.roots_label, req.roots_label
                )
            };
            return Err((chain, msg));
        }
        if chain.len() > 100 {
            return Err((chain, "the chain is longer than 100 certificates".into()));
        }
        let pick = |pool: &[Node], chain: &[Node]| -> Option<Node> {
            let cands: Vec<&Node> = pool
                .iter()
                .filter(|p| !chain.iter().any(|c| c.info.der == p.info.der))
                .filter(|p| cur.facts.likely_issued_by(&p.facts))
                .collect();
            cands
                .iter()
                .find(|p| in_time(p, req.now))
                .or(cands.last())
                .map(|p| (*p).clone())
        };
        if let Some(r) = pick(&roots, &chain) {
            chain.push(r);
            continue;
        }
        if cur.trusted {
            return Err((
                chain,
                format!(
                    "{} is in {} but is not a self-signed root, and its issuer {} is not there: libpq and PostgreSQL need the root itself in the trust file (no partial chains)",
                    cur.info.subject, req.roots_label, cur.info.issuer
                ),
            ));
        }
        if let Some(u) = pick(&untrusted, &chain) {
            chain.push(u);
            continue;
        }
        let msg = if chain.len() == 1 && req.untrusted.is_empty() {
            format!(
                "unable to get the issuer {} of {}: it is neither in {} nor in the certificate file (a missing intermediate, or a root {} does not hold)",
                cur.info.issuer, cur.info.subject, req.roots_label, req.roots_label
            )
        } else {
            format!(
                "unable to get the issuer {} of {}: not trusted by {} (it holds neither that certificate nor the root above it)",
                cur.info.issuer, cur.info.subject, req.roots_label
            )
        };
        return Err((chain, msg));
    }
}

/// The sslserver / sslclient purpose of one certificate (X509_check_purpose), `ca` for issuers.
fn purpose_ok(f: &Facts, p: Purpose, ca: bool) -> Result<(), String> {
    let (want, xku_ok) = match p {
        Purpose::Server => (
            "serverAuth",
            f.eku.as_ref().is_none_or(|e| e.server || e.sgc),
        ),
        Purpose::Client => ("clientAuth", f.eku.as_ref().is_none_or(|e| e.client)),
    };
    if !xku_ok {
        return Err(format!("its extendedKeyUsage lacks {want}"));
    }
    if ca {
        let r = f.check_ca();
        if r == 0 || (r == 5 && f.ns_cert_type.is_some_and(|n| n & ns::SSL_CA == 0)) {
            return Err(
                "it is not a CA for TLS (basicConstraints, keyUsage keyCertSign or nsCertType)"
                    .into(),
            );
        }
        return Ok(());
    }
    match p {
        Purpose::Server => {
            if f.ns_reject(ns::SSL_SERVER) {
                return Err("its nsCertType lacks SSL server".into());
            }
            if f.ku_reject(ku::DIGITAL_SIGNATURE | ku::KEY_ENCIPHERMENT | ku::KEY_AGREEMENT) {
                return Err(
                    "its keyUsage has none of digitalSignature, keyEncipherment, keyAgreement"
                        .into(),
                );
            }
        }
        Purpose::Client => {
            if f.ku_reject(ku::DIGITAL_SIGNATURE | ku::KEY_AGREEMENT) {
                return Err("its keyUsage has neither digitalSignature nor keyAgreement".into());
            }
            if f.ns_reject(ns::SSL_CLIENT) {
                return Err("its nsCertType lacks SSL client".into());
            }
        }
    }
    Ok(())
}

type Outcome = Result<String, String>;

/// check_extensions: unknown critical extensions, CA flags, purpose and pathlen.
fn check_extensions(
    chain: &[Node],
    purpose: Option<Purpose>,
) -> (Outcome, Outcome, Option<Outcome>) {
    let num = chain.len();
    let mut critical = Ok("no unknown critical extension".to_string());
    let mut issuers = Ok(if num > 1 {
        "every issuer is a CA (basicConstraints, keyUsage) within its pathlen".to_string()
    } else {
        "a single self-signed certificate".to_string()
    });
    let mut purp = purpose.map(|p| {
        Ok(match p {
            Purpose::Server => {
                "fit for a TLS server (sslserver: EKU, keyUsage, nsCertType of every certificate)"
                    .to_string()
            }
            Purpose::Client => {
                "fit for a TLS client (sslclient: EKU, keyUsage, nsCertType of every certificate)"
                    .to_string()
            }
        })
    });
    let mut plen: u32 = 0;
    for (i, n) in chain.iter().enumerate() {
        let f = &n.facts;
        if critical.is_ok() && !f.unknown_critical.is_empty() {
            critical = Err(format!(
                "{} has a critical extension OpenSSL does not handle ({}): unhandled critical extension",
                n.info.subject,
                f.unknown_critical.join(", ")
            ));
        }
        if i > 0 && issuers.is_ok() {
            let r = f.check_ca();
            if r == 0 || (i + 1 < num && r != 1) {
                issuers = Err(format!(
                    "{} issued {} but is not a CA (basicConstraints CA:TRUE{}): invalid CA certificate",
                    n.info.subject,
                    chain[i - 1].info.subject,
                    if f.ku_reject(ku::KEY_CERT_SIGN) {
                        ", and its keyUsage lacks keyCertSign"
                    } else {
                        " needed"
                    }
                ));
            }
        }
        if let (Some(p), Some(Ok(_))) = (purpose, &purp)
            && let Err(e) = purpose_ok(f, p, i > 0)
        {
            purp = Some(Err(format!(
                "{} is not fit for a TLS {}: {e} (unsupported certificate purpose)",
                n.info.subject,
                if p == Purpose::Server {
                    "server"
                } else {
                    "client"
                }
            )));
        }
        if i > 1
            && issuers.is_ok()
            && let Some(p) = f.pathlen()
            && plen > p
        {
            issuers = Err(format!(
                "{} allows {p} CA(s) below it (pathlen), but {plen} follow: path length constraint exceeded",
                n.info.subject
            ));
        }
        if i > 0 && !f.self_issued() {
            plen += 1;
        }
    }
    (critical, issuers, purp)
}

/// check_auth_level plus the leaf key check of X509_verify_cert.
fn check_level(chain: &[Node], level: u8) -> Result<String, String> {
    let need = level_bits(level);
    if level == 0 {
        return Ok("security level 0: key sizes and digests not checked".into());
    }
    let num = chain.len();
    for (i, n) in chain.iter().enumerate() {
        let f = &n.facts;
        if f.key_bits.is_none_or(|b| b < need) {
            return Err(format!(
                "the key of {} gives {} security bits, under the {need} of security level {level} ({}: {})",
                n.info.subject,
                f.key_bits.map_or("unknown".to_string(), |b| b.to_string()),
                if i == 0 {
                    "EE key too small"
                } else {
                    "CA key too small"
                },
                "use RSA 2048 or larger, or an EC key"
            ));
        }
        if i + 1 < num && f.sig_bits.is_none_or(|b| b < need) {
            return Err(format!(
                "{} is signed with {}, {} security bits, under the {need} of security level {level} (CA signature digest algorithm too weak)",
                n.info.subject,
                f.sig_name,
                f.sig_bits.map_or("unknown".to_string(), |b| b.to_string())
            ));
        }
    }
    Ok(format!(
        "every key and signature meets security level {level} ({need} bits)"
    ))
}

/// internal_verify: signatures (not the trust anchor's own) and validity of every certificate.
fn check_signatures(chain: &[Node], anchored: bool) -> Result<String, String> {
    for i in (0..chain.len()).rev() {
        let n = &chain[i];
        let issuer = match chain.get(i + 1) {
            Some(x) => x,
            None if anchored => continue, // the trust anchor's self-signature is not checked
            None => continue,
        };
        match n.facts.signature_by(&issuer.info.spki) {
            Ok(()) => {}
            Err(SigError::Invalid) => {
                return Err(format!(
                    "the signature of {} does not verify with the key of {} (certificate signature failure)",
                    n.info.subject, issuer.info.subject
                ));
            }
            Err(SigError::Unsupported(w)) => {
                return Err(format!(
                    "the signature of {} cannot be checked by pgcert: {w}",
                    n.info.subject
                ));
            }
        }
    }
    Ok("every signature verifies".into())
}

fn check_validity(chain: &[Node], leaf: &CertInfo, now: OffsetDateTime) -> Result<String, String> {
    for n in chain.iter().rev() {
        if now < n.info.not_before {
            return Err(format!(
                "{} is not yet valid (notBefore {})",
                n.info.subject,
                when(n.info.not_before)
            ));
        }
        if now >= n.info.not_after {
            return Err(format!(
                "{} has expired (notAfter {})",
                n.info.subject,
                when(n.info.not_after)
            ));
        }
    }
    Ok(format!(
        "{} valid at {}; the leaf expires {}",
        chain.len(),
        when(now),
        when(leaf.not_after)
    ))
}

/// check_name_constraints: each certificate (not self-issued intermediates) against the
/// constraints of every CA above it; the leaf's CN as a host name when it has no DNS SAN.
fn check_constraints(chain: &[Node]) -> Option<Result<String, String>> {
    if !chain.iter().any(|n| n.facts.name_constraints.is_some()) {
        return None;
    }
    for i in (0..chain.len()).rev() {
        let x = &chain[i];
        if i != 0 && x.facts.self_issued() {
            continue;
        }
        for j in (i + 1..chain.len()).rev() {
            let Some(nc) = &chain[j].facts.name_constraints else {
                continue;
            };
            let mut r = x509::check_name_constraints(&x.facts, nc);
            if r.is_ok() && i == 0 && !x.facts.san.iter().any(|g| matches!(g, x509::Gn::Dns(_))) {
                r = x509::check_cn_constraints(&x.facts, nc);
            }
            if let Err(e) = r {
                return Some(Err(format!(
                    "{}: {e}, set by {} (name constraints violation)",
                    x.info.subject, chain[j].info.subject
                )));
            }
        }
    }
    Some(Ok("every name is within the CAs' name constraints".into()))
}

fn check_revocation(
    chain: &[Node],
    crls: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<String, String> {
    let mut parsed = Vec::new();
    for d in crls {
        parsed.push(CrlFacts::parse(d)?);
    }
    for (i, n) in chain.iter().enumerate() {
        let issuer = match chain.get(i + 1) {
            Some(x) => x,
            None if n.facts.self_issued() => n,
            None => {
                return Err(format!(
                    "the issuer of {} is unknown, so its CRL cannot be checked (unable to get CRL issuer certificate)",
                    n.info.subject
                ));
            }
        };
        check_cert_crl(
            &CrlSubject {
                cert: &n.facts,
                issuer: &issuer.facts,
                issuer_spki: &issuer.info.spki,
                issuer_name: &issuer.info.subject,
                name: &n.info.subject,
            },
            &parsed,
            now,
        )?;
    }
    Ok(format!(
        "{} certificate(s) checked against their issuers' current CRLs: none revoked",
        chain.len()
    ))
}

/// Verify.
pub fn verify(req: &Request<'_>) -> Verdict {
    let mut checks = Vec::new();
    let mut add = |name: &str, r: Result<String, String>| {
        let (ok, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        checks.push(Check {
            name: name.into(),
            ok,
            detail,
        });
    };
    let leaf = match node(req.leaf, false) {
        Ok(n) => n,
        Err(e) => {
            add("chain", Err(e));
            return Verdict {
                ok: false,
                chain: vec![req.leaf.subject.clone()],
                checks,
            };
        }
    };
    let (chain, anchored) = match build(req, leaf) {
        Ok(c) => {
            add(
                "chain",
                Ok(format!(
                    "{} (anchored in {})",
                    c.iter()
                        .map(|x| x.info.subject.as_str())
                        .collect::<Vec<_>>()
                        .join(" <- "),
                    req.roots_label
                )),
            );
            (c, true)
        }
        Err((c, why)) => {
            add("chain", Err(why));
            (c, false)
        }
    };
    add("validity", check_validity(&chain, req.leaf, req.now));
    let (critical, issuers, purpose) = check_extensions(&chain, req.purpose);
    add("extensions", critical);
    add("issuers", issuers);
    if let Some(p) = purpose {
        add("purpose", p);
    }
    add("security", check_level(&chain, req.security_level));
    add("signature", check_signatures(&chain, anchored));
    if let Some(nc) = check_constraints(&chain) {
        add("names", nc);
    }
    if let Some(h) = req.host {
        let r = match check_host(&req.leaf.der, h) {
            Ok(HostMatch::Matched(n)) => {
                Ok(format!("\"{h}\" matches {n} (libpq verify-full rules)"))
            }
            Ok(HostMatch::Mismatch(m)) => Err(m),
            Err(e) => Err(e),
        };
        add("host", r);
    }
    if let Some(u) = req.user {
        add(
            "user",
            check_user(req.leaf.cn.as_deref(), u)
                .map(|_| format!("CN is the database user \"{u}\"")),
        );
    }
    if !req.crls.is_empty() {
        add("crl", check_revocation(&chain, req.crls, req.now));
    }
    Verdict {
        ok: checks.iter().all(|c| c.ok),
        chain: chain.iter().map(|c| c.info.subject.clone()).collect(),
        checks,
    }
}
