//! A decoded view of one certificate: the facts the CA database, the chain builder and the
//! reports need (serial, names in OpenSSL's one-line form, validity, CA flags, key ids,
//! fingerprint). Parsing is x509-parser's; nothing here signs or writes.

use sha1::Digest as _;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::pki::encoding::{colon_hex, upper_hex};
use crate::pki::key::{KeyKind, KeyType};
use crate::pki::name::{self, San, Subject};
use crate::pki::serial::Serial;

/// What pgcert needs to know about a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// The DER encoding.
    pub der: Vec<u8>,
    /// Serial number.
    pub serial: Serial,
    /// Subject, OpenSSL one-line form (`/O=x/CN=y`), as in `index.txt`.
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// DER of the subject Name.
    pub subject_raw: Vec<u8>,
    /// DER of the issuer Name.
    pub issuer_raw: Vec<u8>,
    /// The first CN, if any.
    pub cn: Option<String>,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint.
    pub pathlen: Option<u32>,
    /// `Some(true)` when keyUsage has keyCertSign, `None` when there is no keyUsage at all.
    pub key_cert_sign: Option<bool>,
    /// `Some(true)` when keyUsage has cRLSign, `None` when there is no keyUsage.
    pub crl_sign: Option<bool>,
    /// subjectKeyIdentifier.
    pub ski: Option<Vec<u8>>,
    /// authorityKeyIdentifier keyIdentifier.
    pub aki: Option<Vec<u8>>,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// SHA-256 fingerprint, `AB:CD:...`.
    pub sha256: String,
    /// DNS and IP SANs.
    pub sans: Vec<San>,
    /// extendedKeyUsage has serverAuth.
    pub eku_server: bool,
    /// extendedKeyUsage has clientAuth.
    pub eku_client: bool,
    /// The subject key's type, when pgcert knows it.
    pub key_kind: Option<KeyKind>,
}

impl CertInfo {
    /// Decode a DER certificate.
    pub fn parse(der: &[u8]) -> Result<CertInfo, String> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let bc = cert
            .basic_constraints()
            .map_err(|e| format!("bad basicConstraints: {e}"))?;
        let ku = cert.key_usage().map_err(|e| format!("bad keyUsage: {e}"))?;
        let mut ski = None;
        let mut aki = None;
        let mut sans = Vec::new();
        let (mut eku_server, mut eku_client) = (false, false);
        for ext in cert.iter_extensions() {
            use x509_parser::extensions::{GeneralName, ParsedExtension as P};
            match ext.parsed_extension() {
                P::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
                P::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|k| k.0.to_vec());
                }
                P::ExtendedKeyUsage(e) => {
                    eku_server = e.server_auth;
                    eku_client = e.client_auth;
                }
                P::SubjectAlternativeName(san) => {
                    for gn in &san.general_names {
                        match gn {
                            GeneralName::DNSName(n) => {
                                if let Ok(s) = format!("dns:{n}").parse::<San>() {
                                    sans.push(s);
                                }
                            }
                            GeneralName::IPAddress(b) => match b.len() {
                                4 => sans.push(San::Ip(<[u8; 4]>::try_from(*b).expect("4").into())),
                                16 => {
                                    sans.push(San::Ip(<[u8; 16]>::try_from(*b).expect("16").into()))
                                }
                                _ => {}
                            },
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string);
        Ok(CertInfo {
            der: der.to_vec(),
            serial: Serial::from_bytes(cert.raw_serial()),
            subject: oneline(cert.subject()),
            issuer: oneline(cert.issuer()),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            cn,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            is_ca: bc.as_ref().is_some_and(|b| b.value.ca),
            pathlen: bc.as_ref().and_then(|b| b.value.path_len_constraint),
            key_cert_sign: ku.as_ref().map(|k| k.value.key_cert_sign()),
            crl_sign: ku.as_ref().map(|k| k.value.crl_sign()),
            ski,
            aki,
            spki: cert.public_key().raw.to_vec(),
            sha256: colon_hex(&sha2::Sha256::digest(der)),
            sans,
            eku_server,
            eku_client,
            key_kind: key_kind(cert.public_key().raw),
        })
    }

    /// The subject as pgcert encodes names (for re-issuing with the same subject).
    pub fn subject_name(&self) -> Result<Subject, String> {
        let (_, cert) = X509Certificate::from_der(&self.der).map_err(|e| e.to_string())?;
        Subject::from_x509(cert.subject())
    }

    /// True when subject and issuer are the same name (a root or a self-signed leaf).
    pub fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// PEM text.
    pub fn pem(&self) -> String {
        crate::pki::encoding::to_pem("CERTIFICATE", &self.der)
    }

    /// Whether `issuer` signed this certificate: names chain and the signature verifies.
    pub fn is_signed_by(&self, issuer: &CertInfo) -> bool {
        if self.issuer_raw != issuer.subject_raw {
            return false;
        }
        let (Ok((_, me)), Ok((_, them))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        // ring (fast) first; the RustCrypto verifier covers what ring lacks (RSA-PSS keys)
        me.verify_signature(Some(them.public_key())).is_ok()
            || crate::pki::signature::verify(
                them.public_key().raw,
                &me.signature_algorithm,
                &me.signature_value.data,
                me.tbs_certificate.as_ref(),
            )
            .is_ok()
    }

    /// Whether this certificate may sign others (CA:TRUE, and keyCertSign if keyUsage is present).
    pub fn can_sign_certificates(&self) -> bool {
        self.is_ca && self.key_cert_sign != Some(false)
    }

    /// The SHA-256 fingerprint without colons, for JSON consumers that prefer it.
    pub fn sha256_hex(&self) -> String {
        upper_hex(&sha2::Sha256::digest(&self.der))
    }
}

/// The SANs `old` names that `new` does not: host names and addresses that clients used and
/// that the replacing certificate would no longer answer to.
pub fn names_dropped(old: &CertInfo, new: &CertInfo) -> Vec<String> {
    old.sans
        .iter()
        .filter(|s| !new.sans.contains(s))
        .map(ToString::to_string)
        .collect()
}

/// A time for messages: RFC 3339, UTC, whole seconds (`2027-11-25T07:56:17Z`).
pub fn when(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// OpenSSL's `X509_NAME_oneline` form: `/SN=value` per attribute, `+` between the attributes of
/// a multi-valued RDN, `/` and `+` in values escaped with `\`, bytes outside printable ASCII
/// as `\xHH`. This is what `openssl ca` writes into `index.txt`.
pub fn oneline(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for rdn in name.iter() {
        for (i, atv) in rdn.iter().enumerate() {
            out.push(if i == 0 { '/' } else { '+' });
            let oid = atv.attr_type().to_id_string();
            out.push_str(name::short_name(&oid).unwrap_or(&oid));
            out.push('=');
            for &b in atv.as_slice() {
                match b {
                    b'/' | b'+' => {
                        out.push('\\');
                        out.push(b as char);
                    }
                    b' '..=b'~' => out.push(b as char),
                    _ => out.push_str(&format!("\\x{b:02X}")),
                }
            }
        }
    }
    out
}

/// SHA-1 over the subjectPublicKey BIT STRING contents: OpenSSL's `subjectKeyIdentifier=hash`
/// (RFC 5280 4.2.1.2 method 1). Using it keeps pgcert's key ids identical to `openssl ca`'s.
pub fn key_id(spki_der: &[u8]) -> Result<Vec<u8>, String> {
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| format!("bad public key: {e}"))?;
    Ok(sha1::Sha1::digest(&spki.subject_public_key.data).to_vec())
}

/// The key type of a SubjectPublicKeyInfo, when it is one pgcert makes.
pub fn key_kind(spki_der: &[u8]) -> Option<KeyKind> {
    use x509_parser::public_key::PublicKey;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    if spki.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.10" {
        // an RSA-PSS key: the same RSAPublicKey under another algorithm
        let plain = crate::pki::key::spki_as_rsa_encryption(spki_der);
        return match key_kind(&plain)? {
            KeyKind::Rsa(bits) => Some(KeyKind::RsaPss(bits)),
            _ => None,
        };
    }
    match spki.parsed().ok()? {
        PublicKey::RSA(k) => Some(KeyKind::Rsa(k.key_size())),
        PublicKey::EC(_) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())?;
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => Some(KeyKind::P256),
                "1.3.132.0.34" => Some(KeyKind::P384),
                _ => None,
            }
        }
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => Some(KeyKind::Ed25519),
        _ => None,
    }
}

impl KeyKind {
    /// The key type to generate for a new key of the same kind (`renew --rekey`).
    pub fn key_type(self) -> Option<KeyType> {
        Some(match self {
            KeyKind::P256 => KeyType::EcdsaP256,
            KeyKind::P384 => KeyType::EcdsaP384,
            KeyKind::Ed25519 => KeyType::Ed25519,
            KeyKind::Rsa(2048) => KeyType::Rsa2048,
            KeyKind::Rsa(3072) => KeyType::Rsa3072,
            KeyKind::Rsa(4096) => KeyType::Rsa4096,
            KeyKind::RsaPss(2048) => KeyType::RsaPss2048,
            KeyKind::RsaPss(3072) => KeyType::RsaPss3072,
            KeyKind::Rsa(_) | KeyKind::RsaPss(_) => return None,
        })
    }
}
