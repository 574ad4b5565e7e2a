//! Console throughput: writes 1 MB (1 000 000 bytes in 64-byte lines) with byte-wise `putchar`
//! (first input byte `p`), with `print!` one line per call (`f`), or with `print!` 64 lines
//! (4 KiB) per call (`b`). Time the whole process.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, putchar};
use hv_guest::print;

hv_guest::entry!(main);

const TOTAL: usize = 1_000_000;
const LINE: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n";

fn main() -> i32 {
    let mode = getchar();
    if mode == Some(b'b') {
        let mut block = [0u8; 64 * LINE.len()];
        for chunk in block.chunks_mut(LINE.len()) {
            chunk.copy_from_slice(LINE);
        }
        let mut sent = 0;
        while sent < TOTAL {
            let n = block.len().min(TOTAL - sent);
            print!("{}", core::str::from_utf8(&block[..n]).unwrap_or(""));
            sent += n;
        }
        return 0;
    }
    let bytewise = mode == Some(b'p');
    let mut sent = 0;
    while sent < TOTAL {
        let n = LINE.len().min(TOTAL - sent);
        if bytewise {
            for &b in &LINE[..n] {
                putchar(b);
            }
        } else {
            // One exit per print! call, here one per line.
            print!("{}", core::str::from_utf8(&LINE[..n]).unwrap_or(""));
        }
        sent += n;
    }
    0
}
