//! Seeing and checking: `show` against openssl's fingerprints and hashes, and `verify` agreeing
//! with `openssl verify` on a matrix of good and broken chains.

use crate::support::{Sandbox, json, require};

#[test]
fn show_matches_openssl_fingerprints_and_hashes_for_rsa_ec_ed25519_pem_and_der() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    for kt in ["rsa2048", "ecdsa-p384", "ed25519"] {
        let ca = format!("ca-{kt}");
        sb.ok(&[
            "init-ca",
            "--ca",
            &ca,
            "--key-type",
            kt,
            "--subj",
            "/O=Show Test/CN=Mixed   Case Root",
        ]);
        let crt = format!("{ca}/cacert.pem");
        let j = json(&sb.ok(&["--json", "show", &crt]));
        let o = &j["objects"][0];
        assert_eq!(o["type"], "certificate");
        let fp = |alg: &str| {
            sb.openssl_ok(&["x509", "-in", &crt, "-noout", "-fingerprint", alg])
                .trim()
                .split('=')
                .nth(1)
                .unwrap()
                .to_string()
        };
        assert_eq!(o["sha256"], fp("-sha256"), "{kt}");
        assert_eq!(o["sha1"], fp("-sha1"), "{kt}");
        assert_eq!(
            o["subject_hash"],
            sb.openssl_ok(&["x509", "-in", &crt, "-noout", "-hash"])
                .trim(),
            "{kt}"
        );
        let serial = sb.openssl_ok(&["x509", "-in", &crt, "-noout", "-serial"]);
        assert_eq!(
            format!("serial={}", o["serial"].as_str().unwrap()),
            serial.trim()
        );
        // DER gives the same view
        let der = format!("{ca}.der");
        sb.openssl_ok(&["x509", "-in", &crt, "-outform", "DER", "-out", &der]);
        let j2 = json(&sb.ok(&["--json", "show", &der]));
        assert_eq!(
            j2["objects"][0],
            j["objects"][0]
                .clone()
                .as_object()
                .map(|m| {
                    let mut m = m.clone();
                    m.insert("file".into(), der.clone().into());
                    serde_json::Value::Object(m)
                })
                .unwrap()
        );
        let text = String::from_utf8(sb.ok(&["show", &crt]).stdout).unwrap();
        assert!(
            text.contains("basicConstraints (critical): CA:TRUE")
                && text.contains("keyUsage (critical)"),
            "{text}"
        );
    }
    // a CSR is labelled a CSR, a CRL a CRL, a key shows what it matches
    sb.ok(&["req", "--cn", "db.example.com"]);
    let j = json(&sb.ok(&["--json", "show", "db.example.com.csr", "ca-rsa2048/crl.pem"]));
    assert_eq!(j["objects"][0]["type"], "certificate_request");
    assert_eq!(j["objects"][0]["signature_valid"], true);
    assert_eq!(j["objects"][1]["type"], "crl");
    assert_eq!(
        j["objects"][1]["issuer_hash"],
        sb.openssl_ok(&["crl", "-in", "ca-rsa2048/crl.pem", "-noout", "-hash"])
            .trim()
    );
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "ca-rsa2048",
        "--cn",
        "db.example.com",
        "--out",
        "s",
    ]);
    let j = json(&sb.ok(&["--json", "show", "s/server.key"]));
    assert_eq!(j["objects"][0]["type"], "private_key");
    assert!(
        j["objects"][0]["matches"][0]
            .as_str()
            .unwrap()
            .contains("/CN=db.example.com"),
        "{j}"
    );
    let e = sb.fails(&["show", "pw-does-not-exist"]);
    assert!(e.contains("pw-does-not-exist"));
    sb.write("junk.pem", "hello");
    let e = sb.fails(&["show", "junk.pem"]);
    assert!(e.contains("junk.pem"), "{e}");
}

/// A matrix of chains; each case: pgcert verify and openssl verify must agree.
#[test]
fn verify_agrees_with_openssl_verify_on_good_and_broken_chains() {
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
        "db.example.com",
        "--san",
        "10.0.0.5",
        "--out",
        "good",
    ]);
    sb.openssl_ok(&["x509", "-in", "good/server.crt", "-out", "leaf.pem"]);
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "alice", "--out", "client",
    ]);
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "old.example.com",
        "--name",
        "expired",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--not-after",
        "2021-01-01T00:00:00Z",
    ]);
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "future.example.com",
        "--name",
        "future",
        "--not-before",
        "2030-01-01T00:00:00Z",
        "--not-after",
        "2030-06-01T00:00:00Z",
    ]);
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "wild",
        "--san",
        "dns:*.example.com",
        "--name",
        "wild",
    ]);
    // CN only, no SAN at all: the server profile with cn_in_san off
    sb.write("cn-only.toml", "name='cn-only'\nkind='leaf'\ndefault_days=30\nkey_usage=['digitalSignature']\nextended_key_usage=['serverAuth']\ncn_in_san=false\n");
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "inter",
        "--cn",
        "cnonly.example.com",
        "--template",
        "cn-only.toml",
        "--name",
        "cnonly",
    ]);
    // a leaf used as a CA (openssl will sign with anything)
    sb.openssl_ec_req("sub.key", "sub.csr", "/CN=under-a-leaf", &[]);
    sb.openssl_ok(&[
        "x509",
        "-req",
        "-in",
        "sub.csr",
        "-CA",
        "leaf.pem",
        "-CAkey",
        "good/server.key",
        "-set_serial",
        "7",
        "-days",
        "5",
        "-out",
        "sub.crt",
    ]);
    // wrong order: intermediate first
    let wrong = format!("{}{}", sb.read("inter/cacert.pem"), sb.read("leaf.pem"));
    sb.write("wrong-order.crt", wrong);

    struct Case<'a> {
        name: &'a str,
        cert: &'a str,
        untrusted: Option<&'a str>,
        purpose: &'a str,
        host: Option<&'a str>,
        ip: Option<&'a str>,
        ok: bool,
    }
    let cases = [
        Case {
            name: "good chain",
            cert: "leaf.pem",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: None,
            ip: None,
            ok: true,
        },
        Case {
            name: "missing intermediate",
            cert: "leaf.pem",
            untrusted: None,
            purpose: "server",
            host: None,
            ip: None,
            ok: false,
        },
        Case {
            name: "wrong order",
            cert: "wrong-order.crt",
            untrusted: Some("wrong-order.crt"),
            purpose: "server",
            host: None,
            ip: None,
            ok: false,
        },
        Case {
            name: "expired",
            cert: "expired.crt",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: None,
            ip: None,
            ok: false,
        },
        Case {
            name: "not yet valid",
            cert: "future.crt",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: None,
            ip: None,
            ok: false,
        },
        Case {
            name: "leaf used as CA",
            cert: "sub.crt",
            untrusted: Some("good/server.crt"),
            purpose: "client",
            host: None,
            ip: None,
            ok: false,
        },
        Case {
            name: "wrong EKU",
            cert: "client/postgresql.crt",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: None,
            ip: None,
            ok: false,
        },
        Case {
            name: "host match",
            cert: "leaf.pem",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: Some("DB.example.com"),
            ip: None,
            ok: true,
        },
        Case {
            name: "host mismatch",
            cert: "leaf.pem",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: Some("other.example.com"),
            ip: None,
            ok: false,
        },
        Case {
            name: "IP SAN",
            cert: "leaf.pem",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: None,
            ip: Some("10.0.0.5"),
            ok: true,
        },
        Case {
            name: "IP not in SAN",
            cert: "leaf.pem",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: None,
            ip: Some("10.0.0.6"),
            ok: false,
        },
        Case {
            name: "CN-only certificate",
            cert: "cnonly.crt",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: Some("cnonly.example.com"),
            ip: None,
            ok: true,
        },
        Case {
            name: "wildcard one label",
            cert: "wild.crt",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: Some("a.example.com"),
            ip: None,
            ok: true,
        },
        Case {
            name: "wildcard two labels",
            cert: "wild.crt",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: Some("a.b.example.com"),
            ip: None,
            ok: false,
        },
        Case {
            name: "wildcard bare domain",
            cert: "wild.crt",
            untrusted: Some("inter/chain.pem"),
            purpose: "server",
            host: Some("example.com"),
            ip: None,
            ok: false,
        },
    ];
    for c in &cases {
        let mut ours = vec![
            "verify",
            c.cert,
            "--root",
            "root/root.crt",
            "--purpose",
            c.purpose,
        ];
        let mut theirs = vec![
            "verify",
            "-CAfile",
            "root/root.crt",
            "-purpose",
            if c.purpose == "server" {
                "sslserver"
            } else {
                "sslclient"
            },
        ];
        if let Some(u) = c.untrusted {
            ours.extend(["--untrusted", u]);
            theirs.extend(["-untrusted", u]);
        }
        if let Some(h) = c.host.or(c.ip) {
            ours.extend(["--host", h]);
        }
        if let Some(h) = c.host {
            theirs.extend(["-verify_hostname", h]);
        }
        if let Some(ip) = c.ip {
            theirs.extend(["-verify_ip", ip]);
        }
        // openssl verifies the first certificate of the file, as pgcert does
        let first = format!("first-{}.pem", c.name.replace(' ', "-"));
        sb.openssl_ok(&["x509", "-in", c.cert, "-out", &first]);
        theirs.push(&first);
        let o = sb.pgcert(&ours);
        let t = sb.openssl(&theirs);
        assert_eq!(
            o.status.success(),
            c.ok,
            "pgcert on {}: {}{}",
            c.name,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            t.status.success(),
            c.ok,
            "openssl on {}: {}{}",
            c.name,
            String::from_utf8_lossy(&t.stdout),
            String::from_utf8_lossy(&t.stderr)
        );
        if !c.ok {
            assert_eq!(o.status.code(), Some(1));
            assert_eq!(
                String::from_utf8_lossy(&o.stderr).matches("error:").count(),
                1
            );
        }
    }
    // the cert-auth rule and CRLs
    sb.ok(&[
        "verify",
        "client/postgresql.crt",
        "--root",
        "root/root.crt",
        "--user",
        "alice",
        "--purpose",
        "client",
    ]);
    let out = sb.pgcert(&[
        "verify",
        "client/postgresql.crt",
        "--root",
        "root/root.crt",
        "--user",
        "bob",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not the database user \"bob\""));
    sb.ok(&["revoke", "--ca", "inter", "--cert", "client/postgresql.crt"]);
    sb.ok(&["crl", "--ca", "inter", "--out", "all.crl"]);
    sb.ok(&[
        "crl",
        "--ca",
        "inter",
        "--this-only",
        "--out",
        "inter-only.crl",
    ]);
    let j = json(&sb.pgcert(&[
        "--json",
        "verify",
        "client/postgresql.crt",
        "--root",
        "root/root.crt",
        "--crl",
        "all.crl",
    ]));
    assert_eq!(j["ok"], false);
    assert!(
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "crl" && c["detail"].as_str().unwrap().contains("revoked"))
    );
    let o = sb.pgcert(&[
        "verify",
        "leaf.pem",
        "--untrusted",
        "inter/chain.pem",
        "--root",
        "root/root.crt",
        "--crl",
        "inter-only.crl",
    ]);
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("unable to get certificate CRL")
    );
    sb.ok(&[
        "verify",
        "leaf.pem",
        "--untrusted",
        "inter/chain.pem",
        "--root",
        "root/root.crt",
        "--crl",
        "all.crl",
    ]);
}

#[test]
fn terminal_escapes_in_certificates_are_not_printed() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    // a CN carrying an ANSI escape sequence, as a hostile certificate could
    let subj = "/CN=evil\u{1b}[31mred";
    sb.openssl_ec_req("k.pem", "evil.crt", subj, &["-x509", "-days", "1", "-utf8"]);
    let out = sb.ok(&["show", "evil.crt"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\u{1b}'),
        "the escape reached the terminal: {text:?}"
    );
    assert!(text.contains("evil"), "{text}");
    let v = sb.pgcert(&[
        "verify", "evil.crt", "--root", "evil.crt", "--host", "other",
    ]);
    assert!(
        !String::from_utf8_lossy(&v.stdout).contains('\u{1b}')
            && !String::from_utf8_lossy(&v.stderr).contains('\u{1b}')
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let sb = Sandbox::new();
    for args in [
        vec!["-q", "init-ca", "--ca", "ca"],
        vec!["-q", "issue", "server", "--ca", "ca", "--cn", "localhost"],
        vec![
            "-q", "issue", "client", "--ca", "ca", "--cn", "alice", "--out", "c",
        ],
        vec!["-q", "crl", "--ca", "ca"],
        vec![
            "-q",
            "verify",
            "server.crt",
            "--root",
            "ca/root.crt",
            "--host",
            "localhost",
        ],
        vec!["-q", "check", "--cert", "server.crt", "--key", "server.key"],
    ] {
        let out = sb.ok(&args);
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{args:?} printed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
