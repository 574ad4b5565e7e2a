//! Prints its ID, then text with no newline, then ends: its unfinished line must stay a line
//! of its own, never glued to another guest's.
#![no_std]
#![no_main]

use hv_guest::print;

hv_guest::entry!(main);

fn main() -> i32 {
    print!("guest {} no newline", hv_guest::guest_id());
    0
}
