//! Ends with status 3: the host reports it and exits with 1.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    println!("guest {} exits with status 3", hv_guest::guest_id());
    3
}
