//! The CA directory, OpenSSL `demoCA` layout (CLI.md): opening it, locking it, reading its
//! state files, creating a new one, and the issuance transaction that hands out a serial and
//! records the certificate.
//!
//! Crash-safety of issuance (written down in docs/ca-database.md): under the lock, `serial`
//! is advanced *before* anything else is written, so a crash at any later point leaves at
//! worst an unused serial, never one handed out twice; `newcerts/<SERIAL>.pem` is created
//! with no-clobber semantics, so even a stale `serial` file cannot reuse a recorded serial;
//! the `index.txt` line is appended (not rewritten), which keeps issuance O(1) in the size of
//! the database. A failure (not a crash) after the serial was advanced undoes every step.

pub mod index;
pub mod openssl_cnf;
pub mod revocation;

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::error::Hint;
use crate::files::{self, FileWrite, Overwrite, Staging, Written};
use crate::pki::crl;
use crate::pki::encoding;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::{CaSigner, Issued};
use crate::pki::key::PrivateKey;
use crate::pki::serial::Serial;
use index::IndexEntry;

/// Days the CRL written at CA creation stays valid (also `default_crl_days` in openssl.cnf).
pub const DEFAULT_CRL_DAYS: u32 = 30;

/// A CA directory.
#[derive(Debug, Clone)]
pub struct CaDir {
    dir: PathBuf,
    passin: Option<crate::passphrase::PassSource>,
}

/// The advisory lock on a CA directory, held until dropped.
pub struct CaLock {
    _file: File,
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
    fn lock_path(&self) -> PathBuf {
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

    /// Take the advisory lock (blocking). `waiting` is called once if another process holds it.
    pub fn lock(&self, waiting: impl FnOnce(&Path)) -> Result<CaLock> {
        let f = files::open_lock_file(&self.lock_path())?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting(&self.dir);
                f.lock()
                    .with_context(|| format!("cannot lock {}", self.dir.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(anyhow!(e).context(format!("cannot lock {}", self.dir.display())));
            }
        }
        // temp files are made in these directories only under this lock: any still here
        // belong to a process that was killed mid-write
        files::sweep_stale_temps(&self.dir);
        files::sweep_stale_temps(&self.newcerts());
        Ok(CaLock { _file: f })
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
    fn unique_subject(&self) -> bool {
        match std::fs::read_to_string(self.index_attr()) {
            Ok(t) => t.lines().any(|l| {
                let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
                l.eq_ignore_ascii_case("unique_subject=yes")
            }),
            Err(_) => true,
        }
    }

    /// Hand out the next serial, sign with it, record the certificate and put the outputs in
    /// place, all under the caller's lock. `sign` gets the serial; `prepare` stages the
    /// outputs (temp files only) for the signed certificate. See the module docs for the order.
    pub fn issue_and_record<P: Placement>(
        &self,
        _lock: &CaLock,
        sign: impl FnOnce(Serial) -> Result<Issued>,
        prepare: impl FnOnce(&Issued) -> Result<P>,
        revoke_old: Option<&Serial>,
    ) -> Result<(Issued, Vec<Written>)> {
        let serial = self.read_serial()?;
        let newcert = self.newcerts().join(format!("{serial}.pem"));
        if newcert.exists() {
            return Err(anyhow!(
                "serial {serial} (from {}) has already been issued: {} exists",
                self.serial().display(),
                newcert.display()
            )
            .context(Hint::new(
                "the serial file is behind the database; set it above the highest serial in index.txt",
            )));
        }
        let issued = sign(serial.clone())?;
        if self.unique_subject() {
            let subject = &issued.cert.subject;
            let entries = index::read_index(&self.index())?;
            if entries
                .iter()
                .any(|e| e.status == index::Status::Valid && &e.subject == subject)
            {
                return Err(anyhow!(
                    "{} has unique_subject = yes and already holds a valid certificate for {subject}",
                    self.index_attr().display()
                )
                .context(Hint::new(
                    "revoke the old certificate first, or set 'unique_subject = no' in index.txt.attr",
                )));
            }
        }
        let placement = prepare(&issued)?;
        let mut record = Staging::new();
        record.stage(FileWrite::public(
            newcert.clone(),
            issued.cert.pem().into_bytes(),
            "certificate (CA database copy)",
            Overwrite::Never,
        ))?;
        // 1. reserve the serial: from here on a crash can only skip it
        files::write_one(FileWrite::public(
            self.serial(),
            format!("{}\n", serial.next()).into_bytes(),
            "CA database",
            Overwrite::Replace,
        ))?;
        let undo_serial = || {
            let _ = files::write_one(FileWrite::public(
                self.serial(),
                format!("{serial}\n").into_bytes(),
                "CA database",
                Overwrite::Replace,
            ));
        };
        // 2. newcerts/<SERIAL>.pem, no-clobber
        if let Err(e) = record.commit() {
            undo_serial();
            return Err(e);
        }
        // 3. the index line: appended, or (renew --revoke-old) the index rewritten atomically
        //    with the old line revoked and the new one added
        let line = IndexEntry::for_new_cert(&issued.cert).to_string();
        let undo_index: Box<dyn Fn()> = match revoke_old {
            None => {
                match files::append_line(&self.index(), &line, |l| IndexEntry::parse(l).is_ok()) {
                    Ok(old_len) => Box::new(move || {
                        let _ = files::truncate(&self.index(), old_len);
                    }),
                    Err(e) => {
                        files::remove_placed(&newcert);
                        undo_serial();
                        return Err(e);
                    }
                }
            }
            Some(old) => {
                let result = (|| -> Result<String> {
                    let before = std::fs::read_to_string(self.index())
                        .with_context(|| format!("cannot read {}", self.index().display()))?;
                    let mut after = index::revoke_in_text(
                        &before,
                        &old.to_string(),
                        time::OffsetDateTime::now_utc(),
                        Some("superseded"),
                    )
                    .map_err(|e| anyhow!("cannot revoke the old certificate: {e}"))?;
                    after.push_str(&line);
                    after.push('\n');
                    files::write_one(FileWrite::public(
                        self.index(),
                        after.into_bytes(),
                        "CA database",
                        Overwrite::Replace,
                    ))?;
                    Ok(before)
                })();
                match result {
                    Ok(before) => Box::new(move || {
                        let _ = files::write_one(FileWrite::public(
                            self.index(),
                            before.clone().into_bytes(),
                            "CA database",
                            Overwrite::Replace,
                        ));
                    }),
                    Err(e) => {
                        files::remove_placed(&newcert);
                        undo_serial();
                        return Err(e);
                    }
                }
            }
        };
        // 4. the outputs
        match placement.place() {
            Ok(written) => Ok((issued, written)),
            Err(e) => {
                undo_index();
                files::remove_placed(&newcert);
                undo_serial();
                Err(e)
            }
        }
    }
}

/// Outputs staged for an issuance, put in place as its last step.
pub trait Placement {
    /// Put the outputs in place, or fail having placed nothing.
    fn place(self) -> Result<Vec<Written>>;
}

impl Placement for Staging {
    fn place(self) -> Result<Vec<Written>> {
        self.commit()
    }
}

/// A new CA directory built aside and renamed into place.
pub struct NewDir {
    built: PathBuf,
    target: PathBuf,
    written: Vec<Written>,
}

impl Placement for NewDir {
    fn place(mut self) -> Result<Vec<Written>> {
        let built = std::mem::take(&mut self.built);
        let r = files::rename_dir(&built, &self.target);
        if r.is_err() {
            files::remove_tree(&built);
        }
        r?;
        Ok(std::mem::take(&mut self.written)
            .into_iter()
            .map(|mut w| {
                if let Ok(rel) = w.path.strip_prefix(&built) {
                    w.path = self.target.join(rel);
                }
                w
            })
            .collect())
    }
}

impl Drop for NewDir {
    fn drop(&mut self) {
        if !self.built.as_os_str().is_empty() && self.built.exists() {
            files::remove_tree(&self.built);
        }
    }
}

/// Everything a new CA directory holds.
pub struct NewCa {
    /// The CA's certificate.
    pub cert: CertInfo,
    /// Its key.
    pub key: PrivateKey,
    /// Intermediates above it (its issuer first), without the root; empty for a root.
    pub above: Vec<CertInfo>,
    /// The trust anchor(s).
    pub roots: Vec<CertInfo>,
    /// The first serial it will issue.
    pub first_serial: Serial,
    /// The parent CA directory, when pgcert holds it (recorded for `crl`).
    pub parent: Option<PathBuf>,
    /// CRLs of the CAs above (PEM), appended to the initial `crl.pem`.
    pub parent_crls: String,
    /// Encrypt `private/cakey.pem` with this passphrase (`init-ca --passout`).
    pub key_passphrase: Option<zeroize::Zeroizing<String>>,
}

/// Refuse to create a CA where one (or anything) already is.
pub fn check_new_ca_dir(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow!(e).context(format!("cannot use {}", dir.display()))),
        Ok(mut entries) => {
            if entries.next().is_none() {
                Ok(())
            } else {
                Err(anyhow!("{} already exists and is not empty", dir.display()).context(Hint::new(
                    "pgcert never overwrites a CA; choose another --ca directory, or remove this one",
                )))
            }
        }
    }
}

/// Write every file of a CA directory into `dir` (which exists): `abs_dir` is the path written
/// into openssl.cnf; with `write_key` false the key is already at `private/cakey.pem`
/// (`import-ca`). Staged: on failure no file is left, and the subdirectories it created are
/// removed.
fn populate_ca_dir(
    dir: &Path,
    abs_dir: &Path,
    new: NewCa,
    write_key: bool,
) -> Result<Vec<Written>> {
    let ca = CaDir::at(dir);
    let mut created = files::create_dir(&dir.join("private"), files::MODE_PRIVATE_DIR)?;
    let result = (|| -> Result<Vec<Written>> {
        for d in ["certs", "crl", "newcerts"] {
            created.extend(files::create_dir(&dir.join(d), files::MODE_DIR)?);
        }
        let signer = CaSigner::new(new.cert.clone(), new.key).map_err(|e| anyhow!(e))?;
        let crl_number = Serial::from_bytes(&[1]);
        let crl_der = crl::sign_crl(
            &signer,
            &crl_number,
            &[],
            DEFAULT_CRL_DAYS,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| anyhow!(e))?;
        let public = |p: PathBuf, c: String, kind| {
            FileWrite::public(p, c.into_bytes(), kind, Overwrite::Never)
        };
        let mut s = Staging::new();
        if write_key {
            let pem = match &new.key_passphrase {
                Some(p) => signer.key().encrypted_pem(p).map_err(|e| anyhow!(e))?,
                None => signer.key().pkcs8_pem(),
            };
            s.stage(FileWrite::key(
                ca.cakey(),
                pem.into_bytes(),
                Overwrite::Never,
            ))?;
        }
        s.stage(public(ca.cacert(), new.cert.pem(), "CA certificate"))?;
        s.stage(public(
            ca.serial(),
            format!("{}\n", new.first_serial),
            "CA database",
        ))?;
        s.stage(public(ca.index(), String::new(), "CA database"))?;
        s.stage(public(
            ca.index_attr(),
            "unique_subject = no\n".into(),
            "CA database",
        ))?;
        s.stage(public(ca.lock_path(), String::new(), "lock file"))?;
        s.stage(public(
            ca.crlnumber(),
            format!("{}\n", crl_number.next()),
            "CA database",
        ))?;
        let mut crl_pem = encoding::to_pem("X509 CRL", &crl_der);
        crl_pem.push_str(&new.parent_crls);
        s.stage(public(ca.crl(), crl_pem, "CRL"))?;
        if let Some(parent) = &new.parent {
            let abs_parent = std::fs::canonicalize(parent)
                .with_context(|| format!("cannot resolve {}", parent.display()))?;
            let rel = revocation::relative_path(abs_dir, &abs_parent);
            s.stage(public(
                dir.join(revocation::PARENT_LINK),
                format!("{}\n", rel.display()),
                "parent CA link",
            ))?;
        }
        s.stage(public(
            ca.openssl_cnf(),
            openssl_cnf::render(abs_dir, signer.key().kind()),
            "openssl config",
        ))?;
        if !new.cert.is_self_issued() {
            let mut chain = new.cert.pem();
            for c in &new.above {
                chain.push_str(&c.pem());
            }
            s.stage(public(ca.chain(), chain, "CA chain"))?;
        }
        let roots: String = new.roots.iter().map(CertInfo::pem).collect();
        s.stage(public(ca.root_crt(), roots, "root certificate"))?;
        s.commit()
    })();
    if result.is_err() {
        files::remove_created_dirs(&created);
    }
    result
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a usable directory name", dir.display()))?;
    Ok(std::fs::canonicalize(&parent)
        .with_context(|| format!("cannot resolve {}", parent.display()))?
        .join(name))
}

/// Build a new directory aside (`.NAME.pgcert-new-PID` next to `dir`) with `fill(built, abs_dir)`,
/// ready to be renamed into place; on failure nothing is left behind.
fn build_aside(
    dir: &Path,
    fill: impl FnOnce(&Path, &Path) -> Result<Vec<Written>>,
) -> Result<NewDir> {
    check_new_ca_dir(dir)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let created_parents = files::create_dir(&parent, files::MODE_DIR)?;
    let abs_dir = absolute(dir)?;
    let built = abs_dir.with_file_name(format!(
        ".{}.pgcert-new-{}",
        abs_dir.file_name().expect("has a name").to_string_lossy(),
        std::process::id()
    ));
    let result = files::create_dir(&built, files::MODE_DIR).and_then(|_| fill(&built, &abs_dir));
    match result {
        Ok(written) => Ok(NewDir {
            built,
            target: dir.to_path_buf(),
            written,
        }),
        Err(e) => {
            files::remove_tree(&built);
            files::remove_created_dirs(&created_parents);
            Err(e)
        }
    }
}

/// Build a complete CA directory aside (next to `dir`), ready to be renamed into place.
pub fn build_ca_dir(dir: &Path, new: NewCa) -> Result<NewDir> {
    build_aside(dir, |built, abs_dir| {
        populate_ca_dir(built, abs_dir, new, true)
    })
}

/// `careq.pem`, the request of a CA waiting for an outside signature.
pub fn careq_path(dir: &Path) -> PathBuf {
    dir.join("careq.pem")
}

/// A directory holding only `private/cakey.pem` and `careq.pem` (`init-ca --csr-only`), built
/// aside and renamed into place.
pub fn build_csr_only_dir(
    dir: &Path,
    key: &PrivateKey,
    csr_der: &[u8],
    key_passphrase: Option<&str>,
) -> Result<NewDir> {
    build_aside(dir, |built, _| {
        files::create_dir(&built.join("private"), files::MODE_PRIVATE_DIR)?;
        let pem = match key_passphrase {
            Some(p) => key.encrypted_pem(p).map_err(|e| anyhow!(e))?,
            None => key.pkcs8_pem(),
        };
        let mut s = Staging::new();
        s.stage(FileWrite::key(
            CaDir::at(built).cakey(),
            pem.into_bytes(),
            Overwrite::Never,
        ))?;
        s.stage(FileWrite::public(
            careq_path(built),
            encoding::to_pem("CERTIFICATE REQUEST", csr_der).into_bytes(),
            "certificate request",
            Overwrite::Never,
        ))?;
        s.commit()
    })
}

/// Complete a `init-ca --csr-only` directory whose certificate came back from an outside CA.
pub fn complete_ca_dir(dir: &Path, new: NewCa) -> Result<Vec<Written>> {
    let abs_dir = absolute(dir)?;
    populate_ca_dir(dir, &abs_dir, new, false)
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
