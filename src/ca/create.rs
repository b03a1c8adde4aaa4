//! New CA directories: built aside (`.NAME.pgcert-new-PID`) and renamed into place, so a CA
//! directory under its final name is always complete.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use crate::ca::dir::CaDir;
use crate::ca::txn::Placement;
use crate::ca::{DEFAULT_CRL_DAYS, openssl_cnf, revocation};
use crate::error::Hint;
use crate::files::{self, FileWrite, Overwrite, Staging, Written};
use crate::pki::crl;
use crate::pki::encoding;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::CaSigner;
use crate::pki::key::PrivateKey;
use crate::pki::serial::Serial;

/// A new CA directory built aside and renamed into place.
pub struct NewDir {
    built: PathBuf,
    target: PathBuf,
    /// `target` through its parent directory's handle: where the rename puts it.
    place_at: PathBuf,
    /// The handle of `built`, to check that what is renamed into place is it.
    handle: Option<files::handles::DirHandle>,
    written: Vec<Written>,
}

impl Placement for NewDir {
    fn place(mut self) -> Result<Vec<Written>> {
        let built = std::mem::take(&mut self.built);
        let r = match &self.handle {
            Some(h) => files::rename_dir_checked(&built, h, &self.place_at, &self.target),
            None => files::rename_dir(&built, &self.place_at),
        };
        if r.is_err() {
            match &self.handle {
                Some(h) => files::remove_built_tree(&built, h),
                None => files::remove_tree(&built),
            }
        }
        r?;
        Ok(std::mem::take(&mut self.written)
            .into_iter()
            .map(|mut w| {
                let inside = w.path.strip_prefix(&built).ok().or_else(|| {
                    self.handle
                        .as_ref()
                        .and_then(|h| w.path.strip_prefix(h.via()).ok())
                });
                if let Some(rel) = inside {
                    w.path = self.target.join(rel);
                }
                w
            })
            .collect())
    }
}

impl Drop for NewDir {
    fn drop(&mut self) {
        if self.built.as_os_str().is_empty() {
            return;
        }
        match &self.handle {
            // by its handle: the name may be someone else's directory by now
            Some(h) => files::remove_built_tree(&self.built, h),
            None if self.built.exists() => files::remove_tree(&self.built),
            None => {}
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

/// One file of a CA directory, as data.
pub struct CaFile {
    /// Its path (under the directory the contents were made for).
    pub path: PathBuf,
    /// Contents.
    pub bytes: Vec<u8>,
    /// What it is, for reports.
    pub kind: &'static str,
    /// The CA's private key.
    pub key: bool,
}

/// The records a CA directory starts with, or holds after a batch (`mint`).
pub struct CaState {
    /// The next serial (`serial`).
    pub serial: Serial,
    /// `index.txt`.
    pub index: String,
    /// The CRL number the current `crl.pem` carries.
    pub crl_number: Serial,
    /// That CRL (DER).
    pub crl_der: Vec<u8>,
}

impl CaState {
    /// A new CA's: nothing issued, an empty CRL numbered 1, valid `DEFAULT_CRL_DAYS`.
    pub fn fresh(signer: &CaSigner, first_serial: Serial) -> Result<CaState> {
        let crl_number = Serial::from_bytes(&[1]);
        let crl_der = crl::sign_crl(
            signer,
            &crl_number,
            &[],
            DEFAULT_CRL_DAYS,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| anyhow!(e))?;
        Ok(CaState {
            serial: first_serial,
            index: String::new(),
            crl_number,
            crl_der,
        })
    }
}

/// What a CA directory holds besides the CA's own certificate and key.
pub struct CaAround<'a> {
    /// Intermediates above it (its issuer first), without the root.
    pub above: &'a [CertInfo],
    /// The trust anchor(s).
    pub roots: &'a [CertInfo],
    /// CRLs of the CAs above (PEM), appended to `crl.pem`.
    pub parent_crls: &'a str,
    /// The parent CA directory relative to this one (`parent-ca.path`).
    pub parent_rel: Option<&'a Path>,
    /// Encrypt `private/cakey.pem` with this passphrase.
    pub key_passphrase: Option<&'a str>,
}

/// Every file of a CA directory at `dir` (with `abs_dir` written into openssl.cnf): the key
/// (PEM, encrypted when asked) unless `write_key` is false, the certificate, the database
/// records of `state`, the lock file, `crl.pem` (`state`'s CRL, then the parents'), the parent
/// link, openssl.cnf, the chain of an intermediate and `root.crt`.
pub fn ca_dir_files(
    dir: &Path,
    abs_dir: &Path,
    signer: &CaSigner,
    around: &CaAround,
    state: &CaState,
    write_key: bool,
) -> Result<Vec<CaFile>> {
    let ca = CaDir::at(dir);
    let mut out = Vec::new();
    let mut public = |path: PathBuf, c: String, kind| {
        out.push(CaFile {
            path,
            bytes: c.into_bytes(),
            kind,
            key: false,
        })
    };
    let cert = signer.cert();
    public(ca.cacert(), cert.pem(), "CA certificate");
    public(ca.serial(), format!("{}\n", state.serial), "CA database");
    public(ca.index(), state.index.clone(), "CA database");
    public(
        ca.index_attr(),
        "unique_subject = no\n".into(),
        "CA database",
    );
    public(ca.lock_path(), String::new(), "lock file");
    public(
        ca.crlnumber(),
        format!("{}\n", state.crl_number.next()),
        "CA database",
    );
    let mut crl_pem = encoding::to_pem("X509 CRL", &state.crl_der);
    crl_pem.push_str(around.parent_crls);
    public(ca.crl(), crl_pem, "CRL");
    if let Some(rel) = around.parent_rel {
        public(
            dir.join(revocation::PARENT_LINK),
            format!("{}\n", rel.display()),
            "parent CA link",
        );
    }
    public(
        ca.openssl_cnf(),
        openssl_cnf::render(abs_dir, signer.key().kind()),
        "openssl config",
    );
    if !cert.is_self_issued() {
        let mut chain = cert.pem();
        for c in around.above {
            chain.push_str(&c.pem());
        }
        public(ca.chain(), chain, "CA chain");
    }
    let roots: String = around.roots.iter().map(CertInfo::pem).collect();
    public(ca.root_crt(), roots, "root certificate");
    if write_key {
        let pem = match around.key_passphrase {
            Some(p) => signer.key().encrypted_pem(p).map_err(|e| anyhow!(e))?,
            None => signer.key().pkcs8_pem(),
        };
        out.insert(
            0,
            CaFile {
                path: ca.cakey(),
                bytes: pem.into_bytes(),
                kind: "private key",
                key: true,
            },
        );
    }
    Ok(out)
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
    aside: bool,
) -> Result<Vec<Written>> {
    let mut created = files::create_dir(&dir.join("private"), files::MODE_PRIVATE_DIR)?;
    let result = (|| -> Result<Vec<Written>> {
        for d in ["certs", "crl", "newcerts"] {
            created.extend(files::create_dir(&dir.join(d), files::MODE_DIR)?);
        }
        let NewCa {
            cert,
            key,
            above,
            roots,
            first_serial,
            parent,
            parent_crls,
            key_passphrase,
        } = new;
        let signer = CaSigner::new(cert, key).map_err(|e| anyhow!(e))?;
        let state = CaState::fresh(&signer, first_serial)?;
        let parent_rel = match &parent {
            Some(parent) => {
                let abs_parent = std::fs::canonicalize(parent)
                    .with_context(|| format!("cannot resolve {}", parent.display()))?;
                Some(revocation::relative_path(abs_dir, &abs_parent))
            }
            None => None,
        };
        let around = CaAround {
            above: &above,
            roots: &roots,
            parent_crls: &parent_crls,
            parent_rel: parent_rel.as_deref(),
            key_passphrase: key_passphrase.as_deref().map(String::as_str),
        };
        let mut s = if aside {
            Staging::aside()
        } else {
            Staging::new()
        };
        for f in ca_dir_files(dir, abs_dir, &signer, &around, &state, write_key)? {
            s.stage(if f.key {
                FileWrite::key(f.path, f.bytes, Overwrite::Never)
            } else {
                FileWrite::public(f.path, f.bytes, f.kind, Overwrite::Never)
            })?;
        }
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

/// Where a new directory is built before it is renamed to its name: beside it, as
/// `.NAME.pgcert-new-PID-RANDOM`, reached through the parent directory's handle.
pub struct Aside {
    /// The target, absolute (the path openssl.cnf names).
    pub target: PathBuf,
    /// The target through the parent directory's handle (what is renamed, and checked).
    pub target_via: PathBuf,
    /// The hidden directory to build in (through the parent's handle; not made yet:
    /// [`files::create_fresh_dir`] makes it, and fails if anyone made it first).
    pub built: PathBuf,
    /// Parent directories made for it, to remove again on failure.
    pub made_parents: Vec<PathBuf>,
}

/// The place to build `dir` aside: its parent directories are made, and what killed pgcert
/// processes left there is swept first (half-built directories may hold working keys).
pub fn aside(dir: &Path) -> Result<Aside> {
    let made_parents = files::create_dir(files::parent_dir(dir), files::MODE_DIR)?;
    files::recover(files::parent_dir(dir));
    let target = absolute(dir).inspect_err(|_| files::remove_created_dirs(&made_parents))?;
    // the parent, opened once: the tree is built and renamed through this handle
    let parent = files::handles::open_dir(files::parent_dir(dir))
        .inspect_err(|_| files::remove_created_dirs(&made_parents))?
        .leak();
    let name = target.file_name().expect("has a name").to_owned();
    // a name nobody can make in advance (and create_fresh_dir refuses one that exists)
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).expect("the OS random source works");
    let built = parent.join(format!(
        ".{}.pgcert-new-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        r.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    Ok(Aside {
        target,
        target_via: parent.join(&name),
        built,
        made_parents,
    })
}

impl NewDir {
    /// A directory made at `built` (by [`files::create_fresh_dir`]), to be renamed to
    /// `place_at` (`target` through its parent's handle) by `place`, and removed when dropped
    /// unplaced.
    pub fn new(
        built: PathBuf,
        target: PathBuf,
        place_at: PathBuf,
        handle: files::handles::DirHandle,
    ) -> NewDir {
        NewDir {
            built,
            target,
            place_at,
            handle: Some(handle),
            written: Vec::new(),
        }
    }
}

/// Build a new directory aside (`.NAME.pgcert-new-PID` next to `dir`) with `fill(built, abs_dir)`,
/// ready to be renamed into place; on failure nothing is left behind.
fn build_aside(
    dir: &Path,
    fill: impl FnOnce(&Path, &Path) -> Result<Vec<Written>>,
) -> Result<NewDir> {
    check_new_ca_dir(dir)?;
    let Aside {
        target,
        target_via,
        built,
        made_parents,
    } = aside(dir)?;
    let handle = match files::create_fresh_dir(&built, files::MODE_DIR) {
        Ok(h) => h,
        Err(e) => {
            // not ours: never removed
            files::remove_created_dirs(&made_parents);
            return Err(e);
        }
    };
    // filled through its handle: a swap of the name changes nothing inside
    let root = handle.via().to_path_buf();
    match fill(&root, &target) {
        Ok(written) => Ok(NewDir {
            built,
            target: dir.to_path_buf(),
            place_at: target_via,
            handle: Some(handle),
            written,
        }),
        Err(e) => {
            files::remove_tree(&built);
            files::remove_created_dirs(&made_parents);
            Err(e)
        }
    }
}

/// Build a complete CA directory aside (next to `dir`), ready to be renamed into place.
pub fn build_ca_dir(dir: &Path, new: NewCa) -> Result<NewDir> {
    build_aside(dir, |built, abs_dir| {
        populate_ca_dir(built, abs_dir, new, true, true)
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
        let mut s = Staging::aside();
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
    populate_ca_dir(dir, &abs_dir, new, false, false)
}
