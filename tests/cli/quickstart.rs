//! `pgcert quickstart`: the file tree it writes, and its printed settings pasted as they are
//! into a fresh PostgreSQL 15 cluster.

use crate::support::{PgServer, Sandbox, append, json, postgres_available, require};

#[test]
fn quickstart_writes_a_verified_tree_with_crls_for_every_ca() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let out = sb.ok(&[
        "--json",
        "quickstart",
        "--out",
        "qs",
        "--user",
        "app",
        "--host",
        "db.example.com",
        "--host",
        "10.0.0.5",
    ]);
    let j = json(&out);
    assert_eq!(j["certificates"].as_array().unwrap().len(), 4);
    assert!(
        j["settings"]["psql"]
            .as_str()
            .unwrap()
            .contains("sslmode=verify-full")
    );
    for (f, mode) in [
        ("qs/server/server.key", 0o600),
        ("qs/server/server.crt", 0o644),
        ("qs/server/root.crt", 0o644),
        ("qs/server/crl.pem", 0o644),
        ("qs/client/postgresql.key", 0o600),
        ("qs/client/postgresql.pk8", 0o600),
        ("qs/client/postgresql.crt", 0o644),
        ("qs/root-ca/private/cakey.pem", 0o600),
        ("qs/intermediate-ca/private/cakey.pem", 0o600),
    ] {
        assert_eq!(sb.mode(f), mode, "{f}");
    }
    let t = sb.openssl_ok(&["x509", "-in", "qs/server/server.crt", "-noout", "-text"]);
    assert!(t.contains("DNS:db.example.com, IP Address:10.0.0.5"), "{t}");
    let c = sb.openssl_ok(&[
        "x509",
        "-in",
        "qs/client/postgresql.crt",
        "-noout",
        "-subject",
    ]);
    assert_eq!(c.trim(), "subject=CN = app");
    // CRL_CHECK_ALL as PostgreSQL does it: the CRL file covers every CA of the chain
    for (cert, purpose) in [
        ("qs/server/server.crt", "sslserver"),
        ("qs/client/postgresql.crt", "sslclient"),
    ] {
        let v = sb.openssl_ok(&[
            "verify",
            "-crl_check_all",
            "-CRLfile",
            "qs/server/crl.pem",
            "-purpose",
            purpose,
            "-CAfile",
            "qs/server/root.crt",
            "-untrusted",
            cert,
            cert,
        ]);
        assert!(v.contains("OK"), "{v}");
    }
}

#[test]
fn quickstart_settings_work_when_pasted_into_a_fresh_cluster() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    let port = pg.port.to_string();
    let out = sb.ok(&[
        "quickstart",
        "--out",
        "qs",
        "--pgdata",
        &data,
        "--user",
        "postgres",
        "--port",
        &port,
    ]);
    let printed = String::from_utf8(out.stdout).unwrap();
    let section = |title: &str| -> Vec<String> {
        printed
            .split(&format!("# {title}"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {title} section in:\n{printed}"))
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let conf = section("postgresql.conf");
    let hba = section("pg_hba.conf");
    let psql = section("connect");
    assert!(
        conf.iter().any(|l| l.starts_with("ssl_crl_file")),
        "{printed}"
    );
    append(&pg.data.join("postgresql.conf"), &conf.join("\n"));
    pg.hba(&hba.join("\n"));
    pg.start();
    // the psql line exactly as printed, through a shell
    let cmd = format!(
        "{} -X -tAc 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()'",
        psql[0]
    );
    let run = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env("HOME", sb.path("home"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success() && text.contains("postgres|t"),
        "{cmd}\n{text}"
    );
}
