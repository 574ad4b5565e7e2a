//! Console throughput: writes N bytes (default 1 000 000) of 64-byte lines with byte-wise
//! `putchar` (input `p [N]`), with `print!` one line per call (`f [N]`), with `print!` 64 lines
//! (4 KiB) per call (`b [N]`), or with `console::write_bytes` of 16 KiB (256 lines) per call
//! (`w [N]`, the writes `cat` makes). Time the whole process.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, putchar, read_u64, write_bytes};
use hv_guest::print;

hv_guest::entry!(main);

const TOTAL: u64 = 1_000_000;
const LINE: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n";

/// Writes `total` bytes of lines in pieces of `block` lines, each with `write`.
fn blocks<const N: usize>(total: usize, mut write: impl FnMut(&[u8])) {
    let mut block = [0u8; N];
    for chunk in block.chunks_mut(LINE.len()) {
        chunk.copy_from_slice(&LINE[..chunk.len()]);
    }
    let mut sent = 0;
    while sent < total {
        let n = block.len().min(total - sent);
        write(&block[..n]);
        sent += n;
    }
}

fn main() -> i32 {
    let mode = getchar();
    let total = read_u64().unwrap_or(TOTAL) as usize;
    match mode {
        Some(b'b') => {
            blocks::<4096>(total, |b| print!("{}", core::str::from_utf8(b).unwrap_or("")))
        }
        Some(b'w') => blocks::<{ 16 * 1024 }>(total, write_bytes),
        // One exit per print! call, here one per line.
        Some(b'f') => blocks::<64>(total, |b| print!("{}", core::str::from_utf8(b).unwrap_or(""))),
        _ => blocks::<64>(total, |b| b.iter().for_each(|&c| _ = putchar(c))),
    }
    0
}
