//! The embedded ecosystem's I/O traits on files and the console, so that generic `no_std` code
//! (parsers, formatters, protocol crates written against [`embedded_io`]) works on them.
//!
//! - [`File`] implements [`embedded_io::Read`], [`embedded_io::Write`] and
//!   [`core::fmt::Write`]; its errors are [`Error`], which wraps the [`Errno`] the host returned.
//! - [`Stdout`] implements [`embedded_io::Write`] and [`core::fmt::Write`]: one exit per call,
//!   whatever its length.
//! - [`Stdin`] implements [`embedded_io::Read`]: a call returns at least one byte and stops
//!   after a newline, when the buffer is full, or at the end of input (then `Ok(0)`). It takes
//!   the bytes out of the input ring with no exit, and exits only to wait when it is empty (see
//!   [`console::read`], which reads past newlines too).
//!
//! ```ignore
//! use embedded_io::{Read, Write};
//! use hv_guest::io::{Stdin, Stdout};
//!
//! let mut line = [0u8; 80];
//! let n = Stdin.read(&mut line).unwrap_or(0);
//! Stdout.write_all(&line[..n]).ok();
//! ```

use core::fmt;

use crate::Errno;
use crate::console;
use crate::fs::{self, File};

pub use embedded_io;

/// A file error, as the embedded I/O traits want it: the host's [`Errno`], with an
/// [`embedded_io::ErrorKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error(pub Errno);

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::error::Error for Error {}

impl embedded_io::Error for Error {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self.0 {
            Errno::Enoent => K::NotFound,
            Errno::Eperm | Errno::Eacces => K::PermissionDenied,
            Errno::Einval | Errno::Enametoolong | Errno::Ebadf | Errno::Efault => K::InvalidInput,
            Errno::Enosys => K::Unsupported,
            Errno::Enospc => K::OutOfMemory,
            _ => K::Other,
        }
    }
}

impl embedded_io::ErrorType for File {
    type Error = Error;
}

impl embedded_io::Read for File {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        fs::fread(self.fd(), buf).map_err(Error)
    }
}

impl embedded_io::Write for File {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        fs::fwrite(self.fd(), buf).map_err(Error)
    }

    /// Nothing to do: written data is in the host file as soon as `write` returns.
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

impl fmt::Write for File {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_all(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// The console's output: what `print!` writes to.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stdout;

impl embedded_io::ErrorType for Stdout {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        console::write_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        console::flush();
        Ok(())
    }
}

impl fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        console::write_bytes(s.as_bytes());
        Ok(())
    }
}

/// The console's input: the host's stdin, shared by all guests.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stdin;

impl embedded_io::ErrorType for Stdin {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(console::read_until(buf, Some(b'\n')))
    }
}
