//! Writes and checks every 8-byte word of the RAM the guest is free to use (from the end of its
//! image to the bottom of the stack it needs), proving the page tables map all of it.
#![no_std]
#![no_main]

use hv_guest::println;

hv_guest::entry!(main);

/// Stack left untouched below the stack top: the test's own frames live there.
const STACK_RESERVE: u64 = 64 * 1024;

unsafe extern "C" {
    static _end: u8;
}

fn pattern(addr: u64) -> u64 {
    addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555_AAAA_5555_AAAA
}

fn main() -> i32 {
    let info = hv_guest::boot_info();
    let page = info.page_size.min(4096);
    let start = (core::ptr::addr_of!(_end) as u64).next_multiple_of(page);
    let end = info.stack_top - STACK_RESERVE;
    let words = (end - start) / 8;
    let base = start as *mut u64;
    for i in 0..words {
        // SAFETY: [start, end) is free RAM: above the image and .bss, below the stack in use.
        unsafe { base.add(i as usize).write_volatile(pattern(start + i * 8)) };
    }
    for i in 0..words {
        // SAFETY: as above.
        let got = unsafe { base.add(i as usize).read_volatile() };
        let addr = start + i * 8;
        if got != pattern(addr) {
            println!("memtest: FAILED at {addr:#x}: {got:#x}");
            return 1;
        }
    }
    println!(
        "memtest: guest {} checked {} KiB from {:#x} to {:#x} ({} MiB RAM, {} KiB pages): ok",
        info.guest_id,
        (end - start) >> 10,
        start,
        end,
        info.ram_size >> 20,
        info.page_size >> 10
    );
    0
}
