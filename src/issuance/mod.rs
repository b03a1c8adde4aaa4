//! Minting end to end, without printing: a leaf from a CA directory (server or client file
//! set), a new root or intermediate CA directory, a one-shot self-signed certificate.
//! Keys arrive already generated (the CLI shows a spinner for slow ones); every output is
//! pre-checked before the CA is locked, staged before the database changes, and placed last.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::ca::{self, CaDir, NewCa, Placement};
use crate::files::{FileWrite, Overwrite, Staging, Written};
use crate::pki::inspect::CertInfo;
use crate::pki::issue::{self, CertSpec, Issued};
use crate::pki::key::PrivateKey;
use crate::pki::serial::Serial;

/// Which PostgreSQL file set a leaf gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafRole {
    /// `server.crt` (leaf + intermediates), `server.key`, `root.crt`.
    Server,
    /// `postgresql.crt`, `postgresql.key`, `postgresql.pk8`, `root.crt` (a ready ~/.postgresql).
    Client,
    /// `BASE.crt` (leaf + intermediates) and `root.crt`: a signed CSR; the key is elsewhere.
    Cert,
}

impl LeafRole {
    /// The default base name of the files.
    pub fn default_base(self) -> &'static str {
        match self {
            LeafRole::Server => "server",
            LeafRole::Client => "postgresql",
            LeafRole::Cert => "cert",
        }
    }
}

/// The subject's public key, and its private key when pgcert made or holds it.
pub struct SubjectKey {
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// RSA keys get keyEncipherment in leaf profiles.
    pub rsa: bool,
    /// The private key to write beside the certificate, if any.
    pub private: Option<PrivateKey>,
}

impl SubjectKey {
    /// A key pgcert generated or loaded: written beside the certificate.
    pub fn private(key: PrivateKey) -> SubjectKey {
        SubjectKey {
            spki: key.spki_der(),
            rsa: key.kind().is_rsa(),
            private: Some(key),
        }
    }
}

/// Where and how a leaf's files are written.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Directory.
    pub dir: PathBuf,
    /// Base name (`server`, `postgresql`, or `--name`).
    pub base: String,
    /// Owner to give every file (`--pgdata`).
    pub owner: Option<(u32, u32)>,
    /// `--force`.
    pub force: bool,
    /// Where a data directory's configuration puts the server's files (`--pgdata`), instead
    /// of `dir/base.*`.
    pub server_files: Option<ServerFiles>,
    /// Certificates appended to the chain file after this CA's intermediates (a cross-signed
    /// root during a rotation).
    pub extra_chain: Vec<CertInfo>,
    /// The certificate file holds the leaf alone (`--leaf-only`).
    pub leaf_only: bool,
}

/// The server's files as `ssl_cert_file`, `ssl_key_file` and `ssl_ca_file` name them.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    /// ssl_cert_file.
    pub cert: PathBuf,
    /// ssl_key_file.
    pub key: PathBuf,
    /// Where to put root.crt: None when ssl_ca_file is set, since that file decides which
    /// clients are trusted and issuing a server certificate must not change it.
    pub root: Option<PathBuf>,
}

impl Outputs {
    /// Files named `dir/base.*`.
    pub fn in_dir(dir: PathBuf, base: String, owner: Option<(u32, u32)>, force: bool) -> Outputs {
        Outputs {
            dir,
            base,
            owner,
            force,
            server_files: None,
            extra_chain: Vec::new(),
            leaf_only: false,
        }
    }

    fn path(&self, ext: &str) -> PathBuf {
        match (&self.server_files, ext) {
            (Some(f), "crt") => f.cert.clone(),
            (Some(f), "key") => f.key.clone(),
            _ => self.dir.join(format!("{}.{ext}", self.base)),
        }
    }

    /// A server's files where a data directory's configuration puts them, owned by its owner.
    pub fn for_cluster(cluster: &crate::postgres::cluster::Cluster, force: bool) -> Outputs {
        let s = &cluster.settings;
        Outputs {
            dir: cluster.pgdata.clone(),
            base: "server".into(),
            owner: Some(cluster.owner),
            force,
            server_files: Some(ServerFiles {
                cert: s.cert.clone(),
                key: s.key.clone(),
                root: s.ca.is_none().then(|| cluster.pgdata.join("root.crt")),
            }),
            extra_chain: Vec::new(),
            leaf_only: false,
        }
    }

    /// The certificate file.
    pub fn crt_path(&self) -> PathBuf {
        self.path("crt")
    }

    fn root_path(&self) -> Option<PathBuf> {
        match &self.server_files {
            Some(f) => f.root.clone(),
            None => Some(self.dir.join("root.crt")),
        }
    }

    /// Every file a role writes, for the pre-check.
    pub fn targets(&self, role: LeafRole, with_key: bool) -> Vec<(PathBuf, Overwrite)> {
        let o = Overwrite::forced_or(self.force, Overwrite::Never);
        let mut v = vec![(self.path("crt"), o)];
        if with_key && role != LeafRole::Cert {
            v.push((self.path("key"), o));
        }
        if with_key && role == LeafRole::Client {
            v.push((self.path("pk8"), o));
        }
        if let Some(root) = self.root_path() {
            v.push((
                root,
                Overwrite::forced_or(self.force, Overwrite::IfIdentical),
            ));
        }
        v
    }

    /// Fail now if any output exists and may not be replaced.
    pub fn precheck(&self, role: LeafRole, with_key: bool) -> Result<()> {
        let t = self.targets(role, with_key);
        let refs: Vec<(&Path, Overwrite)> = t.iter().map(|(p, o)| (p.as_path(), *o)).collect();
        Staging::precheck(&refs)
    }

    /// Stage a leaf's file set.
    pub fn stage(
        &self,
        role: LeafRole,
        leaf: &CertInfo,
        chain: &[CertInfo],
        roots: &[CertInfo],
        key: Option<&PrivateKey>,
    ) -> Result<Staging> {
        let o = Overwrite::forced_or(self.force, Overwrite::Never);
        let mut cert = leaf.pem();
        if !self.leaf_only {
            for c in chain.iter().chain(&self.extra_chain) {
                cert.push_str(&c.pem());
            }
        }
        let root: String = roots.iter().map(CertInfo::pem).collect();
        let mut s = Staging::new();
        if let Some(key) = key.filter(|_| role != LeafRole::Cert) {
            s.stage(
                FileWrite::key(self.path("key"), key.pkcs8_pem().into_bytes(), o)
                    .owned_by(self.owner),
            )?;
            if role == LeafRole::Client {
                s.stage(
                    FileWrite::key(self.path("pk8"), key.pkcs8_der().to_vec(), o)
                        .owned_by(self.owner),
                )?;
            }
        }
        let kind = if chain.is_empty() || self.leaf_only {
            "certificate"
        } else {
            "certificate chain"
        };
        s.stage(
            FileWrite::public(self.path("crt"), cert.into_bytes(), kind, o).owned_by(self.owner),
        )?;
        if let Some(path) = self.root_path() {
            s.stage(
                FileWrite::public(
                    path,
                    root.into_bytes(),
                    "root certificate",
                    Overwrite::forced_or(self.force, Overwrite::IfIdentical),
                )
                .owned_by(self.owner),
            )?;
        }
        Ok(s)
    }
}

/// A leaf certificate: spec (serial filled in under the lock), key, outputs.
pub struct LeafRequest {
    /// Server, client or cert-only file set.
    pub role: LeafRole,
    /// The certificate (its `serial` is replaced by the CA's next serial).
    pub spec: CertSpec,
    /// The subject key.
    pub key: SubjectKey,
    /// Output files.
    pub outputs: Outputs,
    /// Allow outliving the issuer (`--allow-outlive-issuer`).
    pub allow_outlive: bool,
    /// Mark this serial revoked (superseded) in the same database change (`renew --revoke-old`).
    pub revoke_old: Option<Serial>,
}

/// What a leaf issuance produced.
pub struct LeafResult {
    /// The certificate.
    pub issued: Issued,
    /// Its chain (intermediates, no root).
    pub chain: Vec<CertInfo>,
    /// Files written.
    pub written: Vec<Written>,
}

/// Issue a leaf from a CA directory and write its file set.
pub fn issue_leaf(ca: &CaDir, req: LeafRequest, waiting: impl FnOnce(&Path)) -> Result<LeafResult> {
    rotation::refuse_if_retired(ca)?;
    let with_key = req.key.private.is_some();
    req.outputs.precheck(req.role, with_key)?;
    let signer = ca.load_signer()?;
    let chain = ca.chain_certs(&signer)?;
    let roots = ca.root_certs(&signer)?;
    let created = crate::files::create_dir_owned(
        &req.outputs.dir,
        crate::files::MODE_DIR,
        req.outputs.owner,
    )?;
    let txn = ca
        .lock(waiting)
        .inspect_err(|_| crate::files::remove_created_dirs(&created))?;
    let result = txn.issue_and_record(
        |serial| {
            let mut spec = req.spec.clone();
            spec.serial = serial;
            issue::issue(
                &spec,
                &req.key.spki,
                req.key.rsa,
                &signer,
                req.allow_outlive,
            )
            .map_err(|e| anyhow!("cannot issue {}: {e}", spec.subject))
        },
        |issued| {
            req.outputs.stage(
                req.role,
                &issued.cert,
                &chain,
                &roots,
                req.key.private.as_ref(),
            )
        },
        req.revoke_old.as_ref(),
    );
    let (issued, written) = result.inspect_err(|_| crate::files::remove_created_dirs(&created))?;
    Ok(LeafResult {
        issued,
        chain,
        written,
    })
}

/// A new CA: a root (self-signed) or an intermediate signed by a parent CA directory.
pub struct CaRequest {
    /// The CA certificate (serial from the parent when there is one).
    pub spec: CertSpec,
    /// The CA key.
    pub key: PrivateKey,
    /// The first serial the new CA will issue.
    pub first_serial: Serial,
    /// Allow outliving the parent (`--allow-outlive-issuer`).
    pub allow_outlive: bool,
    /// Encrypt the CA key with this passphrase (`init-ca --passout`).
    pub key_passphrase: Option<zeroize::Zeroizing<String>>,
}

/// Create a root CA directory.
pub fn create_root(dir: &Path, req: CaRequest) -> Result<(Issued, Vec<Written>)> {
    ca::check_new_ca_dir(dir)?;
    let issued = issue::self_signed(&req.spec, &req.key).map_err(|e| anyhow!(e))?;
    let new = NewCa {
        cert: issued.cert.clone(),
        key: req.key,
        above: Vec::new(),
        roots: vec![issued.cert.clone()],
        first_serial: req.first_serial,
        parent: None,
        parent_crls: String::new(),
        key_passphrase: req.key_passphrase,
    };
    let written = ca::build_ca_dir(dir, new)?.place()?;
    Ok((issued, written))
}

/// Create an intermediate CA directory, issued and recorded by `parent`.
pub fn create_intermediate(
    parent: &CaDir,
    dir: &Path,
    req: CaRequest,
    waiting: impl FnOnce(&Path),
) -> Result<(Issued, Vec<Written>)> {
    ca::check_new_ca_dir(dir)?;
    let signer = parent.load_signer()?;
    let mut above = parent.chain_certs(&signer)?;
    if above.is_empty() && !signer.cert().is_self_issued() {
        above.push(signer.cert().clone());
    }
    let roots = parent.root_certs(&signer)?;
    let parent_crls = std::fs::read_to_string(parent.crl()).unwrap_or_default();
    let txn = parent.lock(waiting)?;
    let CaRequest {
        spec,
        key,
        first_serial,
        allow_outlive,
        key_passphrase,
    } = req;
    let spki = key.spki_der();
    let rsa = key.kind().is_rsa();
    let mut key = Some(key);
    txn.issue_and_record(
        |serial| {
            let mut spec = spec.clone();
            spec.serial = serial;
            issue::issue(&spec, &spki, rsa, &signer, allow_outlive)
                .map_err(|e| anyhow!("cannot issue the intermediate CA {}: {e}", spec.subject))
        },
        |issued| {
            ca::build_ca_dir(
                dir,
                NewCa {
                    cert: issued.cert.clone(),
                    key: key.take().expect("prepared once"),
                    above: above.clone(),
                    roots: roots.clone(),
                    first_serial: first_serial.clone(),
                    parent: Some(parent.dir().to_path_buf()),
                    parent_crls: parent_crls.clone(),
                    key_passphrase: key_passphrase.clone(),
                },
            )
        },
        None,
    )
}

/// A one-shot self-signed certificate (`openssl req -new -x509 -nodes`).
pub fn self_signed(
    spec: &CertSpec,
    key: &PrivateKey,
    outputs: &Outputs,
) -> Result<(Issued, Vec<Written>)> {
    let o = Overwrite::forced_or(outputs.force, Overwrite::Never);
    let crt = outputs.dir.join(format!("{}.crt", outputs.base));
    let keyp = outputs.dir.join(format!("{}.key", outputs.base));
    Staging::precheck(&[(crt.as_path(), o), (keyp.as_path(), o)])?;
    let issued = issue::self_signed(spec, key).map_err(|e| anyhow!(e))?;
    let created = crate::files::create_dir(&outputs.dir, crate::files::MODE_DIR)?;
    let result = (|| {
        let mut s = Staging::new();
        s.stage(FileWrite::key(keyp, key.pkcs8_pem().into_bytes(), o).owned_by(outputs.owner))?;
        s.stage(
            FileWrite::public(crt, issued.cert.pem().into_bytes(), "certificate", o)
                .owned_by(outputs.owner),
        )?;
        s.commit()
    })();
    let written = result.inspect_err(|_| crate::files::remove_created_dirs(&created))?;
    Ok((issued, written))
}

/// The `.srl` file `openssl x509 -CAcreateserial` uses for a CA certificate file: the name
/// without its extension, plus `.srl`, beside it (`root.crt` -> `root.srl`).
pub fn default_srl_path(ca_cert: &Path) -> PathBuf {
    ca_cert.with_extension("srl")
}

/// Sign with a CA given as loose files (`openssl x509 -req -CA -CAkey -CAcreateserial`):
/// no database. The serial comes from `srl`, which holds the *last used* serial: when it
/// exists the next one is used, else a random one; afterwards it holds the serial used. The
/// directory of `srl` is locked (flock) across the read-modify-write. Writes `BASE.crt`: the
/// certificate, followed by the CA certificate when that is not a root.
pub fn sign_loose(
    spec: &CertSpec,
    key: &SubjectKey,
    signer: &issue::CaSigner,
    srl: &Path,
    outputs: &Outputs,
    allow_outlive: bool,
) -> Result<(Issued, Vec<Written>)> {
    let o = Overwrite::forced_or(outputs.force, Overwrite::Never);
    let crt = outputs.dir.join(format!("{}.crt", outputs.base));
    Staging::precheck(&[(crt.as_path(), o)])?;
    let srl_dir = match srl.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir_handle = std::fs::File::open(&srl_dir)
        .map_err(|e| anyhow!(e).context(format!("cannot open {}", srl_dir.display())))?;
    dir_handle
        .lock()
        .map_err(|e| anyhow!(e).context(format!("cannot lock {}", srl_dir.display())))?;
    let previous = match std::fs::read_to_string(srl) {
        Ok(t) => Some(t.parse::<Serial>().map_err(|e| {
            anyhow!("{}: {e}", srl.display()).context(crate::error::Hint::new(
                "the .srl file holds the last serial used, in hex; fix or remove it",
            ))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", srl.display()))),
    };
    let serial = previous
        .as_ref()
        .map(Serial::next)
        .unwrap_or_else(Serial::random);
    let mut spec = spec.clone();
    spec.serial = serial.clone();
    let issued = issue::issue(&spec, &key.spki, key.rsa, signer, allow_outlive)
        .map_err(|e| anyhow!("cannot sign {}: {e}", spec.subject))?;
    let mut pem = issued.cert.pem();
    if !signer.cert().is_self_issued() && !outputs.leaf_only {
        pem.push_str(&signer.cert().pem());
    }
    let created = crate::files::create_dir(&outputs.dir, crate::files::MODE_DIR)?;
    let result = (|| {
        let mut s = Staging::new();
        s.stage(
            FileWrite::public(crt.clone(), pem.into_bytes(), "certificate", o)
                .owned_by(outputs.owner),
        )?;
        let mut srl_write = Staging::new();
        srl_write.stage(FileWrite::public(
            srl.to_path_buf(),
            format!("{serial}\n").into_bytes(),
            "serial file",
            Overwrite::Replace,
        ))?;
        let mut written = srl_write.commit()?;
        match s.commit() {
            Ok(w) => {
                written.extend(w);
                Ok(written)
            }
            Err(e) => {
                match &previous {
                    Some(p) => {
                        let _ = crate::files::write_one(FileWrite::public(
                            srl.to_path_buf(),
                            format!("{p}\n").into_bytes(),
                            "serial file",
                            Overwrite::Replace,
                        ));
                    }
                    None => crate::files::remove_placed(srl),
                }
                Err(e)
            }
        }
    })();
    let written = result.inspect_err(|_| crate::files::remove_created_dirs(&created))?;
    Ok((issued, written))
}
pub mod mint;
pub mod quickstart;
pub mod rotation;
pub mod set;
