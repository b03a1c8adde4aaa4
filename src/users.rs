//! System accounts: who owns a file, who will read it. From /etc/passwd, as std has no
//! getpwnam (and rustix, for geteuid).

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

/// The effective uid of this process (`geteuid(2)`; always known, the Option is for callers
/// that also handle a user they cannot name).
pub fn effective_uid() -> Option<u32> {
    Some(rustix::process::geteuid().as_raw())
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
    if let Some(verdict) = mode_verdict(path, uid) {
        return Some(verdict);
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

/// What the mode bits alone say, with certainty, of `uid` opening `path` for reading: no (false)
/// when the file (for reading) or any directory above it (for searching) denies it, yes (true)
/// when the file and every directory above grant it, None when they cannot tell (then the real
/// test, `runuser`, which costs a process and a PAM session, decides). A root-owned 0700
/// directory (`/root`, `mktemp -d`) above a file is the common no.
fn mode_verdict(path: &Path, uid: u32) -> Option<bool> {
    let abs = std::fs::canonicalize(path).ok()?;
    let says: Vec<Option<bool>> = std::iter::once(mode_says(&abs, uid, 0o4))
        .chain(abs.ancestors().skip(1).map(|d| mode_says(d, uid, 0o1)))
        .collect();
    if says.contains(&Some(false)) {
        Some(false)
    } else if says.iter().all(|s| *s == Some(true)) {
        Some(true)
    } else {
        None
    }
}

/// What `p`'s mode bits say of `uid`'s permission `bit` (0o4 read or 0o1 search, in the
/// others' position), when they say it whichever groups the user is in and no POSIX ACL (a
/// named-user entry) can change it. The kernel applies the owner's bits to the owner and the
/// group's to a group member, whatever the others' say, and the user's groups are not known for
/// certain here: for anyone but the owner, group and others must agree.
fn mode_says(p: &Path, uid: u32, bit: u32) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    if !no_acl(p) {
        return None;
    }
    let mode = m.mode();
    if m.uid() == uid {
        return Some(mode & (bit << 6) != 0);
    }
    match (mode & (bit << 3) != 0, mode & bit != 0) {
        (true, true) => Some(true),
        (false, false) => Some(false),
        _ => None,
    }
}

/// No POSIX access ACL on `p` (one could grant or deny a named user beyond the mode bits).
fn no_acl(p: &Path) -> bool {
    let mut buf = [0u8; 1];
    matches!(
        rustix::fs::getxattr(p, "system.posix_acl_access", &mut buf[..]),
        Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::OPNOTSUPP
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The real verdict, as the user: `runuser -u USER -- test -r`.
    fn runuser_says(path: &Path, name: &str) -> bool {
        std::process::Command::new("runuser")
            .args(["-u", name, "--", "test", "-r"])
            .arg(path)
            .status()
            .expect("runuser runs")
            .success()
    }

    #[test]
    fn mode_bit_verdicts_agree_with_runuser_and_decide_the_common_cases() {
        if effective_uid() != Some(0) {
            // the fast paths serve root asking about another user; CI runs as root
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
                "CI must run this test as root (it compares with runuser's verdicts)"
            );
            return;
        }
        let user = by_name("nobody").expect("a nobody account");
        let base = std::env::temp_dir().join(format!("pgcert-users-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        // (directory mode, directory owner, file mode, file owner, expected fast verdict)
        let nobody = (user.uid, user.gid);
        let root = (0, 0);
        type Owner = (u32, u32);
        let cases: &[(u32, Owner, u32, Owner, Option<bool>)] = &[
            (0o755, root, 0o644, root, Some(true)),
            (0o755, root, 0o600, nobody, Some(true)),
            (0o700, root, 0o644, root, Some(false)), // mktemp -d, /root
            (0o755, root, 0o600, root, Some(false)),
            (0o755, root, 0o077, nobody, Some(false)), // the owner's own bits deny
            (0o705, root, 0o644, root, None), // o+x, but a member of root's group is denied
            (0o755, root, 0o604, root, None),
            (0o750, (0, user.gid), 0o644, root, None), // group membership decides
            (0o755, root, 0o640, (0, user.gid), None),
        ];
        for (i, &(dmode, downer, fmode, fowner, fast)) in cases.iter().enumerate() {
            let dir = base.join(format!("d{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("server.key");
            crate::files::write_one(crate::files::FileWrite::public(
                file.clone(),
                b"x".to_vec(),
                "test file",
                crate::files::Overwrite::Never,
            ))
            .unwrap();
            std::os::unix::fs::chown(&file, Some(fowner.0), Some(fowner.1)).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(fmode)).unwrap();
            std::os::unix::fs::chown(&dir, Some(downer.0), Some(downer.1)).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dmode)).unwrap();
            std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
            let truth = runuser_says(&file, &user.name);
            let got = mode_verdict(&file, user.uid);
            assert_eq!(got, fast, "case {i}: dir {dmode:o}, file {fmode:o}");
            if let Some(v) = got {
                assert_eq!(
                    v, truth,
                    "case {i}: the fast verdict differs from runuser's"
                );
            }
            assert_eq!(readable_as(&file, user.uid), Some(truth), "case {i}");
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
