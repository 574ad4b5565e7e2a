//! Reads its input line by line with `Stdin` (which stops after each newline) and prints, for
//! each line, the guest's ID and the line's length: with several guests reading one input,
//! every line must be counted whole by exactly one of them, however long it is.
#![no_std]
#![no_main]

use hv_guest::io::Stdin;
use hv_guest::io::embedded_io::Read;
use hv_guest::{guest_id, println};

hv_guest::entry!(main);

fn main() -> i32 {
    let mut buf = [0u8; 1000];
    let mut len = 0usize;
    loop {
        let n = Stdin.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        len += n;
        if buf[n - 1] == b'\n' {
            println!("{} {}", guest_id(), len - 1);
            len = 0;
        }
    }
    if len > 0 {
        println!("{} {} (no newline)", guest_id(), len);
    }
    0
}
