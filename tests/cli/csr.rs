//! The CSR workflow: `req`, `sign` (CA database and loose files), `init-ca --csr-only` +
//! `import-ca`, `renew`; checked with the real openssl.

use crate::support::{Sandbox, json, require, snapshot};

fn text(sb: &Sandbox, cert: &str) -> String {
    sb.openssl_ok(&["x509", "-in", cert, "-noout", "-text"])
}

#[test]
fn openssl_made_csrs_rsa_ec_p384_and_der_are_signed_and_verify() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "root"]);
    sb.ok(&["init-ca", "--ca", "ca", "--parent", "root"]);
    let variants: [(&str, &[&str]); 3] = [
        ("rsa", &["-newkey", "rsa:2048"]),
        (
            "ec",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        // P-384 key signed with SHA-256: the request rcgen's own CSR parser mis-reads (rcgen#448)
        (
            "p384",
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-sha256",
            ],
        ),
    ];
    for (name, keyopts) in variants {
        let mut args = vec!["req", "-new", "-nodes", "-keyout", "k.key", "-out"];
        let csr = format!("{name}.csr");
        args.push(&csr);
        args.extend_from_slice(keyopts);
        args.extend([
            "-subj",
            "/O=Example/CN=db.example.com",
            "-addext",
            "subjectAltName=DNS:db.example.com,IP:10.0.0.5",
        ]);
        sb.openssl_ok(&args);
        let out = sb.ok(&[
            "--json",
            "sign",
            &csr,
            "--ca",
            "ca",
            "--profile",
            "server",
            "--copy-san",
        ]);
        let j = json(&out);
        assert_eq!(
            j["certificates"][0]["subject"],
            "/O=Example/CN=db.example.com"
        );
        let crt = format!("{name}.crt");
        sb.openssl_ok(&[
            "verify",
            "-CAfile",
            "root.crt",
            "-untrusted",
            &crt,
            "-purpose",
            "sslserver",
            &crt,
        ]);
        let t = text(&sb, &crt);
        assert!(t.contains("DNS:db.example.com, IP Address:10.0.0.5"), "{t}");
        // the public key is the CSR's, byte for byte
        let a = sb.openssl_ok(&["req", "-in", &csr, "-noout", "-pubkey"]);
        let b = sb.openssl_ok(&["x509", "-in", &crt, "-noout", "-pubkey"]);
        assert_eq!(a, b, "{name}");
    }
    // DER CSR, client profile, SANs not copied without --copy-san
    sb.openssl_ec_req(
        "c.key",
        "client.der",
        "/CN=alice",
        &[
            "-outform",
            "DER",
            "-addext",
            "subjectAltName=DNS:alice.example",
        ],
    );
    sb.ok(&[
        "sign",
        "client.der",
        "--ca",
        "ca",
        "--profile",
        "client",
        "--name",
        "alice",
    ]);
    let t = text(&sb, "alice.crt");
    assert!(
        t.contains("TLS Web Client Authentication") && !t.contains("alice.example"),
        "{t}"
    );
    assert_eq!(
        sb.read("ca/index.txt").lines().count(),
        4,
        "every signature is recorded"
    );
}

#[test]
fn pgcert_req_is_signed_by_openssl_x509_and_openssl_ca() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&[
        "req",
        "--cn",
        "db.example.com",
        "--san",
        "db.example.com",
        "--san",
        "10.0.0.5",
    ]);
    assert_eq!(sb.mode("db.example.com.key"), 0o600);
    let v = String::from_utf8_lossy(
        &sb.openssl(&["req", "-in", "db.example.com.csr", "-noout", "-verify"])
            .stderr,
    )
    .into_owned();
    assert!(v.contains("verify OK"), "{v}");
    // openssl x509 -req -CA
    sb.openssl_ec_req(
        "oroot.key",
        "oroot.crt",
        "/CN=Outside Root",
        &["-x509", "-days", "30"],
    );
    sb.openssl_ok(&[
        "x509",
        "-req",
        "-in",
        "db.example.com.csr",
        "-CA",
        "oroot.crt",
        "-CAkey",
        "oroot.key",
        "-CAcreateserial",
        "-copy_extensions",
        "copy",
        "-days",
        "10",
        "-out",
        "x.crt",
    ]);
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "oroot.crt",
        "-verify_hostname",
        "db.example.com",
        "x.crt",
    ]);
    // openssl ca with a pgcert CA's openssl.cnf
    sb.ok(&["init-ca", "--ca", "ca"]);
    sb.openssl_ok(&[
        "ca",
        "-batch",
        "-notext",
        "-config",
        "ca/openssl.cnf",
        "-in",
        "db.example.com.csr",
        "-out",
        "y.crt",
    ]);
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "ca/cacert.pem",
        "-purpose",
        "sslserver",
        "-verify_ip",
        "10.0.0.5",
        "y.crt",
    ]);
    // an existing, encrypted key with --passin
    sb.openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-aes256",
        "-pass",
        "pass:s3cret",
        "-out",
        "enc.key",
    ]);
    let out = sb
        .pgcert_cmd(&[
            "req",
            "--cn",
            "enc",
            "--key",
            "enc.key",
            "--passin",
            "env:KEYPW",
        ])
        .env("KEYPW", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!sb.exists("enc.key.new") && sb.exists("enc.csr"));
    let a = sb.openssl_ok(&["req", "-in", "enc.csr", "-noout", "-pubkey"]);
    let b = sb.openssl_ok(&[
        "pkey",
        "-in",
        "enc.key",
        "-passin",
        "pass:s3cret",
        "-pubout",
    ]);
    assert_eq!(a, b);
    let e = sb.fails(&[
        "req",
        "--cn",
        "enc2",
        "--key",
        "enc.key",
        "--passin",
        "pass:wrong",
    ]);
    assert!(
        e.contains("wrong passphrase") && e.contains("--passin"),
        "{e}"
    );
    assert!(!sb.exists("enc2.csr"));
    let e = sb.fails(&["req", "--cn", "enc3", "--key", "enc.key"]);
    assert!(
        e.contains("passphrase-protected") && e.contains("--passin"),
        "{e}"
    );
}

#[test]
fn tampered_csr_is_refused_and_nothing_changes() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    sb.ok(&["req", "--cn", "db.example.com"]);
    sb.openssl_ok(&[
        "req",
        "-in",
        "db.example.com.csr",
        "-outform",
        "DER",
        "-out",
        "good.der",
    ]);
    let mut der = std::fs::read(sb.path("good.der")).unwrap();
    let n = der.len();
    der[n - 10] ^= 0x01; // a byte of the signature
    sb.write("tampered.der", &der);
    let before = snapshot(&sb.dir);
    let e = sb.fails(&["sign", "tampered.der", "--ca", "ca"]);
    assert!(
        e.contains("signature does not verify") && e.contains("tampered.der"),
        "{e}"
    );
    assert!(before == snapshot(&sb.dir), "no files, database unchanged");
    // a certificate given where a CSR is expected
    let e = sb.fails(&["sign", "ca/cacert.pem", "--ca", "ca"]);
    assert!(
        e.contains("CERTIFICATE, not a CERTIFICATE REQUEST") && e.contains("pgcert show"),
        "{e}"
    );
    // a weak key is refused before anything is written
    sb.openssl_ok(&[
        "req", "-new", "-nodes", "-newkey", "rsa:1024", "-keyout", "weak.key", "-out", "weak.csr",
        "-subj", "/CN=weak",
    ]);
    let before_weak = snapshot(&sb.dir);
    let e = sb.fails(&["sign", "weak.csr", "--ca", "ca"]);
    assert!(e.contains("1024 bits"), "{e}");
    assert!(before_weak == snapshot(&sb.dir));
    let e = sb.fails(&["sign", "db.example.com.key", "--ca", "ca"]);
    assert!(e.contains("PRIVATE KEY, not a CERTIFICATE REQUEST"), "{e}");
    assert!(before_weak == snapshot(&sb.dir));
}

#[test]
fn csr_asking_to_be_a_ca_gets_the_server_profile() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    sb.openssl_ec_req(
        "e.key",
        "evil.csr",
        "/CN=evil.example",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "extendedKeyUsage=codeSigning",
        ],
    );
    let out = sb.ok(&["sign", "evil.csr", "--ca", "ca", "--profile", "server"]);
    let t = text(&sb, "evil.crt");
    assert!(t.contains("CA:FALSE") && !t.contains("CA:TRUE"), "{t}");
    assert!(
        !t.contains("Certificate Sign") && !t.contains("CRL Sign") && !t.contains("Code Signing"),
        "{t}"
    );
    assert!(t.contains("TLS Web Server Authentication"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("basicConstraints CA:TRUE"),
        "the report says what was ignored"
    );
    // it is a valid server certificate...
    let r = sb.openssl(&[
        "verify",
        "-CAfile",
        "ca/cacert.pem",
        "-untrusted",
        "evil.crt",
        "evil.crt",
    ]);
    assert!(r.status.success());
    // ...that cannot act as a CA: a certificate signed with its key is rejected
    sb.openssl_ec_req("child.key", "child.csr", "/CN=child", &[]);
    sb.openssl_ok(&[
        "x509",
        "-req",
        "-in",
        "child.csr",
        "-CA",
        "evil.crt",
        "-CAkey",
        "e.key",
        "-set_serial",
        "9",
        "-days",
        "1",
        "-out",
        "child.crt",
    ]);
    let v = sb.openssl(&[
        "verify",
        "-CAfile",
        "ca/cacert.pem",
        "-untrusted",
        "evil.crt",
        "child.crt",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        !v.status.success() && text.contains("invalid CA certificate"),
        "{text}"
    );
    let ours = sb.pgcert(&[
        "verify",
        "child.crt",
        "--untrusted",
        "evil.crt",
        "--root",
        "ca/cacert.pem",
    ]);
    assert!(String::from_utf8_lossy(&ours.stderr).contains("is not a CA"));
}

#[test]
fn loose_file_signing_gives_distinct_serials_and_an_srl_openssl_continues() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-keyout",
        "root.key",
        "-out",
        "root.crt",
        "-subj",
        "/CN=Loose Root",
        "-days",
        "30",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    sb.ok(&["req", "--cn", "db.example.com", "--profile", "server"]);
    sb.ok(&[
        "sign",
        "db.example.com.csr",
        "--ca-cert",
        "root.crt",
        "--ca-key",
        "root.key",
        "--name",
        "one",
        "--days",
        "10",
    ]);
    sb.ok(&[
        "sign",
        "db.example.com.csr",
        "--ca-cert",
        "root.crt",
        "--ca-key",
        "root.key",
        "--name",
        "two",
        "--days",
        "10",
    ]);
    let serial = |f: &str| {
        sb.openssl_ok(&["x509", "-in", f, "-noout", "-serial"])
            .trim()
            .trim_start_matches("serial=")
            .to_string()
    };
    let (s1, s2) = (serial("one.crt"), serial("two.crt"));
    assert_ne!(s1, s2);
    assert_eq!(
        sb.read("root.srl").trim(),
        s2,
        ".srl holds the last serial used"
    );
    for f in ["one.crt", "two.crt"] {
        sb.openssl_ok(&["verify", "-CAfile", "root.crt", "-purpose", "sslserver", f]);
    }
    // openssl continues from pgcert's .srl
    sb.openssl_ok(&[
        "x509",
        "-req",
        "-in",
        "db.example.com.csr",
        "-CA",
        "root.crt",
        "-CAkey",
        "root.key",
        "-CAserial",
        "root.srl",
        "-days",
        "5",
        "-out",
        "three.crt",
    ]);
    let s3 = serial("three.crt");
    let low = |s: &str| u64::from_str_radix(&s[s.len() - 12..], 16).unwrap();
    assert_eq!(low(&s3), low(&s2) + 1);
    // and pgcert continues from openssl's
    sb.ok(&[
        "sign",
        "db.example.com.csr",
        "--ca-cert",
        "root.crt",
        "--ca-key",
        "root.key",
        "--serial-file",
        "root.srl",
        "--name",
        "four",
        "--days",
        "5",
    ]);
    assert_eq!(low(&serial("four.crt")), low(&s3) + 1);
    // a key that is not the CA's
    sb.ok(&["req", "--cn", "other"]);
    let e = sb.fails(&[
        "sign",
        "db.example.com.csr",
        "--ca-cert",
        "root.crt",
        "--ca-key",
        "other.key",
        "--name",
        "five",
    ]);
    assert!(e.contains("does not match"), "{e}");
}

#[test]
fn csr_only_intermediate_signed_by_another_pgcert_ca_is_imported() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "corp"]);
    sb.ok(&["init-ca", "--ca", "pg", "--csr-only", "--cn", "PG Sub CA"]);
    assert_eq!(sb.mode("pg/private/cakey.pem"), 0o600);
    assert!(sb.exists("pg/careq.pem") && !sb.exists("pg/cacert.pem"));
    let e = sb.fails(&["issue", "server", "--ca", "pg", "--cn", "x"]);
    assert!(e.contains("cacert.pem"), "{e}");
    sb.ok(&[
        "sign",
        "pg/careq.pem",
        "--ca",
        "corp",
        "--profile",
        "intermediate-ca",
        "--name",
        "pg-signed",
    ]);
    // the wrong certificate is refused, the directory stays as it was
    sb.ok(&[
        "issue", "client", "--ca", "corp", "--cn", "x", "--name", "x",
    ]);
    let before = snapshot(&sb.path("pg"));
    let e = sb.fails(&[
        "import-ca",
        "--ca",
        "pg",
        "--cert",
        "x.crt",
        "--chain",
        "corp/cacert.pem",
    ]);
    assert!(e.contains("no certificate for the key"), "{e}");
    let e = sb.fails(&["import-ca", "--ca", "pg", "--cert", "pg-signed.crt"]);
    assert!(
        e.contains("issuer") && e.contains("--chain"),
        "root missing: {e}"
    );
    assert!(before == snapshot(&sb.path("pg")));
    sb.ok(&[
        "import-ca",
        "--ca",
        "pg",
        "--cert",
        "pg-signed.crt",
        "--chain",
        "corp/cacert.pem",
    ]);
    assert_eq!(sb.read("pg/root.crt"), sb.read("corp/cacert.pem"));
    sb.ok(&["issue", "server", "--ca", "pg", "--cn", "localhost"]);
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "root.crt",
        "-untrusted",
        "server.crt",
        "-purpose",
        "sslserver",
        "server.crt",
    ]);
    let e = sb.fails(&[
        "import-ca",
        "--ca",
        "pg",
        "--cert",
        "pg-signed.crt",
        "--chain",
        "corp/cacert.pem",
    ]);
    assert!(e.contains("already a complete CA"), "{e}");
}

#[test]
fn renew_keeps_or_replaces_the_key_and_can_revoke_the_old_one() {
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
        "db.example.com",
        "--san",
        "10.0.0.5",
        "--days",
        "10",
        "--out",
        "s",
    ]);
    let old_serial = sb
        .read("ca/index.txt")
        .split('\t')
        .nth(3)
        .unwrap()
        .to_string();
    let pub_of = |f: &str| sb.openssl_ok(&["x509", "-in", f, "-noout", "-pubkey"]);
    let old_pub = pub_of("s/server.crt");
    // in place needs --force
    let e = sb.fails(&[
        "renew",
        "--ca",
        "ca",
        "--cert",
        "s/server.crt",
        "--out",
        "s",
    ]);
    assert!(e.contains("--force"), "{e}");
    sb.ok(&[
        "--force",
        "renew",
        "--ca",
        "ca",
        "--cert",
        "s/server.crt",
        "--out",
        "s",
        "--days",
        "20",
    ]);
    assert_eq!(pub_of("s/server.crt"), old_pub, "key kept");
    let t = text(&sb, "s/server.crt");
    assert!(
        t.contains("DNS:db.example.com, IP Address:10.0.0.5")
            && t.contains("TLS Web Server Authentication"),
        "{t}"
    );
    // by serial, with a new key, revoking the old certificate
    sb.ok(&[
        "renew",
        &old_serial,
        "--ca",
        "ca",
        "--rekey",
        "--revoke-old",
        "--out",
        "r",
    ]);
    assert_ne!(pub_of("r/server.crt"), old_pub, "new key");
    assert_eq!(sb.mode("r/server.key"), 0o600);
    let key_pub = sb.openssl_ok(&["pkey", "-in", "r/server.key", "-pubout"]);
    assert_eq!(key_pub, pub_of("r/server.crt"));
    let index = sb.read("ca/index.txt");
    let old_line = index.lines().find(|l| l.contains(&old_serial)).unwrap();
    assert!(
        old_line.starts_with("R\t") && old_line.contains(",superseded"),
        "{index}"
    );
    assert_eq!(index.lines().count(), 3);
    // openssl agrees
    let st = sb.openssl(&["ca", "-config", "ca/openssl.cnf", "-status", &old_serial]);
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("Revoked"),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // revoking again is refused and changes nothing
    let before = snapshot(&sb.path("ca"));
    let e = sb.fails(&[
        "renew",
        &old_serial,
        "--ca",
        "ca",
        "--revoke-old",
        "--out",
        "again",
    ]);
    assert!(e.contains("already revoked"), "{e}");
    assert!(before == snapshot(&sb.path("ca")));
    assert!(!sb.exists("again"));
    // a certificate of another CA
    sb.ok(&["init-ca", "--ca", "other"]);
    sb.ok(&[
        "issue", "client", "--ca", "other", "--cn", "bob", "--out", "o",
    ]);
    let e = sb.fails(&[
        "renew",
        "--ca",
        "ca",
        "--cert",
        "o/postgresql.crt",
        "--out",
        "o2",
    ]);
    assert!(e.contains("not issued by"), "{e}");
}

/// `sign` has no default profile: a user's CSR must never become a server certificate. The
/// profile comes from the EKU the CSR asks for (`req --profile`), else --profile is required;
/// `req` prints the command that gives the right one.
#[test]
fn sign_takes_the_profile_from_the_csr_or_asks_for_it() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    let eku = |f: &str| sb.openssl_ok(&["x509", "-in", f, "-noout", "-ext", "extendedKeyUsage"]);
    // no EKU in the request: refused, nothing written, the database unchanged
    let out = sb.ok(&["req", "--cn", "alice"]);
    let note = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        note.contains("pgcert sign ./alice.csr --profile client"),
        "{note}"
    );
    let index = sb.read("ca/index.txt");
    let e = sb.fails(&["sign", "alice.csr", "--ca", "ca"]);
    assert!(
        e.contains("alice.csr") && e.contains("--profile client"),
        "{e}"
    );
    assert!(!sb.exists("alice.crt"));
    assert_eq!(sb.read("ca/index.txt"), index);
    // the command req printed gives a client certificate
    sb.ok(&["sign", "alice.csr", "--ca", "ca", "--profile", "client"]);
    assert!(eku("alice.crt").contains("TLS Web Client Authentication"));
    // a request that says what it is for needs no --profile
    let out = sb.ok(&["req", "--cn", "bob", "--profile", "client"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("sign it with 'pgcert sign ./bob.csr'"));
    sb.ok(&["sign", "bob.csr", "--ca", "ca"]);
    let t = eku("bob.crt");
    assert!(
        t.contains("TLS Web Client Authentication") && !t.contains("Server"),
        "{t}"
    );
    sb.ok(&["req", "--cn", "db.example.com", "--profile", "server"]);
    sb.ok(&["sign", "db.example.com.csr", "--ca", "ca"]);
    let t = eku("db.example.com.crt");
    assert!(
        t.contains("TLS Web Server Authentication") && !t.contains("Client"),
        "{t}"
    );
    // an openssl CSR asking for both is ambiguous
    sb.openssl_ec_req(
        "both.key",
        "both.csr",
        "/CN=both",
        &["-addext", "extendedKeyUsage=serverAuth,clientAuth"],
    );
    let e = sb.fails(&["sign", "both.csr", "--ca", "ca"]);
    assert!(e.contains("--profile"), "{e}");
}

/// Subjects rcgen cannot hold (a repeated OU, a multi-valued RDN) survive byte for byte: a CSR
/// made by openssl is signed with its subject's exact bytes; a CA whose own subject repeats OU
/// issues children whose issuer bytes equal its subject bytes and a CRL openssl matches to it;
/// `--subj` with '+' encodes the RDN as openssl does.
#[test]
fn repeated_attributes_and_multi_valued_rdns_are_kept_byte_for_byte() {
    use x509_parser::prelude::FromDer;
    let sb = Sandbox::new();
    let raw = |file: &str, subject: bool| -> Vec<u8> {
        let pem = std::fs::read(sb.path(file)).unwrap();
        let der = ::pem::parse(&pem).unwrap().into_contents();
        if file.ends_with(".csr") {
            let (_, csr) =
                x509_parser::certification_request::X509CertificationRequest::from_der(&der)
                    .unwrap();
            return csr.certification_request_info.subject.as_raw().to_vec();
        }
        let (_, c) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
        if subject {
            c.subject().as_raw().to_vec()
        } else {
            c.issuer().as_raw().to_vec()
        }
    };
    // the root repeats OU, like PostgreSQL's src/test/ssl CAs
    sb.ok(&[
        "init-ca", "--ca", "root", "--subj",
        "/O=PGDG/OU=Engineering/OU=Testing/CN=Test root CA for PostgreSQL SSL regression test suite",
    ]);
    let text = sb.openssl_ok(&[
        "x509",
        "-in",
        "root/cacert.pem",
        "-noout",
        "-subject",
        "-nameopt",
        "compat",
    ]);
    assert!(
        text.contains("/O=PGDG/OU=Engineering/OU=Testing/CN=Test root CA"),
        "{text}"
    );
    sb.ok(&[
        "init-ca",
        "--ca",
        "inter",
        "--parent",
        "root",
        "--subj",
        "/O=PGDG/OU=Engineering/OU=Testing/CN=Test intermediate",
    ]);
    assert_eq!(raw("inter/cacert.pem", false), raw("root/cacert.pem", true));
    // a CSR from openssl whose subject repeats OU, in a string type pgcert would not choose
    sb.openssl_ec_req(
        "ou.key",
        "ou.csr",
        "/O=PGDG/OU=Engineering/OU=Testing/CN=ssltestuser",
        &["-utf8", "-addext", "extendedKeyUsage=clientAuth"],
    );
    sb.ok(&["sign", "ou.csr", "--ca", "inter"]);
    assert_eq!(
        raw("ou.crt", true),
        raw("ou.csr", true),
        "subject bytes kept"
    );
    assert_eq!(
        raw("ou.crt", false),
        raw("inter/cacert.pem", true),
        "issuer bytes = CA subject"
    );
    sb.write("chain.pem", sb.read("root/cacert.pem"));
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "chain.pem",
        "-untrusted",
        "inter/cacert.pem",
        "ou.crt",
    ]);
    // a multi-valued RDN through --subj, read back by openssl
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--subj",
        "/O=PGDG/CN=alice+UID=1001",
        "--out",
        "alice",
    ]);
    let text = sb.openssl_ok(&[
        "x509",
        "-in",
        "alice/postgresql.crt",
        "-noout",
        "-subject",
        "-nameopt",
        "compat",
    ]);
    assert!(text.contains("/O=PGDG/CN=alice+UID=1001"), "{text}");
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "chain.pem",
        "-untrusted",
        "inter/cacert.pem",
        "alice/postgresql.crt",
    ]);
    // openssl makes the same bytes for the same -subj
    sb.openssl_ec_req("m.key", "m.csr", "/O=PGDG/CN=alice+UID=1001", &[]);
    assert_eq!(raw("alice/postgresql.crt", true), raw("m.csr", true));
    // revocation: the CRL's issuer matches the CA for openssl
    sb.ok(&["revoke", "--cert", "ou.crt", "--ca", "inter"]);
    sb.ok(&["crl", "--ca", "inter", "--out", "inter.crl"]);
    sb.write(
        "all.pem",
        format!(
            "{}{}",
            sb.read("root/cacert.pem"),
            sb.read("inter/cacert.pem")
        ),
    );
    let out = sb.openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        "all.pem",
        "-CRLfile",
        "inter.crl",
        "ou.crt",
    ]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && said.contains("certificate revoked"),
        "{said}"
    );
    // and pgcert req writes the exact subject into its CSR
    sb.ok(&[
        "req",
        "--subj",
        "/O=PGDG/OU=A/OU=B/CN=db.example.com",
        "--out",
        "r",
    ]);
    let csr = std::fs::read_dir(sb.path("r"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csr"))
        .unwrap();
    let text = sb.openssl_ok(&[
        "req",
        "-in",
        csr.to_str().unwrap(),
        "-noout",
        "-verify",
        "-subject",
        "-nameopt",
        "compat",
    ]);
    assert!(
        text.contains("/O=PGDG/OU=A/OU=B/CN=db.example.com"),
        "{text}"
    );
}
