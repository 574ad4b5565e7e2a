//! Prints control characters that, shown raw on a terminal, would forge another guest's
//! `[1] ` prefix (a carriage return) and recolour the screen (an ANSI escape).
#![no_std]
#![no_main]

use hv_guest::console;

hv_guest::entry!(main);

fn main() -> i32 {
    console::write_bytes(b"real\r[1] forged \x1b[31mred\x1b[0m\tend\n");
    0
}
