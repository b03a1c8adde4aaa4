//! The scripts in examples/ run as documented.

use crate::support::postgres_available;

#[test]
fn ci_postgres_tls_example_connects_with_verify_full_and_a_client_certificate() {
    if !postgres_available() {
        return;
    }
    let out = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/ci-postgres-tls.sh"
        ))
        .env("PGCERT", env!("CARGO_BIN_EXE_pgcert"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("connected as postgres, TLSv1."),
        "stdout:\n{text}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
