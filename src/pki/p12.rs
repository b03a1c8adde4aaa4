//! PKCS#12 files for Java keystores and PgJDBC (`.p12`): the key and its chain, leaf first.
//!
//! Written with p12-keystore: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) with a SHA-256 MAC,
//! which OpenSSL 3 reads without `-legacy` and Java's keytool and PgJDBC read. (The `p12` crate
//! writes RC2-40, which OpenSSL 3 refuses.)

use crate::pki::chain::{Chain, order_chain};
use crate::pki::inspect::CertInfo;
use crate::pki::key::PrivateKey;

/// Order `certs` into the key's chain: the certificate of `key` first, each issuer after it.
pub fn chain_for_key(key: &PrivateKey, certs: Vec<CertInfo>) -> Result<Chain, String> {
    let spki = key.spki_der();
    if !certs.iter().any(|c| c.spki == spki) {
        return Err("no certificate given matches the private key".into());
    }
    let chain =
        order_chain(certs).map_err(|e| format!("the certificates do not form a chain: {e}"))?;
    if chain.certs[0].spki != spki {
        return Err(format!(
            "the key belongs to a certificate below {}, which is not in the files",
            chain.certs[0].subject
        ));
    }
    Ok(chain)
}

/// The PKCS#12 DER for `key` and `chain` (leaf first), protected by `password`, with the key
/// entry named `alias` (PgJDBC asks for "user").
pub fn pkcs12(
    key: &PrivateKey,
    chain: &Chain,
    password: &str,
    alias: &str,
) -> Result<Vec<u8>, String> {
    let p12_key =
        p12_keystore::PrivateKey::from_der(key.pkcs8_der()).map_err(|e| format!("PKCS#12: {e}"))?;
    let certs = chain
        .certs
        .iter()
        .map(|c| p12_keystore::Certificate::from_der(&c.der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("PKCS#12: {e}"))?;
    let local_id = chain.certs[0].sha256_hex().into_bytes();
    let mut ks = p12_keystore::KeyStore::new();
    ks.add_entry(
        alias,
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            local_id, p12_key, certs,
        )),
    );
    ks.writer(password)
        .write()
        .map_err(|e| format!("cannot write PKCS#12: {e}"))
}
