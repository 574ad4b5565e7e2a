//! The registers gdb is given: x86-64's for a long-mode guest, i386's for the 16- and 32-bit
//! modes (`--mode real|protected|paged32`), and the target description that names them.
//!
//! Why two register sets: gdb 13 takes the register layout from the target's architecture, and
//! an x86-64 layout rules out both things a 16- or 32-bit guest needs. With a 32-bit ELF file
//! (`gdb guest32.elf`) gdb refuses the x86-64 description ("Selected architecture i386 is not
//! compatible with reported target architecture i386:x86-64") and then every register read
//! fails ("Remote 'g' packet reply is too long"); `set architecture i8086`, which 16-bit code
//! needs to be disassembled right, fails the same way (measured on gdb 13 against this stub).
//! With i386's layout both work, so the ring-0 modes report it, and the real mode's description
//! names the `i8086` architecture itself, so gdb disassembles 16-bit code with no `set
//! architecture` at all.
//!
//! One `gdbstub` target serves both: [`HvX86`] is an architecture whose registers are either
//! set ([`Regs`]), and the description is chosen per guest (`target`'s
//! `TargetDescriptionXmlOverride`). The descriptions name gdb's SSE feature with no registers of
//! their own, as `gdbstub_arch`'s do, so gdb uses its built-in layout for the architecture.

use gdbstub::arch::{Arch, Registers};
use gdbstub_arch::x86::reg::{X86_64CoreRegs, X86CoreRegs};
use hv_core::mode::CpuMode;

/// x86 as hv's guests run it: 64-bit, 32-bit or 16-bit, by the guest's mode.
pub(crate) enum HvX86 {}

impl Arch for HvX86 {
    type Usize = u64;
    type Registers = Regs;
    type RegId = ();
    type BreakpointKind = usize;
}

/// The bytes of the x86-64 register block (`X86_64CoreRegs`): what gdb sends back for it is at
/// least this long, and an i386 block (308 bytes, 312 with Linux's `orig_eax`) is shorter.
const LONG_BLOCK: usize = 0x218;

/// One guest's registers as gdb sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per register request, on the stack; a box would allocate for each"
)]
pub(crate) enum Regs {
    /// A long-mode guest's.
    Long(X86_64CoreRegs),
    /// A 16- or 32-bit guest's (`eip` is a linear address: see `regs`).
    Legacy(X86CoreRegs),
}

impl Default for Regs {
    fn default() -> Self {
        Regs::Long(X86_64CoreRegs::default())
    }
}

impl Registers for Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        match self {
            Regs::Long(r) => r.rip,
            Regs::Legacy(r) => r.eip.into(),
        }
    }

    fn gdb_serialize(&self, write_byte: impl FnMut(Option<u8>)) {
        match self {
            Regs::Long(r) => r.gdb_serialize(write_byte),
            Regs::Legacy(r) => r.gdb_serialize(write_byte),
        }
    }

    /// gdb writes back the layout it was given, so the length says which it is; the target
    /// refuses a set that is not the guest's mode's.
    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        *self = if bytes.len() >= LONG_BLOCK {
            let mut r = X86_64CoreRegs::default();
            r.gdb_deserialize(bytes)?;
            Regs::Long(r)
        } else {
            let mut r = X86CoreRegs::default();
            r.gdb_deserialize(bytes)?;
            Regs::Legacy(r)
        };
        Ok(())
    }
}

/// The target description for a guest in `mode`.
pub(crate) fn description(mode: CpuMode) -> &'static str {
    match mode {
        CpuMode::Long => {
            r#"<target version="1.0"><architecture>i386:x86-64</architecture><feature name="org.gnu.gdb.i386.sse"></feature></target>"#
        }
        CpuMode::Protected | CpuMode::Paged32 => {
            r#"<target version="1.0"><architecture>i386</architecture><osabi>none</osabi><feature name="org.gnu.gdb.i386.sse"></feature></target>"#
        }
        CpuMode::Real => {
            r#"<target version="1.0"><architecture>i8086</architecture><osabi>none</osabi><feature name="org.gnu.gdb.i386.sse"></feature></target>"#
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(regs: &Regs) -> Vec<u8> {
        let mut out = Vec::new();
        regs.gdb_serialize(|b| out.push(b.unwrap_or(0)));
        out
    }

    #[test]
    fn each_set_round_trips_and_is_told_apart_by_its_length() {
        let long = Regs::Long(X86_64CoreRegs { rip: 0x1234, ..Default::default() });
        let legacy = Regs::Legacy(X86CoreRegs { eip: 0x10005, eax: 7, ..Default::default() });
        for regs in [long, legacy] {
            let mut block = bytes(&regs);
            let mut back = Regs::default();
            assert_eq!(back.gdb_deserialize(&block), Ok(()));
            assert_eq!(back, regs);
            // gdb's i386-linux layout adds `orig_eax` (and x86-64's `orig_rax` and more).
            block.extend([0; 16]);
            assert_eq!(back.gdb_deserialize(&block), Ok(()));
            assert_eq!(back.pc(), regs.pc());
        }
        assert_eq!(Regs::default().gdb_deserialize(&[0; 100]), Err(()));
    }

    #[test]
    fn descriptions_name_the_modes_architectures() {
        assert!(description(CpuMode::Long).contains(">i386:x86-64<"));
        assert!(description(CpuMode::Protected).contains(">i386<"));
        assert!(description(CpuMode::Paged32).contains(">i386<"));
        assert!(description(CpuMode::Real).contains(">i8086<"));
    }
}
