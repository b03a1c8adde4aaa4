//! `pgcert mint`: PostgreSQL's own test matrix and an application's CI matrix minted from their
//! plans, checked file by file with openssl and served by a real PostgreSQL to real psql; a bad
//! plan writes nothing; `--jobs 1` and `--jobs 4` make the same set.

use crate::support::{PgServer, Sandbox, postgres_available, require};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

fn plan(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap();
    text.parse().unwrap()
}

fn entries<'a>(t: &'a toml::Table, kind: &str) -> Vec<&'a toml::Table> {
    t.get(kind)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_table()).collect())
        .unwrap_or_default()
}

fn s<'a>(t: &'a toml::Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(|v| v.as_str())
}

/// `openssl x509` facts of a certificate file: the one-line subject and the SAN entries.
fn x509(sb: &Sandbox, file: &str) -> (String, Vec<String>) {
    let subject = sb.openssl_ok(&[
        "x509", "-in", file, "-noout", "-subject", "-nameopt", "compat",
    ]);
    // compat is X509_NAME_oneline: bytes outside ASCII as \xHH
    let raw = subject.trim().trim_start_matches("subject=");
    let mut bytes = Vec::new();
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'\\' && tail.first() == Some(&b'x') && tail.len() >= 3 {
            bytes.push(u8::from_str_radix(std::str::from_utf8(&tail[1..3]).unwrap(), 16).unwrap());
            rest = &tail[3..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let subject = String::from_utf8(bytes).unwrap();
    let ext = sb.openssl_ok(&["x509", "-in", file, "-noout", "-ext", "subjectAltName"]);
    let sans = ext
        .lines()
        .skip(1)
        .flat_map(|l| l.split(','))
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    (subject, sans)
}

/// The SAN entries openssl prints for the plan's `san = [...]`.
fn openssl_sans(plan_sans: &[&str]) -> Vec<String> {
    plan_sans
        .iter()
        .map(|x| match x.split_once(':') {
            Some(("dns", v)) => format!("DNS:{v}"),
            Some(("ip", v)) => {
                let ip: std::net::IpAddr = v.parse().unwrap();
                match ip {
                    std::net::IpAddr::V4(a) => format!("IP Address:{a}"),
                    // openssl prints every group in upper case, zeros kept
                    std::net::IpAddr::V6(a) => format!(
                        "IP Address:{}",
                        a.segments()
                            .iter()
                            .map(|g| format!("{g:X}"))
                            .collect::<Vec<_>>()
                            .join(":")
                    ),
                }
            }
            _ => panic!("unexpected SAN form {x}"),
        })
        .collect()
}

#[test]
fn postgres_ssl_test_matrix_matches_its_plan_and_a_real_server_agrees() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let out = sb.ok(&[
        "--json",
        "mint",
        &format!("{EXAMPLES}/postgres-ssl-test-matrix.toml"),
        "--out",
        "m",
    ]);
    let j = crate::support::json(&out);
    assert_eq!(j["certificates"].as_array().unwrap().len(), 21);
    // the same 56 files and 4 CRL directories as sslfiles.mk makes in ssl/
    let names: Vec<String> = std::fs::read_dir(sb.path("m/ssl"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 60, "{names:?}");
    let p = plan("postgres-ssl-test-matrix.toml");
    // every certificate's subject and SANs as the plan says, as openssl reads them
    for e in entries(&p, "leaf").into_iter().chain(entries(&p, "ca")) {
        let file = format!("m/{}", s(e, "cert").unwrap());
        let (subject, sans) = x509(&sb, &file);
        let want = match (s(e, "subj"), s(e, "cn")) {
            (Some(subj), _) => subj.to_string(),
            (None, Some(cn)) => format!("/CN={cn}"),
            _ => unreachable!(),
        };
        assert_eq!(subject, want, "{file}");
        let plan_sans: Vec<&str> = e
            .get("san")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(sans, openssl_sans(&plan_sans), "{file}");
        // leaf-only files (chain = false): one certificate
        if e.get("chain").and_then(|v| v.as_bool()) == Some(false) {
            assert_eq!(
                sb.read(&file).matches("BEGIN CERTIFICATE").count(),
                1,
                "{file}"
            );
        }
    }
    let ext = sb.openssl_ok(&[
        "x509",
        "-in",
        "m/ssl/client_ext.crt",
        "-noout",
        "-ext",
        "basicConstraints,extendedKeyUsage",
    ]);
    assert!(
        ext.contains("critical")
            && ext.contains("CA:FALSE")
            && ext.contains("TLS Web Client Authentication"),
        "{ext}"
    );
    let ca_ext = sb.openssl_ok(&[
        "x509",
        "-in",
        "m/ssl/server_ca.crt",
        "-noout",
        "-ext",
        "basicConstraints",
    ]);
    assert!(ca_ext.contains("CA:TRUE"), "{ca_ext}");
    // the CRLs list exactly the revoked ones
    let serial = |f: &str| {
        sb.openssl_ok(&["x509", "-in", f, "-noout", "-serial"])
            .trim()
            .trim_start_matches("serial=")
            .to_string()
    };
    let client_crl = sb.openssl_ok(&["crl", "-in", "m/ssl/client.crl", "-noout", "-text"]);
    for f in ["m/ssl/client-revoked.crt", "m/ssl/client-revoked-utf8.crt"] {
        assert!(client_crl.contains(&serial(f)), "{f} in client.crl");
    }
    assert!(!client_crl.contains(&serial("m/ssl/client.crt")));
    let server_crl = sb.openssl_ok(&["crl", "-in", "m/ssl/server.crl", "-noout", "-text"]);
    assert!(server_crl.contains(&serial("m/ssl/server-revoked.crt")));
    assert!(
        sb.openssl_ok(&["crl", "-in", "m/ssl/root.crl", "-noout", "-text"])
            .contains("No Revoked Certificates")
    );
    // the hash directories as `openssl rehash` names them
    for (dir, ca) in [
        ("m/ssl/server-crldir", "m/ssl/server_ca.crt"),
        ("m/ssl/root+client-crldir", "m/ssl/root_ca.crt"),
    ] {
        let hash = sb
            .openssl_ok(&["x509", "-in", ca, "-noout", "-subject_hash"])
            .trim()
            .to_string();
        assert!(sb.exists(&format!("{dir}/{hash}.r0")), "{dir}/{hash}.r0");
    }
    // the special keys: the encrypted one opens with its passphrase only, the DER one is DER
    sb.openssl_ok(&[
        "pkey",
        "-in",
        "m/ssl/server-password.key",
        "-passin",
        "pass:secret1",
        "-noout",
    ]);
    assert!(
        !sb.openssl(&[
            "pkey",
            "-in",
            "m/ssl/server-password.key",
            "-passin",
            "pass:wrong",
            "-noout"
        ])
        .status
        .success()
    );
    sb.openssl_ok(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        "m/ssl/client-der.key",
        "-noout",
    ]);
    assert_eq!(sb.mode("m/ssl/client.key"), 0o600);
    assert_eq!(sb.mode("m/ssl/client.crt"), 0o644);
    // the CA directories are openssl's: openssl ca verifies its own database
    sb.openssl_ok(&["ca", "-config", "m/ca/client_ca/openssl.cnf", "-updatedb"]);
    if !postgres_available() {
        return;
    }
    // a real server: the cases 001_ssltests.pl makes of these files
    let mut pg = PgServer::init(&sb, "pg");
    for f in [
        "server-cn-and-alt-names.crt",
        "server-cn-and-alt-names.key",
        "server-revoked.crt",
        "server-revoked.key",
        "root+client_ca.crt",
        "root+client.crl",
    ] {
        sb.copy(&format!("m/ssl/{f}"), &format!("pg/data/{f}"));
    }
    sb.chown_postgres("pg/data");
    pg.conf("ssl = on\nssl_cert_file = 'server-cn-and-alt-names.crt'\nssl_key_file = 'server-cn-and-alt-names.key'\nssl_ca_file = 'root+client_ca.crt'\nssl_crl_file = 'root+client.crl'");
    pg.hba("hostssl all ssltestuser 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust");
    pg.start();
    pg.sql("create role ssltestuser login");
    let home = sb.path("home");
    let m = |f: &str| sb.path(&format!("m/ssl/{f}")).display().to_string();
    let conn = |host: &str, root: &str, extra: &str| {
        format!(
            "host={host} hostaddr=127.0.0.1 dbname=postgres sslmode=verify-full sslrootcert={} {extra}",
            m(root)
        )
    };
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        (
            "SAN match",
            conn(
                "dns1.alt-name.pg-ssltest.test",
                "root+server_ca.crt",
                "user=postgres",
            ),
            None,
        ),
        (
            "CN ignored when SANs exist",
            conn(
                "common-name.pg-ssltest.test",
                "root+server_ca.crt",
                "user=postgres",
            ),
            Some("does not match host name"),
        ),
        (
            "wrong CA",
            conn(
                "dns1.alt-name.pg-ssltest.test",
                "root+client_ca.crt",
                "user=postgres",
            ),
            Some("certificate verify failed"),
        ),
        (
            "client certificate",
            conn(
                "dns2.alt-name.pg-ssltest.test",
                "root+server_ca.crt",
                &format!(
                    "user=ssltestuser sslcert={} sslkey={}",
                    m("client.crt"),
                    m("client.key")
                ),
            ),
            None,
        ),
        (
            "client certificate, DER key",
            conn(
                "dns2.alt-name.pg-ssltest.test",
                "root+server_ca.crt",
                &format!(
                    "user=ssltestuser sslcert={} sslkey={}",
                    m("client.crt"),
                    m("client-der.key")
                ),
            ),
            None,
        ),
        (
            "client certificate, encrypted key",
            conn(
                "dns2.alt-name.pg-ssltest.test",
                "root+server_ca.crt",
                &format!(
                    "user=ssltestuser sslcert={} sslkey={} sslpassword=dUmmyP^#+",
                    m("client.crt"),
                    m("client-encrypted-pem.key")
                ),
            ),
            None,
        ),
        (
            "revoked client",
            conn(
                "dns2.alt-name.pg-ssltest.test",
                "root+server_ca.crt",
                &format!(
                    "user=ssltestuser sslcert={} sslkey={}",
                    m("client-revoked.crt"),
                    m("client-revoked.key")
                ),
            ),
            Some("certificate revoked"),
        ),
    ];
    for (what, c, refused) in &cases {
        let (ok, said) = pg.psql(c, &home);
        match refused {
            None => assert!(ok, "{what}: {said}"),
            Some(why) => assert!(
                !ok && said.contains(why),
                "{what} must be refused ({why}): {said}"
            ),
        }
    }
    // the revoked server certificate, refused by a client holding root+server.crl
    pg.conf("ssl_cert_file = 'server-revoked.crt'\nssl_key_file = 'server-revoked.key'");
    pg.reload_until(|| pg.setting("ssl_cert_file") == "server-revoked.crt");
    let base = conn(
        "common-name.pg-ssltest.test",
        "root+server_ca.crt",
        "user=postgres",
    );
    let (ok, said) = pg.psql(&base, &home);
    assert!(
        ok,
        "without a CRL the CN-only certificate is accepted: {said}"
    );
    // libpq does not say why its own verification failed; the CRL is the only difference
    let (ok, said) = pg.psql(&format!("{base} sslcrl={}", m("root+server.crl")), &home);
    assert!(!ok && said.contains("certificate verify failed"), "{said}");
}

#[test]
fn ci_matrix_verdicts_match_a_real_server() {
    if !postgres_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&[
        "--no-sync",
        "mint",
        &format!("{EXAMPLES}/ci-matrix.toml"),
        "--out",
        "ci",
    ]);
    let mut pg = PgServer::init(&sb, "pg");
    for (from, to) in [
        ("server/server.crt", "server.crt"),
        ("server/server.key", "server.key"),
        ("root.crt", "root.crt"),
        ("crl.pem", "crl.pem"),
    ] {
        sb.copy(&format!("ci/{from}"), &format!("pg/data/{to}"));
    }
    sb.chown_postgres("pg/data");
    pg.conf("ssl = on\nssl_ca_file = 'root.crt'\nssl_crl_file = 'crl.pem'");
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.start();
    pg.sql("create role alice login; create role user7 login");
    let home = sb.path("home");
    let client = |dir: &str, user: &str| {
        format!(
            "host=localhost hostaddr=127.0.0.1 dbname=postgres user={user} sslmode=verify-full sslrootcert={} sslcrl={} sslcert={} sslkey={}",
            sb.path("ci/root.crt").display(),
            sb.path("ci/crl.pem").display(),
            sb.path(&format!("ci/clients/{dir}/postgresql.crt"))
                .display(),
            sb.path(&format!("ci/clients/{dir}/postgresql.key"))
                .display()
        )
    };
    for (dir, user, refused) in [
        ("alice", "alice", None),
        ("user7", "user7", None),
        ("revoked", "alice", Some("certificate revoked")),
        ("expired", "alice", Some("certificate expired")),
        ("not-yet-valid", "alice", Some("alert bad certificate")),
        ("wrong-ca", "alice", Some("unknown ca")),
    ] {
        let (ok, said) = pg.psql(&client(dir, user), &home);
        match refused {
            None => assert!(ok && said.contains(&format!("{user} t")), "{dir}: {said}"),
            Some(why) => assert!(
                !ok && said.contains(why),
                "{dir} must be refused ({why}): {said}"
            ),
        }
    }
}

#[test]
fn a_plan_with_an_error_anywhere_writes_nothing_and_names_the_line() {
    let sb = Sandbox::new();
    let good = "[[ca]]\nname = \"root\"\ncn = \"Root\"\n\n[[leaf]]\nname = \"a\"\nca = \"root\"\nprofile = \"client\"\ncn = \"a\"\n";
    for (what, extra, line, says) in [
        (
            "unknown CA",
            "\n[[leaf]]\nname = \"b\"\nca = \"nope\"\nprofile = \"client\"\ncn = \"b\"\n",
            11,
            "'nope' is not a [[ca]]",
        ),
        (
            "bad subject",
            "\n[[leaf]]\nname = \"b\"\nca = \"root\"\nprofile = \"client\"\nsubj = \"CN=b\"\n",
            11,
            "must start with '/'",
        ),
        (
            "unknown field",
            "\n[[leaf]]\nname = \"b\"\nca = \"root\"\nprofile = \"client\"\ncn = \"b\"\ncolour = \"red\"\n",
            16,
            "unknown field `colour`",
        ),
        (
            "same file twice",
            "\n[[leaf]]\nname = \"b\"\nca = \"root\"\nprofile = \"client\"\ncn = \"b\"\ncert = \"a.crt\"\n",
            11,
            "a.crt is written twice",
        ),
        ("not TOML", "\n[[leaf]\n", 11, "unclosed array table"),
        (
            "outlives its CA",
            "\n[[leaf]]\nname = \"b\"\nca = \"root\"\nprofile = \"client\"\ncn = \"b\"\ndays = 40000\n",
            11,
            "after its issuer",
        ),
        (
            "server without a name",
            "\n[[leaf]]\nname = \"b\"\nca = \"root\"\nprofile = \"server\"\nsubj = \"/OU=x\"\n",
            11,
            "needs a host name",
        ),
        (
            "loop",
            "\n[[ca]]\nname = \"x\"\nparent = \"y\"\ncn = \"x\"\n\n[[ca]]\nname = \"y\"\nparent = \"x\"\ncn = \"y\"\n",
            11,
            "loop",
        ),
    ] {
        sb.write("plan.toml", format!("{good}{extra}"));
        let before = sb.listing();
        let e = sb.fails(&["mint", "plan.toml", "--out", "out"]);
        assert!(
            e.contains(&format!("plan.toml:{line}:")) && e.contains(says),
            "{what}: {e}"
        );
        assert_eq!(sb.listing(), before, "{what}: nothing written");
    }
    // the good plan itself works; then --out exists
    sb.write("plan.toml", good);
    sb.ok(&["mint", "plan.toml", "--out", "out"]);
    let e = sb.fails(&["mint", "plan.toml", "--out", "out"]);
    assert!(e.contains("already exists"), "{e}");
}

/// What a minted set says, with the parts that differ from run to run (keys, random serials,
/// times to the second) left out: file names and modes, each certificate's subject, issuer,
/// SANs and extensions, each CA's index in order.
fn fingerprint(sb: &Sandbox, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let root = sb.path(dir);
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            if rel.contains("newcerts/") {
                out.push("newcerts entry".into());
                continue;
            }
            out.push(format!("{rel} {:o}", sb.mode(&format!("{dir}/{rel}"))));
            if rel.ends_with(".crt") && !rel.ends_with("root.crt") {
                let f = format!("{dir}/{rel}");
                out.push(sb.openssl_ok(&[
                    "x509",
                    "-in",
                    &f,
                    "-noout",
                    "-subject",
                    "-issuer",
                    "-ext",
                    "subjectAltName,basicConstraints,keyUsage,extendedKeyUsage",
                ]));
            }
            if rel.ends_with("index.txt") {
                for l in sb.read(&format!("{dir}/{rel}")).lines() {
                    let f: Vec<&str> = l.split('\t').collect();
                    out.push(format!("{} {}", f[0], f[5]));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn jobs_1_and_jobs_4_make_equivalent_sets() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    let plan = format!("{EXAMPLES}/ci-matrix.toml");
    sb.ok(&["--no-sync", "mint", &plan, "--out", "one", "--jobs", "1"]);
    sb.ok(&["--no-sync", "mint", &plan, "--out", "four", "--jobs", "4"]);
    let (a, b) = (fingerprint(&sb, "one"), fingerprint(&sb, "four"));
    assert!(a.len() > 100, "{a:?}");
    assert_eq!(a, b);
    // and the serials are handed out in plan order either way
    for dir in ["one", "four"] {
        let idx = sb.read(&format!("{dir}/ca/inter/index.txt"));
        let users: Vec<&str> = idx
            .lines()
            .map(|l| l.rsplit('\t').next().unwrap())
            .collect();
        assert_eq!(users[0], "/CN=localhost", "{dir}");
        assert_eq!(users.last().unwrap(), &"/CN=user20", "{dir}");
    }
}
