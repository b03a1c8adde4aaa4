//! Expiry watching for monitors: `--warn-days`, `--crit-days` and `--format` shared by `check`
//! and `probe`, and the two machine formats: a monitoring-plugin status line (Nagios, Icinga,
//! Sensu) and the Prometheus text exposition format (node_exporter's textfile collector).

use anyhow::Result;
use time::Duration;

use crate::error::Exit;
use crate::postgres::check::{Level, Report, Watch};

/// Output format of `check` and `probe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Readable lines (the default).
    Text,
    /// One JSON object (same as --json).
    Json,
    /// One monitoring-plugin status line; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Nagios,
    /// Prometheus text exposition: one gauge per certificate and CRL, its end as Unix seconds.
    Prometheus,
}

/// `--warn-days`, `--crit-days`, `--format`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Warn when a certificate ends within N days (default 30) or a CRL within N days
    /// (default 7: pgcert signs CRLs for 30 days and a scheduled 'pgcert crl' refreshes them).
    #[arg(long, value_name = "N")]
    pub warn_days: Option<u32>,
    /// Critical when a certificate ends within N days (default 7) or a CRL within N days
    /// (default 2).
    #[arg(long, value_name = "N")]
    pub crit_days: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

impl WatchArgs {
    /// The thresholds at `now`.
    pub fn watch(&self, now: time::OffsetDateTime) -> Watch {
        let mut w = Watch::at(now);
        if let Some(d) = self.warn_days {
            w.cert_warn = Duration::days(d.into());
            w.crl_warn = Duration::days(d.into());
        }
        if let Some(d) = self.crit_days {
            w.cert_crit = Duration::days(d.into());
            w.crl_crit = Duration::days(d.into());
        }
        w
    }
}

/// The monitoring-plugin status of a report: 0 OK, 1 WARNING, 2 CRITICAL.
pub fn status(r: &Report) -> i32 {
    if r.findings.iter().any(|f| f.critical) {
        2
    } else if r.findings.iter().any(|f| f.level == Level::Warning) {
        1
    } else {
        0
    }
}

/// One status line with performance data (days left per certificate and CRL).
pub fn nagios_line(r: &Report, what: &str) -> String {
    let code = status(r);
    let word = ["OK", "WARNING", "CRITICAL"][code as usize];
    let worst = r
        .findings
        .iter()
        .filter(|f| match code {
            2 => f.critical,
            1 => f.level == Level::Warning,
            _ => false,
        })
        .map(|f| f.message.replace(['|', '\n'], " "))
        .collect::<Vec<_>>();
    let summary = if worst.is_empty() {
        let first = r.expiries.iter().min_by_key(|e| e.at);
        match first {
            Some(e) => format!(
                "{what}: {} certificate(s)/CRL(s) checked, the first to end is {} on {}",
                r.expiries.len(),
                e.name.replace(['|', '\n'], " "),
                crate::pki::inspect::when(e.at)
            ),
            None => format!("{what}: nothing will be refused"),
        }
    } else {
        format!("{what}: {}", worst.join("; "))
    };
    let perf: Vec<String> = r
        .expiries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let days = (e.at - r.watch.now).whole_seconds() as f64 / 86_400.0;
            let (w, c) = if e.kind == "crl" {
                (r.watch.crl_warn, r.watch.crl_crit)
            } else {
                (r.watch.cert_warn, r.watch.cert_crit)
            };
            format!(
                "'{}_{i}_days'={days:.1};{};{};;",
                e.kind,
                w.whole_days(),
                c.whole_days()
            )
        })
        .collect();
    format!(
        "PGCERT {word} - {}{}\n",
        crate::error::sanitize(&summary),
        if perf.is_empty() {
            String::new()
        } else {
            format!(" | {}", perf.join(" "))
        }
    )
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition of a report's expiries and verdict. `target` labels the series
/// (the data directory, client directory or host:port).
pub fn prometheus(r: &Report, target: &str) -> String {
    let mut out = String::new();
    out.push_str("# HELP pgcert_certificate_not_after_seconds When the certificate stops being valid (notAfter), Unix seconds.\n");
    out.push_str("# TYPE pgcert_certificate_not_after_seconds gauge\n");
    for e in r.expiries.iter().filter(|e| e.kind == "certificate") {
        out.push_str(&format!(
            "pgcert_certificate_not_after_seconds{{target=\"{}\",source=\"{}\",subject=\"{}\",serial=\"{}\"}} {}\n",
            label(target),
            label(&e.source),
            label(&e.name),
            label(e.serial.as_deref().unwrap_or("")),
            e.at.unix_timestamp()
        ));
    }
    out.push_str("# HELP pgcert_crl_next_update_seconds When the CRL lapses (nextUpdate) and every certificate it covers is refused, Unix seconds.\n");
    out.push_str("# TYPE pgcert_crl_next_update_seconds gauge\n");
    for e in r.expiries.iter().filter(|e| e.kind == "crl") {
        out.push_str(&format!(
            "pgcert_crl_next_update_seconds{{target=\"{}\",source=\"{}\",issuer=\"{}\"}} {}\n",
            label(target),
            label(&e.source),
            label(&e.name),
            e.at.unix_timestamp()
        ));
    }
    out.push_str("# HELP pgcert_check_status 0 OK, 1 warning, 2 critical (PostgreSQL or libpq refuses, or an expiry within --crit-days).\n");
    out.push_str("# TYPE pgcert_check_status gauge\n");
    out.push_str(&format!(
        "pgcert_check_status{{target=\"{}\"}} {}\n",
        label(target),
        status(r)
    ));
    out.push_str("# HELP pgcert_check_errors Findings PostgreSQL or libpq would refuse.\n");
    out.push_str("# TYPE pgcert_check_errors gauge\n");
    out.push_str(&format!(
        "pgcert_check_errors{{target=\"{}\"}} {}\n",
        label(target),
        r.errors()
    ));
    out
}

/// Print a report in a machine format and exit as that format says: nagios 0/1/2 by status,
/// prometheus 1 when something would be refused. `what` names the check ("pgcert check DIR").
/// Returns None for the text and JSON formats, which the caller prints itself.
pub fn emit(
    report: &crate::report::Reporter,
    format: Format,
    r: &Report,
    what: &str,
    target: &str,
) -> Option<Result<()>> {
    let code = match format {
        Format::Nagios => {
            report.data(&nagios_line(r, what));
            status(r)
        }
        Format::Prometheus => {
            report.data(&prometheus(r, target));
            i32::from(r.errors() > 0)
        }
        Format::Json | Format::Text => return None,
    };
    Some(match code {
        0 => Ok(()),
        n => Err(Exit(n).into()),
    })
}

/// In nagios format, anything that stops the check from running is UNKNOWN (exit 3) on stdout.
pub fn unknown_on_error(format: Format, result: Result<()>) -> Result<()> {
    match (format, result) {
        (Format::Nagios, Err(e)) if e.downcast_ref::<Exit>().is_none() => {
            let msg = crate::error::render(&e).replace('\n', " ");
            let mut out = std::io::stdout().lock();
            use std::io::Write;
            let _ = writeln!(out, "PGCERT UNKNOWN - {}", msg.trim());
            Err(Exit(3).into())
        }
        (_, r) => r,
    }
}
