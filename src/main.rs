//! pgcert's entry point: parse, run, turn an error into one message and an exit code.

use clap::{CommandFactory, FromArgMatches};

fn main() {
    // what Cli::parse() does, but the command tree is kept rather than freed: dropping its
    // thousands of allocations took a fifth of a short command's instructions
    let mut cmd = pgcert::cli::Cli::command();
    let mut matches = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .unwrap_or_else(|e| e.exit());
    let cli = pgcert::cli::Cli::from_arg_matches_mut(&mut matches)
        .unwrap_or_else(|e| e.format(&mut cmd).exit());
    std::mem::forget(cmd);
    if let Err(e) = pgcert::cli::run(cli) {
        if let Some(pgcert::error::Exit(code)) = e.downcast_ref::<pgcert::error::Exit>() {
            std::process::exit(*code);
        }
        use std::io::Write;
        let _ = write!(std::io::stderr(), "{}", pgcert::error::render(&e));
        std::process::exit(1);
    }
}
