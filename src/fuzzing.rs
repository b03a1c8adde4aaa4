//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, nightly): every parser that reads
//! untrusted bytes, each driven the way pgcert drives it. They ignore results; a panic, an
//! overflow or a hang is the bug. Kept in the library so the targets stay one line each and
//! the robustness tests can call the same code.

use std::str::FromStr;

use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("fixed time")
}

/// PEM or DER files of any kind, as `show`, `convert` and the doctor read them.
pub fn objects(data: &[u8]) {
    use crate::pki::object::{Object, read_objects};
    let _ = crate::pki::encoding::blocks(data);
    let Ok(objects) = read_objects(data) else {
        return;
    };
    for o in objects {
        match o {
            Object::Certificate(d) => certificate(&d),
            Object::Csr(d) => csr(&d),
            Object::Crl(d) => crl(&d),
            Object::Key(d, _) => key(&d),
            Object::EncryptedKey(d) => encrypted_key(&d),
            Object::LegacyEncryptedKey => {}
        }
    }
}

/// A certificate (DER), through everything that reads one.
pub fn certificate(der: &[u8]) {
    let _ = crate::pki::describe::cert_view(der, now());
    let _ = crate::pki::x509::Facts::parse(der);
    let _ = crate::pki::hash::cert_subject_hash(der);
    if let Ok(c) = crate::pki::inspect::CertInfo::parse(der) {
        let _ = c.subject_name();
        let _ = c.is_signed_by(&c);
        // the engine on the certificate as its own chain and root
        let _ = crate::postgres::verify::verify(&crate::postgres::verify::Request {
            leaf: &c,
            untrusted: &[],
            roots: std::slice::from_ref(&c),
            roots_label: "fuzz",
            host: Some("db.example.com"),
            user: Some("alice"),
            crls: &[],
            purpose: Some(crate::postgres::verify::Purpose::Server),
            now: now(),
            security_level: crate::postgres::verify::DEFAULT_SECURITY_LEVEL,
        });
    }
}

/// A certificate request (PEM or DER), as `sign` reads it.
pub fn csr(data: &[u8]) {
    let _ = crate::pki::csr::Csr::parse(data);
    let _ = crate::pki::describe::csr_view(data);
}

/// A CRL (DER).
pub fn crl(der: &[u8]) {
    let _ = crate::pki::crl::crl_info(der);
    let _ = crate::pki::crl::CrlFacts::parse(der);
    let _ = crate::pki::describe::crl_view(der, now());
}

/// A plain private key (PEM or DER; PKCS#8, PKCS#1, SEC1).
pub fn key(data: &[u8]) {
    if let Ok(k) = crate::pki::key::PrivateKey::from_bytes(data) {
        let _ = k.pkcs8_der();
        let _ = k.spki_der();
    }
}

/// An encrypted PKCS#8 key, with a passphrase (scrypt/PBKDF2 parameters come from the input:
/// pgcert must refuse absurd ones rather than hang).
pub fn encrypted_key(data: &[u8]) {
    let _ = crate::pki::key::PrivateKey::from_encrypted_bytes(data, "fuzz");
}

/// Text inputs: `index.txt` lines, `serial`/`crlnumber`, `index.txt.attr`, `--subj`, `--san`,
/// postgresql.conf, passphrase specs, times.
pub fn text(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for line in s.lines() {
        let _ = crate::ca::index::IndexEntry::parse(line);
    }
    let _ = crate::pki::serial::Serial::from_str(s);
    let _ = crate::ca::dir::unique_subject_in(s);
    let _ = crate::pki::name::Subject::from_str(s);
    let _ = crate::pki::name::San::from_str(s);
    let _ = crate::postgres::cluster::parse_conf(s);
    let _ = crate::passphrase::PassSource::from_str(s);
    let _ = crate::ca::index::parse_asn1_time(s);
}

/// A whole `index.txt` through the full check pgcert runs before writing (from a temp file).
pub fn index_file(data: &[u8]) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("pgcert-fuzz-index-{}-{n}", std::process::id()));
    #[allow(clippy::disallowed_methods)] // a scratch file for the fuzzer, not a pgcert output
    if std::fs::write(&p, data).is_ok() {
        let _ = crate::ca::index::check(&p);
        let _ = crate::ca::index::scan(&p, |_, _| Ok(()));
    }
    let _ = std::fs::remove_file(&p);
}
