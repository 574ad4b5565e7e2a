//! Error codes returned to guests.
//!
//! A call that fails stores `-(code)` in `Mailbox::ret`. The numbers are Linux's, so they
//! read naturally to anyone who knows `errno`; guests see them as `HV_E*` in C.

use super::wire_enum;

wire_enum! {
    /// Why a call failed.
    pub enum Errno : "HV_" {
        /// The operation is not permitted (e.g. a request only ring 0 may make).
        Eperm = 1 => "EPERM",
        /// No such file: not shared with `-f` and not created by this guest in this run.
        Enoent = 2 => "ENOENT",
        /// The host failed to read or write the file.
        Eio = 5 => "EIO",
        /// The fd is not open, was invalidated, or is open in the other direction.
        Ebadf = 9 => "EBADF",
        /// The path would leave the working directory (a symlink on the way), the file is not
        /// a regular file with one link, or the host refused access.
        Eacces = 13 => "EACCES",
        /// A guest address or length lies outside the guest's user memory.
        Efault = 14 => "EFAULT",
        /// The resource is already set up and may be set up only once (a second disk setup).
        Ebusy = 16 => "EBUSY",
        /// No such device: the disk was not attached (`--disk` not given).
        Enodev = 19 => "ENODEV",
        /// An argument is invalid (bad mode, bad name, bad size, bad sector, ...).
        Einval = 22 => "EINVAL",
        /// The host's table of open files is full.
        Enfile = 23 => "ENFILE",
        /// The guest has too many files open, or the host process has.
        Emfile = 24 => "EMFILE",
        /// The guest's write quota (`--quota`) is used up, or the host refused a file that
        /// large.
        Efbig = 27 => "EFBIG",
        /// The host ran out of space.
        Enospc = 28 => "ENOSPC",
        /// The host's file system is read-only.
        Erofs = 30 => "EROFS",
        /// The file name is longer than [`MAX_NAME`](super::file::MAX_NAME) bytes, or one of
        /// its components longer than [`MAX_NAME_COMPONENT`](super::file::MAX_NAME_COMPONENT).
        Enametoolong = 36 => "ENAMETOOLONG",
        /// Unknown opcode.
        Enosys = 38 => "ENOSYS",
        /// The host's disk quota (of the user `hv-host` runs as) is used up, or the guest has
        /// created as many files as a guest may in one run.
        Edquot = 122 => "EDQUOT",
    }
}

impl Errno {
    /// The value stored in `Mailbox::ret`: the negated code.
    pub const fn to_ret(self) -> i64 {
        -(self as u8 as i64)
    }

    /// Decodes a negative `ret` back into an error.
    pub fn from_ret(ret: i64) -> Option<Errno> {
        if !(-255..0).contains(&ret) {
            return None;
        }
        Errno::try_from((-ret) as u8).ok()
    }

    /// One-line meaning, for messages.
    pub const fn description(self) -> &'static str {
        match self {
            Errno::Eperm => "operation not permitted",
            Errno::Enoent => "no such file",
            Errno::Eio => "host I/O error",
            Errno::Ebadf => "bad file descriptor",
            Errno::Eacces => "permission denied",
            Errno::Efault => "bad guest address",
            Errno::Ebusy => "already set up",
            Errno::Enodev => "no such device",
            Errno::Einval => "invalid argument",
            Errno::Enfile => "too many open files in the host",
            Errno::Emfile => "too many open files",
            Errno::Efbig => "write quota used up",
            Errno::Enospc => "no space left on host",
            Errno::Erofs => "read-only file system",
            Errno::Enametoolong => "file name too long",
            Errno::Enosys => "unknown operation",
            Errno::Edquot => "host disk quota exceeded",
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.description())
    }
}
