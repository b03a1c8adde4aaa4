//! What PostgreSQL and libpq expect: configuration lines for the server and the client.

pub mod conf;
pub mod rules;
