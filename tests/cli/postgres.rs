//! A real PostgreSQL 15 server (run as `postgres`, 127.0.0.1 only) with pgcert's files, and
//! real psql (libpq) connecting with sslmode=verify-full and client certificates.

use crate::support::{PgServer, Sandbox, postgres_available};

fn conn(sb: &Sandbox, extra: &str) -> String {
    format!(
        "dbname=postgres sslmode=verify-full sslrootcert={} {extra}",
        sb.path("client/root.crt").display()
    )
}

#[test]
fn intermediate_chain_serves_verify_full_and_cert_auth() {
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
        "--san",
        "127.0.0.1",
        "--pgdata",
        &data,
    ]);
    // --pgdata hands the files to the data directory's owner
    let owner = std::process::Command::new("stat")
        .args(["-c", "%U %a"])
        .arg(pg.data.join("server.key"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&owner.stdout).trim(),
        "postgres 600"
    );
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "alice", "--out", "client",
    ]);
    pg.conf("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'root.crt'");
    pg.hba("hostssl all alice,bob 127.0.0.1/32 cert\nhostssl all anon 127.0.0.1/32 trust");
    pg.start();
    pg.sql("create role alice login; create role bob login; create role anon login");
    let home = sb.path("home");

    // verify-full with only the root: by name and by IP SAN
    let (ok, out) = pg.psql(&conn(&sb, "host=localhost user=anon"), &home);
    assert!(ok && out.contains("anon t"), "localhost: {out}");
    let (ok, out) = pg.psql(&conn(&sb, "host=127.0.0.1 user=anon"), &home);
    assert!(ok && out.contains("anon t"), "127.0.0.1: {out}");
    // a name not in the certificate is refused by libpq
    let (ok, out) = pg.psql(
        &conn(&sb, "host=wrong.example hostaddr=127.0.0.1 user=anon"),
        &home,
    );
    assert!(
        !ok && out.contains("does not match host name"),
        "wrong host: {out}"
    );
    // pgcert verify --host gives libpq's verdict for each of these names
    let crt = pg.data.join("server.crt").display().to_string();
    let root = sb.path("client/root.crt").display().to_string();
    for (host, libpq_ok) in [
        ("localhost", true),
        ("127.0.0.1", true),
        ("LOCALHOST", true),
        ("wrong.example", false),
    ] {
        let v = sb.pgcert(&[
            "verify",
            &crt,
            "--root",
            &root,
            "--host",
            host,
            "--purpose",
            "server",
        ]);
        assert_eq!(
            v.status.success(),
            libpq_ok,
            "verify --host {host}: {}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
    let (ok, out) = pg.psql(
        &conn(&sb, "host=LOCALHOST hostaddr=127.0.0.1 user=anon"),
        &home,
    );
    assert!(ok, "psql agrees names are case-insensitive: {out}");

    // cert authentication: CN = user is admitted, another user is refused
    let cert = format!(
        "sslcert={} sslkey={}",
        sb.path("client/postgresql.crt").display(),
        sb.path("client/postgresql.key").display()
    );
    let (ok, out) = pg.psql(
        &conn(&sb, &format!("host=localhost user=alice {cert}")),
        &home,
    );
    assert!(
        ok && out.contains("alice t"),
        "alice with her certificate: {out}"
    );
    let (ok, out) = pg.psql(
        &conn(&sb, &format!("host=localhost user=bob {cert}")),
        &home,
    );
    assert!(
        !ok && out.contains("certificate authentication failed"),
        "bob with alice's certificate: {out}"
    );
    // without a certificate the cert rule refuses
    let (ok, _) = pg.psql(&conn(&sb, "host=localhost user=alice"), &home);
    assert!(!ok);

    // libpq's default files: ~/.postgresql written by `issue client --out ~/.postgresql`
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "bob",
        "--out",
        "home/.postgresql",
    ]);
    let (ok, out) = pg.psql(
        "host=localhost user=bob dbname=postgres sslmode=verify-full",
        &home,
    );
    assert!(ok && out.contains("bob t"), "~/.postgresql defaults: {out}");
}

#[test]
fn self_signed_certificate_is_its_own_sslrootcert() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    // RSA here: the key type PostgreSQL's manual uses
    sb.ok(&[
        "self-signed",
        "--cn",
        "localhost",
        "--san",
        "127.0.0.1",
        "--key-type",
        "rsa2048",
        "--out",
        &data,
    ]);
    std::fs::copy(pg.data.join("server.crt"), sb.path("root.crt")).unwrap();
    sb.chown_postgres("pg/data");
    pg.conf("ssl = on");
    pg.hba("hostssl all all 127.0.0.1/32 trust");
    pg.start();
    let root = sb.path("root.crt").display().to_string();
    for host in ["localhost", "127.0.0.1"] {
        let (ok, out) = pg.psql(
            &format!(
                "host={host} user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}"
            ),
            &sb.path("home"),
        );
        assert!(ok && out.contains("postgres t"), "{host}: {out}");
    }
    let (ok, out) = pg.psql(&format!("host=other.example hostaddr=127.0.0.1 user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}"), &sb.path("home"));
    assert!(!ok && out.contains("does not match"), "{out}");
}

#[test]
fn ed25519_and_p384_server_keys_load_in_postgres() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    for kt in ["ed25519", "ecdsa-p384"] {
        let ca = format!("ca-{kt}");
        sb.ok(&["init-ca", "--ca", &ca, "--key-type", kt]);
        let mut pg = PgServer::serving(&sb, &format!("pg-{kt}"), &ca, &["--key-type", kt]);
        pg.start();
        let root = sb.path(&format!("{ca}/root.crt"));
        let (ok, out) = pg.psql(&PgServer::verify_full("localhost", &root), &sb.path("home"));
        assert!(ok && out.contains("postgres t"), "{kt}: {out}");
    }
}

/// The certificate a live server presents, read with `openssl s_client -starttls postgres`.
fn served_serial(sb: &Sandbox, port: u16) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -starttls postgres -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -serial"
        ))
        .current_dir(&sb.dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string()
}

#[test]
fn intermediate_signed_by_an_openssl_root_serves_verify_full() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    // an outside root made by openssl, as a corporate CA would be
    sb.openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-keyout",
        "corp.key",
        "-out",
        "corp.crt",
        "-subj",
        "/O=Corp/CN=Corp Root",
        "-days",
        "60",
    ]);
    sb.ok(&[
        "init-ca",
        "--ca",
        "pgca",
        "--csr-only",
        "--cn",
        "Corp PostgreSQL CA",
    ]);
    sb.write("sub.cnf", "[sub]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
    sb.openssl_ok(&[
        "x509",
        "-req",
        "-in",
        "pgca/careq.pem",
        "-CA",
        "corp.crt",
        "-CAkey",
        "corp.key",
        "-CAcreateserial",
        "-extfile",
        "sub.cnf",
        "-extensions",
        "sub",
        "-days",
        "30",
        "-out",
        "pgca-signed.crt",
    ]);
    sb.ok(&[
        "import-ca",
        "--ca",
        "pgca",
        "--cert",
        "pgca-signed.crt",
        "--chain",
        "corp.crt",
    ]);
    let mut pg = PgServer::serving(&sb, "pg", "pgca", &["--san", "127.0.0.1", "--days", "20"]);
    pg.start();
    let root = sb.path("corp.crt").display().to_string();
    for host in ["localhost", "127.0.0.1"] {
        let (ok, out) = pg.psql(
            &format!(
                "host={host} user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}"
            ),
            &sb.path("home"),
        );
        assert!(ok && out.contains("postgres t"), "{host}: {out}");
    }
}

#[test]
fn renewed_server_certificate_is_served_after_reload() {
    if !postgres_available() || !crate::support::require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    let first = crate::support::json(&sb.ok(&[
        "--json",
        "issue",
        "server",
        "--ca",
        "ca",
        "--cn",
        "localhost",
        "--days",
        "5",
        "--pgdata",
        &data,
    ]));
    pg.conf("ssl = on");
    pg.hba("hostssl all all 127.0.0.1/32 trust");
    pg.start();
    assert_eq!(
        served_serial(&sb, pg.port),
        first["certificates"][0]["serial"].as_str().unwrap()
    );
    let root = sb.path("ca/root.crt").display().to_string();
    let conninfo = format!(
        "host=localhost user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}"
    );
    for (i, extra) in [&[][..], &["--rekey"][..]].iter().enumerate() {
        let mut args = vec!["--json", "--force", "renew", "--ca", "ca", "--cert"];
        let crt = pg.data.join("server.crt").display().to_string();
        args.push(&crt);
        args.extend(["--pgdata", &data, "--days", "30"]);
        args.extend_from_slice(extra);
        let renewed = crate::support::json(&sb.ok(&args));
        let serial = renewed["certificates"][0]["serial"]
            .as_str()
            .unwrap()
            .to_string();
        // the server presents the renewed certificate once the reload is done
        pg.reload_until(|| served_serial(&sb, pg.port) == serial);
        let (ok, out) = pg.psql(&conninfo, &sb.path("home"));
        assert!(ok && out.contains("postgres t"), "renewal {i}: {out}");
    }
    let owner = std::process::Command::new("stat")
        .args(["-c", "%U %a"])
        .arg(pg.data.join("server.key"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&owner.stdout).trim(),
        "postgres 600",
        "rekeyed key handed to postgres"
    );
}

/// Root rotation: a trust bundle of the old and the new root keeps every client working while
/// the server moves to the new chain, and the server's ssl_ca_file with both roots accepts
/// client certificates from either.
#[test]
fn trust_bundle_carries_clients_through_a_root_rotation() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    for era in ["old", "new"] {
        sb.ok(&[
            "init-ca",
            "--ca",
            &format!("{era}-root"),
            "--cn",
            &format!("{era} root"),
        ]);
        sb.ok(&[
            "init-ca",
            "--ca",
            &format!("{era}-pg"),
            "--parent",
            &format!("{era}-root"),
        ]);
        sb.ok(&[
            "issue",
            "client",
            "--ca",
            &format!("{era}-pg"),
            "--cn",
            "postgres",
            "--out",
            &format!("{era}-client"),
        ]);
    }
    sb.ok(&[
        "bundle",
        "--trust",
        "old-root/root.crt",
        "new-root/root.crt",
        "--out",
        "both.crt",
    ]);
    let mut pg = PgServer::serving(&sb, "pg", "old-pg", &["--san", "127.0.0.1"]);
    let data = pg.data.display().to_string();
    std::fs::copy(sb.path("both.crt"), pg.data.join("both.crt")).unwrap();
    pg.conf("ssl_ca_file = 'both.crt'");
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.start();
    let connect = |root: &str, client: &str| {
        pg.psql(
            &format!(
                "{} sslcert={c}/postgresql.crt sslkey={c}/postgresql.key",
                PgServer::verify_full("localhost", &sb.path(root)),
                c = sb.path(client).display()
            ),
            &sb.path("home"),
        )
    };
    // before: the old chain; clients trusting the old root or both connect, with either client cert
    for (root, client) in [
        ("old-root/root.crt", "old-client"),
        ("both.crt", "old-client"),
        ("both.crt", "new-client"),
    ] {
        let (ok, out) = connect(root, client);
        assert!(ok, "before rotation, {root} / {client}: {out}");
    }
    // rotate the server to the new chain
    sb.ok(&[
        "--force",
        "issue",
        "server",
        "--ca",
        "new-pg",
        "--cn",
        "localhost",
        "--pgdata",
        &data,
    ]);
    let new_serial = sb.openssl_ok(&[
        "x509",
        "-in",
        &format!("{data}/server.crt"),
        "-noout",
        "-serial",
    ]);
    pg.reload_until(|| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("openssl s_client -starttls postgres -connect 127.0.0.1:{} </dev/null 2>/dev/null | openssl x509 -noout -serial", pg.port))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout) == new_serial
    });
    // after: the bundle still works; a client that only trusts the old root does not
    for client in ["old-client", "new-client"] {
        let (ok, out) = connect("both.crt", client);
        assert!(ok, "after rotation, both.crt / {client}: {out}");
    }
    let (ok, out) = connect("old-root/root.crt", "new-client");
    assert!(
        !ok && out.contains("certificate verify failed"),
        "only the old root: {out}"
    );
}

/// `clientcert=verify-full` on a non-cert auth method: the client certificate must chain to
/// ssl_ca_file and its CN must be the user, as with `cert`.
#[test]
fn clientcert_verify_full_checks_the_cn_against_the_user() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "alice", "--out", "alice",
    ]);
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    std::fs::copy(sb.path("inter/root.crt"), pg.data.join("root.crt")).unwrap();
    pg.conf("ssl_ca_file = 'root.crt'");
    pg.hba("hostssl all all 127.0.0.1/32 trust clientcert=verify-full");
    pg.start();
    pg.sql("create role alice login; create role bob login");
    let root = sb.path("alice/root.crt");
    let with_cert = |user: &str| {
        format!(
            "{} user={user} sslcert={d}/postgresql.crt sslkey={d}/postgresql.key",
            PgServer::verify_full("localhost", &root).replace(" user=postgres", ""),
            d = sb.path("alice").display()
        )
    };
    let (ok, out) = pg.psql(&with_cert("alice"), &sb.path("home"));
    assert!(ok && out.contains("alice t"), "alice: {out}");
    let (ok, out) = pg.psql(&with_cert("bob"), &sb.path("home"));
    assert!(
        !ok && out.contains("authentication failed for user \"bob\""),
        "bob with alice's certificate: {out}"
    );
    let log = std::fs::read_to_string(&pg.log).unwrap();
    assert!(
        log.contains("certificate validation (clientcert=verify-full) failed for user \"bob\""),
        "{log}"
    );
    let (ok, out) = pg.psql(
        &PgServer::verify_full("localhost", &root).replace("user=postgres", "user=alice"),
        &sb.path("home"),
    );
    assert!(!ok, "no certificate: {out}");
    // pgcert verify --user predicts both verdicts
    sb.ok(&[
        "verify",
        "alice/postgresql.crt",
        "--root",
        "alice/root.crt",
        "--user",
        "alice",
        "--purpose",
        "client",
    ]);
    assert_eq!(
        sb.pgcert(&[
            "verify",
            "alice/postgresql.crt",
            "--root",
            "alice/root.crt",
            "--user",
            "bob"
        ])
        .status
        .code(),
        Some(1)
    );
}
