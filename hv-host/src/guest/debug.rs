//! The debugger's hooks (see `gdb`): what gdb reaches of a guest, how it is stepped in its
//! mode, and the stops that a handled exit turns into while it is attached. Nothing here runs
//! without a debugger.

use hv_core::mode::CpuMode;
use kvm_ioctls::{VcpuExit, VcpuFd};

use super::{Step, Vm};
use crate::memory::GuestRam;
use crate::outcome::{GuestError, Outcome};
use crate::services::{Flow, InputWait};

/// What the debugger reaches of a guest while gdb holds it stopped.
pub(crate) struct Debuggee<'v> {
    /// The debugger's own state.
    pub(crate) debug: &'v mut crate::gdb::DebugState,
    /// The vCPU: its registers are the guest's own at every stop (see `Step::Debug`).
    pub(crate) vcpu: &'v mut VcpuFd,
    /// Guest RAM.
    pub(crate) ram: &'v GuestRam,
    /// The guest is stopped in a console read that has not completed: KVM still has to write
    /// the byte into its registers, and a register write now would lose the byte.
    pub(crate) parked_in: bool,
    /// The guest's CPU mode: how it is stepped, what its breakpoints are, what gdb is shown.
    pub(crate) mode: CpuMode,
}

/// RFLAGS.TF: the CPU traps after the next instruction.
const TF: u64 = 0x100;

/// `hlt`.
const HLT: u8 = 0xF4;

impl Debuggee<'_> {
    /// True if the guest may be armed for its next run now ([`Debuggee::arm`]): in long mode
    /// not while a console `in` is pending, since setting RFLAGS.TF is a register write, which
    /// would lose the byte read. (`KVM_SET_GUEST_DEBUG`, which the other modes use, keeps it:
    /// measured.)
    pub(crate) fn can_arm(&self) -> bool {
        self.mode != CpuMode::Long || !self.parked_in
    }

    /// Sets up the guest's next run: one instruction if `step`, and in the 16- and 32-bit modes
    /// the debug-register breakpoints (see `gdb::hw`). Long mode steps with RFLAGS.TF, through
    /// hv's stubs (a `KVM_SET_REGS` only when TF changes); the other modes with
    /// `KVM_SET_GUEST_DEBUG` (one call per resume, and only while gdb is attached).
    pub(crate) fn arm(&mut self, step: bool) -> Result<(), kvm_ioctls::Error> {
        if self.mode == CpuMode::Long {
            let mut regs = self.vcpu.get_regs()?;
            let flags = if step { regs.rflags | TF } else { regs.rflags & !TF };
            if flags != regs.rflags {
                regs.rflags = flags;
                self.vcpu.set_regs(&regs)?;
            }
            return Ok(());
        }
        // KVM steps over a `hlt` instead of halting (measured): a step onto one runs it, which
        // ends the guest, as running it without a debugger would.
        let known_pc = self.debug.next_pc.take();
        let step = step && !self.at_hlt(known_pc);
        let (addrs, dr7) = self.debug.hw.debug_registers();
        let armed = (step, addrs, dr7);
        // Steps of a `continue` over watchpoints change nothing: no call for them.
        if self.debug.armed != armed {
            crate::vcpu::set_guest_debug(self.vcpu, step, addrs, dr7)?;
            self.debug.armed = armed;
        }
        Ok(())
    }

    /// The linear address of the guest's next instruction (CS:IP's in real mode).
    fn pc(&self) -> Option<u64> {
        let (regs, sregs) = (self.vcpu.get_regs().ok()?, self.vcpu.get_sregs().ok()?);
        Some(linear_pc(self.mode, &regs, &sregs))
    }

    /// True if the guest's next instruction, at `known_pc` if that is known, is a `hlt`.
    fn at_hlt(&self, known_pc: Option<u64>) -> bool {
        let Some(pc) = known_pc.or_else(|| self.pc()) else { return false };
        self.mode
            .translate(self.ram, self.debug.cr3, pc)
            .and_then(|gpa| self.ram.read_u8(gpa.as_u64()))
            == Some(HLT)
    }

    /// True if the guest is in its own code, where gdb's Ctrl-C may stop it; not inside one of
    /// hv's exception stubs (long mode: not in ring 0).
    pub(crate) fn in_own_code(&self) -> bool {
        match self.mode {
            CpuMode::Long => self.vcpu.get_sregs().is_ok_and(|s| s.cs.selector & 3 == 3),
            mode => self.pc().is_some_and(|pc| !mode.stubs(self.ram.layout()).contains(&pc)),
        }
    }
}

/// The linear address of the instruction at CS:RIP in `mode` (in real mode IP is 16 bits).
fn linear_pc(mode: CpuMode, regs: &kvm_bindings::kvm_regs, sregs: &kvm_bindings::kvm_sregs) -> u64 {
    match mode {
        CpuMode::Real => sregs.cs.base.wrapping_add(regs.rip & 0xFFFF),
        _ => sregs.cs.base.wrapping_add(regs.rip),
    }
}

impl Vm<'_> {
    /// Attaches a debugger: from now on #DB, #BP and faults go to it.
    pub(crate) fn attach_debugger(&mut self) -> Result<(), GuestError> {
        let cr3 = self.vcpu.get_sregs().map_err(|e| GuestError::Run(e.to_string()))?.cr3;
        self.debug = Some(Box::new(crate::gdb::DebugState::new(cr3)));
        Ok(())
    }

    /// True while the guest waits in a console read that has not been answered.
    pub(crate) fn parked(&self) -> bool {
        self.waiting.is_some()
    }

    /// Detaches the debugger; the guest runs on as if none had been attached.
    pub(crate) fn detach_debugger(&mut self) -> Option<Box<crate::gdb::DebugState>> {
        self.debug.take()
    }

    /// The debugger's view of the guest, while one is attached.
    pub(crate) fn debuggee(&mut self) -> Option<Debuggee<'_>> {
        // Only an unanswered `in` leaves an access for KVM to complete; a parked `ConsoleRead`
        // has completed its `out`, and its answer goes to memory.
        let parked_in = matches!(self.waiting, Some(InputWait::Port(_)));
        let debug = self.debug.as_deref_mut()?;
        let mode = self.mode;
        Some(Debuggee { debug, vcpu: &mut self.vcpu, ram: &self.dev.ram, parked_in, mode })
    }

    /// The guest's ID.
    pub(crate) fn id(&self) -> u32 {
        self.dev.id
    }

    /// The guest's CPU mode.
    pub(crate) fn mode(&self) -> CpuMode {
        self.mode
    }

    /// Completes the port or MMIO access KVM left pending at the last exit without running any
    /// guest instruction (`KVM_RUN` with `immediate_exit` set, as KVM's API documentation
    /// gives): afterwards the registers read are final, and a register write is not undone (at
    /// an `in` exit RIP is still at the `in`, and a `KVM_SET_REGS` before it completes loses
    /// the byte read). In the 16- and 32-bit modes a step over an `in` ends as the access
    /// completes: that `KVM_RUN` returns the step's `KVM_EXIT_DEBUG` (measured), with nothing
    /// else run.
    pub(crate) fn settle(&mut self) -> Result<(), GuestError> {
        if self.waiting.is_some() {
            return Ok(()); // not answered yet: nothing KVM could complete
        }
        self.kick.set();
        let result = self.vcpu.run().map(|exit| matches!(exit, VcpuExit::Debug(_)));
        self.kick.clear();
        match result {
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Ok(()),
            Err(e) => Err(GuestError::Run(e.to_string())),
            Ok(true) if self.mode != CpuMode::Long => Ok(()),
            Ok(_) => Err(GuestError::UnexpectedExit("KVM_RUN ran with immediate_exit set".into())),
        }
    }

    /// A `KVM_EXIT_DEBUG` (16- and 32-bit modes, see `gdb::hw`) with the guest's next
    /// instruction at linear `pc`: a breakpoint or gdb's step stops the guest for gdb; anything
    /// else runs on.
    pub(super) fn debug_exit(&mut self, dr6: u64, pc: u64) -> Step {
        let in_stubs = self.mode.stubs(self.dev.ram.layout()).contains(&pc);
        let Some(debug) = self.debug.as_deref_mut() else {
            let what = "KVM_EXIT_DEBUG with no debugger attached".into();
            return Step::Ended(Outcome::Error(GuestError::UnexpectedExit(what)));
        };
        match debug.on_debug_exit(dr6, in_stubs) {
            Some(stop) => {
                // The next resume steps on from here without reading the registers.
                debug.next_pc = Some(pc);
                Step::Debug(stop)
            }
            None => Step::Continue,
        }
    }

    /// A stop for the debugger that the exit just handled came to, if any.
    pub(super) fn debug_stop(&mut self, flow: &Flow) -> Option<crate::gdb::Stop> {
        use crate::gdb::Stop;
        let debug = self.debug.as_deref_mut()?;
        // The exception hook decided (a breakpoint, a step's trap, a fault).
        if let Some(stop) = debug.event.take() {
            return Some(stop);
        }
        match flow {
            // A step whose instruction exited (a port or MMIO access, an emulated privileged
            // instruction): after an `out` or an MMIO write PVM drops the step's trap, while
            // after an `in` or an MMIO read KVM delivers it at the next entry. So the access is
            // completed, and the step ends here unless KVM holds the trap for the next entry.
            Flow::Continue if debug.stepping => {
                if let Err(e) = self.settle() {
                    log::warn!("guest {}: completing a stepped access: {e}", self.dev.id);
                }
                let trap_pending = self
                    .vcpu
                    .get_vcpu_events()
                    .is_ok_and(|e| e.exception.injected != 0 || e.exception.pending != 0);
                (!trap_pending).then_some(Stop::Stepped)
            }
            // The step's trap after an emulated privileged instruction, which the emulation
            // raises itself (see `exception`), with the guest already past the instruction.
            Flow::Stop(Outcome::Fault(f))
                if debug.stepping && f.vector == hv_core::idt::Exception::Debug as u8 =>
            {
                self.fault_frame = None;
                Some(Stop::Stepped)
            }
            // A step over the `out` of a `ConsoleRead` that now waits for input: the instruction
            // has completed (RIP is past it) and PVM drops the step's trap after an `out`, so
            // the step ends here; the guest stays parked until its input comes.
            Flow::Wait if debug.stepping => Some(Stop::Stepped),
            // A panic stops where the guest reported it (past its `out`), so gdb's `bt` shows
            // the panicking code; passing SIGABRT on ends the guest as without gdb.
            Flow::Stop(outcome @ Outcome::Panicked(_)) => {
                if let Err(e) = self.settle() {
                    log::warn!("guest {}: completing the panic report: {e}", self.dev.id);
                }
                let signal = gdbstub::common::Signal::SIGABRT;
                Some(Stop::Signal { signal, fatal: outcome.clone() })
            }
            _ => None,
        }
    }

    /// gdb stepped from a stop in an unanswered console `in`, which has just been answered: the
    /// step ends once KVM has completed the read.
    pub(super) fn debug_step_after_input(&mut self) -> Option<crate::gdb::Stop> {
        let debug = self.debug.as_deref_mut()?;
        if !std::mem::take(&mut debug.step_after_input) {
            return None;
        }
        if let Err(e) = self.settle() {
            log::warn!("guest {}: completing a stepped console read: {e}", self.dev.id);
        }
        Some(crate::gdb::Stop::Stepped)
    }
}
