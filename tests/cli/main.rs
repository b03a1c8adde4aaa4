//! pgcert's integration tests: one binary driving the real pgcert, openssl and PostgreSQL 15.

mod bad_input;
mod ca_database;
mod chains;
mod clients;
mod crash;
mod csr;
mod day_two;
mod differential;
mod doctor;
mod examples;
mod help;
mod inspect;
mod jdbc;
mod keys;
mod lint;
mod mint;
mod postgres;
mod probe;
mod quickstart;
mod revocation;
mod security;
mod sets;
mod support;
