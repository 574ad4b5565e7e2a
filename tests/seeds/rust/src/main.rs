//! A Rust guest with its own entry point in the seeds' `.start` section (placed at address 0 by
//! `linker/guest.ld`): no SDK `_start`, no `entry!` (only the SDK's panic handler), no `rdi`. The SDK still works, because it
//! finds the host's page at its fixed alias.
#![no_std]
#![no_main]

use hv_guest::fs::{File, Mode};
use hv_guest::println;

hv_guest::panic_handler!();

core::arch::global_asm!(
    ".pushsection .start, \"ax\", @progbits",
    ".global _start",
    "_start:",
    "    and rsp, -16",
    "    call {main}",
    "2:  hlt",
    "    jmp 2b",
    ".popsection",
    main = sym own_main,
);

extern "C" fn own_main() {
    println!("own _start, guest {}", hv_guest::guest_id());
    let written =
        File::open("rust.txt", Mode::Write).and_then(|mut f| f.write_all(b"written without rdi\n"));
    println!("file: {}", if written.is_ok() { "ok" } else { "failed" });
    hv_guest::exit(if written.is_ok() { 0 } else { 1 });
}
