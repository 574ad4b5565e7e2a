//! The instructions the SDK talks to the host with.
//!
//! Note (ordering): the host reads the mailbox during the `out` and writes results before the
//! guest resumes. The `asm!` blocks below deliberately omit `nomem`, so the compiler treats
//! them as reading and writing memory: mailbox stores cannot be sunk past the `out`, nor
//! result loads hoisted above it. (x86_64's `Port::write` is `nomem` and would allow both.)

use core::arch::asm;
use core::ptr;

use hv_core::proto::hv_page::{BOOT_INFO_OFFSET, BootInfo, MAILBOX_OFFSET, Mailbox};
use hv_core::proto::hypercall::HcOp;
use hv_core::proto::{FILE_PORT, HYPERCALL_PORT};

/// Guest address of the hv page: the fixed alias the host maps it at for every RAM size, so
/// the SDK needs no `rdi` and works under a guest's own `_start` too.
pub(crate) const fn hv_page() -> u64 {
    hv_core::layout::HV_ALIAS_BASE
}

/// Writes a byte to a port.
pub(crate) fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory-safety effect in the guest; the host handles the exit.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nostack, preserves_flags)) }
}

/// Writes a 32-bit value to a port.
pub(crate) fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack, preserves_flags))
    }
}

/// Writes a byte to a device register in the MMIO window.
///
/// # Safety
/// `addr` must be mapped and not memory the program uses (the host's device window is).
pub(crate) unsafe fn mmio_write8(addr: u64, value: u8) {
    // SAFETY: the caller guarantees `addr` is the device window, so the store touches no Rust
    // object; `asm!` rather than a volatile store so that, as for `out`, the compiler orders
    // all memory accesses around it (a volatile store orders only other volatile accesses).
    unsafe {
        asm!("mov byte ptr [{addr}], {value}", addr = in(reg) addr, value = in(reg_byte) value,
            options(nostack, preserves_flags))
    }
}

/// Writes a 32-bit value to a device register in the MMIO window.
///
/// # Safety
/// As for [`mmio_write8`].
pub(crate) unsafe fn mmio_write32(addr: u64, value: u32) {
    // SAFETY: as for `mmio_write8`.
    unsafe {
        asm!("mov dword ptr [{addr}], {value:e}", addr = in(reg) addr, value = in(reg) value,
            options(nostack, preserves_flags))
    }
}

/// Reads a 32-bit value from a port.
pub(crate) fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") value, options(nostack, preserves_flags))
    }
    value
}

/// `hlt`: in ring 3 it faults, which the host treats as the end of the guest.
pub(crate) fn hlt() {
    // SAFETY: ends the guest; no memory is touched.
    unsafe { asm!("hlt", options(nostack, nomem)) }
}

/// Performs one call: arguments into the mailbox, the opcode out to `port`, the result back.
pub(crate) fn call(port: u16, op: u8, args: &[u64]) -> (i64, u64) {
    let mailbox = (hv_page() + MAILBOX_OFFSET) as *mut Mailbox;
    // SAFETY: the hv page is guest memory the host reserved for this, valid and aligned for
    // the whole run; volatile because the host reads and writes it behind the compiler's back.
    unsafe {
        for (i, a) in args.iter().take(6).enumerate() {
            ptr::write_volatile(ptr::addr_of_mut!((*mailbox).args[i]), *a);
        }
        asm!("out dx, al", in("dx") port, in("al") op, options(nostack, preserves_flags));
        (
            ptr::read_volatile(ptr::addr_of!((*mailbox).ret)),
            ptr::read_volatile(ptr::addr_of!((*mailbox).ret2)),
        )
    }
}

/// A hypercall.
pub(crate) fn hypercall(op: HcOp, args: &[u64]) -> i64 {
    call(HYPERCALL_PORT, op as u8, args).0
}

/// A file-service call.
pub(crate) fn file_call(op: hv_core::proto::file::FileOp, args: &[u64]) -> i64 {
    call(FILE_PORT, op as u8, args).0
}

/// Announces the ABI version this SDK was built for, in the hv page (no exit: the host checks
/// it at the first exit, before it handles it). Only the SDK's `_start` announces: a guest with
/// its own `_start` (the seeds' shape) announces nothing and is taken as it is.
#[cfg(feature = "start")]
pub(crate) fn announce_abi() {
    let at = (hv_page() + hv_core::proto::hv_page::ABI_ANNOUNCE_OFFSET) as *mut u64;
    // SAFETY: the word is in the hv page, guest memory reserved for this, valid and aligned.
    unsafe { ptr::write_volatile(at, u64::from(hv_core::ABI_VERSION)) }
}

pub(crate) fn boot_info() -> BootInfo {
    let info = (hv_page() + BOOT_INFO_OFFSET) as *const BootInfo;
    // SAFETY: the host wrote the boot info before the guest started and never changes it.
    unsafe { ptr::read_volatile(info) }
}
