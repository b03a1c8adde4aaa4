//! The client examples of docs/clients.md against a real server: psycopg 3, asyncpg,
//! node-postgres, tokio-postgres with rustls, and Go's pgx, each connecting from the libpq environment variables with verify-full and a client
//! certificate, and failing with the driver's own error on a wrong host name.

use crate::support::{PgServer, Sandbox, postgres_available, require};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/clients");

fn example(sb: &Sandbox, pg: &PgServer, cmd: &[String], host: &str) -> (bool, String) {
    let out = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
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
fn client_examples_connect_with_verify_full_and_a_certificate() {
    if !postgres_available() || !require("python3") || !require("node") || !require("go") {
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
    let mut examples: Vec<Vec<String>> = [
        ("python3", "psycopg3_example.py"),
        ("python3", "asyncpg_example.py"),
        ("node", "node-postgres.js"),
    ]
    .iter()
    .map(|(prog, script)| vec![prog.to_string(), format!("{DIR}/{script}")])
    .collect();
    examples.push(vec![build_tokio_postgres_example(&sb)]);
    examples.push(vec![build_go_example(&sb)]);
    for cmd in &examples {
        let script = cmd.last().unwrap();
        let (ok, out) = example(&sb, &pg, cmd, "localhost");
        assert!(
            ok && out.contains("connected as alice, ssl=") && out.contains("TLSv1."),
            "{script}: {out}"
        );
        // the certificate names localhost, not 127.0.0.1: each driver refuses, in its words
        let (ok, out) = example(&sb, &pg, cmd, "127.0.0.1");
        assert!(!ok, "{script} must refuse a wrong host name: {out}");
        assert!(
            out.contains("does not match host name")
                || out.contains("Hostname/IP does not match")
                || out.contains("CERTIFICATE_VERIFY_FAILED")
                || out.contains("certificate not valid for name")
                || out.contains("cannot validate certificate for 127.0.0.1"),
            "{script}: {out}"
        );
    }
}

/// Builds examples/clients/tokio-postgres (its own Cargo package and lock file, so pgcert's
/// build does not carry tokio) and returns the binary.
fn build_tokio_postgres_example(sb: &Sandbox) -> String {
    let target = sb.path("tokio-target");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--locked", "--manifest-path"])
        .arg(format!("{DIR}/tokio-postgres/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success(), "building the tokio-postgres example");
    target
        .join("debug/pgcert-client-tokio-postgres")
        .display()
        .to_string()
}

/// Builds examples/clients/go/pgx_example.go with Debian's Go and pgx v4, in GOPATH mode.
fn build_go_example(sb: &Sandbox) -> String {
    let bin = sb.path("pgx_example");
    let out = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(format!("{DIR}/go/pgx_example.go"))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", sb.path("gocache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building the pgx example (tests/run.sh installs golang-go and \
         golang-github-jackc-pgx-v4-dev): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin.display().to_string()
}
