//! System accounts: who owns a file, who will read it. From /etc/passwd and /proc, as std has
//! no getpwnam or geteuid.

use std::path::{Path, PathBuf};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
}

fn accounts() -> Vec<Account> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 5).then_some(())?;
            Some(Account {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: PathBuf::from(f[5]),
            })
        })
        .collect()
}

/// The account called `name`.
pub fn by_name(name: &str) -> Option<Account> {
    accounts().into_iter().find(|a| a.name == name)
}

/// The account with user id `uid`.
pub fn by_uid(uid: u32) -> Option<Account> {
    accounts().into_iter().find(|a| a.uid == uid)
}

/// The user name of `uid`.
pub fn name_of(uid: u32) -> Option<String> {
    by_uid(uid).map(|a| a.name)
}

/// The effective uid of this process.
pub fn effective_uid() -> Option<u32> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether the user `uid` can open `path` for reading, tested for real: by opening it when
/// that is this process's user, else (as root) with `runuser -u USER -- test -r`, which
/// applies the owner, mode, groups and every directory on the way. None when it cannot be told.
pub fn readable_as(path: &Path, uid: u32) -> Option<bool> {
    let me = effective_uid()?;
    if me == uid {
        return Some(std::fs::File::open(path).is_ok());
    }
    if me != 0 {
        return None;
    }
    if surely_readable(path, uid) {
        return Some(true);
    }
    let name = name_of(uid)?;
    std::process::Command::new("runuser")
        .args(["-u", &name, "--", "test", "-r"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()
        .map(|s| s.success())
}

/// True when the mode bits alone grant `uid` read access to `path`, with certainty: the file is
/// the user's with u+r, or o+r; every directory above it is the user's with u+x, or o+x; and
/// none of them has a POSIX ACL (a named-user entry could take access away). Anything else is
/// left to the real test (`runuser`), which costs a process and a PAM session.
fn surely_readable(path: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let no_acl = |p: &Path| {
        let mut buf = [0u8; 1];
        matches!(
            rustix::fs::getxattr(p, "system.posix_acl_access", &mut buf[..]),
            Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::OPNOTSUPP
        )
    };
    let Ok(abs) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(m) = std::fs::metadata(&abs) else {
        return false;
    };
    let file_ok = (m.uid() == uid && m.mode() & 0o400 != 0) || m.mode() & 0o004 != 0;
    if !file_ok || !no_acl(&abs) {
        return false;
    }
    abs.ancestors().skip(1).all(|d| {
        std::fs::metadata(d)
            .is_ok_and(|m| (m.uid() == uid && m.mode() & 0o100 != 0) || m.mode() & 0o001 != 0)
            && no_acl(d)
    })
}

/// When files written by this process into `dir` would belong to someone other than the
/// directory's owner (root writing into a user's ~/.postgresql), that owner's name. A directory
/// still to be made is judged by the nearest one that exists (the user's home).
pub fn foreign_owner_of(dir: &Path) -> Option<String> {
    let existing = dir
        .ancestors()
        .find(|d| d.as_os_str().is_empty() || d.exists())?;
    let existing = if existing.as_os_str().is_empty() {
        Path::new(".")
    } else {
        existing
    };
    let (uid, _) = crate::files::owner_of(existing).ok()?;
    let me = effective_uid()?;
    (uid != me).then(|| name_of(uid).unwrap_or_else(|| format!("uid {uid}")))
}
