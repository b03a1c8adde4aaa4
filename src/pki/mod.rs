//! X.509 with no files and no printing: keys, names, profiles, signing, chains, CRLs.

pub mod chain;
pub mod crl;
pub mod csr;
pub mod der;
pub mod describe;
pub mod encoding;
pub mod hash;
pub mod inspect;
pub mod issue;
pub mod key;
pub mod name;
pub mod object;
pub mod p12;
pub mod profile;
pub mod robustness;
pub mod serial;
pub mod signature;
pub mod x509;
