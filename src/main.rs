//! pgcert's entry point: parse, run, turn an error into one message and an exit code.

use clap::Parser;

fn main() {
    let cli = pgcert::cli::Cli::parse();
    if let Err(e) = pgcert::cli::run(cli) {
        if let Some(pgcert::error::Exit(code)) = e.downcast_ref::<pgcert::error::Exit>() {
            std::process::exit(*code);
        }
        use std::io::Write;
        let _ = write!(std::io::stderr(), "{}", pgcert::error::render(&e));
        std::process::exit(1);
    }
}
