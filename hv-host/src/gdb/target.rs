//! The guest as gdb sees it: `gdbstub`'s `Target` for a [`Vm`], single-threaded x86 with the
//! core and SSE registers: x86-64's in long mode, i386's in the 16- and 32-bit modes (see
//! `arch`).
//!
//! Every method runs while the guest is stopped, when its vCPU holds the guest's own registers
//! (in long mode its ring-3 ones: see `Step::Debug`), so registers go straight to and from KVM.
//! Two limits keep gdb within what the guest itself could do:
//! - register writes change the general registers, the instruction pointer, the arithmetic
//!   flags (and the FPU and SSE state), never the segment registers, IOPL or IF (see `regs`):
//!   gdb cannot put a long-mode guest in ring 0;
//! - memory is reached at the guest's linear addresses, through its own page tables where it
//!   has paging, and only in the guest's part of RAM (never hv's page tables, descriptor
//!   tables, stubs or ring-0 stack); in long mode only where its ring-3 code may reach.
//!
//! Breakpoints are `int3` bytes in long mode (`breakpoints`), the debug registers in the other
//! modes (`hw`: four at most).

use gdbstub::arch::Arch;
use gdbstub::common::Signal;
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::target_description_xml_override::{
    TargetDescriptionXmlOverride, TargetDescriptionXmlOverrideOps,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use hv_core::mode::CpuMode;
use hv_core::paging;

use super::arch::{HvX86, Regs, description};
use super::breakpoints::CodeBytes;
use super::hw::Kind;
use super::regs::{from_gdb, from_gdb32, to_gdb, to_gdb32};
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

/// The bytes of a page where no paging says otherwise: how memory without paging is cut up.
const PAGE: u64 = 4096;

fn debuggee<'v>(vm: &'v mut Vm<'_>) -> Result<Debuggee<'v>, TargetError<DebugError>> {
    vm.debuggee().ok_or(TargetError::Fatal(DebugError::Detached))
}

fn kvm(e: kvm_ioctls::Error) -> TargetError<DebugError> {
    TargetError::Fatal(DebugError::Kvm(e))
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

/// The guest-physical address of the guest's linear address `va` and the bytes left in its
/// page, if it is the guest's memory (see the module's doc): in long mode only where its ring-3
/// code may reach; in paged 32-bit mode through its tables; without paging `va` itself.
fn guest_gpa(d: &Debuggee<'_>, va: u64) -> Option<(u64, u64)> {
    let (gpa, page_size) = match d.mode {
        CpuMode::Long | CpuMode::Paged32 => {
            let t = paging::translate(d.ram, d.debug.cr3, va)?;
            if d.mode == CpuMode::Long && !t.user {
                return None;
            }
            (t.gpa.as_u64(), t.page_size)
        }
        CpuMode::Real | CpuMode::Protected => (d.mode.translate(d.ram, 0, va)?.as_u64(), PAGE),
    };
    let left = page_size - (gpa & (page_size - 1));
    d.ram.user_range(gpa, 1).ok()?;
    Some((gpa, left))
}

/// The pieces of `[va, va + len)` as (guest-physical address, offset in the request, length),
/// each in one page; stops at the first byte the guest could not reach.
fn pieces(d: &Debuggee<'_>, va: u64, len: usize) -> Vec<(u64, usize, usize)> {
    let ram = d.ram;
    let mut out = Vec::new();
    let mut done = 0usize;
    while done < len {
        let Some(at) = va.checked_add(done as u64) else { break };
        let Some((gpa, left)) = guest_gpa(d, at) else { break };
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
    type Arch = HvX86;
    type Error = DebugError;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_target_description_xml_override(
        &mut self,
    ) -> Option<TargetDescriptionXmlOverrideOps<'_, Self>> {
        Some(self)
    }
}

/// The register set and architecture of the guest's mode (see `arch`).
impl TargetDescriptionXmlOverride for Vm<'_> {
    fn target_description_xml(
        &self,
        annex: &[u8],
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        if annex != b"target.xml" {
            return Err(TargetError::NonFatal);
        }
        let xml = description(self.mode()).as_bytes();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(xml.len());
        let n = length.min(buf.len()).min(xml.len() - start);
        buf[..n].copy_from_slice(&xml[start..start + n]);
        Ok(n)
    }
}

impl SingleThreadBase for Vm<'_> {
    fn read_registers(&mut self, regs: &mut Regs) -> TargetResult<(), Self> {
        let d = debuggee(self)?;
        let r = d.vcpu.get_regs().map_err(kvm)?;
        let s = d.vcpu.get_sregs().map_err(kvm)?;
        let f = d.vcpu.get_fpu().map_err(kvm)?;
        *regs = match d.mode {
            CpuMode::Long => Regs::Long(to_gdb(&r, &s, &f)),
            mode => Regs::Legacy(to_gdb32(mode, &r, &s, &f)),
        };
        Ok(())
    }

    fn write_registers(&mut self, regs: &Regs) -> TargetResult<(), Self> {
        let d = debuggee(self)?;
        if d.parked_in {
            // The console read at RIP has not completed: a register write now would lose its
            // byte (see `Vm::settle`). gdb says "Could not write registers".
            return Err(TargetError::Errno(libc::EBUSY as u8));
        }
        let mut r = d.vcpu.get_regs().map_err(kvm)?;
        let mut f = d.vcpu.get_fpu().map_err(kvm)?;
        d.debug.next_pc = None;
        match (d.mode, regs) {
            (CpuMode::Long, Regs::Long(g)) => from_gdb(g, &mut r, &mut f),
            (CpuMode::Long, Regs::Legacy(_)) | (_, Regs::Long(_)) => {
                return Err(TargetError::Errno(libc::EINVAL as u8));
            }
            (mode, Regs::Legacy(g)) => {
                let s = d.vcpu.get_sregs().map_err(kvm)?;
                from_gdb32(mode, g, &s, &mut r, &mut f)
                    .map_err(|_| TargetError::Errno(libc::EINVAL as u8))?;
            }
        }
        d.vcpu.set_fpu(&f).map_err(kvm)?;
        d.vcpu.set_regs(&r).map_err(kvm)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let d = debuggee(self)?;
        let mut read = 0;
        for (gpa, at, n) in pieces(&d, start, data.len()) {
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
        let pieces = pieces(&d, start, data.len());
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

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
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
        let pieces = pieces(&d, addr, len as usize);
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

/// gdb's `break`: an `int3` byte in long mode, a debug register in the other modes.
impl SwBreakpoint for Vm<'_> {
    fn add_sw_breakpoint(
        &mut self,
        addr: u64,
        _kind: <Self::Arch as Arch>::BreakpointKind,
    ) -> TargetResult<bool, Self> {
        let id = self.id();
        let d = debuggee(self)?;
        if d.mode != CpuMode::Long {
            return Ok(insert_hw(id, d, addr, Kind::Software));
        }
        let Some((gpa, _)) = guest_gpa(&d, addr) else {
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
        if d.mode != CpuMode::Long {
            return Ok(d.debug.hw.remove(addr));
        }
        Ok(d.debug.breakpoints.remove(&Code(d.ram), addr))
    }
}

/// Sets a debug-register breakpoint; when all four are taken, says so on stderr, since gdb's
/// own message for a refused breakpoint is "Cannot access memory".
fn insert_hw(id: u32, d: Debuggee<'_>, addr: u64, kind: Kind) -> bool {
    let inserted = d.debug.hw.insert(addr, kind);
    if !inserted {
        log::warn!(
            "guest {id}: gdb's breakpoint at {addr:#x} refused: in --mode {} breakpoints are the CPU's {} debug registers, all in use",
            d.mode,
            super::hw::SLOTS
        );
    }
    inserted
}

/// gdb's `hbreak`: a debug register in the 16- and 32-bit modes; refused in long mode, whose
/// ring-3 code the debug registers never stop (see `hw`).
impl HwBreakpoint for Vm<'_> {
    fn add_hw_breakpoint(
        &mut self,
        addr: u64,
        _kind: <Self::Arch as Arch>::BreakpointKind,
    ) -> TargetResult<bool, Self> {
        let id = self.id();
        let d = debuggee(self)?;
        Ok(d.mode != CpuMode::Long && insert_hw(id, d, addr, Kind::Hardware))
    }

    fn remove_hw_breakpoint(
        &mut self,
        addr: u64,
        _kind: <Self::Arch as Arch>::BreakpointKind,
    ) -> TargetResult<bool, Self> {
        let d = debuggee(self)?;
        Ok(d.mode != CpuMode::Long && d.debug.hw.remove(addr))
    }
}
