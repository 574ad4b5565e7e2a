//! `cat` for hv: prints the shared file `shared.txt` if the host shares one (`-f shared.txt`),
//! else copies its input to the console, byte for byte, until end of input. Input comes out of
//! the input ring (an exit per 32 KiB) and goes to the host in writes of up to 16 KiB (an exit
//! each).
#![no_std]
#![no_main]

use hv_guest::fs::{File, Mode};
use hv_guest::{Errno, console, println};

hv_guest::entry!(main);

/// Bytes moved per call, as the benchmark's output row writes them (`conbench w`).
const CHUNK: usize = 16 * 1024;

fn main() -> i32 {
    let mut buf = [0u8; CHUNK];
    match File::open("shared.txt", Mode::Read) {
        Ok(mut f) => {
            while let Ok(n @ 1..) = f.read(&mut buf) {
                console::write_bytes(&buf[..n]);
            }
        }
        Err(Errno::Enoent) => loop {
            let n = console::read(&mut buf);
            if n == 0 {
                break;
            }
            console::write_bytes(&buf[..n]);
        },
        Err(e) => {
            println!("cat: cannot open shared.txt: {e}");
            return 1;
        }
    }
    0
}
