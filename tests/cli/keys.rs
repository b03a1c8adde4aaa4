//! Keys and formats: `key gen|encrypt|decrypt`, encrypted CA keys, `convert`; checked with
//! openssl, keytool and a real PostgreSQL (ssl_passphrase_command).

use crate::support::{PgServer, Sandbox, postgres_available, require, snapshot};

#[test]
fn encrypted_keys_are_read_by_openssl_and_decrypt_round_trips() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    for kt in ["ecdsa-p256", "ed25519", "rsa2048"] {
        let f = format!("{kt}.key");
        let out = sb
            .pgcert_cmd(&[
                "key",
                "gen",
                "--key-type",
                kt,
                "--passout",
                "env:KP",
                "--out",
                &f,
            ])
            .env("KP", "s3cret")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sb.mode(&f), 0o600);
        assert!(
            sb.read(&f)
                .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        );
        sb.openssl_ok(&["pkey", "-in", &f, "-passin", "pass:s3cret", "-noout"]);
        let r = sb.openssl(&["pkey", "-in", &f, "-passin", "pass:wrong", "-noout"]);
        assert!(!r.status.success());
    }
    // decrypt in place keeps the file's place and mode; a wrong passphrase changes nothing
    sb.write("pw", "s3cret\n");
    let before = snapshot(&sb.dir);
    let e = sb.fails(&[
        "key",
        "decrypt",
        "rsa2048.key",
        "--passin",
        "env:NOPE_NOT_SET",
    ]);
    assert!(e.contains("NOPE_NOT_SET"), "{e}");
    sb.write("bad", "nope\n");
    let e = sb.fails(&["key", "decrypt", "rsa2048.key", "--passin", "file:bad"]);
    assert!(
        e.contains("wrong passphrase") && e.contains("rsa2048.key"),
        "{e}"
    );
    let mut after = snapshot(&sb.dir);
    after.remove(std::path::Path::new("bad"));
    assert!(before == after, "nothing changed");
    sb.ok(&["key", "decrypt", "rsa2048.key", "--passin", "file:pw"]);
    assert!(
        sb.read("rsa2048.key")
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert_eq!(sb.mode("rsa2048.key"), 0o600);
    sb.openssl_ok(&["pkey", "-in", "rsa2048.key", "-noout"]);
    // encrypt it again, to a new file, and openssl-made encrypted keys are read too
    sb.ok(&[
        "key",
        "encrypt",
        "rsa2048.key",
        "--passout",
        "file:pw",
        "--out",
        "again.key",
    ]);
    sb.openssl_ok(&[
        "pkey",
        "-in",
        "again.key",
        "-passin",
        "pass:s3cret",
        "-noout",
    ]);
    sb.openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-aes-128-cbc",
        "-pass",
        "pass:s3cret",
        "-out",
        "o.key",
    ]);
    sb.ok(&[
        "key",
        "decrypt",
        "o.key",
        "--passin",
        "file:pw",
        "--out",
        "o-plain.key",
    ]);
    // legacy OpenSSL PEM encryption is named, not mis-read
    sb.openssl_ok(&[
        "genrsa",
        "-traditional",
        "-aes256",
        "-passout",
        "pass:s3cret",
        "-out",
        "legacy.key",
        "2048",
    ]);
    let e = sb.fails(&[
        "key",
        "decrypt",
        "legacy.key",
        "--passin",
        "file:pw",
        "--out",
        "l.key",
    ]);
    assert!(e.contains("legacy") && e.contains("openssl pkey"), "{e}");
}

#[test]
fn encrypted_ca_key_needs_ca_passin() {
    let sb = Sandbox::new();
    let run = |args: &[&str]| sb.pgcert_cmd(args).env("KP", "s3cret").output().unwrap();
    assert!(
        run(&["init-ca", "--ca", "root", "--passout", "env:KP"])
            .status
            .success()
    );
    assert!(
        sb.read("root/private/cakey.pem")
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    let before = snapshot(&sb.dir);
    let e = sb.fails(&["issue", "client", "--ca", "root", "--cn", "a"]);
    assert!(
        e.contains("passphrase-protected") && e.contains("--ca-passin"),
        "{e}"
    );
    let e = sb.fails(&[
        "--ca-passin",
        "pass:wrong",
        "issue",
        "client",
        "--ca",
        "root",
        "--cn",
        "a",
    ]);
    assert!(e.contains("wrong passphrase"), "{e}");
    assert!(before == snapshot(&sb.dir));
    assert!(
        run(&[
            "--ca-passin",
            "env:KP",
            "init-ca",
            "--ca",
            "inter",
            "--parent",
            "root"
        ])
        .status
        .success()
    );
    assert!(
        run(&[
            "--ca-passin",
            "env:KP",
            "issue",
            "client",
            "--ca",
            "inter",
            "--cn",
            "a"
        ])
        .status
        .success()
    );
    assert!(
        run(&["--ca-passin", "env:KP", "crl", "--ca", "inter"])
            .status
            .success()
    );
    // revoking needs no key
    sb.ok(&["revoke", "--ca", "inter", "--cert", "postgresql.crt"]);
}

#[test]
fn convert_writes_pk8_der_pem_and_pkcs12_that_openssl_and_keytool_read() {
    if !require("openssl") {
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
        "app",
        "--out",
        "c",
        "--key-type",
        "rsa2048",
    ]);
    sb.ok(&[
        "convert",
        "c/postgresql.key",
        "--to",
        "pk8",
        "--out",
        "k.pk8",
    ]);
    assert_eq!(sb.mode("k.pk8"), 0o600);
    sb.openssl_ok(&[
        "pkcs8",
        "-inform",
        "DER",
        "-nocrypt",
        "-in",
        "k.pk8",
        "-out",
        "/dev/null",
    ]);
    assert_eq!(
        std::fs::read(sb.path("k.pk8")).unwrap(),
        std::fs::read(sb.path("c/postgresql.pk8")).unwrap()
    );
    // DER <-> PEM
    sb.openssl_ok(&[
        "x509",
        "-in",
        "c/postgresql.crt",
        "-outform",
        "DER",
        "-out",
        "leaf.der",
    ]);
    sb.ok(&["convert", "leaf.der", "--to", "pem", "--out", "leaf.pem"]);
    assert_eq!(
        sb.openssl_ok(&["x509", "-in", "leaf.pem", "-noout", "-serial"]),
        sb.openssl_ok(&["x509", "-in", "c/postgresql.crt", "-noout", "-serial"])
    );
    sb.ok(&["convert", "leaf.pem", "--to", "der", "--out", "leaf2.der"]);
    assert_eq!(
        std::fs::read(sb.path("leaf.der")).unwrap(),
        std::fs::read(sb.path("leaf2.der")).unwrap()
    );
    let e = sb.fails(&[
        "convert",
        "c/postgresql.crt",
        "--to",
        "der",
        "--out",
        "two.der",
    ]);
    assert!(e.contains("DER holds one"), "{e}");
    // PKCS#1 for an RSA key
    sb.ok(&[
        "convert",
        "c/postgresql.key",
        "--to",
        "pkcs1",
        "--out",
        "rsa1.key",
    ]);
    assert!(
        sb.read("rsa1.key")
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    sb.openssl_ok(&["rsa", "-in", "rsa1.key", "-check", "-noout"]);
    // PKCS#12 with leaf, intermediate and root
    let out = sb
        .pgcert_cmd(&[
            "convert",
            "c/postgresql.crt",
            "--key",
            "c/postgresql.key",
            "--chain",
            "c/root.crt",
            "--to",
            "p12",
            "--passout",
            "env:P12",
            "--out",
            "app.p12",
        ])
        .env("P12", "changeit")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sb.mode("app.p12"), 0o600);
    let info = sb.openssl(&[
        "pkcs12",
        "-info",
        "-in",
        "app.p12",
        "-passin",
        "pass:changeit",
        "-nodes",
    ]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.status.success()
            && text.matches("BEGIN CERTIFICATE").count() == 3
            && text.contains("BEGIN PRIVATE KEY"),
        "{text}"
    );
    if require("keytool") {
        let k = std::process::Command::new("keytool")
            .args([
                "-list",
                "-v",
                "-storetype",
                "PKCS12",
                "-storepass",
                "changeit",
                "-keystore",
            ])
            .arg(sb.path("app.p12"))
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&k.stdout);
        assert!(
            k.status.success()
                && t.contains("PrivateKeyEntry")
                && t.contains("Certificate chain length: 3"),
            "{t}"
        );
    }
    // a key that does not belong to the certificate
    sb.ok(&["key", "gen", "--out", "other.key"]);
    let e = sb.fails(&[
        "convert",
        "c/postgresql.crt",
        "--key",
        "other.key",
        "--to",
        "p12",
        "--passout",
        "pass:x",
        "--out",
        "bad.p12",
    ]);
    assert!(e.contains("matches the private key"), "{e}");
}

#[test]
fn postgres_loads_an_encrypted_server_key_through_ssl_passphrase_command() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "ca",
        "--cn",
        "localhost",
        "--pgdata",
        &data,
    ]);
    let key = format!("{data}/server.key");
    let out = sb
        .pgcert_cmd(&["key", "encrypt", &key, "--passout", "env:KP"])
        .env("KP", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let owner = std::process::Command::new("stat")
        .args(["-c", "%U %a"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&owner.stdout).trim(),
        "postgres 600",
        "in place keeps the owner"
    );
    pg.conf("ssl = on\nssl_passphrase_command = 'echo s3cret'");
    pg.hba("hostssl all all 127.0.0.1/32 trust");
    pg.start();
    let root = sb.path("ca/root.crt").display().to_string();
    let (ok, out) = pg.psql(
        &format!(
            "host=localhost user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}"
        ),
        &sb.path("home"),
    );
    assert!(ok && out.contains("postgres t"), "{out}");
}

/// `--key-type rsa-pss2048`: RSASSA-PSS keys (id-RSASSA-PSS, as `openssl genpkey -algorithm
/// rsa-pss` writes them) and RSASSA-PSS signatures on certificates, CRLs and CSRs. openssl reads
/// and verifies all of it, pgcert reads openssl's own RSA-PSS keys, and a real PostgreSQL serves
/// an RSA-PSS chain to psql with verify-full and an RSA-PSS client certificate.
#[test]
fn rsa_pss_keys_and_signatures_work_with_openssl_and_postgres() {
    if !crate::support::require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&[
        "init-ca",
        "--ca",
        "root",
        "--cn",
        "PSS root",
        "--key-type",
        "rsa-pss2048",
    ]);
    sb.ok(&[
        "init-ca",
        "--ca",
        "inter",
        "--parent",
        "root",
        "--cn",
        "PSS inter",
        "--key-type",
        "rsa-pss2048",
    ]);
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "localhost",
        "--key-type",
        "rsa-pss2048",
        "--out",
        "srv",
    ]);
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "alice",
        "--key-type",
        "rsa-pss2048",
        "--out",
        "alice",
    ]);
    sb.ok(&["crl", "--ca", "inter", "--out", "crl.pem"]);
    // the key is an RSA-PSS key, the certificates carry RSA-PSS keys and signatures
    let key = sb.openssl_ok(&["asn1parse", "-in", "srv/server.key"]);
    assert!(key.contains(":rsassaPss"), "{key}");
    for cert in ["root/cacert.pem", "inter/cacert.pem", "srv/server.crt"] {
        let text = sb.openssl_ok(&["x509", "-in", cert, "-noout", "-text"]);
        assert!(
            text.contains("Signature Algorithm: rsassaPss"),
            "{cert}: {text}"
        );
        assert!(
            text.contains("Public Key Algorithm: rsassaPss"),
            "{cert}: {text}"
        );
        assert!(text.contains("Hash Algorithm: sha256"), "{cert}: {text}");
    }
    // RSA-PSS keys only sign: no keyEncipherment
    let ku = sb.openssl_ok(&[
        "x509",
        "-in",
        "srv/server.crt",
        "-noout",
        "-ext",
        "keyUsage",
    ]);
    assert!(!ku.contains("Key Encipherment"), "{ku}");
    // openssl verifies the chain with the CRLs
    sb.write(
        "all.pem",
        format!(
            "{}{}",
            sb.read("root/cacert.pem"),
            sb.read("inter/cacert.pem")
        ),
    );
    let v = sb.openssl_ok(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        "all.pem",
        "-CRLfile",
        "crl.pem",
        "-purpose",
        "sslserver",
        "srv/server.crt",
    ]);
    assert!(v.contains("OK"), "{v}");
    let v = sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "root/cacert.pem",
        "-untrusted",
        "inter/cacert.pem",
        "-purpose",
        "sslclient",
        "alice/postgresql.crt",
    ]);
    assert!(v.contains("OK"), "{v}");
    // a CSR signed with RSA-PSS: openssl verifies it, pgcert signs it
    sb.ok(&[
        "req",
        "--cn",
        "db2.example.com",
        "--key-type",
        "rsa-pss2048",
        "--profile",
        "server",
        "--out",
        "r",
    ]);
    let v = sb.openssl(&["req", "-in", "r/db2.example.com.csr", "-noout", "-verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    sb.ok(&[
        "sign",
        "r/db2.example.com.csr",
        "--ca",
        "inter",
        "--profile",
        "server",
    ]);
    // openssl's own RSA-PSS key is read, and pgcert signs a certificate for it
    sb.openssl_ok(&[
        "genpkey",
        "-algorithm",
        "rsa-pss",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "o.key",
    ]);
    let shown = String::from_utf8_lossy(&sb.ok(&["show", "o.key"]).stdout).into_owned();
    assert!(shown.contains("RSA-PSS 2048"), "{shown}");
    sb.ok(&[
        "req",
        "--key",
        "o.key",
        "--cn",
        "o.example.com",
        "--profile",
        "server",
        "--out",
        "o",
    ]);
    sb.ok(&[
        "sign",
        "o/o.example.com.csr",
        "--ca",
        "inter",
        "--profile",
        "server",
    ]);
    let v = sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "root/cacert.pem",
        "-untrusted",
        "inter/cacert.pem",
        "o.example.com.crt",
    ]);
    assert!(v.contains("OK"), "{v}");
    if !crate::support::postgres_available() {
        return;
    }
    let mut pg = crate::support::PgServer::init(&sb, "pg");
    for f in ["server.crt", "server.key", "root.crt"] {
        sb.copy(&format!("srv/{f}"), &format!("pg/data/{f}"));
    }
    sb.chown_postgres("pg/data");
    pg.conf("ssl = on\nssl_ca_file = 'root.crt'");
    pg.hba("hostssl all alice 127.0.0.1/32 cert");
    pg.start();
    pg.sql("create role alice login");
    let conn = format!(
        "host=localhost hostaddr=127.0.0.1 user=alice dbname=postgres sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        sb.path("alice/root.crt").display(),
        sb.path("alice/postgresql.crt").display(),
        sb.path("alice/postgresql.key").display()
    );
    let (ok, out) = pg.psql(&conn, &sb.path("home"));
    assert!(ok && out.contains("alice t"), "{out}");
    // pgcert probe offers TLS 1.3's RSA-PSS schemes (rustls's ring has none; OpenSSL signs only
    // with them for this key) and checks the server's handshake signature itself: it completes
    // the handshake, and its verify-full verdict is psql's
    let out = sb.pgcert(&[
        "--json",
        "probe",
        &format!("localhost:{}", pg.port),
        "--root",
        &sb.path("alice/root.crt").display().to_string(),
        "--sslmode",
        "verify-full",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("probe: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{j}");
    assert_eq!(j["protocol"], "TLSv1.3", "{j}");
    assert_eq!(j["chain"].as_array().map(Vec::len), Some(2), "{j}");
    // presenting an RSA-PSS client key is beyond rustls's ring provider: one clear error
    let out = sb.pgcert(&[
        "probe",
        &format!("localhost:{}", pg.port),
        "--root",
        &sb.path("alice/root.crt").display().to_string(),
        "--cert",
        &sb.path("alice/postgresql.crt").display().to_string(),
        "--key",
        &sb.path("alice/postgresql.key").display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("RSA-PSS"), "{err}");
}
