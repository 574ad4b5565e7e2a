//! Asks for a name with a prompt that has no newline, reads one line of input, and greets:
//! the prompt must be visible while it waits, and its wait must block nothing else.
#![no_std]
#![no_main]

use hv_guest::console::getchar;
use hv_guest::{print, println};

hv_guest::entry!(main);

fn main() -> i32 {
    print!("guest {} name? ", hv_guest::guest_id());
    let mut name = [0u8; 64];
    let mut len = 0;
    while let Some(c) = getchar() {
        if c == b'\n' {
            break;
        }
        if len < name.len() {
            name[len] = c;
            len += 1;
        }
    }
    let name = core::str::from_utf8(&name[..len]).unwrap_or("?");
    println!("hello, {name}");
    0
}
