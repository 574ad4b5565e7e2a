//! Files on the host: shared files given with `-f` and this guest's own local files.
//!
//! Every call is one exit whatever its length: the host moves the data straight between the
//! buffer and the file. See `hv-host`'s README for the rules (what a guest can see, copy on
//! write, local files).
//!
//! ```ignore
//! use hv_guest::fs::{File, Mode};
//! let mut input = File::open("input.txt", Mode::Read)?;
//! let mut buf = [0u8; 4096];
//! let n = input.read(&mut buf)?;
//! File::open("output.txt", Mode::Write)?.write_all(&buf[..n])?;
//! ```

use hv_core::proto::file::FileOp;
pub use hv_core::proto::file::OpenMode as Mode;

use crate::Errno;
use crate::arch;

fn result(ret: i64) -> Result<u64, Errno> {
    match Errno::from_ret(ret) {
        Some(e) => Err(e),
        // A negative value that is no known code still is an error; report it as EIO.
        None if ret < 0 => Err(Errno::Eio),
        None => Ok(ret as u64),
    }
}

/// Opens `name` (raw bytes, no NUL) and returns the fd.
pub fn fopen(name: &[u8], mode: Mode) -> Result<i32, Errno> {
    result(arch::file_call(FileOp::Open, &[name.as_ptr() as u64, name.len() as u64, mode as u64]))
        .map(|fd| fd as i32)
}

/// Closes an fd.
pub fn fclose(fd: i32) -> Result<(), Errno> {
    result(arch::file_call(FileOp::Close, &[fd as u64])).map(|_| ())
}

/// Reads up to `buf.len()` bytes; 0 at end of file.
pub fn fread(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    result(arch::file_call(FileOp::Read, &[fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64]))
        .map(|n| n as usize)
}

/// Writes `buf`; returns the bytes written: all of them, unless the write quota or a host
/// error cut it short (as in POSIX), in which case the next call returns the error.
pub fn fwrite(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    result(arch::file_call(FileOp::Write, &[fd as u64, buf.as_ptr() as u64, buf.len() as u64]))
        .map(|n| n as usize)
}

/// An open file, closed when dropped.
#[derive(Debug)]
pub struct File {
    fd: i32,
}

impl File {
    /// Opens `name` for reading (`Mode::Read`), writing (`Mode::Write`, truncating) or appending.
    pub fn open(name: &str, mode: Mode) -> Result<File, Errno> {
        fopen(name.as_bytes(), mode).map(|fd| File { fd })
    }

    /// The underlying fd.
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// Reads up to `buf.len()` bytes; `Ok(0)` at end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        fread(self.fd, buf)
    }

    /// Writes `buf`, returning the bytes written.
    pub fn write(&mut self, buf: &[u8]) -> Result<usize, Errno> {
        fwrite(self.fd, buf)
    }

    /// Writes all of `buf`.
    pub fn write_all(&mut self, buf: &[u8]) -> Result<(), Errno> {
        let mut rest = buf;
        while !rest.is_empty() {
            match self.write(rest)? {
                0 => return Err(Errno::Eio),
                n => rest = &rest[n..],
            }
        }
        Ok(())
    }

    /// Closes the file, reporting an error the host had for it.
    pub fn close(self) -> Result<(), Errno> {
        let fd = self.fd;
        core::mem::forget(self);
        fclose(fd)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = fclose(self.fd);
    }
}
