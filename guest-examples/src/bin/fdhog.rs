//! Opens the shared `shared.txt` 32 times (the most a guest may hold), says how many it got,
//! and holds them until its input ends: many of these at once must not starve one another of
//! the host's file descriptors.
#![no_std]
#![no_main]

use hv_guest::console::getchar;
use hv_guest::fs::{Mode, fopen};
use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    let mut opened = 0;
    let mut stop = "ok";
    for _ in 0..32 {
        match fopen(b"shared.txt", Mode::Read) {
            Ok(_) => opened += 1,
            Err(e) => {
                stop = e.c_name();
                break;
            }
        }
    }
    println!("fdhog: {opened} opened, stop {stop}");
    while getchar().is_some() {}
    0
}
