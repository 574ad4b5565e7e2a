//! Copies the shared file `input.txt` to its own local file `output.txt`, upper-cased.
//!
//! Run: `hv-host -m 2 -p 4 -g files -f input.txt`; the result is `output.txt.local0`.
#![no_std]
#![no_main]

use hv_guest::fs::{File, Mode};
use hv_guest::{Errno, println};

hv_guest::entry!(main);

fn copy() -> Result<usize, Errno> {
    let mut input = File::open("input.txt", Mode::Read)?;
    let mut output = File::open("output.txt", Mode::Write)?;
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        buf[..n].make_ascii_uppercase();
        output.write_all(&buf[..n])?;
        total += n;
    }
    output.close()?;
    Ok(total)
}

fn main() -> i32 {
    match copy() {
        Ok(n) => {
            println!("guest {}: copied {n} bytes", hv_guest::guest_id());
            0
        }
        Err(e) => {
            println!("guest {}: copy failed: {e}", hv_guest::guest_id());
            1
        }
    }
}
