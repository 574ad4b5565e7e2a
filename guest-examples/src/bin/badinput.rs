//! A hostile guest: writes impossible indices into its input ring and asks for input, then
//! puts them right and reads on. It prints one `check <what>: <answer>` line per step; the
//! tests compare the lines exactly. The host must answer `-EINVAL` (no input put in, nothing
//! written past the ring), serve the seed's raw `in` from stdin meanwhile, and go on as usual
//! once the indices are sane again.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, getchar_port};
use hv_guest::hv_core::layout::HV_ALIAS_BASE;
use hv_guest::hv_core::proto::HYPERCALL_PORT;
use hv_guest::hv_core::proto::hv_page::{INPUT_RING_CONTROL_OFFSET, INPUT_RING_SIZE};
use hv_guest::hv_core::proto::hypercall::HcOp;
use hv_guest::{Errno, println, raw_call};

hv_guest::entry!(main);

/// The ring's `head` (host-written) and `tail` (guest-written) words.
fn words() -> (*mut u64, *mut u64) {
    let base = (HV_ALIAS_BASE + INPUT_RING_CONTROL_OFFSET) as *mut u64;
    // SAFETY: the two words are in the hv page, mapped at HV_ALIAS_BASE for the whole run.
    (base, unsafe { base.add(1) })
}

fn read_word(at: *mut u64) -> u64 {
    // SAFETY: see `words`; volatile, as the host writes these.
    unsafe { at.read_volatile() }
}

fn write_word(at: *mut u64, v: u64) {
    // SAFETY: see `words`; writing nonsense there is what this guest is for.
    unsafe { at.write_volatile(v) }
}

/// `ConsoleRead` made by hand, so its answer is seen as it is.
fn console_read() -> &'static str {
    match raw_call(HYPERCALL_PORT, HcOp::ConsoleRead as u8, &[]).0 {
        0 => "end of input",
        n if n > 0 => "ok",
        e => Errno::from_ret(e).map_or("?", Errno::c_name),
    }
}

fn main() -> i32 {
    let (head, tail) = words();
    let show = |c: Option<u8>| c.map_or('?', char::from);
    // A byte with the seed's raw `in`: from stdin, the ring untouched (head and tail 0).
    println!("check raw in: {:?}", show(getchar_port()));
    // A tail ahead of head, then one more than a ring behind it: both impossible.
    write_word(tail, 1);
    println!("check tail ahead: {}", console_read());
    write_word(tail, 0u64.wrapping_sub(INPUT_RING_SIZE + 1));
    println!("check tail a ring behind: {}", console_read());
    // Meanwhile the raw `in` reads stdin itself, as if the ring were empty.
    println!("check raw in, tail bad: {:?}", show(getchar_port()));
    // A head of the guest's own means nothing to the host, which keeps its own count and
    // writes it when it puts input in.
    write_word(tail, 0);
    write_word(head, 12345);
    println!("check head forged: {}", console_read());
    println!("check head now: {}", read_word(head));
    println!("check read on: {:?} {:?}", show(getchar()), show(getchar()));
    0
}
