//! Certificate revocation lists signed by a CA.
//!
//! rcgen computes a CRL's authorityKeyIdentifier with the CRL params' own key-id method, not
//! the issuer's SKI; for a CA made by OpenSSL that breaks `-crl_check` ("unable to get
//! certificate CRL"). The AKI is therefore always pre-set to the CA certificate's SKI.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams};
use time::{Duration, OffsetDateTime};

use crate::pki::inspect::key_id;
use crate::pki::issue::CaSigner;
use crate::pki::serial::Serial;

/// One revoked certificate.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// Its serial.
    pub serial: Serial,
    /// When it was revoked.
    pub time: OffsetDateTime,
    /// RFC 5280 reason, if one was recorded.
    pub reason: Option<rcgen::RevocationReason>,
}

/// Sign a CRL. Returns the DER.
pub fn sign_crl(
    ca: &CaSigner,
    number: &Serial,
    revoked: &[Revoked],
    days: u32,
    now: OffsetDateTime,
) -> Result<Vec<u8>, String> {
    if days == 0 {
        return Err("a CRL must be valid for at least 1 day".into());
    }
    if ca.cert().crl_sign == Some(false) {
        return Err("the CA certificate's keyUsage lacks cRLSign, so it cannot sign CRLs".into());
    }
    let now = now.replace_nanosecond(0).expect("0 ns is valid");
    let ski = match &ca.cert().ski {
        Some(ski) => ski.clone(),
        None => key_id(&ca.cert().spki)?,
    };
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now
            .checked_add(Duration::days(i64::from(days)))
            .filter(|t| t.year() <= 9999)
            .ok_or_else(|| format!("--days {days} puts nextUpdate beyond the year 9999"))?,
        crl_number: number.to_rcgen(),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| RevokedCertParams {
                serial_number: r.serial.to_rcgen(),
                revocation_time: r.time,
                reason_code: r.reason,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::PreSpecified(ski),
    };
    let issuer = ca.rcgen_issuer()?;
    let crl = params
        .signed_by(&issuer)
        .map_err(|e| format!("signing the CRL failed: {e}"))?;
    // rcgen re-encodes the issuer name from the CA certificate; OpenSSL matches a CRL to its CA
    // by the exact bytes, so put the CA's subject in where they differ
    let mut der = crl.der().to_vec();
    let issuer_of = |der: &[u8]| -> Result<Vec<u8>, String> {
        use x509_parser::prelude::FromDer;
        let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
            .map_err(|e| format!("internal check failed: {e}"))?;
        Ok(parsed.issuer().as_raw().to_vec())
    };
    let want = &ca.cert().subject_raw;
    let alg = ca.key().signature_algorithm();
    if &issuer_of(&der)? != want || alg.is_some() {
        let at = crate::pki::der::crl_issuer_position(&der)?;
        let mut replace = vec![(at, want.as_slice())];
        if let Some(alg) = alg {
            // the signature AlgorithmIdentifier comes right before the issuer
            replace.push((at - 1, alg));
        }
        der = crate::pki::der::resign(&der, &replace, ca.key())?;
        if &issuer_of(&der)? != want {
            return Err(
                "internal check failed: the CRL's issuer differs from the CA's subject".into(),
            );
        }
    }
    Ok(der)
}

/// What a CRL says, for reports and checks.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    /// Issuer, one-line form.
    pub issuer: String,
    /// OpenSSL subject hash of the issuer.
    pub issuer_hash: String,
    /// CRL number.
    pub number: Option<String>,
    /// Revoked serials.
    pub revoked: Vec<Serial>,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: Option<OffsetDateTime>,
}

/// Decode a DER CRL.
pub fn crl_info(der: &[u8]) -> Result<CrlInfo, String> {
    use x509_parser::prelude::FromDer;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
        .map_err(|e| format!("not a valid CRL: {e}"))?;
    Ok(CrlInfo {
        issuer: crate::pki::inspect::oneline(crl.issuer()),
        issuer_hash: crate::pki::hash::subject_hash(crl.issuer()),
        number: crl.crl_number().map(|n| {
            let hex = n.to_str_radix(16).to_uppercase();
            if hex.len() % 2 == 1 {
                format!("0{hex}")
            } else {
                hex
            }
        }),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| Serial::from_bytes(r.raw_serial()))
            .collect(),
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
    })
}

/// A CRL decoded for revocation checking as OpenSSL's check_revocation does it.
#[derive(Debug, Clone)]
pub struct CrlFacts {
    /// Canonical issuer name.
    pub issuer: Vec<u8>,
    /// Issuer, one-line form, for messages.
    pub issuer_text: String,
    /// authorityKeyIdentifier keyIdentifier.
    pub aki_keyid: Option<Vec<u8>>,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: Option<OffsetDateTime>,
    /// A critical extension (of the CRL or an entry) OpenSSL does not handle.
    pub unhandled_critical: Option<String>,
    /// A delta CRL (deltaCRLIndicator), which OpenSSL does not use as a base CRL.
    pub delta: bool,
    /// issuingDistributionPoint scope: (onlyUser, onlyCA, onlyAttr, indirect or reasons).
    pub idp: Option<(bool, bool, bool, bool)>,
    /// Revoked serials (raw bytes, leading zeros stripped) and whether the reason is removeFromCRL.
    pub revoked: Vec<(Vec<u8>, bool)>,
    der: Vec<u8>,
}

fn strip(b: &[u8]) -> Vec<u8> {
    let n = b.iter().take_while(|&&x| x == 0).count();
    b[n.min(b.len().saturating_sub(1))..].to_vec()
}

impl CrlFacts {
    /// Decode a DER CRL.
    pub fn parse(der: &[u8]) -> Result<CrlFacts, String> {
        use x509_parser::extensions::ParsedExtension as P;
        use x509_parser::prelude::FromDer;
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
            .map_err(|e| format!("not a valid CRL: {e}"))?;
        let mut f = CrlFacts {
            issuer: crate::pki::hash::canonical_name(crl.issuer()),
            issuer_text: crate::pki::inspect::oneline(crl.issuer()),
            aki_keyid: None,
            this_update: crl.last_update().to_datetime(),
            next_update: crl.next_update().map(|t| t.to_datetime()),
            unhandled_critical: None,
            delta: false,
            idp: None,
            revoked: Vec::new(),
            der: der.to_vec(),
        };
        for ext in crl.extensions() {
            let oid = ext.oid.to_id_string();
            match ext.parsed_extension() {
                P::AuthorityKeyIdentifier(a) => {
                    f.aki_keyid = a.key_identifier.as_ref().map(|k| k.0.to_vec());
                }
                P::IssuingDistributionPoint(i) => {
                    f.idp = Some((
                        i.only_contains_user_certs,
                        i.only_contains_ca_certs,
                        i.only_contains_attribute_certs,
                        i.indirect_crl || i.only_some_reasons.is_some(),
                    ));
                }
                _ => {}
            }
            if oid == "2.5.29.27" {
                f.delta = true;
            }
            let handled = ["2.5.29.28", "2.5.29.35", "2.5.29.27"];
            if ext.critical && !handled.contains(&oid.as_str()) {
                f.unhandled_critical.get_or_insert(
                    crate::pki::name::short_name(&oid)
                        .map(str::to_string)
                        .unwrap_or(oid),
                );
            }
        }
        for r in crl.iter_revoked_certificates() {
            for ext in r.extensions() {
                let oid = ext.oid.to_id_string();
                if ext.critical && oid != "2.5.29.29" {
                    f.unhandled_critical
                        .get_or_insert(format!("{oid} in a revoked entry"));
                }
            }
            let remove = r.reason_code().is_some_and(|(_, c)| c.0 == 8);
            f.revoked.push((strip(r.raw_serial()), remove));
        }
        Ok(f)
    }

    /// Check the CRL's signature with the issuer's SubjectPublicKeyInfo.
    pub fn signature_by(&self, issuer_spki: &[u8]) -> Result<(), crate::pki::signature::SigError> {
        use x509_parser::prelude::FromDer;
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&self.der)
            .map_err(|e| crate::pki::signature::SigError::Unsupported(e.to_string()))?;
        crate::pki::signature::verify(
            issuer_spki,
            &crl.signature_algorithm,
            &crl.signature_value.data,
            crl.tbs_cert_list.as_ref(),
        )
    }
}

/// The certificate a CRL check is about, and the CA that must have issued its CRL.
pub struct CrlSubject<'a> {
    /// The certificate.
    pub cert: &'a crate::pki::x509::Facts,
    /// Its issuer in the chain (the certificate itself for the self-signed root).
    pub issuer: &'a crate::pki::x509::Facts,
    /// The issuer's SubjectPublicKeyInfo.
    pub issuer_spki: &'a [u8],
    /// The issuer's subject, for messages.
    pub issuer_name: &'a str,
    /// The certificate's subject, for messages.
    pub name: &'a str,
}

/// OpenSSL's check_cert for one certificate of the chain under X509_V_FLAG_CRL_CHECK: pick the
/// best CRL from the certificate's issuer (get_crl_sk: right name and key id, in scope, not a
/// delta, preferring current and then newer ones), then check_crl (cRLSign, times, signature)
/// and cert_crl (unhandled critical extensions, the serial). `Ok(())` when not revoked.
pub fn check_cert_crl(
    s: &CrlSubject<'_>,
    crls: &[CrlFacts],
    now: OffsetDateTime,
) -> Result<(), String> {
    let in_time = |c: &CrlFacts| c.this_update <= now && c.next_update.is_none_or(|n| n > now);
    let in_scope = |c: &CrlFacts| match c.idp {
        None => true,
        Some((only_user, only_ca, only_attr, _)) => {
            let is_ca = s.cert.bc.is_some_and(|(ca, _)| ca);
            let excluded = only_attr || (is_ca && only_user) || (!is_ca && only_ca);
            !excluded
        }
    };
    let usable = |c: &&CrlFacts| {
        c.issuer == s.cert.issuer
            && !c.delta
            && !c.idp.is_some_and(|(_, _, _, ext)| ext)
            && match (&c.aki_keyid, &s.issuer.ski) {
                (Some(k), Some(ski)) => k == ski,
                _ => true,
            }
    };
    // the score OpenSSL gives, highest first: in scope, no critical, in time; then newest
    let best = crls.iter().filter(usable).max_by(|a, b| {
        let score = |c: &CrlFacts| {
            (u8::from(in_scope(c)) << 2)
                | (u8::from(c.unhandled_critical.is_none()) << 1)
                | u8::from(in_time(c))
        };
        score(a)
            .cmp(&score(b))
            .then(a.this_update.cmp(&b.this_update))
    });
    let Some(crl) = best else {
        return Err(format!(
            "no CRL from {} (unable to get certificate CRL): with a CRL configured, PostgreSQL and libpq need one for every CA of the chain",
            s.issuer_name
        ));
    };
    if s.issuer.ku_reject(crate::pki::x509::ku::CRL_SIGN) {
        return Err(format!(
            "the CRL of {} cannot be used: that CA's keyUsage lacks cRLSign (key usage does not include CRL signing)",
            s.issuer_name
        ));
    }
    if !in_scope(crl) {
        return Err(format!(
            "the CRL of {} does not cover {} (its issuingDistributionPoint limits its scope)",
            s.issuer_name, s.name
        ));
    }
    if crl.this_update > now {
        return Err(format!(
            "the CRL of {} is not yet valid (thisUpdate {})",
            s.issuer_name,
            crate::pki::inspect::when(crl.this_update)
        ));
    }
    if let Some(n) = crl.next_update
        && n <= now
    {
        return Err(format!(
            "the CRL of {} has expired (nextUpdate {}): every certificate it covers is refused",
            s.issuer_name,
            crate::pki::inspect::when(n)
        ));
    }
    match crl.signature_by(s.issuer_spki) {
        Ok(()) => {}
        Err(crate::pki::signature::SigError::Invalid) => {
            return Err(format!(
                "the CRL claiming to be from {} does not verify its signature",
                s.issuer_name
            ));
        }
        Err(crate::pki::signature::SigError::Unsupported(w)) => {
            return Err(format!(
                "the CRL of {} cannot be checked: {w}",
                s.issuer_name
            ));
        }
    }
    if let Some(c) = &crl.unhandled_critical {
        return Err(format!(
            "the CRL of {} has a critical extension OpenSSL does not handle ({c}), so it cannot be used",
            s.issuer_name
        ));
    }
    let serial = strip(&s.cert.serial);
    if crl
        .revoked
        .iter()
        .any(|(r, remove)| *r == serial && !remove)
    {
        return Err(format!(
            "{} (serial {}) is revoked by {}",
            s.name,
            crate::pki::encoding::upper_hex(&serial),
            s.issuer_name
        ));
    }
    Ok(())
}
