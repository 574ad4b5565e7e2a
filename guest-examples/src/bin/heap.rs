//! The heap (the SDK's `heap` feature): `Vec`, `String`, `Box`, `format!` and a `BTreeMap`.
//!
//! Reads a byte count from stdin and, if there is one, allocates that many bytes at the end:
//! more than the heap holds ends the guest like a panic, with the size asked for.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use hv_guest::{heap, println};

hv_guest::entry!(main);

fn main() -> i32 {
    let total = heap::size();
    let squares: Vec<u64> = (1..=10).map(|i| i * i).collect();
    let mut words = String::new();
    for w in ["heap", "in", "a", "guest"] {
        words.push_str(w);
        words.push(' ');
    }
    let mut counts = BTreeMap::new();
    for c in words.trim_end().chars() {
        *counts.entry(c).or_insert(0u32) += 1;
    }
    let boxed = Box::new([7u8; 1000]);
    let big = vec![1u32; 100_000];
    println!("squares: {squares:?}");
    println!(
        "words: {:?}, {} distinct letters, e x{}",
        words.trim_end(),
        counts.len(),
        counts[&'e']
    );
    println!(
        "{}",
        format!(
            "box sum {}, vec sum {}",
            boxed.iter().map(|&b| u32::from(b)).sum::<u32>(),
            big.iter().sum::<u32>()
        )
    );
    let in_use = total - heap::free();
    drop(big);
    println!(
        "heap: {total} bytes, {in_use} in use before freeing the vec, {} after",
        total - heap::free()
    );
    if let Some(n) = hv_guest::console::read_u64() {
        println!("allocating {n} bytes");
        let v: Vec<u8> = vec![0xAB; n as usize];
        println!("got {} bytes, last {:#x}", v.len(), v[v.len() - 1]);
    }
    0
}
