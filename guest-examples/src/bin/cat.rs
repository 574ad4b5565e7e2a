//! Prints the file `shared.txt` as this guest sees it.
#![no_std]
#![no_main]

use hv_guest::fs::{File, Mode};
use hv_guest::{console, println};

hv_guest::entry!(main);

fn main() -> i32 {
    let Ok(mut f) = File::open("shared.txt", Mode::Read) else {
        println!("cat: cannot open shared.txt");
        return 1;
    };
    let mut buf = [0u8; 512];
    while let Ok(n @ 1..) = f.read(&mut buf) {
        console::write_bytes(&buf[..n]);
    }
    0
}
