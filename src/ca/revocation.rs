//! Revocation on the CA database: marking `index.txt` lines revoked as `openssl ca -revoke`
//! does, signing CRLs from them (numbered by `crlnumber`, as `openssl ca -gencrl`), the CRL
//! chain PostgreSQL needs, and listing the database.
//!
//! PostgreSQL and libpq set OpenSSL's CRL_CHECK and CRL_CHECK_ALL once any CRL is configured:
//! every CA of a chain, the root included, needs a current CRL, or every peer is refused. So
//! the CRL file pgcert writes for an intermediate CA holds its own CRL followed by a fresh CRL
//! of every CA above it, signed by pgcert when it holds that CA's directory (the parent link
//! `init-ca --parent` records), otherwise taken from a file the caller gives.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use time::OffsetDateTime;

use crate::ca::index::{self, IndexEntry, Status};
use crate::ca::{CaDir, CaTxn};
use crate::error::Hint;
use crate::files::{self, FileWrite, Overwrite};
use crate::pki::crl::{Revoked, sign_crl};
use crate::pki::inspect::CertInfo;
use crate::pki::issue::CaSigner;
use crate::pki::serial::Serial;

/// The file in a CA directory that names its parent CA directory (relative to the CA).
pub const PARENT_LINK: &str = "parent-ca.path";

/// Canonical OpenSSL spelling of a reason given in any case.
pub fn parse_reason(s: &str) -> Result<&'static str, String> {
    index::REASONS
        .iter()
        .find(|r| r.eq_ignore_ascii_case(s))
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown reason '{s}' (one of: {})",
                index::REASONS.join(", ")
            )
        })
}

pub(crate) fn rcgen_reason(s: &str) -> Option<rcgen::RevocationReason> {
    use rcgen::RevocationReason as R;
    Some(match s {
        "unspecified" => R::Unspecified,
        "keyCompromise" => R::KeyCompromise,
        "CACompromise" => R::CaCompromise,
        "affiliationChanged" => R::AffiliationChanged,
        "superseded" => R::Superseded,
        "cessationOfOperation" => R::CessationOfOperation,
        "certificateHold" => R::CertificateHold,
        "removeFromCRL" => R::RemoveFromCrl,
        _ => return None,
    })
}

/// Mark a certificate revoked in `index.txt` (rewritten atomically). A certificate of this CA
/// that is not in the database (made by `openssl x509 -req`, say) is added as an `R` line, as
/// `openssl ca -revoke` does. Errors: already revoked, unknown serial.
pub fn revoke(
    txn: &CaTxn,
    serial: &Serial,
    cert: Option<&CertInfo>,
    reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<IndexEntry> {
    let ca = txn.ca();
    let path = ca.index();
    let mut known = false;
    index::scan(&path, |_, e| {
        known |= e.serial.parse::<Serial>().ok().as_ref() == Some(serial);
        Ok(())
    })?;
    match (known, cert) {
        (true, _) => {}
        (false, Some(c)) => {
            // a certificate of this CA made outside the database: recorded, then revoked
            let old_len =
                files::append_line(&path, &IndexEntry::for_new_cert(c).to_string(), |l| {
                    IndexEntry::parse(l).is_ok()
                })?;
            if let Err(e) = txn.index_written(Some(&c.serial)) {
                let _ = files::truncate(&path, old_len);
                return Err(e);
            }
        }
        (false, None) => {
            return Err(
                anyhow!("serial {serial} is not in {}", path.display()).context(Hint::new(
                    "check the serial with 'pgcert list', or give the certificate with --cert",
                )),
            );
        }
    }
    txn.revoke_in_index(serial, reason, now)
}

/// The revoked entries of a database, for a CRL.
pub fn revoked_list(entries: &[IndexEntry]) -> Result<Vec<Revoked>> {
    entries
        .iter()
        .filter(|e| e.status == Status::Revoked)
        .map(|e| {
            let mut parts = e.revocation.split(',');
            let time = index::parse_asn1_time(parts.next().unwrap_or(""))
                .map_err(|err| anyhow!("serial {}: revocation time {err}", e.serial))?;
            let reason = parts.next().and_then(rcgen_reason);
            Ok(Revoked {
                serial: e
                    .serial
                    .parse()
                    .map_err(|err| anyhow!("serial {}: {err}", e.serial))?,
                time,
                reason,
            })
        })
        .collect()
}

/// Sign this CA's CRL from its database, taking (and advancing) `crlnumber`. Returns the DER.
/// `crl.pem` is not written here; see `write_crl_files`.
pub fn sign_ca_crl(
    txn: &CaTxn,
    signer: &CaSigner,
    days: u32,
    now: OffsetDateTime,
) -> Result<Vec<u8>> {
    let ca = txn.ca();
    // only the revoked lines are kept in memory (streamed: 200,000 lines cost nothing)
    let mut revoked_entries = Vec::new();
    index::scan(&ca.index(), |_, e| {
        if e.status == Status::Revoked {
            revoked_entries.push(e);
        }
        Ok(())
    })?;
    let revoked = revoked_list(&revoked_entries)?;
    // the highest CRL number this CA has issued, as crl.pem holds it
    let issued_number = std::fs::read(ca.crl()).ok().and_then(|b| {
        crate::pki::encoding::blocks(&b).ok().and_then(|blocks| {
            blocks
                .iter()
                .filter_map(|b| crate::pki::crl::crl_info(&b.der).ok())
                .find(|i| i.issuer == signer.cert().subject)
                .and_then(|i| i.number)
                .and_then(|n| n.parse::<Serial>().ok())
        })
    });
    let number = match std::fs::read_to_string(ca.crlnumber()) {
        Ok(t) => t.parse::<Serial>().map_err(|e| {
            anyhow!("{}: {e}", ca.crlnumber().display())
                .context(Hint::new("crlnumber holds the next CRL number in hex"))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &issued_number {
            None => Serial::from_bytes(&[1]),
            Some(n) => {
                return Err(anyhow!(
                    "{} is missing, but {} holds CRL number {n}: a new CRL would reuse a number",
                    ca.crlnumber().display(),
                    ca.crl().display()
                )
                .context(Hint::new(format!(
                    "restore it with the next number: echo {} > {}",
                    n.next(),
                    ca.crlnumber().display()
                ))));
            }
        },
        Err(e) => {
            return Err(anyhow!(e).context(format!("cannot read {}", ca.crlnumber().display())));
        }
    };
    if let Some(n) = &issued_number
        && &number <= n
    {
        return Err(anyhow!(
            "{} says {number}, but {} already holds CRL number {n}: CRL numbers must increase",
            ca.crlnumber().display(),
            ca.crl().display()
        )
        .context(Hint::new(format!(
            "set it to the next number: echo {} > {}",
            n.next(),
            ca.crlnumber().display()
        ))));
    }
    let der = sign_crl(signer, &number, &revoked, days, now)
        .map_err(|e| anyhow!("{}: {e}", ca.dir().display()))?;
    files::write_one(FileWrite::public(
        ca.crlnumber(),
        format!("{}\n", number.next()).into_bytes(),
        "CA database",
        Overwrite::Replace,
    ))?;
    txn.ca_written()?;
    Ok(der)
}

/// The parent CA directory recorded by `init-ca --parent`, if any.
pub fn parent_dir(ca: &CaDir) -> Result<Option<PathBuf>> {
    let link = ca.dir().join(PARENT_LINK);
    match std::fs::read_to_string(&link) {
        Ok(t) => {
            let rel = t.trim();
            let joined = ca.dir().join(rel);
            let p = std::fs::canonicalize(&joined).unwrap_or(joined);
            if !p.join("cacert.pem").exists() {
                bail!(
                    "{} names the parent CA {}, which is not there (moved separately?)",
                    link.display(),
                    p.display()
                );
            }
            Ok(Some(p))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("cannot read {}", link.display()))),
    }
}

/// The relative path from `from` to `to` (both absolute), for the parent link.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// A CRL checked against the CA that should have signed it.
#[derive(Debug, Clone)]
pub struct CheckedCrl {
    /// DER.
    pub der: Vec<u8>,
    /// The issuing CA's subject, one-line form.
    pub issuer: String,
    /// nextUpdate.
    pub next_update: Option<OffsetDateTime>,
}

/// Check that `der` is a CRL signed by `ca`.
pub fn check_crl(der: &[u8], ca: &CertInfo) -> Result<CheckedCrl, String> {
    use x509_parser::prelude::FromDer;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
        .map_err(|e| format!("not a valid CRL: {e}"))?;
    if crl.issuer().as_raw() != ca.subject_raw.as_slice() {
        return Err(format!(
            "it is issued by {}, not {}",
            crate::pki::inspect::oneline(crl.issuer()),
            ca.subject
        ));
    }
    let (_, cert) = x509_parser::parse_x509_certificate(&ca.der).map_err(|e| e.to_string())?;
    crl.verify_signature(cert.public_key())
        .map_err(|_| format!("its signature does not verify against {}", ca.subject))?;
    Ok(CheckedCrl {
        der: der.to_vec(),
        issuer: ca.subject.clone(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
    })
}

/// One line of `pgcert list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    /// Serial (upper-case hex).
    pub serial: String,
    /// "valid", "revoked" or "expired" (an expired V line is reported expired).
    pub status: &'static str,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// Whole days until notAfter (negative when past).
    pub days_left: i64,
    /// Revocation time, RFC 3339, for revoked entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Revocation reason, when one was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Subject, one-line form.
    pub subject: String,
    /// notAfter, for filtering.
    #[serde(skip)]
    pub expiry: OffsetDateTime,
}

/// The database as list entries, with expiry computed against `now`.
pub fn list(entries: &[IndexEntry], now: OffsetDateTime) -> Result<Vec<Listed>> {
    entries.iter().map(|e| listed(e, now)).collect()
}

/// One database line as a list entry, with expiry computed against `now`.
pub fn listed(e: &IndexEntry, now: OffsetDateTime) -> Result<Listed> {
    let expiry =
        index::parse_asn1_time(&e.expiry).map_err(|err| anyhow!("serial {}: {err}", e.serial))?;
    let status = match e.status {
        Status::Revoked => "revoked",
        Status::Expired => "expired",
        Status::Valid if expiry <= now => "expired",
        Status::Valid => "valid",
    };
    let mut parts = e.revocation.split(',');
    let revoked_at = if e.status == Status::Revoked {
        parts
            .next()
            .and_then(|t| index::parse_asn1_time(t).ok())
            .map(crate::pki::inspect::when)
    } else {
        None
    };
    Ok(Listed {
        serial: e.serial.clone(),
        status,
        not_after: crate::pki::inspect::when(expiry),
        days_left: (expiry - now).whole_days(),
        revoked_at,
        reason: parts.next().map(str::to_string),
        subject: e.subject.clone(),
        expiry,
    })
}

/// Rewrite valid lines whose certificate has expired as `E` lines (`openssl ca -updatedb`).
/// Returns how many changed.
pub fn update_db(txn: &CaTxn, now: OffsetDateTime) -> Result<usize> {
    let changed = files::rewrite_lines(&txn.ca().index(), |line| {
        Ok(match IndexEntry::parse(line) {
            Ok(mut e)
                if e.status == Status::Valid
                    && index::parse_asn1_time(&e.expiry).is_ok_and(|t| t <= now) =>
            {
                e.status = Status::Expired;
                Some(e.to_string())
            }
            _ => None,
        })
    })?;
    if changed > 0 {
        txn.index_written(None)?;
    }
    Ok(changed)
}

/// A CRL for one CA of a chain, with the CA it belongs to.
#[derive(Debug, Clone)]
pub struct ChainCrl {
    /// The CA certificate.
    pub ca: CertInfo,
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// Signed now by pgcert (false: taken from --parent-crl).
    pub fresh: bool,
}

/// What `crl` is asked to do.
pub struct CrlRequest<'a> {
    /// Validity of each CRL signed.
    pub days: u32,
    /// Only this CA's CRL.
    pub this_only: bool,
    /// CRLs (DER) of CAs above that pgcert does not hold.
    pub parent_crls: &'a [Vec<u8>],
    /// The parent CA directory, overriding the recorded link.
    pub parent_override: Option<&'a Path>,
    /// Now.
    pub now: OffsetDateTime,
}

/// One CA of the chain, resolved before anything is signed.
enum Step {
    /// pgcert holds this CA: sign a fresh CRL.
    Sign(CaDir, Box<CaSigner>),
    /// A CA above that pgcert does not hold: its CRL was given and checked.
    Given(Box<ChainCrl>),
}

/// Resolve the whole chain first (directories, keys, given CRLs, their expiry), so that a
/// missing or stale piece fails the command before any CRL number is used.
fn plan(ca: &CaDir, req: &CrlRequest<'_>, parent_override: Option<&Path>) -> Result<Vec<Step>> {
    plan_from(ca, req, parent_override, &mut Vec::new())
}

/// No real chain is deeper than this; more means the parent links loop.
const MAX_CHAIN_DEPTH: usize = 8;

fn plan_from(
    ca: &CaDir,
    req: &CrlRequest<'_>,
    parent_override: Option<&Path>,
    seen: &mut Vec<PathBuf>,
) -> Result<Vec<Step>> {
    let here = files::absolute_or_given(ca.dir());
    if seen.contains(&here) || seen.len() >= MAX_CHAIN_DEPTH {
        return Err(anyhow!(
            "the parent links ({PARENT_LINK}) from {} loop back to {} (or run deeper than {MAX_CHAIN_DEPTH} CAs)",
            seen.first().unwrap_or(&here).display(),
            here.display()
        )
        .context(Hint::new(format!(
            "fix {PARENT_LINK} in those directories so each names the CA that signed it",
        ))));
    }
    seen.push(here);
    let signer = ca.load_signer()?;
    let top_is_root = signer.cert().is_self_issued();
    let cert = signer.cert().clone();
    let mut steps = vec![Step::Sign(ca.clone(), Box::new(signer))];
    if req.this_only || top_is_root {
        return Ok(steps);
    }
    let parent = match parent_override {
        Some(p) => Some(p.to_path_buf()),
        None => parent_dir(ca)?,
    };
    match parent {
        Some(p) => {
            let parent_ca = CaDir::open(&p)?.with_passin(ca.passin().cloned());
            let above = plan_from(&parent_ca, req, None, seen)?;
            if let Some(Step::Sign(_, ps)) = above.first()
                && !cert.is_signed_by(ps.cert())
            {
                bail!("{} is not the CA that issued {}", p.display(), cert.subject);
            }
            steps.extend(above);
        }
        None => {
            let Step::Sign(_, signer) = &steps[0] else {
                unreachable!()
            };
            let mut above: Vec<CertInfo> = ca.chain_certs(signer)?.into_iter().skip(1).collect();
            above.extend(ca.root_certs(signer)?);
            for c in above {
                let found = req.parent_crls.iter().find_map(|d| check_crl(d, &c).ok());
                let Some(crl) = found else {
                    return Err(anyhow!(
                        "no CRL for {}, a CA above {} that pgcert does not hold",
                        c.subject,
                        cert.subject
                    )
                    .context(Hint::new(
                        "PostgreSQL needs a CRL for every CA of the chain: give that CA's current CRL with --parent-crl FILE (or use --this-only)",
                    )));
                };
                if let Some(next) = crl.next_update
                    && next <= req.now
                {
                    return Err(anyhow!(
                        "the CRL given for {} expired on {}; PostgreSQL would refuse every client with it",
                        c.subject,
                        crate::pki::inspect::when(next)
                    )
                    .context(Hint::new("get a current CRL from that CA")));
                }
                steps.push(Step::Given(Box::new(ChainCrl {
                    ca: c,
                    der: crl.der,
                    fresh: false,
                })));
            }
        }
    }
    Ok(steps)
}

/// Sign this CA's CRL and, unless `this_only`, a fresh CRL of each CA above it that pgcert
/// holds (each under its own lock, child before parent), refreshing every such CA's
/// `crl.pem` with its CRL followed by those above it. CAs above that pgcert does not hold must
/// be covered by `parent_crls`. Everything is checked before the first CRL number is used.
pub fn crl_chain(
    ca: &CaDir,
    req: &CrlRequest<'_>,
    waiting: &dyn Fn(&Path),
) -> Result<(Vec<ChainCrl>, Vec<files::Written>)> {
    let steps = plan(ca, req, req.parent_override)?;
    let mut chain: Vec<ChainCrl> = Vec::new();
    let mut held: Vec<(usize, CaTxn)> = Vec::new();
    for step in steps {
        match step {
            Step::Sign(dir, signer) => {
                let txn = dir.lock(|d| waiting(d))?;
                let der = sign_ca_crl(&txn, &signer, req.days, req.now)?;
                held.push((chain.len(), txn));
                chain.push(ChainCrl {
                    ca: signer.cert().clone(),
                    der,
                    fresh: true,
                });
            }
            Step::Given(c) => chain.push(*c),
        }
    }
    let mut written = Vec::new();
    for (i, txn) in held.iter().rev() {
        let dir = txn.ca();
        let pem: String = chain[*i..]
            .iter()
            .map(|c| crate::pki::encoding::to_pem("X509 CRL", &c.der))
            .collect();
        written.push(files::write_one(FileWrite::public(
            dir.crl(),
            pem.into_bytes(),
            if chain.len() - i > 1 {
                "CRL (this CA, then the CAs above)"
            } else {
                "CRL"
            },
            Overwrite::Replace,
        ))?);
    }
    Ok((chain, written))
}
