//! Panics: the host reports the message and where it happened, and fails this guest only.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    println!("about to panic");
    let numbers = [1u32, 2, 3];
    let total: u32 = numbers.iter().sum();
    panic!("the total was {total}, which is not {}", total + 1);
}
