//! `pgcert completions SHELL` and `pgcert man`, both generated from the clap definitions.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, Ctx};

pub(crate) const HELP: &str = "EXAMPLES:
  pgcert completions bash > /etc/bash_completion.d/pgcert
  pgcert completions zsh > \"${fpath[1]}/_pgcert\"

EXIT CODES:
  0  success
  2  bad usage (unknown shell)";

pub(crate) const MAN_HELP: &str = "EXAMPLES:
  pgcert man > /usr/local/share/man/man1/pgcert.1
  pgcert man | man -l -

EXIT CODES:
  0  success";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

/// Print the completion script.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "pgcert", &mut buf);
    ctx.report.data(&String::from_utf8_lossy(&buf));
    Ok(())
}

/// Print the man page.
pub fn man(ctx: &Ctx) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    // one page for the whole tool: append each subcommand's page body
    for sub in Cli::command().get_subcommands() {
        let mut sbuf = Vec::new();
        clap_mangen::Man::new(sub.clone().name(format!("pgcert-{}", sub.get_name())))
            .render(&mut sbuf)?;
        buf.extend_from_slice(b"\n.\\\" ----------------------------------------\n");
        let text = String::from_utf8_lossy(&sbuf);
        // drop the subpage's .TH header so the output stays one page
        for line in text.lines().filter(|l| !l.starts_with(".TH")) {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
    }
    ctx.report.data(&String::from_utf8_lossy(&buf));
    Ok(())
}
