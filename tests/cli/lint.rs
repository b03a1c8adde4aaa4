//! pkilint, the RFC 5280 linter, over every profile and key type pgcert issues and over its
//! CRLs: no finding of severity NOTICE or worse, except the documented web-PKI naming one
//! (`localhost`, a single-label DNS name, which PostgreSQL setups use and pkilint flags).

use crate::support::{Sandbox, require};

/// Findings of NOTICE or worse, minus the documented ones.
fn findings(tool: &[&str], file: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new(tool[0])
        .args(&tool[1..])
        .args(["-s", "NOTICE"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut left = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let documented =
            block.contains("pkix.invalid_domain_name_syntax") && block.contains("\"localhost\"");
        if !documented {
            left.push(block.trim().to_string());
        }
    }
    left
}

#[test]
fn pkilint_finds_nothing_in_any_profile_or_key_type() {
    if !require("lint_pkix_cert") || !require("openssl") {
        return;
    }
    let mut report = Vec::new();
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa2048"] {
        let sb = Sandbox::new();
        let k = ["--key-type", kt];
        let run = |args: &[&str]| {
            let mut a = args.to_vec();
            a.extend(k);
            sb.ok(&a);
        };
        run(&["init-ca", "--ca", "root"]);
        run(&["init-ca", "--ca", "inter", "--parent", "root"]);
        run(&[
            "issue",
            "server",
            "--ca",
            "inter",
            "--cn",
            "db.example.com",
            "--san",
            "10.0.0.5",
            "--san",
            "localhost",
            "--out",
            "s",
        ]);
        run(&[
            "issue", "client", "--ca", "inter", "--cn", "alice", "--out", "c",
        ]);
        run(&["self-signed", "--cn", "db.example.com", "--out", "ss"]);
        sb.ok(&["crl", "--ca", "root", "--this-only", "--out", "empty.crl"]);
        sb.ok(&[
            "revoke",
            "--ca",
            "inter",
            "--cert",
            "c/postgresql.crt",
            "--reason",
            "keyCompromise",
        ]);
        sb.ok(&[
            "crl",
            "--ca",
            "inter",
            "--this-only",
            "--out",
            "revoked.crl",
        ]);
        // leaf files carry the chain: lint the leaf alone
        for (chain, leaf) in [
            ("s/server.crt", "s/leaf.pem"),
            ("c/postgresql.crt", "c/leaf.pem"),
        ] {
            sb.openssl_ok(&["x509", "-in", chain, "-out", leaf]);
        }
        let certs = [
            ("root", "root/cacert.pem"),
            ("intermediate", "inter/cacert.pem"),
            ("server (DNS + IP SANs)", "s/leaf.pem"),
            ("client", "c/leaf.pem"),
            ("self-signed", "ss/server.crt"),
        ];
        for (what, f) in certs {
            let left = findings(&["lint_pkix_cert", "lint"], &sb.path(f));
            assert!(left.is_empty(), "{kt} {what}: {left:#?}");
            report.push(format!("{kt} {what}: clean"));
        }
        for (what, f) in [
            ("CRL without entries", "empty.crl"),
            ("CRL with an entry", "revoked.crl"),
        ] {
            let left = findings(
                &["lint_crl", "lint", "-t", "CRL", "-p", "PKIX"],
                &sb.path(f),
            );
            assert!(left.is_empty(), "{kt} {what}: {left:#?}");
            report.push(format!("{kt} {what}: clean"));
        }
    }
    assert_eq!(report.len(), 28);
}
