//! The guest's IDT and the host's ring-0 exception stubs.
//!
//! Every CPU exception (vectors 0-31) enters a 16-byte ring-0 stub that pushes a dummy error
//! code where the CPU pushes none, saves `rdx` (which it needs for the port number), pushes the
//! vector, and reports with an `out` to [`crate::proto::EXCEPTION_PORT`]. The host then reads the
//! frame from the ring-0 stack and decides: a ring-3 `hlt` (which faults with #GP in ring 3) is
//! the seed's way to end a guest and becomes a normal halt; a harmless privileged instruction
//! (a control-register read) is emulated and the guest resumed past it, with every register
//! restored from the frame (which is why the stub saves `rdx`); anything else fails the guest
//! with a report. The
//! decision is made on the host, not in the stub, so a guest with a wild RIP cannot make the
//! handler fault while inspecting it; ring-0 code is also emulated on our KVM (slow), so the
//! stubs do as little as possible.

use crate::layout::{IDT_OFFSET, Layout, MMIO_PT_OFFSET, STUBS_OFFSET};
use crate::phys::PhysMem;
use crate::proto::EXCEPTION_PORT;

/// Number of IDT gates: the 32 CPU exception vectors. Software `int n` past them is a #GP.
pub const IDT_GATES: u64 = 32;
/// Size of one IDT gate in long mode.
pub const GATE_SIZE: u64 = 16;
/// Size of one exception stub.
pub const STUB_SIZE: u64 = 16;

// The gates and the stubs share one frame of the reserved region.
const _: () = assert!(
    IDT_GATES * GATE_SIZE <= STUBS_OFFSET - IDT_OFFSET
        && IDT_GATES * STUB_SIZE <= MMIO_PT_OFFSET - STUBS_OFFSET,
    "IDT and stubs overflow their frame"
);

/// Words the stub and the CPU leave on the ring-0 stack, lowest address first, when the stub
/// reports: what the host reads at RSP. Its `Debug` shows every word in `0x` hex, as the
/// host's register dump does.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct ExceptionFrame {
    /// Exception vector (pushed by the stub).
    pub vector: u64,
    /// The guest's `rdx` at the fault (pushed by the stub before it uses `dx`).
    pub rdx: u64,
    /// Error code (pushed by the CPU, or a 0 pushed by the stub).
    pub error_code: u64,
    /// RIP of the faulting instruction.
    pub rip: u64,
    /// CS at the fault; its low two bits are the CPL the guest ran at.
    pub cs: u64,
    /// RFLAGS at the fault.
    pub rflags: u64,
    /// RSP at the fault.
    pub rsp: u64,
    /// SS at the fault.
    pub ss: u64,
}

/// Words in an [`ExceptionFrame`].
pub const FRAME_WORDS: u64 = 8;

const _: () = assert!(core::mem::size_of::<ExceptionFrame>() as u64 == FRAME_WORDS * 8);
const _: () = assert!(core::mem::offset_of!(ExceptionFrame, rdx) == 8);
const _: () = assert!(core::mem::offset_of!(ExceptionFrame, rip) == 24);

impl core::fmt::Debug for ExceptionFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        /// A word in `0x` hex, whatever flags the caller formats the frame with.
        struct Hex(u64);
        impl core::fmt::Debug for Hex {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
        f.debug_struct("ExceptionFrame")
            .field("vector", &Hex(self.vector))
            .field("rdx", &Hex(self.rdx))
            .field("error_code", &Hex(self.error_code))
            .field("rip", &Hex(self.rip))
            .field("cs", &Hex(self.cs))
            .field("rflags", &Hex(self.rflags))
            .field("rsp", &Hex(self.rsp))
            .field("ss", &Hex(self.ss))
            .finish()
    }
}

impl ExceptionFrame {
    /// The frame from its words, lowest address first.
    pub const fn from_words(w: [u64; FRAME_WORDS as usize]) -> Self {
        ExceptionFrame {
            vector: w[0],
            rdx: w[1],
            error_code: w[2],
            rip: w[3],
            cs: w[4],
            rflags: w[5],
            rsp: w[6],
            ss: w[7],
        }
    }
}

macro_rules! exceptions {
    ($($(#[$doc:meta])* $name:ident = $v:literal, $text:literal, $err:literal;)*) => {
        /// The CPU exceptions (SDM Vol. 3A, Table 6-1).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(u8)]
        pub enum Exception {
            $($(#[$doc])* $name = $v,)*
        }

        impl Exception {
            /// What a person reads: "page fault", "invalid opcode", ...
            pub const fn description(self) -> &'static str {
                match self { $(Exception::$name => $text,)* }
            }

            /// True if the CPU pushes an error code for it.
            pub const fn has_error_code(self) -> bool {
                match self { $(Exception::$name => $err,)* }
            }
        }

        impl TryFrom<u8> for Exception {
            type Error = u8;
            fn try_from(v: u8) -> Result<Self, u8> {
                match v { $($v => Ok(Exception::$name),)* other => Err(other) }
            }
        }
    };
}

exceptions! {
    /// #DE
    DivideError = 0, "divide error", false;
    /// #DB
    Debug = 1, "debug exception", false;
    /// NMI
    Nmi = 2, "non-maskable interrupt", false;
    /// #BP
    Breakpoint = 3, "breakpoint", false;
    /// #OF
    Overflow = 4, "overflow", false;
    /// #BR
    BoundRange = 5, "bound range exceeded", false;
    /// #UD
    InvalidOpcode = 6, "invalid opcode", false;
    /// #NM
    DeviceNotAvailable = 7, "device not available", false;
    /// #DF
    DoubleFault = 8, "double fault", true;
    /// Coprocessor segment overrun (reserved since the 486).
    CoprocessorOverrun = 9, "coprocessor segment overrun", false;
    /// #TS
    InvalidTss = 10, "invalid TSS", true;
    /// #NP
    SegmentNotPresent = 11, "segment not present", true;
    /// #SS
    StackFault = 12, "stack-segment fault", true;
    /// #GP
    GeneralProtection = 13, "general protection fault", true;
    /// #PF
    PageFault = 14, "page fault", true;
    /// #MF
    X87Fpu = 16, "x87 floating-point error", false;
    /// #AC
    AlignmentCheck = 17, "alignment check", true;
    /// #MC
    MachineCheck = 18, "machine check", false;
    /// #XM
    SimdFloatingPoint = 19, "SIMD floating-point exception", false;
    /// #VE
    Virtualization = 20, "virtualization exception", false;
    /// #CP
    ControlProtection = 21, "control protection exception", true;
}

/// The machine code of the stub for `vector`, padded with `int3`.
pub fn stub_code(vector: u8) -> [u8; STUB_SIZE as usize] {
    let mut code = [0xCC; STUB_SIZE as usize];
    let mut n = 0;
    let mut emit = |bytes: &[u8]| {
        for b in bytes {
            code[n] = *b;
            n += 1;
        }
    };
    let pushes_error = Exception::try_from(vector).is_ok_and(Exception::has_error_code);
    if !pushes_error {
        emit(&[0x6A, 0x00]); // push 0            (dummy error code)
    }
    emit(&[0x52]); // push rdx           (the guest's, restored if it is resumed)
    emit(&[0x6A, vector]); // push vector
    let [lo, hi] = EXCEPTION_PORT.to_le_bytes();
    emit(&[0x66, 0xBA, lo, hi]); // mov dx, EXCEPTION_PORT
    emit(&[0xEE]); // out dx, al   (the host takes over here)
    emit(&[0xF4, 0xEB, 0xFD]); // 1: hlt; jmp 1b   (never resumed)
    code
}

/// The 16-byte interrupt gate for a ring-0 handler at `handler` (SDM Vol. 3A, Figure 6-8):
/// present, DPL 0 (so a ring-3 `int n` is a #GP, not a way in), no IST.
pub fn gate(handler: u64, code_selector: u16) -> [u64; 2] {
    const INTERRUPT_GATE_PRESENT: u64 = 0x8E;
    let low = (handler & 0xFFFF)
        | (u64::from(code_selector) << 16)
        | (INTERRUPT_GATE_PRESENT << 40)
        | (((handler >> 16) & 0xFFFF) << 48);
    [low, handler >> 32]
}

/// Size of one IDT gate in 32-bit protected mode.
pub const GATE_SIZE_32: u64 = 8;

/// The 8-byte 32-bit interrupt gate for a ring-0 handler at `handler` (SDM Vol. 3A, Figure
/// 6-2), for the 32-bit protected mode without paging: present, DPL 0.
pub const fn gate32(handler: u32, code_selector: u16) -> u64 {
    const INTERRUPT_GATE_32_PRESENT: u64 = 0x8E;
    (handler as u64 & 0xFFFF)
        | ((code_selector as u64) << 16)
        | (INTERRUPT_GATE_32_PRESENT << 40)
        | (((handler as u64 >> 16) & 0xFFFF) << 48)
}

/// What kind of IDT the guest's mode reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Gates {
    /// 16-byte gates (long mode, whatever the code segment of the interrupted code), whose
    /// stubs run in the 64-bit code segment `selector` names.
    Long {
        /// The 64-bit ring-0 code segment.
        selector: u16,
    },
    /// 8-byte 32-bit gates (protected mode without paging); the stubs run in the 32-bit code
    /// segment `selector` names. The stubs' bytes mean the same in 32-bit code (`push imm8`,
    /// `push edx`, `mov dx, imm16`, `out dx, al`), with 4-byte pushes.
    Legacy32 {
        /// The 32-bit ring-0 code segment.
        selector: u16,
    },
}

impl Gates {
    /// Bytes per gate.
    pub const fn gate_size(self) -> u64 {
        match self {
            Gates::Long { .. } => GATE_SIZE,
            Gates::Legacy32 { .. } => GATE_SIZE_32,
        }
    }

    /// IDTR.limit for [`IDT_GATES`] such gates.
    pub const fn limit(self) -> u16 {
        (IDT_GATES * self.gate_size() - 1) as u16
    }
}

/// Writes the IDT and the stubs into guest memory for long mode, the stubs in the ring-0 code
/// segment of [`crate::gdt`]. Returns `false` if a write fell outside it.
pub fn install(mem: &mut impl PhysMem, layout: Layout) -> bool {
    let selector = crate::gdt::selector(crate::gdt::KERNEL_CODE_INDEX).0;
    install_gates(mem, layout, Gates::Long { selector })
}

/// Writes an IDT of `gates` and the stubs into guest memory. Returns `false` if a write fell
/// outside it.
pub fn install_gates(mem: &mut impl PhysMem, layout: Layout, gates: Gates) -> bool {
    let mut ok = true;
    for v in 0..IDT_GATES {
        let stub = layout.stubs().add(v * STUB_SIZE);
        let at = layout.idt().add(v * gates.gate_size());
        match gates {
            Gates::Long { selector } => {
                let [lo, hi] = gate(stub.as_u64(), selector);
                ok &= mem.write_u64(at, lo);
                ok &= mem.write_u64(at.add(8), hi);
            }
            Gates::Legacy32 { selector } => {
                // The reserved region lies in the first 8 MiB: a 32-bit address.
                ok &= mem.write_u64(at, gate32(stub.as_u64() as u32, selector));
            }
        }
        let code = stub_code(v as u8);
        let (a, b) = code.split_at(8);
        ok &= mem.write_u64(stub, u64::from_le_bytes(a.try_into().unwrap_or([0xCC; 8])));
        ok &= mem.write_u64(stub.add(8), u64::from_le_bytes(b.try_into().unwrap_or([0xCC; 8])));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_stubs() {
        // #DE: no error code, so the stub pushes a dummy one.
        assert_eq!(
            stub_code(0),
            [
                0x6A, 0, 0x52, 0x6A, 0, 0x66, 0xBA, 0x01, 0x05, 0xEE, 0xF4, 0xEB, 0xFD, 0xCC, 0xCC,
                0xCC
            ]
        );
        // #PF: the CPU pushes the error code.
        assert_eq!(
            stub_code(14),
            [
                0x52, 0x6A, 14, 0x66, 0xBA, 0x01, 0x05, 0xEE, 0xF4, 0xEB, 0xFD, 0xCC, 0xCC, 0xCC,
                0xCC, 0xCC
            ]
        );
    }

    #[test]
    fn golden_gate() {
        assert_eq!(gate(0x1F_C010, 0x08), [0x001F_8E00_0008_C010, 0]);
        assert_eq!(gate32(0x1F_C810, 0x08), 0x001F_8E00_0008_C810);
        assert_eq!(Gates::Long { selector: 8 }.limit(), 32 * 16 - 1);
        assert_eq!(Gates::Legacy32 { selector: 8 }.limit(), 32 * 8 - 1);
    }

    #[test]
    fn frame_debug_is_0x_hex_whatever_the_flags() {
        let frame = ExceptionFrame::from_words([14, 0, 6, 0x13b2, 0x23, 0x10006, 0x1e_ff80, 0x1b]);
        let want = "ExceptionFrame { vector: 0xe, rdx: 0x0, error_code: 0x6, rip: 0x13b2, cs: 0x23, \
                    rflags: 0x10006, rsp: 0x1eff80, ss: 0x1b }";
        assert_eq!(std::format!("{frame:?}"), want);
        assert_eq!(std::format!("{frame:x?}"), want);
    }

    #[test]
    fn exception_table() {
        assert_eq!(Exception::try_from(14), Ok(Exception::PageFault));
        assert_eq!(Exception::try_from(15), Err(15));
        assert!(Exception::GeneralProtection.has_error_code());
        assert!(!Exception::InvalidOpcode.has_error_code());
    }
}
