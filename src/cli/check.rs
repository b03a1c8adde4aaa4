//! `pgcert check`: the server/client doctor.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::cli::Ctx;
use crate::cli::watch::{self, Format, WatchArgs};
use crate::error::{Hint, sanitize};
use crate::postgres::check::{self, ClientFiles, Level};
use crate::report::Mode;

pub(crate) const HELP: &str = "Predicts what PostgreSQL or libpq will refuse, before they refuse it.
--pgdata DIR: reads the ssl settings of DIR/postgresql.conf (or --config FILE, e.g. Debian's /etc/postgresql/15/main/\
postgresql.conf), the files it includes (include, include_if_exists, include_dir) and postgresql.auto.conf, resolves relative paths against DIR as the server does, and checks the key \
file (owned by the database user, the directory's owner, with 0600 or less, or by root with 0640 or less, and really \
readable by that user), that the first certificate matches the key, the chain order, intermediates that are not CAs, \
whether clients trusting the roots of ssl_ca_file can verify server.crt (a leaf-only file or a missing or wrong \
intermediate fails), a root in server.crt (a note), expiry (a warning within 30 days), ssl_ca_file, and CRLs (readable, current, one for every CA).
--client [DIR]: libpq's files (default ~/.postgresql; PGSSLCERT, PGSSLKEY, PGSSLROOTCERT, PGSSLCRL override): the key \
rule for the connecting user (--as USER, default the invoking user) and whether that user can really read the key, key \
vs certificate, chain to root.crt, expiry.
--cert F --key F: a certificate file and its key.
Without any of those: the CA directory of --ca (or PGCERT_CA): its certificate and the CAs above it, the CRLs of \
crl.pem, and each valid certificate of index.txt that is the newest for its subject.
Expiry watching: a certificate ending within --warn-days (default 30) or a CRL within its --warn-days (default 7) is \
a warning, within --crit-days (default 7; CRLs 2) critical; expired ones are errors. --format nagios prints one \
monitoring-plugin status line (with days left as performance data) and exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN \
(the check could not run); --format prometheus prints the text exposition format for node_exporter's textfile \
collector: pgcert_certificate_not_after_seconds and pgcert_crl_next_update_seconds gauges (Unix seconds, labelled \
by target, file and subject or issuer) and pgcert_check_status.

EXAMPLES:
  pgcert check --pgdata /var/lib/postgresql/15/main --config /etc/postgresql/15/main/postgresql.conf
  pgcert check --client
  pgcert check --cert server.crt --key server.key
  pgcert check --pgdata $PGDATA --format nagios --warn-days 21 --crit-days 5
  pgcert check --ca ca/pg --format prometheus > /var/lib/node_exporter/textfile/pgcert.prom

EXIT CODES:
  0  nothing will be refused (warnings and notes may be printed)
  1  at least one error: PostgreSQL or libpq would refuse (nagios: WARNING)
  2  bad usage (nagios: CRITICAL)
  3  nagios only: UNKNOWN, the check could not run";

/// Flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").args(["pgdata", "client", "cert"])))]
pub struct Args {
    /// A PostgreSQL data directory.
    #[arg(long, value_name = "DIR")]
    pgdata: Option<PathBuf>,
    /// postgresql.conf when it is not in the data directory.
    #[arg(long, value_name = "FILE", requires = "pgdata")]
    config: Option<PathBuf>,
    /// libpq's files in DIR (default ~/.postgresql).
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    client: Option<Option<PathBuf>>,
    /// With --client: judge as this user (key rule, and whether that user can read the files;
    /// default the invoking user; the default DIR becomes that user's ~/.postgresql).
    #[arg(long = "as", value_name = "USER", requires = "client")]
    as_user: Option<String>,
    /// A certificate file (with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Its private key.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    #[command(flatten)]
    watch: WatchArgs,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let format = a.watch.format;
    watch::unknown_on_error(format, run_check(ctx, a))
}

/// A pgcert run on a directory finishes what a killed pgcert left there (a key placed without
/// its certificate, say), so the doctor judges the files as they will stay.
fn recover_dirs_of(files: &[&std::path::Path]) {
    for f in files {
        crate::files::recover(crate::files::parent_dir(f));
    }
}

fn run_check(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let now = a.watch.watch(time::OffsetDateTime::now_utc());
    let target: String;
    let report = if let Some(d) = &a.pgdata {
        target = d.display().to_string();
        let settings =
            crate::postgres::cluster::server_settings(d, a.config.as_deref()).map_err(|e| {
                anyhow!(e).context(Hint::new(
                "give the data directory, and --config FILE when postgresql.conf lives elsewhere",
            ))
            })?;
        let (uid, _) = crate::files::owner_of(d)?;
        recover_dirs_of(&[&settings.cert, &settings.key]);
        check::check_server(&settings, uid, now)
    } else if let Some(dir) = &a.client {
        let who = match &a.as_user {
            Some(u) => Some(crate::users::by_name(u).ok_or_else(|| {
                anyhow!("--as {u}: no such user").context(Hint::new(
                    "give a user name from /etc/passwd (the user who runs psql or the application)",
                ))
            })?),
            None => None,
        };
        let dir = match (dir, &who) {
            (Some(d), _) => d.clone(),
            (None, Some(acct)) => acct.home.join(".postgresql"),
            (None, None) => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".postgresql"))
                .ok_or_else(|| anyhow!("HOME is not set; give the directory: --client DIR"))?,
        };
        let uid = match &who {
            Some(acct) => acct.uid,
            None => crate::users::effective_uid()
                .ok_or_else(|| anyhow!("cannot tell the current user's uid"))?,
        };
        let files = ClientFiles::from_dir(&dir);
        recover_dirs_of(&[&files.cert, &files.key]);
        let r = check::check_client(&files, uid, now);
        return finish(ctx, &a, r, &dir.display().to_string());
    } else if let Some(cert) = &a.cert {
        target = cert.display().to_string();
        recover_dirs_of(&[cert, a.key.as_deref().expect("requires")]);
        check::check_files(
            a.cert.as_deref().expect("group"),
            a.key.as_deref().expect("requires"),
            now,
        )
    } else {
        // the CA database named by --ca (or PGCERT_CA)
        let ca = ctx.open_ca(&ctx.ca).map_err(|e| {
            e.context(Hint::new(
                "give --pgdata DIR, --client [DIR], --cert F --key F, or --ca DIR of a CA to watch",
            ))
        })?;
        target = ctx.ca.display().to_string();
        check::check_ca_database(&ca, now)
    };
    finish(ctx, &a, report, &target)
}

fn finish(ctx: &Ctx, a: &Args, report: check::Report, target: &str) -> anyhow::Result<()> {
    if let Some(done) = watch::emit(
        &ctx.report,
        a.watch.format,
        &report,
        &format!("pgcert check {target}"),
        target,
    ) {
        return done;
    }
    let mode = if a.watch.format == Format::Json {
        Mode::Json
    } else {
        ctx.report.mode()
    };
    match mode {
        Mode::Json => {
            let j = serde_json::json!({ "command": "check", "ok": report.errors() == 0, "status": watch::status(&report), "findings": report.findings, "expiries": report.expiries });
            ctx.report
                .data(&format!("{}\n", serde_json::to_string_pretty(&j)?));
        }
        Mode::Human => {
            let mut out = String::new();
            for f in &report.findings {
                let tag = match f.level {
                    Level::Error => "ERROR  ",
                    Level::Warning => "warning",
                    Level::Note => "note   ",
                    Level::Ok => "ok     ",
                };
                let file = f
                    .file
                    .as_ref()
                    .map(|p| format!("{}: ", p.display()))
                    .unwrap_or_default();
                out.push_str(&format!("{tag} {file}{}\n", f.message));
                if let Some(fix) = &f.fix {
                    out.push_str(&format!("        fix: {fix}\n"));
                }
            }
            ctx.report.data(&sanitize(&out));
        }
        Mode::Quiet => {}
    }
    match report.errors() {
        0 => Ok(()),
        n => {
            let first = report
                .findings
                .iter()
                .find(|f| f.level == Level::Error)
                .expect("n > 0");
            Err(anyhow!(
                "{n} problem(s) that PostgreSQL or libpq would refuse; the first: {}{}",
                first
                    .file
                    .as_ref()
                    .map(|p| format!("{}: ", p.display()))
                    .unwrap_or_default(),
                first.message
            ))
        }
    }
}
