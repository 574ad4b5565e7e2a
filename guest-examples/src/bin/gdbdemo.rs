//! A guest to debug with gdb (README: "Debugging a guest"): it adds the squares of 1 to 4 into
//! a global through a function of its own, prints the total and exits with it modulo 256.
//! With `SPIN` set from gdb (`set var gdbdemo::SPIN = true`), it computes without exiting
//! after printing, until gdb clears it again: a guest to interrupt with Ctrl-C.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

/// The running total: what `print`, `set var` and `watch` work on.
static mut TOTAL: u64 = 0;

/// Keeps the guest computing after it printed, while true.
static mut SPIN: bool = false;

/// Adds `n` squared to the total and returns the square.
#[inline(never)]
fn add_square(n: u64) -> u64 {
    let square = n * n;
    // SAFETY: one thread; the static is read and written by value, never borrowed.
    unsafe { TOTAL += square };
    square
}

fn main() -> i32 {
    let mut last = 0;
    for n in 1..=4 {
        last = add_square(n);
    }
    // SAFETY: as in `add_square`.
    let total = unsafe { TOTAL };
    println!("total {total}, last square {last}");
    let mut laps: u64 = 0;
    // SAFETY: a volatile read of the flag gdb may write while the guest runs.
    while unsafe { core::ptr::read_volatile(&raw const SPIN) } {
        laps = core::hint::black_box(laps.wrapping_add(1));
    }
    println!("done after {} laps", if laps > 0 { "some" } else { "no" });
    (total % 256) as i32
}
