//! Computes forever, in work units of 2^20 steps of a 64-bit LCG, and prints a progress line
//! every 16 units: the seed's compute-bound VM, which exits so rarely that only the scheduler's
//! timer can take the CPU from it. Stop it with `hv-host --timeout`.
//!
//! Each line carries the LCG state: every guest computes the same sequence, so guests must
//! print the same `x` for the same unit count however often they were preempted; a host that
//! lost or reset any register state would show it here.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

/// LCG steps per work unit (about 1.3 ms natively on the project's machines).
const UNIT: u64 = 1 << 20;
/// Units between two progress lines (about 20 ms natively: more than a quantum, so the guest
/// is still preempted by the timer, not switched at its exits).
const REPORT_EVERY: u64 = 16;

fn main() -> i32 {
    let id = hv_guest::guest_id();
    let mut x: u64 = 1;
    let mut units: u64 = 0;
    loop {
        for i in 0..UNIT {
            // black_box keeps the loop from being folded into a constant.
            x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        units += 1;
        if units.is_multiple_of(REPORT_EVERY) {
            println!("progress: guest {id}: {units} units, x = {x:#018x}");
        }
    }
}
