//! A hostile guest: prints a line, then writes an impossible producer index (behind what the
//! host consumed) into its console ring and makes an exit, so the host looks at it. The host
//! must end this guest with a clear error, and no other.
#![no_std]
#![no_main]

use hv_guest::console;
use hv_guest::hv_core::layout::HV_ALIAS_BASE;
use hv_guest::hv_core::proto::hv_page::CONSOLE_RING_CONTROL_OFFSET;
use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    println!("before");
    console::flush(); // the host takes the 7 bytes: its tail is 7
    let head = (HV_ALIAS_BASE + CONSOLE_RING_CONTROL_OFFSET) as *mut u64;
    // SAFETY: the ring's control words are in the hv page, mapped at HV_ALIAS_BASE for the
    // whole run; writing nonsense there is what this guest is for.
    unsafe { head.write_volatile(3) };
    console::flush();
    println!("unreachable");
    0
}
