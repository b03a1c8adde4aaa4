//! Sets: several certificates from one CA and the files they become, described as data (a
//! `Layout`: which member, in which form, at which path, owned by whom) and issued in one
//! transaction: one lock, every certificate recorded, then every file placed together
//! (journaled, so a kill leaves the old set or, after the next pgcert run there, the new one).
//! Replication, pgBouncer and the Kubernetes export are layouts, not commands with their own
//! rollback.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::ca::CaDir;
use crate::files::{FileWrite, Overwrite, Staging, Written};
use crate::issuance::SubjectKey;
use crate::pki::inspect::CertInfo;
use crate::pki::issue::{self, CertSpec, Issued};

/// What a file of a set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// The member's private key, PKCS#8 PEM (libpq, PostgreSQL, pgBouncer).
    KeyPem,
    /// The member's private key, PKCS#8 DER (PgJDBC's `.pk8`).
    KeyDer,
    /// The member's private key as SEC1 `EC PRIVATE KEY` PEM (what some operators read).
    KeySec1Pem,
    /// The member's certificate followed by the CA's intermediates (never the root).
    Chain,
    /// The member's certificate alone.
    Leaf,
    /// The trust anchor(s) of the CA: a `root.crt`.
    Roots,
}

impl Content {
    fn is_key(self) -> bool {
        matches!(
            self,
            Content::KeyPem | Content::KeyDer | Content::KeySec1Pem
        )
    }

    fn kind(self) -> &'static str {
        match self {
            Content::KeyPem | Content::KeyDer | Content::KeySec1Pem => "private key",
            Content::Chain => "certificate chain",
            Content::Leaf => "certificate",
            Content::Roots => "root certificate",
        }
    }
}

/// One certificate of a set.
pub struct Member {
    /// Its name in the set ("server", "replication", "pooler-client" ...).
    pub name: String,
    /// The certificate (its serial is the CA's next, under the lock).
    pub spec: CertSpec,
    /// Its key.
    pub key: SubjectKey,
}

/// One file of a layout.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// Index of the member it comes from (ignored for `Roots`).
    pub member: usize,
    /// What it holds.
    pub content: Content,
    /// Where.
    pub path: PathBuf,
    /// Its owner, when not the layout's.
    pub owner: Option<Option<(u32, u32)>>,
}

impl FileSpec {
    /// A file of `member` holding `content` at `path`, owned as the layout says.
    pub fn new(member: usize, content: Content, path: PathBuf) -> FileSpec {
        FileSpec {
            member,
            content,
            path,
            owner: None,
        }
    }
}

/// Where a set's files go.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The files.
    pub files: Vec<FileSpec>,
    /// Owner of every file and of the directories made for them.
    pub owner: Option<(u32, u32)>,
    /// Replace existing keys and certificates (`--force`).
    pub force: bool,
}

impl Layout {
    fn overwrite(&self, content: Content) -> Overwrite {
        match content {
            Content::Roots => Overwrite::forced_or(self.force, Overwrite::IfIdentical),
            _ => Overwrite::forced_or(self.force, Overwrite::Never),
        }
    }
}

/// A set made.
pub struct SetResult {
    /// The certificates, in member order.
    pub issued: Vec<Issued>,
    /// The CA's intermediates (what chain files carry after the leaf).
    pub chain: Vec<CertInfo>,
    /// The CA's roots.
    pub roots: Vec<CertInfo>,
    /// Files written.
    pub written: Vec<Written>,
}

fn render(
    f: &FileSpec,
    members: &[Member],
    issued: &[Issued],
    chain: &[CertInfo],
    roots: &[CertInfo],
) -> Result<Vec<u8>> {
    let key = || {
        members[f.member].key.private.as_ref().ok_or_else(|| {
            anyhow!(
                "{}: the set has no private key for {}",
                f.path.display(),
                members[f.member].name
            )
        })
    };
    Ok(match f.content {
        Content::KeyPem => key()?.pkcs8_pem().into_bytes(),
        Content::KeyDer => key()?.pkcs8_der().to_vec(),
        Content::KeySec1Pem => key()?.sec1_pem().map_err(|e| anyhow!(e))?.into_bytes(),
        Content::Leaf => issued[f.member].cert.pem().into_bytes(),
        Content::Chain => {
            let mut s = issued[f.member].cert.pem();
            for c in chain {
                s.push_str(&c.pem());
            }
            s.into_bytes()
        }
        Content::Roots => roots
            .iter()
            .map(CertInfo::pem)
            .collect::<String>()
            .into_bytes(),
    })
}

/// Issue every member from `ca` under one lock and place every file of `layout` together.
/// Everything is checked before the lock (targets, keys the layout needs); a failure while
/// placing removes what this run placed. Limit: it cannot un-record the members before the
/// last one (their serials stay used, their certificates unplaced), which only a disk error
/// between recording and placing can cause.
pub fn issue_set(
    ca: &CaDir,
    members: Vec<Member>,
    layout: &Layout,
    allow_outlive: bool,
    waiting: impl FnOnce(&Path),
) -> Result<SetResult> {
    if members.is_empty() {
        return Err(anyhow!("a set needs at least one certificate"));
    }
    for f in &layout.files {
        if f.content.is_key() && members[f.member].key.private.is_none() {
            return Err(anyhow!(
                "{}: the set has no private key for {}",
                f.path.display(),
                members[f.member].name
            ));
        }
    }
    let targets: Vec<(&Path, Overwrite)> = layout
        .files
        .iter()
        .map(|f| (f.path.as_path(), layout.overwrite(f.content)))
        .collect();
    Staging::precheck(&targets)?;
    let signer = ca.load_signer()?;
    let chain = ca.chain_certs(&signer)?;
    let roots = ca.root_certs(&signer)?;
    // the directories the files need, each given to the owner of its files
    let mut created = Vec::new();
    let undo_dirs = |created: &[PathBuf]| crate::files::remove_created_dirs(created);
    for f in &layout.files {
        let d = crate::files::parent_dir(&f.path);
        let made = crate::files::create_dir_owned(
            d,
            crate::files::MODE_DIR,
            f.owner.unwrap_or(layout.owner),
        )
        .inspect_err(|_| undo_dirs(&created))?;
        created.extend(made);
    }
    let txn = ca.lock(waiting).inspect_err(|_| undo_dirs(&created))?;
    let mut issued: Vec<Issued> = Vec::new();
    let mut written = Vec::new();
    let last = members.len() - 1;
    let result = (|| -> Result<()> {
        for (i, m) in members.iter().enumerate() {
            let (cert, w) = txn.issue_and_record(
                |serial| {
                    let mut spec = m.spec.clone();
                    spec.serial = serial;
                    issue::issue(&spec, &m.key.spki, m.key.rsa, &signer, allow_outlive)
                        .map_err(|e| anyhow!("cannot issue {} ({}): {e}", spec.subject, m.name))
                },
                |this| {
                    let mut s = Staging::new();
                    if i == last {
                        // every file of the set, staged with the last certificate and placed
                        // with it
                        let mut all: Vec<Issued> = issued.clone();
                        all.push(this.clone());
                        for f in &layout.files {
                            let bytes = render(f, &members, &all, &chain, &roots)?;
                            let o = layout.overwrite(f.content);
                            let w = if f.content.is_key() {
                                FileWrite::key(f.path.clone(), bytes, o)
                            } else {
                                FileWrite::public(f.path.clone(), bytes, f.content.kind(), o)
                            };
                            s.stage(w.owned_by(f.owner.unwrap_or(layout.owner)))?;
                        }
                    }
                    Ok(s)
                },
                None,
            )?;
            issued.push(cert);
            written.extend(w);
        }
        Ok(())
    })();
    result.inspect_err(|_| undo_dirs(&created))?;
    Ok(SetResult {
        issued,
        chain,
        roots,
        written,
    })
}
