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
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow, bail};

use crate::error::Hint;

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
    match fs::symlink_metadata(path) {
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
            Overwrite::IfIdentical if fs::read(path).is_ok_and(|old| old == contents) => Ok(()),
            Overwrite::SameKind(kind) => {
                if fs::read(path).is_ok_and(|old| kind.matches(&old)) {
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

    /// Write one file to its temp name, mode and owner set before the first byte; its
    /// writeback is started, and [`Staging::commit`] flushes it with the rest of the set.
    pub fn stage(&mut self, mut file: FileWrite) -> Result<()> {
        recover_once(match &file.stage_dir {
            Some(d) => d,
            None => parent_dir(&file.path),
        });
        check_target(&file.path, &file.contents, file.overwrite)?;
        if matches!(file.overwrite, Overwrite::Replace | Overwrite::SameKind(_))
            && let Ok(m) = fs::symlink_metadata(&file.path)
            && m.is_file()
        {
            inherit(&mut file, &m);
        }
        if file.overwrite == Overwrite::IfIdentical
            && fs::read(&file.path).is_ok_and(|old| old == file.contents)
        {
            self.skipped.push(Written {
                path: file.path.clone(),
                kind: file.kind,
                mode: format!("{:04o}", file.mode),
                changed: false,
            });
            return Ok(());
        }
        let temp = match &file.stage_dir {
            Some(d) => temp_name(&d.join(file.path.file_name().unwrap_or_default()), "tmp"),
            None => temp_name(&file.path, "tmp"),
        };
        let result = write_temp(&temp, &file);
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.with_context(|| format!("cannot write {}", file.path.display()))?;
        let backup = temp_name(&file.path, "old");
        self.staged.push(Staged { temp, backup, file });
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
                dirs.insert(parent_dir(&s.file.path).to_path_buf());
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
    let target = &s.file.path;
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow!("refusing to overwrite {}", target.display()).context(Hint::new(
                "it appeared while pgcert was working; pass --force to replace it",
            ))
        } else {
            anyhow!(e).context(format!("cannot write {}", target.display()))
        }
    };
    if matches!(
        s.file.overwrite,
        Overwrite::Replace | Overwrite::SameKind(_)
    ) {
        if fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "refusing to write {}: it is a symbolic link",
                target.display()
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

/// Create a directory (and missing parents) with exactly `mode`, whatever the umask.
/// Returns the directories that were created, outermost first, for rollback.
pub fn create_dir(path: &Path, mode: u32) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut p = Some(path);
    while let Some(d) = p {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    missing.reverse();
    for d in &missing {
        let m = if d == path { mode } else { MODE_DIR };
        crash_point();
        match fs::DirBuilder::new().mode(m).create(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(anyhow!(e).context(format!("cannot create directory {}", d.display())));
            }
        }
        fs::set_permissions(d, fs::Permissions::from_mode(m))
            .with_context(|| format!("cannot set the mode of {}", d.display()))?;
    }
    Ok(missing)
}

/// `path` made absolute with symbolic links resolved when it exists, else as given: for paths
/// printed into configuration lines, which must work from any working directory.
pub fn absolute_or_given(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Give directories `create_dir` made to `owner` (a user's new ~/.postgresql made by root).
pub fn give_dirs(dirs: &[PathBuf], owner: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = owner {
        for d in dirs {
            std::os::unix::fs::chown(d, Some(uid), Some(gid))
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

/// The journal of a multi-file placement: one copy in each directory involved
/// (`.pgcert-journal-PID-N`), each naming every file: target, temp, backup, how it is placed.
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

const JOURNAL_MAGIC: &str = "pgcert journal 1";

impl Journal {
    fn write(staged: &[Staged]) -> Result<Journal> {
        let abs = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(p))
                    .unwrap_or_else(|_| p.to_path_buf())
            }
        };
        let mut text = format!("{JOURNAL_MAGIC}\n");
        let mut dirs = BTreeSet::new();
        for s in staged {
            let replace = matches!(
                s.file.overwrite,
                Overwrite::Replace | Overwrite::SameKind(_)
            );
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                if replace { "replace" } else { "new" },
                hex_path(&abs(&s.file.path)),
                hex_path(&abs(&s.temp)),
                hex_path(&abs(&s.backup)),
            ));
            dirs.insert(parent_dir(&s.temp).to_path_buf());
            dirs.insert(parent_dir(&s.file.path).to_path_buf());
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut copies = Vec::new();
        for d in dirs {
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
                    text.clone().into_bytes(),
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
                let j = Journal { copies };
                j.remove();
                return Err(
                    anyhow!(e).context(format!("cannot write a journal in {}", d.display()))
                );
            }
            sync_dir(&d);
            copies.push(path);
        }
        Ok(Journal { copies })
    }

    fn remove(&self) {
        for c in &self.copies {
            crash_point();
            let _ = fs::remove_file(c);
        }
    }
}

/// A pgcert temp name's process id: `.NAME.pgcert-WHAT-PID-N`, `.NAME.pgcert-new-PID`,
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

fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Finish what killed pgcert processes left in `dir`: complete each journaled placement
/// (its temp files are complete), then remove their temp files, backups and half-built CA
/// directories, private keys first. Files of live processes are left alone.
pub fn recover(dir: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
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
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if name.starts_with(".pgcert-journal-") && !name.contains(".pgcert-tmp-") {
            journals.push(e.path());
        } else {
            let secret = [".key", ".pk8", ".p12", "cakey.pem", ".pfx"]
                .iter()
                .any(|s| name.contains(s));
            leftovers.push((!secret, e.path(), is_dir));
        }
    }
    let mut n = 0;
    for j in &journals {
        n += roll_forward(j);
    }
    // keys first: a secret must not outlive a second kill
    leftovers.sort();
    for (_, p, is_dir) in leftovers {
        if !p.exists() {
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
        sync_dir(dir);
    }
    n
}

/// Complete the placement a journal describes, then remove its backups and every copy of it.
fn roll_forward(journal: &Path) -> usize {
    let Ok(text) = fs::read_to_string(journal) else {
        return 0;
    };
    let mut lines = text.lines();
    if lines.next() != Some(JOURNAL_MAGIC) {
        return 0;
    }
    let entries: Vec<(bool, PathBuf, PathBuf, PathBuf)> = lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4).then_some(())?;
            Some((
                f[0] == "replace",
                unhex_path(f[1])?,
                unhex_path(f[2])?,
                unhex_path(f[3])?,
            ))
        })
        .collect();
    let mut n = 0;
    for (replace, target, temp, _) in &entries {
        if !temp.exists() {
            continue;
        }
        crash_point();
        if *replace {
            if fs::rename(temp, target).is_ok() {
                n += 1;
            }
        } else {
            if fs::hard_link(temp, target).is_ok() {
                n += 1;
            }
            crash_point();
            let _ = fs::remove_file(temp);
        }
        sync_dir(parent_dir(target));
    }
    for (_, _, _, backup) in &entries {
        if backup.exists() {
            crash_point();
            let _ = fs::remove_file(backup);
        }
    }
    // every copy of this journal (one per directory involved)
    let name = journal.file_name().unwrap_or_default().to_owned();
    let mut dirs = BTreeSet::new();
    for (_, target, temp, _) in &entries {
        dirs.insert(parent_dir(target).to_path_buf());
        dirs.insert(parent_dir(temp).to_path_buf());
    }
    for d in dirs {
        crash_point();
        let _ = fs::remove_file(d.join(&name));
    }
    crash_point();
    let _ = fs::remove_file(journal);
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
