//! Every file pgcert writes goes through here (clippy's `disallowed-methods` enforces it).
//!
//! The rules (CLI.md "Conventions"):
//! - a file is written to a temp file in its target directory, created 0600 (`O_CREAT|O_EXCL`,
//!   so the umask can only narrow it), given its final mode and owner on the open handle before
//!   the first byte (fchmod ignores the umask), written, fsynced, then put in place;
//! - "put in place" is `link(2)` when the target must not exist — a no-clobber rename that
//!   fails if anything appeared meanwhile — or `rename(2)` over it with `--force`; a symlinked
//!   target is refused either way;
//! - a command that writes several files stages them all first and places them at the end;
//!   if placing one fails, the ones already placed are removed (or restored from a backup
//!   link when they replaced a file), so a failure leaves no new files behind.
//!
//! Durability: every file is fsynced before it is put in place and its directory after, so a
//! crash cannot leave an empty or torn file under a final name. `--no-sync` (like
//! `initdb --no-sync`) turns the fsyncs off for throwaway sets in CI: the writes stay atomic
//! and no-clobber, only durability across a power loss is given up.

#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow, bail};

use crate::error::Hint;

pub mod handles;
use handles::DirHandle;

/// Mode of private keys.
pub const MODE_KEY: u32 = 0o600;
/// Mode of certificates, CRLs and public files.
pub const MODE_PUBLIC: u32 = 0o644;
/// Mode of `private/`.
pub const MODE_PRIVATE_DIR: u32 = 0o700;
/// Mode of ordinary directories.
pub const MODE_DIR: u32 = 0o755;

/// What may happen when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse (the default for keys and certificates without `--force`).
    Never,
    /// Replace atomically (`--force`, and the CA database's own state files).
    Replace,
    /// Keep the existing file if it has exactly these contents, refuse otherwise
    /// (`root.crt` written by several commands into one directory).
    IfIdentical,
    /// Replace atomically when the file in place is the same kind of regenerated public
    /// artefact (a CRL file, a trust bundle); refuse anything else without `--force`.
    SameKind(Artefact),
}

/// Public files pgcert regenerates on a schedule: replacing one never loses a secret or a
/// certificate that cannot be made again, so it needs no `--force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artefact {
    /// PEM or DER CRLs only (ssl_crl_file, sslcrl, a hashed CRL in ssl_crl_dir).
    Crl,
    /// CA certificates only (ssl_ca_file, root.crt).
    TrustBundle,
}

impl Artefact {
    /// What it is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            Artefact::Crl => "CRL file",
            Artefact::TrustBundle => "trust bundle (CA certificates only)",
        }
    }

    /// True when `bytes` are a file of this kind.
    pub fn matches(self, bytes: &[u8]) -> bool {
        use crate::pki::object::{Object, read_objects};
        let Ok(objects) = read_objects(bytes) else {
            return false;
        };
        !objects.is_empty()
            && objects.iter().all(|o| match (self, o) {
                (Artefact::Crl, Object::Crl(_)) => true,
                (Artefact::TrustBundle, Object::Certificate(d)) => {
                    crate::pki::inspect::CertInfo::parse(d).is_ok_and(|c| c.is_ca)
                }
                _ => false,
            })
    }
}

impl Overwrite {
    /// `Replace` with `--force`, else `default`.
    pub fn forced_or(force: bool, default: Overwrite) -> Overwrite {
        if force { Overwrite::Replace } else { default }
    }
}

/// One file to write.
#[derive(Debug, Clone)]
pub struct FileWrite {
    /// Where.
    pub path: PathBuf,
    /// What.
    pub contents: Vec<u8>,
    /// Final mode.
    pub mode: u32,
    /// What it is, for reports ("private key", "certificate" ...).
    pub kind: &'static str,
    /// Owner to give it (uid, gid), e.g. the owner of a PostgreSQL data directory.
    pub owner: Option<(u32, u32)>,
    /// What to do when it exists.
    pub overwrite: Overwrite,
    /// Directory for the temp file (default: the target's), on the same filesystem.
    pub stage_dir: Option<PathBuf>,
    /// fsync it (false for caches that are rebuilt when lost).
    pub durable: bool,
}

impl FileWrite {
    /// A private key: 0600.
    pub fn key(path: PathBuf, contents: Vec<u8>, overwrite: Overwrite) -> FileWrite {
        FileWrite {
            path,
            contents,
            mode: MODE_KEY,
            kind: "private key",
            owner: None,
            overwrite,
            stage_dir: None,
            durable: true,
        }
    }

    /// A public file (certificate, chain, CRL, config): 0644.
    pub fn public(
        path: PathBuf,
        contents: Vec<u8>,
        kind: &'static str,
        overwrite: Overwrite,
    ) -> FileWrite {
        FileWrite {
            path,
            contents,
            mode: MODE_PUBLIC,
            kind,
            owner: None,
            overwrite,
            stage_dir: None,
            durable: true,
        }
    }

    /// A cache: written atomically but not fsynced (losing it only costs a rebuild).
    pub fn cache(mut self) -> FileWrite {
        self.durable = false;
        self
    }

    /// Write the temp file in `dir` (same filesystem) instead of the target's directory.
    pub fn staged_in(mut self, dir: &Path) -> FileWrite {
        self.stage_dir = Some(dir.to_path_buf());
        self
    }

    /// Give the file an owner.
    pub fn owned_by(mut self, owner: Option<(u32, u32)>) -> FileWrite {
        self.owner = owner;
        self
    }
}

/// A file that was written (or found identical), for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// Path as given.
    pub path: PathBuf,
    /// What it is.
    pub kind: &'static str,
    /// Octal mode, e.g. "0600".
    pub mode: String,
    /// False when an identical file was already there.
    pub changed: bool,
}

struct Staged {
    /// The target reached through its directory's handle (`/proc/self/fd/N/NAME`): every
    /// operation on the file uses this; `file.path` is for messages and reports.
    real: PathBuf,
    /// The target relative to the temp file's directory, for the journal.
    rel_target: Option<PathBuf>,
    temp: PathBuf,
    /// Where the file in place is kept while it is being replaced.
    backup: PathBuf,
    file: FileWrite,
}

enum Placed {
    New(PathBuf),
    Replaced { target: PathBuf, backup: PathBuf },
    ReplacedNothing(PathBuf),
}

/// A set of files written together or not at all.
#[derive(Default)]
pub struct Staging {
    staged: Vec<Staged>,
    skipped: Vec<Written>,
    /// The set lands inside a directory that is itself renamed into place last (a new CA
    /// built aside): no journal needed.
    no_journal: bool,
    /// The staged temp files were handed to the caller to flush ([`Staging::take_unflushed`]).
    flushed: bool,
    /// The directories written to, each opened once ([`handles::open_dir`]) and then used
    /// only through its handle.
    dirs: Vec<(PathBuf, DirHandle)>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// State-changing system calls made so far, for the crash tests.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// Test hook: with `PGCERT_TEST_CRASH_AT=N`, the process aborts (no destructor or cleanup runs,
/// as under SIGKILL) just before its Nth state-changing system call. The crash tests run a
/// command with N = 1, 2, ... until it completes, and check what each kill left.
fn crash_point() {
    static AT: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("PGCERT_TEST_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(at) = at {
        let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        if n == *at {
            std::process::abort();
        }
    }
}
static NO_SYNC: AtomicBool = AtomicBool::new(false);

/// Turn fsync off for this process (`--no-sync`).
pub fn set_no_sync(no_sync: bool) {
    NO_SYNC.store(no_sync, Ordering::Relaxed);
}

fn sync_file(f: &File) -> io::Result<()> {
    if NO_SYNC.load(Ordering::Relaxed) {
        Ok(())
    } else {
        f.sync_all()
    }
}

fn temp_name(target: &Path, what: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.pgcert-{what}-{}-{n}", std::process::id()))
}

/// The directory a file is in (`.` for a bare name).
pub fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Refuse a target that exists (and is not allowed to), or is a symlink.
pub fn check_target(path: &Path, contents: &[u8], overwrite: Overwrite) -> Result<()> {
    check_target_at(path, path, contents, overwrite)
}

/// [`check_target`] of `real` (the path through a directory handle), named `path`.
fn check_target_at(real: &Path, path: &Path, contents: &[u8], overwrite: Overwrite) -> Result<()> {
    match fs::symlink_metadata(real) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow!(e).context(format!("cannot check {}", path.display()))),
        Ok(m) if m.file_type().is_symlink() => Err(anyhow!(
            "refusing to write {}: it is a symbolic link",
            path.display()
        )
        .context(Hint::new(
            "remove the link, or choose another --out directory",
        ))),
        Ok(m) if m.is_dir() => Err(anyhow!("{} is a directory", path.display())),
        Ok(_) => match overwrite {
            Overwrite::Replace => Ok(()),
            Overwrite::IfIdentical if fs::read(real).is_ok_and(|old| old == contents) => Ok(()),
            Overwrite::SameKind(kind) => {
                if fs::read(real).is_ok_and(|old| kind.matches(&old)) {
                    Ok(())
                } else {
                    Err(anyhow!(
                        "refusing to replace {}: it is not a {}",
                        path.display(),
                        kind.name()
                    )
                    .context(Hint::new(
                        "pass --force to replace it anyway, or --out to write somewhere else",
                    )))
                }
            }
            _ => Err(
                anyhow!("refusing to overwrite {}", path.display()).context(Hint::new(
                    "pass --force to replace it, or --out DIR to write somewhere else",
                )),
            ),
        },
    }
}

impl Staging {
    /// An empty set.
    pub fn new() -> Staging {
        Staging::default()
    }

    /// An empty set for a directory built aside and renamed into place as a whole, which
    /// needs no journal.
    pub fn aside() -> Staging {
        let mut s = Staging::default();
        s.no_journal = true;
        s
    }

    /// Check every target before any work is done, so a command fails before it generates
    /// keys or touches the CA database.
    pub fn precheck(files: &[(&Path, Overwrite)]) -> Result<()> {
        for (p, o) in files {
            if *o != Overwrite::Replace {
                // contents unknown yet: only IfIdentical can pass later, so skip it here
                if *o == Overwrite::IfIdentical {
                    check_target(p, &[], Overwrite::Replace)?;
                } else {
                    check_target(p, &[], *o)?;
                }
            }
        }
        Ok(())
    }

    /// The path through the handle of directory `dir`, opened on first use.
    fn dir(&mut self, dir: &Path) -> Result<PathBuf> {
        if let Some((_, h)) = self.dirs.iter().find(|(d, _)| d == dir) {
            return Ok(h.via().to_path_buf());
        }
        let h = handles::open_dir(dir)?;
        let via = h.via().to_path_buf();
        self.dirs.push((dir.to_path_buf(), h));
        Ok(via)
    }

    /// Write one file to its temp name, mode and owner set before the first byte; its
    /// writeback is started, and [`Staging::commit`] flushes it with the rest of the set.
    pub fn stage(&mut self, mut file: FileWrite) -> Result<()> {
        let target_dir = parent_dir(&file.path).to_path_buf();
        let name = file
            .path
            .file_name()
            .ok_or_else(|| anyhow!("{} is not a file name", file.path.display()))?
            .to_owned();
        recover_once(file.stage_dir.as_deref().unwrap_or(&target_dir));
        let real = self.dir(&target_dir)?.join(&name);
        check_target_at(&real, &file.path, &file.contents, file.overwrite)?;
        if matches!(file.overwrite, Overwrite::Replace | Overwrite::SameKind(_))
            && let Ok(m) = fs::symlink_metadata(&real)
            && m.is_file()
        {
            inherit(&mut file, &m);
        }
        if file.overwrite == Overwrite::IfIdentical
            && fs::read(&real).is_ok_and(|old| old == file.contents)
        {
            self.skipped.push(Written {
                path: file.path.clone(),
                kind: file.kind,
                mode: format!("{:04o}", file.mode),
                changed: false,
            });
            return Ok(());
        }
        let (temp, rel_target) = match file.stage_dir.clone() {
            Some(d) => {
                let via = self.dir(&d)?;
                let rel = target_dir
                    .strip_prefix(&d)
                    .ok()
                    .filter(|r| {
                        r.components()
                            .all(|c| matches!(c, std::path::Component::Normal(_)))
                    })
                    .map(|r| r.join(&name));
                (temp_name(&via.join(&name), "tmp"), rel)
            }
            None => (temp_name(&real, "tmp"), Some(PathBuf::from(&name))),
        };
        let result = write_temp(&temp, &file);
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.with_context(|| format!("cannot write {}", file.path.display()))?;
        let backup = temp_name(&real, "old");
        self.staged.push(Staged {
            real,
            rel_target,
            temp,
            backup,
            file,
        });
        Ok(())
    }

    /// The staged temp files that still need a flush (none with `--no-sync`), handed over to
    /// be flushed by the caller together with other sets' ([`fsync_all`]) before the set is
    /// committed; [`Staging::commit`] then does not flush them again.
    pub fn take_unflushed(&mut self) -> Vec<PathBuf> {
        if self.flushed || NO_SYNC.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.flushed = true;
        self.staged
            .iter()
            .filter(|s| s.file.durable && !s.file.contents.is_empty())
            .map(|s| s.temp.clone())
            .collect()
    }

    /// Put every staged file in place. On failure the ones already placed are taken back.
    ///
    /// First every staged temp file with contents is flushed, all at once (`fsync_all`):
    /// one flush round for the set rather than one per file in turn, and done before the
    /// journal below names them, so the journal only ever names complete, durable files.
    pub fn commit(mut self) -> Result<Vec<Written>> {
        let mut placed: Vec<Placed> = Vec::new();
        // on failure, Drop removes the temps
        fsync_all(&self.take_unflushed())?;
        let staged = std::mem::take(&mut self.staged);
        // several files that belong together (a key and its certificate): a journal beside
        // them names every temp file, so after a kill the next pgcert run in any of these
        // directories puts the rest in place (the temps are complete and synced by now)
        let journal = if staged.len() > 1 && !self.no_journal {
            match Journal::write(&staged) {
                Ok(j) => Some(j),
                Err(e) => {
                    for s in &staged {
                        let _ = fs::remove_file(&s.temp);
                    }
                    return Err(e);
                }
            }
        } else {
            None
        };
        let mut dirs = BTreeSet::new();
        let mut result = Ok(());
        let mut remaining = staged.iter();
        for s in remaining.by_ref() {
            match place(s) {
                Ok(p) => placed.push(p),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if s.file.durable {
                // a cache file's rename may be lost in a crash: no flush is waited for
                dirs.insert(parent_dir(&s.real).to_path_buf());
            }
        }
        if let Err(e) = result {
            for p in placed.into_iter().rev() {
                match p {
                    Placed::New(t) | Placed::ReplacedNothing(t) => {
                        let _ = fs::remove_file(t);
                    }
                    Placed::Replaced { target, backup } => {
                        let _ = fs::rename(backup, target);
                    }
                }
            }
            for s in &staged {
                let _ = fs::remove_file(&s.temp);
            }
            if let Some(j) = &journal {
                j.remove();
            }
            return Err(e);
        }
        if let Some(j) = &journal {
            j.remove();
        }
        for p in placed {
            if let Placed::Replaced { backup, .. } = p {
                crash_point();
                let _ = fs::remove_file(backup);
            }
        }
        for d in dirs {
            sync_dir(&d);
        }
        let mut written: Vec<Written> = staged
            .iter()
            .map(|s| Written {
                path: s.file.path.clone(),
                kind: s.file.kind,
                mode: format!("{:04o}", s.file.mode),
                changed: true,
            })
            .collect();
        written.append(&mut self.skipped);
        Ok(written)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        for s in &self.staged {
            let _ = fs::remove_file(&s.temp);
        }
    }
}

/// A file replaced in place keeps its owner and group (when pgcert runs as root and no owner
/// was asked for) and its mode when PostgreSQL accepts that mode: a key 0600 or stricter, or
/// owned by root and 0640 or stricter (root:ssl-cert 0640, Debian's layout); a public file
/// not writable by others. Anything else gets pgcert's mode.
fn inherit(file: &mut FileWrite, old: &fs::Metadata) {
    if file.owner.is_none() && crate::users::effective_uid() == Some(0) {
        file.owner = Some((old.uid(), old.gid()));
    }
    let mode = old.mode() & 0o777;
    let owner_uid = file.owner.map_or(old.uid(), |(u, _)| u);
    let keep = if file.mode == MODE_KEY {
        mode & 0o400 != 0 && (mode & 0o077 == 0 || (owner_uid == 0 && mode & 0o037 == 0))
    } else {
        mode & 0o400 != 0 && mode & 0o022 == 0
    };
    if keep {
        file.mode = mode;
    }
}

fn write_temp(temp: &Path, file: &FileWrite) -> io::Result<()> {
    crash_point();
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    if let Some((uid, gid)) = file.owner {
        let m = f.metadata()?;
        if m.uid() != uid || m.gid() != gid {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
    }
    f.set_permissions(fs::Permissions::from_mode(file.mode))?;
    if file.contents.is_empty() {
        return Ok(()); // nothing to make durable but the name, which the directory sync covers
    }
    crash_point();
    f.write_all(&file.contents)?;
    if file.durable && !NO_SYNC.load(Ordering::Relaxed) {
        // flushed with every other staged file of the set when the set is committed
        start_writeback(&f);
    }
    Ok(())
}

fn place(s: &Staged) -> Result<Placed> {
    let shown = &s.file.path;
    let target = &s.real;
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow!("refusing to overwrite {}", shown.display()).context(Hint::new(
                "it appeared while pgcert was working; pass --force to replace it",
            ))
        } else {
            anyhow!(e).context(format!("cannot write {}", shown.display()))
        }
    };
    if matches!(
        s.file.overwrite,
        Overwrite::Replace | Overwrite::SameKind(_)
    ) {
        if fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "refusing to write {}: it is a symbolic link",
                shown.display()
            );
        }
        let backup = s.backup.clone();
        crash_point();
        let had_old = match fs::hard_link(target, &backup) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(fail(e)),
        };
        crash_point();
        fs::rename(&s.temp, target).map_err(fail)?;
        Ok(if had_old {
            Placed::Replaced {
                target: target.clone(),
                backup,
            }
        } else {
            Placed::ReplacedNothing(target.clone())
        })
    } else {
        crash_point();
        fs::hard_link(&s.temp, target).map_err(fail)?;
        crash_point();
        let _ = fs::remove_file(&s.temp);
        Ok(Placed::New(target.clone()))
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = sync_file(&d);
    }
}

/// Write a single file (staged and committed at once).
pub fn write_one(file: FileWrite) -> Result<Written> {
    let mut s = Staging::new();
    s.stage(file)?;
    Ok(s.commit()?.remove(0))
}

/// Create a directory (and missing parents) with exactly `mode`, whatever the umask, without
/// following a link a less privileged account could have placed ([`handles`]).
/// Returns the directories that were created, outermost first, for rollback.
pub fn create_dir(path: &Path, mode: u32) -> Result<Vec<PathBuf>> {
    create_dir_owned(path, mode, None)
}

/// [`create_dir`], each new directory given to `owner` on its handle as it is made (a user's
/// new `~/.postgresql` made by root): a directory swapped for a link meanwhile is never the
/// one chowned.
pub fn create_dir_owned(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<Vec<PathBuf>> {
    Ok(handles::open_or_create_dir(path, mode, owner)?.1)
}

/// Make a new directory that must not exist yet (a staging directory is never reused: one
/// made in advance by someone else is refused), owned by this process's user, with exactly
/// `mode`. Its parent is opened by [`handles::open_dir`]. Returns its handle.
pub fn create_fresh_dir(path: &Path, mode: u32) -> Result<DirHandle> {
    use rustix::fs::{Mode, OFlags};
    let parent = handles::open_dir(parent_dir(path))?;
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a directory name", path.display()))?;
    crash_point();
    rustix::fs::mkdirat(parent.fd(), name, Mode::from_raw_mode(mode)).map_err(|e| {
        let e = io::Error::from(e);
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow!(
                "{} already exists: pgcert's staging directories are new for each run",
                path.display()
            )
            .context(Hint::new(
                "someone made it in advance; remove it (after checking who) and run again",
            ))
        } else {
            anyhow!(e).context(format!("cannot create directory {}", path.display()))
        }
    })?;
    let d = rustix::fs::openat(
        parent.fd(),
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok();
    let swapped = || {
        anyhow!(
            "{} was swapped by another account right after pgcert made it",
            path.display()
        )
        .context(Hint::new(
            "its parent directory is writable by another account; build it in a directory only you can write to",
        ))
    };
    let Some(d) = d else {
        return Err(swapped());
    };
    let st = rustix::fs::fstat(&d).map_err(io::Error::from)?;
    if st.st_uid != rustix::process::geteuid().as_raw() {
        return Err(swapped());
    }
    rustix::fs::fchmod(&d, Mode::from_raw_mode(mode)).map_err(|e| {
        anyhow!(io::Error::from(e)).context(format!("cannot set the mode of {}", path.display()))
    })?;
    Ok(DirHandle::new(d))
}

/// Remove everything in the directory `handle` holds (through the handle).
fn empty_dir(handle: &DirHandle) {
    if let Ok(rd) = fs::read_dir(handle.via()) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::remove_dir_all(&p);
            } else {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// Remove a tree pgcert built at `built` (made by [`create_fresh_dir`], whose handle is
/// `handle`) that was not placed: emptied through its handle, and its name removed only if
/// it is still that directory.
pub fn remove_built_tree(built: &Path, handle: &DirHandle) {
    empty_dir(handle);
    if let (Ok(m), Ok(ours)) = (fs::symlink_metadata(built), handle.stat())
        && m.dev() == ours.st_dev
        && m.ino() == ours.st_ino
    {
        let _ = fs::remove_dir(built);
    }
}

/// Rename the directory `built` (whose handle is `handle`) to `to`, then check that what now
/// has the name `to` is that directory: in a parent another account can write to, the
/// directory could have been swapped for theirs meanwhile. Then the tree pgcert built is
/// emptied through its handle and the rename is reported as failed.
pub fn rename_dir_checked(built: &Path, handle: &DirHandle, to: &Path, shown: &Path) -> Result<()> {
    crash_point();
    if let Err(e) = fs::rename(built, to) {
        return Err(if e.kind() == io::ErrorKind::NotFound {
            anyhow!(
                "cannot move the new directory into place at {}: it was taken away while pgcert built it",
                shown.display()
            )
            .context(Hint::new(
                "its parent directory is writable by another account; build it in a directory only you can write to",
            ))
        } else {
            anyhow!(e).context(format!(
                "cannot move the new directory into place at {}",
                shown.display()
            ))
        });
    }
    sync_dir(parent_dir(to));
    let ours = handle.stat().map_err(|e| anyhow!(e))?;
    match fs::symlink_metadata(to) {
        Ok(m) if m.dev() == ours.st_dev && m.ino() == ours.st_ino => Ok(()),
        other => {
            empty_dir(handle);
            let whose = other
                .ok()
                .map(|m| {
                    crate::users::name_of(m.uid()).unwrap_or_else(|| format!("uid {}", m.uid()))
                })
                .unwrap_or_else(|| "nobody".into());
            Err(anyhow!(
                "{} is not the directory pgcert built: it was swapped while pgcert worked (what is there belongs to {whose})",
                shown.display()
            )
            .context(Hint::new(
                "its parent directory is writable by another account; build it in a directory only you can write to",
            )))
        }
    }
}

/// `path` made absolute with symbolic links resolved when it exists, else as given: for paths
/// printed into configuration lines, which must work from any working directory.
pub fn absolute_or_given(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Give directories `create_dir` made to `owner`, not following a link put in their place
/// (prefer [`create_dir_owned`], which gives each on its handle as it is made).
pub fn give_dirs(dirs: &[PathBuf], owner: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = owner {
        for d in dirs {
            rustix::fs::chownat(
                rustix::fs::CWD,
                d,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io::Error::from)
            .with_context(|| format!("cannot give {} to uid {uid}", d.display()))?;
        }
    }
    Ok(())
}

/// Remove directories created by `create_dir` (innermost first), if they are empty.
pub fn remove_created_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// Remove a directory tree pgcert itself built (a staging directory that was not used).
pub fn remove_tree(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
}

/// Rename a fully built directory into place; fails if the target exists and is not empty.
pub fn rename_dir(from: &Path, to: &Path) -> Result<()> {
    crash_point();
    fs::rename(from, to).map_err(|e| {
        anyhow!(e).context(format!(
            "cannot move the new directory into place at {}",
            to.display()
        ))
    })?;
    sync_dir(parent_dir(to));
    Ok(())
}

/// Append one line to a file (the CA's `index.txt`), fsynced, and return the length to give
/// `truncate` to undo it. When the file does not end with a newline, its last line is either a
/// complete record another tool wrote without one (`complete` says so: a newline is added) or
/// the fragment of a write cut short by a crash (it is cut off, so the file parses again).
pub fn append_line(path: &Path, line: &str, complete: impl Fn(&str) -> bool) -> Result<u64> {
    let ctx = || format!("cannot append to {}", path.display());
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .with_context(ctx)?;
    let mut len = f.metadata().with_context(ctx)?.len();
    let mut text = String::new();
    if len > 0 {
        // the unterminated tail, if any (records are short: 64 KiB is plenty)
        let start = len.saturating_sub(65536);
        let mut tail = Vec::new();
        f.seek(SeekFrom::Start(start)).with_context(ctx)?;
        f.read_to_end(&mut tail).with_context(ctx)?;
        if tail.last() != Some(&b'\n') {
            let cut = tail
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|p| p + 1)
                .unwrap_or(0);
            let fragment = String::from_utf8_lossy(&tail[cut..]).into_owned();
            if complete(&fragment) {
                text.push('\n');
            } else if start == 0 || cut > 0 {
                len = start + cut as u64;
                f.set_len(len).with_context(ctx)?;
            } else {
                bail!(
                    "{}: the last 64 KiB hold no line break; not a CA database",
                    path.display()
                );
            }
        }
    }
    text.push_str(line);
    text.push('\n');
    crash_point();
    f.write_all(text.as_bytes()).with_context(ctx)?;
    crash_point();
    sync_file(&f).with_context(ctx)?;
    Ok(len)
}

/// Rewrite a text file line by line through `edit` (`Some(new)` replaces the line, `None`
/// keeps it), streamed, so memory does not grow with the file (a 200,000-line `index.txt`),
/// and atomically: a temp file in the same directory, with the file's owner and mode, synced,
/// renamed over it. Nothing is written when no line changes. Returns how many lines changed.
pub fn rewrite_lines(
    path: &Path,
    mut edit: impl FnMut(&str) -> Result<Option<String>>,
) -> Result<usize> {
    use std::io::BufRead;
    let ctx = || format!("cannot rewrite {}", path.display());
    // a symlinked file (index.txt shared with another tool's tree) is rewritten where it
    // points, so the link stays a link, when the link is one this user may follow
    let resolved;
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let dir = handles::open_dir(parent_dir(path))?;
            let name = path.file_name().unwrap_or_default();
            let link = handles::stat_at(dir.fd(), name).with_context(ctx)?;
            let dir_stat = dir.stat().with_context(ctx)?;
            if !handles::link_is_trusted(&dir_stat, &link) {
                bail!(
                    "refusing to rewrite {}: it is a symbolic link another account could have placed",
                    path.display()
                );
            }
            resolved = fs::canonicalize(path).with_context(ctx)?;
            resolved.as_path()
        }
        _ => path,
    };
    let src = File::open(path).with_context(ctx)?;
    let meta = src.metadata().with_context(ctx)?;
    let mut reader = io::BufReader::with_capacity(1 << 16, src);
    recover_once(parent_dir(path));
    let temp = temp_name(path, "tmp");
    let result = (|| -> Result<usize> {
        crash_point();
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .with_context(ctx)?;
        if crate::users::effective_uid() == Some(0) && (meta.uid() != 0 || meta.gid() != 0) {
            std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid())).with_context(ctx)?;
        }
        f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o777))
            .with_context(ctx)?;
        let mut out = io::BufWriter::with_capacity(1 << 16, f);
        let mut line = String::new();
        let mut changed = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line).with_context(ctx)? == 0 {
                break;
            }
            let text = line.strip_suffix('\n').unwrap_or(&line);
            match edit(text)? {
                Some(new) => {
                    changed += 1;
                    out.write_all(new.as_bytes()).with_context(ctx)?;
                }
                None => out.write_all(text.as_bytes()).with_context(ctx)?,
            }
            out.write_all(b"\n").with_context(ctx)?;
        }
        if changed == 0 {
            return Ok(0);
        }
        let f = out
            .into_inner()
            .map_err(|e| anyhow!(e.to_string()))
            .with_context(ctx)?;
        crash_point();
        sync_file(&f).with_context(ctx)?;
        crash_point();
        fs::rename(&temp, path).with_context(ctx)?;
        sync_dir(parent_dir(path));
        Ok(changed)
    })();
    if !matches!(result, Ok(n) if n > 0) {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Undo `append_line`.
pub fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot restore {}", path.display()))?;
    crash_point();
    f.set_len(len)?;
    sync_file(&f)?;
    Ok(())
}

/// The journal of a multi-file placement (`.pgcert-journal-PID-N`): one in each directory
/// that holds temp files of the set, naming only that directory's entries, by names relative
/// to it, with the directory's and each temp file's identity (device, inode). A journal is
/// replayed only by the user who wrote it, and only in the directory it was written for
/// (docs/security.md): a journal that anyone else could have written or moved is reported and
/// left alone.
struct Journal {
    copies: Vec<PathBuf>,
}

fn hex_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex_path(s: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

const JOURNAL_MAGIC: &str = "pgcert journal 2";
/// The first format named absolute paths; it is never replayed (docs/security.md).
const JOURNAL_MAGIC_V1: &str = "pgcert journal 1";

impl Journal {
    fn write(staged: &[Staged]) -> Result<Journal> {
        let mut groups: std::collections::BTreeMap<PathBuf, Vec<&Staged>> =
            std::collections::BTreeMap::new();
        for s in staged {
            groups
                .entry(parent_dir(&s.temp).to_path_buf())
                .or_default()
                .push(s);
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut j = Journal { copies: Vec::new() };
        for (d, entries) in groups {
            let r = (|| -> Result<PathBuf> {
                let dm = fs::metadata(&d)?;
                let mut text = format!("{JOURNAL_MAGIC}\ndir\t{}\t{}\n", dm.dev(), dm.ino());
                for s in entries {
                    let Some(rel) = &s.rel_target else {
                        bail!(
                            "{} is staged outside its directory's tree: it cannot be journaled",
                            s.file.path.display()
                        );
                    };
                    let backup = rel.with_file_name(s.backup.file_name().unwrap_or_default());
                    let replace = matches!(
                        s.file.overwrite,
                        Overwrite::Replace | Overwrite::SameKind(_)
                    );
                    text.push_str(&format!(
                        "{}\t{}\t{}\t{}\t{}\n",
                        if replace { "replace" } else { "new" },
                        hex_path(rel),
                        hex_path(Path::new(s.temp.file_name().unwrap_or_default())),
                        hex_path(&backup),
                        fs::symlink_metadata(&s.temp)?.ino(),
                    ));
                }
                let path = d.join(format!(".pgcert-journal-{}-{n}", std::process::id()));
                let temp = d.join(format!(
                    ".pgcert-journal-{}-{n}.pgcert-tmp-{}-{n}",
                    std::process::id(),
                    std::process::id()
                ));
                let r = write_temp(
                    &temp,
                    &FileWrite::public(
                        path.clone(),
                        text.into_bytes(),
                        "journal",
                        Overwrite::Replace,
                    ),
                )
                .and_then(|_| {
                    crash_point();
                    fs::rename(&temp, &path)
                });
                if let Err(e) = r {
                    let _ = fs::remove_file(&temp);
                    return Err(e.into());
                }
                sync_dir(&d);
                Ok(path)
            })();
            match r {
                Ok(p) => j.copies.push(p),
                Err(e) => {
                    j.remove();
                    return Err(e.context("cannot write a placement journal"));
                }
            }
        }
        Ok(j)
    }

    fn remove(&self) {
        for c in &self.copies {
            crash_point();
            let _ = fs::remove_file(c);
        }
    }
}

/// Things the file layer left alone and the user should know (a journal it would not trust),
/// printed as warnings when the command ends.
static NOTICES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn notice(msg: String) {
    if let Ok(mut n) = NOTICES.lock()
        && !n.contains(&msg)
    {
        n.push(msg);
    }
}

/// The notices gathered so far (see [`NOTICES`]), taken.
pub fn take_notices() -> Vec<String> {
    NOTICES
        .lock()
        .map(|mut n| std::mem::take(&mut *n))
        .unwrap_or_default()
}

/// A pgcert temp name's process id: `.NAME.pgcert-WHAT-PID-N`, `.NAME.pgcert-new-PID-R`,
/// `.pgcert-journal-PID-N`.
fn temp_pid(name: &str) -> Option<u32> {
    if let Some(rest) = name.strip_prefix(".pgcert-journal-") {
        return rest.split('-').next()?.parse().ok();
    }
    let (_, after) = name.rsplit_once(".pgcert-")?;
    let mut parts = after.split('-');
    let what = parts.next()?;
    if !matches!(what, "tmp" | "old" | "new") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Whether process `pid` exists: `kill(pid, 0)`, which (unlike a look at /proc, hidden by
/// `hidepid`) also sees other users' processes.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(p),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Finish what killed pgcert processes of this user left in `dir`: complete each journaled
/// placement (its temp files are complete), then remove their temp files, backups and
/// half-built CA directories, private keys first. Files of live processes and of other users
/// are left alone; the directory is opened by [`handles::open_dir`] and used by its handle.
pub fn recover(dir: &Path) -> usize {
    let Ok(h) = handles::open_dir(dir) else {
        return 0;
    };
    let Ok(dir_stat) = h.stat() else { return 0 };
    let via = h.via();
    let me = rustix::process::geteuid().as_raw();
    let Ok(rd) = fs::read_dir(via) else { return 0 };
    let mut journals = Vec::new();
    let mut leftovers: Vec<(bool, PathBuf, bool)> = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') || !name.contains("pgcert-") {
            continue;
        }
        let Some(pid) = temp_pid(&name) else { continue };
        if alive(pid) {
            continue;
        }
        let Ok(m) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        if name.starts_with(".pgcert-journal-") && !name.contains(".pgcert-tmp-") {
            journals.push(e.file_name());
        } else if m.uid() == me {
            let secret = [".key", ".pk8", ".p12", "cakey.pem", ".pfx"]
                .iter()
                .any(|s| name.contains(s));
            leftovers.push((!secret, e.path(), m.is_dir()));
        }
    }
    let mut n = 0;
    // the temp files of a journal left alone stay too: it may be finished where it belongs
    let mut kept = Vec::new();
    for j in &journals {
        match roll_forward(via, dir, &dir_stat, j) {
            0 => kept.extend(temp_pid(&j.to_string_lossy())),
            placed => n += placed,
        }
    }
    // keys first: a secret must not outlive a second kill
    leftovers.sort();
    for (_, p, is_dir) in leftovers {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if fs::symlink_metadata(&p).is_err()
            || temp_pid(&name).is_some_and(|pid| kept.contains(&pid))
        {
            continue;
        }
        crash_point();
        let gone = if is_dir {
            fs::remove_dir_all(&p).is_ok()
        } else {
            fs::remove_file(&p).is_ok()
        };
        n += usize::from(gone);
    }
    if n > 0 {
        sync_dir(via);
    }
    n
}

/// One entry of a journal: how, the target (relative), the temp file's name, the backup
/// (relative), the temp file's inode.
struct Entry {
    replace: bool,
    target: PathBuf,
    temp: PathBuf,
    backup: PathBuf,
    ino: u64,
}

fn parse_entry(line: &str) -> Option<Entry> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 5 || !matches!(f[0], "new" | "replace") {
        return None;
    }
    let relative = |p: &Path| {
        p.components().count() <= 2
            && p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
    };
    let e = Entry {
        replace: f[0] == "replace",
        target: unhex_path(f[1]).filter(|p| relative(p))?,
        temp: unhex_path(f[2])
            .filter(|p| handles::is_plain_name(p.as_os_str()))
            .filter(|p| p.to_string_lossy().contains(".pgcert-tmp-"))?,
        backup: unhex_path(f[3])
            .filter(|p| relative(p))
            .filter(|p| p.to_string_lossy().contains(".pgcert-old-"))?,
        ino: f[4].parse().ok()?,
    };
    (parent_dir(&e.backup) == parent_dir(&e.target)).then_some(e)
}

/// Complete the placement a journal in `dir` (the path through its handle; `shown` for
/// messages) describes, then remove its backups and the journal. Returns 1 + the files placed,
/// or 0 when the journal was left alone (with a notice saying why).
fn roll_forward(
    dir: &Path,
    shown: &Path,
    dir_stat: &rustix::fs::Stat,
    name: &std::ffi::OsStr,
) -> usize {
    let path = dir.join(name);
    let display = shown.join(name);
    let refuse = |why: String| {
        notice(format!(
            "left the placement journal {} alone: {why}",
            display.display()
        ));
        0
    };
    let me = rustix::process::geteuid().as_raw();
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => return refuse(format!("cannot open it ({e}); a journal is never a link")),
    };
    let Ok(m) = f.metadata() else { return 0 };
    if !m.is_file() {
        return refuse("it is not a regular file".into());
    }
    if m.uid() != me {
        return refuse(format!(
            "it belongs to {}, not to the user running pgcert (that user's next pgcert run in this directory finishes it)",
            crate::users::name_of(m.uid()).unwrap_or_else(|| format!("uid {}", m.uid()))
        ));
    }
    if m.mode() & 0o022 != 0 || m.nlink() != 1 {
        return refuse("others can write to it, or it has other links".into());
    }
    let mut text = String::new();
    if f.take(1 << 20).read_to_string(&mut text).is_err() {
        return refuse("it is not text".into());
    }
    let mut lines = text.lines();
    match lines.next() {
        Some(JOURNAL_MAGIC) => {}
        Some(JOURNAL_MAGIC_V1) => {
            return refuse(
                "an older pgcert wrote it with absolute paths, which are not trusted; check the files it names and remove it"
                    .into(),
            );
        }
        _ => return refuse("it is not a pgcert journal".into()),
    }
    let here = format!("dir\t{}\t{}", dir_stat.st_dev, dir_stat.st_ino);
    if lines.next() != Some(here.as_str()) {
        return refuse("it was written for another directory".into());
    }
    let Some(entries) = lines.map(parse_entry).collect::<Option<Vec<Entry>>>() else {
        return refuse("it names a path outside its directory, or is malformed".into());
    };
    let mut n = 0;
    for e in &entries {
        let temp = dir.join(&e.temp);
        let Ok(tm) = fs::symlink_metadata(&temp) else {
            continue; // placed already
        };
        if !tm.is_file() || tm.uid() != me || tm.ino() != e.ino {
            notice(format!(
                "left {} alone: it is not the file the journal {} recorded",
                shown.join(&e.temp).display(),
                display.display()
            ));
            continue;
        }
        // a target in a subdirectory (newcerts/): that directory, never a link
        let target_dir = parent_dir(&e.target);
        if target_dir != Path::new(".")
            && !fs::symlink_metadata(dir.join(target_dir)).is_ok_and(|m| m.is_dir())
        {
            continue;
        }
        let target = dir.join(&e.target);
        crash_point();
        if e.replace {
            if fs::rename(&temp, &target).is_ok() {
                n += 1;
            }
        } else {
            if fs::hard_link(&temp, &target).is_ok() {
                n += 1;
            }
            crash_point();
            let _ = fs::remove_file(&temp);
        }
        sync_dir(parent_dir(&target));
    }
    for e in &entries {
        let backup = dir.join(&e.backup);
        if fs::symlink_metadata(&backup).is_ok_and(|m| m.is_file() && m.uid() == me) {
            crash_point();
            let _ = fs::remove_file(backup);
        }
    }
    crash_point();
    let _ = fs::remove_file(&path);
    n + 1
}

/// `recover` each directory once per process, before pgcert first writes there.
fn recover_once(dir: &Path) {
    static DONE: std::sync::Mutex<BTreeSet<PathBuf>> = std::sync::Mutex::new(BTreeSet::new());
    let key = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let first = DONE.lock().map(|mut d| d.insert(key)).unwrap_or(false);
    if first {
        recover(dir);
    }
}

/// Remove a file that pgcert placed (rollback of a database change).
pub fn remove_placed(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Open (creating if needed, 0644) a lock file.
pub fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(MODE_PUBLIC)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}

/// The (uid, gid) owning a path.
pub fn owner_of(path: &Path) -> Result<(u32, u32)> {
    let m = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((m.uid(), m.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pgcert-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn key_is_0600_and_cert_0644_whatever_the_umask() {
        let d = tmpdir("modes");
        let mut s = Staging::new();
        s.stage(FileWrite::key(d.join("k"), b"k".to_vec(), Overwrite::Never))
            .unwrap();
        s.stage(FileWrite::public(
            d.join("c"),
            b"c".to_vec(),
            "certificate",
            Overwrite::Never,
        ))
        .unwrap();
        s.commit().unwrap();
        let mode = |p: &str| fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("k"), 0o600);
        assert_eq!(mode("c"), 0o644);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn failed_commit_leaves_nothing_behind() {
        let d = tmpdir("rollback");
        let mut s = Staging::new();
        s.stage(FileWrite::key(d.join("a"), b"a".to_vec(), Overwrite::Never))
            .unwrap();
        s.stage(FileWrite::key(d.join("b"), b"b".to_vec(), Overwrite::Never))
            .unwrap();
        // b appears after staging: the no-clobber placement must fail and take back a
        crate::files::write_one(FileWrite::key(
            d.join("b"),
            b"other".to_vec(),
            Overwrite::Never,
        ))
        .unwrap();
        assert!(s.commit().is_err());
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b")]);
        assert_eq!(fs::read(d.join("b")).unwrap(), b"other");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn identical_file_is_kept_and_different_one_refused() {
        let d = tmpdir("ident");
        write_one(FileWrite::public(
            d.join("r"),
            b"x".to_vec(),
            "c",
            Overwrite::Never,
        ))
        .unwrap();
        let w = write_one(FileWrite::public(
            d.join("r"),
            b"x".to_vec(),
            "c",
            Overwrite::IfIdentical,
        ))
        .unwrap();
        assert!(!w.changed);
        assert!(
            write_one(FileWrite::public(
                d.join("r"),
                b"y".to_vec(),
                "c",
                Overwrite::IfIdentical
            ))
            .is_err()
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn append_repairs_missing_newline_cuts_fragments_and_truncate_undoes() {
        let d = tmpdir("append");
        let p = d.join("index.txt");
        let whole = |l: &str| l.starts_with("line");
        write_one(FileWrite::public(
            p.clone(),
            b"line a".to_vec(),
            "db",
            Overwrite::Never,
        ))
        .unwrap();
        let len = append_line(&p, "line b", whole).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "line a\nline b\n");
        truncate(&p, len).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "line a");
        // a torn write: the fragment goes, complete lines stay
        write_one(FileWrite::public(
            p.clone(),
            b"line a\nli".to_vec(),
            "db",
            Overwrite::Replace,
        ))
        .unwrap();
        append_line(&p, "line c", whole).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "line a\nline c\n");
        fs::remove_dir_all(d).unwrap();
    }
}

/// One file of a new tree ([`write_tree`]).
#[derive(Debug, Clone)]
pub struct TreeFile {
    /// Path relative to the tree's root.
    pub rel: PathBuf,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Private key (0600) or not (0644).
    pub key: bool,
    /// Owner (uid, gid), when not the process's: given on the open handle before the first
    /// byte, and to the directories made for the file.
    pub owner: Option<(u32, u32)>,
}

/// Write a whole new tree (`pgcert mint`) into `root`, a directory nobody else uses yet: every
/// file created with its final mode (keys 0600 from the first byte, `private/` directories
/// 0700), none fsynced: [`sync_tree`] flushes them all at once before the tree is renamed
/// into place.
pub fn write_tree(root: &Path, files: &[TreeFile]) -> Result<()> {
    let mut made: BTreeSet<PathBuf> = BTreeSet::new();
    for f in files {
        let path = root.join(&f.rel);
        let dir = parent_dir(&path).to_path_buf();
        if !made.contains(&dir) {
            let mode = if dir.file_name().is_some_and(|n| n == "private") {
                MODE_PRIVATE_DIR
            } else {
                MODE_DIR
            };
            let new_dirs = create_dir(&dir, mode)?;
            give_dirs(&new_dirs, f.owner)?;
            made.insert(dir);
        }
        crash_point();
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if f.key { MODE_KEY } else { MODE_PUBLIC })
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        // the umask may have narrowed a public file's mode; fchmod is exact
        out.set_permissions(fs::Permissions::from_mode(if f.key {
            MODE_KEY
        } else {
            MODE_PUBLIC
        }))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        if let Some((uid, gid)) = f.owner {
            std::os::unix::fs::fchown(&out, Some(uid), Some(gid))
                .with_context(|| format!("cannot give {} to uid {uid}", path.display()))?;
        }
        out.write_all(&f.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if !NO_SYNC.load(Ordering::Relaxed) {
            start_writeback(&out);
        }
    }
    Ok(())
}

/// Ask the kernel to start writing a new file's data now, without waiting for it. Durability
/// still comes from [`sync_tree`]'s fsyncs; this only lets the data of every file of a tree go
/// to the disk in one batch, with its block allocations in one journal transaction, instead of
/// each fsync writing its own file's data and then committing the journal for it (a durable
/// quickstart on a journaled ext4: 0.85x the time, docs/ca-database.md). The call is `posix_fadvise(POSIX_FADV_DONTNEED)`, which on Linux starts writeback
/// of the dirty pages (as `sync_file_range(SYNC_FILE_RANGE_WRITE)` does, which has no safe
/// wrapper) and drops only pages that are clean and idle, none of these yet; on tmpfs and on
/// other systems it is a hint that changes nothing. Its failure changes nothing either.
fn start_writeback(f: &File) {
    let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed);
}

/// Flush a tree [`write_tree`] wrote, unless `--no-sync`: every file and every directory is
/// fsynced, all at once from up to 16 threads, so the file system commits them together (ext4
/// and xfs group concurrent fsyncs into few journal commits) before the tree is renamed into
/// place. Not `syncfs(2)`: that would also wait for every other process's dirty data on the
/// file system (seen: 0.5 s for a quickstart beside 1.5 GB written by someone else).
pub fn sync_tree(root: &Path, files: &[TreeFile]) -> Result<()> {
    if NO_SYNC.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut paths: Vec<PathBuf> = files.iter().map(|f| root.join(&f.rel)).collect();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for f in files {
        let mut d = f.rel.parent();
        while let Some(p) = d {
            dirs.insert(root.join(p));
            d = p.parent();
        }
    }
    dirs.insert(root.to_path_buf());
    paths.extend(dirs);
    fsync_all(&paths)
}

/// fsync every path, all at once: from up to 16 threads, so the file system can commit them
/// together (ext4 and xfs group concurrent fsyncs into few journal commits); one path is
/// flushed on this thread.
pub fn fsync_all(paths: &[PathBuf]) -> Result<()> {
    let flush = |p: &PathBuf| -> Result<()> {
        crash_point();
        File::open(p)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot flush {}", p.display()))
    };
    if paths.len() <= 1 {
        return paths.iter().try_for_each(flush);
    }
    let next = AtomicUsize::new(0);
    let work = || -> Result<()> {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(p) = paths.get(i) else {
                return Ok(());
            };
            flush(p)?;
        }
    };
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..paths.len().min(16)).map(|_| s.spawn(work)).collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("an fsync thread panicked"))
            .collect::<Result<Vec<()>>>()
            .map(|_| ())
    })
}
