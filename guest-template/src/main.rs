//! A starting point for an hv guest: printing, reading stdin, files, and the heap.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hv_guest::fs::{File, Mode};
use hv_guest::io::Stdin;
use hv_guest::io::embedded_io::Read;
use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    println!("Hello from my guest, guest {}!", hv_guest::guest_id());

    // A line from stdin (the host's stdin, shared by all guests).
    let mut buf = [0u8; 128];
    let n = Stdin.read(&mut buf).unwrap_or(0);
    let name = core::str::from_utf8(&buf[..n]).unwrap_or("?").trim();
    let name = if name.is_empty() { "stranger" } else { name };

    // The heap: Vec, String and format!.
    let words: Vec<&str> = name.split_whitespace().collect();
    let greeting: String = format!("Nice to meet you, {name} ({} word(s))\n", words.len());
    hv_guest::print!("{greeting}");

    // A file: written to this guest's own `greeting.txt` in hv-host's working directory.
    match File::open("greeting.txt", Mode::Write) {
        Ok(mut f) => {
            if let Err(e) = f.write_all(greeting.as_bytes()) {
                println!("cannot write greeting.txt: {e}");
                return 1;
            }
        }
        Err(e) => {
            println!("cannot create greeting.txt: {e}");
            return 1;
        }
    }
    // The guest names the file `greeting.txt`; hv-host stores each guest's own files under
    // their name with `.local<ID>` added, so guests never overwrite one another's.
    println!("wrote greeting.txt (on the host: greeting.txt.local{})", hv_guest::guest_id());
    0
}
