//! Connect with tokio-postgres over rustls using the standard libpq environment variables.
//!
//! tokio-postgres reads no environment variables and has no certificate settings of its own:
//! TLS is whatever `MakeTlsConnect` it is given. This example maps the libpq variables:
//! PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY (with the
//! `~/.postgresql/` defaults for the files). Only `verify-full` is offered: rustls always checks
//! the name (SAN only, never the CN), so there is no verify-ca without a custom verifier.
//! Runs one query; on a refused connection prints the driver's error and exits 1.
//!
//!     PGHOST=db.example.com PGUSER=alice PGSSLMODE=verify-full \
//!       cargo run --manifest-path examples/clients/tokio-postgres/Cargo.toml
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::process::ExitCode;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn file(name: &str, default: &str) -> String {
    var(name).unwrap_or_else(|| {
        let home = var("HOME").unwrap_or_else(|| ".".into());
        format!("{home}/.postgresql/{default}")
    })
}

fn tls() -> Result<rustls::ClientConfig, String> {
    let root = file("PGSSLROOTCERT", "root.crt");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&root).map_err(|e| format!("{root}: {e}"))? {
        let cert = cert.map_err(|e| format!("{root}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{root}: {e}"))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    let (crt, key) = (
        file("PGSSLCERT", "postgresql.crt"),
        file("PGSSLKEY", "postgresql.key"),
    );
    if !std::path::Path::new(&crt).exists() {
        return Ok(builder.with_no_client_auth());
    }
    let chain = CertificateDer::pem_file_iter(&crt)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{crt}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("{key}: {e}"))?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{crt}: {e}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let version = "tokio-postgres 0.7 + rustls 0.23";
    let mode = var("PGSSLMODE").unwrap_or_else(|| "verify-full".into());
    if mode != "verify-full" {
        eprintln!("{version}: this example offers only PGSSLMODE=verify-full, not {mode}");
        return ExitCode::FAILURE;
    }
    let config = match tls() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{version}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut pg = tokio_postgres::Config::new();
    pg.host(var("PGHOST").as_deref().unwrap_or("localhost"))
        .port(var("PGPORT").and_then(|p| p.parse().ok()).unwrap_or(5432))
        .user(
            var("PGUSER")
                .or_else(|| var("USER"))
                .as_deref()
                .unwrap_or("postgres"),
        )
        .dbname(
            var("PGDATABASE")
                .or_else(|| var("PGUSER"))
                .as_deref()
                .unwrap_or("postgres"),
        )
        .ssl_mode(tokio_postgres::config::SslMode::Require);
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(config);
    let (client, connection) = match pg.connect(connector).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{version}: {e}: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(connection);
    match client
        .query_one(
            "select current_user::text, ssl, version from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .await
    {
        Ok(row) => {
            let (user, ssl, tls): (String, bool, String) = (row.get(0), row.get(1), row.get(2));
            println!("{version}: connected as {user}, ssl={ssl} ({tls})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{version}: {e}");
            ExitCode::FAILURE
        }
    }
}
