//! The console on [`CONSOLE_PORT`](super::CONSOLE_PORT) (0xE9), the seed's protocol.
//!
//! - `out dx, al` (1 byte): write one byte to the guest's output (putchar).
//! - `in al, dx` (1 byte): read the next byte of the host's stdin; at end of input the guest
//!   reads [`EOF_BYTE`] (0xFF, what the seed's `getchar` result truncated to a byte gives).
//! - `in eax, dx` (4 bytes): the same, but end of input is the distinct value [`EOF`] (-1), so
//!   a guest can tell a 0xFF byte from the end. The SDKs' `getchar` uses this form.
//!
//! Any other access size is an error that ends the guest. A whole buffer is written with one
//! exit by the [`HcOp::ConsoleWrite`](super::hypercall::HcOp::ConsoleWrite) hypercall.
//!
//! The host cuts each guest's output into lines and writes every line whole, so the lines of
//! different guests never interleave inside a line; a partial line is written when the guest
//! reads input or ends, and a line longer than [`MAX_LINE`] is written in pieces.

/// What a 4-byte `in` returns at end of input.
pub const EOF: i32 = -1;
/// What a 1-byte `in` returns at end of input.
pub const EOF_BYTE: u8 = 0xFF;
/// Longest line the host buffers before writing it out in pieces.
pub const MAX_LINE: usize = 4096;
