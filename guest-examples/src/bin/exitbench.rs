//! Exit round trips: makes N `HC_numExits` hypercalls (N from stdin, default 10000) and
//! checks the count grew by exactly N. Time the whole process.
#![no_std]
#![no_main]

use hv_guest::console::read_u64;
use hv_guest::{hc, println};

hv_guest::entry!(main);

fn main() -> i32 {
    let n = read_u64().filter(|&n| n > 0).unwrap_or(10_000);
    let before = hc::num_exits();
    for _ in 0..n {
        hc::num_exits();
    }
    let grew = hc::num_exits() - before;
    println!("exitbench: {n} hypercalls, exit count grew by {grew}");
    i32::from(grew != n + 1)
}
