//! A CA directory: where its files are, opening it, reading its state files and its
//! certificates. Nothing here writes; changes go through `CaTxn`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::error::Hint;
use crate::pki::encoding;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::CaSigner;
use crate::pki::serial::Serial;

/// A CA directory.
#[derive(Debug, Clone)]
pub struct CaDir {
    dir: PathBuf,
    passin: Option<crate::passphrase::PassSource>,
}

impl CaDir {
    /// A CA directory at `dir` (not checked).
    pub fn at(dir: impl Into<PathBuf>) -> CaDir {
        CaDir {
            dir: dir.into(),
            passin: None,
        }
    }

    /// Where the passphrase of an encrypted CA key comes from (`--ca-passin`); without one,
    /// pgcert prompts on a terminal.
    pub fn with_passin(mut self, passin: Option<crate::passphrase::PassSource>) -> CaDir {
        self.passin = passin;
        self
    }

    /// The passphrase source (passed on to parent CAs).
    pub fn passin(&self) -> Option<&crate::passphrase::PassSource> {
        self.passin.as_ref()
    }

    /// The CA certificate alone (no key needed).
    pub fn cert(&self) -> Result<CertInfo> {
        read_one_cert(&self.cacert())
    }

    /// Open an existing CA directory: it must hold `cacert.pem`, `private/cakey.pem`,
    /// `serial` and `index.txt`.
    pub fn open(dir: &Path) -> Result<CaDir> {
        let ca = CaDir::at(dir);
        if !dir.is_dir() {
            return Err(anyhow!("no CA directory at {}", dir.display()).context(Hint::new(
                format!(
                    "create one with 'pgcert init-ca --ca {}', or point --ca (or PGCERT_CA) at an existing one",
                    dir.display()
                ),
            )));
        }
        for p in [ca.cacert(), ca.cakey(), ca.index()] {
            if !p.exists() {
                return Err(anyhow!(
                    "{} is not a complete CA directory: {} is missing",
                    dir.display(),
                    p.display()
                )
                .context(Hint::new(
                    "a pgcert or `openssl ca` CA directory holds cacert.pem, private/cakey.pem, serial and index.txt",
                )));
            }
        }
        Ok(ca)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `cacert.pem`.
    pub fn cacert(&self) -> PathBuf {
        self.dir.join("cacert.pem")
    }
    /// `private/cakey.pem`.
    pub fn cakey(&self) -> PathBuf {
        self.dir.join("private").join("cakey.pem")
    }
    /// `serial`.
    pub fn serial(&self) -> PathBuf {
        self.dir.join("serial")
    }
    /// `index.txt`.
    pub fn index(&self) -> PathBuf {
        self.dir.join("index.txt")
    }
    /// `index.txt.attr`.
    pub fn index_attr(&self) -> PathBuf {
        self.dir.join("index.txt.attr")
    }
    /// `crlnumber`.
    pub fn crlnumber(&self) -> PathBuf {
        self.dir.join("crlnumber")
    }
    /// `crl.pem`.
    pub fn crl(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }
    /// `newcerts/`.
    pub fn newcerts(&self) -> PathBuf {
        self.dir.join("newcerts")
    }
    /// `chain.pem` (intermediates only).
    pub fn chain(&self) -> PathBuf {
        self.dir.join("chain.pem")
    }
    /// `root.crt`.
    pub fn root_crt(&self) -> PathBuf {
        self.dir.join("root.crt")
    }
    /// `openssl.cnf`.
    pub fn openssl_cnf(&self) -> PathBuf {
        self.dir.join("openssl.cnf")
    }
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.dir.join(".pgcert.lock")
    }

    /// The CA certificate and key, checked to match and to be a CA.
    pub fn load_signer(&self) -> Result<CaSigner> {
        let cert = read_one_cert(&self.cacert())?;
        let key = crate::passphrase::read_key(
            &self.cakey(),
            "CA key",
            self.passin.as_ref(),
            "--ca-passin",
            |_| {},
        )?;
        CaSigner::new(cert, key).map_err(|e| {
            anyhow!("cannot use the CA in {}: {e}", self.dir.display()).context(Hint::new(
                "cacert.pem and private/cakey.pem must be a CA certificate and its own key",
            ))
        })
    }

    /// The certificates a leaf's chain file carries after the leaf: this CA's certificate and
    /// the intermediates above it (`chain.pem`), never the root. Empty for a root CA.
    pub fn chain_certs(&self, signer: &CaSigner) -> Result<Vec<CertInfo>> {
        if signer.cert().is_self_issued() {
            return Ok(Vec::new());
        }
        if self.chain().exists() {
            let certs = read_certs(&self.chain())?;
            Ok(certs.into_iter().filter(|c| !c.is_self_issued()).collect())
        } else {
            Ok(vec![signer.cert().clone()])
        }
    }

    /// The trust anchor: `root.crt`, or the CA certificate itself when it is self-signed
    /// (an `openssl ca` directory has no root.crt).
    pub fn root_certs(&self, signer: &CaSigner) -> Result<Vec<CertInfo>> {
        if self.root_crt().exists() {
            read_certs(&self.root_crt())
        } else if signer.cert().is_self_issued() {
            Ok(vec![signer.cert().clone()])
        } else {
            Err(anyhow!(
                "{} is an intermediate CA without root.crt, so pgcert cannot tell its root",
                self.dir.display()
            )
            .context(Hint::new(format!(
                "copy the root certificate to {}",
                self.root_crt().display()
            ))))
        }
    }

    /// Read `serial`: the next serial to use.
    pub fn read_serial(&self) -> Result<Serial> {
        let p = self.serial();
        let text = std::fs::read_to_string(&p).map_err(|e| {
            anyhow!(e)
                .context(format!("cannot read {}", p.display()))
                .context(Hint::new(format!(
                    "the file holds the next serial in hex; create it, e.g. 'echo 01 > {}'",
                    p.display()
                )))
        })?;
        let s: Serial = text
            .parse()
            .map_err(|e| anyhow!("{}: {e}", p.display()))
            .context(Hint::new(
                "serial must hold one hex number, an even count of digits",
            ))?;
        if s.is_zero() {
            bail!("{}: serial 0 is not allowed (RFC 5280)", p.display());
        }
        Ok(s)
    }

    /// OpenSSL's `unique_subject` for this database (`index.txt.attr`; OpenSSL's default is yes
    /// when the file is missing).
    pub(crate) fn unique_subject(&self) -> bool {
        match std::fs::read_to_string(self.index_attr()) {
            Ok(t) => unique_subject_in(&t),
            Err(_) => true,
        }
    }
}

/// `unique_subject = yes` in the text of an `index.txt.attr`.
pub fn unique_subject_in(text: &str) -> bool {
    text.lines().any(|l| {
        let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
        l.eq_ignore_ascii_case("unique_subject=yes")
    })
}

/// Read exactly one certificate from a file (PEM or DER).
pub fn read_one_cert(path: &Path) -> Result<CertInfo> {
    let mut certs = read_certs(path)?;
    if certs.len() != 1 {
        bail!(
            "{} holds {} certificates, expected exactly one",
            path.display(),
            certs.len()
        );
    }
    Ok(certs.remove(0))
}

/// Read every certificate in a file (PEM with one or more blocks, or DER). Other PEM blocks
/// are an error naming what was found.
pub fn read_certs(path: &Path) -> Result<Vec<CertInfo>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let blocks = encoding::blocks(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for b in blocks {
        match b.label.as_deref() {
            None | Some("CERTIFICATE") | Some("TRUSTED CERTIFICATE") => {
                out.push(CertInfo::parse(&b.der).map_err(|e| anyhow!("{}: {e}", path.display()))?);
            }
            Some(other) => {
                return Err(
                    anyhow!("{} holds a {other}, not a CERTIFICATE", path.display()).context(
                        Hint::new(format!(
                            "run 'pgcert show {}' to see what it holds",
                            path.display()
                        )),
                    ),
                );
            }
        }
    }
    if out.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(out)
}
