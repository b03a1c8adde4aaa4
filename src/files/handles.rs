//! Directory handles: where root's pgcert writes is decided once, when a directory is opened,
//! and never again by a path another account can change (docs/security.md).
//!
//! A directory is opened component by component (`openat` with `O_NOFOLLOW`). A symbolic
//! link on the way is followed only when nobody less privileged could have put it there: its
//! directory belongs to root or to this user and nobody else may write to it, or the directory
//! is sticky (`/tmp`) and the link itself belongs to root or to this user (the kernel's
//! `protected_symlinks` rule). Anything else is refused with the reason. The handle is then
//! used through `/proc/self/fd/N/...`: every later operation resolves from the opened
//! directory, so renaming a directory on the way or swapping it for a link changes nothing.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, anyhow};
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Stat};

use crate::error::Hint;

/// Symbolic links followed while opening one directory, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// An open directory, and the path that reaches it through the handle.
#[derive(Debug)]
pub struct DirHandle {
    fd: OwnedFd,
    via: PathBuf,
}

impl DirHandle {
    /// A handle to an open directory.
    pub fn new(fd: OwnedFd) -> DirHandle {
        let via = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        DirHandle { fd, via }
    }

    /// The path through this handle (`/proc/self/fd/N`): names joined to it resolve from the
    /// opened directory, whatever happens to the path it was opened by.
    pub fn via(&self) -> &Path {
        &self.via
    }

    /// The handle.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Keep the handle open for the rest of the process and return the path through it (for
    /// a directory built aside, whose path is handed to code that works by path).
    pub fn leak(self) -> PathBuf {
        std::mem::forget(self.fd);
        self.via
    }

    /// The directory's status.
    pub fn stat(&self) -> std::io::Result<Stat> {
        Ok(rustix::fs::fstat(&self.fd)?)
    }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether a symbolic link `link` found in directory `dir` may be followed: nobody less
/// privileged than this process can have placed it.
pub fn link_is_trusted(dir: &Stat, link: &Stat) -> bool {
    let me = euid();
    let dir_owner_ok = dir.st_uid == 0 || dir.st_uid == me;
    let others_write = dir.st_mode & 0o022 != 0;
    let sticky = dir.st_mode & 0o1000 != 0;
    let link_owner_ok = link.st_uid == 0 || link.st_uid == me;
    dir_owner_ok && (!others_write || (sticky && link_owner_ok))
}

fn who(uid: u32) -> String {
    crate::users::name_of(uid).unwrap_or_else(|| format!("uid {uid}"))
}

fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn open_path(at: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        at,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn root_or_cwd(absolute: bool) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        CWD,
        if absolute { "/" } else { "." },
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// What opening a directory needs to do about a missing component.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Fail,
    /// Create it with this mode (exact, whatever the umask) and owner.
    Create(u32, Option<(u32, u32)>),
}

/// The outcome of a walk: the handle, and the directories it made (as given, outermost first).
struct Walk {
    handle: DirHandle,
    made: Vec<PathBuf>,
}

fn walk(path: &Path, missing: Missing) -> Result<Walk> {
    let fail = |e: rustix::io::Errno, what: &Path| {
        anyhow!(std::io::Error::from(e)).context(format!("cannot open {}", what.display()))
    };
    let mut queue = components(path);
    let mut cur = root_or_cwd(path.is_absolute()).map_err(|e| fail(e, path))?;
    // the path as given, up to the component being opened (for messages and rollback)
    let mut shown = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    // a path through one of this process's own handles (`DirHandle::via`): that handle, not
    // the name its link shows
    if let Ok(rest) = path.strip_prefix("/proc/self/fd")
        && let Some(Component::Normal(n)) = rest.components().next()
    {
        let own = Path::new("/proc/self/fd").join(n);
        cur = rustix::fs::openat(
            CWD,
            &own,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(e, &own))?;
        shown = own;
        queue.drain(..4);
    }
    let mut links = 0;
    let mut made = Vec::new();
    while let Some(name) = queue.pop_front() {
        shown.push(&name);
        if name == ".." {
            cur = rustix::fs::openat(
                &cur,
                "..",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| fail(e, &shown))?;
            continue;
        }
        let fd = match open_path(&cur, &name) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if matches!(missing, Missing::Create(..)) => {
                let Missing::Create(mode, owner) = missing else {
                    unreachable!()
                };
                // the last component gets `mode`, the ones above it ordinary directories
                let last = queue.is_empty();
                let m = if last { mode } else { super::MODE_DIR };
                super::crash_point();
                match rustix::fs::mkdirat(&cur, &name, Mode::from_raw_mode(m)) {
                    Ok(()) => {
                        let d = rustix::fs::openat(
                            &cur,
                            &name,
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(|e| fail(e, &shown))?;
                        rustix::fs::fchmod(&d, Mode::from_raw_mode(m)).map_err(|e| {
                            anyhow!(std::io::Error::from(e))
                                .context(format!("cannot set the mode of {}", shown.display()))
                        })?;
                        if let Some((uid, gid)) = owner {
                            rustix::fs::fchown(
                                &d,
                                Some(rustix::fs::Uid::from_raw(uid)),
                                Some(rustix::fs::Gid::from_raw(gid)),
                            )
                            .map_err(|e| {
                                anyhow!(std::io::Error::from(e)).context(format!(
                                    "cannot give {} to {}",
                                    shown.display(),
                                    who(uid)
                                ))
                            })?;
                        }
                        made.push(shown.clone());
                        cur = d;
                        continue;
                    }
                    // made meanwhile by someone else: opened (and judged) like any other
                    Err(rustix::io::Errno::EXIST) => {
                        open_path(&cur, &name).map_err(|e| fail(e, &shown))?
                    }
                    Err(e) => {
                        return Err(anyhow!(std::io::Error::from(e))
                            .context(format!("cannot create directory {}", shown.display())));
                    }
                }
            }
            Err(e) => return Err(fail(e, &shown)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| fail(e, &shown))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => cur = fd,
            FileType::Symlink => {
                let dir = rustix::fs::fstat(&cur).map_err(|e| fail(e, &shown))?;
                if !link_is_trusted(&dir, &st) {
                    let parent = shown
                        .parent()
                        .unwrap_or(Path::new("/"))
                        .display()
                        .to_string();
                    let why = if dir.st_uid != 0 && dir.st_uid != euid() {
                        format!("{parent} belongs to {}", who(dir.st_uid))
                    } else {
                        format!(
                            "{parent} is writable by others and the link belongs to {}",
                            who(st.st_uid)
                        )
                    };
                    return Err(anyhow!(
                        "refusing to follow the symbolic link {}: {why}, who could point it anywhere",
                        shown.display()
                    )
                    .context(Hint::new(
                        "give the real directory (the link's target) if it is the one you mean",
                    )));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(anyhow!("too many symbolic links in {}", path.display()));
                }
                let target =
                    rustix::fs::readlinkat(&fd, "", Vec::new()).map_err(|e| fail(e, &shown))?;
                let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                shown.pop();
                if target.is_absolute() {
                    cur = root_or_cwd(true).map_err(|e| fail(e, &target))?;
                }
                for c in components(&target).into_iter().rev() {
                    queue.push_front(c);
                }
            }
            _ => {
                return Err(if shown == path {
                    anyhow!("{} is not a directory", shown.display())
                } else {
                    anyhow!(
                        "cannot use {}: {} is not a directory",
                        path.display(),
                        shown.display()
                    )
                });
            }
        }
    }
    // a real descriptor (O_PATH ones cannot be fsynced or read)
    let fd = rustix::fs::openat(
        &cur,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(e, path))?;
    let via = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let via = if via.is_dir() {
        via
    } else {
        // no /proc: the path itself (checked above, but resolved again by each call)
        path.to_path_buf()
    };
    Ok(Walk {
        handle: DirHandle { fd, via },
        made,
    })
}

/// Open the directory `path` (empty: the current directory) without following a symbolic
/// link that a less privileged account could have placed.
pub fn open_dir(path: &Path) -> Result<DirHandle> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    Ok(walk(path, Missing::Fail)?.handle)
}

/// Open `path`, creating what is missing: the last directory with `mode`, the ones above it
/// 0755, each with its exact mode whatever the umask and given to `owner` on its handle (so a
/// directory swapped meanwhile is never the one chowned). Returns the handle and the
/// directories made, outermost first.
pub fn open_or_create_dir(
    path: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(DirHandle, Vec<PathBuf>)> {
    let w = walk(path, Missing::Create(mode, owner))?;
    Ok((w.handle, w.made))
}

/// Whether `name` is a single, ordinary file name (no `/`, not `.` or `..`).
pub fn is_plain_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && b != b"." && b != b".." && !b.contains(&b'/')
}

/// The status of `name` in `dir`, not following a link.
pub fn stat_at(dir: &impl AsFd, name: &OsStr) -> std::io::Result<Stat> {
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pgcert-handles-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn own_links_are_followed_and_the_handle_stays_on_the_directory() {
        let d = tmp("own");
        std::fs::create_dir(d.join("real")).unwrap();
        symlink(d.join("real"), d.join("link")).unwrap();
        let h = open_dir(&d.join("link")).unwrap();
        // moving the directory away does not move the handle
        std::fs::rename(d.join("real"), d.join("moved")).unwrap();
        std::fs::create_dir(d.join("real")).unwrap();
        std::fs::write(h.via().join("f"), b"x").unwrap();
        assert!(d.join("moved/f").exists());
        assert!(!d.join("real/f").exists());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn create_makes_the_missing_directories_with_exact_modes() {
        let d = tmp("create");
        let (h, made) = open_or_create_dir(&d.join("a/b/c"), 0o700, None).unwrap();
        assert_eq!(made, vec![d.join("a"), d.join("a/b"), d.join("a/b/c")]);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&d.join("a")), 0o755);
        assert_eq!(mode(&d.join("a/b/c")), 0o700);
        assert_eq!(h.stat().unwrap().st_mode & 0o7777, 0o700);
        // a second time: nothing made
        assert!(
            open_or_create_dir(&d.join("a/b/c"), 0o700, None)
                .unwrap()
                .1
                .is_empty()
        );
        assert!(open_dir(&d.join("a/b/missing")).is_err());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn trust_follows_the_protected_symlinks_rule() {
        let me = euid();
        let st = |uid: u32, mode: u32| {
            // a real Stat with the two fields the rule reads replaced
            let mut s: Stat = rustix::fs::stat("/").unwrap();
            s.st_uid = uid;
            s.st_mode = mode;
            s
        };
        let other = me.wrapping_add(12345);
        assert!(link_is_trusted(&st(0, 0o40755), &st(other, 0o120777)));
        assert!(link_is_trusted(&st(me, 0o40700), &st(me, 0o120777)));
        assert!(!link_is_trusted(&st(other, 0o40755), &st(other, 0o120777)));
        assert!(!link_is_trusted(&st(0, 0o40777), &st(other, 0o120777)));
        assert!(!link_is_trusted(&st(0, 0o41777), &st(other, 0o120777)));
        assert!(link_is_trusted(&st(0, 0o41777), &st(me, 0o120777)));
        assert!(!link_is_trusted(&st(0, 0o40775), &st(me, 0o120777)));
    }
}
