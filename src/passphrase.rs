//! Passphrase sources, as OpenSSL's `-passin`/`-passout` take them: `env:VAR`, `file:PATH`,
//! `fd:N`, `stdin`, `pass:TEXT` (accepted with a warning: other users can see it in `ps`).
//! Without a source, pgcert prompts when stdin is a terminal and refuses otherwise (CI never
//! hangs on a prompt). File, fd and stdin sources use the first line, as OpenSSL does.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow};
use zeroize::Zeroizing;

use crate::error::Hint;

/// Where a passphrase comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassSource {
    /// `env:VAR`.
    Env(String),
    /// `file:PATH`.
    File(PathBuf),
    /// `fd:N`.
    Fd(u32),
    /// `stdin`.
    Stdin,
    /// `pass:TEXT`.
    Literal(String),
}

impl FromStr for PassSource {
    type Err = String;
    fn from_str(s: &str) -> Result<PassSource, String> {
        if s == "stdin" {
            return Ok(PassSource::Stdin);
        }
        match s.split_once(':') {
            Some(("env", v)) if !v.is_empty() => Ok(PassSource::Env(v.into())),
            Some(("file", v)) if !v.is_empty() => Ok(PassSource::File(v.into())),
            Some(("fd", v)) => v
                .parse()
                .map(PassSource::Fd)
                .map_err(|_| format!("'{v}' is not a file descriptor number")),
            Some(("pass", v)) => Ok(PassSource::Literal(v.into())),
            _ => Err(format!(
                "'{s}' is not a passphrase source (env:VAR, file:PATH, fd:N, stdin or pass:TEXT)"
            )),
        }
    }
}

fn first_line(mut r: impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

impl PassSource {
    /// Read the passphrase. `warn` receives the `pass:` visibility warning.
    pub fn read(&self, warn: impl FnOnce(&str)) -> Result<Zeroizing<String>> {
        Ok(Zeroizing::new(match self {
            PassSource::Env(v) => std::env::var(v).map_err(|_| {
                anyhow!("environment variable {v} is not set").context(Hint::new(format!(
                    "export {v}=... or use another source (file:PATH, fd:N, stdin)"
                )))
            })?,
            PassSource::File(p) => {
                let f = std::fs::File::open(p)
                    .with_context(|| format!("cannot read the passphrase file {}", p.display()))?;
                first_line(std::io::BufReader::new(f))?
            }
            PassSource::Fd(n) => {
                let p = format!("/dev/fd/{n}");
                let f = std::fs::File::open(&p)
                    .with_context(|| format!("cannot read the passphrase from fd {n}"))?;
                first_line(std::io::BufReader::new(f))?
            }
            PassSource::Stdin => first_line(std::io::stdin().lock())?,
            PassSource::Literal(t) => {
                warn(
                    "pass:TEXT puts the passphrase on the command line, where other users can see it; prefer env:VAR or file:PATH",
                );
                t.clone()
            }
        }))
    }
}

/// The passphrase for `what`: from `source`, else a prompt on a terminal, else an error that
/// names the flag to use.
pub fn obtain(
    source: Option<&PassSource>,
    what: &str,
    flag: &str,
    warn: impl FnOnce(&str),
) -> Result<Zeroizing<String>> {
    if let Some(s) = source {
        return s.read(warn);
    }
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let p = rpassword::prompt_password(format!("Enter passphrase for {what}: "))
            .context("cannot read the passphrase from the terminal")?;
        return Ok(Zeroizing::new(p));
    }
    Err(
        anyhow!("{what} is passphrase-protected").context(Hint::new(format!(
            "give the passphrase with {flag} env:VAR (or file:PATH, fd:N, stdin)"
        ))),
    )
}

/// A new passphrase (for encrypting): from `source`, else typed twice on a terminal.
pub fn obtain_new(
    source: Option<&PassSource>,
    what: &str,
    flag: &str,
    warn: impl FnOnce(&str),
) -> Result<Zeroizing<String>> {
    let p = match source {
        Some(s) => s.read(warn)?,
        None => {
            if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
                return Err(
                    anyhow!("a passphrase for {what} is needed").context(Hint::new(format!(
                        "give it with {flag} env:VAR (or file:PATH, fd:N, stdin)"
                    ))),
                );
            }
            let a = rpassword::prompt_password(format!("New passphrase for {what}: "))?;
            let b = rpassword::prompt_password("Repeat it: ")?;
            if a != b {
                return Err(anyhow!("the two passphrases differ"));
            }
            Zeroizing::new(a)
        }
    };
    if p.is_empty() {
        return Err(
            anyhow!("the passphrase for {what} is empty").context(Hint::new(
                "an empty passphrase protects nothing; leave the key unencrypted instead",
            )),
        );
    }
    Ok(p)
}

/// Read a private key file (PEM or DER; PKCS#8, PKCS#1, SEC1), asking for its passphrase
/// through `source` (or a prompt; `flag` names the option in messages) when it is encrypted.
/// `what` names the key in the read error ("key", "CA key").
pub fn read_key(
    path: &std::path::Path,
    what: &str,
    source: Option<&PassSource>,
    flag: &str,
    warn: impl FnOnce(&str),
) -> Result<crate::pki::key::PrivateKey> {
    use crate::pki::key::{KeyError, PrivateKey};
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    match PrivateKey::from_bytes(&bytes) {
        Ok(k) => Ok(k),
        Err(KeyError::Encrypted) => {
            let pass = obtain(source, &path.display().to_string(), flag, warn)?;
            PrivateKey::from_encrypted_bytes(&bytes, &pass).map_err(|e| {
                let hint = if matches!(e, KeyError::WrongPassphrase) {
                    format!("check the passphrase given with {flag}")
                } else {
                    "convert the key with openssl pkey first".to_string()
                };
                anyhow!("{}: {e}", path.display()).context(Hint::new(hint))
            })
        }
        Err(e) => Err(anyhow!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_like_openssl() {
        assert_eq!("env:PW".parse(), Ok(PassSource::Env("PW".into())));
        assert_eq!("file:/x".parse(), Ok(PassSource::File("/x".into())));
        assert_eq!("fd:3".parse(), Ok(PassSource::Fd(3)));
        assert_eq!("stdin".parse(), Ok(PassSource::Stdin));
        assert_eq!("pass:a:b".parse(), Ok(PassSource::Literal("a:b".into())));
        for bad in ["env:", "fd:x", "secret", "file:"] {
            assert!(bad.parse::<PassSource>().is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_warns_and_env_reads() {
        let mut warned = false;
        let p = PassSource::Literal("s3cret".into())
            .read(|_| warned = true)
            .unwrap();
        assert!(warned);
        assert_eq!(p.as_str(), "s3cret");
        let missing = PassSource::Env("PGCERT_TEST_NO_SUCH_VAR".into()).read(|_| {});
        assert!(missing.is_err());
    }
}
