//! The console: `putchar`/`getchar` on port 0xE9, and buffered `print!`/`println!`.
//!
//! `putchar` costs one exit per byte (the seed's protocol). `print!` formats into a buffer and
//! hands it to the host with one exit per call (more only past [`BUF`] bytes), which is why it
//! is the way to print anything longer than a character.

use core::fmt::{self, Write};

use hv_core::proto::CONSOLE_PORT;
use hv_core::proto::console::EOF;
use hv_core::proto::hypercall::HcOp;

use crate::arch;

/// Size of the buffer one `print!` call formats into before it has to flush.
pub const BUF: usize = 4096;

/// Writes one byte to the console. Returns the byte, as C's `putchar` does.
pub fn putchar(c: u8) -> u8 {
    arch::outb(CONSOLE_PORT, c);
    c
}

/// Reads one byte of input, or `None` at end of input.
pub fn getchar() -> Option<u8> {
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

/// Writes a whole buffer with one exit.
pub fn write_bytes(bytes: &[u8]) {
    if !bytes.is_empty() {
        arch::hypercall(HcOp::ConsoleWrite, &[bytes.as_ptr() as u64, bytes.len() as u64]);
    }
}

/// Nothing is buffered between calls; kept so callers can say what they mean before `exit`.
pub fn flush() {}

/// A `fmt::Write` that collects output and flushes it with one exit when full or dropped.
struct Buffered {
    buf: heapless::Vec<u8, BUF>,
}

impl Write for Buffered {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(BUF) {
            if self.buf.len() + chunk.len() > BUF {
                write_bytes(&self.buf);
                self.buf.clear();
            }
            // Cannot fail: the chunk fits after the flush above.
            let _ = self.buf.extend_from_slice(chunk);
        }
        Ok(())
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        write_bytes(&self.buf);
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut out = Buffered { buf: heapless::Vec::new() };
    let _ = out.write_fmt(args);
}

/// Prints to the console, like `std::print!`, with one exit per call.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to the console, like `std::println!`, with one exit per call.
#[macro_export]
macro_rules! println {
    () => { $crate::console::write_bytes(b"\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
