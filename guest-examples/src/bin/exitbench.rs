//! Exit round trips: makes N `HC_numExits` hypercalls (N from stdin, default 10000) and
//! checks the count grew by exactly N. Time the whole process.
#![no_std]
#![no_main]

use hv_guest::console::getchar;
use hv_guest::{hc, println};

hv_guest::entry!(main);

fn main() -> i32 {
    let mut n = 0u64;
    while let Some(c @ b'0'..=b'9') = getchar() {
        n = n * 10 + u64::from(c - b'0');
    }
    let n = if n == 0 { 10_000 } else { n };
    let before = hc::num_exits();
    for _ in 0..n {
        hc::num_exits();
    }
    let grew = hc::num_exits() - before;
    println!("exitbench: {n} hypercalls, exit count grew by {grew}");
    i32::from(grew != n + 1)
}
