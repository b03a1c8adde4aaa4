//! Signatures on certificates and CRLs, checked for every algorithm OpenSSL 3 accepts in a
//! PostgreSQL chain: RSA PKCS#1 v1.5 (SHA-1, SHA-224/256/384/512) and RSASSA-PSS with any key
//! size, ECDSA on P-256, P-384 and P-521 with any SHA-1/SHA-2 digest, Ed25519 and Ed448.
//! ring (what x509-parser's `verify` uses) covers only part of that: no P-521, no Ed448, no RSA
//! under 2048 bits, so this module uses the RustCrypto crates for the rest.
//!
//! Also the "security bits" OpenSSL assigns to keys and signatures, which its security level
//! (`SSL_CTX_get_security_level`, passed to X509_verify_cert as the auth level) compares with
//! 80/112/128/192/256 bits for levels 1 to 5.

use sha2::Digest as _;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigError {
    /// The algorithm (or key) is one pgcert cannot check; the message names it.
    Unsupported(String),
    /// The signature does not verify with the issuer's key.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Md5,
}

impl Hash {
    fn from_oid(oid: &str) -> Option<Hash> {
        Some(match oid {
            "1.3.14.3.2.26" => Hash::Sha1,
            "2.16.840.1.101.3.4.2.4" => Hash::Sha224,
            "2.16.840.1.101.3.4.2.1" => Hash::Sha256,
            "2.16.840.1.101.3.4.2.2" => Hash::Sha384,
            "2.16.840.1.101.3.4.2.3" => Hash::Sha512,
            "1.2.840.113549.2.5" => Hash::Md5,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Option<Vec<u8>> {
        Some(match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Hash::Md5 => return None,
        })
    }

    /// OpenSSL's x509_init_sig_info: half the digest bits, SHA-1 63 and MD5 39 ("known broken").
    fn security_bits(self) -> u32 {
        match self {
            Hash::Sha1 => 63,
            Hash::Md5 => 39,
            Hash::Sha224 => 112,
            Hash::Sha256 => 128,
            Hash::Sha384 => 192,
            Hash::Sha512 => 256,
        }
    }
}

/// The family of key a signature algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// RSA (rsaEncryption or RSASSA-PSS keys).
    Rsa,
    /// EC keys (ECDSA).
    Ec,
    /// Ed25519.
    Ed25519,
    /// Ed448.
    Ed448,
    /// Anything else.
    Other,
}

enum Scheme {
    Pkcs1(Hash),
    Pss { hash: Hash, salt: usize },
    Ecdsa(Hash),
    Ed25519,
    Ed448,
}

fn scheme(alg: &AlgorithmIdentifier<'_>) -> Result<Scheme, SigError> {
    let oid = alg.algorithm.to_id_string();
    Ok(match oid.as_str() {
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => Scheme::Pkcs1(Hash::Sha1),
        "1.2.840.113549.1.1.4" => Scheme::Pkcs1(Hash::Md5),
        "1.2.840.113549.1.1.14" => Scheme::Pkcs1(Hash::Sha224),
        "1.2.840.113549.1.1.11" => Scheme::Pkcs1(Hash::Sha256),
        "1.2.840.113549.1.1.12" => Scheme::Pkcs1(Hash::Sha384),
        "1.2.840.113549.1.1.13" => Scheme::Pkcs1(Hash::Sha512),
        "1.2.840.10045.4.1" => Scheme::Ecdsa(Hash::Sha1),
        "1.2.840.10045.4.3.1" => Scheme::Ecdsa(Hash::Sha224),
        "1.2.840.10045.4.3.2" => Scheme::Ecdsa(Hash::Sha256),
        "1.2.840.10045.4.3.3" => Scheme::Ecdsa(Hash::Sha384),
        "1.2.840.10045.4.3.4" => Scheme::Ecdsa(Hash::Sha512),
        "1.3.101.112" => Scheme::Ed25519,
        "1.3.101.113" => Scheme::Ed448,
        "1.2.840.113549.1.1.10" => {
            let params = alg
                .parameters
                .as_ref()
                .ok_or_else(|| SigError::Unsupported("RSASSA-PSS without parameters".into()))?;
            let p = x509_parser::signature_algorithm::RsaSsaPssParams::try_from(params)
                .map_err(|e| SigError::Unsupported(format!("bad RSASSA-PSS parameters: {e}")))?;
            let hash = Hash::from_oid(&p.hash_algorithm_oid().to_id_string())
                .ok_or_else(|| SigError::Unsupported("RSASSA-PSS with an unknown hash".into()))?;
            // the mask generation function must be MGF1 with the same hash (what OpenSSL and
            // every PostgreSQL deployment use); anything else is not checked here
            if let Ok(mgf) = p.mask_gen_algorithm() {
                let mgf_hash = Hash::from_oid(&mgf.hash.to_id_string());
                if mgf_hash != Some(hash) {
                    return Err(SigError::Unsupported(
                        "RSASSA-PSS with an MGF1 hash other than the message hash".into(),
                    ));
                }
            }
            Scheme::Pss {
                hash,
                salt: p.salt_length() as usize,
            }
        }
        other => {
            return Err(SigError::Unsupported(format!(
                "signature algorithm {other}"
            )));
        }
    })
}

/// The key family a signature algorithm requires (OpenSSL's check_sig_alg_match).
pub fn signature_key_family(alg: &AlgorithmIdentifier<'_>) -> KeyFamily {
    match scheme(alg) {
        Ok(Scheme::Pkcs1(_) | Scheme::Pss { .. }) => KeyFamily::Rsa,
        Ok(Scheme::Ecdsa(_)) => KeyFamily::Ec,
        Ok(Scheme::Ed25519) => KeyFamily::Ed25519,
        Ok(Scheme::Ed448) => KeyFamily::Ed448,
        Err(_) => KeyFamily::Other,
    }
}

/// The family of a public key.
pub fn key_family(spki: &SubjectPublicKeyInfo<'_>) -> KeyFamily {
    match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => KeyFamily::Rsa,
        "1.2.840.10045.2.1" => KeyFamily::Ec,
        "1.3.101.112" => KeyFamily::Ed25519,
        "1.3.101.113" => KeyFamily::Ed448,
        _ => KeyFamily::Other,
    }
}

fn ec_curve(spki: &SubjectPublicKeyInfo<'_>) -> Option<String> {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string())
}

fn rsa_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<rsa::PublicKey, SigError> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    rsa::PublicKey::from_pkcs1_der(&spki.subject_public_key.data)
        .map_err(|e| SigError::Unsupported(format!("unreadable RSA key: {e}")))
}

fn ecdsa_verify(
    spki: &SubjectPublicKeyInfo<'_>,
    prehash: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    use ecdsa::signature::hazmat::PrehashVerifier;
    let point = &spki.subject_public_key.data;
    let bad = |_| SigError::Invalid;
    match ec_curve(spki).as_deref() {
        Some("1.2.840.10045.3.1.7") => {
            let k = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(bad)?;
            let s = p256::ecdsa::Signature::from_der(sig).map_err(bad)?;
            k.verify_prehash(prehash, &s).map_err(bad)
        }
        Some("1.3.132.0.34") => {
            let k = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(bad)?;
            let s = p384::ecdsa::Signature::from_der(sig).map_err(bad)?;
            k.verify_prehash(prehash, &s).map_err(bad)
        }
        Some("1.3.132.0.35") => {
            let k = p521::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(bad)?;
            let s = p521::ecdsa::Signature::from_der(sig).map_err(bad)?;
            k.verify_prehash(prehash, &s).map_err(bad)
        }
        Some(c) => Err(SigError::Unsupported(format!("EC curve {c}"))),
        None => Err(SigError::Unsupported(
            "an EC key with explicit curve parameters".into(),
        )),
    }
}

fn pss_verify(
    spki: &SubjectPublicKeyInfo<'_>,
    hash: Hash,
    salt: usize,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    let key = rsa_key(spki)?;
    let hashed = hash
        .digest(msg)
        .ok_or_else(|| SigError::Unsupported("MD5 signatures".into()))?;
    let r = match hash {
        Hash::Sha1 => key.verify(rsa::Pss::<sha1::Sha1>::new_with_salt(salt), &hashed, sig),
        Hash::Sha224 => key.verify(rsa::Pss::<sha2::Sha224>::new_with_salt(salt), &hashed, sig),
        Hash::Sha256 => key.verify(rsa::Pss::<sha2::Sha256>::new_with_salt(salt), &hashed, sig),
        Hash::Sha384 => key.verify(rsa::Pss::<sha2::Sha384>::new_with_salt(salt), &hashed, sig),
        Hash::Sha512 => key.verify(rsa::Pss::<sha2::Sha512>::new_with_salt(salt), &hashed, sig),
        Hash::Md5 => return Err(SigError::Unsupported("MD5 signatures".into())),
    };
    r.map_err(|_| SigError::Invalid)
}

/// Check a TLS 1.3 handshake signature made with an RSASSA-PSS key (`rsa_pss_pss_sha256`,
/// `_sha384`, `_sha512`; RFC 8446 section 4.2.3: MGF1 with the same hash, a salt as long as the
/// hash), which rustls's ring provider does not verify. `sha_bits` is 256, 384 or 512; the key
/// must be an id-RSASSA-PSS key (an rsaEncryption key signs with `rsa_pss_rsae_*` instead).
pub fn verify_tls13_rsa_pss_pss(
    signer_spki_der: &[u8],
    sha_bits: u16,
    sig: &[u8],
    msg: &[u8],
) -> Result<(), SigError> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(signer_spki_der)
        .map_err(|e| SigError::Unsupported(format!("unreadable public key: {e}")))?;
    if spki.algorithm.algorithm.to_id_string() != "1.2.840.113549.1.1.10" {
        return Err(SigError::Invalid);
    }
    let (hash, salt) = match sha_bits {
        256 => (Hash::Sha256, 32),
        384 => (Hash::Sha384, 48),
        512 => (Hash::Sha512, 64),
        b => return Err(SigError::Unsupported(format!("RSA-PSS with SHA-{b}"))),
    };
    pss_verify(&spki, hash, salt, msg, sig)
}

/// Check `sig` over `tbs` with the signer's SubjectPublicKeyInfo (DER).
pub fn verify(
    signer_spki_der: &[u8],
    alg: &AlgorithmIdentifier<'_>,
    sig: &[u8],
    tbs: &[u8],
) -> Result<(), SigError> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(signer_spki_der)
        .map_err(|e| SigError::Unsupported(format!("unreadable public key: {e}")))?;
    let scheme = scheme(alg)?;
    let family = key_family(&spki);
    let need = signature_key_family(alg);
    if family != need {
        return Err(SigError::Invalid);
    }
    let unsupported_hash = || SigError::Unsupported("MD5 signatures".into());
    match scheme {
        Scheme::Pkcs1(h) => {
            let key = rsa_key(&spki)?;
            let hashed = h.digest(tbs).ok_or_else(unsupported_hash)?;
            let padding = match h {
                Hash::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
                Hash::Sha224 => rsa::Pkcs1v15Sign::new::<sha2::Sha224>(),
                Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                Hash::Md5 => return Err(unsupported_hash()),
            };
            key.verify(padding, &hashed, sig)
                .map_err(|_| SigError::Invalid)
        }
        Scheme::Pss { hash, salt } => pss_verify(&spki, hash, salt, tbs, sig),
        Scheme::Ecdsa(h) => {
            let prehash = h.digest(tbs).ok_or_else(unsupported_hash)?;
            ecdsa_verify(&spki, &prehash, sig)
        }
        Scheme::Ed25519 => ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            &spki.subject_public_key.data,
        )
        .verify(tbs, sig)
        .map_err(|_| SigError::Invalid),
        Scheme::Ed448 => {
            let bytes: &[u8; 57] = spki
                .subject_public_key
                .data
                .as_ref()
                .try_into()
                .map_err(|_| SigError::Invalid)?;
            let key =
                ed448_goldilocks::VerifyingKey::from_bytes(bytes).map_err(|_| SigError::Invalid)?;
            let s = ed448_goldilocks::Signature::from_slice(sig).map_err(|_| SigError::Invalid)?;
            key.verify_raw(&s, tbs).map_err(|_| SigError::Invalid)
        }
    }
}

/// The security bits OpenSSL gives a signature (x509_init_sig_info); None when unknown.
pub fn signature_security_bits(alg: &AlgorithmIdentifier<'_>) -> Option<u32> {
    match scheme(alg).ok()? {
        Scheme::Pkcs1(h) | Scheme::Ecdsa(h) | Scheme::Pss { hash: h, .. } => {
            Some(h.security_bits())
        }
        Scheme::Ed25519 => Some(128),
        Scheme::Ed448 => Some(224),
    }
}

/// OpenSSL 3's ossl_ifc_ffc_compute_security_bits for an RSA modulus of `n` bits.
pub fn rsa_security_bits(n: u32) -> u32 {
    match n {
        2048 => return 112,
        3072 => return 128,
        4096 => return 152,
        6144 => return 176,
        7680 => return 192,
        8192 => return 200,
        15360 => return 256,
        _ => {}
    }
    if n < 8 {
        return 0;
    }
    let cap = if n <= 7680 { 192.0 } else { 256.0 };
    let x = f64::from(n) * std::f64::consts::LN_2;
    let y = (1.923 * x.cbrt() * x.ln().powf(2.0 / 3.0) - 4.69) / std::f64::consts::LN_2;
    let y = ((y as u32) + 4) & !7;
    y.min(cap as u32)
}

/// The security bits of a public key (EVP_PKEY_get_security_bits); None when unknown.
pub fn key_security_bits(spki_der: &[u8]) -> Option<u32> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    match key_family(&spki) {
        KeyFamily::Rsa => {
            use rsa::traits::PublicKeyParts;
            let k = rsa_key(&spki).ok()?;
            Some(rsa_security_bits(k.n().bit_width()))
        }
        KeyFamily::Ec => Some(match ec_curve(&spki)?.as_str() {
            "1.2.840.10045.3.1.7" => 128,
            "1.3.132.0.34" => 192,
            "1.3.132.0.35" => 256,
            "1.3.132.0.33" => 112,
            _ => return None,
        }),
        KeyFamily::Ed25519 => Some(128),
        KeyFamily::Ed448 => Some(224),
        KeyFamily::Other => None,
    }
}

/// The bits OpenSSL's security level `level` (1 to 5) requires; 0 for level 0.
pub fn level_bits(level: u8) -> u32 {
    match level {
        0 => 0,
        1 => 80,
        2 => 112,
        3 => 128,
        4 => 192,
        _ => 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_security_bits_match_openssl() {
        assert_eq!(rsa_security_bits(1024), 80);
        assert_eq!(rsa_security_bits(2048), 112);
        assert_eq!(rsa_security_bits(3072), 128);
        assert!(rsa_security_bits(1536) < 112 && rsa_security_bits(1536) >= 80);
    }

    #[test]
    fn tls13_rsa_pss_pss_signatures_verify_only_as_made() {
        use crate::pki::key::{KeyType, PrivateKey, spki_as_rsa_encryption};
        let key = PrivateKey::generate(KeyType::RsaPss2048).unwrap();
        let msg = b"TLS 1.3, server CertificateVerify";
        let sig = key.sign(msg).unwrap(); // RSASSA-PSS, SHA-256, 32-byte salt
        let spki = key.spki_der();
        assert_eq!(verify_tls13_rsa_pss_pss(&spki, 256, &sig, msg), Ok(()));
        assert_eq!(
            verify_tls13_rsa_pss_pss(&spki, 256, &sig, b"another transcript"),
            Err(SigError::Invalid)
        );
        assert_eq!(
            verify_tls13_rsa_pss_pss(&spki, 384, &sig, msg),
            Err(SigError::Invalid)
        );
        // the same key as rsaEncryption would sign with rsa_pss_rsae_*, not these schemes
        assert_eq!(
            verify_tls13_rsa_pss_pss(&spki_as_rsa_encryption(&spki), 256, &sig, msg),
            Err(SigError::Invalid)
        );
    }
}
