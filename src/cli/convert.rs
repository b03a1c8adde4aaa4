//! `pgcert convert`: PEM <-> DER, PKCS#8 DER for PgJDBC, PKCS#1, PKCS#12 for Java keystores.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};

use crate::cli::Ctx;
use crate::cli::args::{OwnerArgs, parse_pass};
use crate::error::Hint;
use crate::files::{self, FileWrite, Overwrite};
use crate::passphrase::{PassSource, obtain, obtain_new};
use crate::pki::encoding::to_pem;
use crate::pki::inspect::CertInfo;
use crate::pki::key::PrivateKey;
use crate::pki::object::{Object, read_objects};
use crate::pki::p12::{chain_for_key, pkcs12};
use crate::report::Outcome;

pub(crate) const HELP: &str = "Recognises what FILE holds by content (PEM or DER; certificates, CSRs, CRLs, keys) and writes it:
  pem    PEM text (certificates, CSRs, CRLs; keys as PKCS#8 PEM, encrypted ones stay encrypted)
  der    DER (one object per file)
  pk8    the key as unencrypted PKCS#8 DER: PgJDBC's postgresql.pk8
  pkcs1  an RSA key as PKCS#1 PEM (BEGIN RSA PRIVATE KEY), for old tools
  p12    PKCS#12 with the key and its certificate chain (leaf first), for Java keystores: give the key and
         certificates in FILE and/or with --key and --chain; PBES2/AES-256 with a SHA-256 MAC, which
         `openssl pkcs12` (no -legacy), keytool and PgJDBC read; the password comes from --passout,
         the alias from --alias (default user, the name PgJDBC's PKCS#12 key manager asks for).
Keys are written 0600. Without --out the result goes to stdout (binary output is refused on a terminal).

EXAMPLES:
  pgcert convert server.der --to pem --out server.crt
  pgcert convert ~/.postgresql/postgresql.key --to pk8 --out ~/.postgresql/postgresql.pk8
  pgcert convert postgresql.crt --key postgresql.key --to p12 --passout env:P12_PASS --out postgresql.p12

EXIT CODES:
  0  success
  1  failure (nothing to convert, several objects for DER, key and certificate do not match)
  2  bad usage";

/// Flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to convert.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Target format.
    #[arg(long, value_parser = ["pem", "der", "pk8", "pkcs1", "p12"])]
    to: String,
    /// Output file (default: stdout).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// (p12) The private key, if not in FILE.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// (p12) More certificates of the chain (intermediates, root).
    #[arg(long, value_name = "FILE")]
    chain: Vec<PathBuf>,
    /// Passphrase of an encrypted input key.
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passin: Option<PassSource>,
    /// (p12) The PKCS#12 password.
    #[arg(long, value_name = "SPEC", value_parser = parse_pass)]
    passout: Option<PassSource>,
    /// (p12) The alias (friendly name) of the key entry; PgJDBC looks the key up as "user".
    #[arg(long, default_value = "user")]
    alias: String,
    #[command(flatten)]
    owner: OwnerArgs,
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<Object>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_objects(&bytes).map_err(|e| {
        anyhow!("{}: {e}", path.display()).context(Hint::new(format!(
            "run 'pgcert show {}' to see what it holds",
            path.display()
        )))
    })
}

fn key_of(ctx: &Ctx, a: &Args, objects: &[Object]) -> anyhow::Result<Option<PrivateKey>> {
    for o in objects {
        match o {
            Object::Key(der, _) => {
                return PrivateKey::from_bytes(der)
                    .map(Some)
                    .map_err(|e| anyhow!("{}: {e}", a.file.display()));
            }
            Object::EncryptedKey(der) => {
                let pass = obtain(
                    a.passin.as_ref(),
                    &a.file.display().to_string(),
                    "--passin",
                    |w| ctx.report.warn(w),
                )?;
                return PrivateKey::from_encrypted_bytes(der, &pass)
                    .map(Some)
                    .map_err(|e| {
                        anyhow!("{}: {e}", a.file.display()).context(Hint::new("check --passin"))
                    });
            }
            Object::LegacyEncryptedKey => {
                bail!(
                    "{}: {}",
                    a.file.display(),
                    crate::pki::key::KeyError::LegacyEncrypted
                );
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Run.
pub fn run(ctx: &Ctx, a: Args) -> anyhow::Result<()> {
    let o = Overwrite::forced_or(ctx.force, Overwrite::Never);
    if let Some(out) = &a.out {
        files::Staging::precheck(&[(out.as_path(), o)])?;
    }
    let mut objects = read(&a.file)?;
    let (bytes, secret, what): (Vec<u8>, bool, String) = match a.to.as_str() {
        "pem" => {
            let mut text = String::new();
            let mut secret = false;
            for obj in &objects {
                match obj {
                    Object::Key(..) => {
                        let k = key_of(ctx, &a, std::slice::from_ref(obj))?.expect("a key");
                        text.push_str(&k.pkcs8_pem());
                        secret = true;
                    }
                    Object::LegacyEncryptedKey => bail!(
                        "{}: {}",
                        a.file.display(),
                        crate::pki::key::KeyError::LegacyEncrypted
                    ),
                    other => {
                        text.push_str(&to_pem(other.pem_label(), other.der().expect("has DER")));
                        secret |= matches!(other, Object::EncryptedKey(_));
                    }
                }
            }
            (
                text.into_bytes(),
                secret,
                format!("{} object(s) as PEM", objects.len()),
            )
        }
        "der" => {
            if objects.len() != 1 {
                return Err(anyhow!(
                    "{} holds {} objects; DER holds one",
                    a.file.display(),
                    objects.len()
                )
                .context(Hint::new("split the file, or keep PEM")));
            }
            let obj = &objects[0];
            match obj {
                Object::Key(..) => {
                    let k = key_of(ctx, &a, &objects)?.expect("a key");
                    (
                        k.pkcs8_der().to_vec(),
                        true,
                        "private key as PKCS#8 DER".into(),
                    )
                }
                Object::LegacyEncryptedKey => bail!(
                    "{}: {}",
                    a.file.display(),
                    crate::pki::key::KeyError::LegacyEncrypted
                ),
                other => (
                    other.der().expect("has DER").to_vec(),
                    matches!(other, Object::EncryptedKey(_)),
                    format!("{} as DER", other.kind()),
                ),
            }
        }
        "pk8" | "pkcs1" => {
            let Some(k) = key_of(ctx, &a, &objects)? else {
                return Err(anyhow!("{} holds no private key", a.file.display()));
            };
            if a.to == "pk8" {
                (
                    k.pkcs8_der().to_vec(),
                    true,
                    "private key as PKCS#8 DER (PgJDBC postgresql.pk8)".into(),
                )
            } else {
                (
                    k.pkcs1_pem().map_err(|e| anyhow!(e))?.into_bytes(),
                    true,
                    "RSA key as PKCS#1 PEM".into(),
                )
            }
        }
        _ => {
            if let Some(k) = &a.key {
                objects.extend(read(k)?);
            }
            for c in &a.chain {
                objects.extend(read(c)?);
            }
            let key = match key_of(ctx, &a, &objects)? {
                Some(k) => k,
                None => {
                    return Err(anyhow!("no private key given")
                        .context(Hint::new("give it with --key FILE")));
                }
            };
            let certs: Vec<CertInfo> = objects
                .iter()
                .filter_map(|o| match o {
                    Object::Certificate(d) => CertInfo::parse(d).ok(),
                    _ => None,
                })
                .collect();
            let chain = chain_for_key(&key, certs).map_err(|e| {
                anyhow!(e).context(Hint::new(
                    "give the key's certificate in FILE or with --chain",
                ))
            })?;
            let pass = obtain_new(a.passout.as_ref(), "the PKCS#12 file", "--passout", |w| {
                ctx.report.warn(w)
            })?;
            let der = pkcs12(&key, &chain, &pass, &a.alias).map_err(|e| anyhow!(e))?;
            (
                der,
                true,
                format!(
                    "PKCS#12 with the key and {} certificate(s)",
                    chain.certs.len()
                ),
            )
        }
    };
    let binary = !matches!(a.to.as_str(), "pem" | "pkcs1");
    match &a.out {
        Some(out) => {
            let w = if secret {
                a.owner.warn_if_foreign(files::parent_dir(out), &ctx.report);
                files::write_one(FileWrite::key(out.clone(), bytes, o).owned_by(a.owner.ids()))?
            } else {
                files::write_one(
                    FileWrite::public(out.clone(), bytes, "converted file", o)
                        .owned_by(a.owner.ids()),
                )?
            };
            ctx.report.finish(&Outcome {
                command: format!("convert --to {}", a.to),
                files: vec![w],
                notes: vec![what],
                ..Default::default()
            });
        }
        None => {
            if binary && std::io::stdout().is_terminal() {
                return Err(
                    anyhow!("refusing to write binary {} output to a terminal", a.to)
                        .context(Hint::new("give --out FILE, or redirect stdout")),
                );
            }
            ctx.report.data_bytes(&bytes);
        }
    }
    Ok(())
}
