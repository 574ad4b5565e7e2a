//! Writes to a file and faults without closing it: the host must still keep every byte.
#![no_std]
#![no_main]

use hv_guest::fs::{File, Mode};

hv_guest::entry!(main);

fn main() -> i32 {
    let mut f = File::open("partial.txt", Mode::Write).unwrap_or_else(|e| panic!("open: {e}"));
    f.write_all(b"every byte written before the fault is kept\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    core::mem::forget(f); // no fclose
    // SAFETY: it is not safe: the fault is the point.
    unsafe { (0x4000_0000 as *mut u8).write_volatile(1) };
    0
}
