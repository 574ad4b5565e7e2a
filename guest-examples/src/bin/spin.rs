//! Computes for a while (10^8 loop iterations) and prints the result: natively this takes a
//! few tens of milliseconds; if guest code were emulated (ring 0 on our KVM) it would take
//! minutes.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    let mut x: u64 = 1;
    for i in 0..100_000_000u64 {
        // black_box keeps the loop from being folded into a constant.
        x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    println!("spin: guest {} done, x = {x:#018x}", hv_guest::guest_id());
    0
}
