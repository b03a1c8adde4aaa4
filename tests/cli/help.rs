//! What users read: every subcommand's help names its examples and exit codes; completions
//! and the man page are generated; all help text is snapshotted.

#![allow(clippy::disallowed_methods)]

use crate::support::Sandbox;

const COMMANDS: &[&[&str]] = &[
    &["self-signed"],
    &["init-ca"],
    &["issue", "server"],
    &["issue", "client"],
    &["bundle"],
    &["req"],
    &["sign"],
    &["import-ca"],
    &["renew"],
    &["revoke"],
    &["crl"],
    &["list"],
    &["key", "gen"],
    &["key", "encrypt"],
    &["key", "decrypt"],
    &["convert"],
    &["show"],
    &["verify"],
    &["check"],
    &["probe"],
    &["quickstart"],
    &["completions"],
    &["man"],
];

#[test]
fn every_subcommand_help_has_examples_and_exit_codes() {
    let sb = Sandbox::new();
    for c in COMMANDS {
        let mut args = c.to_vec();
        args.push("--help");
        let out = sb.ok(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("EXAMPLES:"), "{c:?}");
        assert!(text.contains("EXIT CODES:"), "{c:?}");
    }
}

#[test]
fn completions_and_man_page_are_generated() {
    let sb = Sandbox::new();
    let out = sb.ok(&["completions", "bash"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quickstart") && text.contains("init-ca"));
    let man = sb.ok(&["man"]);
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH pgcert"),
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(text.contains("pgcert\\-issue") || text.contains("issue"));
}

#[test]
fn broken_pipe_is_quiet() {
    let sb = Sandbox::new();
    sb.ok(&["init-ca", "--ca", "ca"]);
    // ~300 KB of table: more than a pipe holds, so the early close really breaks the pipe
    let mut index = String::new();
    for i in 0..3000 {
        index.push_str(&format!(
            "V\t361231235959Z\t\t{:08X}\tunknown\t/CN=client-{i}/O=pipe test\n",
            0x1000_0000 + i
        ));
    }
    sb.write("ca/index.txt", index);
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} list --ca ca | head -n 1 >/dev/null; echo ${{PIPESTATUS[0]}}",
            env!("CARGO_BIN_EXE_pgcert")
        ))
        .current_dir(&sb.dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && stderr.is_empty(),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "pgcert exits 0 quietly"
    );
}

/// Every subcommand's long help, in one file, so any change to what users read shows up in
/// review. Regenerate with `SNAPSHOTS=overwrite cargo test help_snapshot`, then read the diff.
#[test]
fn help_snapshot() {
    let sb = Sandbox::new();
    let mut all = String::new();
    let mut cmds: Vec<Vec<&str>> = vec![vec![]];
    cmds.extend(COMMANDS.iter().map(|c| c.to_vec()));
    for c in cmds {
        let mut args = c.clone();
        args.push("--help");
        let out = sb.pgcert_cmd(&args).env("COLUMNS", "100").output().unwrap();
        assert!(out.status.success());
        all.push_str(&format!("==== pgcert {}\n", c.join(" ")));
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/snapshots/help.txt");
    if std::env::var("SNAPSHOTS").as_deref() == Ok("overwrite") {
        std::fs::write(path, &all).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    if want != all {
        let first = want
            .lines()
            .zip(all.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "help text changed (first difference at line {}):\n  snapshot: {:?}\n  now:      {:?}\nrun SNAPSHOTS=overwrite cargo test help_snapshot and review the diff",
            first + 1,
            want.lines().nth(first),
            all.lines().nth(first)
        );
    }
}
