//! Greets with its ID and the memory it was given.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    let info = hv_guest::boot_info();
    println!(
        "Hello from guest {}! {} MiB of RAM, {} KiB pages.",
        info.guest_id,
        info.ram_size >> 20,
        info.page_size >> 10
    );
    0
}
