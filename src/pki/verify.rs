//! Chain verification as OpenSSL does it for PostgreSQL and libpq: build the chain from the
//! certificate through the untrusted certificates to a trusted root (no partial chains: the
//! root must be in the trust file, as libpq's sslrootcert needs it), then check signatures,
//! validity, CA flags and key usage of issuers, pathlen, the purpose's key usage and EKU,
//! libpq's verify-full host rules, the cert-auth CN rule and, with CRLs, CRL_CHECK_ALL.
//!
//! Not checked: policies, name constraints, the AKI/SKI linkage beyond names and signatures.

use serde::Serialize;
use time::OffsetDateTime;

use crate::pki::crl::crl_info;
use crate::pki::inspect::CertInfo;
use crate::postgres::rules::{HostMatch, check_host, check_user};

/// What the certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A PostgreSQL server certificate (serverAuth).
    Server,
    /// A client certificate (clientAuth).
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

/// What to verify.
pub struct Request<'a> {
    /// The certificate.
    pub leaf: &'a CertInfo,
    /// Certificates that may be intermediates.
    pub untrusted: &'a [CertInfo],
    /// Trust anchors.
    pub roots: &'a [CertInfo],
    /// libpq verify-full host, if checked.
    pub host: Option<&'a str>,
    /// Database user for the cert-auth CN rule, if checked.
    pub user: Option<&'a str>,
    /// CRLs (DER); when any is given every certificate of the chain needs one (CRL_CHECK_ALL).
    pub crls: &'a [Vec<u8>],
    /// The purpose, if checked.
    pub purpose: Option<Purpose>,
    /// Now.
    pub now: OffsetDateTime,
}

fn same(a: &CertInfo, b: &CertInfo) -> bool {
    a.der == b.der || (a.subject_raw == b.subject_raw && a.spki == b.spki)
}

/// Build the chain; Err carries the chain so far and the reason.
fn build(req: &Request<'_>) -> Result<Vec<CertInfo>, (Vec<CertInfo>, String)> {
    let mut chain = vec![req.leaf.clone()];
    loop {
        let cur = chain.last().expect("non-empty").clone();
        if req.roots.iter().any(|r| same(r, &cur)) {
            return Ok(chain); // anchored (also a self-signed leaf given as its own root)
        }
        if chain.len() > 10 {
            return Err((chain, "the chain is longer than 10 certificates".into()));
        }
        if let Some(r) = req.roots.iter().find(|r| cur.is_signed_by(r)) {
            chain.push(r.clone());
            return Ok(chain);
        }
        if cur.is_self_issued() {
            let msg = if chain.len() == 1 {
                format!(
                    "{} is self-signed and not among the trusted roots",
                    cur.subject
                )
            } else {
                format!(
                    "the chain ends at the root {}, which is not among the trusted roots (give it with --root)",
                    cur.subject
                )
            };
            return Err((chain, msg));
        }
        match req
            .untrusted
            .iter()
            .find(|u| !chain.iter().any(|c| same(c, u)) && cur.is_signed_by(u))
        {
            Some(u) => chain.push(u.clone()),
            None => {
                let named = req
                    .untrusted
                    .iter()
                    .chain(req.roots)
                    .any(|c| c.subject_raw == cur.issuer_raw);
                let msg = if named {
                    format!(
                        "the certificate named {} as issuer of {} does not verify its signature",
                        cur.issuer, cur.subject
                    )
                } else {
                    format!(
                        "unable to get the issuer {} of {} (a missing intermediate: add it with --untrusted, or to the chain file)",
                        cur.issuer, cur.subject
                    )
                };
                return Err((chain, msg));
            }
        }
    }
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
    let chain = match build(req) {
        Ok(c) => {
            add(
                "chain",
                Ok(format!(
                    "{} (signatures verify, anchored in a trusted root)",
                    c.iter()
                        .map(|x| x.subject.as_str())
                        .collect::<Vec<_>>()
                        .join(" <- ")
                )),
            );
            c
        }
        Err((c, why)) => {
            add("chain", Err(why));
            c
        }
    };
    // validity of every certificate
    let mut bad_time = None;
    for c in &chain {
        if req.now < c.not_before {
            bad_time = Some(format!(
                "{} is not yet valid (notBefore {})",
                c.subject,
                crate::pki::inspect::when(c.not_before)
            ));
            break;
        }
        if req.now > c.not_after {
            bad_time = Some(format!(
                "{} has expired (notAfter {})",
                c.subject,
                crate::pki::inspect::when(c.not_after)
            ));
            break;
        }
    }
    add(
        "validity",
        bad_time.map_or_else(
            || {
                Ok(format!(
                    "{} valid now; the leaf expires {}",
                    chain.len(),
                    crate::pki::inspect::when(req.leaf.not_after)
                ))
            },
            Err,
        ),
    );
    // issuers must be CAs allowed to sign, within pathlen
    let mut ca_err = None;
    for (i, c) in chain.iter().enumerate().skip(1) {
        if !c.is_ca {
            ca_err = Some(format!(
                "{} signed {} but is not a CA (basicConstraints CA:TRUE missing)",
                c.subject,
                chain[i - 1].subject
            ));
            break;
        }
        if c.key_cert_sign == Some(false) {
            ca_err = Some(format!(
                "{} is a CA without keyCertSign in its keyUsage",
                c.subject
            ));
            break;
        }
        if let Some(p) = c.pathlen
            && (i - 1) as u32 > p
        {
            ca_err = Some(format!(
                "{} allows {p} CA(s) below it (pathlen), but {} follow",
                c.subject,
                i - 1
            ));
            break;
        }
    }
    if chain.len() > 1 {
        add(
            "issuers",
            ca_err.map_or_else(
                || Ok("every issuer is a CA with keyCertSign, within pathlen".into()),
                Err,
            ),
        );
    }
    if let Some(p) = req.purpose {
        let (eku_ok, want) = match p {
            Purpose::Server => (req.leaf.eku_server, "serverAuth"),
            Purpose::Client => (req.leaf.eku_client, "clientAuth"),
        };
        let has_eku = req.leaf.eku_server || req.leaf.eku_client;
        let r = if req.leaf.is_ca && chain.len() > 1 {
            Err(format!(
                "{} is a CA certificate, not a {} certificate",
                req.leaf.subject,
                if p == Purpose::Server {
                    "server"
                } else {
                    "client"
                }
            ))
        } else if has_eku && !eku_ok {
            Err(format!("the extendedKeyUsage lacks {want}"))
        } else {
            Ok(if has_eku {
                format!("extendedKeyUsage has {want}")
            } else {
                "no extendedKeyUsage (any purpose)".into()
            })
        };
        add("purpose", r);
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
        add("crl", check_crls(&chain, req.crls, req.now));
    }
    Verdict {
        ok: checks.iter().all(|c| c.ok),
        chain: chain.iter().map(|c| c.subject.clone()).collect(),
        checks,
    }
}

/// CRL_CHECK_ALL as PostgreSQL enables it: every certificate of the chain needs a current CRL
/// from its issuer, and must not be listed in it.
fn check_crls(chain: &[CertInfo], crls: &[Vec<u8>], now: OffsetDateTime) -> Result<String, String> {
    for (i, c) in chain.iter().enumerate() {
        let issuer = chain.get(i + 1).unwrap_or(c); // the root covers itself
        let found = crls.iter().find_map(|d| {
            let info = crl_info(d).ok()?;
            crate::ca::revocation::check_crl(d, issuer)
                .ok()
                .map(|_| info)
        });
        let Some(info) = found else {
            return Err(format!(
                "no CRL from {} (unable to get certificate CRL): with a CRL configured, PostgreSQL needs one for every CA of the chain",
                issuer.subject
            ));
        };
        if info.next_update.is_some_and(|n| n <= now) {
            return Err(format!(
                "the CRL of {} has expired (nextUpdate {})",
                issuer.subject,
                crate::pki::inspect::when(info.next_update.expect("some"))
            ));
        }
        if info.revoked.contains(&c.serial) {
            return Err(format!("{} (serial {}) is revoked", c.subject, c.serial));
        }
    }
    Ok(format!(
        "{} certificate(s) checked against their issuers' CRLs: none revoked",
        chain.len()
    ))
}
