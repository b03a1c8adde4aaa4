//! What a file holds, by content: certificates, CSRs, CRLs, private keys (plain or
//! encrypted), in PEM or DER. `show` and `convert` start here; a file's name never decides.

use pkcs8::der::Decode;
use x509_parser::prelude::FromDer;

use crate::pki::encoding;

/// How a plain private key is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// PKCS#8 `PRIVATE KEY`.
    Pkcs8,
    /// PKCS#1 `RSA PRIVATE KEY`.
    Pkcs1,
    /// SEC1 `EC PRIVATE KEY`.
    Sec1,
}

/// One object found in a file.
#[derive(Debug, Clone)]
pub enum Object {
    /// An X.509 certificate (DER).
    Certificate(Vec<u8>),
    /// A PKCS#10 certificate request (DER).
    Csr(Vec<u8>),
    /// A CRL (DER).
    Crl(Vec<u8>),
    /// A private key (DER) in the given form.
    Key(Vec<u8>, KeyForm),
    /// A PKCS#8 encrypted private key (DER).
    EncryptedKey(Vec<u8>),
    /// OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` PEM key.
    LegacyEncryptedKey,
}

impl Object {
    /// A short name for messages and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Certificate(_) => "certificate",
            Object::Csr(_) => "certificate request",
            Object::Crl(_) => "CRL",
            Object::Key(..) => "private key",
            Object::EncryptedKey(_) => "encrypted private key",
            Object::LegacyEncryptedKey => "encrypted private key (legacy OpenSSL PEM)",
        }
    }

    /// The PEM label it is written with.
    pub fn pem_label(&self) -> &'static str {
        match self {
            Object::Certificate(_) => "CERTIFICATE",
            Object::Csr(_) => "CERTIFICATE REQUEST",
            Object::Crl(_) => "X509 CRL",
            Object::Key(_, KeyForm::Pkcs8) => "PRIVATE KEY",
            Object::Key(_, KeyForm::Pkcs1) => "RSA PRIVATE KEY",
            Object::Key(_, KeyForm::Sec1) => "EC PRIVATE KEY",
            Object::EncryptedKey(_) | Object::LegacyEncryptedKey => "ENCRYPTED PRIVATE KEY",
        }
    }

    /// The DER, when there is one.
    pub fn der(&self) -> Option<&[u8]> {
        match self {
            Object::Certificate(d)
            | Object::Csr(d)
            | Object::Crl(d)
            | Object::Key(d, _)
            | Object::EncryptedKey(d) => Some(d),
            Object::LegacyEncryptedKey => None,
        }
    }
}

fn classify_der(der: &[u8]) -> Option<Object> {
    let d = der.to_vec();
    if x509_parser::certificate::X509Certificate::from_der(der).is_ok_and(|(r, _)| r.is_empty()) {
        return Some(Object::Certificate(d));
    }
    if x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .is_ok_and(|(r, _)| r.is_empty())
    {
        return Some(Object::Csr(d));
    }
    if x509_parser::revocation_list::CertificateRevocationList::from_der(der)
        .is_ok_and(|(r, _)| r.is_empty())
    {
        return Some(Object::Crl(d));
    }
    if pkcs8::PrivateKeyInfoRef::from_der(der).is_ok() {
        return Some(Object::Key(d, KeyForm::Pkcs8));
    }
    if pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).is_ok() {
        return Some(Object::EncryptedKey(d));
    }
    {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        if rsa::PrivateKey::from_pkcs1_der(der).is_ok() {
            return Some(Object::Key(d, KeyForm::Pkcs1));
        }
    }
    if p256::SecretKey::from_sec1_der(der).is_ok() || p384::SecretKey::from_sec1_der(der).is_ok() {
        return Some(Object::Key(d, KeyForm::Sec1));
    }
    None
}

/// Every object in a file's bytes. Unknown PEM blocks and unrecognised DER are errors that
/// say what was found.
pub fn read_objects(bytes: &[u8]) -> Result<Vec<Object>, String> {
    if encoding::looks_like_pem(bytes) {
        let pems = ::pem::parse_many(bytes).map_err(|e| format!("malformed PEM: {e}"))?;
        if pems.is_empty() {
            return Err("no PEM block found".into());
        }
        pems.into_iter()
            .map(|p| {
                let der = p.contents().to_vec();
                let bad = |what: &str| format!("the {} block is not a valid {what}", p.tag());
                Ok(match p.tag() {
                    "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => {
                        match classify_der(&der) {
                            Some(o @ Object::Certificate(_)) => o,
                            _ => return Err(bad("certificate")),
                        }
                    }
                    "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => match classify_der(&der) {
                        Some(o @ Object::Csr(_)) => o,
                        _ => return Err(bad("certificate request")),
                    },
                    "X509 CRL" => match classify_der(&der) {
                        Some(o @ Object::Crl(_)) => o,
                        _ => return Err(bad("CRL")),
                    },
                    _ if p.headers().get("DEK-Info").is_some() => Object::LegacyEncryptedKey,
                    "PRIVATE KEY" => Object::Key(der, KeyForm::Pkcs8),
                    "RSA PRIVATE KEY" => Object::Key(der, KeyForm::Pkcs1),
                    "EC PRIVATE KEY" => Object::Key(der, KeyForm::Sec1),
                    "ENCRYPTED PRIVATE KEY" => Object::EncryptedKey(der),
                    other => return Err(format!("a PEM block pgcert does not read: {other}")),
                })
            })
            .collect()
    } else if bytes.is_empty() {
        Err("the file is empty".into())
    } else {
        classify_der(bytes)
            .map(|o| vec![o])
            .ok_or_else(|| "neither PEM nor a DER certificate, CSR, CRL or key".to_string())
    }
}
