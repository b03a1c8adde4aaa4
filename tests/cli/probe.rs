//! `pgcert probe` against a real PostgreSQL 15: the chain it sends, the TLS version, and a
//! verify-full verdict that matches psql's.

use crate::support::{PgServer, Sandbox, json, postgres_available};

#[test]
fn probe_shows_the_chain_and_its_verdict_matches_psql() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    // a DNS name only: an IP host must then fail verify-full (libpq: no IP SAN, CN is not the IP)
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.start();
    let root = sb.path("root/root.crt").display().to_string();
    let target = |h: &str| format!("{h}:{}", pg.port);
    let out = sb.pgcert(&[
        "--json",
        "probe",
        &target("localhost"),
        "--root",
        &root,
        "--save",
        "presented.pem",
    ]);
    let j = json(&out);
    assert!(out.status.success(), "{j}");
    assert_eq!(j["ssl"], true);
    assert!(j["protocol"].as_str().unwrap().starts_with("TLSv1."), "{j}");
    let chain = j["chain"].as_array().unwrap();
    assert_eq!(
        chain.len(),
        2,
        "leaf + intermediate, as server.crt holds them"
    );
    assert_eq!(chain[0]["subject"], "/CN=localhost");
    assert!(
        chain[1]["subject"]
            .as_str()
            .unwrap()
            .starts_with("/CN=PostgreSQL Intermediate CA")
    );
    // --save wrote the chain exactly as sent: byte-identical to server.crt
    assert_eq!(
        sb.read("presented.pem"),
        std::fs::read_to_string(pg.data.join("server.crt")).unwrap()
    );
    // verdicts agree with psql for a matching name and for an IP not in the certificate
    for (host, expect) in [("localhost", true), ("127.0.0.1", false)] {
        let p = sb.pgcert(&[
            "probe",
            &target(host),
            "--root",
            &root,
            "--sslmode",
            "verify-full",
        ]);
        let (ok, text) = pg.psql(
            &format!(
                "host={host} user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}"
            ),
            &sb.path("home"),
        );
        assert_eq!(
            p.status.success(),
            expect,
            "probe {host}: {}",
            String::from_utf8_lossy(&p.stderr)
        );
        assert_eq!(ok, expect, "psql {host}: {text}");
        if !expect {
            assert!(
                String::from_utf8_lossy(&p.stderr)
                    .contains("does not match host name \"127.0.0.1\"")
            );
            assert!(text.contains("does not match host name"), "{text}");
        }
    }
    // verify-ca ignores the host, like libpq; require checks nothing
    sb.ok(&[
        "probe",
        &target("127.0.0.1"),
        "--root",
        &root,
        "--sslmode",
        "verify-ca",
    ]);
    sb.ok(&["probe", &target("127.0.0.1")]);
    // the wrong root fails verify-ca
    sb.ok(&["init-ca", "--ca", "other"]);
    let p = sb.pgcert(&[
        "probe",
        &target("localhost"),
        "--root",
        &sb.path("other/root.crt").display().to_string(),
    ]);
    assert_eq!(p.status.code(), Some(1));
}

#[test]
fn probe_says_when_ssl_is_off_or_nothing_listens() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    let mut pg = PgServer::init(&sb, "pg");
    pg.hba("host all all 127.0.0.1/32 trust");
    pg.start();
    let e = sb.fails(&["probe", &format!("127.0.0.1:{}", pg.port)]);
    assert!(e.contains("SSL is off"), "{e}");
    drop(pg);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = sb.fails(&["probe", &format!("127.0.0.1:{port}"), "--timeout", "2"]);
    assert!(e.contains("cannot connect"), "{e}");
}

/// With --cert/--key probe sends the startup message after the handshake, so a client
/// certificate the server refuses (revoked: under TLS 1.3 the alert comes only now) exits 1
/// with the reason, and an accepted one exits 0 naming what the server asked for next.
#[test]
fn probe_reads_the_servers_answer_to_a_client_certificate() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    for who in ["alice", "bob"] {
        sb.ok(&[
            "issue", "client", "--ca", "inter", "--cn", who, "--out", who,
        ]);
    }
    sb.ok(&["revoke", "--ca", "inter", "--cert", "bob/postgresql.crt"]);
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    let crl = pg.data.join("root+inter.crl").display().to_string();
    sb.ok(&["crl", "--ca", "inter", "--out", &crl]);
    sb.chown_postgres("pg/data/root+inter.crl");
    pg.conf("ssl_ca_file = 'root.crt'\nssl_crl_file = 'root+inter.crl'");
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.start();
    pg.sql("CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;");
    let target = format!("127.0.0.1:{}", pg.port);
    let root = sb.path("root/root.crt").display().to_string();
    let run = |who: &str| {
        sb.pgcert(&[
            "probe",
            &target,
            "--root",
            &root,
            "--sslmode",
            "verify-ca",
            "--cert",
            &format!("{who}/postgresql.crt"),
            "--key",
            &format!("{who}/postgresql.key"),
            "--user",
            who,
            "--dbname",
            "postgres",
        ])
    };
    let ok = run("alice");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(text.contains("client certificate accepted"), "{text}");
    let bad = run("bob");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused the client certificate") && err.to_lowercase().contains("revoked"),
        "{err}"
    );
    // psql agrees on both
    let conn = |who: &str| {
        format!(
            "host=127.0.0.1 user={who} dbname=postgres sslmode=verify-ca sslrootcert={root} sslcert={}/{who}/postgresql.crt sslkey={}/{who}/postgresql.key",
            sb.dir.display(),
            sb.dir.display()
        )
    };
    assert!(pg.psql(&conn("alice"), &sb.path("home")).0);
    assert!(!pg.psql(&conn("bob"), &sb.path("home")).0);
}
