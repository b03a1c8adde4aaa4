//! `pgcert mint PLAN.toml`: a whole matrix of CAs, leaves, CRLs, bundles and key conversions
//! from one plan (the work is in `issuance::mint`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Result, anyhow};

use crate::cli::Ctx;
use crate::error::Hint;
use crate::issuance::mint;
use crate::report::{CertSummary, Mode, Outcome};

pub(crate) const HELP: &str = "Reads PLAN.toml ([[ca]], [[leaf]], [[key]], [[crl]], [[bundle]], [[crl_dir]]; docs/mint.md), \
checks all of it (an error names the plan line and nothing is written), then makes every key (spread over --jobs threads), \
every certificate in dependency order, the CRLs, bundles and CRL hash directories, and writes them all into a new \
directory --out, flushed together (every file and directory fsynced at once) and renamed into place: a crash leaves no --out or the whole one. The CA \
directories in it are ordinary pgcert/openssl CA directories (serial, index.txt, newcerts/), ready for further issue, \
revoke and crl. A leaf with count = N and {n} in its name is made N times.

EXAMPLES:
  pgcert mint examples/postgres-ssl-test-matrix.toml --out ssl-matrix
  pgcert mint examples/ci-matrix.toml --out target/test-certs --no-sync --json

EXIT CODES:
  0  success
  1  failure (a plan error, naming its line; --out exists; nothing is written)
  2  bad usage";

/// `mint` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan (TOML).
    #[arg(value_name = "PLAN.toml")]
    plan: PathBuf,
    /// The directory to make (must not exist, or be empty).
    #[arg(long, value_name = "DIR", default_value = "pgcert-mint")]
    out: PathBuf,
    /// Threads for key generation and signing (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let text = std::fs::read_to_string(&a.plan).map_err(|e| {
        anyhow!("cannot read the plan {}: {e}", a.plan.display())
            .context(Hint::new("give the path of a TOML plan (docs/mint.md)"))
    })?;
    let plan = mint::read_plan(&a.plan, &text)?;
    if ctx.force {
        ctx.report
            .warn("--force has no effect on mint: --out must be a new directory");
    }
    let jobs = a.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let bar = (ctx.report.mode() == Mode::Human && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        b.set_message(format!("minting {} certificates", plan.certificates()));
        b
    });
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let made = mint::mint(&plan, &a.out, jobs, &progress, &|_| None);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let made = made?;
    let note = format!(
        "{} certificates and {} files in {}",
        made.certificates.len(),
        made.files.len(),
        a.out.display()
    );
    let outcome = Outcome {
        command: "mint".into(),
        files: made.files,
        certificates: made
            .certificates
            .iter()
            .map(|(name, is_ca, c)| {
                CertSummary::new(if *is_ca { "ca" } else { name.as_str() }, None, c)
            })
            .collect(),
        notes: vec![note],
        ..Default::default()
    };
    if ctx.report.mode() == Mode::Human && outcome.files.len() > 40 {
        // a matrix is listed in --json; on a terminal, the count says enough
        for n in &outcome.notes {
            ctx.report.status(n);
        }
    } else {
        ctx.report.finish(&outcome);
    }
    Ok(())
}
