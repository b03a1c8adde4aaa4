//! The CA directory, OpenSSL `demoCA` layout (CLI.md), by concern:
//! - `dir`: where a CA's files are, opening it, reading its state and certificates;
//! - `txn`: the lock as a guard value (`CaTxn`), the only way to change a CA's database, and
//!   the issuance transaction that hands out a serial and records the certificate;
//! - `create`: new CA directories, built aside and renamed into place;
//! - `index`, `revocation`, `openssl_cnf`: the database file formats, revocation and CRLs,
//!   and the config `openssl ca` reads.
//!
//! Crash-safety is written down in docs/ca-database.md.

pub mod create;
pub mod dir;
pub mod index;
pub mod openssl_cnf;
pub mod revocation;
pub mod txn;

pub use create::{
    NewCa, NewDir, build_ca_dir, build_csr_only_dir, careq_path, check_new_ca_dir, complete_ca_dir,
};
pub use dir::{CaDir, read_certs, read_one_cert};
pub use txn::{CaTxn, Placement};

/// Days the CRL written at CA creation stays valid (also `default_crl_days` in openssl.cnf).
pub const DEFAULT_CRL_DAYS: u32 = 30;
