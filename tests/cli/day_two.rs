#![allow(clippy::print_stderr)]
//! Day two: refreshing CRLs and trust bundles in place, renewals the server loads, rotation,
//! expiry watching, files for other users.

use std::os::unix::fs::MetadataExt;

use crate::support::{PgServer, Sandbox, json, postgres_available, require};

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
    // key gen and convert give their output to the account too
    sb.ok(&[
        "key",
        "gen",
        "--out",
        "alice/svc.key",
        "--owner",
        "postgres",
    ]);
    assert_eq!(uid_of(&home.join("svc.key")), postgres);
    assert_eq!(sb.mode("alice/svc.key"), 0o600);
    sb.ok(&[
        "convert",
        "alice/svc.key",
        "--to",
        "pk8",
        "--out",
        "alice/svc.pk8",
        "--owner",
        "postgres",
    ]);
    assert_eq!(uid_of(&home.join("svc.pk8")), postgres);
    assert_eq!(sb.mode("alice/svc.pk8"), 0o600);
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

/// `renew --pgdata --reload` and `issue server --pgdata --reload`: the files go where
/// postgresql.conf points (a subdirectory here), and the running server presents the new
/// serial when pgcert exits 0, with no other step. ssl_ca_file (two roots, mid-rotation) is
/// never replaced by a server certificate, and dropping a SAN is warned about.
#[test]
fn renew_and_issue_with_reload_are_served_at_once() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&["init-ca", "--ca", "root2"]);
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    std::fs::create_dir_all(pg.data.join("tls")).unwrap();
    sb.chown_postgres("pg/data/tls");
    pg.conf("ssl = on\nssl_cert_file = 'tls/db.crt'\nssl_key_file = 'tls/db.key'\nssl_ca_file = 'tls/clients.crt'");
    pg.hba("hostssl all all 127.0.0.1/32 trust");
    sb.ok(&[
        "bundle",
        "--trust",
        "root/cacert.pem",
        "root2/cacert.pem",
        "--pgdata",
        &data,
    ]);
    let clients = sb.read("pg/data/tls/clients.crt");
    assert_eq!(clients.matches("BEGIN CERTIFICATE").count(), 2);
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
    assert!(sb.exists("pg/data/tls/db.crt") && sb.exists("pg/data/tls/db.key"));
    assert!(
        !sb.exists("pg/data/root.crt"),
        "ssl_ca_file is set: no root.crt"
    );
    assert_eq!(sb.mode("pg/data/tls/db.key"), 0o600);
    pg.start();
    let home = sb.path("home");
    let conn = PgServer::verify_full("localhost", &sb.path("root/cacert.pem"));
    let (ok, out) = pg.psql(&conn, &home);
    assert!(ok, "{out}");
    // renew in place with --reload: served when pgcert returns
    let old = sb.serial_of("pg/data/tls/db.crt");
    sb.ok(&[
        "--force",
        "renew",
        "--ca",
        "inter",
        "--cert",
        "pg/data/tls/db.crt",
        "--pgdata",
        &data,
        "--reload",
    ]);
    let new = sb.serial_of("pg/data/tls/db.crt");
    assert_ne!(old, new);
    let shown = sb.openssl_ok(&[
        "s_client",
        "-starttls",
        "postgres",
        "-connect",
        &format!("127.0.0.1:{}", pg.port),
    ]);
    let served = {
        sb.write("served.pem", &shown);
        sb.serial_of("served.pem")
    };
    assert_eq!(
        served, new,
        "the renewed certificate is served without another step"
    );
    assert_eq!(sb.read("pg/data/tls/clients.crt"), clients);
    let (ok, out) = pg.psql(&conn, &home);
    assert!(ok, "{out}");
    // a new server certificate from the other CA, dropping a SAN: warned, ssl_ca_file kept
    let out = sb.ok(&[
        "--force",
        "issue",
        "server",
        "--ca",
        "root2",
        "--cn",
        "localhost",
        "--pgdata",
        &data,
        "--reload",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("also served IP:127.0.0.1"), "{err}");
    assert_eq!(sb.read("pg/data/tls/clients.crt"), clients);
    let conn2 = PgServer::verify_full("localhost", &sb.path("root2/cacert.pem"));
    let (ok, out) = pg.psql(&conn2, &home);
    assert!(ok, "served at once under the new root: {out}");
}

/// `crl --pgdata --reload`, run twice without --force, keeps a server with ssl_crl_file
/// admitting a valid client certificate and refusing a revoked one.
#[test]
fn crl_refresh_with_reload_keeps_revocation_in_force() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "postgres", "--out", "alice",
    ]);
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "postgres", "--out", "bob",
    ]);
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    let data = pg.data.display().to_string();
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.conf("ssl_ca_file = 'root.crt'\nssl_crl_file = 'root+pg.crl'");
    sb.ok(&["crl", "--ca", "inter", "--pgdata", &data]);
    pg.start();
    let conn = |who: &str| {
        format!(
            "host=localhost user=postgres dbname=postgres sslmode=verify-full sslrootcert={} sslcert={}/postgresql.crt sslkey={}/postgresql.key",
            sb.path("root/cacert.pem").display(),
            sb.path(who).display(),
            sb.path(who).display()
        )
    };
    let home = sb.path("home");
    assert!(pg.psql(&conn("alice"), &home).0);
    assert!(pg.psql(&conn("bob"), &home).0);
    let bob = sb.serial_of("bob/postgresql.crt");
    sb.ok(&["revoke", "--ca", "inter", &bob]);
    for _ in 0..2 {
        sb.ok(&["crl", "--ca", "inter", "--pgdata", &data, "--reload"]);
        let (ok, out) = pg.psql(&conn("bob"), &home);
        assert!(!ok && out.contains("revoked"), "{out}");
        let (ok, out) = pg.psql(&conn("alice"), &home);
        assert!(ok, "{out}");
    }
    // without ssl_crl_file / ssl_crl_dir there is nowhere to put it
    let pg2 = PgServer::init(&sb, "pg2");
    let e = sb.fails(&[
        "crl",
        "--ca",
        "inter",
        "--pgdata",
        &pg2.data.display().to_string(),
    ]);
    assert!(e.contains("neither ssl_crl_file nor ssl_crl_dir"), "{e}");
}

fn run_code(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let out = sb.pgcert(args);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A CRL about to lapse is reported before the server starts refusing: nagios WARNING (then
/// CRITICAL with a wider --crit-days), a prometheus gauge holding the CRL's nextUpdate as
/// OpenSSL reads it, while the server still admits the client. probe does the same for the
/// served certificate; a check that cannot run is UNKNOWN.
#[test]
fn expiry_watching_for_monitors() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "postgres", "--out", "alice",
    ]);
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    let data = pg.data.display().to_string();
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.conf("ssl_ca_file = 'root.crt'\nssl_crl_file = 'root+pg.crl'");
    sb.ok(&["crl", "--ca", "inter", "--days", "5", "--pgdata", &data]);
    pg.start();
    let (code, line) = run_code(&sb, &["check", "--pgdata", &data, "--format", "nagios"]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.starts_with("PGCERT WARNING - ") && line.contains("CRL") && line.contains(" | "),
        "{line}"
    );
    let (code, line) = run_code(
        &sb,
        &[
            "check",
            "--pgdata",
            &data,
            "--format",
            "nagios",
            "--crit-days",
            "6",
        ],
    );
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("PGCERT CRITICAL - "), "{line}");
    // the gauge is the nextUpdate OpenSSL reads from the file
    let (code, prom) = run_code(&sb, &["check", "--pgdata", &data, "--format", "prometheus"]);
    assert_eq!(code, 0, "{prom}");
    let next = sb.openssl_ok(&[
        "crl",
        "-in",
        "pg/data/root+pg.crl",
        "-noout",
        "-nextupdate",
        "-dateopt",
        "iso_8601",
    ]);
    let next = next
        .trim()
        .trim_start_matches("nextUpdate=")
        .replace(' ', "T");
    let unix = time::OffsetDateTime::parse(&next, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{next}: {e}"))
        .unix_timestamp();
    let gauge = prom
        .lines()
        .find(|l| l.starts_with("pgcert_crl_next_update_seconds{") && l.contains("Intermediate"))
        .unwrap_or_else(|| panic!("{prom}"));
    assert!(gauge.ends_with(&format!(" {unix}")), "{gauge} vs {unix}");
    assert!(prom.contains("pgcert_check_status{"), "{prom}");
    // not yet refused: the server admits the client
    let conn = format!(
        "host=localhost user=postgres dbname=postgres sslmode=verify-full sslrootcert={} sslcert={}/postgresql.crt sslkey={}/postgresql.key",
        sb.path("root/cacert.pem").display(),
        sb.path("alice").display(),
        sb.path("alice").display()
    );
    let (ok, out) = pg.psql(&conn, &sb.path("home"));
    assert!(ok, "{out}");
    // refreshed: OK
    sb.ok(&["crl", "--ca", "inter", "--pgdata", &data, "--reload"]);
    let (code, line) = run_code(&sb, &["check", "--pgdata", &data, "--format", "nagios"]);
    assert_eq!(code, 0, "{line}");
    assert!(line.starts_with("PGCERT OK - "), "{line}");
    // probe: the served certificate, through PostgreSQL's SSLRequest
    let target = format!("127.0.0.1:{}", pg.port);
    let root = sb.path("root/cacert.pem").display().to_string();
    let (code, line) = run_code(
        &sb,
        &[
            "probe",
            &target,
            "--root",
            &root,
            "--sslmode",
            "verify-ca",
            "--format",
            "nagios",
        ],
    );
    assert_eq!(code, 0, "{line}");
    let (code, line) = run_code(
        &sb,
        &[
            "probe",
            &target,
            "--root",
            &root,
            "--sslmode",
            "verify-ca",
            "--format",
            "nagios",
            "--warn-days",
            "400",
        ],
    );
    assert_eq!(
        code, 1,
        "the server certificate ends within 400 days: {line}"
    );
    let (_, prom) = run_code(&sb, &["probe", &target, "--format", "prometheus"]);
    let served = sb.serial_of("pg/data/server.crt");
    assert!(prom.contains(&format!("serial=\"{served}\"")), "{prom}");
    // cannot run: UNKNOWN
    let (code, line) = run_code(&sb, &["check", "--pgdata", "nowhere", "--format", "nagios"]);
    assert_eq!(code, 3, "{line}");
    assert!(line.starts_with("PGCERT UNKNOWN - "), "{line}");
    // the CA database: a certificate of the index about to end
    sb.ok(&[
        "issue", "client", "--ca", "inter", "--cn", "soon", "--days", "3", "--out", "soon",
    ]);
    let (code, line) = run_code(&sb, &["--ca", "inter", "check", "--format", "nagios"]);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("/CN=soon"), "{line}");
}

/// A root rotation end to end against a real server with cert authentication and CRLs, with
/// three client populations: trusting only the old root (old client certificate), both roots
/// (the bundle begin writes, a client certificate of the new CA), only the new root (new
/// certificate). At every stage each population's psql (verify-full) does exactly what the
/// guide's table says and what pgcert predicts; each stage runs twice.
#[test]
fn root_rotation_never_locks_out_a_client_that_followed_the_guide() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let mut pg = PgServer::serving(&sb, "pg", "inter", &[]);
    let data = pg.data.display().to_string();
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.conf("ssl_ca_file = 'root.crt'\nssl_crl_file = 'root+pg.crl'");
    sb.ok(&["crl", "--ca", "inter", "--pgdata", &data]);
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "postgres",
        "--out",
        "old-client",
    ]);
    pg.start();
    let home = sb.path("home");
    let connects = |root: &str, client: &str| {
        let conn = format!(
            "host=localhost user=postgres dbname=postgres sslmode=verify-full sslrootcert={} sslcert={}/postgresql.crt sslkey={}/postgresql.key",
            sb.path(root).display(),
            sb.path(client).display(),
            sb.path(client).display()
        );
        pg.psql(&conn, &home).0
    };
    assert!(connects("root/cacert.pem", "old-client"));
    // the guide's table: clients trusting only the old root, both roots, only the new root
    let guide = [
        ("begin", false, [true, true, false]),
        ("switch", false, [false, true, true]),
        ("switch", true, [true, true, true]),
        ("finish", false, [false, true, true]),
    ];
    for (stage, cross, documented) in guide {
        let mut args: Vec<&str> = vec!["--json", "--ca", "inter", "rotate", stage];
        if stage == "begin" {
            args.extend(["--new-root", "root2", "--new-ca", "inter2"]);
        }
        if cross {
            args.push("--cross-sign");
        }
        args.extend(["--out", "trust", "--pgdata", &data, "--reload"]);
        let mut predicted = Vec::new();
        for _ in 0..2 {
            let j = json(&sb.ok(&args));
            assert_eq!(
                j["stage"],
                if stage == "begin" {
                    "begun"
                } else if stage == "switch" {
                    "switched"
                } else {
                    "finished"
                }
            );
            predicted = j["clients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["connect"].as_bool().unwrap())
                .collect::<Vec<_>>();
        }
        if stage == "begin" {
            // clients get the bundle and certificates of the new CA, as the guide says
            std::fs::copy(sb.path("trust/root.crt"), sb.path("both-roots.crt")).unwrap();
            for who in ["both-client", "new-client"] {
                sb.ok(&[
                    "issue", "client", "--ca", "inter2", "--cn", "postgres", "--out", who,
                ]);
            }
        }
        let observed = [
            connects("root/cacert.pem", "old-client"),
            connects("both-roots.crt", "both-client"),
            connects("root2/cacert.pem", "new-client"),
        ];
        eprintln!(
            "{stage}: documented {documented:?} predicted {predicted:?} observed {observed:?}"
        );
        assert_eq!(
            observed.to_vec(),
            documented.to_vec(),
            "{stage}: observed vs the guide"
        );
        assert_eq!(
            predicted,
            documented.to_vec(),
            "{stage}: pgcert's prediction"
        );
        // a client certificate renewal under the new intermediate works at every stage
        sb.ok(&[
            "--force",
            "renew",
            "--ca",
            "inter2",
            "--cert",
            "both-client/postgresql.crt",
            "--out",
            "both-client",
        ]);
        assert!(
            connects("both-roots.crt", "both-client"),
            "{stage}: renewed client"
        );
    }
    // the old CA is retired; an earlier stage cannot be re-run
    let e = sb.fails(&[
        "issue", "client", "--ca", "inter", "--cn", "late", "--out", "late",
    ]);
    assert!(e.contains("retired") && e.contains("inter2"), "{e}");
    let e = sb.fails(&["--ca", "inter", "rotate", "switch", "--pgdata", &data]);
    assert!(e.contains("finished"), "{e}");
    assert_eq!(
        sb.read("pg/data/root.crt")
            .matches("BEGIN CERTIFICATE")
            .count(),
        1,
        "ssl_ca_file holds only the new root"
    );
}
