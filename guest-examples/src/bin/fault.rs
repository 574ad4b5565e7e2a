//! Writes past the end of its RAM: the host reports the page fault and fails this guest only.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    println!("about to write to 0x40000000");
    // SAFETY: it is not: the write faults, which is what this guest demonstrates.
    unsafe { (0x4000_0000 as *mut u64).write_volatile(1) };
    println!("unreachable");
    0
}
