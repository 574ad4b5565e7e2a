//! Hostile text for the host's own messages: reads one line of input, prints it as it is (and
//! a newline), then panics with it as the message. Under `--prefix` the output line, and in
//! every case the panic report, must show its control, bidirectional and line-separator
//! characters escaped.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, write_bytes};

hv_guest::entry!(main);

fn main() -> i32 {
    let mut line = [0u8; 256];
    let mut len = 0;
    while let Some(c) = getchar() {
        if c == b'\n' {
            break;
        }
        if len < line.len() {
            line[len] = c;
            len += 1;
        }
    }
    write_bytes(&line[..len]);
    write_bytes(b"\n");
    let text = core::str::from_utf8(&line[..len]).unwrap_or("(not UTF-8)");
    panic!("{text}");
}
