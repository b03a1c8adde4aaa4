//! All printing. stdout carries data only (`--json`, printed settings); status lines,
//! warnings and progress go to stderr. One `Reporter` chooses between human text, `--json`
//! (one object on stdout, shape documented in docs/json.md) and `--quiet` (nothing on
//! success). A closed stdout (`pgcert ... | head`) ends the output quietly, never a panic.

#![allow(clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::error::sanitize;

/// A line on stderr; a stderr that is closed or full is ignored (a message that cannot be
/// shown must not turn into a panic).
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// The first failure to write stdout, if any: the command then exits 1, since a caller
/// reading its output (`pgcert bundle ... > file`) would otherwise get nothing, silently.
static STDOUT_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Why stdout could not be written, if it could not.
pub fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILURE.get().map(String::as_str)
}
use crate::files::Written;
use crate::pki::inspect::CertInfo;
pub use crate::postgres::conf::Settings;

/// How output is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Text on stderr (and data on stdout).
    Human,
    /// One JSON object on stdout.
    Json,
    /// Nothing on success.
    Quiet,
}

/// A certificate in a report.
#[derive(Debug, Clone, Serialize)]
pub struct CertSummary {
    /// What it is: "root-ca", "intermediate-ca", "server", "client", "self-signed".
    pub role: String,
    /// Where its PEM was written, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Serial, upper-case hex.
    pub serial: String,
    /// Subject, one-line form.
    pub subject: String,
    /// Issuer, one-line form.
    pub issuer: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// SHA-256 fingerprint, colon-separated upper-case hex.
    pub sha256: String,
}

impl CertSummary {
    /// Summarise a certificate.
    pub fn new(role: &str, path: Option<PathBuf>, c: &CertInfo) -> CertSummary {
        CertSummary {
            role: role.into(),
            path,
            serial: c.serial.to_string(),
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            not_before: crate::pki::inspect::when(c.not_before),
            not_after: crate::pki::inspect::when(c.not_after),
            sha256: c.sha256.clone(),
        }
    }
}

/// A CRL in a report.
#[derive(Debug, Clone, Serialize)]
pub struct CrlSummary {
    /// The CA that signed it, one-line form.
    pub issuer: String,
    /// CRL number, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// How many certificates it lists.
    pub revoked: usize,
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    /// Signed by this run (false: taken from --parent-crl).
    pub fresh: bool,
    /// OpenSSL subject hash of the issuer (the `<hash>.r0` name in a CRL directory).
    pub issuer_hash: String,
}

/// Lines for one configuration file or command, printed on stdout under `# title`.
#[derive(Debug, Clone, Serialize)]
pub struct Snippet {
    /// Where the lines go ("pg_hba.conf", "run on the standby host" ...).
    pub title: String,
    /// The lines.
    pub lines: Vec<String>,
}

/// What a command did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Outcome {
    /// The command, e.g. "issue server".
    pub command: String,
    /// Files written (or found identical).
    pub files: Vec<Written>,
    /// Certificates made.
    pub certificates: Vec<CertSummary>,
    /// The CA directory involved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Database entries (`list`, `revoke`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<crate::ca::revocation::Listed>,
    /// CRLs written (`crl`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crls: Vec<CrlSummary>,
    /// Settings to paste (quickstart): postgresql.conf, pg_hba.conf, psql.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    /// Configuration to paste, by file (`issue replication`, `issue pgbouncer`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snippets: Vec<Snippet>,
    /// What each population of clients will make of the server (`rotate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<crate::issuance::rotation::Prediction>,
    /// The rotation stage reached (`rotate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Extra human lines for stderr (not in JSON).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// Prints outcomes, messages and progress in the chosen mode.
#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    mode: Mode,
}

impl Reporter {
    /// A reporter.
    pub fn new(json: bool, quiet: bool) -> Reporter {
        Reporter {
            mode: if json {
                Mode::Json
            } else if quiet {
                Mode::Quiet
            } else {
                Mode::Human
            },
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A status line on stderr (human mode only).
    pub fn status(&self, msg: &str) {
        if self.mode == Mode::Human {
            say!("{}", sanitize(msg));
        }
    }

    /// A warning on stderr (unless quiet).
    pub fn warn(&self, msg: &str) {
        if self.mode != Mode::Quiet {
            say!("warning: {}", sanitize(msg));
        }
    }

    /// Data on stdout. Returns quietly when stdout is closed.
    pub fn data(&self, text: &str) {
        self.data_bytes(text.as_bytes());
    }

    /// Bytes on stdout (binary conversions). A failure is remembered and makes the command
    /// exit 1 (see `stdout_failure`).
    pub fn data_bytes(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        match out.write_all(bytes).and_then(|_| out.flush()) {
            // the reader stopped reading (`| head`): what it wanted, it has
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                let _ = STDOUT_FAILURE.set(e.to_string());
            }
            Ok(()) => {}
        }
    }

    /// Run slow work with a spinner on stderr when it is a terminal (and not --json/--quiet).
    pub fn with_spinner<T>(&self, slow: bool, msg: &str, work: impl FnOnce() -> T) -> T {
        if !slow || self.mode != Mode::Human || !std::io::stderr().is_terminal() {
            return work();
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(msg.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        let r = work();
        bar.finish_and_clear();
        r
    }

    /// Report what a command did.
    pub fn finish(&self, outcome: &Outcome) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => match serde_json::to_string_pretty(outcome) {
                Ok(text) => self.data(&format!("{text}\n")),
                Err(e) => {
                    let _ = STDOUT_FAILURE.set(format!("the JSON report cannot be written: {e}"));
                }
            },
            Mode::Human => {
                for c in &outcome.certificates {
                    say!(
                        "{}: {} (serial {}, expires {})",
                        c.role,
                        sanitize(&c.subject),
                        c.serial,
                        c.not_after
                    );
                }
                // a new CA directory is one line (its internals are for pgcert and openssl);
                // --json lists every file
                let ca_dirs: Vec<PathBuf> = outcome
                    .files
                    .iter()
                    .filter(|f| f.changed && f.path.file_name().is_some_and(|n| n == "cacert.pem"))
                    .filter_map(|f| f.path.parent().map(PathBuf::from))
                    .collect();
                for d in &ca_dirs {
                    let n = outcome
                        .files
                        .iter()
                        .filter(|f| f.path.starts_with(d))
                        .count();
                    say!(
                        "  wrote {}/ (CA directory: {n} files, private/cakey.pem 0600)",
                        d.display()
                    );
                }
                for f in outcome
                    .files
                    .iter()
                    .filter(|f| !ca_dirs.iter().any(|d| f.path.starts_with(d)))
                {
                    let state = if f.changed { "wrote" } else { "kept " };
                    say!("  {state} {} ({}, {})", f.path.display(), f.kind, f.mode);
                }
                for c in &outcome.crls {
                    say!(
                        "CRL of {} ({} revoked{}, next update {})",
                        sanitize(&c.issuer),
                        c.revoked,
                        c.number
                            .as_deref()
                            .map(|n| format!(", number {n}"))
                            .unwrap_or_default(),
                        c.next_update.as_deref().unwrap_or("none")
                    );
                }
                for p in &outcome.clients {
                    say!(
                        "{}: {}",
                        sanitize(&p.clients),
                        if p.connect {
                            "connect".to_string()
                        } else {
                            format!("refused ({})", sanitize(&p.detail))
                        }
                    );
                }
                for n in &outcome.notes {
                    say!("{}", sanitize(n));
                }
                if let Some(s) = &outcome.settings {
                    self.data(&s.text());
                }
                let mut text = String::new();
                for s in &outcome.snippets {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&format!("# {}\n", s.title));
                    for l in &s.lines {
                        text.push_str(l);
                        text.push('\n');
                    }
                }
                if !text.is_empty() {
                    self.data(&text);
                }
            }
        }
    }
}

/// `ok  `/`FAIL` lines for a list of checks (verify, probe).
pub fn check_lines(checks: &[crate::postgres::verify::Check]) -> String {
    checks
        .iter()
        .map(|c| {
            format!(
                "{} {:<9} {}\n",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )
        })
        .collect()
}
