//! The only way the host opens a file on a guest's behalf: by a checked [`GuestName`], relative
//! to the working directory, never following a symlink, never blocking, never writing through
//! an inode the host did not create.
//!
//! Names are normalised lexically (`./a.txt` and `a.txt` are the same) and refused if they are
//! empty, absolute, end in `/` (a directory's name, never a file's: `input.txt/` is not
//! `input.txt`), contain `..`, NUL or a character hv would show escaped (a control character, a
//! bidirectional control, an invisible format character: see `escape`; the host's directory
//! listing shows such names raw), are longer than [`MAX_NAME`] bytes, or have a component longer
//! than [`MAX_NAME_COMPONENT`] bytes (so that `<name>.local<ID>` fits Linux's 255-byte `NAME_MAX`
//! for every guest ID). Paths are walked one component at a time with
//! `openat(..., O_NOFOLLOW)`, so neither a symlinked directory nor a symlink planted where a
//! local file goes can lead an access out of the working directory.
//!
//! # One rule for host names
//!
//! Four roles have host files: a shared original (`-f`), the disk image (`--disk`), a guest's
//! local file (`<name>.local<ID>`) and a guest's disk copy (`<image>.cow<ID>`, `--disk-cow`).
//! No two roles ever resolve to the same host file:
//! - local files end in `.local<digits>` and disk copies in `.cow<digits>`, and a shared file or
//!   disk image whose name ends like that, or that is a symlink to such a name, is refused at
//!   start ([`GuestName::is_host_reserved`], [`resolves_to_reserved`]);
//! - a shared original and the disk image that are the same inode are refused at start;
//! - every file the host writes for a guest is a **fresh inode**: whatever is at the name is
//!   unlinked (never followed), then the file is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, and
//!   its [`Identity`] is remembered. Later opens of it check that the name still leads to that
//!   inode, a regular file with one link. So a hard link or symlink planted at a local name, a
//!   stale file from an earlier run, or another role's file behind it is never written through
//!   or read.
//!
//! # No blocking opens
//!
//! Everything is opened with `O_NONBLOCK` and checked with `fstat` before any read or write: a
//! FIFO, device, socket or directory is refused (`EACCES` in the guest, exit 2 at start).

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use hv_core::proto::errno::Errno;
use hv_core::proto::file::{MAX_NAME, MAX_NAME_COMPONENT};

/// A file name a guest may use: relative, normalised, inside the working directory.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuestName(String);

impl GuestName {
    /// Checks and normalises a name given as bytes (by a guest, or on the command line).
    pub fn parse(raw: &[u8]) -> Result<Self, Errno> {
        if raw.len() as u64 > MAX_NAME {
            return Err(Errno::Enametoolong);
        }
        if raw.is_empty() || raw.contains(&0) || raw[0] == b'/' {
            return Err(Errno::Einval);
        }
        let text = std::str::from_utf8(raw).map_err(|_| Errno::Einval)?;
        if text.chars().any(crate::escape::needs_escape) {
            return Err(Errno::Einval);
        }
        // `a/` and `a/.` name a directory; POSIX would refuse them for a file (ENOTDIR).
        if text.ends_with('/') || text.ends_with("/.") {
            return Err(Errno::Einval);
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(Errno::Einval),
                p if p.len() as u64 > MAX_NAME_COMPONENT => return Err(Errno::Enametoolong),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err(Errno::Einval);
        }
        Ok(GuestName(parts.join("/")))
    }

    /// The host file holding guest `id`'s own copy: `<name>.local<ID>`.
    pub fn local(&self, id: u32) -> String {
        format!("{}.local{id}", self.0)
    }

    /// The host file holding guest `id`'s copy of a disk image: `<name>.cow<ID>`.
    pub fn disk_copy(&self, id: u32) -> String {
        format!("{}.cow{id}", self.0)
    }

    /// True if the host could create a file of this name for a guest (it ends in
    /// `.local<digits>` or `.cow<digits>`): such a name cannot be a shared file or disk image.
    pub fn is_host_reserved(&self) -> bool {
        reserved_leaf(self.0.rsplit('/').next().unwrap_or(&self.0))
    }
}

/// True if a file's last component ends in `.local<digits>` or `.cow<digits>`.
fn reserved_leaf(leaf: &str) -> bool {
    [".local", ".cow"].iter().any(|suffix| {
        leaf.rsplit_once(suffix)
            .is_some_and(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// True if `path`, with every symlink resolved, names a file the host could create for a
/// guest: a shared file or disk image given through a symlink to such a file would lose its
/// data when the guest creates that name (the host unlinks whatever is there).
pub(crate) fn resolves_to_reserved(path: &Path) -> bool {
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(reserved_leaf))
        .unwrap_or(false)
}

impl fmt::Debug for GuestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The name as messages show it: [`GuestName::parse`] refuses what `escape` would escape, so
/// this is the name itself; escaped all the same, so that no message can ever carry it raw.
impl fmt::Display for GuestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&crate::escape::Escaped(&self.0), f)
    }
}

/// Which inode a file is: what the host remembers of every file it created, so that a later
/// open can tell it still reaches that file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    /// The identity of an open file, if it is a regular file (with any number of links).
    pub(crate) fn of_regular(file: &File) -> io::Result<Identity> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(not_regular());
        }
        Ok(Identity { dev: meta.dev(), ino: meta.ino() })
    }
}

/// The error for a file that is not a regular file with one link (or not the inode expected).
fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "not a regular file the host created")
}

/// How to open a file the host created earlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read it.
    Read,
    /// Write it (at the offset the caller chooses: start, or after truncating).
    Write,
    /// Append to it.
    Append,
}

/// The working directory, held open so later `chdir`s or renames cannot move the sandbox.
#[derive(Debug)]
pub(crate) struct Sandbox {
    dir: OwnedFd,
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn openat(dir: &OwnedFd, name: &str, flags: i32, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: `c` is a valid NUL-terminated string and `dir` an open descriptor; the returned
    // descriptor, if any, is new and owned by nobody else.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is owned by this function.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// True if `name` in `dir` is a symlink (not followed).
fn is_symlink(dir: &OwnedFd, name: &str) -> bool {
    let Ok(c) = cstr(name) else { return false };
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid descriptor, C string and output buffer; the buffer is read only on success.
    let r = unsafe {
        libc::fstatat(dir.as_raw_fd(), c.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW)
    };
    // SAFETY: fstatat succeeded, so it filled the buffer.
    r == 0 && (unsafe { st.assume_init() }.st_mode & libc::S_IFMT) == libc::S_IFLNK
}

/// Opens a file given on the command line (a shared file, a disk image) without blocking:
/// `O_NONBLOCK`, then `fstat`; anything but a regular file is refused. The user chose the
/// path, so a symlink there is followed.
pub(crate) fn open_given(path: &Path, write: bool) -> io::Result<(File, Identity)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let identity = Identity::of_regular(&file).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => io::Error::other("not a regular file"),
        _ => e,
    })?;
    Ok((file, identity))
}

/// Opens `file`'s inode again, for reading, with an offset of its own (through
/// `/proc/self/fd`, which reaches the inode even if its name has changed meanwhile).
pub(crate) fn reopen(file: &File, identity: Identity) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let again = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if Identity::of_regular(&again)? != identity {
        return Err(not_regular());
    }
    Ok(again)
}

impl Sandbox {
    /// The sandbox rooted at the current working directory.
    pub(crate) fn cwd() -> io::Result<Self> {
        Self::at(Path::new("."))
    }

    /// The sandbox rooted at `dir` (tests use their own directory, never the process's cwd).
    pub(crate) fn at(dir: &Path) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let dir = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `dir` is a valid C string; the descriptor returned is owned below.
        let fd =
            unsafe { libc::open(dir.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by open and is owned by nobody else.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Sandbox { dir })
    }

    /// The directory holding `path` (relative, normalised: `a/b/c`), walked without following
    /// any symlink, and the last component.
    fn parent<'p>(&self, path: &'p str) -> io::Result<(Option<OwnedFd>, &'p str)> {
        let (dirs, leaf) = match path.rsplit_once('/') {
            Some((d, l)) => (Some(d), l),
            None => (None, path),
        };
        let mut parent = None;
        for component in dirs.into_iter().flat_map(|d| d.split('/')) {
            let at = parent.as_ref().unwrap_or(&self.dir);
            let dir = openat(at, component, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0);
            parent = Some(dir.map_err(|e| match e.raw_os_error() {
                // O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR; say what it is.
                Some(libc::ENOTDIR) if is_symlink(at, component) => {
                    io::Error::from_raw_os_error(libc::ELOOP)
                }
                _ => e,
            })?);
        }
        Ok((parent, leaf))
    }

    /// Creates `path` as a new, empty regular file, open for reading and writing: whatever is
    /// at the name (a stale file, a hard link, a symlink, a FIFO) is unlinked first, never
    /// followed or opened, and the file is created exclusively, so a name re-planted meanwhile
    /// makes this fail instead of being written through.
    pub(crate) fn create_fresh(&self, path: &str) -> io::Result<(File, Identity)> {
        let (parent, leaf) = self.parent(path)?;
        let at = parent.as_ref().unwrap_or(&self.dir);
        let c = cstr(leaf)?;
        // SAFETY: valid directory descriptor and C string.
        if unsafe { libc::unlinkat(at.as_raw_fd(), c.as_ptr(), 0) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOENT) {
                return Err(e);
            }
        }
        let flags =
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_NONBLOCK;
        let file = File::from(openat(at, leaf, flags, 0o644)?);
        let identity = Identity::of_regular(&file)?;
        Ok((file, identity))
    }

    /// Opens `path`, which the host created with [`Sandbox::create_fresh`] as `identity`: it
    /// must still be that inode, a regular file with one link, or the open fails (`EACCES`).
    pub(crate) fn open_own(
        &self,
        path: &str,
        access: Access,
        identity: Identity,
    ) -> io::Result<File> {
        let (parent, leaf) = self.parent(path)?;
        let at = parent.as_ref().unwrap_or(&self.dir);
        let flags = libc::O_NOFOLLOW
            | libc::O_NONBLOCK
            | match access {
                Access::Read => libc::O_RDONLY,
                Access::Write => libc::O_WRONLY,
                Access::Append => libc::O_WRONLY | libc::O_APPEND,
            };
        let file = File::from(openat(at, leaf, flags, 0).map_err(|e| match e.raw_os_error() {
            // A symlink or a FIFO/socket that cannot be opened now is still not our file.
            Some(libc::ELOOP | libc::ENXIO) => not_regular(),
            _ => e,
        })?);
        let meta = file.metadata()?;
        let found = Identity { dev: meta.dev(), ino: meta.ino() };
        if !meta.is_file() || meta.nlink() != 1 || found != identity {
            return Err(not_regular());
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_are_normalised_and_checked() {
        let n = |s: &str| GuestName::parse(s.as_bytes()).map(|n| n.0);
        assert_eq!(n("a.txt"), Ok("a.txt".into()));
        assert_eq!(n("./a.txt"), Ok("a.txt".into()));
        assert_eq!(n("d//./e"), Ok("d/e".into()));
        assert_eq!(n(""), Err(Errno::Einval));
        assert_eq!(n("."), Err(Errno::Einval));
        assert_eq!(n("/etc/passwd"), Err(Errno::Einval));
        assert_eq!(n("../x"), Err(Errno::Einval));
        assert_eq!(n("a/../../x"), Err(Errno::Einval));
        assert_eq!(n("a\0b"), Err(Errno::Einval));
        for bad in [
            "input.txt/",
            "input.txt/.",
            "d/",
            "x\n\x1b[2J",
            "a\rb",
            "\u{202E}txt.exe",
            "a\u{2028}b",
        ] {
            assert_eq!(n(bad), Err(Errno::Einval), "{bad:?}");
        }
        assert_eq!(n("./d/./e"), Ok("d/e".into()));
        assert_eq!(n("caf\u{e9} \u{65e5}.txt"), Ok("caf\u{e9} \u{65e5}.txt".into()));
        assert_eq!(n(&"x".repeat(239)).map(|s| s.len()), Ok(239));
        assert_eq!(n(&"x".repeat(240)), Err(Errno::Enametoolong));
        let long = format!("{}/{}", "d".repeat(15), "x".repeat(239));
        assert_eq!(n(&long).map(|s| s.len()), Ok(255));
        assert_eq!(n(&format!("d{long}")), Err(Errno::Enametoolong));
        assert_eq!(n(&"x".repeat(256)), Err(Errno::Enametoolong));
        assert_eq!(GuestName::parse(b"a.txt").unwrap().local(12), "a.txt.local12");
    }

    #[test]
    fn the_longest_name_fits_name_max_for_every_guest_id() {
        let name = GuestName::parse("x".repeat(239).as_bytes()).unwrap();
        assert_eq!(name.local(u32::MAX).len(), 255);
        assert!(name.disk_copy(u32::MAX).len() <= 255);
    }

    #[test]
    fn host_reserved_names_are_recognised() {
        let r = |s: &str| GuestName::parse(s.as_bytes()).unwrap().is_host_reserved();
        for reserved in ["y.local0", "a/b.local12", "d.img.cow3", ".local7"] {
            assert!(r(reserved), "{reserved}");
        }
        for free in ["y.local", "y.localx", "y.local0.txt", "a.local0/b", "cow1", "y.cow"] {
            assert!(!r(free), "{free}");
        }
    }

    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(test: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("hv-sandbox-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn fresh_files_never_reach_what_was_at_the_name() {
        use std::io::Write;
        let dir = Dir::new("fresh");
        let sandbox = Sandbox::at(&dir.0).unwrap();
        std::fs::write(dir.0.join("victim"), b"victim").unwrap();
        std::fs::hard_link(dir.0.join("victim"), dir.0.join("h.local0")).unwrap();
        std::os::unix::fs::symlink(dir.0.join("victim"), dir.0.join("s.local0")).unwrap();
        let fifo = cstr(dir.0.join("f.local0").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        for name in ["h.local0", "s.local0", "f.local0", "new.local0"] {
            let (mut f, id) = sandbox.create_fresh(name).unwrap();
            f.write_all(b"fresh").unwrap();
            assert_eq!(std::fs::read(dir.0.join(name)).unwrap(), b"fresh", "{name}");
            sandbox.open_own(name, Access::Read, id).unwrap();
            sandbox.open_own(name, Access::Append, id).unwrap();
        }
        assert_eq!(std::fs::read(dir.0.join("victim")).unwrap(), b"victim");
    }

    #[test]
    fn own_files_are_checked_on_every_open() {
        let dir = Dir::new("own");
        let sandbox = Sandbox::at(&dir.0).unwrap();
        let (_f, id) = sandbox.create_fresh("a.local0").unwrap();
        // A second link makes it something the host no longer solely owns.
        std::fs::hard_link(dir.0.join("a.local0"), dir.0.join("elsewhere")).unwrap();
        let e = sandbox.open_own("a.local0", Access::Read, id).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        std::fs::remove_file(dir.0.join("elsewhere")).unwrap();
        sandbox.open_own("a.local0", Access::Read, id).unwrap();
        // Replaced by a FIFO: refused at once, not a blocking open.
        std::fs::remove_file(dir.0.join("a.local0")).unwrap();
        let fifo = cstr(dir.0.join("a.local0").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        for access in [Access::Read, Access::Write, Access::Append] {
            let e = sandbox.open_own("a.local0", access, id).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{access:?}");
        }
    }

    #[test]
    fn given_files_must_be_regular() {
        let dir = Dir::new("given");
        std::fs::write(dir.0.join("ok"), b"x").unwrap();
        assert!(open_given(&dir.0.join("ok"), false).is_ok());
        let fifo = cstr(dir.0.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        for write in [false, true] {
            let e = open_given(&dir.0.join("fifo"), write).unwrap_err();
            assert_eq!(e.to_string(), "not a regular file");
            assert!(open_given(&dir.0, write).is_err());
        }
        let (f, id) = open_given(&dir.0.join("ok"), false).unwrap();
        let again = reopen(&f, id).unwrap();
        assert_eq!(Identity::of_regular(&again).unwrap(), id);
    }
}
