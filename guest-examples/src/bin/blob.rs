//! Prints 3000 bytes with no newline and ends: many of these fill an output nobody reads, and
//! the host is then stuck writing their unfinished lines when they end.
#![no_std]
#![no_main]

use hv_guest::console::write_bytes;

hv_guest::entry!(main);

fn main() -> i32 {
    write_bytes(&[b'b'; 3000]);
    0
}
