//! Private keys: the six key types, generation, and reading any common unencrypted form
//! (PKCS#8, PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`; PEM or DER) into one PKCS#8 value
//! that rcgen can sign with. Writing files is left to `files`, passphrases to a later layer.
//!
//! Traps handled here (see shared/research/crates-and-pitfalls.md):
//! - ring cannot generate RSA keys, so RSA keys come from the `rsa` crate;
//! - ring writes Ed25519 keys as PKCS#8 v2, which OpenSSL 3.0 and PostgreSQL 15 refuse
//!   ("unsupported"), so every Ed25519 key is re-encoded as PKCS#8 v1 before it leaves here;
//! - ring only loads PKCS#8, so PKCS#1 and SEC1 keys are converted first.

use std::fmt;
use std::str::FromStr;

use pkcs8::der::{Decode, Encode};
use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::PrivatePkcs8KeyDer;

use crate::pki::encoding;

/// The key types pgcert makes (CLI.md `--key-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum KeyType {
    /// ECDSA on P-256, signing with SHA-256 (the default).
    EcdsaP256,
    /// ECDSA on P-384, signing with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA 2048, PKCS#1 v1.5 with SHA-256.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
    /// RSA-PSS 2048: an RSASSA-PSS key (OpenSSL's `genpkey -algorithm rsa-pss`), signing with
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32.
    RsaPss2048,
    /// RSA-PSS 3072.
    RsaPss3072,
}

impl KeyType {
    /// Every accepted spelling, for help texts.
    pub const NAMES: &'static [&'static str] = &[
        "ecdsa-p256",
        "ecdsa-p384",
        "ed25519",
        "rsa2048",
        "rsa3072",
        "rsa4096",
        "rsa-pss2048",
        "rsa-pss3072",
    ];

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::RsaPss2048 => "rsa-pss2048",
            KeyType::RsaPss3072 => "rsa-pss3072",
        }
    }

    /// RSA generation of 3072 bits and more takes long enough to deserve a spinner.
    pub fn is_slow(self) -> bool {
        matches!(
            self,
            KeyType::Rsa3072 | KeyType::Rsa4096 | KeyType::RsaPss3072
        )
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "ecdsa-p256" | "ec:p-256" | "p256" | "p-256" | "ec" => KeyType::EcdsaP256,
            "ecdsa-p384" | "ec:p-384" | "p384" | "p-384" => KeyType::EcdsaP384,
            "ed25519" => KeyType::Ed25519,
            "rsa2048" | "rsa:2048" | "rsa" => KeyType::Rsa2048,
            "rsa3072" | "rsa:3072" => KeyType::Rsa3072,
            "rsa4096" | "rsa:4096" => KeyType::Rsa4096,
            "rsa-pss2048" | "rsa-pss:2048" | "rsa-pss" => KeyType::RsaPss2048,
            "rsa-pss3072" | "rsa-pss:3072" => KeyType::RsaPss3072,
            _ => {
                return Err(format!(
                    "unknown key type '{s}' (expected one of: {}; also rsa:2048, rsa:3072, rsa:4096, ec:P-256, ec:P-384)",
                    KeyType::NAMES.join(", ")
                ));
            }
        })
    }
}

/// What a loaded key is, as far as PostgreSQL and OpenSSL care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with the modulus size in bits.
    Rsa(usize),
    /// An RSASSA-PSS key (id-RSASSA-PSS, no parameter restrictions) with its size in bits.
    RsaPss(usize),
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// A human description such as "ECDSA P-256" or "RSA 2048".
    pub fn describe(self) -> String {
        match self {
            KeyKind::Rsa(bits) => format!("RSA {bits}"),
            KeyKind::RsaPss(bits) => format!("RSA-PSS {bits}"),
            KeyKind::P256 => "ECDSA P-256".into(),
            KeyKind::P384 => "ECDSA P-384".into(),
            KeyKind::Ed25519 => "Ed25519".into(),
        }
    }

    /// RSA leaves also get keyEncipherment (TLS 1.2 RSA key transport; not RSA-PSS keys, which
    /// only sign).
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyKind::Rsa(_))
    }
}

/// Why a key could not be used. Callers add the file name as context.
#[derive(Debug)]
pub enum KeyError {
    /// The bytes are not a private key in any form pgcert reads.
    NotAKey(String),
    /// The key is passphrase-protected (PKCS#8 `ENCRYPTED PRIVATE KEY`): ask for a passphrase
    /// and call `PrivateKey::from_encrypted_bytes`.
    Encrypted,
    /// OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` PEM, which pgcert does not read.
    LegacyEncrypted,
    /// Decryption failed: the passphrase is wrong (or the file is corrupt).
    WrongPassphrase,
    /// A key type that ring cannot sign with (RSA < 2048, P-521, Ed448, RSA-PSS ...).
    Unsupported(String),
    /// Generation failed (the OS random source, most likely).
    Generation(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotAKey(why) => write!(f, "not a private key: {why}"),
            KeyError::Encrypted => f.write_str("the private key is passphrase-protected"),
            KeyError::LegacyEncrypted => f.write_str(
                "the key is in OpenSSL's legacy encrypted PEM form (Proc-Type: 4,ENCRYPTED), which pgcert does not read; \
                 convert it with 'openssl pkey -in KEY -out KEY.pk8.pem -aes256' (PKCS#8) first",
            ),
            KeyError::WrongPassphrase => {
                f.write_str("cannot decrypt the private key: wrong passphrase, or a corrupt file")
            }
            KeyError::Unsupported(what) => write!(
                f,
                "unsupported key: {what} (pgcert signs with RSA >= 2048, ECDSA P-256/P-384 and Ed25519)"
            ),
            KeyError::Generation(why) => write!(f, "key generation failed: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A private key in PKCS#8 v1 form plus the rcgen key pair built from it. For an RSA-PSS key,
/// rcgen holds the same key as rsaEncryption (it has no RSA-PSS) and every structure rcgen signs
/// is signed again with RSASSA-PSS (`pki::der::resign`, [`PrivateKey::sign`]).
pub struct PrivateKey {
    pkcs8: Vec<u8>,
    kind: KeyKind,
    pair: KeyPair,
    /// RSA-PSS: the key as rsaEncryption PKCS#8, what ring signs with.
    pss_signing: Option<Vec<u8>>,
}

/// id-RSASSA-PSS.
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
/// AlgorithmIdentifier { id-RSASSA-PSS } without parameters: an RSA-PSS key with no
/// restrictions, as `openssl genpkey -algorithm rsa-pss` writes it.
const PSS_KEY_ALG: &[u8] = &[
    0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
];
/// AlgorithmIdentifier { rsaEncryption, NULL }.
const RSA_KEY_ALG: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
/// AlgorithmIdentifier { id-RSASSA-PSS, { sha256 (NULL), mgf1 { sha256 (NULL) }, saltLength 32 } }:
/// the signature algorithm pgcert's RSA-PSS keys sign with (ring's RSA_PSS_SHA256).
const PSS_SHA256_SIG_ALG: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];

/// The same structure (a PKCS#8 PrivateKeyInfo or a SubjectPublicKeyInfo) with its
/// AlgorithmIdentifier element replaced: `index` 1 in PKCS#8, 0 in an SPKI.
fn with_alg(der: &[u8], index: usize, alg: &[u8]) -> Result<Vec<u8>, String> {
    let (outer, _) = crate::pki::der::read(der)?;
    let mut content = Vec::new();
    for (i, e) in crate::pki::der::elements(outer.content)?.iter().enumerate() {
        content.extend_from_slice(if i == index { alg } else { e.whole });
    }
    Ok(crate::pki::der::tlv(0x30, &content))
}

/// An RSA-PSS SubjectPublicKeyInfo as the rsaEncryption one with the same key (what rcgen and
/// ring read); any other SPKI unchanged.
pub fn spki_as_rsa_encryption(spki: &[u8]) -> Vec<u8> {
    let is_pss = crate::pki::der::read(spki)
        .ok()
        .and_then(|(o, _)| crate::pki::der::elements(o.content).ok())
        .and_then(|e| e.first().map(|a| is_pss_alg(a.whole)))
        .unwrap_or(false);
    if is_pss {
        with_alg(spki, 0, RSA_KEY_ALG).unwrap_or_else(|_| spki.to_vec())
    } else {
        spki.to_vec()
    }
}

/// An AlgorithmIdentifier of id-RSASSA-PSS, with or without parameters.
fn is_pss_alg(alg_der: &[u8]) -> bool {
    crate::pki::der::read(alg_der)
        .ok()
        .and_then(|(a, _)| crate::pki::der::elements(a.content).ok())
        // the OID's TLV, as PSS_KEY_ALG holds it after its SEQUENCE header
        .and_then(|e| e.first().map(|o| o.whole == &PSS_KEY_ALG[2..]))
        .unwrap_or(false)
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.kind.describe())
    }
}

impl PrivateKey {
    /// Generate a fresh key of the given type from the OS random source.
    pub fn generate(key_type: KeyType) -> Result<PrivateKey, KeyError> {
        let gen_err = |e: &dyn fmt::Display| KeyError::Generation(e.to_string());
        let der = match key_type {
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(|e| gen_err(&e))?
                .serialize_der(),
            KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
                .map_err(|e| gen_err(&e))?
                .serialize_der(),
            KeyType::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519)
                .map_err(|e| gen_err(&e))?
                .serialize_der(),
            KeyType::Rsa2048
            | KeyType::Rsa3072
            | KeyType::Rsa4096
            | KeyType::RsaPss2048
            | KeyType::RsaPss3072 => {
                use rsa::pkcs8::EncodePrivateKey;
                let bits = match key_type {
                    KeyType::Rsa2048 | KeyType::RsaPss2048 => 2048,
                    KeyType::Rsa3072 | KeyType::RsaPss3072 => 3072,
                    _ => 4096,
                };
                let key =
                    rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| gen_err(&e))?;
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| gen_err(&e))?
                    .as_bytes()
                    .to_vec();
                if matches!(key_type, KeyType::RsaPss2048 | KeyType::RsaPss3072) {
                    with_alg(&der, 1, PSS_KEY_ALG).map_err(|e| gen_err(&e))?
                } else {
                    der
                }
            }
        };
        PrivateKey::from_pkcs8_der(&der)
    }

    /// Read a key from file contents: PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`)
    /// or DER (PKCS#8, PKCS#1 or SEC1).
    pub fn from_bytes(bytes: &[u8]) -> Result<PrivateKey, KeyError> {
        if encoding::looks_like_pem(bytes) {
            let text = String::from_utf8_lossy(bytes);
            let blocks = ::pem::parse_many(text.as_bytes())
                .map_err(|e| KeyError::NotAKey(format!("malformed PEM: {e}")))?;
            let Some(block) = blocks.iter().find(|b| b.tag().contains("PRIVATE KEY")) else {
                let tags: Vec<_> = blocks.iter().map(|b| b.tag().to_string()).collect();
                return Err(KeyError::NotAKey(if tags.is_empty() {
                    "no PEM block found".into()
                } else {
                    format!("the file holds {} instead", tags.join(", "))
                }));
            };
            if block.tag() == "ENCRYPTED PRIVATE KEY" || block.headers().get("DEK-Info").is_some() {
                return Err(KeyError::Encrypted);
            }
            match block.tag() {
                "PRIVATE KEY" => PrivateKey::from_pkcs8_der(block.contents()),
                "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(block.contents()),
                "EC PRIVATE KEY" => PrivateKey::from_sec1_der(block.contents()),
                other => Err(KeyError::Unsupported(format!("PEM block '{other}'"))),
            }
        } else {
            PrivateKey::from_pkcs8_der(bytes)
                .or_else(|_| PrivateKey::from_pkcs1_der(bytes))
                .or_else(|_| PrivateKey::from_sec1_der(bytes))
                .map_err(|_| {
                    if pkcs8::EncryptedPrivateKeyInfoRef::from_der(bytes).is_ok() {
                        KeyError::Encrypted
                    } else {
                        KeyError::NotAKey("neither PEM nor a DER PKCS#8/PKCS#1/SEC1 key".into())
                    }
                })
        }
    }

    /// Read a PKCS#8 encrypted key (PEM `ENCRYPTED PRIVATE KEY` or DER) with its passphrase.
    /// The key derivation's cost comes from the file: parameters beyond what any tool writes are
    /// refused before they are run (a hostile file could otherwise ask for gigabytes or hours).
    /// PBES2 with PBKDF2 or scrypt, AES or 3DES, as OpenSSL 1.1 and 3 write them.
    pub fn from_encrypted_bytes(bytes: &[u8], passphrase: &str) -> Result<PrivateKey, KeyError> {
        let der = if encoding::looks_like_pem(bytes) {
            let blocks = ::pem::parse_many(bytes)
                .map_err(|e| KeyError::NotAKey(format!("malformed PEM: {e}")))?;
            blocks
                .into_iter()
                .find(|b| b.tag() == "ENCRYPTED PRIVATE KEY")
                .ok_or_else(|| KeyError::NotAKey("no ENCRYPTED PRIVATE KEY block".into()))?
                .into_contents()
        } else {
            bytes.to_vec()
        };
        let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
            .map_err(|e| KeyError::NotAKey(format!("bad encrypted PKCS#8: {e}")))?;
        check_kdf_cost(&info.encryption_algorithm)?;
        // A wrong passphrase usually fails the padding check, but about 1 in 256 times the
        // garbage has valid padding and fails later as ASN.1: both mean "wrong passphrase".
        // Only an algorithm pgcert does not implement is reported as unsupported.
        let doc = info.decrypt(passphrase).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm {
                oid,
            }) => KeyError::Unsupported(format!("key encryption algorithm {oid}")),
            _ => KeyError::WrongPassphrase,
        })?;
        PrivateKey::from_pkcs8_der(doc.as_bytes()).map_err(|e| match e {
            KeyError::NotAKey(_) => KeyError::WrongPassphrase,
            other => other,
        })
    }

    fn from_pkcs1_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::PrivateKey::from_pkcs1_der(der)
            .map_err(|e| KeyError::NotAKey(format!("bad PKCS#1 RSA key: {e}")))?;
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::NotAKey(e.to_string()))?;
        PrivateKey::from_pkcs8_der(pkcs8.as_bytes())
    }

    fn from_sec1_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        use p256::pkcs8::EncodePrivateKey as _;
        if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
            let d = k
                .to_pkcs8_der()
                .map_err(|e| KeyError::NotAKey(e.to_string()))?;
            return PrivateKey::from_pkcs8_der(d.as_bytes());
        }
        if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
            use p384::pkcs8::EncodePrivateKey as _;
            let d = k
                .to_pkcs8_der()
                .map_err(|e| KeyError::NotAKey(e.to_string()))?;
            return PrivateKey::from_pkcs8_der(d.as_bytes());
        }
        Err(KeyError::Unsupported(
            "an EC key on a curve other than P-256/P-384, or a malformed SEC1 key".into(),
        ))
    }

    /// Build from PKCS#8 DER (v1 or v2). Ed25519 is normalised to v1.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::NotAKey(format!("bad PKCS#8: {e}")))?;
        let oid = info.algorithm.oid.to_string();
        let (kind, alg) = match oid.as_str() {
            "1.2.840.113549.1.1.1" => {
                use rsa::pkcs8::DecodePrivateKey;
                use rsa::traits::PublicKeyParts;
                let k = rsa::PrivateKey::from_pkcs8_der(der)
                    .map_err(|e| KeyError::NotAKey(format!("bad RSA key: {e}")))?;
                let bits = k.size() * 8;
                if bits < 2048 {
                    return Err(KeyError::Unsupported(format!("RSA {bits}")));
                }
                (KeyKind::Rsa(bits), &rcgen::PKCS_RSA_SHA256)
            }
            "1.2.840.10045.2.1" => {
                let curve = info
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<pkcs8::der::asn1::ObjectIdentifier>().ok())
                    .map(|o| o.to_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    "1.2.840.10045.3.1.7" => (KeyKind::P256, &rcgen::PKCS_ECDSA_P256_SHA256),
                    "1.3.132.0.34" => (KeyKind::P384, &rcgen::PKCS_ECDSA_P384_SHA384),
                    "1.3.132.0.35" => return Err(KeyError::Unsupported("ECDSA P-521".into())),
                    other => {
                        return Err(KeyError::Unsupported(format!("EC curve {other}")));
                    }
                }
            }
            "1.3.101.112" => (KeyKind::Ed25519, &rcgen::PKCS_ED25519),
            "1.3.101.113" => return Err(KeyError::Unsupported("Ed448".into())),
            OID_RSASSA_PSS => {
                if info.algorithm.parameters.is_some() {
                    return Err(KeyError::Unsupported(
                        "an RSA-PSS key with parameter restrictions (pgcert reads RSA-PSS keys without them, as openssl genpkey -algorithm rsa-pss writes them)".into(),
                    ));
                }
                let plain = pkcs8::PrivateKeyInfoRef::new(
                    pkcs8::AlgorithmIdentifierRef {
                        oid: pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"),
                        parameters: Some(pkcs8::der::asn1::AnyRef::NULL),
                    },
                    info.private_key,
                )
                .to_der()
                .map_err(|e| KeyError::NotAKey(e.to_string()))?;
                let mut k = PrivateKey::from_pkcs8_der(&plain)?;
                let KeyKind::Rsa(bits) = k.kind else {
                    return Err(KeyError::NotAKey("bad RSA-PSS key".into()));
                };
                k.kind = KeyKind::RsaPss(bits);
                k.pkcs8 = with_alg(&plain, 1, PSS_KEY_ALG).map_err(KeyError::NotAKey)?;
                k.pss_signing = Some(plain);
                return Ok(k);
            }
            other => return Err(KeyError::Unsupported(format!("algorithm {other}"))),
        };
        // OpenSSL 3.0 cannot read PKCS#8 v2 (with the [1] public key): drop it (openssl#9134).
        let pkcs8 = if info.public_key.is_some() {
            pkcs8::PrivateKeyInfoRef::new(info.algorithm, info.private_key)
                .to_der()
                .map_err(|e| KeyError::NotAKey(e.to_string()))?
        } else {
            der.to_vec()
        };
        let pair =
            KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8.as_slice()), alg)
                .map_err(|e| KeyError::Unsupported(format!("{} ({e})", kind.describe())))?;
        Ok(PrivateKey {
            pkcs8,
            kind,
            pair,
            pss_signing: None,
        })
    }

    /// The key as PKCS#8 v1 DER (`postgresql.pk8`).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), what OpenSSL 3 writes.
    pub fn pkcs8_pem(&self) -> String {
        ::pem::encode_config(
            &::pem::Pem::new("PRIVATE KEY", self.pkcs8.clone()),
            ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
        )
    }

    /// The key as PKCS#8 `ENCRYPTED PRIVATE KEY` PEM: PBES2 with PBKDF2-HMAC-SHA256
    /// (600,000 iterations, random 16-byte salt) and AES-256-CBC, which OpenSSL 1.1/3 and
    /// PostgreSQL (`ssl_passphrase_command`) read.
    pub fn encrypted_pem(&self, passphrase: &str) -> Result<String, KeyError> {
        self.encrypted_pem_with_iterations(passphrase, 600_000)
    }

    fn encrypted_pem_with_iterations(
        &self,
        passphrase: &str,
        iterations: u32,
    ) -> Result<String, KeyError> {
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| KeyError::Generation(e.to_string()))?;
        getrandom::fill(&mut iv).map_err(|e| KeyError::Generation(e.to_string()))?;
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
            iterations, &salt, iv,
        )
        .map_err(|e| KeyError::Generation(e.to_string()))?;
        let info = pkcs8::PrivateKeyInfoRef::from_der(&self.pkcs8)
            .map_err(|e| KeyError::NotAKey(e.to_string()))?;
        let doc = info
            .encrypt_with_params(params, passphrase)
            .map_err(|e| KeyError::Generation(format!("encryption failed: {e}")))?;
        Ok(encoding::to_pem("ENCRYPTED PRIVATE KEY", doc.as_bytes()))
    }

    /// SEC1 `EC PRIVATE KEY` PEM (ECDSA keys only), the form `openssl ec` writes and some
    /// Kubernetes operators read.
    pub fn sec1_pem(&self) -> Result<String, KeyError> {
        use pkcs8::DecodePrivateKey;
        let unsupported = || {
            KeyError::Unsupported(format!(
                "{} key in SEC1 form (ECDSA only)",
                self.kind.describe()
            ))
        };
        let der = match self.kind {
            KeyKind::P256 => p256::SecretKey::from_pkcs8_der(&self.pkcs8)
                .map_err(|_| unsupported())?
                .to_sec1_der()
                .map_err(|e| KeyError::NotAKey(e.to_string()))?,
            KeyKind::P384 => p384::SecretKey::from_pkcs8_der(&self.pkcs8)
                .map_err(|_| unsupported())?
                .to_sec1_der()
                .map_err(|e| KeyError::NotAKey(e.to_string()))?,
            _ => return Err(unsupported()),
        };
        Ok(encoding::to_pem("EC PRIVATE KEY", &der))
    }

    /// PKCS#1 `RSA PRIVATE KEY` PEM (RSA keys only), the "traditional" form.
    pub fn pkcs1_pem(&self) -> Result<String, KeyError> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let k = rsa::PrivateKey::from_pkcs8_der(&self.pkcs8).map_err(|_| {
            KeyError::Unsupported(format!(
                "{} key in PKCS#1 form (RSA only)",
                self.kind.describe()
            ))
        })?;
        let der = k
            .to_pkcs1_der()
            .map_err(|e| KeyError::NotAKey(e.to_string()))?;
        Ok(encoding::to_pem("RSA PRIVATE KEY", der.as_bytes()))
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The rcgen signer.
    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// SubjectPublicKeyInfo DER, to compare with a certificate's public key (for an RSA-PSS
    /// key, with the id-RSASSA-PSS algorithm).
    pub fn spki_der(&self) -> Vec<u8> {
        let spki = self.pair.subject_public_key_info();
        if self.pss_signing.is_some() {
            with_alg(&spki, 0, PSS_KEY_ALG).unwrap_or(spki)
        } else {
            spki
        }
    }

    /// Sign `msg` with the key's signature algorithm: rcgen's for most keys, RSASSA-PSS with
    /// SHA-256 and a 32-byte salt for RSA-PSS keys.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        match &self.pss_signing {
            None => rcgen::SigningKey::sign(&self.pair, msg).map_err(|e| e.to_string()),
            Some(plain) => {
                let kp = ring::signature::RsaKeyPair::from_pkcs8(plain)
                    .map_err(|e| format!("the RSA-PSS key cannot sign: {e}"))?;
                let mut sig = vec![0u8; kp.public().modulus_len()];
                kp.sign(
                    &ring::signature::RSA_PSS_SHA256,
                    &ring::rand::SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .map_err(|_| "RSA-PSS signing failed".to_string())?;
                Ok(sig)
            }
        }
    }

    /// The AlgorithmIdentifier (DER) of [`PrivateKey::sign`]'s signatures when it is not the
    /// one rcgen writes: RSASSA-PSS for RSA-PSS keys, else None.
    pub fn signature_algorithm(&self) -> Option<&'static [u8]> {
        self.pss_signing.as_ref().map(|_| PSS_SHA256_SIG_ALG)
    }
}

/// Most memory scrypt may use (OpenSSL's own default limit is 32 MiB; `openssl pkcs8 -scrypt`
/// writes 16 MiB), and most PBKDF2 iterations (OpenSSL writes 2,048; 10,000,000 take seconds).
const MAX_SCRYPT_BYTES: u128 = 256 << 20;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), KeyError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(KeyError::Unsupported(format!(
                "PBKDF2 with {} iterations (more than {MAX_PBKDF2_ITERATIONS}); re-encrypt the key with usual parameters",
                p.iteration_count
            )))
        }
        Kdf::Scrypt(p) => {
            let bytes = 128u128 * u128::from(p.block_size) * u128::from(p.cost_parameter)
                + 128u128 * u128::from(p.block_size) * u128::from(p.parallelization);
            if bytes > MAX_SCRYPT_BYTES {
                Err(KeyError::Unsupported(format!(
                    "scrypt parameters that need {} MiB (N={}, r={}, p={}; at most 256 MiB); re-encrypt the key with usual parameters",
                    bytes >> 20,
                    p.cost_parameter,
                    p.block_size,
                    p.parallelization
                )))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn hostile_key_derivation_costs_are_refused_before_running() {
        use pkcs8::der::Encode;
        use pkcs8::pkcs5::pbes2::{EncryptionScheme, Kdf, Parameters, ScryptParams};
        let scrypt = |n: u64| {
            let params = Parameters {
                kdf: Kdf::Scrypt(ScryptParams {
                    salt: (&[7u8; 16][..]).try_into().unwrap(),
                    cost_parameter: n,
                    block_size: 8,
                    parallelization: 1,
                    key_length: Some(32),
                }),
                encryption: EncryptionScheme::Aes256Cbc { iv: [0; 16] },
            };
            pkcs8::EncryptedPrivateKeyInfo {
                encryption_algorithm: params.into(),
                encrypted_data: pkcs8::der::asn1::OctetString::new(vec![0u8; 48]).unwrap(),
            }
            .to_der()
            .unwrap()
        };
        // N = 2^30, r = 8: 128 GiB; refused at once, not run
        let t = std::time::Instant::now();
        match PrivateKey::from_encrypted_bytes(&scrypt(1 << 30), "x") {
            Err(KeyError::Unsupported(m)) => assert!(m.contains("scrypt"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        // OpenSSL's own parameters (N = 2^14, r = 8: 16 MiB) run, and fail as a wrong passphrase
        assert!(matches!(
            PrivateKey::from_encrypted_bytes(&scrypt(1 << 14), "x"),
            Err(KeyError::WrongPassphrase)
        ));
    }
    use super::*;

    #[test]
    fn key_type_accepts_every_documented_spelling() {
        let cases = [
            ("ecdsa-p256", KeyType::EcdsaP256),
            ("ec:P-256", KeyType::EcdsaP256),
            ("ecdsa-p384", KeyType::EcdsaP384),
            ("ec:P-384", KeyType::EcdsaP384),
            ("ed25519", KeyType::Ed25519),
            ("rsa2048", KeyType::Rsa2048),
            ("rsa:2048", KeyType::Rsa2048),
            ("rsa3072", KeyType::Rsa3072),
            ("rsa:3072", KeyType::Rsa3072),
            ("rsa4096", KeyType::Rsa4096),
            ("rsa:4096", KeyType::Rsa4096),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<KeyType>().unwrap(), want, "{s}");
        }
        assert!("rsa1024".parse::<KeyType>().is_err());
        assert!("ec:P-521".parse::<KeyType>().is_err());
    }

    #[test]
    fn ed25519_keys_are_written_as_pkcs8_v1() {
        let k = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let info = pkcs8::PrivateKeyInfoRef::from_der(k.pkcs8_der()).unwrap();
        assert!(info.public_key.is_none(), "v2 public key must be dropped");
        // and it still loads back
        PrivateKey::from_bytes(k.pkcs8_pem().as_bytes()).unwrap();
    }

    #[test]
    fn ec_keys_round_trip_through_pem_and_der() {
        for t in [KeyType::EcdsaP256, KeyType::EcdsaP384] {
            let k = PrivateKey::generate(t).unwrap();
            let again = PrivateKey::from_bytes(k.pkcs8_pem().as_bytes()).unwrap();
            assert_eq!(again.spki_der(), k.spki_der());
            let der = PrivateKey::from_bytes(k.pkcs8_der()).unwrap();
            assert_eq!(der.kind(), k.kind());
        }
    }

    #[test]
    fn encrypted_keys_round_trip_and_wrong_passphrase_is_named() {
        let k = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem = k.encrypted_pem("correct horse").unwrap();
        assert!(matches!(
            PrivateKey::from_bytes(pem.as_bytes()),
            Err(KeyError::Encrypted)
        ));
        let back = PrivateKey::from_encrypted_bytes(pem.as_bytes(), "correct horse").unwrap();
        assert_eq!(back.spki_der(), k.spki_der());
        // many wrong passphrases: some pass the padding check by chance and must still be
        // reported as a wrong passphrase (few iterations, so 600 attempts stay fast)
        let pem = k
            .encrypted_pem_with_iterations("correct horse", 10)
            .unwrap();
        for i in 0..600 {
            let r = PrivateKey::from_encrypted_bytes(pem.as_bytes(), &format!("wrong{i}"));
            assert!(
                matches!(r, Err(KeyError::WrongPassphrase)),
                "attempt {i}: {r:?}"
            );
        }
    }

    #[test]
    fn garbage_and_encrypted_keys_are_refused_with_reason() {
        assert!(matches!(
            PrivateKey::from_bytes(b"hello"),
            Err(KeyError::NotAKey(_))
        ));
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_bytes(enc.as_bytes()),
            Err(KeyError::Encrypted)
        ));
    }
}
