//! Prints ten lines byte by byte, then computes without any exit for about a second, then ends:
//! its lines must reach the host's output while it computes, not when it ends. With `r` as
//! first input byte the bytes go through the console ring (`putchar`), otherwise through the
//! console port (`putchar_port`, enough of them for the host to coalesce it).
#![no_std]
#![no_main]

use hv_guest::console::{getchar, putchar, putchar_port};
use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    let put = if getchar() == Some(b'r') { putchar } else { putchar_port };
    for i in 0..10u8 {
        for &b in b"printed byte by byte before a long computation: line " {
            put(b);
        }
        put(b'0' + i);
        put(b'\n');
    }
    let mut x: u64 = 1;
    for i in 0..1_000_000_000u64 {
        x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    println!("done {}", x & 1);
    0
}
