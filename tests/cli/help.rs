//! What users read: every subcommand's help names its examples and exit codes; completions
//! and the man page are generated.

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
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} man | head -c 10 >/dev/null; echo ${{PIPESTATUS:-0}}",
            env!("CARGO_BIN_EXE_pgcert")
        ))
        .current_dir(&sb.dir)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
