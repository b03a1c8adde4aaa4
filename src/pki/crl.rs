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
        next_update: now + Duration::days(i64::from(days)),
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
    // rcgen re-encodes the issuer name; a CRL whose issuer differs from the CA's subject by a
    // byte would be ignored by OpenSSL, so refuse it (repeated attributes, unusual strings)
    let der = crl.der().to_vec();
    {
        use x509_parser::prelude::FromDer;
        let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
            .map_err(|e| format!("internal check failed: {e}"))?;
        if parsed.issuer().as_raw() != ca.cert().subject_raw.as_slice() {
            return Err(format!(
                "the CA's subject {} cannot be reproduced exactly as a CRL issuer; pgcert refuses to sign a CRL OpenSSL would not match",
                ca.cert().subject
            ));
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
