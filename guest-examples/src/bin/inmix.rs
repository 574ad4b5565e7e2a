//! Reads its input three ways in turn, `getchar` (the input ring), `getchar_port` (the seed's
//! raw `in`, one exit per byte) and `read` of up to 5 bytes, and copies every byte to the
//! console: its output must be its input, byte for byte, whatever way each byte came.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, getchar_port, read, write_bytes};

hv_guest::entry!(main);

fn main() -> i32 {
    let mut buf = [0u8; 5];
    for turn in 0usize.. {
        let n = match turn % 3 {
            0 => getchar().map_or(0, |c| {
                buf[0] = c;
                1
            }),
            1 => getchar_port().map_or(0, |c| {
                buf[0] = c;
                1
            }),
            _ => read(&mut buf),
        };
        if n == 0 {
            break;
        }
        write_bytes(&buf[..n]);
    }
    0
}
