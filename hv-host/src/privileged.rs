//! Emulation of the harmless privileged instructions the seeds' guests execute.
//!
//! The seeds' guests were written for ring 0; hv runs them in ring 3 (see `hv_core::boot`),
//! where reading a control register faults. Seed 003's loader reads CR0 (`mov %cr0, %rdx`) and
//! the machine status word (`smsw`) before its `hlt`. Such reads have one right answer, the
//! value the guest's mode implies, so the host gives it: it decodes the faulting instruction
//! (with iced-x86's decoder), writes the value to the destination register, and resumes the
//! guest at the next instruction with every other register as it was. Everything else
//! privileged (writes to control registers, `lgdt`, `cli`, `smsw` to memory, ...) stays a
//! reported fault: there is no meaning hv could give it without pretending to be ring 0.

use hv_core::paging;
use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};
use kvm_bindings::kvm_regs;

use crate::memory::GuestRam;

/// Longest x86 instruction.
const MAX_INSN: usize = 15;

/// The control registers as the guest's mode implies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ControlRegs {
    /// CR0: [`hv_core::boot::CR0`].
    pub(crate) cr0: u64,
    /// CR2: the last page-fault address.
    pub(crate) cr2: u64,
    /// CR3: the guest's page tables.
    pub(crate) cr3: u64,
    /// CR4: [`hv_core::boot::CR4`].
    pub(crate) cr4: u64,
}

impl ControlRegs {
    /// The guest's control registers, from its mode and its CR2/CR3.
    pub(crate) fn of(cr2: u64, cr3: u64) -> Self {
        ControlRegs { cr0: hv_core::boot::CR0.bits(), cr2, cr3, cr4: hv_core::boot::CR4.bits() }
    }

    /// The value of `cr`, for the control registers a read may name (CR8, the task priority,
    /// is 0: hv uses no interrupts). Others are `None`: they fault (#UD) even in ring 0.
    fn read(self, cr: Register) -> Option<u64> {
        match cr {
            Register::CR0 => Some(self.cr0),
            Register::CR2 => Some(self.cr2),
            Register::CR3 => Some(self.cr3),
            Register::CR4 => Some(self.cr4),
            Register::CR8 => Some(0),
            _ => None,
        }
    }
}

/// What the host does in the guest's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Emulation {
    /// The general-purpose register written (as named by the instruction: `eax`, `rdx`, ...).
    pub(crate) dest: Register,
    /// The value written to it (before sizing to `dest`).
    pub(crate) value: u64,
    /// Length of the instruction: the guest resumes this far past it.
    pub(crate) len: u64,
}

/// Decodes the instruction in `code` (at `rip`) and says how to emulate it, if it is one of the
/// harmless reads: `mov reg, crN` or `smsw reg`.
pub(crate) fn decode(code: &[u8], rip: u64, cr: ControlRegs) -> Option<Emulation> {
    let insn = Decoder::with_ip(64, code, rip, DecoderOptions::NONE).decode();
    if insn.is_invalid() || insn.op0_kind() != OpKind::Register {
        return None;
    }
    let dest = insn.op0_register();
    gpr(dest)?;
    let value = match insn.mnemonic() {
        Mnemonic::Mov if insn.op_count() == 2 && insn.op1_kind() == OpKind::Register => {
            cr.read(insn.op1_register())?
        }
        // The machine status word is CR0's low bits; the register form stores all of CR0 on
        // every CPU we know of (the SDM leaves the upper bits undefined).
        Mnemonic::Smsw => cr.cr0,
        _ => return None,
    };
    Some(Emulation { dest, value, len: insn.len() as u64 })
}

/// Reads up to [`MAX_INSN`] bytes of code at `rip`, through the guest's own page tables,
/// from user-accessible pages only (the guest ran it in ring 3). Stops at the first byte that
/// is not mapped.
pub(crate) fn fetch(ram: &GuestRam, cr3: u64, rip: u64) -> Vec<u8> {
    let mut code = Vec::with_capacity(MAX_INSN);
    for i in 0..MAX_INSN as u64 {
        let byte = rip
            .checked_add(i)
            .and_then(|va| paging::translate(ram, cr3, va))
            .filter(|t| t.user)
            .and_then(|t| ram.read_u8(t.gpa.as_u64()));
        match byte {
            Some(b) => code.push(b),
            None => break,
        }
    }
    code
}

/// Writes `e`'s value into `regs` as an instruction writing `e.dest` would: a 64-bit register
/// whole, a 32-bit one zero-extended, a 16-bit one merged into the low bits.
pub(crate) fn apply(regs: &mut kvm_regs, e: Emulation) {
    let Some((index, size)) = gpr(e.dest) else {
        return;
    };
    // In encoding order, as iced-x86 numbers them.
    let slot = match index {
        0 => &mut regs.rax,
        1 => &mut regs.rcx,
        2 => &mut regs.rdx,
        3 => &mut regs.rbx,
        4 => &mut regs.rsp,
        5 => &mut regs.rbp,
        6 => &mut regs.rsi,
        7 => &mut regs.rdi,
        8 => &mut regs.r8,
        9 => &mut regs.r9,
        10 => &mut regs.r10,
        11 => &mut regs.r11,
        12 => &mut regs.r12,
        13 => &mut regs.r13,
        14 => &mut regs.r14,
        _ => &mut regs.r15,
    };
    *slot = match size {
        8 => e.value,
        4 => e.value & 0xFFFF_FFFF,
        _ => (*slot & !0xFFFF) | (e.value & 0xFFFF),
    };
    regs.rip = regs.rip.wrapping_add(e.len);
}

/// A 16-, 32- or 64-bit general-purpose register: its number in encoding order (0 = `ax`,
/// 2 = `dx`, 8 = `r8`, ...) and its size in bytes. (iced-x86 numbers each size's 16 registers
/// consecutively; its own register info needs a feature this host does not build.)
fn gpr(reg: Register) -> Option<(u32, u8)> {
    let r = reg as u32;
    [(Register::RAX, 8), (Register::EAX, 4), (Register::AX, 2)].into_iter().find_map(
        |(base, size)| {
            let index = r.checked_sub(base as u32).filter(|&i| i < 16)?;
            Some((index, size))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CR: ControlRegs =
        ControlRegs { cr0: 0x8001_0033, cr2: 0x1234, cr3: 0x1F_2000, cr4: 0x620 };

    fn emulate(code: &[u8]) -> Option<Emulation> {
        decode(code, 0x100, CR)
    }

    #[test]
    fn control_register_reads_are_emulated() {
        // mov rdx, cr0 (seed 003's loader)
        assert_eq!(
            emulate(&[0x0F, 0x20, 0xC2, 0xF4]),
            Some(Emulation { dest: Register::RDX, value: 0x8001_0033, len: 3 })
        );
        // mov rax, cr2 / cr3 / cr4
        assert_eq!(emulate(&[0x0F, 0x20, 0xD0]).map(|e| e.value), Some(0x1234));
        assert_eq!(emulate(&[0x0F, 0x20, 0xD8]).map(|e| e.value), Some(0x1F_2000));
        assert_eq!(emulate(&[0x0F, 0x20, 0xE0]).map(|e| e.value), Some(0x620));
        // mov rax, cr8 (REX.R)
        assert_eq!(
            emulate(&[0x44, 0x0F, 0x20, 0xC0]),
            Some(Emulation { dest: Register::RAX, value: 0, len: 4 })
        );
        // mov r9, cr0 (REX.B)
        assert_eq!(emulate(&[0x41, 0x0F, 0x20, 0xC1]).map(|e| e.dest), Some(Register::R9));
    }

    #[test]
    fn smsw_to_a_register_is_emulated() {
        // smsw eax
        assert_eq!(
            emulate(&[0x0F, 0x01, 0xE0]),
            Some(Emulation { dest: Register::EAX, value: 0x8001_0033, len: 3 })
        );
        // smsw ax
        assert_eq!(
            emulate(&[0x66, 0x0F, 0x01, 0xE0]).map(|e| (e.dest, e.len)),
            Some((Register::AX, 4))
        );
    }

    #[test]
    fn everything_else_stays_a_fault() {
        for code in [
            &[0x0F, 0x22, 0xC0][..], // mov cr0, rax
            &[0x0F, 0x01, 0x20],     // smsw [rax]
            &[0xF4],                 // hlt
            &[0xFA],                 // cli
            &[0x0F, 0x01, 0x10],     // lgdt [rax]
            &[0x0F, 0x20, 0xC8],     // mov rax, cr1 (#UD everywhere)
            &[0x48, 0x89, 0xC2],     // mov rdx, rax (not privileged)
            &[0x0F, 0x20],           // cut short
            &[],
        ] {
            assert_eq!(emulate(code), None, "{code:x?}");
        }
    }

    #[test]
    fn apply_sizes_the_write_and_moves_rip() {
        let mut regs = kvm_regs { rip: 0x100, rax: u64::MAX, rdx: 7, ..Default::default() };
        apply(&mut regs, Emulation { dest: Register::RDX, value: 0x8001_0033, len: 3 });
        assert_eq!((regs.rdx, regs.rip), (0x8001_0033, 0x103));
        apply(&mut regs, Emulation { dest: Register::EAX, value: 0x1_8001_0033, len: 3 });
        assert_eq!(regs.rax, 0x8001_0033);
        regs.rax = u64::MAX;
        apply(&mut regs, Emulation { dest: Register::AX, value: 0x8001_0033, len: 4 });
        assert_eq!((regs.rax, regs.rip), (0xFFFF_FFFF_FFFF_0033, 0x10A));
    }
}
