#![allow(clippy::print_stderr)]
//! Crash safety of the CA database (docs/ca-database.md), at the process level: issuances
//! killed with SIGKILL at spread-out moments must never leave a serial that can be handed out
//! twice, an index.txt that does not parse, or a CA that cannot go on issuing.

use std::time::Duration;

use crate::support::{Sandbox, json};

#[test]
fn killed_issuances_never_reuse_a_serial_or_break_the_database() {
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    // measure one issuance so the kills land before, during and after its database writes
    let t = std::time::Instant::now();
    sb.ok(&[
        "-q", "issue", "client", "--ca", "ca", "--cn", "probe", "--name", "probe",
    ]);
    let full = t.elapsed().as_micros() as u64;
    let mut seed: u64 = 0x00C0_FFEE;
    for i in 0..120 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_micros((seed >> 33) % (full * 3 / 2 + 1));
        let name = format!("c{i}");
        let mut child = sb
            .pgcert_cmd(&[
                "-q", "issue", "client", "--ca", "ca", "--cn", &name, "--name", &name, "--out",
                "out",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
    }
    // the index parses and its serials are distinct
    let j = json(&sb.ok(&["--json", "list", "--ca", "ca"]));
    let entries = j["entries"].as_array().unwrap();
    let mut serials: Vec<String> = entries
        .iter()
        .map(|e| e["serial"].as_str().unwrap().to_string())
        .collect();
    let n = serials.len();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), n, "a serial appears twice in index.txt");
    // every recorded certificate has its newcerts copy (newcerts is written first)
    for s in &serials {
        assert!(
            sb.exists(&format!("ca/newcerts/{s}.pem")),
            "index line {s} without newcerts/{s}.pem"
        );
    }
    // the next serial is beyond every serial ever used, recorded or not
    let next = u128::from_str_radix(sb.read("ca/serial").trim(), 16).unwrap();
    for f in std::fs::read_dir(sb.path("ca/newcerts")).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // a killed process's temp file, swept by the next locked command
        }
        let used = u128::from_str_radix(name.trim_end_matches(".pem"), 16).unwrap();
        assert!(
            used < next,
            "serial file {next:X} would hand out {used:X} again"
        );
    }
    // and the CA goes on issuing, the new certificate recorded once
    let out = json(&sb.ok(&[
        "--json", "issue", "client", "--ca", "ca", "--cn", "after", "--name", "after",
    ]));
    let s = out["certificates"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!serials.contains(&s));
    let index = sb.read("ca/index.txt");
    assert_eq!(
        index
            .lines()
            .filter(|l| l.contains(&format!("\t{s}\t")))
            .count(),
        1
    );
    // temp files of the killed processes were swept from the CA directory under the lock
    for d in ["ca", "ca/newcerts"] {
        let litter: Vec<String> = std::fs::read_dir(sb.path(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".pgcert-"))
            .collect();
        assert!(litter.is_empty(), "{d}: {litter:?}");
    }
}

/// What a killed command may leave, checked right after the kill.
fn database_invariants(sb: &Sandbox, ca: &str, what: &str) {
    let index = sb.read(&format!("{ca}/index.txt"));
    let mut serials = Vec::new();
    for l in index.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 6, "{what}: malformed index line {l:?}");
        serials.push(f[3].to_string());
    }
    let n = serials.len();
    serials.sort();
    serials.dedup();
    assert_eq!(
        serials.len(),
        n,
        "{what}: a serial appears twice in the index"
    );
    let next = u128::from_str_radix(sb.read(&format!("{ca}/serial")).trim(), 16).unwrap();
    for s in &serials {
        assert!(
            sb.exists(&format!("{ca}/newcerts/{s}.pem")),
            "{what}: index line {s} without its newcerts copy"
        );
        assert!(
            u128::from_str_radix(s, 16).unwrap() < next,
            "{what}: serial file would hand out {s} again"
        );
    }
    // no signed certificate anywhere, not even in a temp file a kill left, carries a serial
    // the serial file would hand out again
    let ca_pem = sb.read(&format!("{ca}/cacert.pem"));
    let ca_der = pem::parse(&ca_pem).unwrap().into_contents();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    let ca_subject = ca_cert.subject().as_raw().to_vec();
    let mut stack = vec![sb.dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            let Ok(blocks) = pem::parse_many(&bytes) else {
                continue;
            };
            for b in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
                let Ok((_, c)) = x509_parser::parse_x509_certificate(b.contents()) else {
                    continue;
                };
                if c.issuer().as_raw() == ca_subject.as_slice() && c.subject() != c.issuer() {
                    let s = u128::from_str_radix(&c.raw_serial_as_string().replace(':', ""), 16)
                        .unwrap();
                    assert!(
                        s < next,
                        "{what}: {} holds a certificate with serial {s:X}, which {ca}/serial would hand out again",
                        p.display()
                    );
                }
            }
        }
    }
    for e in std::fs::read_dir(sb.path(&format!("{ca}/newcerts"))).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(s) = name.strip_suffix(".pem") {
            assert!(
                u128::from_str_radix(s, 16).unwrap() < next,
                "{what}: serial file would hand out {s} again"
            );
        }
    }
}

/// Every file whose name says a pgcert process made it and did not finish.
fn litter(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains(".pgcert-") || name.starts_with(".pgcert-journal") {
            out.push(e.path().display().to_string());
        }
        if e.file_type().unwrap().is_dir() {
            out.extend(litter(&e.path()));
        }
    }
    out
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The key and certificate in a directory match (or are absent), as PostgreSQL needs them.
fn pair_matches(sb: &Sandbox, crt: &str, key: &str, what: &str) {
    if !sb.exists(crt) || !sb.exists(key) {
        return;
    }
    let out = sb.pgcert(&["--json", "check", "--cert", crt, "--key", key]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("does not match"),
        "{what}: {crt} and {key} do not match after recovery: {text}"
    );
}

/// Run `args` in a copy of `template`, killed just before its 1st, 2nd, ... state-changing
/// system call until it completes; after each kill check `after_kill`, then let the next
/// pgcert run (`next`) recover, and require that no temp file is left anywhere. Returns how
/// many kill points the command has.
fn kill_at_every_point(
    template: &Sandbox,
    args: &[&str],
    after_kill: &dyn Fn(&Sandbox, &str),
    next: &[&str],
) -> (u32, u32, u32) {
    // kills that left temp files or backups, and kills that left a journal to roll forward
    let (mut left_temps, mut left_journal) = (0, 0);
    for n in 1.. {
        let sb = Sandbox::new();
        copy_tree(&template.dir, &sb.dir);
        let out = sb
            .pgcert_cmd(args)
            .env("PGCERT_TEST_CRASH_AT", n.to_string())
            .env("PGCERT_NO_SYNC", "1")
            .output()
            .unwrap();
        if out.status.code().is_some() {
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?} without a kill: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return (n - 1, left_temps, left_journal);
        }
        let left = litter(&sb.dir);
        left_temps += u32::from(left.iter().any(|l| {
            l.contains(".pgcert-tmp-") || l.contains(".pgcert-old-") || l.contains(".pgcert-new-")
        }));
        left_journal += u32::from(left.iter().any(|l| l.contains(".pgcert-journal-")));
        let what = format!("{args:?} killed at point {n}");
        after_kill(&sb, &what);
        let out = sb.pgcert(next);
        assert!(
            out.status.success(),
            "{what}: the next run {next:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let left = litter(&sb.dir);
        assert!(
            left.is_empty(),
            "{what}: left behind after the next run: {left:?}"
        );
    }
    unreachable!()
}

/// Every state-changing command, killed at every state-changing system call in turn: the
/// database stays consistent, no serial is handed out twice, a key and certificate in place
/// match once pgcert has looked at the directory again, `renew --revoke-old` never leaves the
/// old certificate revoked without the new one in place, and the next run leaves no temp file.
#[test]
fn every_kill_point_leaves_a_consistent_ca_and_file_set() {
    let t = Sandbox::new();
    t.ok(&["init-ca", "--ca", "root"]);
    t.ok(&["init-ca", "--ca", "ca", "--parent", "root"]);
    t.ok(&[
        "issue", "server", "--ca", "ca", "--cn", "db", "--out", "out",
    ]);
    t.ok(&[
        "key",
        "gen",
        "--out",
        "out/enc.key",
        "--passout",
        "pass:secret",
    ]);
    let old_serial = {
        let j = json(&t.ok(&["--json", "show", "out/server.crt"]));
        j["objects"][0]["serial"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{j}"))
    };
    let ca_ok = |sb: &Sandbox, what: &str| {
        database_invariants(sb, "ca", what);
        database_invariants(sb, "root", what);
    };
    let pair_ok = |sb: &Sandbox, what: &str| {
        ca_ok(sb, what);
        // looking at the directory again (a pgcert run there) finishes the interrupted change
        pair_matches(sb, "out/server.crt", "out/server.key", what);
        pair_matches(sb, "new/server.crt", "new/server.key", what);
    };
    let mut table = Vec::new();
    type Check<'a> = Box<dyn Fn(&Sandbox, &str) + 'a>;
    let cases: Vec<(&str, Vec<&str>, Check, Vec<&str>)> = vec![
        (
            "issue",
            vec![
                "issue", "server", "--ca", "ca", "--cn", "db", "--out", "new",
            ],
            Box::new(pair_ok),
            vec![
                "--force", "issue", "server", "--ca", "ca", "--cn", "db", "--out", "new",
            ],
        ),
        (
            "issue --force",
            vec![
                "--force", "issue", "server", "--ca", "ca", "--cn", "db", "--out", "out",
            ],
            Box::new(pair_ok),
            vec![
                "--force", "issue", "server", "--ca", "ca", "--cn", "db", "--out", "out",
            ],
        ),
        (
            "renew --rekey --revoke-old",
            vec![
                "--force",
                "renew",
                "--ca",
                "ca",
                "--cert",
                "out/server.crt",
                "--rekey",
                "--revoke-old",
                "--out",
                "out",
            ],
            Box::new(|sb: &Sandbox, what: &str| {
                pair_ok(sb, what);
                let index = sb.read("ca/index.txt");
                let revoked = index
                    .lines()
                    .any(|l| l.starts_with('R') && l.contains(&format!("\t{old_serial}\t")));
                if revoked {
                    let j = json(&sb.ok(&["--json", "show", "out/server.crt"]));
                    assert_ne!(
                        j["objects"][0]["serial"].as_str().unwrap(),
                        old_serial,
                        "{what}: the old certificate is revoked but still the one in place"
                    );
                }
            }),
            vec!["crl", "--ca", "ca", "--out", "out/crl.pem"],
        ),
        (
            "revoke",
            vec!["revoke", "--ca", "ca", "--cert", "out/server.crt"],
            Box::new(ca_ok),
            vec!["crl", "--ca", "ca"],
        ),
        (
            "crl",
            vec!["crl", "--ca", "ca", "--out", "out/crl.pem"],
            Box::new(|sb: &Sandbox, what: &str| {
                ca_ok(sb, what);
                // crlnumber is never behind the CRLs in crl.pem
                let next = u128::from_str_radix(sb.read("ca/crlnumber").trim(), 16).unwrap();
                let t = sb.openssl_ok(&["crl", "-in", "ca/crl.pem", "-noout", "-crlnumber"]);
                let have =
                    u128::from_str_radix(t.trim().trim_start_matches("crlNumber=0x"), 16).unwrap();
                assert!(
                    have < next,
                    "{what}: crlnumber {next} is behind crl.pem's {have}"
                );
            }),
            vec!["crl", "--ca", "ca", "--out", "out/crl.pem"],
        ),
        (
            "init-ca --parent",
            vec!["init-ca", "--ca", "sub", "--parent", "root"],
            Box::new(|sb: &Sandbox, what: &str| {
                ca_ok(sb, what);
                if sb.exists("sub/cacert.pem") {
                    // a CA under its final name is complete and recorded by its parent
                    database_invariants(sb, "sub", what);
                    let j = json(&sb.ok(&["--json", "show", "sub/cacert.pem"]));
                    let s = j["objects"][0]["serial"].as_str().unwrap().to_string();
                    assert!(
                        sb.read("root/index.txt").contains(&format!("\t{s}\t")),
                        "{what}"
                    );
                }
            }),
            vec!["init-ca", "--ca", "sub2", "--parent", "root"],
        ),
        (
            "key decrypt (in place)",
            vec!["key", "decrypt", "out/enc.key", "--passin", "pass:secret"],
            Box::new(|sb: &Sandbox, what: &str| {
                assert_eq!(sb.mode("out/enc.key"), 0o600, "{what}");
                let ok = sb.pgcert(&["show", "out/enc.key"]).status.success();
                assert!(ok, "{what}: the key is not readable");
            }),
            vec![
                "key",
                "decrypt",
                "out/enc.key",
                "--passin",
                "pass:secret",
                "--out",
                "out/plain.key",
            ],
        ),
    ];
    // mint and quickstart write a new tree aside and rename it: after any kill the target is
    // absent or whole
    t.write(
        "plan.toml",
        "[[ca]]\nname = \"r\"\ncn = \"R\"\n[[ca]]\nname = \"i\"\nparent = \"r\"\ncn = \"I\"\n\
         [[leaf]]\nname = \"c{n}\"\nca = \"i\"\nprofile = \"client\"\ncn = \"c{n}\"\ncount = 3\n\
         [[crl]]\nca = \"i\"\nout = \"i.crl\"\n",
    );
    let whole = |dir: &'static str, files: &'static [&'static str]| {
        move |sb: &Sandbox, what: &str| {
            ca_ok(sb, what);
            if sb.exists(dir) {
                for f in files {
                    assert!(sb.exists(&format!("{dir}/{f}")), "{what}: {dir} lacks {f}");
                }
            }
        }
    };
    let mut cases = cases;
    cases.push((
        "mint",
        vec!["mint", "plan.toml", "--out", "m"],
        Box::new(whole(
            "m",
            &[
                "ca/i/index.txt",
                "ca/r/cacert.pem",
                "c3.key",
                "c3.crt",
                "i.crl",
            ],
        )),
        vec!["mint", "plan.toml", "--out", "m2"],
    ));
    cases.push((
        "quickstart",
        vec!["quickstart", "--out", "qs", "--user", "postgres"],
        Box::new(move |sb: &Sandbox, what: &str| {
            whole(
                "qs",
                &[
                    "server/server.key",
                    "server/server.crt",
                    "server/crl.pem",
                    "client/postgresql.pk8",
                    "intermediate-ca/index.txt",
                ],
            )(sb, what);
            pair_matches(sb, "qs/server/server.crt", "qs/server/server.key", what);
        }),
        vec!["quickstart", "--out", "qs2", "--user", "postgres"],
    ));
    for (name, args, after_kill, next) in &cases {
        let (n, temps, journals) = kill_at_every_point(&t, args, after_kill.as_ref(), next);
        assert!(n > 3, "{name}: only {n} kill points");
        table.push(format!(
            "{name}: {n} kill points; {temps} left temp files, {journals} a journal to roll forward; all consistent, none left anything after the next run"
        ));
    }
    eprintln!("{}", table.join("\n"));
}
