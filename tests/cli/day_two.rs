//! Day two: refreshing CRLs and trust bundles in place, renewals the server loads, rotation,
//! expiry watching, files for other users.

use std::os::unix::fs::MetadataExt;

use crate::support::{PgServer, Sandbox, postgres_available, require};

/// A CRL file and a trust bundle are refreshed in place without --force; a key, a certificate
/// chain or a file of another kind in their place still needs it.
#[test]
fn crl_and_trust_bundle_refresh_in_place_without_force() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&["crl", "--ca", "inter", "--out", "chain.crl"]);
    let first = sb.read("chain.crl");
    sb.ok(&["crl", "--ca", "inter", "--out", "chain.crl"]);
    assert_ne!(
        sb.read("chain.crl"),
        first,
        "a new CRL replaced the old one"
    );
    sb.openssl_ok(&["crl", "-in", "chain.crl", "-noout"]);
    // the hashed directory behaves the same way
    sb.ok(&["crl", "--ca", "inter", "--crl-dir", "crl.d"]);
    sb.ok(&["crl", "--ca", "inter", "--crl-dir", "crl.d"]);
    assert_eq!(std::fs::read_dir(sb.path("crl.d")).unwrap().count(), 2);
    // something else in the CRL's place is refused, and left as it was
    sb.ok(&["key", "gen", "--out", "precious.key"]);
    let key = sb.read("precious.key");
    let e = sb.fails(&["crl", "--ca", "inter", "--out", "precious.key"]);
    assert!(
        e.contains("precious.key") && e.contains("not a CRL file") && e.contains("--force"),
        "{e}"
    );
    assert_eq!(sb.read("precious.key"), key);
    // trust bundles: refreshed in place; a certificate chain is not a trust bundle
    sb.ok(&["init-ca", "--ca", "root2"]);
    sb.ok(&["bundle", "--trust", "root/cacert.pem", "--out", "root.crt"]);
    sb.ok(&[
        "bundle",
        "--trust",
        "root/cacert.pem",
        "root2/cacert.pem",
        "--out",
        "root.crt",
    ]);
    assert_eq!(sb.read("root.crt").matches("BEGIN CERTIFICATE").count(), 2);
    sb.ok(&[
        "issue", "server", "--ca", "inter", "--cn", "db", "--out", "s",
    ]);
    let chain = sb.read("s/server.crt");
    let e = sb.fails(&[
        "bundle",
        "--trust",
        "root/cacert.pem",
        "--out",
        "s/server.crt",
    ]);
    assert!(e.contains("not a trust bundle"), "{e}");
    assert_eq!(sb.read("s/server.crt"), chain);
    // a chain is a certificate: replacing one still needs --force
    let e = sb.fails(&[
        "bundle",
        "s/server.crt",
        "root/cacert.pem",
        "--out",
        "s/server.crt",
    ]);
    assert!(e.contains("refusing to overwrite"), "{e}");
    sb.ok(&[
        "--force",
        "bundle",
        "--trust",
        "root/cacert.pem",
        "--out",
        "precious.key",
    ]);
}

/// `issue client --owner USER` run as root: the files (and the .postgresql directory it makes)
/// belong to USER, whose own psql connects with them through libpq's default paths; without
/// --owner pgcert warns that USER could not read the key.
#[test]
fn issue_client_owner_gives_the_files_to_the_user_who_connects() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    // the postgres account stands in for a user: a home of its own, owned by it
    sb.write("alice/.keep", "");
    sb.chown_postgres("alice");
    let home = sb.path("alice");
    let dir = home.join(".postgresql").display().to_string();
    let warned = home.join("warned").display().to_string();
    let out = sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "postgres", "--out", &warned,
    ]);
    let warning = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        warning.contains("belongs to postgres") && warning.contains("--owner postgres"),
        "{warning}"
    );
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "postgres", "--out", &dir, "--owner",
        "postgres",
    ]);
    let uid_of = |p: &std::path::Path| std::fs::metadata(p).unwrap().uid();
    let postgres = uid_of(&home);
    for f in [
        "",
        "postgresql.crt",
        "postgresql.key",
        "postgresql.pk8",
        "root.crt",
    ] {
        assert_eq!(uid_of(&home.join(".postgresql").join(f)), postgres, "{f}");
    }
    assert_eq!(sb.mode("alice/.postgresql/postgresql.key"), 0o600);
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.conf("ssl_ca_file = 'root.crt'");
    pg.start();
    // the user's own psql, its HOME the directory above: libpq's default file names
    let out = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--", "env"])
        .arg(format!("HOME={}", home.display()))
        .arg("psql")
        .arg(format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full",
            pg.port
        ))
        .args([
            "-tAc",
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "t",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // an unknown account is a usage error, nothing written
    let out = sb.pgcert(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "x",
        "--out",
        "x",
        "--owner",
        "nosuchuser-pgcert",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!sb.exists("x"));
}
