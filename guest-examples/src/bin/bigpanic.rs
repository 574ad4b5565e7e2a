//! Reports a panic with a message of 4 KiB, the most the host takes (through the raw call: the
//! SDK's own panic handler keeps 512 bytes): many of these fill a stderr nobody reads with
//! their reports.
#![no_std]
#![no_main]

use hv_guest::hv_core::proto::HYPERCALL_PORT;
use hv_guest::hv_core::proto::hypercall::{HcOp, MAX_PANIC_MESSAGE};

hv_guest::entry!(main);

static MESSAGE: [u8; MAX_PANIC_MESSAGE as usize] = [b'p'; MAX_PANIC_MESSAGE as usize];

fn main() -> i32 {
    let args = [MESSAGE.as_ptr() as u64, MESSAGE.len() as u64];
    hv_guest::raw_call(HYPERCALL_PORT, HcOp::Panic as u8, &args);
    1
}
