//! The hypercalls of seed 002 (`HC_print32bit`, `HC_numExits`, `HC_printStr`,
//! `HC_numExitsByType`, `HC_gvaToHva`).
//!
//! Only `gva_to_hva` exits: the prints go into the console ring and the exit counts are read
//! from the hv page, where the host rewrites them after every exit (see the table in
//! [`hv_core::proto::hypercall`]). Each keeps the meaning of the seed's call exactly.

use core::ffi::CStr;
use core::fmt::Write;
use core::ptr;

use hv_core::proto::HYPERCALL_PORT;
use hv_core::proto::hv_page::{EXIT_COUNTS_OFFSET, ExitCounts};
use hv_core::proto::hypercall::{HcOp, MAX_STRING};

use crate::{Errno, arch, console};

/// The host prints `val` in decimal and a newline on this guest's console. No exit (the ring).
pub fn print32(val: u32) {
    let mut line = heapless::String::<12>::new();
    let _ = writeln!(line, "{val}");
    console::write_bytes(line.as_bytes());
}

/// This guest's exits by kind so far, as the host published them after its last exit. No exit.
pub fn exit_counts() -> ExitCounts {
    let counts = (arch::hv_page() + EXIT_COUNTS_OFFSET) as *const ExitCounts;
    // SAFETY: the hv page is guest memory the host reserved, valid and aligned for the whole
    // run; volatile because the host rewrites it at every exit.
    unsafe { ptr::read_volatile(counts) }
}

/// The exits this guest has made so far. No exit: read from the hv page.
pub fn num_exits() -> u64 {
    exit_counts().total
}

/// Prints `s` as it is (at most [`MAX_STRING`] bytes before its NUL). Returns its length;
/// `EFAULT` if it runs past the guest's user memory (a pointer outside it included), `EINVAL`
/// without a NUL in time. The string is checked before it is read, as the host would check
/// it, so a wild pointer is an error, not a fault. No exit unless the ring is full.
pub fn print_str(s: &CStr) -> Result<usize, Errno> {
    let bytes = checked_c_string(s.as_ptr() as u64)?;
    console::write_bytes(bytes);
    Ok(bytes.len())
}

/// The NUL-terminated string at `addr`, read only inside user memory.
fn checked_c_string(addr: u64) -> Result<&'static [u8], Errno> {
    let end = arch::boot_info().user_end;
    let mut len = 0u64;
    loop {
        let at = addr.checked_add(len).ok_or(Errno::Efault)?;
        if at >= end {
            return Err(Errno::Efault);
        }
        // SAFETY: `at` is below `user_end`: identity-mapped guest RAM, readable in ring 3.
        if unsafe { ptr::read_volatile(at as *const u8) } == 0 {
            // SAFETY: `len` bytes from `addr` were just read, all inside user memory.
            return Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) });
        }
        len += 1;
        if len > MAX_STRING {
            return Err(Errno::Einval);
        }
    }
}

/// The count of this guest's exits by kind: `IO in: <n>\nIO out: <m>\n...`, the host's text
/// ([`ExitCounts`]'s `Display`), formatted into `buf` (cut to fit); returns the part of `buf`
/// it fills. No exit.
pub fn num_exits_by_type(buf: &mut [u8]) -> &str {
    struct Cursor<'b> {
        buf: &'b mut [u8],
        len: usize,
    }
    impl Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }
    let mut cursor = Cursor { buf, len: 0 };
    let _ = write!(cursor, "{}", exit_counts());
    let Cursor { buf, len } = cursor;
    match core::str::from_utf8(&buf[..len]) {
        Ok(text) => text,
        Err(e) => core::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// Where a guest virtual address leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The host virtual address.
    pub hva: u64,
    /// The guest-physical address.
    pub gpa: u64,
}

/// Asks the host to walk this guest's page tables for `gva`; `None` if it is unmapped. One exit.
pub fn gva_to_hva(gva: u64) -> Option<Translation> {
    let (hva, gpa) = arch::call(HYPERCALL_PORT, HcOp::GvaToHva as u8, &[gva]);
    (hva != 0).then_some(Translation { hva: hva as u64, gpa })
}
