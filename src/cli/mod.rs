//! The only code that knows clap: the command tree, global flags, and one module per
//! subcommand that turns its flags into a domain request and hands the result to the reporter.

pub mod args;
pub mod bundle;
pub mod check;
pub mod completions;
pub mod convert;
pub mod crl;
pub mod export;
pub mod import_ca;
pub mod init_ca;
pub mod issue;
pub mod key;
pub mod list;
pub mod mint;
pub mod pgbouncer;
pub mod probe;
pub mod quickstart;
pub mod renew;
pub mod replication;
pub mod req;
pub mod revoke;
pub mod rotate;
pub mod self_signed;
pub mod show;
pub mod sign;
pub mod verify;
pub mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::report::Reporter;

const EXIT_CODES: &str = "EXIT CODES:\n  0  success\n  1  the operation failed or a check did not pass (one message names the file and the fix)\n  2  bad usage (unknown flag, bad value)";

/// pgcert: certificates for PostgreSQL servers and clients, in one command each.
#[derive(Debug, Parser)]
#[command(
    name = "pgcert",
    version,
    about = "PKI toolkit for PostgreSQL TLS: CA database, server and client certificates",
    long_about = "pgcert makes and keeps the certificates PostgreSQL and its clients use: a CA in OpenSSL's demoCA layout \
(compatible with `openssl ca` both ways), server certificates with their chain, client certificates whose CN is the \
database user, and the files in the places and modes PostgreSQL and libpq require.",
    after_long_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    /// CA directory (OpenSSL demoCA layout).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "PGCERT_CA",
        default_value = "demoCA"
    )]
    pub ca: PathBuf,
    /// Print one JSON object describing what was done on stdout, nothing else.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing on success.
    #[arg(short, long, global = true, conflicts_with = "json")]
    pub quiet: bool,
    /// Passphrase of encrypted CA keys: env:VAR, file:PATH, fd:N, stdin or pass:TEXT (without
    /// it pgcert prompts on a terminal). Used for every CA key a command touches.
    #[arg(long, global = true, value_name = "SPEC", value_parser = crate::cli::args::parse_pass)]
    pub ca_passin: Option<crate::passphrase::PassSource>,
    /// Replace existing keys and certificates (CRLs and trust bundles are refreshed without it).
    #[arg(long, global = true)]
    pub force: bool,
    /// Let a certificate end after its issuer does (clients refuse it from that day on).
    #[arg(long, global = true)]
    pub allow_outlive_issuer: bool,
    /// Skip fsync (like initdb --no-sync): faster, for throwaway certificates in CI; a power
    /// loss may then lose or truncate files just written. Writes stay atomic and no-clobber.
    #[arg(long, global = true, env = "PGCERT_NO_SYNC", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_sync: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One-shot self-signed server certificate (openssl req -new -x509 -nodes).
    #[command(after_long_help = self_signed::HELP)]
    SelfSigned(self_signed::Args),
    /// Create a root CA, or an intermediate CA with --parent.
    #[command(after_long_help = init_ca::HELP)]
    InitCa(init_ca::Args),
    /// Complete a --csr-only CA directory with the certificate an outside CA signed.
    #[command(after_long_help = import_ca::HELP)]
    ImportCa(import_ca::Args),
    /// Issue a server or client certificate from the CA.
    #[command(subcommand)]
    Issue(issue::IssueCommand),
    /// Make a key and a certificate signing request (openssl req -new).
    #[command(after_long_help = req::HELP)]
    Req(req::Args),
    /// Sign a CSR from the CA database, or with a CA given as files (openssl x509 -req -CA).
    #[command(after_long_help = sign::HELP)]
    Sign(sign::Args),
    /// Re-issue a certificate with the same subject, SANs and profile.
    #[command(after_long_help = renew::HELP)]
    Renew(renew::Args),
    /// Mark a certificate revoked in the CA database.
    #[command(after_long_help = revoke::HELP)]
    Revoke(revoke::Args),
    /// Rotate the root without locking clients out: begin, switch, finish.
    #[command(subcommand)]
    Rotate(rotate::RotateCommand),
    /// Sign CRLs for ssl_crl_file / ssl_crl_dir (this CA and every CA above it).
    #[command(after_long_help = crl::HELP)]
    Crl(crl::Args),
    /// The CA database as a table: status, expiry, days left.
    #[command(after_long_help = list::HELP)]
    List(list::Args),
    /// Private keys: generate, encrypt, decrypt.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Convert between PEM, DER, PKCS#8 DER (PgJDBC), PKCS#1 and PKCS#12.
    #[command(after_long_help = convert::HELP)]
    Convert(convert::Args),
    /// Show certificates, CSRs, CRLs and keys (PEM or DER), by content.
    #[command(after_long_help = show::HELP)]
    Show(show::Args),
    /// Verify a certificate: chain, validity, purpose, libpq host rules, user, CRLs.
    #[command(after_long_help = verify::HELP)]
    Verify(verify::Args),
    /// The doctor: what PostgreSQL or libpq will refuse, before they do.
    #[command(after_long_help = check::HELP)]
    Check(check::Args),
    /// Probe a live PostgreSQL server: TLS version, cipher, presented chain, sslmode verdict.
    #[command(after_long_help = probe::HELP)]
    Probe(probe::Args),
    /// Export certificates in another system's shape (Kubernetes operators' Secrets).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Order certificates into a chain, or collect roots into a trust bundle.
    #[command(after_long_help = bundle::HELP)]
    Bundle(bundle::Args),
    /// A whole test matrix from one plan: CAs, leaves, CRLs, bundles, key conversions.
    #[command(after_long_help = mint::HELP)]
    Mint(mint::Args),
    /// The whole PostgreSQL set in one command: root + intermediate CA, server, client, CRL.
    #[command(after_long_help = quickstart::HELP)]
    Quickstart(quickstart::Args),
    /// Print a shell completion script.
    #[command(after_long_help = completions::HELP)]
    Completions(completions::Args),
    /// Print the man page (roff) generated from these definitions.
    #[command(after_long_help = completions::MAN_HELP)]
    Man,
}

/// What every command gets: global flags and the reporter.
pub struct Ctx {
    /// `--ca`.
    pub ca: PathBuf,
    /// `--force`.
    pub force: bool,
    /// `--allow-outlive-issuer`.
    pub allow_outlive: bool,
    /// `--ca-passin`.
    pub ca_passin: Option<crate::passphrase::PassSource>,
    /// Output.
    pub report: Reporter,
}

impl Ctx {
    /// Open a CA directory with the `--ca-passin` source for its key.
    pub fn open_ca(&self, dir: &std::path::Path) -> anyhow::Result<crate::ca::CaDir> {
        Ok(crate::ca::CaDir::open(dir)?.with_passin(self.ca_passin.clone()))
    }

    /// Say "waiting for lock" when another pgcert holds the CA.
    pub fn waiting(&self) -> impl FnOnce(&std::path::Path) + '_ {
        |dir| {
            self.report
                .warn(&format!("waiting for lock on {}", dir.display()))
        }
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    crate::files::set_no_sync(cli.no_sync);
    let ctx = Ctx {
        ca: cli.ca,
        force: cli.force,
        allow_outlive: cli.allow_outlive_issuer,
        report: Reporter::new(cli.json, cli.quiet),
        ca_passin: cli.ca_passin,
    };
    if let Some(crate::passphrase::PassSource::Literal(_)) = &ctx.ca_passin {
        ctx.report.warn("pass:TEXT puts the passphrase on the command line, where other users can see it; prefer env:VAR or file:PATH");
    }
    if cli.json
        && let Some(bad) = std::env::args_os().skip(1).find(|a| a.to_str().is_none())
    {
        return Err(anyhow::anyhow!(
            "--json cannot represent the argument {}: it is not UTF-8",
            bad.to_string_lossy()
        )
        .context(crate::error::Hint::new(
            "rename the file, or run without --json",
        )));
    }
    let result = match cli.command {
        Command::SelfSigned(a) => self_signed::run(&ctx, a),
        Command::InitCa(a) => init_ca::run(&ctx, a),
        Command::ImportCa(a) => import_ca::run(&ctx, a),
        Command::Issue(c) => issue::run(&ctx, c),
        Command::Req(a) => req::run(&ctx, a),
        Command::Sign(a) => sign::run(&ctx, a),
        Command::Renew(a) => renew::run(&ctx, a),
        Command::Revoke(a) => revoke::run(&ctx, a),
        Command::Crl(a) => crl::run(&ctx, a),
        Command::Rotate(c) => rotate::run(&ctx, c),
        Command::List(a) => list::run(&ctx, a),
        Command::Key(c) => key::run(&ctx, c),
        Command::Convert(a) => convert::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Probe(a) => probe::run(&ctx, a),
        Command::Bundle(a) => bundle::run(&ctx, a),
        Command::Export(c) => export::run(&ctx, c),
        Command::Mint(a) => mint::run(&ctx, a),
        Command::Quickstart(a) => quickstart::run(&ctx, a),
        Command::Completions(a) => completions::run(&ctx, a),
        Command::Man => completions::man(&ctx),
    };
    // what the file layer left alone (a journal it would not trust), said once at the end
    for n in crate::files::take_notices() {
        ctx.report.warn(&n);
    }
    match (result, crate::report::stdout_failure()) {
        (Ok(()), Some(e)) => Err(
            anyhow::anyhow!("cannot write to standard output: {e}").context(
                crate::error::Hint::new(
                    "check where stdout goes (a full disk, a closed pipe), or use --out FILE",
                ),
            ),
        ),
        (r, _) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_an_about_and_examples() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let subs: Vec<_> = if sub.has_subcommands() {
                sub.get_subcommands().collect()
            } else {
                vec![sub]
            };
            for s in subs {
                assert!(s.get_about().is_some(), "{} has no about", s.get_name());
                let help = s
                    .get_after_long_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(
                    help.contains("EXAMPLES"),
                    "{} has no examples",
                    s.get_name()
                );
                assert!(
                    help.contains("EXIT CODES"),
                    "{} has no exit codes",
                    s.get_name()
                );
            }
        }
    }
}
