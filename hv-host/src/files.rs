//! The file service on port 0x0278: `fopen`/`fread`/`fwrite`/`fclose` for one guest.
//!
//! A guest sees exactly two kinds of file:
//! - **shared** files, given with `-f`, by their name as written after lexical normalisation.
//!   They are read in place and never modified: the first time a guest opens one for writing it
//!   gets its own copy, `<name>.local<ID>` (empty for `"w"`, a copy of the original for `"a"`),
//!   and from then on that guest's opens of the name use its copy;
//! - **local** files it created in this run, stored as `<name>.local<ID>` in the working
//!   directory. A local file from an earlier run is invisible until the guest creates the name
//!   again, which overwrites it.
//!
//! Anything else is `ENOENT`, even a file that exists in the working directory. Data moves
//! straight between guest memory and the host file (one `read`/`write` system call per chunk
//! the kernel accepts), so a call costs one exit whatever its length.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use hv_core::proto::errno::Errno;
use hv_core::proto::file::{FileOp, MAX_NAME, MAX_OPEN_FILES, OpenMode};

use crate::guest::{Devices, Flow};
use crate::memory::GuestRam;
use crate::sandbox::{Access, GuestName, Sandbox};

/// The files shared with every guest of a run, by guest-visible name.
#[derive(Debug, Default)]
pub struct SharedFiles {
    files: BTreeMap<GuestName, PathBuf>,
}

impl SharedFiles {
    /// Adds a shared file; `name` is the path as written on the command line.
    pub(crate) fn insert(&mut self, name: GuestName, path: PathBuf) {
        self.files.insert(name, path);
    }

    fn get(&self, name: &GuestName) -> Option<&PathBuf> {
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
}

/// One guest's open files and the names it has its own copy of.
#[derive(Debug)]
pub(crate) struct FileTable {
    id: u32,
    shared: Arc<SharedFiles>,
    sandbox: Arc<Sandbox>,
    open: [Option<OpenFile>; MAX_OPEN_FILES],
    /// Names this guest created, or copied from a shared file, in this run.
    own: BTreeSet<GuestName>,
    /// Counters: calls made and bytes moved.
    pub(crate) bytes_read: u64,
    pub(crate) bytes_written: u64,
}

/// The error a guest sees for a host I/O failure on its behalf.
pub(crate) fn io_errno(e: &io::Error) -> Errno {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => Errno::Enospc,
        Some(libc::ENAMETOOLONG) => Errno::Enametoolong,
        Some(libc::ENOENT | libc::ENOTDIR) => Errno::Enoent,
        Some(libc::ELOOP | libc::EACCES | libc::EPERM | libc::EISDIR) => Errno::Eacces,
        _ => Errno::Eio,
    }
}

impl FileTable {
    pub(crate) fn new(id: u32, shared: Arc<SharedFiles>, sandbox: Arc<Sandbox>) -> Self {
        FileTable {
            id,
            shared,
            sandbox,
            open: Default::default(),
            own: BTreeSet::new(),
            bytes_read: 0,
            bytes_written: 0,
        }
    }

    fn slot(&mut self, fd: Fd) -> Result<&mut OpenFile, Errno> {
        self.open[fd.0].as_mut().ok_or(Errno::Ebadf)
    }

    fn open(
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

    fn close(&mut self, fd: Fd) -> Result<u64, Errno> {
        let file = self.open[fd.0].take().ok_or(Errno::Ebadf)?;
        if !file.valid {
            return Err(Errno::Ebadf);
        }
        if file.direction == Direction::Write {
            // Nothing is buffered in the host; sync_data is not needed for visibility to other
            // processes, only for durability across a crash, which we do not promise.
            drop(file);
        }
        Ok(0)
    }

    fn read(&mut self, ram: &GuestRam, fd: Fd, addr: u64, len: u64) -> Result<u64, Errno> {
        let id = self.id;
        let f = self.slot(fd)?;
        if !f.valid || f.direction != Direction::Read {
            return Err(Errno::Ebadf);
        }
        let range = ram.user_range(addr, len)?;
        let done = ram.fill_from(range, &mut f.file).map_err(|e| {
            log::warn!("guest {id}: reading {}: {e}", f.name);
            io_errno(&e)
        })?;
        self.bytes_read += done;
        Ok(done)
    }

    fn write(&mut self, ram: &GuestRam, fd: Fd, addr: u64, len: u64) -> Result<u64, Errno> {
        let id = self.id;
        let f = self.slot(fd)?;
        if !f.valid || f.direction != Direction::Write {
            return Err(Errno::Ebadf);
        }
        let range = ram.user_range(addr, len)?;
        ram.drain_to(range, &mut f.file).map_err(|e| {
            log::warn!("guest {id}: writing {}: {e}", f.name);
            io_errno(&e)
        })?;
        self.bytes_written += range.len();
        Ok(range.len())
    }
}

impl Devices<'_> {
    /// Runs one file call whose opcode byte the guest wrote.
    pub(crate) fn file_call(&mut self, opcode: u8) -> Flow {
        let Ok(op) = FileOp::try_from(opcode) else {
            return self.reply(Err(Errno::Enosys));
        };
        let [a0, a1, a2, ..] = self.ram.read_mailbox();
        let files = &mut self.files;
        let ram = &self.ram;
        let result = match op {
            FileOp::Open => files.open(ram, a0, a1, a2),
            FileOp::Close => Fd::parse(a0).and_then(|fd| files.close(fd)),
            FileOp::Read => Fd::parse(a0).and_then(|fd| files.read(ram, fd, a1, a2)),
            FileOp::Write => Fd::parse(a0).and_then(|fd| files.write(ram, fd, a1, a2)),
        };
        self.reply(result)
    }
}

/// Host-side entry points that take names and data as host slices, for front ends that do not
/// pass guest buffers (seed 000's byte protocol, see `seed::files`). Same fds, sandbox, local
/// copies and invalidation as the one-exit calls above.
impl FileTable {
    /// Opens `name` (the guest's bytes, no NUL) with `mode`; returns the fd.
    pub(crate) fn open_bytes(&mut self, name: &[u8], mode: OpenMode) -> Result<u64, Errno> {
        let raw = name;
        let name = GuestName::parse(raw)?;
        let free = self.open.iter().position(Option::is_none).ok_or(Errno::Emfile)?;
        let local = name.local(self.id);
        // Failures here are mostly the guest's doing (a missing directory, a symlink in the
        // way): worth a debug line, not a warning.
        let host_err = |e: io::Error, what: &str| {
            log::debug!("guest {}: {what} {local}: {e}", self.id);
            io_errno(&e)
        };
        let shared = self.shared.get(&name);
        let (file, direction, reads_shared_original) =
            match (mode, self.own.contains(&name), shared) {
                (OpenMode::Read, true, _) => (
                    self.sandbox.open(&local, Access::Read).map_err(|e| host_err(e, "opening"))?,
                    Direction::Read,
                    false,
                ),
                (OpenMode::Read, false, Some(path)) => {
                    let file = File::open(path).map_err(|e| {
                        log::warn!("guest {}: opening shared {}: {e}", self.id, path.display());
                        io_errno(&e)
                    })?;
                    (file, Direction::Read, true)
                }
                (OpenMode::Read, false, None) => return Err(Errno::Enoent),
                (OpenMode::Write | OpenMode::Append, _, _) => {
                    let first_copy = !self.own.contains(&name) && shared.is_some();
                    let access =
                        if mode == OpenMode::Append { Access::Append } else { Access::Create };
                    // A copy of a shared file starts empty; for "a" it then gets the original's bytes.
                    let create = if first_copy { Access::Create } else { access };
                    let mut file =
                        self.sandbox.open(&local, create).map_err(|e| host_err(e, "creating"))?;
                    if let (true, OpenMode::Append, Some(path)) = (first_copy, mode, shared) {
                        let mut original =
                            File::open(path).map_err(|e| host_err(e, "copying to"))?;
                        io::copy(&mut original, &mut file)
                            .map_err(|e| host_err(e, "copying to"))?;
                    }
                    if first_copy {
                        // Its reads of the original would now see a file it no longer uses.
                        for f in self.open.iter_mut().flatten() {
                            if f.name == name && f.reads_shared_original {
                                f.valid = false;
                            }
                        }
                    }
                    self.own.insert(name.clone());
                    (file, Direction::Write, false)
                }
            };
        self.open[free] =
            Some(OpenFile { file, direction, name, reads_shared_original, valid: true });
        Ok(free as u64)
    }

    /// Reads from `fd` until `buf` is full or the file ends; returns the bytes read (0 at end
    /// of file).
    pub(crate) fn read_into(&mut self, fd: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        use std::io::Read;
        let id = self.id;
        let f = self.slot(Fd::parse(fd)?)?;
        if !f.valid || f.direction != Direction::Read {
            return Err(Errno::Ebadf);
        }
        let mut done = 0;
        while done < buf.len() {
            match f.file.read(&mut buf[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if done == 0 => {
                    log::warn!("guest {id}: reading {}: {e}", f.name);
                    return Err(io_errno(&e));
                }
                Err(_) => break,
            }
        }
        self.bytes_read += done as u64;
        Ok(done)
    }

    /// Writes all of `buf` to `fd`; returns its length.
    pub(crate) fn write_from(&mut self, fd: u64, buf: &[u8]) -> Result<usize, Errno> {
        use std::io::Write;
        let id = self.id;
        let f = self.slot(Fd::parse(fd)?)?;
        if !f.valid || f.direction != Direction::Write {
            return Err(Errno::Ebadf);
        }
        f.file.write_all(buf).map_err(|e| {
            log::warn!("guest {id}: writing {}: {e}", f.name);
            io_errno(&e)
        })?;
        self.bytes_written += buf.len() as u64;
        Ok(buf.len())
    }

    /// Closes `fd`.
    pub(crate) fn close_fd(&mut self, fd: u64) -> Result<(), Errno> {
        self.close(Fd::parse(fd)?).map(|_| ())
    }
}
