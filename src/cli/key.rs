//! `pgcert key gen|encrypt|decrypt`: private keys on their own.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Subcommand;

use crate::cli::Ctx;
use crate::cli::args::{KeyTypeArgs, OwnerArgs, load_key, parse_pass};
use crate::files::{self, FileWrite, Overwrite};
use crate::passphrase::{PassSource, obtain_new};
use crate::pki::key::PrivateKey;
use crate::report::Outcome;

const GEN_HELP: &str = "Writes a new private key as PKCS#8 PEM, 0600 from creation; with --passout, encrypted (PBES2: \
PBKDF2-HMAC-SHA256, 600,000 iterations, AES-256-CBC), which OpenSSL and PostgreSQL's ssl_passphrase_command read.

EXAMPLES:
  pgcert key gen --key-type rsa3072 --out server.key
  pgcert key gen --passout env:KEY_PASS --out ca.key

EXIT CODES:
  0  success
  1  failure (file exists without --force)
  2  bad usage";

const ENCRYPT_HELP: &str = "Reads a key (PEM or DER; PKCS#8, PKCS#1 or SEC1) and writes it encrypted as PKCS#8 (PBES2, \
AES-256-CBC, PBKDF2-HMAC-SHA256). Without --out the key is replaced in place, atomically, keeping its owner, mode 0600.

EXAMPLES:
  pgcert key encrypt server.key --passout file:/etc/postgresql/keypass
  pgcert key encrypt plain.key --passout env:KEY_PASS --out enc.key

EXIT CODES:
  0  success
  1  failure (unreadable key, --out exists without --force)
  2  bad usage";

const DECRYPT_HELP: &str = "Removes the passphrase, like the manual's `openssl rsa -in key -out key`: writes PKCS#8 PEM, 0600. \
Without --out the key is replaced in place, atomically, keeping its owner (so a key in a data directory stays readable by \
postgres). Reads PKCS#8 encrypted keys (PBES2 with PBKDF2 or scrypt, AES or 3DES); OpenSSL's legacy `Proc-Type: \
4,ENCRYPTED` PEM is not read (no well-kept crate does): convert it with `openssl pkey` first.

EXAMPLES:
  pgcert key decrypt server.key --passin env:KEY_PASS
  pgcert key decrypt enc.key --passin stdin --out plain.key < passfile

EXIT CODES:
  0  success
  1  failure (wrong passphrase, unreadable key)
  2  bad usage";

/// `key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a private key.
    #[command(after_long_help = GEN_HELP)]
    Gen(GenArgs),
    /// Encrypt a private key with a passphrase.
    #[command(after_long_help = ENCRYPT_HELP)]
    Encrypt(EncryptArgs),
    /// Remove the passphrase from a private key.
    #[command(after_long_help = DECRYPT_HELP)]
    Decrypt(DecryptArgs),
}

/// `key gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    #[command(flatten)]
    key_type: KeyTypeArgs,
    /// Encrypt it: env:VAR, file:PATH, fd:N, stdin or pass:TEXT.
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passout: Option<PassSource>,
    /// Where to write the key.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    owner: OwnerArgs,
}

/// `key encrypt`.
#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    /// The key.
    #[arg(value_name = "KEY")]
    key: PathBuf,
    /// The new passphrase: env:VAR, file:PATH, fd:N, stdin or pass:TEXT (prompted on a terminal).
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passout: Option<PassSource>,
    /// Passphrase of KEY if it is already encrypted.
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passin: Option<PassSource>,
    /// Write here instead of replacing KEY.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `key decrypt`.
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The encrypted key.
    #[arg(value_name = "KEY")]
    key: PathBuf,
    /// Its passphrase: env:VAR, file:PATH, fd:N, stdin or pass:TEXT (prompted on a terminal).
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passin: Option<PassSource>,
    /// Write here instead of replacing KEY.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Write `pem` to `out`, or over `input` in place keeping its owner.
fn write_key(
    ctx: &Ctx,
    input: &std::path::Path,
    out: Option<&PathBuf>,
    pem: String,
) -> anyhow::Result<files::Written> {
    match out {
        Some(o) => files::write_one(FileWrite::key(
            o.clone(),
            pem.into_bytes(),
            Overwrite::forced_or(ctx.force, Overwrite::Never),
        )),
        None => {
            let owner = files::owner_of(input)?;
            files::write_one(
                FileWrite::key(input.to_path_buf(), pem.into_bytes(), Overwrite::Replace)
                    .owned_by(Some(owner)),
            )
        }
    }
}

/// Run.
pub fn run(ctx: &Ctx, cmd: KeyCommand) -> anyhow::Result<()> {
    let warn = |w: &str| ctx.report.warn(w);
    let (command, written, kind) = match cmd {
        KeyCommand::Gen(a) => {
            files::Staging::precheck(&[(
                a.out.as_path(),
                Overwrite::forced_or(ctx.force, Overwrite::Never),
            )])?;
            let pass = match &a.passout {
                Some(s) => Some(obtain_new(
                    Some(s),
                    &a.out.display().to_string(),
                    "--passout",
                    warn,
                )?),
                None => None,
            };
            let key = a.key_type.generate(&ctx.report)?;
            let pem = match &pass {
                Some(p) => key.encrypted_pem(p).map_err(|e| anyhow!(e))?,
                None => key.pkcs8_pem(),
            };
            a.owner
                .warn_if_foreign(files::parent_dir(&a.out), &ctx.report);
            let w = files::write_one(
                FileWrite::key(
                    a.out.clone(),
                    pem.into_bytes(),
                    Overwrite::forced_or(ctx.force, Overwrite::Never),
                )
                .owned_by(a.owner.ids()),
            )?;
            ("key gen", w, key.kind())
        }
        KeyCommand::Encrypt(a) => {
            if let Some(o) = &a.out {
                files::Staging::precheck(&[(
                    o.as_path(),
                    Overwrite::forced_or(ctx.force, Overwrite::Never),
                )])?;
            }
            let key = load_key(&a.key, a.passin.as_ref(), "--passin", &ctx.report)?;
            let pass = obtain_new(
                a.passout.as_ref(),
                &a.key.display().to_string(),
                "--passout",
                warn,
            )?;
            let pem = key.encrypted_pem(&pass).map_err(|e| anyhow!(e))?;
            (
                "key encrypt",
                write_key(ctx, &a.key, a.out.as_ref(), pem)?,
                key.kind(),
            )
        }
        KeyCommand::Decrypt(a) => {
            if let Some(o) = &a.out {
                files::Staging::precheck(&[(
                    o.as_path(),
                    Overwrite::forced_or(ctx.force, Overwrite::Never),
                )])?;
            }
            let bytes = std::fs::read(&a.key)
                .with_context(|| format!("cannot read {}", a.key.display()))?;
            if PrivateKey::from_bytes(&bytes).is_ok() {
                ctx.report.warn(&format!(
                    "{} is not encrypted; writing it as PKCS#8 PEM",
                    a.key.display()
                ));
            }
            let key = load_key(&a.key, a.passin.as_ref(), "--passin", &ctx.report)?;
            (
                "key decrypt",
                write_key(ctx, &a.key, a.out.as_ref(), key.pkcs8_pem())?,
                key.kind(),
            )
        }
    };
    ctx.report.finish(&Outcome {
        command: command.into(),
        files: vec![written],
        notes: vec![format!("{} key", kind.describe())],
        ..Default::default()
    });
    Ok(())
}
