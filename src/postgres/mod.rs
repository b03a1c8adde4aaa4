//! What PostgreSQL and libpq expect: configuration lines for the server and the client.

pub mod check;
pub mod cluster;
pub mod conf;
pub mod probe;
pub mod rules;
pub mod verify;
