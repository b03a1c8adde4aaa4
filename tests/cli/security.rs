//! Issue 19, "root's pgcert writes only where root meant": each finding of the adversarial
//! review as a test. The attacks run pgcert as root with an unprivileged account (`nobody`,
//! `postgres`) doing its part, and compare every file of the sandbox (contents, mode, owner,
//! link target) before and after. docs/security.md is the threat model these tests hold to.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::support::{Sandbox, require};

/// Every entry below `dir`: (kind and contents or link target, mode, uid, gid).
fn state(dir: &Path) -> BTreeMap<PathBuf, (String, u32, u32, u32)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, (String, u32, u32, u32)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let what = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                "dir".to_string()
            } else {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap_or_default().hash(&mut h);
                format!("file {:016x}", h.finish())
            };
            out.insert(rel, (what, m.mode() & 0o7777, m.uid(), m.gid()));
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// The CRL number of a CRL file, as openssl reads it.
fn crl_number(sb: &Sandbox, crl: &str) -> u64 {
    let text = sb.openssl_ok(&["crl", "-in", crl, "-noout", "-crlnumber"]);
    let hex = text.trim().trim_start_matches("crlNumber=0x");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("{text}"))
}

#[test]
fn three_hundred_crls_in_a_row_each_numbered_one_above_the_last() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    // init-ca signed CRL number 01; 300 more take it to 0x12D, through the FF/0100 boundary
    // where a byte-string comparison took 0100 for a number below FF
    for i in 2..=301u32 {
        sb.ok(&["crl", "--ca", "ca", "--out", "ca/crl-latest.pem"]);
        if i == 255 || i == 256 || i == 257 || i == 301 {
            assert_eq!(crl_number(&sb, "ca/crl.pem"), u64::from(i), "CRL {i}");
        }
    }
    assert_eq!(sb.read("ca/crlnumber").trim(), "012E");
}

#[test]
fn crl_numbers_cross_the_ffff_boundary_and_a_stale_crlnumber_gets_a_usable_hint() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    sb.write("ca/crlnumber", "FFFE\n");
    for want in [0xFFFE, 0xFFFF, 0x010000, 0x010001] {
        sb.ok(&["crl", "--ca", "ca"]);
        assert_eq!(crl_number(&sb, "ca/crl.pem"), want);
    }
    assert_eq!(sb.read("ca/crlnumber").trim(), "010002");
    // a crlnumber below what crl.pem holds is refused, and the hint names a number that is
    // free (above 010001), never one already used
    sb.write("ca/crlnumber", "FFFF\n");
    let before = state(&sb.path("ca"));
    let err = sb.fails(&["crl", "--ca", "ca"]);
    assert!(err.contains("010001"), "{err}");
    assert!(err.contains("echo 010002 >"), "{err}");
    assert_eq!(before, state(&sb.path("ca")), "nothing changed");
    sb.write("ca/crlnumber", "010002\n");
    sb.ok(&["crl", "--ca", "ca"]);
}

#[test]
fn serials_cross_the_ff_boundary_and_the_database_stays_openssl_compatible() {
    if !require("openssl") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    sb.write("ca/serial", "FE\n");
    for cn in ["a", "b", "c", "d"] {
        sb.ok(&[
            "issue",
            "client",
            "--ca",
            "ca",
            "--cn",
            cn,
            "--out",
            cn,
            "--key-type",
            "ecdsa-p256",
        ]);
    }
    let serials: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|c| sb.serial_of(&format!("{c}/postgresql.crt")))
        .collect();
    assert_eq!(serials, ["FE", "FF", "0100", "0101"]);
    // a serial file moved back onto a used serial (FF, below the highest 0101 by value, above
    // it as a byte string) is refused, not issued twice
    sb.write("ca/serial", "FF\n");
    let before = state(&sb.path("ca"));
    let err = sb.fails(&["issue", "client", "--ca", "ca", "--cn", "e", "--out", "e"]);
    assert!(err.contains("already been issued"), "{err}");
    assert_eq!(before, state(&sb.path("ca")), "the database is unchanged");
    assert!(!sb.exists("e"));
    // openssl ca continues from pgcert's serial file and pgcert from openssl's
    sb.write("ca/serial", "0102\n");
    sb.openssl_ec_req("e.key", "e.csr", "/CN=e", &[]);
    sb.openssl_ok(&[
        "ca",
        "-batch",
        "-config",
        "ca/openssl.cnf",
        "-in",
        "e.csr",
        "-out",
        "e.crt",
        "-notext",
    ]);
    assert_eq!(sb.serial_of("e.crt"), "0102");
    sb.ok(&["issue", "client", "--ca", "ca", "--cn", "f", "--out", "f"]);
    assert_eq!(sb.serial_of("f/postgresql.crt"), "0103");
}

/// Whether this test runs as root (the attacks need a second account); in CI it must.
fn as_root() -> bool {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    if uid != 0 {
        assert!(
            !crate::support::in_ci(),
            "CI runs as root: this test may not skip"
        );
        return false;
    }
    true
}

fn chown(path: &Path, user: &str) {
    let st = std::process::Command::new("chown")
        .args(["-h", &format!("{user}:")])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

fn uid_of(user: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A process id nobody is using.
fn dead_pid() -> u32 {
    (400_000..)
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn journals_planted_by_another_account_are_reported_and_left_alone() {
    if !as_root() {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    sb.write_key("secret.key", "root's own secret\n");
    // a world-writable sticky directory, like /tmp
    std::fs::create_dir(sb.path("pub")).unwrap();
    std::fs::set_permissions(
        sb.path("pub"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let pid = dead_pid();
    let plant = |rel: &str, text: &str| {
        sb.write(rel, text);
        chown(&sb.path(rel), "nobody");
    };
    plant(
        &format!("pub/.evil.pgcert-tmp-{pid}-1"),
        "attacker's bytes\n",
    );
    let evil_ino = std::fs::metadata(sb.path(&format!("pub/.evil.pgcert-tmp-{pid}-1")))
        .unwrap()
        .ino();
    // the old format named absolute paths: target, temp file, backup (deleted after)
    let v1 = |how: &str, target: &str, backup: &str| {
        let abs = |rel: &str| hex(&sb.path(rel).display().to_string());
        format!(
            "pgcert journal 1\n{how}\t{}\t{}\t{}\n",
            abs(target),
            abs(&format!("pub/.evil.pgcert-tmp-{pid}-1")),
            abs(backup)
        )
    };
    // replace root's secret, delete the CA's key
    plant(
        &format!("pub/.pgcert-journal-{pid}-1"),
        &v1("replace", "secret.key", "ca/private/cakey.pem"),
    );
    // the current format, well formed for this directory, but not root's
    let d = std::fs::metadata(sb.path("pub")).unwrap();
    plant(
        &format!("pub/.pgcert-journal-{pid}-2"),
        &format!(
            "pgcert journal 2\ndir\t{}\t{}\nreplace\t{}\t{}\t{}\t{evil_ino}\n",
            d.dev(),
            d.ino(),
            hex("k2.key"),
            hex(&format!(".evil.pgcert-tmp-{pid}-1")),
            hex(&format!(".k2.key.pgcert-old-{pid}-1")),
        ),
    );
    // and one in the CA directory, as the database account would plant it there
    plant(
        &format!("ca/.pgcert-journal-{pid}-3"),
        &v1("new", "ca/serial", "ca/index.txt"),
    );
    let before = state(&sb.dir);
    // every documented trigger: a write into the directory, a CA lock, the doctor
    let out = sb.ok(&[
        "key",
        "gen",
        "--key-type",
        "ecdsa-p256",
        "--out",
        "pub/k.key",
    ]);
    let err = stderr(&out);
    assert!(err.contains("left the placement journal"), "{err}");
    assert!(err.contains("belongs to nobody"), "{err}");
    let out = sb.ok(&["crl", "--ca", "ca"]);
    assert!(
        stderr(&out).contains("left the placement journal"),
        "{}",
        stderr(&out)
    );
    sb.ok(&[
        "check",
        "--key",
        "ca/private/cakey.pem",
        "--cert",
        "ca/cacert.pem",
    ]);
    let after = state(&sb.dir);
    for (p, v) in &before {
        if p.starts_with("ca")
            && !p.starts_with("ca/private")
            && !p.to_string_lossy().contains("journal")
        {
            continue; // the CRL run changed crlnumber and crl.pem, as asked
        }
        assert_eq!(after.get(p), Some(v), "{} changed", p.display());
    }
    assert_eq!(sb.read("secret.key"), "root's own secret\n");
    assert!(sb.exists("ca/private/cakey.pem"));
    assert!(!sb.exists("pub/k2.key"));
}

/// Kill `args` at successive points until a run leaves a journal in `dir`; returns its name.
fn killed_with_a_journal(sb: &Sandbox, args: &[&str], dir: &str) -> String {
    for n in 1..200 {
        let out = sb
            .pgcert_cmd(args)
            .env("PGCERT_TEST_CRASH_AT", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        let journal = std::fs::read_dir(sb.path(dir)).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(".pgcert-journal-") && !n.contains("-tmp-"))
        });
        if let Some(j) = journal {
            return j;
        }
    }
    panic!("no kill point of {args:?} left a journal in {dir}");
}

#[test]
fn a_journal_moved_to_another_directory_is_not_replayed_there_and_finishes_at_home() {
    if !as_root() {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    let args = [
        "issue", "client", "--ca", "ca", "--cn", "alice", "--out", "alice",
    ];
    let journal = killed_with_a_journal(&sb, &args, "alice");
    // someone who can write both directories moves the journal and its temp files
    std::fs::create_dir(sb.path("elsewhere")).unwrap();
    let names: Vec<String> = std::fs::read_dir(sb.path("alice"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".pgcert-"))
        .collect();
    for n in &names {
        std::fs::rename(
            sb.path(&format!("alice/{n}")),
            sb.path(&format!("elsewhere/{n}")),
        )
        .unwrap();
    }
    let before = state(&sb.path("elsewhere"));
    let out = sb.ok(&[
        "key",
        "gen",
        "--key-type",
        "ecdsa-p256",
        "--out",
        "elsewhere/x.key",
    ]);
    assert!(
        stderr(&out).contains("written for another directory"),
        "{}",
        stderr(&out)
    );
    let mut after = state(&sb.path("elsewhere"));
    after.remove(Path::new("x.key"));
    assert_eq!(
        before, after,
        "nothing placed or removed in the wrong directory"
    );
    // back home, the next run there completes the placement: key and certificate match
    for n in &names {
        std::fs::rename(
            sb.path(&format!("elsewhere/{n}")),
            sb.path(&format!("alice/{n}")),
        )
        .unwrap();
    }
    assert!(sb.exists(&format!("alice/{journal}")));
    sb.ok(&[
        "key",
        "gen",
        "--key-type",
        "ecdsa-p256",
        "--out",
        "alice/other.key",
    ]);
    assert!(
        !sb.exists(&format!("alice/{journal}")),
        "replayed and removed"
    );
    sb.ok(&[
        "check",
        "--key",
        "alice/postgresql.key",
        "--cert",
        "alice/postgresql.crt",
    ]);
    let leftovers: Vec<String> = std::fs::read_dir(sb.path("alice"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".pgcert-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn root_does_not_follow_a_users_symlink_out_of_their_home() {
    if !as_root() {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    // the server's directory, root's, with its ssl_ca_file
    std::fs::create_dir(sb.path("pgdata")).unwrap();
    sb.write("pgdata/root.crt", sb.read("ca/cacert.pem"));
    // a user's home, the user's own; its .postgresql points at the server's directory
    std::fs::create_dir_all(sb.path("homes/u")).unwrap();
    chown(&sb.path("homes/u"), "nobody");
    std::os::unix::fs::symlink(sb.path("pgdata"), sb.path("homes/u/.postgresql")).unwrap();
    chown(&sb.path("homes/u/.postgresql"), "nobody");
    let before = state(&sb.dir);
    let args = [
        "--force",
        "issue",
        "client",
        "--ca",
        "ca",
        "--cn",
        "u",
        "--out",
        "homes/u/.postgresql",
        "--owner",
        "nobody",
    ];
    let err = sb.fails(&args);
    assert!(
        err.contains("refusing to follow the symbolic link"),
        "{err}"
    );
    assert!(err.contains("homes/u/.postgresql"), "{err}");
    assert!(err.contains("belongs to nobody"), "{err}");
    let after = state(&sb.dir);
    let changed: Vec<_> = after
        .iter()
        .filter(|(p, v)| !p.starts_with("ca") && before.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .collect();
    assert!(changed.is_empty(), "changed: {changed:?}");
    // the same with the link one level up (the home itself a link): refused too
    std::fs::remove_file(sb.path("homes/u/.postgresql")).unwrap();
    std::os::unix::fs::symlink(sb.path("pgdata"), sb.path("homes/u/sub")).unwrap();
    chown(&sb.path("homes/u/sub"), "nobody");
    let err = sb.fails(&[
        "--force",
        "issue",
        "client",
        "--ca",
        "ca",
        "--cn",
        "u",
        "--out",
        "homes/u/sub/.postgresql",
        "--owner",
        "nobody",
    ]);
    assert!(err.contains("refusing to follow"), "{err}");
    assert!(!sb.exists("pgdata/.postgresql"));
    // the careful user's next try: a real directory is written, and made the user's
    sb.ok(&args);
    let nobody = uid_of("nobody");
    let m = std::fs::symlink_metadata(sb.path("homes/u/.postgresql")).unwrap();
    assert!(m.is_dir());
    assert_eq!(
        m.uid(),
        nobody,
        "the directory made for the user is the user's"
    );
    for f in ["postgresql.crt", "postgresql.key", "root.crt"] {
        let m = std::fs::metadata(sb.path(&format!("homes/u/.postgresql/{f}"))).unwrap();
        assert_eq!(m.uid(), nobody, "{f}");
    }
    assert_eq!(sb.read("pgdata/root.crt"), sb.read("ca/cacert.pem"));
    // root's own links are still followed (a root-owned directory nobody else can write)
    std::os::unix::fs::symlink(sb.path("pgdata"), sb.path("rootlink")).unwrap();
    sb.ok(&[
        "key",
        "gen",
        "--key-type",
        "ecdsa-p256",
        "--out",
        "rootlink/k.key",
    ]);
    assert!(sb.exists("pgdata/k.key"));
}

#[test]
fn a_staging_directory_swapped_by_another_account_never_becomes_roots_result() {
    if !as_root() || !require("python3") {
        return;
    }
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("n")).unwrap();
    chown(&sb.path("n"), "nobody");
    // nobody watches its directory and swaps every staging directory for its own, 0777
    let poller = r#"
import os, sys, time
d = sys.argv[1]; end = time.time() + 20; n = 0
while time.time() < end and not os.path.exists(os.path.join(d, "stop")):
    for e in os.listdir(d):
        if ".pgcert-new-" in e:
            try:
                os.rename(os.path.join(d, e), os.path.join(d, "stolen-%d" % n)); n += 1
                os.mkdir(os.path.join(d, e)); os.chmod(os.path.join(d, e), 0o777)
            except OSError:
                pass
"#;
    let mut child = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", "python3", "-c", poller])
        .arg(sb.path("n"))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    for i in 0..6 {
        let out = format!("n/set{i}");
        let args: Vec<&str> = if i % 2 == 0 {
            vec!["quickstart", "--out", &out]
        } else {
            vec!["init-ca", "--ca", &out, "--key-type", "ecdsa-p256"]
        };
        let res = sb.pgcert(&args);
        if res.status.success() {
            let m = std::fs::symlink_metadata(sb.path(&out)).unwrap();
            assert_eq!(m.uid(), 0, "{out}: a reported result is root's");
            assert_eq!(m.mode() & 0o022, 0, "{out}: not writable by others");
        } else {
            let err = stderr(&res);
            assert!(
                err.contains("swapped") || err.contains("taken away"),
                "{err}"
            );
        }
    }
    sb.write("n/stop", "");
    let _ = child.wait();
    // whatever nobody took holds no key of root's
    for e in std::fs::read_dir(sb.path("n")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("stolen-") {
            let mut stack = vec![e.path()];
            while let Some(p) = stack.pop() {
                for f in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                    let m = std::fs::symlink_metadata(f.path()).unwrap();
                    if m.is_dir() {
                        stack.push(f.path());
                    } else {
                        panic!("{} left in a directory nobody took", f.path().display());
                    }
                }
            }
        }
    }
}

#[test]
fn reload_signals_only_the_postmaster_of_that_data_directory() {
    if !as_root() || !require("setpriv") {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    // a data directory as the database account leaves it, its postmaster.pid naming an
    // unrelated process of that account (which SIGHUP would kill)
    std::fs::create_dir(sb.path("pgdata")).unwrap();
    sb.write("pgdata/PG_VERSION", "15\n");
    sb.write("pgdata/postgresql.conf", "ssl_crl_file = 'root.crl'\n");
    let mut victim = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "postgres",
            "--regid",
            "postgres",
            "--clear-groups",
            "sleep",
            "60",
        ])
        .current_dir(sb.path("pgdata"))
        .spawn()
        .unwrap();
    sb.write(
        "pgdata/postmaster.pid",
        format!(
            "{}\n{}\n0\n5432\n/tmp\n127.0.0.1\n",
            victim.id(),
            sb.path("pgdata").display()
        ),
    );
    let st = std::process::Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(sb.path("pgdata"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = sb.pgcert(&["crl", "--ca", "ca", "--pgdata", "pgdata", "--reload"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to signal process"), "{err}");
    assert!(err.contains("not postgres"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the unrelated process was not signalled"
    );
    let _ = victim.kill();
    let _ = victim.wait();
}

#[test]
fn revoke_keeps_a_symlinked_index_txt_a_link() {
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca", "--key-type", "ecdsa-p256"]);
    sb.ok(&[
        "issue", "client", "--ca", "ca", "--cn", "bob", "--out", "bob",
    ]);
    // the database kept elsewhere, index.txt a link to it
    std::fs::create_dir(sb.path("shared")).unwrap();
    std::fs::rename(sb.path("ca/index.txt"), sb.path("shared/index.txt")).unwrap();
    std::os::unix::fs::symlink(sb.path("shared/index.txt"), sb.path("ca/index.txt")).unwrap();
    sb.ok(&["revoke", "--ca", "ca", "--cert", "bob/postgresql.crt"]);
    let m = std::fs::symlink_metadata(sb.path("ca/index.txt")).unwrap();
    assert!(m.file_type().is_symlink(), "index.txt is still a link");
    assert!(
        sb.read("shared/index.txt").starts_with('R'),
        "{}",
        sb.read("shared/index.txt")
    );
}
