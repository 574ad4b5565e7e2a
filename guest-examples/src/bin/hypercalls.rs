//! The seed's hypercall demo: values and strings printed by the host, exit counts before and
//! after some I/O, and translations of a code, a data, a stack and an unmapped address.
#![no_std]
#![no_main]

use hv_guest::console::putchar;
use hv_guest::hc;
use hv_guest::println;

hv_guest::entry!(main);

static DATA: [u8; 16] = *b"some static data";

/// The "IO out: <m>" figure of `HC_numExitsByType`'s text.
fn io_out() -> u64 {
    let mut buf = [0u8; 256];
    let text = hc::num_exits_by_type(&mut buf);
    text.lines().find_map(|l| l.strip_prefix("IO out: ")).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn show(what: &str, gva: u64) {
    match hc::gva_to_hva(gva) {
        Some(t) => println!("gvaToHva {what}: gva {gva:#x} -> gpa {:#x}, hva {:#x}", t.gpa, t.hva),
        None => println!("gvaToHva {what}: gva {gva:#x} -> unmapped"),
    }
}

fn main() -> i32 {
    hc::print32(42);
    hc::print32(0xFFFF_FFFF);
    let _ = hc::print_str(c"a string printed by the host with one exit\n");
    let before = hc::num_exits();
    for c in *b"io\n" {
        putchar(c);
    }
    let after = hc::num_exits();
    println!("numExits grew by {} over 3 putchar and 1 numExits", after - before);
    let out_before = io_out();
    for c in *b"io\n" {
        putchar(c);
    }
    let out_after = io_out();
    println!("IO out grew by {} over 3 putchar and 1 numExitsByType", out_after - out_before);
    let mut buf = [0u8; 256];
    println!("numExitsByType:\n{}", hc::num_exits_by_type(&mut buf).trim_end());
    let local = 7u64;
    show("code", main as fn() -> i32 as usize as u64);
    show("data", DATA.as_ptr() as u64);
    show("stack", core::ptr::addr_of!(local) as u64);
    show("unmapped", 0x4000_0000);
    // The host checks every pointer: a bad one is an error for this guest, nothing more.
    // SAFETY: never dereferenced by the guest; only the host looks, and refuses.
    let wild = unsafe {
        core::ffi::CStr::from_bytes_with_nul_unchecked(core::slice::from_raw_parts(
            0x4000_0000 as *const u8,
            1,
        ))
    };
    println!("printStr of a wild pointer: {:?}", hc::print_str(wild).map_err(|e| e.c_name()));
    static UNTERMINATED: [u8; 5000] = [b'x'; 5000];
    // SAFETY: as above: the host reads it, finds no NUL in time, and refuses.
    let long = unsafe { core::ffi::CStr::from_bytes_with_nul_unchecked(&UNTERMINATED) };
    println!(
        "printStr of an unterminated string: {:?}",
        hc::print_str(long).map_err(|e| e.c_name())
    );
    0
}
