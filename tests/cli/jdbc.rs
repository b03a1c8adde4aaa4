//! PgJDBC (Debian's 42.5.5, which reads only DER PKCS#8 `.pk8` or PKCS#12 keys) connecting with
//! the files pgcert writes: `issue client`'s postgresql.pk8, and `convert --to p12`.

#![allow(clippy::print_stderr)]

use crate::support::{PgServer, Sandbox, in_ci, postgres_available, require};

const JAR: &str = "/usr/share/java/postgresql.jar";

fn jdbc_available() -> bool {
    let ok = std::path::Path::new(JAR).exists() && require("java");
    if !ok {
        assert!(!in_ci(), "PgJDBC ({JAR}) and java are required in CI");
        eprintln!("SKIPPED: PgJDBC not installed");
    }
    ok
}

#[test]
fn pgjdbc_connects_with_the_pk8_key_and_a_pkcs12_bundle() {
    if !postgres_available() || !jdbc_available() {
        return;
    }
    let sb = Sandbox::new();
    sb.two_tier_ca();
    let mut pg = PgServer::serving(&sb, "pg", "inter", &["--san", "127.0.0.1"]);
    std::fs::copy(sb.path("inter/root.crt"), pg.data.join("root.crt")).unwrap();
    pg.conf("ssl_ca_file = 'root.crt'");
    pg.hba("hostssl all all 127.0.0.1/32 cert");
    pg.start();
    for kt in ["ecdsa-p256", "rsa2048"] {
        let dir = format!("client-{kt}");
        sb.ok(&[
            "issue",
            "client",
            "--ca",
            "inter",
            "--cn",
            "postgres",
            "--key-type",
            kt,
            "--out",
            &dir,
        ]);
        let url = format!("jdbc:postgresql://localhost:{}/postgres", pg.port);
        let run = |key: &str, pass: Option<&str>| {
            let mut c = std::process::Command::new("java");
            c.args([
                "-cp",
                JAR,
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/cli/java/JdbcConnect.java"
                ),
            ])
            .arg(&url)
            .arg("postgres")
            .arg(sb.path(&format!("{dir}/root.crt")))
            .arg(sb.path(&format!("{dir}/postgresql.crt")))
            .arg(sb.path(key));
            if let Some(p) = pass {
                c.arg(p);
            }
            let out = c.output().unwrap();
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        // PgJDBC's default key file: DER PKCS#8, as issue client writes it
        let (ok, out) = run(&format!("{dir}/postgresql.pk8"), None);
        assert!(ok && out.contains("postgres true"), "{kt} pk8: {out}");
        // PKCS#12 made by convert (PgJDBC picks it by the .p12 name)
        let p12 = format!("{dir}/postgresql.p12");
        sb.ok(&[
            "convert",
            &format!("{dir}/postgresql.crt"),
            "--key",
            &format!("{dir}/postgresql.key"),
            "--chain",
            &format!("{dir}/root.crt"),
            "--to",
            "p12",
            "--passout",
            "pass:changeit",
            "--out",
            &p12,
        ]);
        let (ok, out) = run(&p12, Some("changeit"));
        assert!(ok && out.contains("postgres true"), "{kt} p12: {out}");
    }
}
