//! Exit round trips: reads `x N` or `m N` from stdin (N defaults to 10000). `x`: N hypercalls
//! that exit and do nothing else (`ConsoleFlush` with an empty ring), checking the exit count
//! grew by exactly N (not counting the exits the host causes). `m`: N `HC_numExits` calls,
//! answered from the hv page, checking it did not grow. Time the whole process.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, read_u64};
use hv_guest::hv_core::proto::HYPERCALL_PORT;
use hv_guest::hv_core::proto::hypercall::HcOp;
use hv_guest::{hc, println};

hv_guest::entry!(main);

fn main() -> i32 {
    let exiting = getchar() == Some(b'x');
    let n = read_u64().filter(|&n| n > 0).unwrap_or(10_000);
    // Exits the host causes (time slices, console drains) are not the calls'.
    let own = || {
        let c = hc::exit_counts();
        c.total - c.interrupted
    };
    let before = own();
    let mut sum = 0u64;
    for _ in 0..n {
        if exiting {
            hv_guest::raw_call(HYPERCALL_PORT, HcOp::ConsoleFlush as u8, &[]);
        } else {
            sum = sum.wrapping_add(core::hint::black_box(hc::num_exits()));
        }
    }
    let grew = own() - before;
    let want = if exiting { n } else { 0 };
    println!("exitbench: {n} calls, exit count grew by {grew} (sum {})", sum & 1);
    i32::from(grew != want)
}
