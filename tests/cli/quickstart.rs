//! `pgcert quickstart`: the file tree it writes, and its printed settings pasted as they are
//! into a fresh PostgreSQL 15 cluster.

use crate::support::{PgServer, Sandbox, append, json, postgres_available, require};

#[test]
fn quickstart_writes_a_verified_tree_with_crls_for_every_ca() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let out = sb.ok(&[
        "--json",
        "quickstart",
        "--out",
        "qs",
        "--user",
        "app",
        "--host",
        "db.example.com",
        "--host",
        "10.0.0.5",
    ]);
    let j = json(&out);
    assert_eq!(j["certificates"].as_array().unwrap().len(), 4);
    assert!(
        j["settings"]["psql"]
            .as_str()
            .unwrap()
            .contains("sslmode=verify-full")
    );
    for (f, mode) in [
        ("qs/server/server.key", 0o600),
        ("qs/server/server.crt", 0o644),
        ("qs/server/root.crt", 0o644),
        ("qs/server/crl.pem", 0o644),
        ("qs/client/postgresql.key", 0o600),
        ("qs/client/postgresql.pk8", 0o600),
        ("qs/client/postgresql.crt", 0o644),
        ("qs/root-ca/private/cakey.pem", 0o600),
        ("qs/intermediate-ca/private/cakey.pem", 0o600),
    ] {
        assert_eq!(sb.mode(f), mode, "{f}");
    }
    let t = sb.openssl_ok(&["x509", "-in", "qs/server/server.crt", "-noout", "-text"]);
    assert!(t.contains("DNS:db.example.com, IP Address:10.0.0.5"), "{t}");
    let c = sb.openssl_ok(&[
        "x509",
        "-in",
        "qs/client/postgresql.crt",
        "-noout",
        "-subject",
    ]);
    assert_eq!(c.trim(), "subject=CN = app");
    // CRL_CHECK_ALL as PostgreSQL does it: the CRL file covers every CA of the chain
    for (cert, purpose) in [
        ("qs/server/server.crt", "sslserver"),
        ("qs/client/postgresql.crt", "sslclient"),
    ] {
        let v = sb.openssl_ok(&[
            "verify",
            "-crl_check_all",
            "-CRLfile",
            "qs/server/crl.pem",
            "-purpose",
            purpose,
            "-CAfile",
            "qs/server/root.crt",
            "-untrusted",
            cert,
            cert,
        ]);
        assert!(v.contains("OK"), "{v}");
    }
}

#[test]
fn quickstart_settings_work_when_pasted_into_a_fresh_cluster() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    let port = pg.port.to_string();
    let out = sb.ok(&[
        "quickstart",
        "--out",
        "qs",
        "--pgdata",
        &data,
        "--user",
        "postgres",
        "--port",
        &port,
        "--print-connect",
        "libpq",
        "--print-connect",
        "jdbc",
    ]);
    let printed = String::from_utf8(out.stdout).unwrap();
    let section = |title: &str| section(&printed, title);
    let conf = section("postgresql.conf");
    let hba = section("pg_hba.conf");
    let psql = section("connect");
    assert!(
        conf.iter().any(|l| l.starts_with("ssl_crl_file")),
        "{printed}"
    );
    append(&pg.data.join("postgresql.conf"), &conf.join("\n"));
    pg.hba(&hba.join("\n"));
    pg.start();
    // the psql line exactly as printed, through a shell
    let (ok, text) = run_psql_line(&sb, &psql[0]);
    assert!(ok && text.contains("postgres|t"), "{}\n{text}", psql[0]);
    // --print-connect: the libpq line works as printed, the JDBC URL names the DER key
    let libpq = section("connect with libpq");
    let (ok, text) = run_psql_line(&sb, &libpq[0]);
    assert!(ok, "{}: {text}", libpq[0]);
    let jdbc = section("connect with jdbc");
    assert!(
        jdbc[0].starts_with("jdbc:postgresql://localhost:")
            && jdbc[0].contains("sslmode=verify-full")
            && jdbc[0].contains("postgresql.pk8"),
        "{jdbc:?}"
    );
}

/// The lines printed under `# TITLE...`, up to the next empty line.
fn section(printed: &str, title: &str) -> Vec<String> {
    printed
        .split(&format!("# {title}"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {title} section in:\n{printed}"))
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn sections(printed: &str) -> (Vec<String>, Vec<String>, String) {
    let section = |title: &str| section(printed, title);
    (
        section("postgresql.conf"),
        section("pg_hba.conf"),
        section("connect").remove(0),
    )
}

fn run_psql_line(sb: &Sandbox, psql: &str) -> (bool, String) {
    let cmd = format!(
        "{psql} -X -tAc 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()'"
    );
    let run = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env("HOME", sb.path("home"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (run.status.success(), text)
}

/// Run as root without --pgdata and without --user, in a directory the postgres account
/// cannot enter, the printed lines still work when followed as printed: the install line
/// (run with PGDATA set), the postgresql.conf lines appended, the pg_hba.conf lines put above
/// Debian's default lines as the header says, and the psql line.
#[test]
fn quickstart_as_root_prints_lines_that_work_as_printed() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("private")).unwrap();
    std::fs::set_permissions(
        sb.path("private"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut pg = PgServer::init(&sb, "pg");
    let port = pg.port.to_string();
    let out = sb
        .pgcert_cmd(&["quickstart", "--out", "private/qs", "--port", &port])
        .env("USER", "root")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let notes = String::from_utf8_lossy(&out.stderr);
    assert!(notes.contains("database user postgres"), "{notes}");
    let (conf, hba, psql) = sections(&printed);
    assert!(printed.contains("put these lines above"), "{printed}");
    // the copy step, exactly as printed
    let install = conf
        .iter()
        .find_map(|l| l.strip_prefix("#   "))
        .unwrap_or_else(|| panic!("no install line in:\n{printed}"));
    let st = std::process::Command::new("sh")
        .args(["-c", install])
        .env("PGDATA", &pg.data)
        .status()
        .unwrap();
    assert!(st.success(), "{install}");
    append(&pg.data.join("postgresql.conf"), &conf.join("\n"));
    pg.hba(&format!(
        "{}\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256",
        hba.join("\n")
    ));
    pg.start();
    let (ok, text) = run_psql_line(&sb, &psql);
    assert!(ok && text.contains("postgres|t"), "{psql}\n{text}");
}

/// --crl-days: the printed settings give the CRLs' expiry and the refresh command; check
/// warns a week ahead, and the refresh command run as printed clears the warning while the
/// server keeps admitting the client.
#[test]
fn quickstart_crl_lifetime_is_printed_with_its_refresh_command() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    let mut pg = PgServer::init(&sb, "pg");
    let data = pg.data.display().to_string();
    let port = pg.port.to_string();
    let out = sb.ok(&[
        "quickstart",
        "--out",
        "qs",
        "--pgdata",
        &data,
        "--user",
        "postgres",
        "--port",
        &port,
        "--crl-days",
        "3",
    ]);
    let printed = String::from_utf8(out.stdout).unwrap();
    let (conf, hba, psql) = sections(&printed);
    let lapse = conf
        .iter()
        .find(|l| l.contains("lapse on"))
        .unwrap_or_else(|| panic!("{printed}"));
    let in3 = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    assert!(
        lapse.contains(&format!(
            "{}-{:02}-{:02}",
            in3.year(),
            in3.month() as u8,
            in3.day()
        )),
        "{lapse}"
    );
    let refresh = lapse.split("Refresh them before: ").nth(1).unwrap();
    assert!(
        refresh.contains("--pgdata") && refresh.contains("--reload"),
        "{refresh}"
    );
    append(&pg.data.join("postgresql.conf"), &conf.join("\n"));
    pg.hba(&hba.join("\n"));
    pg.start();
    let out = sb.pgcert(&["--json", "check", "--pgdata", &data]);
    let j = json(&out);
    assert!(
        j.to_string().contains("expires on") && j.to_string().contains("warning"),
        "{j}"
    );
    // the refresh command exactly as printed (pgcert on PATH)
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_pgcert"))
        .parent()
        .unwrap();
    let st = std::process::Command::new("sh")
        .args(["-c", refresh])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .current_dir(sb.path(""))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{refresh}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let j = json(&sb.pgcert(&["--json", "check", "--pgdata", &data]));
    assert!(!j.to_string().contains("expires on"), "{j}");
    let (ok, text) = run_psql_line(&sb, &psql);
    assert!(ok && text.contains("postgres|t"), "{psql}\n{text}");
}

/// `quickstart --out` a directory that exists: empty (a `mktemp -d`), it is made as one new tree
/// like a missing one; holding a file, the per-file path makes the same set beside it. Either way
/// the same files, modes and a chain openssl verifies.
#[test]
fn quickstart_into_an_existing_directory_empty_or_not() {
    let sb = Sandbox::new();
    sb.ok(&["--no-sync", "quickstart", "--out", "fresh", "--user", "app"]);
    std::fs::create_dir(sb.path("empty")).unwrap();
    sb.ok(&["--no-sync", "quickstart", "--out", "empty", "--user", "app"]);
    sb.write("busy/README", "keep me");
    sb.ok(&["--no-sync", "quickstart", "--out", "busy", "--user", "app"]);
    assert_eq!(sb.read("busy/README"), "keep me");
    let files = |d: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![sb.path(d)];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap().path();
                if e.is_dir() {
                    stack.push(e);
                } else {
                    let rel = e.strip_prefix(sb.path(d)).unwrap().display().to_string();
                    if !rel.contains("newcerts/")
                        && rel != "README"
                        && !rel.contains(".pgcert.index-state")
                    {
                        out.push(format!("{rel} {:o}", sb.mode(&format!("{d}/{rel}"))));
                    }
                }
            }
        }
        out.sort();
        out
    };
    assert_eq!(files("empty"), files("fresh"));
    assert_eq!(files("busy"), files("fresh"));
    for d in ["fresh", "empty", "busy"] {
        sb.openssl_ok(&[
            "verify",
            "-CAfile",
            &format!("{d}/server/root.crt"),
            "-untrusted",
            &format!("{d}/intermediate-ca/cacert.pem"),
            &format!("{d}/server/server.crt"),
        ]);
    }
    // mint too takes an empty directory, and refuses one that holds files
    sb.write("p.toml", "[[ca]]\nname = \"r\"\ncn = \"R\"\n");
    std::fs::create_dir(sb.path("m")).unwrap();
    sb.ok(&["mint", "p.toml", "--out", "m"]);
    let e = sb.fails(&["mint", "p.toml", "--out", "m"]);
    assert!(e.contains("already exists and is not empty"), "{e}");
}
