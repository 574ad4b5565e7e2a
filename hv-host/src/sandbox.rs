//! The only way the host opens a file on a guest's behalf: by a checked [`GuestName`], relative
//! to the working directory, never following a symlink.
//!
//! Names are normalised lexically (`./a.txt` and `a.txt` are the same) and refused if they are
//! empty, absolute, contain `..` or NUL, or are longer than 255 bytes. Paths are then walked one
//! component at a time with `openat(..., O_NOFOLLOW)`, so neither a symlinked directory nor a
//! symlink planted where a local file goes can lead an access out of the working directory.

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use hv_core::proto::errno::Errno;
use hv_core::proto::file::MAX_NAME;

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
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(Errno::Einval),
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
}

impl fmt::Debug for GuestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for GuestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to open a file in the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read an existing file.
    Read,
    /// Create or truncate, write.
    Create,
    /// Create if missing, append.
    Append,
    /// Create or truncate, read and write (a disk's copy, accessed by offset).
    ReadWrite,
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

impl Sandbox {
    /// The sandbox rooted at the current working directory.
    pub(crate) fn cwd() -> io::Result<Self> {
        Self::at(std::path::Path::new("."))
    }

    /// The sandbox rooted at `dir` (tests use their own directory, never the process's cwd).
    pub(crate) fn at(dir: &std::path::Path) -> io::Result<Self> {
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

    /// Opens `path` (relative, normalised: `a/b/c`) without following any symlink.
    ///
    /// A symlink where a file is to be created is removed and replaced by a regular file: the
    /// write lands in the sandbox, never where the link points.
    pub(crate) fn open(&self, path: &str, access: Access) -> io::Result<File> {
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
        let at = parent.as_ref().unwrap_or(&self.dir);
        let flags = libc::O_NOFOLLOW
            | match access {
                Access::Read => libc::O_RDONLY,
                Access::Create => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                Access::Append => libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
                Access::ReadWrite => libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
            };
        let fd = match openat(at, leaf, flags, 0o644) {
            Err(e) if access != Access::Read && e.raw_os_error() == Some(libc::ELOOP) => {
                // A symlink where our file goes: unlink it (the link, not its target) and
                // create the file exclusively, so a link re-planted meanwhile is refused.
                let c = cstr(leaf)?;
                // SAFETY: valid directory descriptor and C string.
                if unsafe { libc::unlinkat(at.as_raw_fd(), c.as_ptr(), 0) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                openat(at, leaf, flags | libc::O_EXCL, 0o644)?
            }
            other => other?,
        };
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(n(&"x".repeat(255)).map(|s| s.len()), Ok(255));
        assert_eq!(n(&"x".repeat(256)), Err(Errno::Enametoolong));
        assert_eq!(GuestName::parse(b"a.txt").unwrap().local(12), "a.txt.local12");
    }
}
