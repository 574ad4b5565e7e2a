//! Mixes byte-wise `putchar` and `print!` (both into the console ring, no exit) with file
//! writes (an exit each), so a test can check the console keeps program order across them.
#![no_std]
#![no_main]

use hv_guest::console::putchar;
use hv_guest::fs::{File, Mode};
use hv_guest::print;

hv_guest::entry!(main);

fn main() -> i32 {
    let Ok(mut log) = File::open("interleave.txt", Mode::Write) else {
        return 1;
    };
    for i in 0..2000u32 {
        match i % 3 {
            0 => print!("<{i}>"),
            1 => {
                for b in *b"ab" {
                    putchar(b);
                }
            }
            _ => {
                if log.write_all(b"f").is_err() {
                    return 1;
                }
                putchar(b'F');
            }
        }
        if i % 50 == 49 {
            putchar(b'\n');
        }
    }
    0
}
