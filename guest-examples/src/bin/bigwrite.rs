//! Writes all of its free RAM (from the end of its image to 64 KiB below the stack top) as
//! 64-byte lines with one console write: the host must pass it all on without holding a copy
//! of the call.
#![no_std]
#![no_main]

use hv_guest::console;

hv_guest::entry!(main);

/// Stack left untouched below the stack top: this guest's own frames live there.
const STACK_RESERVE: u64 = 64 * 1024;
const LINE: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n";

unsafe extern "C" {
    static _end: u8;
}

fn main() -> i32 {
    let info = hv_guest::boot_info();
    let start = (core::ptr::addr_of!(_end) as u64).next_multiple_of(64);
    let end = info.stack_top - STACK_RESERVE;
    let len = ((end - start) / 64 * 64) as usize;
    // SAFETY: [start, start + len) is free RAM: above the image and .bss, below the stack in
    // use; nothing else refers to it.
    let buf = unsafe { core::slice::from_raw_parts_mut(start as *mut u8, len) };
    for chunk in buf.chunks_mut(64) {
        chunk.copy_from_slice(LINE);
    }
    console::write_bytes(buf);
    0
}
