//! `pgcert check`: it predicts what a real PostgreSQL and libpq refuse.

use crate::support::{PgServer, Sandbox, json, postgres_available};

fn check(sb: &Sandbox, args: &[&str]) -> (bool, serde_json::Value) {
    let mut a = vec!["--json", "check"];
    a.extend_from_slice(args);
    let out = sb.pgcert(&a);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), json(&out))
}

fn has(j: &serde_json::Value, level: &str, text: &str) -> bool {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["level"] == level && f["message"].as_str().unwrap().contains(text))
}

#[test]
fn check_and_postgres_agree_on_the_server_key_mode() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "localhost",
        "--pgdata",
        &data,
    ]);
    pg.conf("ssl = on\nssl_ca_file = 'root.crt'");
    pg.hba("hostssl all all 127.0.0.1/32 trust");
    let key = pg.data.join("server.key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    // pgcert says no...
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(!ok && has(&j, "error", "group or world access"), "{j}");
    // ...and so does PostgreSQL
    let log = pg
        .try_start()
        .expect_err("PostgreSQL must refuse a 0644 key");
    assert!(log.contains("has group or world access"), "{log}");
    // both accept 0600
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(ok, "{j}");
    assert!(has(&j, "ok", "first certificate"), "{j}");
    pg.start();
    let (ok, out) = pg.psql(
        &format!(
            "host=localhost user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
            sb.path("root/root.crt").display()
        ),
        &sb.path("home"),
    );
    assert!(ok, "{out}");
}

#[test]
fn check_finds_order_mismatch_missing_intermediate_expiry_and_crl_gaps() {
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "localhost",
        "--out",
        "s",
    ]);
    let leaf_and_inter = sb.read("s/server.crt");
    let mut blocks: Vec<String> = leaf_and_inter
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(str::to_string)
        .collect();
    assert_eq!(blocks.len(), 2);
    // wrong order
    blocks.reverse();
    sb.write("wrong.crt", blocks.concat());
    let (ok, j) = check(&sb, &["--cert", "wrong.crt", "--key", "s/server.key"]);
    assert!(
        !ok && has(&j, "error", "the first certificate must be the key's"),
        "{j}"
    );
    // a key that is not the certificate's
    sb.ok(&["key", "gen", "--out", "other.key"]);
    let (ok, j) = check(&sb, &["--cert", "s/server.crt", "--key", "other.key"]);
    assert!(!ok && has(&j, "error", "does not match private key"), "{j}");
    // a data directory: leaf without its intermediate, root in ssl_ca_file
    std::fs::create_dir_all(sb.path("pd")).unwrap();
    sb.write("pd/PG_VERSION", "15\n");
    sb.write(
        "pd/postgresql.conf",
        "ssl = on\nssl_ca_file = 'root.crt'\nssl_cert_file = 'leaf-only.crt'\n",
    );
    sb.write("pd/leaf-only.crt", &blocks[1]);
    std::fs::copy(sb.path("s/server.key"), sb.path("pd/server.key")).unwrap();
    std::fs::copy(sb.path("s/root.crt"), sb.path("pd/root.crt")).unwrap();
    let (ok, j) = check(&sb, &["--pgdata", &sb.path("pd").display().to_string()]);
    assert!(
        !ok && has(&j, "error", "cannot verify this certificate"),
        "clients given only the root cannot complete a leaf-only chain: {j}"
    );
    // an intermediate CA in ssl_ca_file reveals the missing intermediate
    sb.write(
        "pd/root.crt",
        format!(
            "{}{}",
            sb.read("root/cacert.pem"),
            sb.read("inter/cacert.pem")
        ),
    );
    let (ok, j) = check(&sb, &["--pgdata", &sb.path("pd").display().to_string()]);
    assert!(!ok && has(&j, "error", "missing intermediate"), "{j}");
    // the root inside the certificate file is a note; an intermediate-only CRL is an error
    sb.write("pd/root.crt", sb.read("root/cacert.pem"));
    sb.write(
        "pd/full.crt",
        format!("{}{}", sb.read("s/server.crt"), sb.read("root/cacert.pem")),
    );
    sb.ok(&[
        "crl",
        "--ca",
        "inter",
        "--this-only",
        "--out",
        "pd/inter-only.crl",
    ]);
    sb.write("pd/postgresql.conf", "ssl = on\nssl_ca_file = 'root.crt'\nssl_cert_file = 'full.crt'\nssl_crl_file = 'inter-only.crl'\n");
    let (ok, j) = check(&sb, &["--pgdata", &sb.path("pd").display().to_string()]);
    assert!(has(&j, "note", "includes the root"), "{j}");
    assert!(
        !ok && has(&j, "error", "unable to get certificate CRL"),
        "{j}"
    );
    sb.ok(&["crl", "--ca", "inter", "--out", "pd/all.crl"]);
    sb.write("pd/postgresql.conf", "ssl = on\nssl_ca_file = 'root.crt'\nssl_cert_file = 'full.crt'\nssl_crl_file = 'all.crl'\n");
    let (ok, j) = check(&sb, &["--pgdata", &sb.path("pd").display().to_string()]);
    assert!(ok, "{j}");
    // expired and soon-expiring certificates
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "old",
        "--name",
        "old",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--not-after",
        "2021-01-01T00:00:00Z",
    ]);
    let (ok, j) = check(&sb, &["--cert", "old.crt", "--key", "old.key"]);
    assert!(!ok && has(&j, "error", "expired"), "{j}");
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "soon", "--name", "soon", "--days", "10",
    ]);
    let (ok, j) = check(&sb, &["--cert", "soon.crt", "--key", "soon.key"]);
    assert!(ok && has(&j, "warning", "expires in"), "{j}");
}

#[test]
fn check_client_reads_libpq_files_and_environment() {
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "alice",
        "--out",
        "home/.postgresql",
    ]);
    let (ok, j) = check(&sb, &["--client"]);
    assert!(ok && has(&j, "ok", "chains to root.crt"), "{j}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        sb.path("home/.postgresql/postgresql.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let (ok, j) = check(&sb, &["--client"]);
    assert!(!ok && has(&j, "error", "group or world access"), "{j}");
    std::fs::remove_file(sb.path("home/.postgresql/postgresql.key")).unwrap();
    let (ok, j) = check(&sb, &["--client"]);
    assert!(
        !ok && has(&j, "error", "certificate present, but not private key file"),
        "{j}"
    );
    // PGSSLROOTCERT points elsewhere
    let out = sb
        .pgcert_cmd(&["--json", "check", "--client"])
        .env("PGSSLROOTCERT", sb.path("nope.crt"))
        .output()
        .unwrap();
    let j = json(&out);
    assert!(
        has(&j, "warning", "root certificate file does not exist"),
        "{j}"
    );
}

/// check --pgdata predicts the server's and libpq's own refusals, proved against the real
/// thing: a root-owned 0600 key (mode rule fine, but the server cannot read it) and a
/// leaf-only server.crt that clients trusting only the root cannot verify; both accept the
/// corrected files.
#[test]
fn check_predicts_unreadable_keys_and_chains_clients_cannot_complete() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.conf("ssl_ca_file = 'root.crt'");
    let data = pg.data.display().to_string();
    let key = pg.data.join("server.key");
    // a root-owned 0600 key: the key rule allows it, the postgres user cannot open it
    std::os::unix::fs::chown(&key, Some(0), Some(0)).unwrap();
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(!ok && has(&j, "error", "cannot read the file"), "{j}");
    let log = pg
        .try_start()
        .expect_err("PostgreSQL must fail on a key it cannot read");
    assert!(log.contains("Permission denied"), "{log}");
    sb.chown_postgres("pg/data/server.key");
    // a leaf-only server.crt with only the root in ssl_ca_file and in the clients' hands
    let full = std::fs::read_to_string(pg.data.join("server.crt")).unwrap();
    let leaf_only = full
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap()
        .to_string();
    sb.write("pg/data/server.crt", &leaf_only);
    sb.chown_postgres("pg/data/server.crt");
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(
        !ok && has(&j, "error", "cannot verify this certificate"),
        "{j}"
    );
    assert!(
        !j.to_string().contains("intermediate as sslrootcert"),
        "never advise an intermediate as sslrootcert: {j}"
    );
    pg.start();
    let conn = format!(
        "host=localhost user=postgres dbname=postgres sslmode=verify-ca sslrootcert={}",
        sb.path("root/root.crt").display()
    );
    let (ok, out) = pg.psql(&conn, &sb.path("home"));
    assert!(!ok && out.contains("certificate verify failed"), "{out}");
    // the corrected file: both accept
    sb.write("pg/data/server.crt", &full);
    sb.chown_postgres("pg/data/server.crt");
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(ok && has(&j, "ok", "can verify the chain"), "{j}");
    let home = sb.path("home");
    pg.reload_until(|| pg.psql(&conn, &home).0);
    let (ok, out) = pg.psql(&conn, &home);
    assert!(ok, "{out}");
}

/// check --client --as USER judges the key as the user who will connect: a root-owned 0600
/// key passes libpq's mode rule for root but another user cannot open it.
#[test]
fn check_client_judges_readability_as_the_connecting_user() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "postgres", "--out", "c",
    ]);
    std::os::unix::fs::chown(sb.path("c"), Some(0), Some(0)).unwrap();
    let dir = sb.path("c").display().to_string();
    let (ok, j) = check(&sb, &["--client", &dir]);
    assert!(ok, "root reads its own files: {j}");
    let (ok, j) = check(&sb, &["--client", &dir, "--as", "postgres"]);
    assert!(!ok && has(&j, "error", "cannot read the file"), "{j}");
    // what libpq run as postgres says about the same files, against a real server
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.start();
    let out = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--", "psql"])
        .arg(format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=require sslcert={dir}/postgresql.crt sslkey={dir}/postgresql.key",
            pg.port
        ))
        .args(["-c", "select 1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("could not load private key file"),
        "{text}"
    );
    let out = sb.pgcert(&["check", "--client", &dir, "--as", "nosuchuser-pgcert"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));
}

/// With CRLs configured, check predicts the server's refusal of every client certificate when a
/// CA of the chain has no CRL or its CRL has expired, warns when one expires within a week, and
/// accepts the corrected file; each verdict is compared with what PostgreSQL does to a real
/// client certificate.
#[test]
fn check_predicts_crl_refusals_as_the_server_gives_them() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "postgres",
        "--out",
        "home/.postgresql",
    ]);
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.conf("ssl_ca_file = 'root.crt'\nssl_crl_file = 'crl.pem'");
    let data = pg.data.display().to_string();
    let home = sb.path("home");
    let conn = "host=localhost user=postgres dbname=postgres sslmode=verify-full";
    let install = |crl: &str| {
        sb.write("pg/data/crl.pem", crl);
        sb.chown_postgres("pg/data/crl.pem");
    };
    // only the intermediate's CRL: the root's is missing
    sb.ok(&["crl", "--ca", "inter", "--this-only", "--out", "inter.crl"]);
    install(&sb.read("inter.crl"));
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(!ok && has(&j, "error", "no CRL for"), "{j}");
    pg.start();
    let (ok, out) = pg.psql(conn, &home);
    // OpenSSL's "unable to get certificate CRL" reaches the client as an unknown-CA alert
    assert!(
        !ok && out.contains("alert unknown ca"),
        "PostgreSQL refuses a client whose root has no CRL: {out}"
    );
    // the whole chain's CRLs, one of them expired (openssl ca dates it in the past)
    sb.ok(&["crl", "--ca", "root", "--this-only", "--out", "root.crl"]);
    sb.openssl_ok(&[
        "ca",
        "-config",
        "inter/openssl.cnf",
        "-gencrl",
        "-crl_lastupdate",
        "20200101000000Z",
        "-crl_nextupdate",
        "20200201000000Z",
        "-out",
        "expired.crl",
    ]);
    install(&format!(
        "{}{}",
        sb.read("expired.crl"),
        sb.read("root.crl")
    ));
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(!ok && has(&j, "error", "expired on"), "{j}");
    pg.reload_until(|| {
        std::fs::read_to_string(&pg.log)
            .unwrap()
            .contains("reloading")
    });
    let (ok, out) = pg.psql(conn, &home);
    // "CRL has expired" reaches the client as a certificate-expired alert
    assert!(
        !ok && out.contains("alert certificate expired"),
        "PostgreSQL refuses clients under an expired CRL: {out}"
    );
    // a CRL expiring in three days: a warning, and the server accepts the client
    sb.ok(&["crl", "--ca", "inter", "--days", "3", "--out", "soon.crl"]);
    install(&sb.read("soon.crl"));
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(ok && has(&j, "warning", "expires on"), "{j}");
    pg.reload_until(|| pg.psql(conn, &home).0);
    // the corrected file: no finding about CRLs, and the server accepts
    sb.ok(&["crl", "--ca", "inter", "--out", "month.crl"]);
    install(&sb.read("month.crl"));
    let (ok, j) = check(&sb, &["--pgdata", &data]);
    assert!(ok && !has(&j, "warning", "CRL"), "{j}");
    pg.reload_until(|| true);
    let (ok, out) = pg.psql(conn, &home);
    assert!(ok && out.contains("postgres t"), "{out}");
}
