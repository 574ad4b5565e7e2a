//! Prints numbered lines forever, one `ConsoleWrite` each, like `yes`: the guest a closed pipe
//! (`hv-host ... | head -1`) or a signal must stop.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    let mut n: u64 = 0;
    loop {
        println!("y {n}");
        n += 1;
    }
}
