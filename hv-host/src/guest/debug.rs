//! The debugger's hooks (see `gdb`): what gdb reaches of a guest, and the stops that a handled
//! exit turns into while it is attached. Nothing here runs without a debugger.

use kvm_ioctls::VcpuFd;

use super::Vm;
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
        Some(Debuggee { debug, vcpu: &mut self.vcpu, ram: &self.dev.ram, parked_in })
    }

    /// The guest's ID.
    pub(crate) fn id(&self) -> u32 {
        self.dev.id
    }

    /// Completes the port or MMIO access KVM left pending at the last exit without running any
    /// guest instruction (`KVM_RUN` with `immediate_exit` set, as KVM's API documentation
    /// gives): afterwards the registers read are final, and a register write is not undone (at
    /// an `in` exit RIP is still at the `in`, and a `KVM_SET_REGS` before it completes loses
    /// the byte read).
    pub(crate) fn settle(&mut self) -> Result<(), GuestError> {
        if self.waiting.is_some() {
            return Ok(()); // not answered yet: nothing KVM could complete
        }
        self.kick.set();
        let result = self.vcpu.run().map(|_| ());
        self.kick.clear();
        match result {
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Ok(()),
            Err(e) => Err(GuestError::Run(e.to_string())),
            Ok(()) => Err(GuestError::UnexpectedExit("KVM_RUN ran with immediate_exit set".into())),
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
