//! Writes past the end of its RAM from a function of its own: built as an ELF image (with a
//! symbol table), the host's report names that function, `crash::crash_here+0x...`.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

/// Kept out of line so that the report has a function of this name to point at.
#[inline(never)]
fn crash_here(addr: u64) {
    // SAFETY: it is not: `addr` is outside guest RAM and the write faults, on purpose.
    unsafe { (addr as *mut u64).write_volatile(1) };
}

fn main() -> i32 {
    println!("crashing in crash_here");
    crash_here(core::hint::black_box(0x4000_0000));
    println!("unreachable");
    0
}
