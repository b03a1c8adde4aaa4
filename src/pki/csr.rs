//! Certificate signing requests: making them (`pgcert req`) and reading them for signing.
//!
//! CSRs are parsed and verified with x509-parser, not rcgen's CSR parser, which mis-reads a
//! P-384 key in an ecdsa-with-SHA256 CSR (rcgen#448) and refuses any extension it does not know.
//! What a CSR asks for beyond its subject, public key and SANs (basicConstraints, keyUsage,
//! extendedKeyUsage, anything else) is read only to be reported: the signing profile decides.

use std::net::IpAddr;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::pki::encoding::{self, Block};
use crate::pki::inspect::oneline;
use crate::pki::key::PrivateKey;
use crate::pki::name::{San, Subject};

/// A parsed, signature-checked CSR.
#[derive(Debug, Clone)]
pub struct Csr {
    /// DER.
    pub der: Vec<u8>,
    /// Subject as pgcert will encode it.
    pub subject: Subject,
    /// Subject as written in the CSR, one-line form.
    pub subject_text: String,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// The key is RSA.
    pub is_rsa: bool,
    /// Requested DNS and IP SANs.
    pub sans: Vec<San>,
    /// Requested extensions that the profile overrides or pgcert ignores, for the report.
    pub ignored: Vec<String>,
    /// The leaf profile the CSR's extendedKeyUsage asks for: `server` or `client` when it
    /// names exactly one of serverAuth / clientAuth.
    pub requested_profile: Option<&'static str>,
}

/// Pick the CSR out of a file, by content: a certificate or a key given by mistake is named.
fn csr_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let blocks = encoding::blocks(bytes)?;
    let found: Vec<&Block> = blocks
        .iter()
        .filter(|b| {
            matches!(
                b.label.as_deref(),
                None | Some("CERTIFICATE REQUEST") | Some("NEW CERTIFICATE REQUEST")
            )
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.der.clone()),
        [] => {
            let mut labels: Vec<(String, usize)> = Vec::new();
            for l in blocks.iter().filter_map(|b| b.label.clone()) {
                match labels.iter_mut().find(|(x, _)| *x == l) {
                    Some((_, n)) => *n += 1,
                    None => labels.push((l, 1)),
                }
            }
            let what: Vec<String> = labels
                .into_iter()
                .map(|(l, n)| {
                    if n == 1 {
                        format!("a {l}")
                    } else {
                        format!("{n} {l} blocks")
                    }
                })
                .collect();
            Err(format!(
                "it holds {}, not a CERTIFICATE REQUEST",
                what.join(" and ")
            ))
        }
        _ => Err("it holds more than one CERTIFICATE REQUEST".into()),
    }
}

impl Csr {
    /// Parse a CSR (PEM or DER) and verify its self-signature.
    pub fn parse(bytes: &[u8]) -> Result<Csr, String> {
        let der = csr_der(bytes)?;
        let (rest, req) = X509CertificationRequest::from_der(&der).map_err(|_| {
            if x509_parser::parse_x509_certificate(&der).is_ok() {
                "it holds a CERTIFICATE, not a CERTIFICATE REQUEST".to_string()
            } else {
                "it is not a valid certificate request (PKCS#10)".to_string()
            }
        })?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate request".into());
        }
        // checked before the signature: ring cannot verify RSA signatures under 2048 bits, and
        // "altered or corrupted" would be the wrong diagnosis.
        // OpenSSL's default security level on Debian (2) refuses RSA keys under 2048 bits, so
        // PostgreSQL could not use the certificate: say so now rather than at server start
        if let Some(crate::pki::key::KeyKind::Rsa(bits)) =
            crate::pki::inspect::key_kind(req.certification_request_info.subject_pki.raw)
            && bits < 2048
        {
            return Err(format!(
                "its RSA key has {bits} bits; OpenSSL (and so PostgreSQL and libpq) refuses RSA keys under 2048 bits at its default security level"
            ));
        }
        req.verify_signature().map_err(|_| {
            "its signature does not verify: the request was altered or corrupted (or signed with an algorithm pgcert cannot check)".to_string()
        })?;
        let info = &req.certification_request_info;
        let subject = Subject::from_x509(&info.subject).map_err(|e| format!("subject: {e}"))?;
        let spki = info.subject_pki.raw.to_vec();
        let is_rsa = info.subject_pki.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1";
        let mut sans = Vec::new();
        let mut ignored = Vec::new();
        let mut requested_profile = None;
        if let Some(exts) = req.requested_extensions() {
            for ext in exts {
                match ext {
                    ParsedExtension::SubjectAlternativeName(san) => {
                        for gn in &san.general_names {
                            match gn {
                                GeneralName::DNSName(n) => sans.push(
                                    n.parse::<San>()
                                        .map_err(|e| format!("requested SAN: {e}"))?,
                                ),
                                GeneralName::IPAddress(b) => {
                                    let ip = match b.len() {
                                        4 => IpAddr::from(<[u8; 4]>::try_from(*b).expect("4")),
                                        16 => IpAddr::from(<[u8; 16]>::try_from(*b).expect("16")),
                                        n => return Err(format!("requested IP SAN of length {n}")),
                                    };
                                    sans.push(San::Ip(ip));
                                }
                                other => ignored.push(format!("SAN {other}")),
                            }
                        }
                    }
                    ParsedExtension::BasicConstraints(bc) => ignored.push(format!(
                        "basicConstraints CA:{}",
                        if bc.ca { "TRUE" } else { "FALSE" }
                    )),
                    ParsedExtension::KeyUsage(ku) => ignored.push(format!("keyUsage {ku}")),
                    ParsedExtension::ExtendedKeyUsage(e) => {
                        requested_profile = match (e.server_auth, e.client_auth) {
                            (true, false) => Some("server"),
                            (false, true) => Some("client"),
                            _ => None,
                        };
                        ignored.push("extendedKeyUsage".into())
                    }
                    ParsedExtension::SubjectKeyIdentifier(_) => {}
                    _ => ignored.push("an extension pgcert does not copy".into()),
                }
            }
        }
        rcgen::SubjectPublicKeyInfo::from_der(&crate::pki::key::spki_as_rsa_encryption(&spki))
            .map_err(|e| format!("its public key cannot be used: {e}"))?;
        Ok(Csr {
            subject_text: oneline(&info.subject),
            der,
            subject,
            spki,
            is_rsa,
            sans,
            ignored,
            requested_profile,
        })
    }
}

/// What a request asks to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asks {
    /// Nothing: the signer's profile decides.
    Nothing,
    /// A server certificate (extendedKeyUsage serverAuth).
    Server,
    /// A client certificate (extendedKeyUsage clientAuth).
    Client,
    /// A CA: basicConstraints CA:TRUE (with that pathlen, if any) and keyCertSign + cRLSign,
    /// which an outside CA signing with `copy_extensions` or a sub-CA profile can use.
    Ca(Option<u8>),
}

/// Make a CSR (DER) for `subject` and `sans`, signed with `key`, asking for `asks`.
pub fn make_csr(
    subject: &Subject,
    sans: &[San],
    key: &PrivateKey,
    asks: Asks,
) -> Result<Vec<u8>, String> {
    let mut p = rcgen::CertificateParams::default();
    let ca = match asks {
        Asks::Ca(pathlen) => Some(pathlen),
        Asks::Server => {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
            None
        }
        Asks::Client => {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            None
        }
        Asks::Nothing => None,
    };
    p.distinguished_name = subject.to_rcgen();
    if let Some(pathlen) = ca {
        p.is_ca = rcgen::IsCa::Ca(match pathlen {
            Some(n) => rcgen::BasicConstraints::Constrained(n),
            None => rcgen::BasicConstraints::Unconstrained,
        });
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
    }
    p.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_, _>>()?;
    let csr = p
        .serialize_request(key.pair())
        .map_err(|e| format!("cannot make the request: {e}"))?;
    let der = csr.der().to_vec();
    if subject.needs_exact_encoding() || key.signature_algorithm().is_some() {
        // rcgen's name keeps one value per type, and rcgen has no RSA-PSS: put the exact subject
        // and the key as it is in (after the version), and sign with the key's own algorithm
        let spki = key.spki_der();
        return crate::pki::der::resign(&der, &[(1, &subject.to_der()), (2, &spki)], key);
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::KeyType;

    #[test]
    fn made_csr_parses_back_with_subject_sans_and_key() {
        let key = PrivateKey::generate(KeyType::EcdsaP384).unwrap();
        let subject: Subject = "/O=Example/CN=db.example.com".parse().unwrap();
        let sans = vec![
            "db.example.com".parse().unwrap(),
            "10.0.0.5".parse().unwrap(),
        ];
        let der = make_csr(&subject, &sans, &key, Asks::Nothing).unwrap();
        let csr = Csr::parse(&der).unwrap();
        assert_eq!(csr.subject, subject);
        assert_eq!(csr.sans, sans);
        assert_eq!(csr.spki, key.spki_der());
        let pem = encoding::to_pem("CERTIFICATE REQUEST", &der);
        assert_eq!(Csr::parse(pem.as_bytes()).unwrap().spki, key.spki_der());
    }

    #[test]
    fn tampered_csr_is_refused() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let mut der = make_csr(&Subject::from_cn("x").unwrap(), &[], &key, Asks::Nothing).unwrap();
        let n = der.len();
        der[n - 5] ^= 0x01; // inside the signature
        let e = Csr::parse(&der).unwrap_err();
        assert!(e.contains("signature does not verify"), "{e}");
    }

    #[test]
    fn certificate_given_as_csr_is_named() {
        let e = Csr::parse(b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(e.contains("CERTIFICATE, not a CERTIFICATE REQUEST"), "{e}");
    }
}
