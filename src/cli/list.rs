//! `pgcert list`: the CA database as a table (or JSON), with expiry computed.

use anyhow::anyhow;

use crate::ca::index;
use crate::ca::revocation::{self, Listed};
use crate::cli::Ctx;
use crate::pki::crl::crl_info;
use crate::pki::encoding;
use crate::report::Mode;

pub(crate) const HELP: &str = "Columns: serial, status (valid, revoked, expired: a valid line past its notAfter is shown \
expired), expiry date, days left, subject. --expiring 30d keeps valid certificates that expire within that time (d for \
days, w for weeks, h for hours; a bare number is days). --update-db rewrites expired valid lines as E lines, like \
`openssl ca -updatedb`. Warns when the CA's crl.pem is expired or expires within 7 days: PostgreSQL then refuses every \
client.

EXAMPLES:
  pgcert list --ca ca/pg
  pgcert list --ca ca/pg --expiring 30d --json
  pgcert list --status revoked

EXIT CODES:
  0  success
  1  failure (no CA, unreadable index.txt)
  2  bad usage";

fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "d"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30d, 2w or 12h"))?;
    let unit_seconds: i64 = match unit {
        "d" => 86_400,
        "w" => 7 * 86_400,
        "h" => 3_600,
        _ => return Err(format!("'{s}' is not a duration like 30d, 2w or 12h")),
    };
    // beyond 10,000 years every certificate qualifies; larger values only risk overflow
    n.checked_mul(unit_seconds)
        .filter(|secs| *secs <= 10_000 * 366 * 86_400)
        .map(time::Duration::seconds)
        .ok_or_else(|| format!("'{s}' is longer than 10,000 years"))
}

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only entries with this status.
    #[arg(long, value_parser = ["valid", "revoked", "expired"])]
    status: Option<String>,
    /// Only valid certificates expiring within this time (30d, 2w, 12h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    expiring: Option<time::Duration>,
    /// Mark expired valid entries E in index.txt (openssl ca -updatedb).
    #[arg(long)]
    update_db: bool,
}

fn row(r: &Listed, w: usize) -> String {
    format!(
        "{:<w$}  {:<7}  {:<10}  {:>5}  {}\n",
        r.serial,
        r.status,
        &r.not_after[..10.min(r.not_after.len())],
        r.days_left,
        crate::error::sanitize(&r.subject)
    )
}

/// Output buffered in 64 KiB pieces, so a 200,000-line listing never sits in memory whole.
struct Chunked<'a> {
    ctx: &'a Ctx,
    buf: String,
}

impl Chunked<'_> {
    fn push(&mut self, s: &str) {
        self.buf.push_str(s);
        if self.buf.len() >= 1 << 16 {
            self.flush();
        }
    }
    fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.ctx.report.data(&self.buf);
            self.buf.clear();
        }
    }
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let ca = ctx.open_ca(&ctx.ca)?;
    let now = time::OffsetDateTime::now_utc();
    let mut notes = Vec::new();
    if a.update_db {
        let lock = ca.lock(ctx.waiting())?;
        let n = revocation::update_db(&lock, now)?;
        notes.push(format!(
            "marked {n} expired entr{} E in index.txt",
            if n == 1 { "y" } else { "ies" }
        ));
    }
    // streamed twice at most (the table's serial width, then the rows): memory stays flat
    // however large the database
    let keep = |r: &Listed| {
        a.status.as_deref().is_none_or(|s| r.status == s)
            && a.expiring.is_none_or(|d| {
                // a limit past the last representable time includes everything
                r.status == "valid" && now.checked_add(d).is_none_or(|limit| r.expiry <= limit)
            })
    };
    let each = |f: &mut dyn FnMut(Listed)| -> anyhow::Result<()> {
        index::scan(&ca.index(), |_, e| {
            let r = revocation::listed(&e, now)?;
            if keep(&r) {
                f(r);
            }
            Ok(())
        })
    };
    // an expired CRL locks every client out of PostgreSQL: say so here too
    if let Ok(bytes) = std::fs::read(ca.crl())
        && let Some(first) = encoding::blocks(&bytes)
            .ok()
            .and_then(|b| b.into_iter().next())
    {
        let info = crl_info(&first.der).map_err(|e| anyhow!("{}: {e}", ca.crl().display()))?;
        if let Some(next) = info.next_update {
            if next <= now {
                ctx.report.warn(&format!(
                    "{} expired on {}: PostgreSQL refuses every client while it is configured; run 'pgcert crl'",
                    ca.crl().display(),
                    crate::pki::inspect::when(next)
                ));
            } else if next - now < time::Duration::days(7) {
                ctx.report.warn(&format!(
                    "{} expires on {}; run 'pgcert crl' before then",
                    ca.crl().display(),
                    crate::pki::inspect::when(next)
                ));
            }
        }
    }
    match ctx.report.mode() {
        Mode::Human => {
            let mut w = 6;
            each(&mut |r| w = w.max(r.serial.len()))?;
            let mut out = Chunked {
                ctx,
                buf: format!(
                    "{:<w$}  {:<7}  {:<10}  {:>5}  SUBJECT\n",
                    "SERIAL", "STATUS", "EXPIRES", "DAYS"
                ),
            };
            each(&mut |r| out.push(&row(&r, w)))?;
            out.flush();
            for n in notes {
                ctx.report.status(&n);
            }
        }
        Mode::Json => {
            let mut out = Chunked {
                ctx,
                buf: format!(
                    "{{\n  \"command\": \"list\",\n  \"files\": [],\n  \"certificates\": [],\n  \"ca\": {},\n  \"entries\": [",
                    serde_json::to_string(&ctx.ca)?
                ),
            };
            let mut first = true;
            let mut failed = None;
            each(&mut |r| match serde_json::to_string(&r) {
                Ok(j) => {
                    out.push(if first { "\n    " } else { ",\n    " });
                    out.push(&j);
                    first = false;
                }
                Err(e) => failed = Some(e),
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            out.push(if first { "]\n}\n" } else { "\n  ]\n}\n" });
            out.flush();
        }
        Mode::Quiet => {}
    }
    Ok(())
}
