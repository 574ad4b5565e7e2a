//! The hypercalls of seed 002 (`HC_print32bit`, `HC_numExits`, `HC_printStr`,
//! `HC_numExitsByType`, `HC_gvaToHva`), one exit each.

use core::ffi::CStr;

use hv_core::proto::HYPERCALL_PORT;
use hv_core::proto::hypercall::HcOp;

use crate::{Errno, arch};

/// The host prints `val` in decimal and a newline on this guest's console.
pub fn print32(val: u32) {
    arch::hypercall(HcOp::Print32, &[u64::from(val)]);
}

/// The exits this guest has made so far, this call's own exit included.
pub fn num_exits() -> u64 {
    arch::hypercall(HcOp::NumExits, &[]) as u64
}

/// The host prints `s` as it is. Returns its length.
pub fn print_str(s: &CStr) -> Result<usize, Errno> {
    let ret = arch::hypercall(HcOp::PrintStr, &[s.as_ptr() as u64]);
    Errno::from_ret(ret).map_or(Ok(ret as usize), Err)
}

/// The host's count of this guest's exits by kind: `IO in: <n>\nIO out: <m>\n...`. The text
/// lives in the hv page until the next call, so it is copied into `buf`; returns the part of
/// `buf` it fills.
pub fn num_exits_by_type(buf: &mut [u8]) -> &str {
    let at = arch::hypercall(HcOp::NumExitsByType, &[]) as usize as *const core::ffi::c_char;
    // SAFETY: the host wrote a NUL-terminated text at this address in the hv page, which is
    // guest memory valid for the whole run.
    let text = unsafe { CStr::from_ptr(at) }.to_bytes();
    let n = text.len().min(buf.len());
    buf[..n].copy_from_slice(&text[..n]);
    core::str::from_utf8(&buf[..n]).unwrap_or("")
}

/// Where a guest virtual address leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The host virtual address.
    pub hva: u64,
    /// The guest-physical address.
    pub gpa: u64,
}

/// Asks the host to walk this guest's page tables for `gva`; `None` if it is unmapped.
pub fn gva_to_hva(gva: u64) -> Option<Translation> {
    let (hva, gpa) = arch::call(HYPERCALL_PORT, HcOp::GvaToHva as u8, &[gva]);
    (hva != 0).then_some(Translation { hva: hva as u64, gpa })
}
