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
