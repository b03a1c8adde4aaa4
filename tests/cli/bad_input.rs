//! Hostile and mistaken input: exit code 1 (2 for usage), one message naming the file or
//! value and the fix, no new files, and a byte-identical CA directory.

use crate::support::{Sandbox, snapshot};

/// A sandbox with a root and an intermediate CA.
fn with_cas() -> Sandbox {
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "root"]);
    sb.ok(&["init-ca", "--ca", "ca", "--parent", "root"]);
    sb
}

/// Run a failing command and check nothing at all changed in the sandbox.
fn fails_cleanly(sb: &Sandbox, args: &[&str], expect: &[&str]) -> String {
    let before = snapshot(&sb.dir);
    let err = sb.fails(args);
    for e in expect {
        assert!(err.contains(e), "message should mention {e:?}:\n{err}");
    }
    let after = snapshot(&sb.dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "no new or removed files for {args:?}"
    );
    assert!(before == after, "files changed for {args:?}");
    err
}

#[test]
fn missing_ca_names_the_directory_and_init_ca() {
    let sb = Sandbox::new();
    fails_cleanly(
        &sb,
        &["issue", "server", "--cn", "localhost"],
        &["demoCA", "pgcert init-ca"],
    );
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "nope", "--cn", "a"],
        &["nope"],
    );
    fails_cleanly(
        &sb,
        &["init-ca", "--ca", "x", "--parent", "missing"],
        &["missing"],
    );
}

#[test]
fn existing_key_is_not_overwritten_and_database_is_unchanged() {
    let sb = with_cas();
    sb.ok(&["issue", "server", "--ca", "ca", "--cn", "localhost"]);
    let err = fails_cleanly(
        &sb,
        &["issue", "server", "--ca", "ca", "--cn", "localhost"],
        &["refusing to overwrite", "--force"],
    );
    assert!(err.contains("server.crt") || err.contains("server.key"));
    // with --force it is replaced and recorded
    let old = sb.read("server.key");
    sb.ok(&[
        "--force",
        "issue",
        "server",
        "--ca",
        "ca",
        "--cn",
        "localhost",
    ]);
    assert_ne!(sb.read("server.key"), old);
    assert_eq!(sb.mode("server.key"), 0o600);
    assert_eq!(sb.read("ca/index.txt").lines().count(), 2);
}

#[test]
fn self_signed_refuses_existing_files() {
    let sb = Sandbox::new();
    sb.ok(&["self-signed", "--cn", "localhost"]);
    fails_cleanly(
        &sb,
        &["self-signed", "--cn", "localhost"],
        &["refusing to overwrite"],
    );
}

#[test]
fn init_ca_never_touches_an_existing_directory() {
    let sb = with_cas();
    fails_cleanly(&sb, &["init-ca", "--ca", "root"], &["root", "not empty"]);
    fails_cleanly(
        &sb,
        &["init-ca", "--ca", "ca", "--parent", "root"],
        &["not empty"],
    );
}

#[test]
fn corrupt_ca_files_are_named() {
    let sb = with_cas();
    sb.write("ca/serial", "5\n");
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a"],
        &["ca/serial", "odd number"],
    );
    sb.write("ca/serial", "zz\n");
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a"],
        &["ca/serial", "hex"],
    );
    std::fs::remove_file(sb.path("ca/serial")).unwrap();
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a"],
        &["ca/serial"],
    );
    sb.write("ca/serial", "01\n");
    let good = sb.read("ca/cacert.pem");
    sb.write(
        "ca/cacert.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a"],
        &["ca/cacert.pem"],
    );
    sb.write("ca/cacert.pem", "garbage");
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a"],
        &["ca/cacert.pem"],
    );
    sb.write("ca/cacert.pem", &good);
    sb.write("ca/private/cakey.pem", "not a key");
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a"],
        &["cakey.pem", "not a private key"],
    );
    // the key of another CA
    let other = sb.read("root/private/cakey.pem");
    sb.write("ca/private/cakey.pem", other);
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a"],
        &["does not match"],
    );
}

#[test]
fn serial_already_in_newcerts_is_refused() {
    let sb = with_cas();
    sb.ok(&["issue", "client", "--ca", "ca", "--cn", "a", "--name", "a"]);
    let first = sb
        .read("ca/index.txt")
        .split('\t')
        .nth(3)
        .unwrap()
        .to_string();
    sb.write("ca/serial", format!("{first}\n"));
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "b", "--name", "b"],
        &["already been issued"],
    );
}

#[test]
fn leaf_from_a_leaf_is_refused() {
    let sb = with_cas();
    sb.ok(&["issue", "client", "--ca", "root", "--cn", "a", "--out", "a"]);
    std::fs::create_dir_all(sb.path("fake/private")).unwrap();
    sb.write("fake/index.txt", "");
    sb.write("fake/serial", "01\n");
    std::fs::copy(sb.path("a/postgresql.crt"), sb.path("fake/cacert.pem")).unwrap();
    std::fs::copy(
        sb.path("a/postgresql.key"),
        sb.path("fake/private/cakey.pem"),
    )
    .unwrap();
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "fake", "--cn", "b"],
        &["not a CA"],
    );
}

#[test]
fn expired_ca_cannot_issue() {
    let sb = Sandbox::new();
    sb.ok(&[
        "init-ca",
        "--ca",
        "old",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--not-after",
        "2021-01-01T00:00:00Z",
    ]);
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "old", "--cn", "a", "--force"],
        &["expired"],
    );
}

#[test]
fn usage_errors_exit_2() {
    let sb = with_cas();
    let before = snapshot(&sb.dir);
    for args in [
        vec![
            "issue",
            "server",
            "--ca",
            "ca",
            "--cn",
            "x",
            "--key-type",
            "rsa1024",
        ],
        vec!["issue", "server", "--ca", "ca", "--subj", "/O=x/CN=a+"],
        vec!["issue", "server", "--ca", "ca", "--subj", "CN=x"],
        vec![
            "issue",
            "server",
            "--ca",
            "ca",
            "--cn",
            "x",
            "--san",
            "ip:localhost",
        ],
        vec![
            "issue",
            "server",
            "--ca",
            "ca",
            "--cn",
            "x",
            "--not-after",
            "tomorrow",
        ],
        vec![
            "issue", "server", "--ca", "ca", "--cn", "x", "--name", "../evil",
        ],
        vec!["init-ca", "--ca", "z", "--serial", "xyz"],
        vec!["bogus"],
    ] {
        let out = sb.pgcert(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(before == snapshot(&sb.dir));
}

#[test]
fn value_errors_are_explained() {
    let sb = with_cas();
    fails_cleanly(
        &sb,
        &["issue", "server", "--ca", "ca", "--cn", "My Database"],
        &["not a host name", "--san"],
    );
    fails_cleanly(&sb, &["issue", "server", "--ca", "ca"], &["--cn"]);
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "a", "--days", "0"],
        &["--days"],
    );
    sb.write(
        "bad.toml",
        "name='x'\nkind='leaf'\ndefault_days=1\nkey_usage=['keyCertSign']\n",
    );
    fails_cleanly(
        &sb,
        &[
            "issue",
            "client",
            "--ca",
            "ca",
            "--cn",
            "a",
            "--template",
            "bad.toml",
        ],
        &["bad.toml", "keyCertSign"],
    );
    fails_cleanly(
        &sb,
        &[
            "issue", "server", "--ca", "ca", "--cn", "a", "--pgdata", "root",
        ],
        &["PG_VERSION"],
    );
}

#[test]
fn symlinked_target_is_refused() {
    let sb = with_cas();
    std::os::unix::fs::symlink("/tmp/elsewhere-pgcert", sb.path("server.key")).unwrap();
    fails_cleanly(
        &sb,
        &[
            "--force",
            "issue",
            "server",
            "--ca",
            "ca",
            "--cn",
            "localhost",
        ],
        &["symbolic link"],
    );
}

#[test]
fn bundle_explains_a_csr_given_as_certificate() {
    let sb = with_cas();
    sb.write(
        "req.csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
    );
    fails_cleanly(
        &sb,
        &["bundle", "req.csr", "ca/cacert.pem"],
        &["req.csr", "CERTIFICATE REQUEST", "pgcert show"],
    );
    sb.write("empty.pem", "");
    fails_cleanly(&sb, &["bundle", "empty.pem"], &["empty.pem"]);
}

#[test]
fn quickstart_leaves_nothing_on_failure() {
    let sb = Sandbox::new();
    // client/postgresql.key exists: quickstart must refuse before making anything
    sb.write("qs/client/postgresql.key", "x");
    fails_cleanly(
        &sb,
        &["quickstart", "--out", "qs"],
        &["refusing to overwrite"],
    );
}

#[test]
fn failed_issue_does_not_leave_an_out_directory() {
    let sb = with_cas();
    fails_cleanly(
        &sb,
        &[
            "issue", "client", "--ca", "ca", "--cn", "a", "--days", "99999", "--out", "new/dir",
        ],
        &["after its issuer"],
    );
    assert!(!sb.exists("new"));
    // an explicit lifetime beyond the issuer is refused for CAs too
    fails_cleanly(
        &sb,
        &[
            "init-ca", "--ca", "sub", "--parent", "root", "--days", "99999",
        ],
        &["after its issuer"],
    );
}

/// Limits a CA's worst days reach: lifetimes past the year 9999, RFC 5280 bounds on subject
/// attributes and serials, looping parent links. Each: exit 1 with one message naming the
/// value, no new files, the CA directories byte-identical, and never a panic (exit 101).
#[test]
fn out_of_range_values_are_errors_not_panics() {
    let sb = with_cas();
    let long_o = format!("/O={}/CN=x", "o".repeat(200));
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec![
                "issue", "server", "--ca", "ca", "--cn", "x", "--days", "3000000",
            ],
            vec!["--days 3000000", "9999"],
        ),
        (
            vec!["self-signed", "--cn", "x", "--days", "3000000"],
            vec!["9999"],
        ),
        (
            vec!["init-ca", "--ca", "big", "--days", "3000000"],
            vec!["9999"],
        ),
        (vec!["crl", "--ca", "ca", "--days", "3000000"], vec!["9999"]),
    ];
    for (args, expect) in &cases {
        fails_cleanly(&sb, args, expect);
    }
    // an over-long attribute in --subj is a bad value: usage error
    let out = sb.pgcert(&["issue", "client", "--ca", "ca", "--subj", &long_o]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("O is longer than 64 characters (ub-organization-name)")
    );
    // --expiring past the end of time: every valid certificate, no overflow
    sb.ok(&["list", "--ca", "ca", "--expiring", "3000000d"]);
    let out = sb.pgcert(&["list", "--ca", "ca", "--expiring", "99999999999999d"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    // a CSR carrying an over-long attribute is refused the same way
    // (openssl itself refuses to make one: rcgen, which does not check, makes it)
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "o".repeat(200));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "x");
    let csr = params.serialize_request(&key).unwrap();
    sb.write("long.csr", csr.pem().unwrap());
    fails_cleanly(
        &sb,
        &["sign", "long.csr", "--ca", "ca", "--profile", "client"],
        &["longer than 64"],
    );
    // a serial file whose next value needs 21 octets
    sb.write("ca/serial", format!("{}\n", "FF".repeat(20)));
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "x"],
        &["at most 20"],
    );
    sb.write("ca/serial", "1000\n");
    // parent links that loop: ca -> ca2 -> ca
    sb.ok(&["init-ca", "--ca", "ca2", "--parent", "root"]);
    sb.write("ca/parent-ca.path", "../ca2\n");
    sb.write("ca2/parent-ca.path", "../ca\n");
    fails_cleanly(&sb, &["crl", "--ca", "ca"], &["loop"]);
}

/// Output that cannot be written is never lost silently, and a message that cannot be shown
/// is never a panic: a full stdout exits 1, a full or closed stderr changes nothing.
#[test]
#[allow(clippy::disallowed_methods)] // opening /dev/full to write to it
fn output_failures_are_reported_and_stderr_failures_ignored() {
    let sb = with_cas();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = sb
        .pgcert_cmd(&["bundle", "--trust", "root/cacert.pem"])
        .stdout(full.try_clone().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write to standard output"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sb
        .pgcert_cmd(&["issue", "client", "--ca", "ca", "--cn", "a", "--out", "a"])
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr full: still done");
    assert!(sb.exists("a/postgresql.key"));
    let out = sb
        .pgcert_cmd(&["issue", "client", "--ca", "ca", "--cn", "b", "--out", "b"])
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // --json cannot represent a non-UTF-8 path: refused before anything is written
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"c\xff");
    let before = crate::support::snapshot(&sb.dir);
    let out = sb
        .pgcert_cmd(&[
            "--json", "issue", "client", "--ca", "ca", "--cn", "c", "--out",
        ])
        .arg(odd)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
    assert!(
        before == crate::support::snapshot(&sb.dir),
        "nothing written"
    );
}

/// Replacing a key in place keeps an owner, group and mode PostgreSQL accepts (root:GROUP
/// 0640), and tightens one it does not (0644) to 0600.
#[test]
fn in_place_key_rewrites_keep_a_mode_postgres_accepts() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let sb = Sandbox::new();
    sb.ok(&["key", "gen", "--out", "server.key"]);
    let gid = 4242;
    std::os::unix::fs::chown(sb.path("server.key"), Some(0), Some(gid)).unwrap();
    std::fs::set_permissions(
        sb.path("server.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    sb.ok(&["key", "encrypt", "server.key", "--passout", "pass:secret"]);
    sb.ok(&["key", "decrypt", "server.key", "--passin", "pass:secret"]);
    let m = std::fs::metadata(sb.path("server.key")).unwrap();
    assert_eq!((m.mode() & 0o777, m.uid(), m.gid()), (0o640, 0, gid));
    std::fs::set_permissions(
        sb.path("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    sb.ok(&["key", "encrypt", "server.key", "--passout", "pass:secret"]);
    assert_eq!(sb.mode("server.key"), 0o600);
}

/// A damaged CA database is an error naming the line, never repaired silently, and the CA
/// directory stays byte-identical; the one repair (a line cut short by a crash) keeps the cut
/// bytes in a side file. Serials are checked against index.txt, CRL numbers against crl.pem.
#[test]
fn damaged_databases_are_named_not_repaired() {
    let sb = with_cas();
    sb.ok(&["issue", "client", "--ca", "ca", "--cn", "a", "--out", "a"]);
    let index = sb.read("ca/index.txt");
    let line = index.lines().next().unwrap().to_string();
    // a duplicate serial (openssl ca refuses such a database; crl would list it twice)
    sb.write("ca/index.txt", format!("{index}{line}\n"));
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "b", "--out", "b"],
        &["index.txt:2", "appears again (first on line 1)"],
    );
    fails_cleanly(
        &sb,
        &["crl", "--ca", "ca"],
        &["index.txt:2", "appears again"],
    );
    // a complete but malformed line
    sb.write(
        "ca/index.txt",
        format!("{index}V\t361231235959Z\t\tNOTHEX\tunknown\t/CN=x\n"),
    );
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "b", "--out", "b"],
        &["index.txt:2", "not hexadecimal"],
    );
    // a line cut short by a crash: moved to a side file, the rest kept, issuance goes on
    sb.write("ca/index.txt", format!("{index}V\t3612312"));
    sb.ok(&["issue", "client", "--ca", "ca", "--cn", "b", "--out", "b"]);
    let side: Vec<String> = std::fs::read_dir(sb.path("ca"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("index.txt.torn-"))
        .collect();
    assert_eq!(side.len(), 1, "{side:?}");
    assert_eq!(sb.read(&format!("ca/{}", side[0])), "V\t3612312");
    assert_eq!(sb.read("ca/index.txt").lines().count(), 2);
    sb.openssl_ok(&["ca", "-config", "ca/openssl.cnf", "-updatedb"]);
    // serial behind the database with the newcerts copy gone: the index still refuses it
    let used = sb
        .read("ca/index.txt")
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .nth(3)
        .unwrap()
        .to_string();
    std::fs::remove_file(sb.path(&format!("ca/newcerts/{used}.pem"))).unwrap();
    sb.write("ca/serial", format!("{used}\n"));
    fails_cleanly(
        &sb,
        &["issue", "client", "--ca", "ca", "--cn", "c", "--out", "c"],
        &["already been issued", "index.txt:1"],
    );
    sb.write("ca/serial", "7F00\n");
    // crlnumber: never reused, never behind crl.pem
    sb.ok(&["crl", "--ca", "ca"]);
    let n = sb.read("ca/crlnumber");
    std::fs::remove_file(sb.path("ca/crlnumber")).unwrap();
    fails_cleanly(
        &sb,
        &["crl", "--ca", "ca"],
        &["crlnumber is missing", "echo"],
    );
    sb.write("ca/crlnumber", "01\n");
    fails_cleanly(&sb, &["crl", "--ca", "ca"], &["CRL numbers must increase"]);
    sb.write("ca/crlnumber", &n);
    // an --out the CRL cannot be written to spends no CRL number
    fails_cleanly(
        &sb,
        &["crl", "--ca", "ca", "--out", "missing/dir/crl.pem"],
        &["missing/dir", "not a directory"],
    );
    sb.ok(&["crl", "--ca", "ca"]);
}
