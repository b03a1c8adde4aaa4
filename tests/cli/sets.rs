//! Sets for the pieces around the database: streaming replication (and, later, pgBouncer and
//! Kubernetes), each tested with real servers on 127.0.0.1.

use crate::support::{PgServer, Sandbox, json, postgres_available};

fn snippet(j: &serde_json::Value, title_starts: &str) -> Vec<String> {
    j["snippets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"].as_str().unwrap().starts_with(title_starts))
        .unwrap_or_else(|| panic!("no snippet {title_starts:?} in {j}"))["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

fn as_postgres(cmd: &str) -> std::process::Output {
    std::process::Command::new("runuser")
        .args(["-u", "postgres", "--", "sh", "-c", cmd])
        .output()
        .unwrap()
}

/// `issue replication`: the printed lines, applied as printed, make a standby with
/// `pg_basebackup -R` that streams over verify-full with cert authentication; once the
/// replication certificate is revoked (the primary's CRL), the primary refuses it.
#[test]
fn replication_set_streams_over_verify_full_and_revocation_stops_it() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let mut primary = PgServer::serving(&sb, "primary", "inter", &[]);
    let data = primary.data.display().to_string();
    primary.conf("ssl_ca_file = 'root.crt'\nssl_crl_file = 'root+pg.crl'");
    sb.ok(&["crl", "--ca", "inter", "--pgdata", &data]);
    primary.start();
    let port = primary.port.to_string();
    let standby_dir = sb.path("standby/data").display().to_string();
    let mut standby = PgServer::prepared(&sb, "standby");
    let out = sb.ok(&[
        "--json",
        "issue",
        "replication",
        "--ca",
        "inter",
        "--user",
        "replicator",
        "--pgdata",
        &data,
        "--port",
        &port,
        "--standby-out",
        "repl",
        "--standby-pgdata",
        &standby_dir,
    ]);
    let j = json(&out);
    // owned by the server's account (the data directory's owner), the key 0600
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&primary.data).unwrap().uid();
    for f in [
        "repl",
        "repl/postgresql.key",
        "repl/postgresql.crt",
        "repl/root.crt",
    ] {
        assert_eq!(std::fs::metadata(sb.path(f)).unwrap().uid(), owner, "{f}");
    }
    assert_eq!(sb.mode("repl/postgresql.key"), 0o600);
    let hba = snippet(&j, "pg_hba.conf");
    assert_eq!(hba, vec!["hostssl replication replicator all cert"]);
    primary.hba(&hba.join("\n"));
    for sql in snippet(&j, "SQL") {
        primary.sql(&sql);
    }
    primary.sql("select pg_reload_conf()");
    let basebackup = snippet(&j, "make the standby").remove(0);
    assert!(basebackup.contains("sslmode=verify-full"), "{basebackup}");
    let out = as_postgres(&basebackup);
    assert!(
        out.status.success(),
        "{basebackup}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let auto = std::fs::read_to_string(standby.data.join("postgresql.auto.conf")).unwrap();
    assert!(
        auto.contains("sslmode=''verify-full''") && auto.contains("sslcert="),
        "{auto}"
    );
    standby.start();
    let mut streaming = String::new();
    for _ in 0..100 {
        streaming = standby.query("select status from pg_stat_wal_receiver");
        if streaming == "streaming" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(streaming, "streaming");
    let seen = primary.query(
        "select s.ssl, s.client_dn from pg_stat_replication r join pg_stat_ssl s using (pid)",
    );
    assert_eq!(seen, "t|/CN=replicator");
    // revoked at the primary: a new standby with that certificate is refused
    sb.ok(&["revoke", "--ca", "inter", "--cert", "repl/postgresql.crt"]);
    sb.ok(&["crl", "--ca", "inter", "--pgdata", &data, "--reload"]);
    let again = basebackup.replace(&standby_dir, &sb.path("standby2").display().to_string());
    let out = as_postgres(&again);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("revoked"), "{err}");
}
