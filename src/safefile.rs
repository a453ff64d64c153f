//! Filesystem trust: open paths without following symbolic links, and judge
//! who may have changed a file before we act on it as root.
//!
//! Contract: [`open_dir`] and [`open_file`] open the *last* component of a
//! path with `O_NOFOLLOW` (a symlink is a [`Problem`], never followed);
//! [`walk`] opens every component of an absolute directory path that way,
//! one `openat` relative to the previous descriptor, creating missing
//! directories with `mkdirat` (and `fchown` to an owner when root) so a
//! user's symlink anywhere on the path cannot redirect a root process.
//! [`check`] compares a descriptor's `fstat` with a [`Rule`] (type, owners,
//! mode bits that must be clear). Every refusal is a [`Problem`]: the path,
//! what is wrong, and what the administrator should do — the shape of
//! sendmail's safefile diagnostics and Postfix's `postfix check` lines.
//! Nothing here reads file contents.

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, mkdirat};
use nix::unistd::{Gid, Uid};
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// One unsafe path: where, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The path concerned.
    pub path: PathBuf,
    /// What is wrong ("is a symbolic link", "is writable by others (mode 0777)").
    pub what: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.path.display(), self.what, self.fix)
    }
}

impl std::error::Error for Problem {}

impl Problem {
    fn new(path: &Path, what: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            what: what.into(),
            fix: fix.into(),
        }
    }

    fn open(path: &Path, e: Errno, kind: Kind) -> Problem {
        // O_NOFOLLOW|O_DIRECTORY on a symlink is ENOTDIR on Linux: look
        // (only to word the message; the refusal does not depend on it).
        let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        match e {
            Errno::ELOOP | Errno::ENOTDIR if link => Problem::new(
                path,
                "is a symbolic link (not followed)",
                format!("replace it with a real {}", kind.noun()),
            ),
            Errno::ENOTDIR => Problem::new(
                path,
                "is not a directory (or a component of it is not)",
                "replace it with a real directory",
            ),
            Errno::ENOENT => Problem::new(path, "does not exist", "create it"),
            e => Problem::new(path, format!("cannot open: {e}"), "check the path"),
        }
    }
}

/// What a path must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Dir => "directory",
            Kind::File => "file",
        }
    }
}

/// What [`check`] requires of an opened path.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its type.
    pub kind: Kind,
    /// Accepted owners (empty: anyone).
    pub owners: Vec<Uid>,
    /// Mode bits that must be clear (`0o022`: not writable by group or others).
    pub forbid: u32,
    /// Said in the fix when the owner is wrong ("chown mxgate").
    pub owner_name: String,
}

/// Open a directory without following a symlink at its last component.
pub fn open_dir(path: &Path) -> Result<OwnedFd, Problem> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Problem::open(path, e, Kind::Dir))
}

/// Open a file for reading without following a symlink at its last component
/// (and without blocking on a FIFO).
pub fn open_file(path: &Path) -> Result<OwnedFd, Problem> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| Problem::open(path, e, Kind::File))
}

/// Open `name` (one component) under `dir` without following a symlink.
pub fn open_dir_at(dir: impl AsFd, name: &str, path: &Path) -> Result<OwnedFd, Problem> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Problem::open(path, e, Kind::Dir))
}

/// Check an open descriptor against `rule`; its `fstat` when it passes.
pub fn check(fd: impl AsFd, path: &Path, rule: &Rule) -> Result<FileStat, Problem> {
    let st = fstat(fd).map_err(|e| Problem::new(path, format!("cannot stat: {e}"), "check it"))?;
    let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let is = match rule.kind {
        Kind::Dir => fmt == SFlag::S_IFDIR,
        Kind::File => fmt == SFlag::S_IFREG,
    };
    if !is {
        return Err(Problem::new(
            path,
            format!("is not a {}", rule.kind.noun()),
            format!("replace it with a real {}", rule.kind.noun()),
        ));
    }
    if !rule.owners.is_empty() && !rule.owners.contains(&Uid::from_raw(st.st_uid)) {
        return Err(Problem::new(
            path,
            format!("is owned by {}", user_name(st.st_uid)),
            format!("chown {} it", rule.owner_name),
        ));
    }
    let bad = st.st_mode & rule.forbid & 0o7777;
    if bad != 0 {
        return Err(Problem::new(
            path,
            format!("is {} (mode {:04o})", mode_words(bad), st.st_mode & 0o7777),
            format!("chmod {} it", chmod_arg(bad)),
        ));
    }
    Ok(st)
}

/// Who owns a file, by name when known (`uid 65534 (nobody)`).
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn mode_words(bits: u32) -> String {
    let mut w = Vec::new();
    if bits & 0o020 != 0 {
        w.push("writable by its group");
    }
    if bits & 0o002 != 0 {
        w.push("writable by others");
    }
    if bits & 0o040 != 0 {
        w.push("readable by its group");
    }
    if bits & 0o004 != 0 {
        w.push("readable by others");
    }
    if bits & 0o7000 != 0 {
        w.push("setuid/setgid/sticky");
    }
    if w.is_empty() {
        w.push("too permissive");
    }
    w.join(" and ")
}

fn chmod_arg(bits: u32) -> String {
    let mut s = String::new();
    if bits & 0o060 != 0 {
        s.push('g');
    }
    if bits & 0o006 != 0 {
        s.push('o');
    }
    s.push('-');
    if bits & 0o044 != 0 {
        s.push('r');
    }
    if bits & 0o022 != 0 {
        s.push('w');
    }
    if bits & 0o7000 != 0 {
        return format!("{:04o}", 0o755 & !(bits & 0o777));
    }
    s
}

/// How [`walk`] treats missing components and who may own existing ones.
#[derive(Debug, Clone)]
pub struct Walk {
    /// Owners accepted for existing directories on the path (root is always accepted).
    pub owners: Vec<Uid>,
    /// Create missing directories (mode 0700) from this component index on
    /// (components before it must exist); `None`: create nothing.
    pub create_from: Option<usize>,
    /// When root: give created directories to this owner (`fchown` on the new descriptor).
    pub give_to: Option<(Uid, Gid)>,
}

/// Open the absolute directory `path` component by component, never
/// following a symlink, refusing directories owned by others than root and
/// `w.owners` and directories writable by others without the sticky bit
/// (`/tmp` is fine; a user's `0777` directory is not).
pub fn walk(path: &Path, w: &Walk) -> Result<OwnedFd, Problem> {
    if !path.is_absolute() {
        return Err(Problem::new(
            path,
            "is not an absolute path",
            "use an absolute path",
        ));
    }
    let mut here = PathBuf::from("/");
    let mut fd = open_dir(&here)?;
    trust_dir(&fd, &here, w)?;
    for (i, c) in path.components().enumerate() {
        let name = match c {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(n) => n
                .to_str()
                .ok_or_else(|| Problem::new(path, "is not valid UTF-8", "use a plain path"))?,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Problem::new(path, "contains \"..\"", "use a plain path"));
            }
        };
        here.push(name);
        let next = match open_dir_at(&fd, name, &here) {
            Ok(n) => n,
            Err(_) if w.create_from.is_some_and(|from| i >= from) => {
                match mkdirat(&fd, name, Mode::from_bits_truncate(0o700)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(Problem::new(
                            &here,
                            format!("cannot create: {e}"),
                            "check the parent directory",
                        ));
                    }
                }
                let n = open_dir_at(&fd, name, &here)?;
                if let Some((uid, gid)) = w.give_to
                    && Uid::effective().is_root()
                {
                    nix::unistd::fchown(&n, Some(uid), Some(gid)).map_err(|e| {
                        Problem::new(&here, format!("cannot chown: {e}"), "check it")
                    })?;
                }
                n
            }
            Err(p) => return Err(p),
        };
        trust_dir(&next, &here, w)?;
        fd = next;
    }
    Ok(fd)
}

fn trust_dir(fd: &OwnedFd, path: &Path, w: &Walk) -> Result<(), Problem> {
    let st = check(
        fd,
        path,
        &Rule {
            kind: Kind::Dir,
            owners: Vec::new(),
            forbid: 0,
            owner_name: String::new(),
        },
    )?;
    let uid = Uid::from_raw(st.st_uid);
    if !uid.is_root() && !w.owners.contains(&uid) {
        return Err(Problem::new(
            path,
            format!(
                "is owned by {}, who is neither root nor the recipient",
                user_name(st.st_uid)
            ),
            "make root or the recipient its owner",
        ));
    }
    // Group-writable is accepted (Debian's /var/mail is root:mail 2775):
    // nothing on the path is followed and every owner is checked, so a
    // group member can at worst make us refuse.
    if st.st_mode & 0o002 != 0 && st.st_mode & 0o1000 == 0 {
        return Err(Problem::new(
            path,
            format!(
                "is {} without the sticky bit (mode {:04o})",
                mode_words(st.st_mode & 0o002),
                st.st_mode & 0o7777
            ),
            "chmod o-w it (or +t for a shared directory)",
        ));
    }
    Ok(())
}

/// Read an `:include:` file as sendmail's safefile does: an absolute path,
/// opened without following a symlink, a regular file not writable by group
/// or others, in no directory writable by group or others without the
/// sticky bit, valid UTF-8. Returns its text and, when it is owned by
/// neither root nor this process's user, its owner (whose file may not
/// name programs or files). The error is ours (an OS error or the problem
/// with what to do), never a byte of the file.
pub fn read_include(p: &Path) -> Result<(String, Option<u32>), String> {
    use std::io::Read;
    if !p.is_absolute() {
        return Err("not an absolute path".into());
    }
    let fd = open_file(p).map_err(|pr| format!("{}; {}", pr.what, pr.fix))?;
    let rule = Rule {
        kind: Kind::File,
        owners: Vec::new(),
        forbid: 0o022,
        owner_name: "root".into(),
    };
    let st = check(&fd, p, &rule).map_err(|pr| format!("{}; {}", pr.what, pr.fix))?;
    for dir in p.ancestors().skip(1) {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0 {
            return Err(format!(
                "in {}, which is writable by group or others without the sticky bit (mode {:04o}); chmod go-w it",
                dir.display(),
                m.mode() & 0o7777
            ));
        }
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "not valid UTF-8 text".to_string())?;
    let euid = nix::unistd::Uid::effective().as_raw();
    let untrusted = (st.st_uid != 0 && st.st_uid != euid).then_some(st.st_uid);
    Ok((text, untrusted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    #[test]
    fn symlinks_are_problems_with_the_path() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("hold");
        symlink("/etc", &link).unwrap();
        let p = open_dir(&link).unwrap_err();
        assert_eq!(p.path, link);
        assert!(p.to_string().contains("is a symbolic link"), "{p}");
        let w = Walk {
            owners: vec![],
            create_from: Some(0),
            give_to: None,
        };
        let p = walk(&link.join("Maildir"), &w).unwrap_err();
        assert_eq!(p.path, link, "{p}");
        assert!(!Path::new("/etc/Maildir").exists());
    }

    #[test]
    fn walk_creates_and_refuses_world_writable() {
        let d = tempfile::tempdir().unwrap();
        let w = Walk {
            owners: vec![],
            create_from: Some(0),
            give_to: None,
        };
        walk(&d.path().join("a/b"), &w).unwrap();
        assert!(d.path().join("a/b").is_dir());
        std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        let p = walk(&d.path().join("a/b"), &w).unwrap_err();
        assert!(p.what.contains("writable by"), "{p}");
    }

    #[test]
    fn check_names_owner_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("passwd");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let fd = open_file(&f).unwrap();
        let rule = Rule {
            kind: Kind::File,
            owners: vec![],
            forbid: 0o077,
            owner_name: "root".into(),
        };
        let p = check(&fd, &f, &rule).unwrap_err();
        assert!(p.what.contains("readable by others"), "{p}");
        assert_eq!(p.fix, "chmod go-r it");
    }
}
