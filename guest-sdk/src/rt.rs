//! The runtime: `_start`, the panic handler and the functions the compiler calls.

use core::fmt::Write;
use core::panic::PanicInfo;

use hv_core::proto::hypercall::HcOp;

use crate::arch;

// Entry: the host enters at guest address 0 in ring 3 with rsp = top of stack. The linker script
// puts .text.start first. .bss is zeroed before any Rust code runs. Without the `start` feature
// the guest brings its own `_start` (the seeds' shape) and the SDK still works: it finds the hv
// page at its fixed alias, not through `rdi`.
#[cfg(feature = "start")]
core::arch::global_asm!(
    ".pushsection .text.start, \"ax\", @progbits",
    ".global _start",
    "_start:",
    "    lea rdi, [rip + __bss_start]",
    "    lea rcx, [rip + __bss_end]",
    "    sub rcx, rdi",
    "    xor eax, eax",
    "    cld",
    "    rep stosb",
    "    and rsp, -16",
    "    call {start}",
    "2:  hlt",
    "    jmp 2b",
    ".popsection",
    start = sym rust_start,
);

#[cfg(feature = "start")]
unsafe extern "C" {
    /// The guest's `main`, declared with [`entry!`](crate::entry).
    fn main() -> i32;
    static __bss_end: u8;
}

#[cfg(feature = "start")]
extern "C" fn rust_start() -> ! {
    // The ABI announcement: a word in the hv page, checked by the host at the first exit.
    arch::announce_abi();
    // .bss that reaches into the stack would be overwritten by it: refuse to start.
    let bss_end = core::ptr::addr_of!(__bss_end) as u64;
    let stack_floor = crate::boot_info().stack_top.saturating_sub(hv_core::layout::MIN_STACK);
    if bss_end > stack_floor {
        panic!(
            "image too large: .bss ends at {bss_end:#x}, the stack needs {stack_floor:#x} and up"
        );
    }
    #[cfg(feature = "heap")]
    crate::heap::init();
    // SAFETY: `entry!` defines `main` with this signature.
    let status = unsafe { main() };
    crate::exit(status)
}

/// The panic handler, installed by [`entry!`](crate::entry) in the guest's own crate (so that a
/// guest crate compiled as a host test, where `std` brings its own, can leave it out).
#[doc(hidden)]
pub fn panic(info: &PanicInfo<'_>) -> ! {
    // No flush: the host drains the console ring before it handles the panic's exit.
    let mut msg = heapless::String::<512>::new();
    // A message too long for the buffer is cut, which is better than no report at all.
    let _ = match info.location() {
        Some(l) => write!(msg, "{} at {}:{}:{}", info.message(), l.file(), l.line(), l.column()),
        None => write!(msg, "{}", info.message()),
    };
    arch::hypercall(HcOp::Panic, &[msg.as_ptr() as u64, msg.len() as u64]);
    loop {
        arch::hlt();
    }
}

/// Referenced by the precompiled `core`; never called with `panic = "abort"`.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// Referenced by the precompiled `alloc` (built to unwind); never called with
/// `panic = "abort"`, since nothing unwinds. Should it be, the guest ends.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume() -> ! {
    loop {
        arch::hlt();
    }
}

// The precompiled compiler_builtins for this target has no mem* functions. `rep movsb` and
// `rep stosb` are fast on every CPU since Ivy Bridge, and being asm they cannot be turned back
// into calls to themselves by the optimiser.

/// # Safety
/// As C's `memcpy`: `dst` and `src` valid for `n` bytes and not overlapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges are valid.
    unsafe {
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _,
            inout("rsi") src => _, options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// As C's `memmove`: `dst` and `src` valid for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy is correct when dst is below src or the ranges are disjoint.
        return unsafe { memcpy(dst, src, n) };
    }
    // Copy backwards, from the last byte, with the direction flag set for the copy only.
    // SAFETY: the caller guarantees both ranges are valid; n > 0 here since the ranges overlap.
    unsafe {
        core::arch::asm!("std", "rep movsb", "cld", inout("rcx") n => _,
            inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _, options(nostack));
    }
    dst
}

/// # Safety
/// As C's `memset`: `dst` valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range is valid.
    unsafe {
        core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _,
            in("al") c as u8, options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// As C's `memcmp`: `a` and `b` valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, and the caller guarantees n readable bytes at both.
        let (x, y) =
            unsafe { (core::ptr::read_volatile(a.add(i)), core::ptr::read_volatile(b.add(i))) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// # Safety
/// As `memcmp`; only equality is meaningful.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// As C's `strlen`: `s` points to a NUL-terminated string. (`CStr::from_ptr` calls it.)
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees a NUL within the readable string.
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}
