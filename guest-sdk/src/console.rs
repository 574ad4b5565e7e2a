//! The console: `putchar`/`getchar`, `read`, and `print!`/`println!`.
//!
//! Input comes out of the input ring the host fills (see [`hv_core::proto::hv_page`], the
//! input ring): `getchar` and `read` take bytes from it without an exit, and exit only when it
//! is empty, once, to wait for the host to put the next input in (up to 32 KiB at once).
//!
//! Output goes into the console ring the host shares with this guest (see
//! [`hv_core::proto::hv_page`]): no exit while it has room. The host drains it at every exit,
//! when the guest waits for input or ends, and periodically while it computes (once it has
//! made its first exit), so output keeps its order with everything else. When the ring is full the guest makes one exit for the
//! host to drain it (`putchar`), or hands a write longer than the room left to the host with
//! one exit (`write_bytes`). `print!` formats straight into the ring, piece by piece.
//!
//! Note (ordering): the ring bytes are written before `head` (release: a compiler fence; x86
//! keeps stores in order), and `tail` is read before the bytes it frees are overwritten; the
//! host reads and writes them only while this vCPU is stopped. The input ring is the mirror:
//! its `head` is read before its bytes (acquire), and its bytes before the new `tail` is
//! written (release). `asm!` calls without `nomem` are compiler barriers too.

use core::fmt::{self, Write};
use core::ptr;
use core::sync::atomic::{Ordering, compiler_fence};

use hv_core::proto::CONSOLE_PORT;
use hv_core::proto::console::EOF;
use hv_core::proto::hv_page::{
    CONSOLE_RING_CONTROL_OFFSET, CONSOLE_RING_DATA_OFFSET, CONSOLE_RING_SIZE, ConsoleRingControl,
    INPUT_RING_CONTROL_OFFSET, INPUT_RING_DATA_OFFSET, INPUT_RING_SIZE, InputRingControl,
};
use hv_core::proto::hypercall::HcOp;

use crate::arch;

/// The ring's control words and data, in the hv pages.
fn ring() -> (*mut ConsoleRingControl, *mut u8) {
    let page = arch::hv_page();
    (
        (page + CONSOLE_RING_CONTROL_OFFSET) as *mut ConsoleRingControl,
        (page + CONSOLE_RING_DATA_OFFSET) as *mut u8,
    )
}

/// Writes one byte to the console. Returns the byte, as C's `putchar` does. No exit unless the
/// ring is full (one exit per [`CONSOLE_RING_SIZE`] bytes at most).
pub fn putchar(c: u8) -> u8 {
    let (ctrl, data) = ring();
    // SAFETY: the hv page and the ring page are guest memory the host reserved for this, valid
    // and aligned for the whole run; volatile because the host reads and writes them.
    unsafe {
        let head = ptr::read_volatile(ptr::addr_of!((*ctrl).head));
        if head.wrapping_sub(ptr::read_volatile(ptr::addr_of!((*ctrl).tail))) >= CONSOLE_RING_SIZE {
            // Full: the host drains it during this exit and moves `tail` up to `head`.
            arch::hypercall(HcOp::ConsoleFlush, &[]);
        }
        ptr::write_volatile(data.add((head % CONSOLE_RING_SIZE) as usize), c);
        compiler_fence(Ordering::Release);
        ptr::write_volatile(ptr::addr_of_mut!((*ctrl).head), head.wrapping_add(1));
    }
    c
}

/// Writes one byte with the seed's protocol: a 1-byte `out` to port 0xE9, one exit each (the
/// host coalesces the port after 256 of them, while the guest has not used the ring). For
/// guests and tests that want the port itself; `putchar` is the fast way.
pub fn putchar_port(c: u8) -> u8 {
    arch::outb(CONSOLE_PORT, c);
    c
}

/// Copies `bytes` into the ring if they fit in the room left; false (and nothing copied) if not.
fn ring_write(bytes: &[u8]) -> bool {
    let (ctrl, data) = ring();
    // SAFETY: as in `putchar`; every index is reduced modulo the ring's size.
    unsafe {
        let head = ptr::read_volatile(ptr::addr_of!((*ctrl).head));
        let used = head.wrapping_sub(ptr::read_volatile(ptr::addr_of!((*ctrl).tail)));
        if (bytes.len() as u64) > CONSOLE_RING_SIZE.saturating_sub(used) {
            return false;
        }
        let start = (head % CONSOLE_RING_SIZE) as usize;
        let first = bytes.len().min(CONSOLE_RING_SIZE as usize - start);
        ptr::copy_nonoverlapping(bytes.as_ptr(), data.add(start), first);
        ptr::copy_nonoverlapping(bytes.as_ptr().add(first), data, bytes.len() - first);
        compiler_fence(Ordering::Release);
        ptr::write_volatile(ptr::addr_of_mut!((*ctrl).head), head.wrapping_add(bytes.len() as u64));
    }
    true
}

/// The input ring's control words and data, in the hv pages.
fn input_ring() -> (*mut InputRingControl, *const u8) {
    let page = arch::hv_page();
    (
        (page + INPUT_RING_CONTROL_OFFSET) as *mut InputRingControl,
        (page + INPUT_RING_DATA_OFFSET) as *const u8,
    )
}

/// The unread part of the input ring as (first, second) pieces (the ring wraps), and `tail`.
/// Both empty when the ring is.
fn unread() -> (&'static [u8], &'static [u8], u64) {
    let (ctrl, data) = input_ring();
    // SAFETY: the hv page and the ring pages are guest memory the host reserved for this,
    // valid and aligned for the whole run; volatile because the host writes them. The host
    // writes only while this vCPU is stopped, so the bytes below `head` stay as they are while
    // the slices live (until `tail` moves past them, which only this guest does).
    unsafe {
        let tail = ptr::read_volatile(ptr::addr_of!((*ctrl).tail));
        let head = ptr::read_volatile(ptr::addr_of!((*ctrl).head));
        compiler_fence(Ordering::Acquire);
        // A host that broke the protocol could claim more than a ring: never read past it.
        let len = head.wrapping_sub(tail).min(INPUT_RING_SIZE) as usize;
        let start = (tail % INPUT_RING_SIZE) as usize;
        let first = len.min(INPUT_RING_SIZE as usize - start);
        (
            core::slice::from_raw_parts(data.add(start), first),
            core::slice::from_raw_parts(data, len - first),
            tail,
        )
    }
}

/// Marks `n` more bytes of the input ring as taken (after they were read).
fn consumed(tail: u64, n: usize) {
    let (ctrl, _) = input_ring();
    compiler_fence(Ordering::Release);
    // SAFETY: as in `unread`.
    unsafe { ptr::write_volatile(ptr::addr_of_mut!((*ctrl).tail), tail.wrapping_add(n as u64)) };
}

/// The input ring is empty: one exit, in which the host shows what was printed, waits until
/// input (or its end) is there for this guest and puts it in the ring. False at end of input.
fn wait_for_input() -> bool {
    arch::hypercall(HcOp::ConsoleRead, &[]) > 0
}

/// Reads one byte of input, or `None` at end of input. No exit while the input ring holds
/// bytes; one, to wait for more, when it is empty.
pub fn getchar() -> Option<u8> {
    loop {
        let (first, _, tail) = unread();
        if let Some(&c) = first.first() {
            consumed(tail, 1);
            return Some(c);
        }
        if !wait_for_input() {
            return None;
        }
    }
}

/// Reads up to `buf.len()` bytes of input, as `read(2)` on a pipe: whatever is there (at least
/// one byte, waiting for it if need be), or 0 at end of input (or for an empty `buf`). No exit
/// while the input ring holds bytes.
pub fn read(buf: &mut [u8]) -> usize {
    read_until(buf, None)
}

/// Reads up to `buf.len()` bytes of input, and no further than the first `stop` byte (which is
/// included); 0 at end of input.
pub(crate) fn read_until(buf: &mut [u8], stop: Option<u8>) -> usize {
    if buf.is_empty() {
        return 0;
    }
    loop {
        let (first, second, tail) = unread();
        if !first.is_empty() {
            let mut n = 0;
            for piece in [first, second] {
                let take = piece.len().min(buf.len() - n);
                let piece = &piece[..take];
                let piece = match stop.and_then(|s| piece.iter().position(|&b| b == s)) {
                    Some(at) => &piece[..=at],
                    None => piece,
                };
                buf[n..n + piece.len()].copy_from_slice(piece);
                n += piece.len();
                if n == buf.len() || stop.is_some_and(|s| piece.last() == Some(&s)) {
                    break;
                }
            }
            consumed(tail, n);
            return n;
        }
        if !wait_for_input() {
            return 0;
        }
    }
}

/// Reads one byte with the seed's protocol: a 4-byte `in` from port 0xE9, one exit each
/// (the host answers from the input ring first while it holds bytes, so this keeps its order
/// with `getchar`). For guests and tests that want the port itself; `getchar` is the fast way.
pub fn getchar_port() -> Option<u8> {
    let v = arch::inl(CONSOLE_PORT) as i32;
    if v == EOF { None } else { Some(v as u8) }
}

/// Reads a decimal number from the input: skips leading spaces, then reads digits up to the
/// first byte that is not one (which is consumed). `None` if there is no digit; saturates.
pub fn read_u64() -> Option<u64> {
    let mut c = getchar();
    while c == Some(b' ') {
        c = getchar();
    }
    let mut n: Option<u64> = None;
    while let Some(d @ b'0'..=b'9') = c {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(u64::from(d - b'0')));
        c = getchar();
    }
    n
}

/// Writes a whole buffer: into the ring if it has room (no exit), else with one exit that
/// hands the buffer to the host (which drains the ring first, so order is kept).
pub fn write_bytes(bytes: &[u8]) {
    if !bytes.is_empty() && !ring_write(bytes) {
        arch::hypercall(HcOp::ConsoleWrite, &[bytes.as_ptr() as u64, bytes.len() as u64]);
    }
}

/// Has the host take what is in the ring now (one exit, none if the ring is empty). Guests
/// need not call it: the host drains the ring by itself at every exit and when the guest ends.
pub fn flush() {
    let (ctrl, _) = ring();
    // SAFETY: as in `putchar`.
    let (head, tail) = unsafe {
        (
            ptr::read_volatile(ptr::addr_of!((*ctrl).head)),
            ptr::read_volatile(ptr::addr_of!((*ctrl).tail)),
        )
    };
    if head != tail {
        arch::hypercall(HcOp::ConsoleFlush, &[]);
    }
}

/// A `fmt::Write` that puts every piece straight into the console ring (no buffer on the
/// stack: the ring is the buffer), or hands a piece longer than the room left to the host.
struct Ring;

impl Write for Ring {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let _ = Ring.write_fmt(args);
}

/// Prints to the console, like `std::print!`; no exit while the console ring has room.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to the console, like `std::println!`; no exit while the ring has room.
#[macro_export]
macro_rules! println {
    () => { $crate::console::write_bytes(b"\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
