//! The file service on port 0x0278: `fopen`/`fread`/`fwrite`/`fclose` for one guest.
//!
//! A guest sees exactly two kinds of file:
//! - **shared** files, given with `-f`, by their name as written after lexical normalisation.
//!   They are opened once at start and never modified: the first time a guest opens one for
//!   writing it gets its own copy, `<name>.local<ID>` (empty for `"w"`, a copy of the original
//!   for `"a"`), and from then on that guest's opens of the name use its copy;
//! - **local** files it created in this run, stored as `<name>.local<ID>` in the working
//!   directory. A file left at that name (from an earlier run, or planted) is invisible in every
//!   mode: creating the name replaces it with a fresh inode (see [`crate::sandbox`]).
//!
//! Anything else is `ENOENT`, even a file that exists in the working directory. Data moves
//! straight between guest memory and the host file (one `read`/`write` system call per chunk
//! the kernel accepts), so a call costs one exit whatever its length, and is bounded by the
//! guest's buffer, which lies in its RAM.
//!
//! Writes count against the guest's [`Quota`] and follow POSIX short-write rules: a write that
//! crosses the quota, or that the host fails part-way, returns the bytes written, and the next
//! write returns the error.
//!
//! Creating files is bounded too: a guest may make at most [`MAX_CREATED_NAMES`] host files in a
//! run (its own copies of shared files included), each remembered by the host with its name (at
//! most 255 bytes); the next new name fails with `EDQUOT`, as a file system's quota of inodes
//! would fail it. Creating a name it already made again costs nothing new.
//!
//! Two front ends share one [`FileTable`]: hv's one-exit calls (`services::file_port`, with the
//! data in guest RAM) and byte-level protocols, through [`FileTable::open_bytes`],
//! [`FileTable::read_into`], [`FileTable::write_from`] and [`FileTable::close_fd`] (data in host
//! buffers). Both get the same fds, sandbox, quota and copy-on-write rules.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hv_core::proto::errno::Errno;
use hv_core::proto::file::{MAX_NAME, MAX_OPEN_FILES, OpenMode};
use hv_core::{Gpa, GuestRange};

use crate::diag::Diag;
use crate::memory::GuestRam;
use crate::quota::Quota;
use crate::sandbox::{self, Access, GuestName, Identity, Sandbox};

/// Most host files one guest may create in a run (see the module docs): with the name the host
/// keeps for each, a guest can make the host hold at most about 300 KiB for them.
pub const MAX_CREATED_NAMES: usize = 1024;

/// A file shared with every guest, opened (and checked) once at start.
#[derive(Debug)]
struct SharedFile {
    path: PathBuf,
    file: File,
    identity: Identity,
}

/// The files shared with every guest of a run, by guest-visible name.
#[derive(Debug, Default)]
pub struct SharedFiles {
    files: BTreeMap<GuestName, SharedFile>,
}

impl SharedFiles {
    /// Opens a shared file given on the command line: without blocking, and only if it is a
    /// regular file. `name` is the path as written on the command line.
    pub(crate) fn open(&mut self, name: GuestName, path: PathBuf) -> io::Result<()> {
        let (file, identity) = sandbox::open_given(&path, false)?;
        self.files.insert(name, SharedFile { path, file, identity });
        Ok(())
    }

    /// The shared file that is the inode `identity`, if any (to keep roles apart).
    pub(crate) fn path_of(&self, identity: Identity) -> Option<&Path> {
        self.files.values().find(|f| f.identity == identity).map(|f| f.path.as_path())
    }

    fn get(&self, name: &GuestName) -> Option<&SharedFile> {
        self.files.get(name)
    }
}

/// A guest file descriptor: an index into its table of open files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fd(usize);

impl Fd {
    /// Decodes a guest-supplied fd; anything that is not a slot index is `EBADF`.
    fn parse(raw: u64) -> Result<Fd, Errno> {
        usize::try_from(raw).ok().filter(|&i| i < MAX_OPEN_FILES).map(Fd).ok_or(Errno::Ebadf)
    }
}

/// Which way an fd moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Read,
    Write,
}

#[derive(Debug)]
struct OpenFile {
    file: File,
    direction: Direction,
    name: GuestName,
    /// True while this fd reads a shared original; such an fd is invalidated when the guest
    /// makes its own copy of the name.
    reads_shared_original: bool,
    /// False once invalidated: reads and closes fail with `EBADF`.
    valid: bool,
    /// An error the host had after part of a write went through: that write returned its
    /// count, and the next write on this fd returns the error.
    pending: Option<Errno>,
}

/// One guest's open files and the names it has its own copy of.
#[derive(Debug)]
pub(crate) struct FileTable {
    id: u32,
    shared: Arc<SharedFiles>,
    sandbox: Arc<Sandbox>,
    open: [Option<OpenFile>; MAX_OPEN_FILES],
    /// Names this guest created, or copied from a shared file, in this run, and which inode
    /// the host created for each.
    own: BTreeMap<GuestName, Identity>,
    quota: Arc<Quota>,
    diag: Arc<Diag>,
    /// New names refused because the guest had made [`MAX_CREATED_NAMES`] already.
    names_refused: u64,
    /// Counters: bytes moved.
    pub(crate) bytes_read: u64,
    pub(crate) bytes_written: u64,
}

/// The error a guest sees for a host I/O failure on its behalf: the host's own code where the
/// protocol has it, `EIO` otherwise.
pub(crate) fn io_errno(e: &io::Error) -> Errno {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => Errno::Enospc,
        Some(libc::EDQUOT) => Errno::Edquot,
        Some(libc::EFBIG) => Errno::Efbig,
        Some(libc::EROFS) => Errno::Erofs,
        Some(libc::EMFILE) => Errno::Emfile,
        Some(libc::ENFILE) => Errno::Enfile,
        Some(libc::ENAMETOOLONG) => Errno::Enametoolong,
        Some(libc::ENOENT | libc::ENOTDIR) => Errno::Enoent,
        Some(libc::ELOOP | libc::EACCES | libc::EPERM | libc::EISDIR | libc::ENXIO) => {
            Errno::Eacces
        }
        Some(_) => Errno::Eio,
        None if e.kind() == io::ErrorKind::PermissionDenied => Errno::Eacces,
        None => Errno::Eio,
    }
}

impl FileTable {
    pub(crate) fn new(
        id: u32,
        shared: Arc<SharedFiles>,
        sandbox: Arc<Sandbox>,
        quota: Arc<Quota>,
        diag: Arc<Diag>,
    ) -> Self {
        FileTable {
            id,
            shared,
            sandbox,
            open: Default::default(),
            own: BTreeMap::new(),
            quota,
            diag,
            names_refused: 0,
            bytes_read: 0,
            bytes_written: 0,
        }
    }

    /// The guest's diagnostics (rate-limited warnings), for other front ends to report to.
    #[allow(dead_code)] // the byte-protocol front end uses it
    pub(crate) fn diag(&self) -> &Arc<Diag> {
        &self.diag
    }

    /// Opens `name` (raw bytes, as the guest gave them) in `mode`; returns the fd.
    pub(crate) fn open_bytes(&mut self, raw: &[u8], mode: OpenMode) -> Result<u64, Errno> {
        let name = GuestName::parse(raw)?;
        let free = self.open.iter().position(Option::is_none).ok_or(Errno::Emfile)?;
        let local = name.local(self.id);
        // Failures here are mostly the guest's doing (a missing directory, a symlink in the
        // way): worth a debug line, not a warning.
        let id = self.id;
        let host_err = |e: io::Error, what: &str| {
            log::debug!("guest {id}: {what} {local}: {e}");
            io_errno(&e)
        };
        let shared_files = self.shared.clone();
        let shared = shared_files.get(&name);
        let (file, direction, reads_shared_original) = match (mode, self.own.get(&name), shared) {
            (OpenMode::Read, Some(&own), _) => (
                self.sandbox
                    .open_own(&local, Access::Read, own)
                    .map_err(|e| host_err(e, "opening"))?,
                Direction::Read,
                false,
            ),
            (OpenMode::Read, None, Some(original)) => {
                let file = sandbox::reopen(&original.file, original.identity).map_err(|e| {
                    self.diag.warn(format_args!("opening shared {}: {e}", original.path.display()));
                    io_errno(&e)
                })?;
                (file, Direction::Read, true)
            }
            (OpenMode::Read, None, None) => return Err(Errno::Enoent),
            (OpenMode::Write, Some(&own), _) => {
                // Its own file, truncated in place (other fds on it stay valid, as in POSIX);
                // if the name no longer leads to the file the host made (something replaced
                // it), a fresh one: "w" discards the contents either way.
                let file = match self.sandbox.open_own(&local, Access::Write, own) {
                    Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                        let (file, identity) = self
                            .sandbox
                            .create_fresh(&local)
                            .map_err(|e| host_err(e, "creating"))?;
                        self.own.insert(name.clone(), identity);
                        file
                    }
                    opened => opened
                        .and_then(|f| f.set_len(0).map(|()| f))
                        .map_err(|e| host_err(e, "truncating"))?,
                };
                (file, Direction::Write, false)
            }
            (OpenMode::Append, Some(&own), _) => (
                self.sandbox
                    .open_own(&local, Access::Append, own)
                    .map_err(|e| host_err(e, "opening"))?,
                Direction::Write,
                false,
            ),
            (OpenMode::Write | OpenMode::Append, None, shared) => {
                if self.own.len() >= MAX_CREATED_NAMES {
                    self.names_refused += 1;
                    return Err(Errno::Edquot);
                }
                let (mut file, identity) =
                    self.sandbox.create_fresh(&local).map_err(|e| host_err(e, "creating"))?;
                if mode == OpenMode::Append {
                    if let Some(original) = shared {
                        self.copy_original(original, &mut file)?;
                    }
                    file = self
                        .sandbox
                        .open_own(&local, Access::Append, identity)
                        .map_err(|e| host_err(e, "opening"))?;
                }
                if shared.is_some() {
                    // Its reads of the original would now see a file it no longer uses.
                    for f in self.open.iter_mut().flatten() {
                        if f.name == name && f.reads_shared_original {
                            f.valid = false;
                        }
                    }
                }
                self.own.insert(name.clone(), identity);
                (file, Direction::Write, false)
            }
        };
        self.open[free] = Some(OpenFile {
            file,
            direction,
            name,
            reads_shared_original,
            valid: true,
            pending: None,
        });
        Ok(free as u64)
    }

    /// Copies a shared original into the guest's new copy (`"a"` on a shared name). The copy is
    /// written on the guest's behalf, so it counts against its quota, which bounds it.
    fn copy_original(&mut self, original: &SharedFile, copy: &mut File) -> Result<(), Errno> {
        let size = original.file.metadata().map_err(|e| io_errno(&e))?.len();
        self.quota.reserve_all(size)?;
        let copied = sandbox::reopen(&original.file, original.identity)
            .and_then(|from| io::copy(&mut from.take(size), copy));
        match copied {
            Ok(n) => {
                self.quota.refund(size - n.min(size));
                self.bytes_written += n;
                Ok(())
            }
            Err(e) => {
                self.quota.refund(size);
                self.diag.warn(format_args!("copying shared {}: {e}", original.path.display()));
                Err(io_errno(&e))
            }
        }
    }

    /// Closes `fd`.
    pub(crate) fn close_fd(&mut self, fd: u64) -> Result<(), Errno> {
        let fd = Fd::parse(fd)?;
        let file = self.open[fd.0].take().ok_or(Errno::Ebadf)?;
        // Nothing is buffered in the host; dropping the file closes it. sync_data is not
        // needed for visibility to other processes, only for durability across a crash, which
        // we do not promise.
        if !file.valid { Err(Errno::Ebadf) } else { Ok(()) }
    }

    /// The open file behind `fd`, if it is valid and moves data in `direction`.
    fn usable(&mut self, fd: u64, direction: Direction) -> Result<&mut OpenFile, Errno> {
        let fd = Fd::parse(fd)?;
        match self.open[fd.0].as_mut() {
            Some(f) if f.valid && f.direction == direction => Ok(f),
            _ => Err(Errno::Ebadf),
        }
    }

    /// The core of every read: `fill` reads from the file into the caller's buffer until it is
    /// full or the file ends, and returns the bytes read (an error after some bytes were read
    /// ends the transfer and reports what was read).
    fn read_with(
        &mut self,
        fd: u64,
        fill: impl FnOnce(&mut File) -> io::Result<u64>,
    ) -> Result<u64, Errno> {
        let f = self.usable(fd, Direction::Read)?;
        match fill(&mut f.file) {
            Ok(n) => {
                self.bytes_read += n;
                Ok(n)
            }
            Err(e) => {
                let name = f.name.clone();
                self.diag.warn(format_args!("reading {name}: {e}"));
                Err(io_errno(&e))
            }
        }
    }

    /// The core of every write of `len` bytes: `put(file, done, max)` writes at most `max`
    /// bytes from offset `done` of the caller's buffer with one system call and returns what
    /// the kernel took. Quota and short writes are handled here (see the module docs).
    fn write_with(
        &mut self,
        fd: u64,
        len: u64,
        mut put: impl FnMut(&mut File, u64, u64) -> io::Result<u64>,
    ) -> Result<u64, Errno> {
        let quota = self.quota.clone();
        let f = self.usable(fd, Direction::Write)?;
        if let Some(e) = f.pending.take() {
            return Err(e);
        }
        let granted = quota.reserve(len)?;
        let mut done = 0;
        let mut failed = None;
        while done < granted {
            match put(&mut f.file, done, granted - done) {
                Ok(0) => {
                    failed = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => done += n.min(granted - done),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        quota.refund(granted - done);
        let failed = failed.map(|e| {
            let errno = io_errno(&e);
            if done > 0 {
                f.pending = Some(errno);
            }
            (e, errno, f.name.clone())
        });
        self.bytes_written += done;
        let Some((e, errno, name)) = failed else { return Ok(done) };
        self.diag.warn(format_args!("writing {name}: {e}"));
        if done > 0 { Ok(done) } else { Err(errno) }
    }

    /// Reads from `fd` into a host buffer until it is full or the file ends.
    #[allow(dead_code)] // the byte-protocol front end uses it
    pub(crate) fn read_into(&mut self, fd: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read_with(fd, |file| {
            let mut done = 0;
            while done < buf.len() {
                match file.read(&mut buf[done..]) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(done as u64)
        })
        .map(|n| n as usize)
    }

    /// Writes a host buffer to `fd`; returns the bytes written (see [`FileTable::write_with`]).
    #[allow(dead_code)] // the byte-protocol front end uses it
    pub(crate) fn write_from(&mut self, fd: u64, buf: &[u8]) -> Result<usize, Errno> {
        use std::io::Write;
        self.write_with(fd, buf.len() as u64, |file, done, max| {
            let from = &buf[done as usize..(done + max) as usize];
            file.write(from).map(|n| n as u64)
        })
        .map(|n| n as usize)
    }

    /// `FileOp::Open`: the name and mode from the mailbox's arguments.
    pub(crate) fn open_guest(
        &mut self,
        ram: &GuestRam,
        name_addr: u64,
        name_len: u64,
        mode: u64,
    ) -> Result<u64, Errno> {
        let mode = u8::try_from(mode)
            .ok()
            .and_then(|m| OpenMode::try_from(m).ok())
            .ok_or(Errno::Einval)?;
        if name_len > MAX_NAME {
            return Err(Errno::Enametoolong);
        }
        let range = ram.user_range(name_addr, name_len)?;
        let mut raw = [0u8; MAX_NAME as usize];
        let raw = &mut raw[..name_len as usize];
        ram.read_range(range, raw)?;
        self.open_bytes(raw, mode)
    }

    /// `FileOp::Read`: straight into guest memory.
    pub(crate) fn read_guest(
        &mut self,
        ram: &GuestRam,
        fd: u64,
        addr: u64,
        len: u64,
    ) -> Result<u64, Errno> {
        self.usable(fd, Direction::Read)?;
        let range = ram.user_range(addr, len)?;
        self.read_with(fd, |file| ram.fill_from(range, file))
    }

    /// `FileOp::Write`: straight from guest memory.
    pub(crate) fn write_guest(
        &mut self,
        ram: &GuestRam,
        fd: u64,
        addr: u64,
        len: u64,
    ) -> Result<u64, Errno> {
        self.usable(fd, Direction::Write)?;
        let range = ram.user_range(addr, len)?;
        self.write_with(fd, range.len(), |file, done, max| {
            // A part of a range already checked: always a range.
            let part = GuestRange::new(Gpa::new(range.start().as_u64() + done), max)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EFAULT))?;
            ram.write_some_to(part, file)
        })
    }

    /// Writes the guest's quota and diagnostics counts into its report's counters (the disk's
    /// too: they share the quota and the diagnostics, and the disk is finished first).
    pub(crate) fn report(&self, stats: &mut crate::outcome::GuestStats) {
        stats.file_bytes_read = self.bytes_read;
        stats.file_bytes_written = self.bytes_written;
        stats.quota = self.quota.limit();
        stats.quota_refused = self.quota.refused();
        stats.names_refused = self.names_refused;
        stats.disk_bytes_written = self.quota.disk_written();
        stats.disk_copy_incomplete = self.diag.disk_copy_note();
        stats.diagnostics_suppressed = self.diag.suppressed();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::quota::Quota;

    struct Fixture {
        dir: PathBuf,
        table: FileTable,
    }

    impl Fixture {
        fn new(test: &str, quota: u64) -> Self {
            let dir = std::env::temp_dir().join(format!("hv-files-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("shared.txt"), b"ORIGINAL").unwrap();
            let mut shared = SharedFiles::default();
            shared.open(GuestName::parse(b"shared.txt").unwrap(), dir.join("shared.txt")).unwrap();
            let table = FileTable::new(
                0,
                Arc::new(shared),
                Arc::new(Sandbox::at(&dir).unwrap()),
                Arc::new(Quota::new(quota)),
                Arc::new(Diag::new(0)),
            );
            Fixture { dir, table }
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn host_errors_reach_the_guest_as_themselves() {
        let e = |code| io_errno(&io::Error::from_raw_os_error(code));
        assert_eq!(e(libc::EROFS), Errno::Erofs);
        assert_eq!(e(libc::EMFILE), Errno::Emfile);
        assert_eq!(e(libc::ENFILE), Errno::Enfile);
        assert_eq!(e(libc::ENOSPC), Errno::Enospc);
        assert_eq!(e(libc::EDQUOT), Errno::Edquot);
        assert_eq!(e(libc::EFBIG), Errno::Efbig);
        assert_eq!(e(libc::EIO), Errno::Eio);
        assert_eq!(e(libc::ENXIO), Errno::Eacces);
        assert_eq!(io_errno(&io::Error::from(io::ErrorKind::PermissionDenied)), Errno::Eacces);
    }

    #[test]
    fn a_write_across_the_quota_is_short_then_efbig() {
        let mut f = Fixture::new("quota", 10);
        let t = &mut f.table;
        let fd = t.open_bytes(b"out.txt", OpenMode::Write).unwrap();
        assert_eq!(t.write_from(fd, b"123456"), Ok(6));
        assert_eq!(t.write_from(fd, b"abcdef"), Ok(4));
        assert_eq!(t.write_from(fd, b"x"), Err(Errno::Efbig));
        assert_eq!(t.write_from(fd, b""), Ok(0));
        assert_eq!(std::fs::read(f.dir.join("out.txt.local0")).unwrap(), b"123456abcd");
        let mut stats = crate::outcome::GuestStats::default();
        f.table.report(&mut stats);
        assert_eq!((stats.quota, stats.quota_refused, stats.file_bytes_written), (10, 1, 10));
    }

    #[test]
    fn appending_to_a_shared_name_copies_within_the_quota() {
        let mut f = Fixture::new("append-quota", 4);
        let t = &mut f.table;
        assert_eq!(t.open_bytes(b"shared.txt", OpenMode::Append), Err(Errno::Efbig));
        let mut f = Fixture::new("append", 100);
        let t = &mut f.table;
        let r = t.open_bytes(b"shared.txt", OpenMode::Read).unwrap();
        let a = t.open_bytes(b"shared.txt", OpenMode::Append).unwrap();
        assert_eq!(t.read_into(r, &mut [0; 4]), Err(Errno::Ebadf), "invalidated");
        assert_eq!(t.write_from(a, b"+"), Ok(1));
        let mine = t.open_bytes(b"shared.txt", OpenMode::Read).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(t.read_into(mine, &mut buf), Ok(9));
        assert_eq!(&buf[..9], b"ORIGINAL+");
        assert_eq!(t.close_fd(r), Err(Errno::Ebadf));
        assert_eq!(t.close_fd(mine), Ok(()));
        assert_eq!(t.close_fd(mine), Err(Errno::Ebadf));
        assert_eq!(std::fs::read(f.dir.join("shared.txt")).unwrap(), b"ORIGINAL");
    }

    #[test]
    fn stale_files_are_invisible_in_every_mode() {
        let mut f = Fixture::new("stale", 100);
        std::fs::write(f.dir.join("s.txt.local0"), b"STALE").unwrap();
        let t = &mut f.table;
        assert_eq!(t.open_bytes(b"s.txt", OpenMode::Read), Err(Errno::Enoent));
        let a = t.open_bytes(b"s.txt", OpenMode::Append).unwrap();
        assert_eq!(t.write_from(a, b"new"), Ok(3));
        assert_eq!(std::fs::read(f.dir.join("s.txt.local0")).unwrap(), b"new");
        // "w" on its own file truncates it in place: another write fd on it keeps working.
        let w = t.open_bytes(b"s.txt", OpenMode::Write).unwrap();
        assert_eq!(t.write_from(w, b"W"), Ok(1));
        assert_eq!(t.write_from(a, b"A"), Ok(1));
        assert_eq!(std::fs::read(f.dir.join("s.txt.local0")).unwrap(), b"WA");
    }
}
