#![allow(clippy::disallowed_methods)] // test scaffolding writes config files directly
//! Sets for the pieces around the database: streaming replication, pgBouncer and the
//! Kubernetes export, each tested with real servers on 127.0.0.1.

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

/// A pgBouncer started as the `postgres` user with `ini`, stopped on drop.
struct Bouncer {
    child: std::process::Child,
}

impl Bouncer {
    fn start(sb: &Sandbox, ini: &str, port: u16) -> Bouncer {
        sb.write("bouncer/pgbouncer.ini", ini);
        sb.chown_postgres("bouncer");
        let mut child = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "pgbouncer"])
            .arg(sb.path("bouncer/pgbouncer.ini"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Bouncer { child };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "pgbouncer did not start: {}",
            std::fs::read_to_string(sb.path("bouncer/log")).unwrap_or_default()
        );
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// `issue pgbouncer`: with the printed settings, a client with a certificate connects through a
/// real pgBouncer to PostgreSQL with verify-full and cert authentication on both hops; a wrong
/// host name on either hop is refused.
#[test]
fn pgbouncer_set_secures_both_hops() {
    if !postgres_available() || !crate::support::require("pgbouncer") {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "alice", "--out", "alice",
    ]);
    let j = json(&sb.ok(&[
        "--json",
        "issue",
        "pgbouncer",
        "--ca",
        "inter",
        "--host",
        "localhost",
        "--user",
        "alice",
        "--out",
        "bouncer/tls",
    ]));
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.conf("ssl_ca_file = 'root.crt'");
    let hba = snippet(&j, "pg_hba.conf")
        .join("\n")
        .replace("POOLER_ADDRESS", "127.0.0.1");
    pg.hba(&hba);
    sb.write(
        "pg/data/pg_ident.conf",
        snippet(&j, "pg_ident.conf").join("\n") + "\n",
    );
    sb.chown_postgres("pg/data/pg_ident.conf");
    pg.start();
    pg.sql("create role alice login");
    // the auth_file as printed
    let auth_title = j["snippets"][1]["title"].as_str().unwrap().to_string();
    let auth_path = auth_title.split(' ').next().unwrap().to_string();
    std::fs::write(&auth_path, snippet(&j, &auth_path).join("\n") + "\n").unwrap();
    let port = crate::support::free_port();
    let ini = |backend_host: &str| {
        format!(
            "[databases]\npostgres = host={backend_host} port={} dbname=postgres\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nserver_login_retry = 1\nserver_connect_timeout = 3\nquery_wait_timeout = 2\nunix_socket_dir =\nlogfile = {}\npidfile = {}\n{}\n",
            pg.port,
            sb.path("bouncer/log").display(),
            sb.path("bouncer/pid").display(),
            snippet(&j, "pgbouncer.ini").join("\n")
        )
    };
    let psql = |host: &str| {
        let out = std::process::Command::new("psql")
            .arg("-X")
            .arg(format!(
                "host={host} port={port} user=alice dbname=postgres sslmode=verify-full sslrootcert={} sslcert={} sslkey={} connect_timeout=10",
                sb.path("root/cacert.pem").display(),
                sb.path("alice/postgresql.crt").display(),
                sb.path("alice/postgresql.key").display()
            ))
            .args(["-tAc", "select current_user || ' ' || s.ssl || ' ' || s.client_dn from pg_stat_ssl s where s.pid = pg_backend_pid()"])
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
    };
    {
        let _b = Bouncer::start(&sb, &ini("localhost"), port);
        // both hops: the client verified the pooler (verify-full), the pooler logged in to
        // PostgreSQL over TLS with its own certificate, mapped to alice
        let (ok, out) = psql("localhost");
        assert!(ok && out.trim() == "alice true /CN=pgbouncer", "{out}");
        // a wrong host name on the client hop
        let (ok, out) = psql("127.0.0.1");
        assert!(!ok && out.contains("does not match host name"), "{out}");
    }
    // a wrong host name on the backend hop: the pooler refuses PostgreSQL's certificate
    let _b = Bouncer::start(&sb, &ini("127.0.0.1"), port);
    let (ok, out) = psql("localhost");
    assert!(!ok, "{out}");
    let log = std::fs::read_to_string(sb.path("bouncer/log")).unwrap_or_default();
    assert!(
        log.contains("not present in server certificate"),
        "the pooler refused the backend's certificate: {log}"
    );
}

/// `export k8s --for cnpg`: the manifests parse as YAML with CloudNativePG's kinds, types, keys
/// and reload label; the files decoded from them run a real PostgreSQL, and psql connects with
/// verify-full to every service name in the server certificate (through hostaddr), and the
/// replication certificate logs in as streaming_replica with cert authentication.
#[test]
fn k8s_export_for_cloudnativepg_runs_postgres_from_the_secrets() {
    if !postgres_available() || !crate::support::require("python3") {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "export",
        "k8s",
        "--for",
        "cnpg",
        "--cluster",
        "pg-main",
        "--namespace",
        "db",
        "--ca",
        "inter",
        "--include-ca-key",
        "--out",
        "secrets.yaml",
    ]);
    assert_eq!(sb.mode("secrets.yaml"), 0o600);
    // parsed by a real YAML parser, as JSON
    let docs = sb.yaml_documents("secrets.yaml");
    assert_eq!(docs.len(), 4);
    let secret = |name: &str| {
        docs.iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Secret {name}"))
            .clone()
    };
    let b64 = |d: &serde_json::Value, key: &str| {
        use base64::Engine;
        let s = d["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {d}"));
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
    };
    for (name, kind, keys) in [
        ("pg-main-server-ca", "Opaque", vec!["ca.crt", "ca.key"]),
        (
            "pg-main-server-tls",
            "kubernetes.io/tls",
            vec!["tls.crt", "tls.key"],
        ),
        ("pg-main-client-ca", "Opaque", vec!["ca.crt", "ca.key"]),
        (
            "pg-main-replication",
            "kubernetes.io/tls",
            vec!["tls.crt", "tls.key"],
        ),
    ] {
        let d = secret(name);
        assert_eq!(d["kind"], "Secret");
        assert_eq!(d["type"], kind, "{name}");
        assert_eq!(d["metadata"]["namespace"], "db");
        assert_eq!(d["metadata"]["labels"]["cnpg.io/reload"], "", "{name}");
        let mut have: Vec<&str> = d["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        have.sort();
        assert_eq!(have, keys, "{name}");
    }
    assert!(
        b64(&secret("pg-main-server-ca"), "ca.key").starts_with("-----BEGIN EC PRIVATE KEY-----")
    );
    assert!(
        sb.read("secrets.yaml")
            .contains("serverTLSSecret: \"pg-main-server-tls\"")
    );
    // a PostgreSQL run from the decoded files
    let mut pg = PgServer::init(&sb, "pg");
    let tls = secret("pg-main-server-tls");
    sb.write("pg/data/server.crt", b64(&tls, "tls.crt"));
    sb.write_key("pg/data/server.key", b64(&tls, "tls.key"));
    sb.write(
        "pg/data/client-ca.crt",
        b64(&secret("pg-main-client-ca"), "ca.crt"),
    );
    sb.write("server-ca.crt", b64(&secret("pg-main-server-ca"), "ca.crt"));
    let repl = secret("pg-main-replication");
    sb.write("repl/tls.crt", b64(&repl, "tls.crt"));
    sb.write_key("repl/tls.key", b64(&repl, "tls.key"));
    sb.chown_postgres("pg/data");
    pg.conf("ssl = on\nssl_ca_file = 'client-ca.crt'");
    pg.hba("hostssl all streaming_replica 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust");
    pg.start();
    pg.sql("create role streaming_replica login replication");
    let home = sb.path("home");
    for svc in ["-rw", "-ro", "-r"] {
        for form in ["", ".db", ".db.svc", ".db.svc.cluster.local"] {
            let host = format!("pg-main{svc}{form}");
            let conn = format!(
                "host={host} hostaddr=127.0.0.1 user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
                sb.path("server-ca.crt").display()
            );
            let (ok, out) = pg.psql(&conn, &home);
            assert!(ok, "{host}: {out}");
        }
    }
    let conn = format!(
        "host=pg-main-rw hostaddr=127.0.0.1 user=streaming_replica dbname=postgres sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        sb.path("server-ca.crt").display(),
        sb.path("repl/tls.crt").display(),
        sb.path("repl/tls.key").display()
    );
    let (ok, out) = pg.psql(&conn, &home);
    assert!(ok && out.contains("streaming_replica t"), "{out}");
}

/// `export k8s --for zalando`: one kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt
/// (the table's second operator); openssl verifies the server certificate against ca.crt for
/// the operator's service names.
#[test]
fn k8s_export_for_zalando_is_one_tls_secret_with_the_ca() {
    if !crate::support::require("python3") || !crate::support::require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "export",
        "k8s",
        "--for",
        "zalando",
        "--cluster",
        "acid-main",
        "--namespace",
        "db",
        "--ca",
        "inter",
        "--out",
        "z.yaml",
    ]);
    let docs = sb.yaml_documents("z.yaml");
    let d = &docs[..];
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["type"], "kubernetes.io/tls");
    assert_eq!(d[0]["metadata"]["name"], "acid-main-tls");
    let mut keys: Vec<&str> = d[0]["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
    let decode = |k: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(d[0]["data"][k].as_str().unwrap())
            .unwrap()
    };
    sb.write("tls.crt", decode("tls.crt"));
    sb.write("ca.crt", decode("ca.crt"));
    for host in [
        "acid-main",
        "acid-main-repl.db",
        "acid-main.db.svc.cluster.local",
    ] {
        sb.openssl_ok(&[
            "verify",
            "-CAfile",
            "ca.crt",
            "-untrusted",
            "tls.crt",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            host,
            "tls.crt",
        ]);
    }
    assert!(sb.read("z.yaml").contains("secretName: \"acid-main-tls\""));
}

/// `export k8s` refuses, before recording anything, an --out it cannot write and --json
/// without --out (the manifests would be stdout, not JSON).
#[test]
fn k8s_export_refuses_before_recording_anything() {
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let index = sb.read("inter/index.txt");
    let e = sb.fails(&[
        "export",
        "k8s",
        "--for",
        "cnpg",
        "--cluster",
        "c",
        "--ca",
        "inter",
        "--out",
        "no/dir/x.yaml",
    ]);
    assert!(e.contains("no/dir"), "{e}");
    let e = sb.fails(&[
        "--json",
        "export",
        "k8s",
        "--for",
        "cnpg",
        "--cluster",
        "c",
        "--ca",
        "inter",
    ]);
    assert!(e.contains("--out"), "{e}");
    assert_eq!(sb.read("inter/index.txt"), index, "nothing recorded");
}

/// `export k8s --for pgo` and `--for percona` (Crunchy PGO v5 and its Percona fork): two Opaque
/// Secrets with ca.crt, tls.crt and tls.key and the same ca.crt, named in the spec fragment
/// where each operator reads them. A real PostgreSQL runs from the decoded server Secret with
/// PGO's own settings (ssl_ca_file = ca.crt) and pg_hba lines for `_crunchyrepl`; psql connects
/// with verify-full to every service name, and the replication certificate logs in by `cert`.
#[test]
fn k8s_export_for_pgo_and_percona_runs_postgres_from_the_secrets() {
    if !postgres_available() || !crate::support::require("python3") {
        return;
    }
    for (operator, spec) in [
        (
            "pgo",
            "# spec:\n#   customTLSSecret:\n#     name: \"hippo-tls\"\n#   customReplicationTLSSecret:\n#     name: \"hippo-replication-tls\"\n",
        ),
        (
            "percona",
            "# spec:\n#   secrets:\n#     customTLSSecret:\n#       name: \"hippo-tls\"\n#     customReplicationTLSSecret:\n#       name: \"hippo-replication-tls\"\n",
        ),
    ] {
        let sb = Sandbox::new();
        sb.two_tier_ca();
        sb.ok(&[
            "export",
            "k8s",
            "--for",
            operator,
            "--cluster",
            "hippo",
            "--namespace",
            "pgo",
            "--ca",
            "inter",
            "--out",
            "s.yaml",
        ]);
        assert!(
            sb.read("s.yaml").ends_with(spec),
            "{operator}: {}",
            sb.read("s.yaml")
        );
        let docs = sb.yaml_documents("s.yaml");
        assert_eq!(docs.len(), 2, "{operator}");
        let decode = |name: &str, key: &str| {
            use base64::Engine;
            let d = docs
                .iter()
                .find(|d| d["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{operator}: no Secret {name}"));
            assert_eq!(d["kind"], "Secret");
            assert_eq!(d["type"], "Opaque", "{operator} {name}");
            assert_eq!(d["metadata"]["namespace"], "pgo");
            let mut keys: Vec<&str> = d["data"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort();
            assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"], "{operator} {name}");
            base64::engine::general_purpose::STANDARD
                .decode(d["data"][key].as_str().unwrap())
                .unwrap()
        };
        assert_eq!(
            decode("hippo-tls", "ca.crt"),
            decode("hippo-replication-tls", "ca.crt"),
            "{operator}: both Secrets must carry the same ca.crt"
        );
        // PGO mounts the server Secret at /pgconf/tls and points PostgreSQL at its files
        let mut pg = PgServer::init(&sb, "pg");
        for f in ["ca.crt", "tls.crt"] {
            sb.write(&format!("pg/data/{f}"), decode("hippo-tls", f));
        }
        sb.write_key("pg/data/tls.key", decode("hippo-tls", "tls.key"));
        sb.write("repl/tls.crt", decode("hippo-replication-tls", "tls.crt"));
        sb.write_key("repl/tls.key", decode("hippo-replication-tls", "tls.key"));
        // PGO: the server certificate's CN is the primary Service's name
        let subject = sb.openssl_ok(&["x509", "-noout", "-subject", "-in", "pg/data/tls.crt"]);
        assert!(
            subject.contains("CN = hippo-primary"),
            "{operator}: {subject}"
        );
        let subject = sb.openssl_ok(&["x509", "-noout", "-subject", "-in", "repl/tls.crt"]);
        assert!(
            subject.contains("CN = _crunchyrepl"),
            "{operator}: {subject}"
        );
        sb.chown_postgres("pg/data");
        pg.conf(
            "ssl = on\nssl_ca_file = 'ca.crt'\nssl_cert_file = 'tls.crt'\nssl_key_file = 'tls.key'",
        );
        pg.hba("hostssl replication \"_crunchyrepl\" all cert\nhostssl \"postgres\" \"_crunchyrepl\" all cert\nhost all \"_crunchyrepl\" all reject\nhostssl all all 127.0.0.1/32 trust");
        pg.start();
        pg.sql("create role _crunchyrepl login replication");
        let home = sb.path("home");
        let ca = sb.path("pg/data/ca.crt");
        for svc in ["-primary", "-replicas"] {
            for form in ["", ".pgo", ".pgo.svc", ".pgo.svc.cluster.local"] {
                let host = format!("hippo{svc}{form}");
                let conn = format!(
                    "host={host} hostaddr=127.0.0.1 user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
                    ca.display()
                );
                let (ok, out) = pg.psql(&conn, &home);
                assert!(ok, "{operator} {host}: {out}");
            }
        }
        let conn = format!(
            "host=hippo-primary hostaddr=127.0.0.1 user=_crunchyrepl dbname=postgres sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
            ca.display(),
            sb.path("repl/tls.crt").display(),
            sb.path("repl/tls.key").display()
        );
        let (ok, out) = pg.psql(&conn, &home);
        assert!(ok && out.contains("_crunchyrepl t"), "{operator}: {out}");
    }
}
