//! The guest's registers between KVM and gdb: x86-64's set in long mode, i386's in the 16- and
//! 32-bit modes (see `arch`), and the limits on what gdb may change.
//!
//! gdb writes the general registers, the instruction pointer, the arithmetic flags and the FPU
//! and SSE state, never the segment registers, IOPL, IF or TF: in long mode that keeps the guest
//! in ring 3, and in every mode it keeps the stub's own use of TF and the guest's mode intact.
//!
//! In real mode gdb's program counter (`eip`) is the **linear** address CS * 16 + IP. gdb knows
//! nothing of segments, and the image's symbols, its breakpoints (DR0-DR3 compare linear
//! addresses) and `x/i $pc` all need the linear address; IP itself is `$eip - $cs * 16`. A
//! `set $pc` that is not in the current code segment is refused.

use gdbstub_arch::x86::reg::{X86_64CoreRegs, X86CoreRegs, X86SegmentRegs, X87FpuInternalRegs};
use hv_core::mode::CpuMode;
use kvm_bindings::{kvm_fpu, kvm_regs, kvm_sregs};

/// RFLAGS bits gdb may change: the arithmetic flags and DF (CF PF AF ZF SF DF OF); not TF,
/// which the stub sets for gdb's steps, nor IF, IOPL or anything else that changes how the
/// guest is run.
const WRITABLE_FLAGS: u64 = 0x0CD5;

/// The defined MXCSR bits: a value with others set would make the FPU restore fail.
const MXCSR_BITS: u32 = 0xFFFF;

/// A program counter gdb wrote that the guest's mode cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfSegment;

/// The x87 tag word gdb shows (two bits per register) from FXSAVE's abridged one (a bit per
/// register): a register in use is "valid" (00), the others "empty" (11).
fn full_tag(abridged: u8) -> u32 {
    (0..8).filter(|i| abridged & (1 << i) == 0).map(|i| 3 << (2 * i)).sum()
}

/// The abridged tag byte from gdb's full tag word.
fn abridged_tag(full: u32) -> u8 {
    (0..8).filter(|i| (full >> (2 * i)) & 3 != 3).map(|i| 1u8 << i).sum()
}

fn segments(s: &kvm_sregs) -> X86SegmentRegs {
    X86SegmentRegs {
        cs: s.cs.selector.into(),
        ss: s.ss.selector.into(),
        ds: s.ds.selector.into(),
        es: s.es.selector.into(),
        fs: s.fs.selector.into(),
        gs: s.gs.selector.into(),
    }
}

fn st(f: &kvm_fpu) -> [[u8; 10]; 8] {
    let mut st = [[0u8; 10]; 8];
    for (to, from) in st.iter_mut().zip(&f.fpr) {
        to.copy_from_slice(&from[..10]);
    }
    st
}

fn fpu(f: &kvm_fpu) -> X87FpuInternalRegs {
    X87FpuInternalRegs {
        fctrl: f.fcw.into(),
        fstat: f.fsw.into(),
        ftag: full_tag(f.ftwx),
        fiseg: 0,
        fioff: f.last_ip as u32,
        foseg: 0,
        fooff: f.last_dp as u32,
        fop: f.last_opcode.into(),
    }
}

/// gdb's FPU and SSE registers written over `f` (as many XMM registers as gdb has).
fn fpu_from_gdb(
    st: &[[u8; 10]; 8],
    fpu: &X87FpuInternalRegs,
    xmm: &[u128],
    mxcsr: u32,
    f: &mut kvm_fpu,
) {
    for (to, from) in f.fpr.iter_mut().zip(st) {
        to[..10].copy_from_slice(from);
    }
    f.fcw = fpu.fctrl as u16;
    f.fsw = fpu.fstat as u16;
    f.ftwx = abridged_tag(fpu.ftag);
    f.last_opcode = fpu.fop as u16;
    for (to, from) in f.xmm.iter_mut().zip(xmm) {
        *to = from.to_le_bytes();
    }
    if mxcsr & !MXCSR_BITS == 0 {
        f.mxcsr = mxcsr;
    }
}

fn flags_from_gdb(old: u64, eflags: u32) -> u64 {
    (old & !WRITABLE_FLAGS) | (u64::from(eflags) & WRITABLE_FLAGS)
}

/// gdb's register file from KVM's general, segment and FPU registers (long mode).
pub(crate) fn to_gdb(r: &kvm_regs, s: &kvm_sregs, f: &kvm_fpu) -> X86_64CoreRegs {
    X86_64CoreRegs {
        regs: [
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15,
        ],
        eflags: r.rflags as u32,
        rip: r.rip,
        segments: segments(s),
        st: st(f),
        fpu: fpu(f),
        xmm: f.xmm.map(u128::from_le_bytes),
        mxcsr: f.mxcsr,
    }
}

/// KVM's general and FPU registers with gdb's values written over `r` and `f`, within what
/// gdb may change (see the module's doc).
pub(crate) fn from_gdb(g: &X86_64CoreRegs, r: &mut kvm_regs, f: &mut kvm_fpu) {
    let [rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15] = g.regs;
    *r = kvm_regs {
        rax,
        rbx,
        rcx,
        rdx,
        rsi,
        rdi,
        rbp,
        rsp,
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
        rip: g.rip,
        rflags: flags_from_gdb(r.rflags, g.eflags),
    };
    fpu_from_gdb(&g.st, &g.fpu, &g.xmm, g.mxcsr, f);
}

/// gdb's i386 register file for a guest in a 16- or 32-bit `mode` (real mode's `eip` is
/// linear: see the module's doc).
pub(crate) fn to_gdb32(mode: CpuMode, r: &kvm_regs, s: &kvm_sregs, f: &kvm_fpu) -> X86CoreRegs {
    let low = |v: u64| v as u32;
    let eip = match mode {
        CpuMode::Real => s.cs.base.wrapping_add(r.rip & 0xFFFF),
        _ => r.rip,
    };
    let mut xmm = [0u128; 8];
    for (to, from) in xmm.iter_mut().zip(&f.xmm) {
        *to = u128::from_le_bytes(*from);
    }
    X86CoreRegs {
        eax: low(r.rax),
        ecx: low(r.rcx),
        edx: low(r.rdx),
        ebx: low(r.rbx),
        esp: low(r.rsp),
        ebp: low(r.rbp),
        esi: low(r.rsi),
        edi: low(r.rdi),
        eip: low(eip),
        eflags: low(r.rflags),
        segments: segments(s),
        st: st(f),
        fpu: fpu(f),
        xmm,
        mxcsr: f.mxcsr,
    }
}

/// KVM's registers with gdb's i386 values written over `r` and `f` (see [`from_gdb`]); in
/// real mode `eip` must lie in the current code segment.
pub(crate) fn from_gdb32(
    mode: CpuMode,
    g: &X86CoreRegs,
    s: &kvm_sregs,
    r: &mut kvm_regs,
    f: &mut kvm_fpu,
) -> Result<(), OutOfSegment> {
    let rip = match mode {
        CpuMode::Real => {
            let ip = u64::from(g.eip).checked_sub(s.cs.base).ok_or(OutOfSegment)?;
            if ip > 0xFFFF {
                return Err(OutOfSegment);
            }
            ip
        }
        _ => g.eip.into(),
    };
    *r = kvm_regs {
        rax: g.eax.into(),
        rbx: g.ebx.into(),
        rcx: g.ecx.into(),
        rdx: g.edx.into(),
        rsi: g.esi.into(),
        rdi: g.edi.into(),
        rbp: g.ebp.into(),
        rsp: g.esp.into(),
        rip,
        rflags: flags_from_gdb(r.rflags, g.eflags),
        ..*r
    };
    fpu_from_gdb(&g.st, &g.fpu, &g.xmm, g.mxcsr, f);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_and_gdb_cannot_leave_ring_3() {
        let r = kvm_regs {
            rax: 1,
            r15: 16,
            rip: 0x1234,
            rsp: 0x7000,
            rflags: 0x202,
            ..Default::default()
        };
        let mut s = kvm_sregs::default();
        s.cs.selector = 0x2b;
        s.ss.selector = 0x23;
        let f = kvm_fpu { fcw: 0x37F, ftwx: 0b1000_0001, mxcsr: 0x1F80, ..Default::default() };
        let mut g = to_gdb(&r, &s, &f);
        assert_eq!((g.regs[0], g.regs[15], g.regs[7], g.rip), (1, 16, 0x7000, 0x1234));
        assert_eq!((g.segments.cs, g.segments.ss), (0x2b, 0x23));
        assert_eq!(g.fpu.ftag, 0x3FFC); // registers 0 and 7 in use
        // gdb writes: new values, ring 0's CS, IOPL 3 and IF cleared, a carry and TF.
        g.regs[0] = 42;
        g.rip = 0x2000;
        g.segments.cs = 0x8;
        g.eflags = 0x3000 | 0x1 | 0x100;
        g.mxcsr = 0x1F81;
        let (mut r2, mut f2) = (r, f);
        from_gdb(&g, &mut r2, &mut f2);
        assert_eq!((r2.rax, r2.rip, r2.rsp), (42, 0x2000, 0x7000));
        assert_eq!(r2.rflags, 0x202 | 0x1);
        assert_eq!((f2.ftwx, f2.mxcsr), (0b1000_0001, 0x1F81));
        // An MXCSR the FPU would refuse is not taken.
        g.mxcsr = 0x1_0000;
        from_gdb(&g, &mut r2, &mut f2);
        assert_eq!(f2.mxcsr, 0x1F81);
    }

    #[test]
    fn real_mode_shows_the_linear_program_counter() {
        let r = kvm_regs {
            rax: 0x1_0000_002A,
            rip: 0x0007,
            rsp: 0xFFF0,
            rflags: 2,
            ..Default::default()
        };
        let mut s = kvm_sregs::default();
        s.cs.selector = 0x1000;
        s.cs.base = 0x10000;
        let f = kvm_fpu { xmm: [[1; 16]; 16], ..Default::default() };
        let mut g = to_gdb32(CpuMode::Real, &r, &s, &f);
        assert_eq!((g.eip, g.eax, g.esp, g.segments.cs), (0x10007, 0x2A, 0xFFF0, 0x1000));
        assert_eq!(g.xmm[7], u128::from_le_bytes([1; 16]));
        // `set $pc` within the segment moves IP; outside it is refused, nothing changed.
        g.eip = 0x1FFFF;
        let (mut r2, mut f2) = (r, f);
        assert_eq!(from_gdb32(CpuMode::Real, &g, &s, &mut r2, &mut f2), Ok(()));
        assert_eq!((r2.rip, r2.rax), (0xFFFF, 0x2A));
        for outside in [0x20000, 0xFFFF] {
            g.eip = outside;
            let mut r3 = r;
            assert_eq!(from_gdb32(CpuMode::Real, &g, &s, &mut r3, &mut f2), Err(OutOfSegment));
            assert_eq!(r3, r);
        }
        // 32-bit modes: EIP as it is; the flags gdb may not touch stay.
        s.cs.base = 0;
        let mut g = to_gdb32(CpuMode::Protected, &r, &s, &f);
        assert_eq!(g.eip, 7);
        g.eip = 0x1234;
        g.eflags = 0x3201;
        assert_eq!(from_gdb32(CpuMode::Protected, &g, &s, &mut r2, &mut f2), Ok(()));
        assert_eq!((r2.rip, r2.rflags), (0x1234, 0x3));
    }

    #[test]
    fn tag_words_convert_both_ways() {
        for abridged in [0u8, 1, 0x80, 0xFF, 0x5A] {
            assert_eq!(abridged_tag(full_tag(abridged)), abridged);
        }
        assert_eq!(full_tag(0), 0xFFFF);
        assert_eq!(full_tag(0xFF), 0);
    }
}
