//! The demoCA database: layout, OpenSSL's exact formats, `openssl ca` interoperability in
//! both directions, concurrency, and the --json report.

use crate::support::{Sandbox, json, require, snapshot};

fn index_lines(sb: &Sandbox, ca: &str) -> Vec<String> {
    sb.read(&format!("{ca}/index.txt"))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn init_ca_writes_the_democa_layout_with_modes_and_formats() {
    let sb = Sandbox::new();
    let out = sb.ok(&["--json", "init-ca", "--ca", "ca", "--cn", "Layout Root"]);
    for f in [
        "cacert.pem",
        "serial",
        "index.txt",
        "index.txt.attr",
        "crlnumber",
        "crl.pem",
        "openssl.cnf",
        "root.crt",
    ] {
        assert_eq!(sb.mode(&format!("ca/{f}")), 0o644, "{f}");
    }
    assert_eq!(sb.mode("ca/private"), 0o700);
    assert_eq!(sb.mode("ca/private/cakey.pem"), 0o600);
    for d in ["certs", "crl", "newcerts"] {
        assert!(sb.path(&format!("ca/{d}")).is_dir(), "{d}");
    }
    assert!(!sb.exists("ca/chain.pem"), "a root has no chain.pem");
    assert_eq!(sb.read("ca/index.txt.attr"), "unique_subject = no\n");
    assert_eq!(
        sb.read("ca/crlnumber"),
        "02\n",
        "CRL 01 was written at creation"
    );
    assert_eq!(sb.read("ca/index.txt"), "");
    let serial = sb.read("ca/serial");
    assert!(serial.ends_with('\n'));
    let s = serial.trim_end();
    assert!(
        s.len() >= 16 && s.len().is_multiple_of(2),
        "random serial of >= 64 bits, even digits: {s}"
    );
    assert!(
        s.chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
        "upper-case hex: {s}"
    );
    let cnf = sb.read("ca/openssl.cnf");
    let abs = std::fs::canonicalize(sb.path("ca")).unwrap();
    assert!(
        cnf.contains(&format!("dir               = {}", abs.display())),
        "absolute dir"
    );
    assert!(cnf.contains("unique_subject    = no"));
    // JSON report decodes and lists the key with its mode
    let j = json(&out);
    assert_eq!(j["command"], "init-ca");
    let key = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "private key")
        .unwrap();
    assert_eq!(key["mode"], "0600");
    assert_eq!(j["certificates"][0]["subject"], "/CN=Layout Root");
    assert_eq!(j["certificates"][0]["sha256"].as_str().unwrap().len(), 95);
    assert!(out.stderr.is_empty(), "--json prints nothing else");
}

#[test]
fn issue_records_serial_index_and_newcerts_in_openssl_format() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--serial", "0FFF"]);
    let out = sb.ok(&[
        "--json",
        "issue",
        "server",
        "--ca",
        "ca",
        "--cn",
        "db.example.com",
    ]);
    let j = json(&out);
    assert_eq!(j["certificates"][0]["serial"], "0FFF");
    assert_eq!(sb.read("ca/serial"), "1000\n");
    let lines = index_lines(&sb, "ca");
    assert_eq!(lines.len(), 1);
    let f: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(f.len(), 6);
    assert_eq!(
        (f[0], f[2], f[3], f[4], f[5]),
        ("V", "", "0FFF", "unknown", "/CN=db.example.com")
    );
    // expiry field = the certificate's notAfter in ASN.1 UTCTime form
    let end = sb.openssl_ok(&["x509", "-in", "ca/newcerts/0FFF.pem", "-noout", "-enddate"]);
    assert_eq!(f[1].len(), 13);
    assert!(f[1].ends_with('Z'));
    let serial = sb.openssl_ok(&["x509", "-in", "ca/newcerts/0FFF.pem", "-noout", "-serial"]);
    assert_eq!(serial.trim(), "serial=0FFF");
    assert!(!end.is_empty());
    assert_eq!(sb.mode("ca/newcerts/0FFF.pem"), 0o644);
    // openssl agrees the entry is valid
    let st = sb.openssl(&["ca", "-config", "ca/openssl.cnf", "-status", "0FFF"]);
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("0FFF=Valid (V)"),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

#[test]
fn far_future_expiry_uses_generalized_time_in_the_index() {
    let sb = Sandbox::new();
    sb.ok(&[
        "init-ca",
        "--ca",
        "ca",
        "--not-after",
        "2060-01-01T00:00:00Z",
    ]);
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "ca",
        "--cn",
        "far",
        "--not-after",
        "2051-01-01T00:00:00Z",
    ]);
    let lines = index_lines(&sb, "ca");
    assert_eq!(lines[0].split('\t').nth(1), Some("20510101000000Z"));
}

#[test]
fn openssl_ca_continues_a_pgcert_ca_and_pgcert_continues_after_it() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "root"]);
    sb.ok(&[
        "init-ca", "--ca", "ca", "--parent", "root", "--serial", "10",
    ]);
    sb.ok(&[
        "issue",
        "server",
        "--ca",
        "ca",
        "--cn",
        "one.example",
        "--name",
        "one",
    ]);
    sb.openssl_ec_req(
        "two.key",
        "two.csr",
        "/CN=two.example",
        &["-addext", "subjectAltName=DNS:two.example"],
    );
    // from another working directory: dir in openssl.cnf is absolute
    let cnf = sb.path("ca/openssl.cnf");
    let out = std::process::Command::new("openssl")
        .args(["ca", "-batch", "-notext", "-config"])
        .arg(&cnf)
        .arg("-in")
        .arg(sb.path("two.csr"))
        .arg("-out")
        .arg(sb.path("two.crt"))
        .current_dir("/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = sb.openssl_ok(&["x509", "-in", "two.crt", "-noout", "-text"]);
    assert!(
        t.contains("CA:FALSE")
            && t.contains("TLS Web Server Authentication")
            && t.contains("DNS:two.example"),
        "{t}"
    );
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "root/root.crt",
        "-untrusted",
        "ca/chain.pem",
        "-purpose",
        "sslserver",
        "two.crt",
    ]);
    sb.ok(&[
        "issue", "client", "--ca", "ca", "--cn", "three", "--name", "three",
    ]);
    let lines = index_lines(&sb, "ca");
    let serials: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').nth(3).unwrap())
        .collect();
    assert_eq!(
        serials,
        vec!["10", "11", "12"],
        "pgcert took the serial after openssl's"
    );
    // all lines have the same shape, byte for byte what openssl writes
    for l in &lines {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!((f.len(), f[0], f[2], f[4]), (6, "V", "", "unknown"), "{l}");
    }
    assert_eq!(lines[1].split('\t').nth(5), Some("/CN=two.example"));
    // openssl still reads the database pgcert appended to
    let st = sb.openssl(&["ca", "-config", "ca/openssl.cnf", "-status", "12"]);
    assert!(String::from_utf8_lossy(&st.stderr).contains("12=Valid (V)"));
}

#[test]
fn pgcert_issues_from_a_ca_that_openssl_ca_created() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    // the classic recipe: demoCA made by hand and `openssl ca -selfsign`, SEC1 key
    for d in [
        "demoCA/certs",
        "demoCA/crl",
        "demoCA/newcerts",
        "demoCA/private",
    ] {
        std::fs::create_dir_all(sb.path(d)).unwrap();
    }
    sb.write("demoCA/index.txt", "");
    sb.write("demoCA/crlnumber", "01\n");
    sb.write(
        "ossl.cnf",
        "[ca]\ndefault_ca=d\n[d]\ndir=./demoCA\ndatabase=$dir/index.txt\nnew_certs_dir=$dir/newcerts\ncertificate=$dir/cacert.pem\n\
         private_key=$dir/private/cakey.pem\nserial=$dir/serial\ndefault_md=sha256\ndefault_days=365\npolicy=p\n\
         [p]\ncommonName=supplied\norganizationName=optional\n[v3_ca]\nbasicConstraints=critical,CA:true\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always,issuer\n[req]\ndistinguished_name=dn\n[dn]\n",
    );
    sb.openssl_ok(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "demoCA/private/cakey.pem",
    ]);
    sb.openssl_ok(&[
        "req",
        "-new",
        "-key",
        "demoCA/private/cakey.pem",
        "-out",
        "careq.pem",
        "-subj",
        "/O=Classic/CN=Classic CA",
        "-config",
        "ossl.cnf",
    ]);
    sb.openssl_ok(&[
        "ca",
        "-batch",
        "-notext",
        "-config",
        "ossl.cnf",
        "-create_serial",
        "-selfsign",
        "-extensions",
        "v3_ca",
        "-keyfile",
        "demoCA/private/cakey.pem",
        "-in",
        "careq.pem",
        "-out",
        "demoCA/cacert.pem",
        "-days",
        "3650",
    ]);
    let before = index_lines(&sb, "demoCA");
    assert_eq!(before.len(), 1);
    // default --ca is ./demoCA
    sb.ok(&["issue", "server", "--cn", "localhost", "--days", "30"]);
    let after = index_lines(&sb, "demoCA");
    assert_eq!(after.len(), 2);
    // openssl's serial is 159-bit: compare the low 48 bits (a carry beyond them is 2^-48 likely)
    let low = |s: &str| u64::from_str_radix(&s[s.len() - 12..], 16).unwrap();
    let (prev, next) = (
        before[0].split('\t').nth(3).unwrap(),
        after[1].split('\t').nth(3).unwrap(),
    );
    assert_eq!(prev.len(), next.len());
    assert_eq!(
        low(next),
        low(prev) + 1,
        "next serial after openssl's: {prev} -> {next}"
    );
    sb.openssl_ok(&[
        "verify",
        "-CAfile",
        "demoCA/cacert.pem",
        "-purpose",
        "sslserver",
        "server.crt",
    ]);
    // openssl accepts the database afterwards (unique_subject defaults to yes here: no duplicate V)
    sb.openssl_ec_req("x.key", "x.csr", "/CN=x", &["-config", "ossl.cnf"]);
    sb.openssl_ok(&[
        "ca", "-batch", "-notext", "-config", "ossl.cnf", "-in", "x.csr", "-out", "x.crt",
    ]);
    assert_eq!(index_lines(&sb, "demoCA").len(), 3);
    // that CA has unique_subject = yes (openssl's default): a second valid /CN=localhost is refused
    let snap = snapshot(&sb.path("demoCA"));
    let e = sb.fails(&[
        "issue",
        "server",
        "--cn",
        "localhost",
        "--days",
        "30",
        "--name",
        "again",
    ]);
    assert!(e.contains("unique_subject"), "{e}");
    assert_eq!(snap, snapshot(&sb.path("demoCA")), "database unchanged");
    assert!(!sb.exists("again.key"));
}

#[test]
fn concurrent_issuers_never_share_a_serial_or_lose_a_line() {
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let mut script = String::new();
            for i in 0..25 {
                script.push_str(&format!(
                    "{} -q --ca ca issue client --cn u{w}x{i} --name u{w}x{i} --out out || exit 1\n",
                    env!("CARGO_BIN_EXE_pgcert")
                ));
            }
            std::process::Command::new("sh")
                .args(["-c", &script])
                .current_dir(&sb.dir)
                .env_remove("PGCERT_CA")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut w in workers {
        assert!(
            w.wait().unwrap().success(),
            "a worker failed:\n{}",
            sb.listing()
        );
    }
    let lines = index_lines(&sb, "ca");
    assert_eq!(lines.len(), 100);
    let mut serials: Vec<String> = lines
        .iter()
        .map(|l| l.split('\t').nth(3).unwrap().to_string())
        .collect();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 100, "100 distinct serials");
    assert_eq!(
        std::fs::read_dir(sb.path("ca/newcerts")).unwrap().count(),
        100
    );
    for s in &serials {
        assert!(sb.exists(&format!("ca/newcerts/{s}.pem")));
    }
}

#[test]
fn moved_ca_directory_keeps_working_for_pgcert() {
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    std::fs::rename(sb.path("ca"), sb.path("moved")).unwrap();
    sb.ok(&["issue", "client", "--ca", "moved", "--cn", "alice"]);
    assert_eq!(index_lines(&sb, "moved").len(), 1);
}

#[test]
fn pgcert_ca_env_selects_the_ca() {
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "envca"]);
    let out = sb
        .pgcert_cmd(&["issue", "client", "--cn", "alice"])
        .env("PGCERT_CA", "envca")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(index_lines(&sb, "envca").len(), 1);
}

#[test]
fn issue_client_writes_a_ready_dot_postgresql() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let out = sb.ok(&[
        "--json",
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "alice",
        "--out",
        "home/.postgresql",
    ]);
    for (f, mode) in [
        ("postgresql.crt", 0o644),
        ("postgresql.key", 0o600),
        ("postgresql.pk8", 0o600),
        ("root.crt", 0o644),
    ] {
        assert_eq!(sb.mode(&format!("home/.postgresql/{f}")), mode, "{f}");
    }
    let j = json(&out);
    assert_eq!(j["files"].as_array().unwrap().len(), 4);
    assert_eq!(
        sb.read("home/.postgresql/root.crt"),
        sb.read("root/cacert.pem")
    );
    assert_eq!(
        sb.read("home/.postgresql/postgresql.crt")
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    let der_pub = sb.openssl_ok(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        "home/.postgresql/postgresql.pk8",
        "-pubout",
    ]);
    let pem_pub = sb.openssl_ok(&["pkey", "-in", "home/.postgresql/postgresql.key", "-pubout"]);
    assert_eq!(der_pub, pem_pub);
    // a second client into the same directory: root.crt is identical, so it is kept, not refused
    sb.ok(&[
        "issue",
        "client",
        "--ca",
        "inter",
        "--cn",
        "bob",
        "--name",
        "bob",
        "--out",
        "home/.postgresql",
    ]);
}

#[test]
fn a_held_lock_makes_pgcert_wait_and_say_so() {
    if !require("flock") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    // another holder of the CA lock for 1.5 s
    let mut holder = std::process::Command::new("flock")
        .args(["ca/.pgcert.lock", "sleep", "1.5"])
        .current_dir(&sb.dir)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t = std::time::Instant::now();
    let out = sb.ok(&["issue", "client", "--ca", "ca", "--cn", "waiter"]);
    holder.wait().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("waiting for lock on ca"), "{err}");
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(900),
        "it waited for the holder"
    );
    assert_eq!(index_lines(&sb, "ca").len(), 1);
}

#[test]
fn no_sync_still_writes_atomically_with_the_same_modes() {
    let sb = Sandbox::new();
    sb.ok(&["--no-sync", "init-ca", "--ca", "ca"]);
    let out = sb
        .pgcert_cmd(&["issue", "server", "--ca", "ca", "--cn", "localhost"])
        .env("PGCERT_NO_SYNC", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(sb.mode("server.key"), 0o600);
    assert_eq!(sb.mode("ca/private/cakey.pem"), 0o600);
    assert_eq!(index_lines(&sb, "ca").len(), 1);
}
