//! Human- and JSON-readable views of certificates, CSRs, CRLs and keys, for `show`: every
//! field `openssl x509/req/crl -text` shows that matters here, plus the SHA-256 and SHA-1
//! fingerprints and OpenSSL subject hashes, computed the way OpenSSL computes them.

use serde::Serialize;
use sha1::Digest as _;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension, X509Extension};
use x509_parser::prelude::FromDer;

use crate::pki::encoding::colon_hex;
use crate::pki::hash::subject_hash;
use crate::pki::inspect::{key_kind, oneline, when};
use crate::pki::serial::Serial;

/// One extension.
#[derive(Debug, Clone, Serialize)]
pub struct ExtView {
    /// Name (OpenSSL's short name when known, else the OID).
    pub name: String,
    /// Dotted OID.
    pub oid: String,
    /// Critical flag.
    pub critical: bool,
    /// The value in words.
    pub value: String,
}

/// A certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertView {
    /// Subject, one-line form.
    pub subject: String,
    /// Issuer, one-line form.
    pub issuer: String,
    /// Serial, upper-case hex.
    pub serial: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// Whole days until notAfter (negative when expired).
    pub days_left: i64,
    /// "valid", "expired" or "not yet valid" (now).
    pub validity: &'static str,
    /// Key type.
    pub key: String,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// Subject equals issuer.
    pub self_issued: bool,
    /// Extensions in certificate order.
    pub extensions: Vec<ExtView>,
    /// SHA-256 fingerprint, colon hex.
    pub sha256: String,
    /// SHA-1 fingerprint, colon hex.
    pub sha1: String,
    /// `openssl x509 -hash`.
    pub subject_hash: String,
    /// `openssl x509 -issuer_hash`.
    pub issuer_hash: String,
}

/// A CSR.
#[derive(Debug, Clone, Serialize)]
pub struct CsrView {
    /// Subject, one-line form.
    pub subject: String,
    /// Key type.
    pub key: String,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// The self-signature verifies.
    pub signature_valid: bool,
    /// Requested extensions.
    pub requested_extensions: Vec<ExtView>,
}

/// One revoked entry of a CRL.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedView {
    /// Serial.
    pub serial: String,
    /// Revocation date, RFC 3339.
    pub date: String,
    /// Reason, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A CRL.
#[derive(Debug, Clone, Serialize)]
pub struct CrlView {
    /// Issuer, one-line form.
    pub issuer: String,
    /// `openssl crl -hash`.
    pub issuer_hash: String,
    /// CRL number, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    /// "current", "expired" (past nextUpdate).
    pub state: &'static str,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// Revoked certificates.
    pub revoked: Vec<RevokedView>,
}

/// Signature algorithm names as OpenSSL prints them.
pub fn sig_alg_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        other => other,
    }
    .to_string()
}

fn key_name(spki_der: &[u8]) -> String {
    match key_kind(spki_der) {
        Some(k) => k.describe(),
        None => x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
            .map(|(_, s)| format!("unsupported key ({})", s.algorithm.algorithm.to_id_string()))
            .unwrap_or_else(|_| "unreadable key".into()),
    }
}

fn ext_name(oid: &str) -> &str {
    match oid {
        "2.5.29.19" => "basicConstraints",
        "2.5.29.15" => "keyUsage",
        "2.5.29.37" => "extendedKeyUsage",
        "2.5.29.17" => "subjectAltName",
        "2.5.29.14" => "subjectKeyIdentifier",
        "2.5.29.35" => "authorityKeyIdentifier",
        "2.5.29.31" => "crlDistributionPoints",
        "2.5.29.32" => "certificatePolicies",
        "2.5.29.30" => "nameConstraints",
        "2.5.29.20" => "cRLNumber",
        "2.5.29.21" => "CRLReason",
        "1.3.6.1.5.5.7.1.1" => "authorityInfoAccess",
        other => other,
    }
}

fn general_name(gn: &GeneralName<'_>) -> String {
    match gn {
        GeneralName::DNSName(n) => format!("DNS:{n}"),
        GeneralName::IPAddress(b) if b.len() == 4 => {
            format!(
                "IP:{}",
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).expect("4"))
            )
        }
        GeneralName::IPAddress(b) if b.len() == 16 => {
            format!(
                "IP:{}",
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).expect("16"))
            )
        }
        GeneralName::RFC822Name(n) => format!("email:{n}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        other => format!("{other}"),
    }
}

/// Describe one extension.
pub fn ext_view(ext: &X509Extension<'_>) -> ExtView {
    let oid = ext.oid.to_id_string();
    let value = match ext.parsed_extension() {
        ParsedExtension::BasicConstraints(bc) => match (bc.ca, bc.path_len_constraint) {
            (true, Some(n)) => format!("CA:TRUE, pathlen:{n}"),
            (true, None) => "CA:TRUE".into(),
            (false, _) => "CA:FALSE".into(),
        },
        ParsedExtension::KeyUsage(ku) => ku.to_string(),
        ParsedExtension::ExtendedKeyUsage(e) => {
            let mut v = Vec::new();
            for (on, name) in [
                (e.any, "any"),
                (e.server_auth, "serverAuth"),
                (e.client_auth, "clientAuth"),
                (e.code_signing, "codeSigning"),
                (e.email_protection, "emailProtection"),
                (e.time_stamping, "timeStamping"),
                (e.ocsp_signing, "OCSPSigning"),
            ] {
                if on {
                    v.push(name.to_string());
                }
            }
            v.extend(e.other.iter().map(|o| o.to_id_string()));
            v.join(", ")
        }
        ParsedExtension::SubjectAlternativeName(san) => san
            .general_names
            .iter()
            .map(general_name)
            .collect::<Vec<_>>()
            .join(", "),
        ParsedExtension::SubjectKeyIdentifier(k) => colon_hex(k.0),
        ParsedExtension::AuthorityKeyIdentifier(a) => match &a.key_identifier {
            Some(k) => format!("keyid:{}", colon_hex(k.0)),
            None => "(no key identifier)".into(),
        },
        ParsedExtension::CRLNumber(n) => n.to_str_radix(16).to_uppercase(),
        ParsedExtension::ReasonCode(r) => format!("{r:?}"),
        ParsedExtension::CRLDistributionPoints(p) => p
            .points
            .iter()
            .flat_map(|dp| match &dp.distribution_point {
                Some(x509_parser::extensions::DistributionPointName::FullName(names)) => {
                    names.iter().map(general_name).collect::<Vec<_>>()
                }
                _ => vec![],
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => format!("({} bytes)", ext.value.len()),
    };
    ExtView {
        name: ext_name(&oid).to_string(),
        oid,
        critical: ext.critical,
        value,
    }
}

/// Describe a certificate, at `now`.
pub fn cert_view(der: &[u8], now: OffsetDateTime) -> Result<CertView, String> {
    let (_, c) = X509Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
    let nb = c.validity().not_before.to_datetime();
    let na = c.validity().not_after.to_datetime();
    Ok(CertView {
        subject: oneline(c.subject()),
        issuer: oneline(c.issuer()),
        serial: Serial::from_bytes(c.raw_serial()).to_string(),
        not_before: when(nb),
        not_after: when(na),
        days_left: (na - now).whole_days(),
        validity: if now < nb {
            "not yet valid"
        } else if now > na {
            "expired"
        } else {
            "valid"
        },
        key: key_name(c.public_key().raw),
        signature_algorithm: sig_alg_name(&c.signature_algorithm.algorithm.to_id_string()),
        self_issued: c.subject().as_raw() == c.issuer().as_raw(),
        extensions: c.extensions().iter().map(ext_view).collect(),
        sha256: colon_hex(&sha2::Sha256::digest(der)),
        sha1: colon_hex(&sha1::Sha1::digest(der)),
        subject_hash: subject_hash(c.subject()),
        issuer_hash: subject_hash(c.issuer()),
    })
}

/// Describe a CSR.
pub fn csr_view(der: &[u8]) -> Result<CsrView, String> {
    let (_, r) = X509CertificationRequest::from_der(der).map_err(|e| format!("not a CSR: {e}"))?;
    let info = &r.certification_request_info;
    Ok(CsrView {
        subject: oneline(&info.subject),
        key: key_name(info.subject_pki.raw),
        signature_algorithm: sig_alg_name(&r.signature_algorithm.algorithm.to_id_string()),
        signature_valid: r.verify_signature().is_ok(),
        requested_extensions: r
            .requested_extensions()
            .map(|exts| {
                exts.map(|p| ExtView {
                    name: "requested".into(),
                    oid: String::new(),
                    critical: false,
                    value: format!("{p:?}").chars().take(200).collect(),
                })
                .collect()
            })
            .unwrap_or_default(),
    })
}

/// Describe a CRL, at `now`.
pub fn crl_view(der: &[u8], now: OffsetDateTime) -> Result<CrlView, String> {
    let info = crate::pki::crl::crl_info(der)?;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der)
        .map_err(|e| format!("not a CRL: {e}"))?;
    let next = info.next_update;
    Ok(CrlView {
        issuer: info.issuer,
        issuer_hash: info.issuer_hash,
        number: info.number,
        this_update: when(info.this_update),
        next_update: next.map(when),
        state: if next.is_some_and(|n| n <= now) {
            "expired"
        } else {
            "current"
        },
        signature_algorithm: sig_alg_name(&crl.signature_algorithm.algorithm.to_id_string()),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| RevokedView {
                serial: Serial::from_bytes(r.raw_serial()).to_string(),
                date: when(r.revocation_date.to_datetime()),
                reason: r.reason_code().map(|(_, rc)| format!("{rc}")),
            })
            .collect(),
    })
}

/// A private key, shown.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    /// Key type, when readable.
    pub key: String,
    /// PKCS#8, PKCS#1, SEC1.
    pub form: String,
    /// Passphrase-protected.
    pub encrypted: bool,
    /// Certificates whose public key is this key's ("SUBJECT in FILE").
    pub matches: Vec<String>,
}

/// Describe a key object; `key` is the decoded key when it could be read (decrypted), `pool`
/// the (file, DER) certificates to match it against.
pub fn key_view(
    object: &crate::pki::object::Object,
    key: Option<&crate::pki::key::PrivateKey>,
    pool: &[(String, Vec<u8>)],
) -> KeyView {
    use crate::pki::object::{KeyForm, Object};
    let (form, encrypted) = match object {
        Object::Key(_, KeyForm::Pkcs8) => ("PKCS#8", false),
        Object::Key(_, KeyForm::Pkcs1) => ("PKCS#1", false),
        Object::Key(_, KeyForm::Sec1) => ("SEC1", false),
        Object::EncryptedKey(_) => ("PKCS#8 (encrypted)", true),
        _ => ("legacy OpenSSL PEM (encrypted)", true),
    };
    let mut matches = Vec::new();
    if let Some(k) = key {
        let spki = k.spki_der();
        for (file, d) in pool {
            if let Ok(c) = crate::pki::inspect::CertInfo::parse(d)
                && c.spki == spki
            {
                matches.push(format!("{} in {file}", c.subject));
            }
        }
    }
    KeyView {
        key: match key {
            Some(k) => k.kind().describe(),
            None if encrypted => "unknown (encrypted; give --passin)".into(),
            None => "unsupported".into(),
        },
        form: form.into(),
        encrypted,
        matches,
    }
}
