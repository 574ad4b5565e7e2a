//! Prints an unfinished line, then computes forever: the line must still reach the output
//! when the run is stopped (a signal, a timeout).
#![no_std]
#![no_main]

use hv_guest::print;

hv_guest::entry!(main);

fn main() -> i32 {
    print!("guest {} working...", hv_guest::guest_id());
    let mut x: u64 = 1;
    loop {
        x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}
