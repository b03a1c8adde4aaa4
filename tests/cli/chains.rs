//! Every chain pgcert makes is accepted by `openssl verify`, and each profile carries the
//! extensions `openssl x509 -text` should show.

use crate::support::{Sandbox, require};

fn text(sb: &Sandbox, cert: &str) -> String {
    sb.openssl_ok(&["x509", "-in", cert, "-noout", "-text"])
}

fn verify(sb: &Sandbox, root: &str, untrusted: Option<&str>, purpose: &str, cert: &str) {
    let mut args = vec![
        "verify",
        "-x509_strict",
        "-purpose",
        purpose,
        "-CAfile",
        root,
    ];
    if let Some(u) = untrusted {
        args.extend(["-untrusted", u]);
    }
    args.push(cert);
    let out = sb.openssl_ok(&args);
    assert!(out.contains(": OK"), "{out}");
}

#[test]
fn self_signed_verifies_against_itself_and_has_server_extensions() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["self-signed", "--cn", "db.example.com", "--san", "10.1.2.3"]);
    verify(&sb, "server.crt", None, "sslserver", "server.crt");
    let t = text(&sb, "server.crt");
    assert!(t.contains("DNS:db.example.com, IP Address:10.1.2.3"), "{t}");
    assert!(
        t.contains("CA:FALSE") && t.contains("TLS Web Server Authentication"),
        "{t}"
    );
    assert_eq!(sb.mode("server.key"), 0o600);
    assert_eq!(sb.mode("server.crt"), 0o644);
    sb.openssl_ok(&[
        "x509",
        "-in",
        "server.crt",
        "-noout",
        "-checkhost",
        "db.example.com",
    ]);
}

#[test]
fn root_to_server_and_client_chains_verify() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "root", "--cn", "Chain Root"]);
    sb.ok(&[
        "--ca",
        "root",
        "issue",
        "server",
        "--cn",
        "localhost",
        "--out",
        "srv",
    ]);
    sb.ok(&[
        "--ca", "root", "issue", "client", "--cn", "alice", "--out", "cli",
    ]);
    verify(&sb, "root/cacert.pem", None, "sslserver", "srv/server.crt");
    verify(&sb, "srv/root.crt", None, "sslserver", "srv/server.crt");
    verify(&sb, "cli/root.crt", None, "sslclient", "cli/postgresql.crt");
    let client = text(&sb, "cli/postgresql.crt");
    assert!(
        client.contains("TLS Web Client Authentication") && client.contains("CA:FALSE"),
        "{client}"
    );
    assert!(
        client.contains("Subject: CN = alice") && !client.contains("Subject Alternative Name"),
        "{client}"
    );
    assert!(!client.contains("TLS Web Server Authentication"));
    // a root CA's leaves carry no chain: server.crt holds exactly the leaf
    assert_eq!(
        sb.read("srv/server.crt")
            .matches("BEGIN CERTIFICATE")
            .count(),
        1
    );
}

#[test]
fn root_intermediate_leaf_chains_verify_for_every_key_type() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa2048"] {
        let root = format!("{kt}-root");
        let inter = format!("{kt}-inter");
        sb.ok(&["init-ca", "--ca", &root, "--key-type", kt]);
        sb.ok(&[
            "init-ca",
            "--ca",
            &inter,
            "--parent",
            &root,
            "--key-type",
            kt,
        ]);
        sb.ok(&[
            "--ca",
            &inter,
            "issue",
            "server",
            "--cn",
            "localhost",
            "--san",
            "127.0.0.1",
            "--key-type",
            kt,
            "--out",
            &format!("{kt}-srv"),
        ]);
        sb.ok(&[
            "--ca",
            &inter,
            "issue",
            "client",
            "--cn",
            "postgres",
            "--key-type",
            kt,
            "--out",
            &format!("{kt}-cli"),
        ]);
        let srv = format!("{kt}-srv/server.crt");
        let cli = format!("{kt}-cli/postgresql.crt");
        // server.crt = leaf + intermediate; the bundle itself serves as -untrusted
        verify(
            &sb,
            &format!("{root}/cacert.pem"),
            Some(&srv),
            "sslserver",
            &srv,
        );
        verify(
            &sb,
            &format!("{root}/cacert.pem"),
            Some(&format!("{inter}/chain.pem")),
            "sslclient",
            &cli,
        );
        let pem = sb.read(&srv);
        assert_eq!(
            pem.matches("BEGIN CERTIFICATE").count(),
            2,
            "leaf + intermediate, no root"
        );
        // the key matches the first certificate (what PostgreSQL checks at start)
        let key_pub = sb.openssl_ok(&["pkey", "-in", &format!("{kt}-srv/server.key"), "-pubout"]);
        let cert_pub = sb.openssl_ok(&["x509", "-in", &srv, "-noout", "-pubkey"]);
        assert_eq!(key_pub, cert_pub, "{kt}");
        // the DER PKCS#8 for PgJDBC is readable
        sb.openssl_ok(&[
            "pkcs8",
            "-inform",
            "DER",
            "-nocrypt",
            "-in",
            &format!("{kt}-cli/postgresql.pk8"),
        ]);
    }
}

#[test]
fn rsa_leaf_gets_key_encipherment_and_ec_leaf_does_not() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "ca",
        "--cn",
        "rsa.example",
        "--key-type",
        "rsa:2048",
        "--out",
        "rsa",
    ]);
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "ca",
        "--cn",
        "ec.example",
        "--out",
        "ec",
    ]);
    assert!(text(&sb, "rsa/server.crt").contains("Digital Signature, Key Encipherment"));
    let ec = text(&sb, "ec/server.crt");
    assert!(
        ec.contains("Digital Signature") && !ec.contains("Key Encipherment"),
        "{ec}"
    );
    assert!(text(&sb, "rsa/server.crt").contains("Public-Key: (2048 bit)"));
}

#[test]
fn ca_profiles_have_v3_ca_extensions_and_pathlen() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&[
        "init-ca",
        "--ca",
        "root",
        "--subj",
        "/C=JP/O=Example/CN=Example Root",
        "--pathlen",
        "1",
    ]);
    sb.ok(&["init-ca", "--ca", "inter", "--parent", "root"]);
    let root = text(&sb, "root/cacert.pem");
    assert!(
        root.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:1"),
        "{root}"
    );
    assert!(
        root.contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"),
        "{root}"
    );
    assert!(root.contains("Subject Key Identifier") && root.contains("Authority Key Identifier"));
    assert!(
        root.contains("Subject: C = JP, O = Example, CN = Example Root"),
        "{root}"
    );
    let inter = text(&sb, "inter/cacert.pem");
    assert!(inter.contains("CA:TRUE, pathlen:0"), "{inter}");
    // SKI/AKI link the chain like OpenSSL's subjectKeyIdentifier=hash does
    let ski = |t: &str| {
        t.split("Subject Key Identifier:")
            .nth(1)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .to_string()
    };
    let aki = |t: &str| {
        t.split("Authority Key Identifier:")
            .nth(1)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(aki(&inter), ski(&root));
    // a pathlen:0 intermediate cannot make another CA
    let e = sb.fails(&["init-ca", "--ca", "sub", "--parent", "inter"]);
    assert!(e.contains("pathlen:0"), "{e}");
}

#[test]
fn validity_flags_set_dates_and_leaf_cannot_outlive_ca() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--days", "30"]);
    // an explicit lifetime beyond the CA's is refused...
    let e = sb.fails(&[
        "issue", "client", "--ca", "ca", "--cn", "bob", "--days", "365",
    ]);
    assert!(
        e.contains("after its issuer") && e.contains("--allow-outlive-issuer"),
        "{e}"
    );
    assert!(!sb.exists("postgresql.key") && !sb.exists("postgresql.crt"));
    // ...the profile's default (365 days) is cut at the CA's notAfter
    sb.ok(&[
        "issue", "client", "--ca", "ca", "--cn", "bob", "--name", "capped",
    ]);
    let ca_end = sb.openssl_ok(&["x509", "-in", "ca/cacert.pem", "-noout", "-enddate"]);
    assert_eq!(
        sb.openssl_ok(&["x509", "-in", "capped.crt", "-noout", "-enddate"]),
        ca_end
    );
    sb.ok(&[
        "issue", "client", "--ca", "ca", "--cn", "bob", "--days", "10",
    ]);
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "ca",
        "--cn",
        "old",
        "--name",
        "old",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--not-after",
        "2021-01-01T00:00:00Z",
    ]);
    let t = sb.openssl_ok(&["x509", "-in", "old.crt", "-noout", "-dates"]);
    assert!(
        t.contains("notBefore=Jan  1 00:00:00 2020 GMT")
            && t.contains("notAfter=Jan  1 00:00:00 2021 GMT"),
        "{t}"
    );
    let out = sb.openssl(&["verify", "-CAfile", "ca/cacert.pem", "old.crt"]);
    assert!(
        !out.status.success(),
        "an expired certificate must not verify"
    );
    // --force only replaces files: it does not let a certificate outlive the CA...
    let e = sb.fails(&[
        "--force", "issue", "client", "--ca", "ca", "--cn", "long", "--name", "long", "--days",
        "400",
    ]);
    assert!(e.contains("after its issuer"), "{e}");
    // ...--allow-outlive-issuer does
    sb.ok(&[
        "--allow-outlive-issuer",
        "issue",
        "client",
        "--ca",
        "ca",
        "--cn",
        "long",
        "--name",
        "long",
        "--days",
        "400",
    ]);
}

#[test]
fn bundle_orders_a_shuffled_chain_and_names_a_missing_issuer() {
    if !require("openssl") {
        return;
    }
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
    sb.openssl_ok(&["x509", "-in", "s/server.crt", "-out", "leaf.pem"]);
    sb.ok(&[
        "bundle",
        "root/cacert.pem",
        "leaf.pem",
        "inter/cacert.pem",
        "--out",
        "chain.pem",
    ]);
    assert_eq!(
        sb.read("chain.pem"),
        sb.read("s/server.crt"),
        "leaf then intermediate, no root"
    );
    sb.ok(&[
        "bundle",
        "inter/cacert.pem",
        "root/cacert.pem",
        "leaf.pem",
        "--include-root",
        "--out",
        "full.pem",
    ]);
    assert_eq!(sb.read("full.pem").matches("BEGIN CERTIFICATE").count(), 3);
    let e = sb.fails(&[
        "bundle",
        "leaf.pem",
        "root/cacert.pem",
        "--out",
        "broken.pem",
    ]);
    assert!(
        e.contains("PostgreSQL Intermediate CA"),
        "names the missing issuer: {e}"
    );
    assert!(!sb.exists("broken.pem"));
    // trust bundle of two roots (root rotation)
    sb.ok(&["init-ca", "--ca", "root2"]);
    sb.ok(&[
        "bundle",
        "--trust",
        "root/cacert.pem",
        "root2/cacert.pem",
        "root/root.crt",
        "--out",
        "trust.crt",
    ]);
    assert_eq!(
        sb.read("trust.crt").matches("BEGIN CERTIFICATE").count(),
        2,
        "duplicates dropped"
    );
    let out = sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "trust.crt",
        "-untrusted",
        "inter/cacert.pem",
        "leaf.pem",
    ]);
    assert!(out.contains("OK"));
    let e = sb.fails(&["bundle", "--trust", "inter/cacert.pem", "--out", "t2.crt"]);
    assert!(e.contains("not a self-signed root"), "{e}");
}

/// `--leaf-only` (issue, sign, renew) writes the certificate alone; `bundle --as-given` keeps
/// several CA certificates in the order given (a root and two sibling intermediates, as
/// PostgreSQL's own test suite's CA files hold them) and still refuses what is not one.
#[test]
fn leaf_only_files_and_ca_files_in_a_given_order() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&["init-ca", "--ca", "inter2", "--parent", "root"]);
    let count = |f: &str| sb.read(f).matches("BEGIN CERTIFICATE").count();
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "db",
        "--out",
        "s",
        "--leaf-only",
    ]);
    assert_eq!(count("s/server.crt"), 1);
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "root/cacert.pem",
        "-untrusted",
        "inter/cacert.pem",
        "s/server.crt",
    ]);
    sb.ok(&[
        "--force",
        "renew",
        "--ca",
        "inter",
        "--cert",
        "s/server.crt",
        "--out",
        "s",
        "--leaf-only",
    ]);
    assert_eq!(count("s/server.crt"), 1);
    sb.ok(&["req", "--cn", "alice", "--profile", "client"]);
    sb.ok(&["sign", "alice.csr", "--ca", "inter", "--leaf-only"]);
    assert_eq!(count("alice.crt"), 1);
    // the default still carries the intermediate
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "bob", "--out", "b",
    ]);
    assert_eq!(count("b/postgresql.crt"), 2);
    // a CA file in a given order: root, then the second intermediate, then the first
    sb.ok(&[
        "bundle",
        "--as-given",
        "root/cacert.pem",
        "inter2/cacert.pem",
        "inter/cacert.pem",
        "--out",
        "ca-file.crt",
    ]);
    let subjects: Vec<String> = sb
        .read("ca-file.crt")
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(|block| {
            sb.write("one.pem", block);
            sb.openssl_ok(&["x509", "-in", "one.pem", "-noout", "-subject"])
        })
        .collect();
    let want: Vec<String> = ["root", "inter2", "inter"]
        .iter()
        .map(|d| {
            sb.openssl_ok(&[
                "x509",
                "-in",
                &format!("{d}/cacert.pem"),
                "-noout",
                "-subject",
            ])
        })
        .collect();
    assert_eq!(subjects, want);
    let e = sb.fails(&["bundle", "--as-given", "root/cacert.pem", "alice.csr"]);
    assert!(e.contains("alice.csr"), "{e}");
}
