//! The client examples of docs/clients.md against a real server: psycopg 3, asyncpg and
//! node-postgres,
//! each connecting from the libpq environment variables with verify-full and a client
//! certificate, and failing with the driver's own error on a wrong host name.

use crate::support::{PgServer, Sandbox, postgres_available, require};

fn example(sb: &Sandbox, pg: &PgServer, prog: &str, script: &str, host: &str) -> (bool, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/clients");
    let out = std::process::Command::new(prog)
        .arg(format!("{dir}/{script}"))
        .env("PGHOST", host)
        .env("PGPORT", pg.port.to_string())
        .env("PGUSER", "alice")
        .env("PGDATABASE", "postgres")
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", sb.path("alice/root.crt"))
        .env("PGSSLCERT", sb.path("alice/postgresql.crt"))
        .env("PGSSLKEY", sb.path("alice/postgresql.key"))
        .env("HOME", sb.path("home"))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn psycopg_and_node_postgres_examples_connect_with_verify_full_and_a_certificate() {
    if !postgres_available() || !require("python3") || !require("node") {
        return;
    }
    let python_ok = std::process::Command::new("python3")
        .args(["-c", "import psycopg, asyncpg"])
        .status()
        .is_ok_and(|s| s.success());
    let node_ok = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/clients/node_modules/pg"
    ))
    .exists();
    if !(python_ok && node_ok) {
        assert!(
            !crate::support::in_ci(),
            "psycopg and node-postgres are installed by tests/run.sh in CI"
        );
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "alice", "--out", "alice",
    ]);
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.conf("ssl_ca_file = 'root.crt'");
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.start();
    pg.sql("create role alice login");
    for (prog, script) in [
        ("python3", "psycopg3_example.py"),
        ("python3", "asyncpg_example.py"),
        ("node", "node-postgres.js"),
    ] {
        let (ok, out) = example(&sb, &pg, prog, script, "localhost");
        assert!(
            ok && out.contains("connected as alice, ssl=") && out.contains("TLSv1."),
            "{script}: {out}"
        );
        // the certificate names localhost, not 127.0.0.1: each driver refuses, in its words
        let (ok, out) = example(&sb, &pg, prog, script, "127.0.0.1");
        assert!(!ok, "{script} must refuse a wrong host name: {out}");
        assert!(
            out.contains("does not match host name")
                || out.contains("Hostname/IP does not match")
                || out.contains("CERTIFICATE_VERIFY_FAILED"),
            "{script}: {out}"
        );
    }
}
