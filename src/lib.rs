//! pgcert: a PKI toolkit for the certificates PostgreSQL and its clients use.
//!
//! Layers: `cli` parses and presents; the domain (`pki`, `ca`, `postgres`) knows things and
//! never prints; `files` does every write and `report` every print.

pub mod ca;
pub mod cli;
pub mod error;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod issuance;
pub mod passphrase;
pub mod pki;
pub mod postgres;
pub mod report;
pub mod users;
