//! What differs for a guest outside long mode (see `hv_core::mode`): the ABI check (hv's SDK
//! guests are long-mode guests), address translation without paging (seed 002's `gvaToHva`
//! there), and where a guest that did not end normally was.
//!
//! The exceptions of these modes are in `exception` (`ring0_exception`).

use hv_core::Gpa;
use hv_core::mode::CpuMode;
use hv_core::proto::seed::{INVALID_GVA, SEED002_ACCESS};

use super::Vm;
use crate::outcome::{GuestError, Outcome};
use crate::services::Flow;
use crate::stop::StopReason;

impl Vm<'_> {
    /// Checks the ABI the guest announced in its hv page, if it announced one yet: long-mode
    /// guests must announce the host's version; in the other modes any announcement ends the
    /// guest, since only the (64-bit) SDKs announce one and their code cannot run there.
    ///
    /// Why at run time: the announcement is a store into the hv page, which only happens once
    /// the guest runs. hv refuses what it can before: an ELF image outside long mode is refused
    /// at start (the SDKs' ELF images are ELF64), and a flat SDK image executed as 16- or 32-bit
    /// code rarely gets as far as its store (in real mode the hv page is out of reach).
    pub(super) fn check_abi(&mut self) -> Result<(), Outcome> {
        let host = hv_core::ABI_VERSION;
        match (self.ring.announced_abi(), self.mode) {
            (0, _) => Ok(()),
            (guest, CpuMode::Long) if guest == u64::from(host) => {
                self.abi_checked = true;
                Ok(())
            }
            (guest, CpuMode::Long) => Err(Outcome::Error(GuestError::AbiMismatch { guest, host })),
            (guest, mode) => Err(Outcome::Error(GuestError::Setup(format!(
                "it announced hv ABI version {guest}, as 64-bit SDK guests do, but runs in \
                 --mode {mode}: run it with --mode long (the default)"
            )))),
        }
    }

    /// The guest-physical address of the guest's linear address `va`, as its MMU sees it (see
    /// `CpuMode::translate`); the guest's CR3 is only read when paging is on.
    pub(super) fn linear_to_gpa(&self, va: u64) -> Result<Option<Gpa>, Flow> {
        let cr3 = if self.mode.paging() { self.cr3()? } else { 0 };
        Ok(self.mode.translate(&self.dev.ram, cr3, va))
    }

    /// Seed 002's `in` on 0xEF without paging, answered as `simple-kvm -r`/`-s` answers it:
    /// every 32-bit linear address translates to itself (`KVM_TRANSLATE` says valid), and the
    /// reply is the low 32 bits of the RAM's host address plus that address, whether or not
    /// RAM backs it (so `gvaToHva(4294967295)` is a number, not `Invalid GVA`, as there). hv
    /// only computes it; nothing is read at it. With no 0xEE address given yet, it is
    /// `Invalid GVA` and 0, as with paging.
    pub(super) fn seed_hva_without_paging(&mut self, port: u16, data: &mut [u8]) -> Flow {
        if data.len() != SEED002_ACCESS {
            let size = data.len();
            let e = GuestError::BadAccessSize { port, dir: "in", size, expected: "4-byte in" };
            return Flow::Stop(Outcome::Error(e));
        }
        let hva = match self.dev.seed.gva {
            Some(gva) => self.dev.ram.host_base().wrapping_add(u64::from(gva)) as u32,
            None => {
                self.dev.write_console(format!("{INVALID_GVA}\n").as_bytes());
                0
            }
        };
        data.copy_from_slice(&hva.to_le_bytes());
        Flow::Continue
    }

    /// Where a guest outside long mode was when it ended, for its report, unless it ended
    /// normally or its report says where by itself (a fault, an unhandled interrupt): CS:IP in
    /// real mode, EIP in the 32-bit modes, so a runaway guest stopped by its timeout, or one
    /// KVM could not emulate, can be found.
    pub(super) fn stop_location(&self, outcome: &Outcome) -> Option<String> {
        // A closed or failed output stops the run with nothing more printed (see `stop`).
        let quiet =
            matches!(outcome, Outcome::Interrupted(r) if !matches!(r, StopReason::Signal(_)));
        let says_where = matches!(
            outcome,
            Outcome::Fault(_) | Outcome::Error(GuestError::UnhandledInterrupt { .. })
        );
        if self.mode == CpuMode::Long || outcome.is_success() || quiet || says_where {
            return None;
        }
        let (Ok(regs), Ok(sregs)) = (self.vcpu.get_regs(), self.vcpu.get_sregs()) else {
            return None;
        };
        // In a stub (the guest ended at an exception report it made), the place is hv's.
        let at = sregs.cs.base.wrapping_add(regs.rip);
        if self.mode.stubs(self.dev.ram.layout()).contains(&at) {
            return None;
        }
        Some(location(self.mode, sregs.cs.selector, sregs.cs.base, regs.rip))
    }
}

/// Where a guest in `mode` with this CS and RIP was, in words.
fn location(mode: CpuMode, cs: u16, cs_base: u64, rip: u64) -> String {
    match mode {
        CpuMode::Real => {
            let linear = cs_base.wrapping_add(rip);
            format!("at {cs:04x}:{rip:04x} (linear {linear:#x}) in real mode")
        }
        _ => format!("at eip {rip:#x} (cs {cs:#x}) in --mode {mode}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_cs_ip_in_real_mode() {
        assert_eq!(
            location(CpuMode::Real, 0x1000, 0x10000, 0x1f3e),
            "at 1000:1f3e (linear 0x11f3e) in real mode"
        );
        assert_eq!(
            location(CpuMode::Protected, 8, 0, 0x42),
            "at eip 0x42 (cs 0x8) in --mode protected"
        );
    }
}
