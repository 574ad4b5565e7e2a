//! Copies its input to the console upper-cased, until end of input.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, putchar};

hv_guest::entry!(main);

fn main() -> i32 {
    while let Some(c) = getchar() {
        putchar(c.to_ascii_uppercase());
    }
    0
}
