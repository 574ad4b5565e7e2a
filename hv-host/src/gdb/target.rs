//! The guest as gdb sees it: `gdbstub`'s `Target` for a [`Vm`], single-threaded x86-64 with
//! the core and SSE registers (`gdbstub_arch`'s `X86_64_SSE`).
//!
//! Every method runs while the guest is stopped, when its vCPU holds the guest's own ring-3
//! registers (see `Step::Debug`), so registers go straight to and from KVM. Two limits keep
//! gdb within what the guest itself could do:
//! - register writes change the general registers, RIP, the arithmetic flags (and the FPU and
//!   SSE state), never the segment registers, IOPL or IF: gdb cannot put the guest in ring 0;
//! - memory is reached through the guest's own page tables, and only where its ring-3 code may
//!   reach (never the page tables, descriptor tables, stubs or ring-0 stack).

use gdbstub::arch::Arch;
use gdbstub::common::Signal;
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint, SwBreakpointOps,
    WatchKind,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::X86_64_SSE;
use gdbstub_arch::x86::reg::{X86_64CoreRegs, X86SegmentRegs, X87FpuInternalRegs};
use hv_core::paging;
use kvm_bindings::{kvm_fpu, kvm_regs};

use super::breakpoints::CodeBytes;
use super::stop::Resume;
use crate::guest::{Debuggee, Vm};
use crate::memory::GuestRam;

/// Why a debugger request failed for good (the session ends).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DebugError {
    /// A KVM register call failed.
    #[error("KVM: {0}")]
    Kvm(#[from] kvm_ioctls::Error),
    /// The debugger was detached meanwhile.
    #[error("no debugger is attached")]
    Detached,
}

/// RFLAGS bits gdb may change: the arithmetic flags and DF (CF PF AF ZF SF DF OF); not TF,
/// which the stub sets for gdb's steps, nor IF, IOPL or anything else that changes how the
/// guest is run.
const WRITABLE_FLAGS: u64 = 0x0CD5;

/// The defined MXCSR bits: a value with others set would make the FPU restore fail.
const MXCSR_BITS: u32 = 0xFFFF;

fn debuggee<'v>(vm: &'v mut Vm<'_>) -> Result<Debuggee<'v>, TargetError<DebugError>> {
    vm.debuggee().ok_or(TargetError::Fatal(DebugError::Detached))
}

fn kvm(e: kvm_ioctls::Error) -> TargetError<DebugError> {
    TargetError::Fatal(DebugError::Kvm(e))
}

/// The x87 tag word gdb shows (two bits per register) from FXSAVE's abridged one (a bit per
/// register): a register in use is "valid" (00), the others "empty" (11).
fn full_tag(abridged: u8) -> u32 {
    (0..8).filter(|i| abridged & (1 << i) == 0).map(|i| 3 << (2 * i)).sum()
}

/// The abridged tag byte from gdb's full tag word.
fn abridged_tag(full: u32) -> u8 {
    (0..8).filter(|i| (full >> (2 * i)) & 3 != 3).map(|i| 1u8 << i).sum()
}

/// gdb's register file from KVM's general, segment and FPU registers.
pub(crate) fn to_gdb(r: &kvm_regs, s: &kvm_bindings::kvm_sregs, f: &kvm_fpu) -> X86_64CoreRegs {
    let mut st = [[0u8; 10]; 8];
    for (to, from) in st.iter_mut().zip(&f.fpr) {
        to.copy_from_slice(&from[..10]);
    }
    X86_64CoreRegs {
        regs: [
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15,
        ],
        eflags: r.rflags as u32,
        rip: r.rip,
        segments: X86SegmentRegs {
            cs: s.cs.selector.into(),
            ss: s.ss.selector.into(),
            ds: s.ds.selector.into(),
            es: s.es.selector.into(),
            fs: s.fs.selector.into(),
            gs: s.gs.selector.into(),
        },
        st,
        fpu: X87FpuInternalRegs {
            fctrl: f.fcw.into(),
            fstat: f.fsw.into(),
            ftag: full_tag(f.ftwx),
            fiseg: 0,
            fioff: f.last_ip as u32,
            foseg: 0,
            fooff: f.last_dp as u32,
            fop: f.last_opcode.into(),
        },
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
        rflags: (r.rflags & !WRITABLE_FLAGS) | (u64::from(g.eflags) & WRITABLE_FLAGS),
    };
    for (to, from) in f.fpr.iter_mut().zip(&g.st) {
        to[..10].copy_from_slice(from);
    }
    f.fcw = g.fpu.fctrl as u16;
    f.fsw = g.fpu.fstat as u16;
    f.ftwx = abridged_tag(g.fpu.ftag);
    f.last_opcode = g.fpu.fop as u16;
    f.xmm = g.xmm.map(u128::to_le_bytes);
    if g.mxcsr & !MXCSR_BITS == 0 {
        f.mxcsr = g.mxcsr;
    }
}

/// Guest RAM as the breakpoint table writes it: by guest-physical address, user memory only.
pub(crate) struct Code<'a>(pub(crate) &'a GuestRam);

impl CodeBytes for Code<'_> {
    fn read(&self, gpa: u64) -> Option<u8> {
        self.0.user_range(gpa, 1).ok()?;
        self.0.read_u8(gpa)
    }

    fn write(&self, gpa: u64, byte: u8) -> bool {
        self.0.user_range(gpa, 1).and_then(|r| self.0.write_range(r, &[byte])).is_ok()
    }
}

/// The guest-physical address of guest-virtual `va` and the bytes left in its page, if the
/// guest's own ring-3 code may reach it and it is the guest's memory.
fn user_gpa(ram: &GuestRam, cr3: u64, va: u64) -> Option<(u64, u64)> {
    let t = paging::translate(ram, cr3, va)?;
    if !t.user {
        return None;
    }
    let gpa = t.gpa.as_u64();
    let left = t.page_size - (gpa & (t.page_size - 1));
    ram.user_range(gpa, 1).ok()?;
    Some((gpa, left))
}

/// The pieces of `[va, va + len)` as (guest-physical address, offset in the request, length),
/// each in one page; stops at the first byte the guest could not reach.
fn pieces(ram: &GuestRam, cr3: u64, va: u64, len: usize) -> Vec<(u64, usize, usize)> {
    let mut out = Vec::new();
    let mut done = 0usize;
    while done < len {
        let Some(at) = va.checked_add(done as u64) else { break };
        let Some((gpa, left)) = user_gpa(ram, cr3, at) else { break };
        let n = (len - done).min(usize::try_from(left).unwrap_or(usize::MAX));
        if ram.user_range(gpa, n as u64).is_err() {
            break;
        }
        out.push((gpa, done, n));
        done += n;
    }
    out
}

impl Target for Vm<'_> {
    type Arch = X86_64_SSE;
    type Error = DebugError;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadBase for Vm<'_> {
    fn read_registers(&mut self, regs: &mut X86_64CoreRegs) -> TargetResult<(), Self> {
        let d = debuggee(self)?;
        let r = d.vcpu.get_regs().map_err(kvm)?;
        let s = d.vcpu.get_sregs().map_err(kvm)?;
        let f = d.vcpu.get_fpu().map_err(kvm)?;
        *regs = to_gdb(&r, &s, &f);
        Ok(())
    }

    fn write_registers(&mut self, regs: &X86_64CoreRegs) -> TargetResult<(), Self> {
        let d = debuggee(self)?;
        if d.parked_in {
            // The console read at RIP has not completed: a register write now would lose its
            // byte (see `Vm::settle`). gdb says "Could not write registers".
            return Err(TargetError::Errno(libc::EBUSY as u8));
        }
        let mut r = d.vcpu.get_regs().map_err(kvm)?;
        let mut f = d.vcpu.get_fpu().map_err(kvm)?;
        from_gdb(regs, &mut r, &mut f);
        d.vcpu.set_fpu(&f).map_err(kvm)?;
        d.vcpu.set_regs(&r).map_err(kvm)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let d = debuggee(self)?;
        let mut read = 0;
        for (gpa, at, n) in pieces(d.ram, d.debug.cr3, start, data.len()) {
            let Ok(range) = d.ram.user_range(gpa, n as u64) else { break };
            if d.ram.read_range(range, &mut data[at..at + n]).is_err() {
                break;
            }
            read = at + n;
        }
        if read == 0 && !data.is_empty() {
            return Err(TargetError::Errno(libc::EFAULT as u8));
        }
        d.debug.breakpoints.mask(&Code(d.ram), start, &mut data[..read]);
        Ok(read)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8]) -> TargetResult<(), Self> {
        let d = debuggee(self)?;
        let pieces = pieces(d.ram, d.debug.cr3, start, data.len());
        if pieces.iter().map(|p| p.2).sum::<usize>() != data.len() {
            return Err(TargetError::Errno(libc::EFAULT as u8));
        }
        let mut data = data.to_vec();
        d.debug.breakpoints.absorb(start, &mut data);
        for (gpa, at, n) in pieces {
            let range = d.ram.user_range(gpa, n as u64).map_err(|_| TargetError::NonFatal)?;
            d.ram.write_range(range, &data[at..at + n]).map_err(|_| TargetError::NonFatal)?;
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for Vm<'_> {
    fn resume(&mut self, signal: Option<Signal>) -> Result<(), Self::Error> {
        let d = self.debuggee().ok_or(DebugError::Detached)?;
        d.debug.resume = Some(Resume { step: false, signal });
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for Vm<'_> {
    fn step(&mut self, signal: Option<Signal>) -> Result<(), Self::Error> {
        let d = self.debuggee().ok_or(DebugError::Detached)?;
        d.debug.resume = Some(Resume { step: true, signal });
        Ok(())
    }
}

impl Breakpoints for Vm<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

/// Write watchpoints, emulated by stepping (see `watch`); read watchpoints are refused.
impl HwWatchpoint for Vm<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let d = debuggee(self)?;
        if kind != WatchKind::Write || len == 0 || len > super::watch::MAX_WATCH_LEN {
            return Ok(false);
        }
        let pieces = pieces(d.ram, d.debug.cr3, addr, len as usize);
        if pieces.iter().map(|p| p.2).sum::<usize>() != len as usize {
            return Ok(false);
        }
        let mut value = vec![0u8; len as usize];
        for &(gpa, at, n) in &pieces {
            let Ok(range) = d.ram.user_range(gpa, n as u64) else { return Ok(false) };
            if d.ram.read_range(range, &mut value[at..at + n]).is_err() {
                return Ok(false);
            }
        }
        let pieces = pieces.into_iter().map(|(gpa, _, n)| (gpa, n)).collect();
        Ok(d.debug.watchpoints.insert(addr, len, pieces, value))
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        _kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let d = debuggee(self)?;
        Ok(d.debug.watchpoints.remove(addr, len))
    }
}

/// Reads `buf.len()` bytes of user memory at guest-physical `gpa` (for the watchpoints).
pub(crate) fn read_user(ram: &GuestRam, gpa: u64, buf: &mut [u8]) -> bool {
    ram.user_range(gpa, buf.len() as u64).and_then(|r| ram.read_range(r, buf)).is_ok()
}

impl SwBreakpoint for Vm<'_> {
    fn add_sw_breakpoint(
        &mut self,
        addr: u64,
        _kind: <Self::Arch as Arch>::BreakpointKind,
    ) -> TargetResult<bool, Self> {
        let d = debuggee(self)?;
        let Some((gpa, _)) = user_gpa(d.ram, d.debug.cr3, addr) else {
            return Ok(false);
        };
        Ok(d.debug.breakpoints.insert(&Code(d.ram), addr, gpa))
    }

    fn remove_sw_breakpoint(
        &mut self,
        addr: u64,
        _kind: <Self::Arch as Arch>::BreakpointKind,
    ) -> TargetResult<bool, Self> {
        let d = debuggee(self)?;
        Ok(d.debug.breakpoints.remove(&Code(d.ram), addr))
    }
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
        let mut s = kvm_bindings::kvm_sregs::default();
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
    fn tag_words_convert_both_ways() {
        for abridged in [0u8, 1, 0x80, 0xFF, 0x5A] {
            assert_eq!(abridged_tag(full_tag(abridged)), abridged);
        }
        assert_eq!(full_tag(0), 0xFFFF);
        assert_eq!(full_tag(0xFF), 0);
    }
}
