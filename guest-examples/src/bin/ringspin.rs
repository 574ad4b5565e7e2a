//! Prints one line and then computes for about a second without a single exit (not even at
//! start: the ABI announcement is a word in the hv page), then ends. Its line sits in the
//! console ring with no exit after it: only the host's periodic drain can show it before the
//! guest ends.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    println!("printed before a long computation, with no exit yet");
    let mut x: u64 = 1;
    for i in 0..1_000_000_000u64 {
        x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    println!("done {}", x & 1);
    0
}
