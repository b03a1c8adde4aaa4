//! Revocation: `revoke`, `crl` (chain CRLs, --crl-dir hashed names), `list`; checked with
//! openssl and enforced by a real PostgreSQL 15 and libpq.

use crate::support::{PgServer, Sandbox, json, postgres_available, require, snapshot};

fn crl_text(sb: &Sandbox, crl: &str) -> String {
    sb.openssl_ok(&["crl", "-in", crl, "-noout", "-text"])
}

/// root -> inter, clients alice (valid) and bob (to revoke), all from the intermediate.
fn setup() -> Sandbox {
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "alice", "--out", "alice",
    ]);
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "bob", "--out", "bob",
    ]);
    sb
}

#[test]
fn crl_lists_revoked_with_reason_and_openssl_enforces_the_chain() {
    if !require("openssl") {
        return;
    }
    let sb = setup();
    let bob = sb.serial_of("bob/postgresql.crt");
    let out = sb.ok(&[
        "--json",
        "revoke",
        "--ca",
        "inter",
        "--cert",
        "bob/postgresql.crt",
        "--reason",
        "KEYCOMPROMISE",
    ]);
    assert_eq!(json(&out)["entries"][0]["status"], "revoked");
    let line = sb
        .read("inter/index.txt")
        .lines()
        .find(|l| l.contains(&bob))
        .unwrap()
        .to_string();
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f[0], "R");
    assert!(
        f[2].ends_with("Z,keyCompromise") && f[2].len() == "261124010041Z,keyCompromise".len(),
        "{line}"
    );
    let out = sb.ok(&["--json", "crl", "--ca", "inter", "--out", "chain.crl"]);
    let j = json(&out);
    assert_eq!(
        j["crls"].as_array().unwrap().len(),
        2,
        "intermediate CRL then root CRL"
    );
    assert_eq!(j["crls"][0]["revoked"], 1);
    let t = crl_text(&sb, "inter/crl.pem");
    assert!(
        t.contains(&bob)
            && t.contains("Key Compromise")
            && t.contains("X509v3 CRL Number")
            && t.contains("Authority Key Identifier"),
        "{t}"
    );
    assert_eq!(sb.read("chain.crl"), sb.read("inter/crl.pem"));
    assert_eq!(sb.read("chain.crl").matches("BEGIN X509 CRL").count(), 2);
    // the signature verifies (openssl crl -CAfile)
    let v = sb.openssl(&[
        "crl",
        "-in",
        "inter/crl.pem",
        "-CAfile",
        "inter/cacert.pem",
        "-noout",
    ]);
    assert!(
        String::from_utf8_lossy(&v.stderr).contains("verify OK"),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    // -crl_check: bob revoked, alice fine; -crl_check_all needs the root's CRL too, which the file holds
    let verify = |flag: &str, crl: &str, cert: &str| {
        let mut out = sb.openssl(&[
            "verify",
            flag,
            "-CRLfile",
            crl,
            "-CAfile",
            "root/root.crt",
            "-untrusted",
            "inter/chain.pem",
            cert,
        ]);
        out.stdout.extend_from_slice(&out.stderr);
        out
    };
    assert!(
        verify("-crl_check_all", "chain.crl", "alice/postgresql.crt")
            .status
            .success()
    );
    let r = verify("-crl_check_all", "chain.crl", "bob/postgresql.crt");
    assert!(
        !r.status.success() && String::from_utf8_lossy(&r.stdout).contains("certificate revoked")
    );
    assert!(
        verify("-crl_check", "chain.crl", "alice/postgresql.crt")
            .status
            .success()
    );
    // the intermediate's CRL alone fails CRL_CHECK_ALL (what locks PostgreSQL clients out)
    sb.ok(&["crl", "--ca", "inter", "--this-only", "--out", "only.crl"]);
    assert_eq!(sb.read("only.crl").matches("BEGIN X509 CRL").count(), 1);
    let r = verify("-crl_check_all", "only.crl", "alice/postgresql.crt");
    assert!(
        String::from_utf8_lossy(&r.stdout).contains("unable to get certificate CRL"),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    // DER, one CRL
    sb.ok(&[
        "crl",
        "--ca",
        "inter",
        "--this-only",
        "--der",
        "--out",
        "only.der",
    ]);
    sb.openssl_ok(&["crl", "-inform", "DER", "-in", "only.der", "-noout"]);
    let e = sb.fails(&["crl", "--ca", "inter", "--der", "--out", "both.der"]);
    assert!(e.contains("--this-only"), "{e}");
    // crlnumber advanced by each CRL, in OpenSSL's format
    let n = sb.read("inter/crlnumber");
    assert!(n.ends_with('\n') && n.trim().len().is_multiple_of(2), "{n}");
}

#[test]
fn revocation_interoperates_with_openssl_ca_both_ways() {
    if !require("openssl") {
        return;
    }
    let sb = setup();
    // openssl revokes in a pgcert CA, pgcert publishes
    let bob = sb.serial_of("bob/postgresql.crt");
    sb.openssl_ok(&[
        "ca",
        "-config",
        "inter/openssl.cnf",
        "-revoke",
        "bob/postgresql.crt",
        "-crl_reason",
        "superseded",
    ]);
    sb.ok(&["crl", "--ca", "inter"]);
    let t = crl_text(&sb, "inter/crl.pem");
    assert!(t.contains(&bob) && t.contains("Superseded"), "{t}");
    // pgcert revokes, openssl publishes
    let alice = sb.serial_of("alice/postgresql.crt");
    sb.ok(&[
        "revoke",
        "--ca",
        "inter",
        &alice,
        "--reason",
        "cessationOfOperation",
    ]);
    sb.openssl_ok(&[
        "ca",
        "-config",
        "inter/openssl.cnf",
        "-gencrl",
        "-out",
        "o.crl",
    ]);
    let t = crl_text(&sb, "o.crl");
    assert!(
        t.contains(&alice) && t.contains(&bob) && t.contains("Cessation Of Operation"),
        "{t}"
    );
    let st = sb.openssl(&["ca", "-config", "inter/openssl.cnf", "-status", &alice]);
    assert!(String::from_utf8_lossy(&st.stderr).contains("Revoked (R)"));
    // openssl's CRL number continues pgcert's crlnumber and vice versa
    sb.ok(&["--json", "crl", "--ca", "inter", "--this-only"]);
}

#[test]
fn crl_with_an_unusable_crl_dir_uses_no_crl_number() {
    let sb = setup();
    sb.write("notadir", "x");
    let before = snapshot(&sb.dir);
    let e = sb.fails(&["crl", "--ca", "inter", "--crl-dir", "notadir/crl.d"]);
    assert!(e.contains("notadir/crl.d"), "{e}");
    assert!(
        before == snapshot(&sb.dir),
        "crlnumber and crl.pem unchanged, no files"
    );
    let e = sb.fails(&[
        "crl",
        "--ca",
        "inter",
        "--crl-dir",
        "new.d",
        "--parent",
        "nope",
    ]);
    assert!(e.contains("nope"), "{e}");
    assert!(
        !sb.exists("new.d"),
        "a CRL directory made for a failed run is removed"
    );
}

#[test]
fn revoke_errors_leave_the_database_unchanged() {
    let sb = setup();
    sb.ok(&["revoke", "--ca", "inter", "--cert", "bob/postgresql.crt"]);
    let before = snapshot(&sb.dir);
    let e = sb.fails(&["revoke", "--ca", "inter", "--cert", "bob/postgresql.crt"]);
    assert!(e.contains("already revoked"), "{e}");
    let e = sb.fails(&["revoke", "--ca", "inter", "0123456789"]);
    assert!(e.contains("not in") && e.contains("pgcert list"), "{e}");
    let e = sb.fails(&["revoke", "--ca", "root", "--cert", "alice/postgresql.crt"]);
    assert!(e.contains("not issued by"), "{e}");
    let out = sb.pgcert(&[
        "revoke",
        "--ca",
        "inter",
        "--cert",
        "alice/postgresql.crt",
        "--reason",
        "bored",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown reason"));
    assert!(before == snapshot(&sb.dir));
}

#[test]
fn crl_dir_names_match_openssl_crl_hash_for_unusual_subjects() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let subjects = [
        "/CN=Simple Root",
        "/O=Mixed CASE Org/CN=MiXeD   Case    Root",
        "/C=JP/O=日本語の組織/CN=Ünïcödé Wurzel",
        "/O=  Leading and trailing  /CN=x",
        "/emailAddress=Admin@Example.COM/CN=Mail Root",
    ];
    for (i, s) in subjects.iter().enumerate() {
        let ca = format!("ca{i}");
        sb.ok(&["init-ca", "--ca", &ca, "--subj", s]);
        sb.ok(&["crl", "--ca", &ca, "--crl-dir", "crl.d"]);
        let want = sb
            .openssl_ok(&["crl", "-in", &format!("{ca}/crl.pem"), "-noout", "-hash"])
            .trim()
            .to_string();
        assert_eq!(
            want,
            sb.openssl_ok(&[
                "x509",
                "-in",
                &format!("{ca}/cacert.pem"),
                "-noout",
                "-hash"
            ])
            .trim()
        );
        assert!(
            sb.exists(&format!("crl.d/{want}.r0")),
            "{s}: expected crl.d/{want}.r0 in\n{}",
            sb.listing()
        );
    }
    // refreshing replaces the file of the same issuer instead of adding .r1
    sb.ok(&["crl", "--ca", "ca0", "--crl-dir", "crl.d"]);
    assert_eq!(
        std::fs::read_dir(sb.path("crl.d")).unwrap().count(),
        subjects.len()
    );
    // openssl rehash agrees on every name
    sb.openssl_ok(&["rehash", "crl.d"]);
}

#[test]
fn intermediate_signed_elsewhere_needs_its_parents_crl() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "corp"]);
    sb.ok(&["init-ca", "--ca", "pg", "--csr-only"]);
    sb.ok(&[
        "sign",
        "pg/careq.pem",
        "--ca",
        "corp",
        "--profile",
        "intermediate-ca",
        "--name",
        "pg",
    ]);
    sb.ok(&[
        "import-ca",
        "--ca",
        "pg",
        "--cert",
        "pg.crt",
        "--chain",
        "corp/cacert.pem",
    ]);
    let before = snapshot(&sb.path("pg"));
    let e = sb.fails(&["crl", "--ca", "pg"]);
    assert!(
        e.contains("--parent-crl") && e.contains("PostgreSQL Root CA"),
        "{e}"
    );
    // a CRL of the wrong CA is not accepted for it
    let e = sb.fails(&["crl", "--ca", "pg", "--parent-crl", "pg/crl.pem"]);
    assert!(e.contains("--parent-crl"), "{e}");
    assert!(
        before == snapshot(&sb.path("pg")),
        "no CRL number used, crl.pem unchanged"
    );
    sb.ok(&["crl", "--ca", "corp", "--this-only", "--out", "corp.crl"]);
    let out = sb.ok(&[
        "--json",
        "crl",
        "--ca",
        "pg",
        "--parent-crl",
        "corp.crl",
        "--out",
        "chain.crl",
    ]);
    let j = json(&out);
    assert_eq!(j["crls"][1]["fresh"], false);
    sb.ok(&["issue", "client", "--ca", "pg", "--cn", "x", "--out", "x"]);
    let v = sb.openssl(&[
        "verify",
        "-crl_check_all",
        "-CRLfile",
        "chain.crl",
        "-CAfile",
        "corp/cacert.pem",
        "-untrusted",
        "pg/chain.pem",
        "x/postgresql.crt",
    ]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    // an expired CRL of the parent is refused
    sb.ok(&["issue", "client", "--ca", "corp", "--cn", "y", "--out", "y"]);
    sb.write("expired.cnf", "[ca]\ndefault_ca=d\n[d]\ndatabase=corp/index.txt\ncrlnumber=corp/crlnumber\ndefault_md=sha256\n");
    sb.openssl_ok(&[
        "ca",
        "-config",
        "expired.cnf",
        "-gencrl",
        "-crlhours",
        "1",
        "-keyfile",
        "corp/private/cakey.pem",
        "-cert",
        "corp/cacert.pem",
        "-out",
        "short.crl",
    ]);
    let out = sb.ok(&["crl", "--ca", "pg", "--parent-crl", "short.crl"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expires on"),
        "a CRL about to expire is warned about"
    );
}

#[test]
fn list_reports_valid_revoked_expired_and_expiring() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    sb.ok(&[
        "issue", "client", "--ca", "ca", "--cn", "long", "--name", "long",
    ]);
    sb.ok(&[
        "issue", "client", "--ca", "ca", "--cn", "soon", "--name", "soon", "--days", "10",
    ]);
    sb.ok(&[
        "issue", "client", "--ca", "ca", "--cn", "gone", "--name", "gone",
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
    sb.ok(&["revoke", "--ca", "ca", "--cert", "gone.crt"]);
    let j = json(&sb.ok(&["--json", "list", "--ca", "ca"]));
    let rows = j["entries"].as_array().unwrap();
    let status = |cn: &str| {
        rows.iter()
            .find(|r| r["subject"] == format!("/CN={cn}"))
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(
        (
            status("long"),
            status("soon"),
            status("gone"),
            status("old")
        ),
        (
            "valid".into(),
            "valid".into(),
            "revoked".into(),
            "expired".into()
        )
    );
    let soon = rows.iter().find(|r| r["subject"] == "/CN=soon").unwrap();
    assert!((9..=10).contains(&soon["days_left"].as_i64().unwrap()));
    let j = json(&sb.ok(&["--json", "list", "--ca", "ca", "--expiring", "30d"]));
    let subjects: Vec<_> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subjects, vec!["/CN=soon"]);
    let j = json(&sb.ok(&["--json", "list", "--ca", "ca", "--status", "revoked"]));
    assert_eq!(j["entries"].as_array().unwrap().len(), 1);
    // the table on stdout
    let t = String::from_utf8(sb.ok(&["list", "--ca", "ca"]).stdout).unwrap();
    assert!(t.starts_with("SERIAL") && t.lines().count() == 5, "{t}");
    // --update-db writes the E line like openssl ca -updatedb
    sb.ok(&["list", "--ca", "ca", "--update-db"]);
    let old = sb
        .read("ca/index.txt")
        .lines()
        .find(|l| l.ends_with("/CN=old"))
        .unwrap()
        .to_string();
    assert!(old.starts_with("E\t"), "{old}");
    let serial = old.split('\t').nth(3).unwrap().to_string();
    let st = sb.openssl(&["ca", "-config", "ca/openssl.cnf", "-status", &serial]);
    assert!(String::from_utf8_lossy(&st.stderr).contains("Expired (E)"));
}

#[test]
fn postgres_refuses_a_revoked_client_via_ssl_crl_file_and_ssl_crl_dir() {
    if !postgres_available() {
        return;
    }
    let sb = setup();
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
    sb.ok(&[
        "revoke",
        "--ca",
        "inter",
        "--cert",
        "bob/postgresql.crt",
        "--reason",
        "keyCompromise",
    ]);
    sb.ok(&[
        "crl",
        "--ca",
        "inter",
        "--out",
        "server.crl",
        "--crl-dir",
        "crl.d",
    ]);
    pg.conf(&format!(
        "ssl = on\nssl_ca_file = 'root.crt'\nssl_crl_file = '{}'",
        sb.path("server.crl").display()
    ));
    pg.hba("hostssl all alice,bob 127.0.0.1/32 cert");
    pg.start();
    pg.sql("create role alice login; create role bob login");
    let connect = |user: &str| {
        pg.psql(
            &format!(
                "host=localhost user={user} dbname=postgres sslmode=verify-full sslrootcert={root} sslcert={d}/postgresql.crt sslkey={d}/postgresql.key",
                root = sb.path("root/root.crt").display(),
                d = sb.path(user).display()
            ),
            &sb.path("home"),
        )
    };
    let (ok, out) = connect("alice");
    assert!(ok && out.contains("alice t"), "alice: {out}");
    let (ok, out) = connect("bob");
    assert!(!ok && out.contains("revoked"), "bob must be refused: {out}");
    // the same with ssl_crl_dir
    pg.conf(&format!(
        "ssl_crl_file = ''\nssl_crl_dir = '{}'",
        sb.path("crl.d").display()
    ));
    pg.reload_until(|| {
        pg.setting("ssl_crl_file").is_empty() && !pg.setting("ssl_crl_dir").is_empty()
    });
    let (ok, out) = connect("alice");
    assert!(
        ok && out.contains("alice t"),
        "alice via ssl_crl_dir: {out}"
    );
    let (ok, out) = connect("bob");
    assert!(!ok && out.contains("revoked"), "bob via ssl_crl_dir: {out}");
}

#[test]
fn libpq_refuses_a_revoked_server_via_sslcrl_and_sslcrldir() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.start();
    let root = sb.path("root/root.crt").display().to_string();
    let connect = |crl: &str| {
        pg.psql(&format!("host=localhost user=postgres dbname=postgres sslmode=verify-full sslrootcert={root} {crl}"), &sb.path("home"))
    };
    sb.ok(&[
        "crl",
        "--ca",
        "inter",
        "--out",
        "before.crl",
        "--crl-dir",
        "before.d",
    ]);
    let (ok, out) = connect(&format!("sslcrl={}", sb.path("before.crl").display()));
    assert!(ok, "not revoked yet: {out}");
    let (ok, out) = connect(&format!("sslcrldir={}", sb.path("before.d").display()));
    assert!(ok, "not revoked yet (dir): {out}");
    sb.ok(&[
        "revoke",
        "--ca",
        "inter",
        "--cert",
        &pg.data.join("server.crt").display().to_string(),
    ]);
    sb.ok(&[
        "crl",
        "--ca",
        "inter",
        "--out",
        "after.crl",
        "--crl-dir",
        "after.d",
    ]);
    let (ok, out) = connect(&format!("sslcrl={}", sb.path("after.crl").display()));
    assert!(
        !ok && out.contains("certificate verify failed"),
        "revoked server via sslcrl: {out}"
    );
    let (ok, out) = connect(&format!("sslcrldir={}", sb.path("after.d").display()));
    assert!(
        !ok && out.contains("certificate verify failed"),
        "revoked server via sslcrldir: {out}"
    );
}
