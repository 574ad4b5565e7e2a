//! What a debugged guest's CPU events mean to gdb: the debugger's per-guest state ([`DebugState`]),
//! the decision for each exception the ring-0 stubs report ([`DebugState::on_trap`]), and the
//! signals gdb is told ([`Stop::signal`], [`end_reason`]).
//!
//! These are plain functions of their input, unit-tested without KVM; the hooks in
//! `guest::exception` and `guest` apply them to the vCPU.

use gdbstub::common::Signal;
use gdbstub::stub::SingleThreadStopReason;
use gdbstub::target::ext::breakpoints::WatchKind;
use hv_core::idt::Exception;

use super::breakpoints::Breakpoints;
use super::hw::{self, HwBreakpoints};
use super::watch::Watchpoints;
use crate::outcome::{Fault, Outcome};
use crate::stop::StopReason;

/// Why a debugged guest stopped: what gdb is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Before its first instruction, waiting for gdb.
    Entry,
    /// At one of the debugger's breakpoints (gdb's `break`); RIP is the breakpoint's address.
    Breakpoint,
    /// At one of gdb's `hbreak`s (16- and 32-bit modes: see `hw`).
    HwBreakpoint,
    /// A single step is done.
    Stepped,
    /// An instruction wrote the watched range at this address (see `watch`).
    Watch {
        /// The watchpoint's address.
        addr: u64,
    },
    /// gdb's Ctrl-C.
    Interrupted,
    /// A CPU exception the guest would not survive, the guest's own `int3`, or a panic:
    /// reported as `signal`; `fatal` is how the guest ends if gdb passes the signal on (or
    /// detaches, or kills it). Resumed without a signal, the guest goes on from its registers
    /// (a fault retries its instruction, as a Linux process under gdb does).
    Signal {
        /// What gdb is told.
        signal: Signal,
        /// The guest's end, if the signal is delivered.
        fatal: Outcome,
    },
}

impl Stop {
    /// The stop reply for this stop.
    pub(crate) fn reason(&self) -> SingleThreadStopReason<u64> {
        match self {
            Stop::Entry => SingleThreadStopReason::Signal(Signal::SIGTRAP),
            Stop::Breakpoint => SingleThreadStopReason::SwBreak(()),
            Stop::HwBreakpoint => SingleThreadStopReason::HwBreak(()),
            Stop::Stepped => SingleThreadStopReason::DoneStep,
            Stop::Watch { addr } => {
                SingleThreadStopReason::Watch { tid: (), kind: WatchKind::Write, addr: *addr }
            }
            Stop::Interrupted => SingleThreadStopReason::Signal(Signal::SIGINT),
            Stop::Signal { signal, .. } => SingleThreadStopReason::Signal(*signal),
        }
    }

    /// How the guest ends if gdb delivers a signal here (or leaves it): only a fault or a
    /// panic ends it.
    pub(crate) fn fatal(&self) -> Option<&Outcome> {
        match self {
            Stop::Signal { fatal, .. } => Some(fatal),
            _ => None,
        }
    }
}

/// The signal a Linux process gets for the CPU exception `vector` (what gdb users know: a page
/// fault is SIGSEGV, a divide error SIGFPE, `int3` SIGTRAP).
pub(crate) fn signal_for(vector: u8) -> Signal {
    match Exception::try_from(vector) {
        Ok(Exception::DivideError | Exception::X87Fpu | Exception::SimdFloatingPoint) => {
            Signal::SIGFPE
        }
        Ok(Exception::Debug | Exception::Breakpoint) => Signal::SIGTRAP,
        Ok(Exception::InvalidOpcode) => Signal::SIGILL,
        Ok(Exception::StackFault | Exception::AlignmentCheck) => Signal::SIGBUS,
        _ => Signal::SIGSEGV,
    }
}

/// What gdb is told when a debugged guest ends with `outcome`: its exit status, or the signal
/// that ended it.
pub(crate) fn end_reason(outcome: &Outcome) -> SingleThreadStopReason<u64> {
    match outcome {
        Outcome::Exited(status) => SingleThreadStopReason::Exited(*status as u8),
        Outcome::Halted => SingleThreadStopReason::Exited(0),
        Outcome::Fault(fault) => SingleThreadStopReason::Terminated(signal_for(fault.vector)),
        Outcome::Panicked(_) => SingleThreadStopReason::Terminated(Signal::SIGABRT),
        Outcome::Interrupted(StopReason::Signal(signo)) => {
            // SIGHUP, SIGINT and SIGTERM have the same numbers in gdb's table as in Linux's.
            SingleThreadStopReason::Terminated(Signal(u8::try_from(*signo).unwrap_or(9)))
        }
        Outcome::TimedOut { .. } => SingleThreadStopReason::Terminated(Signal::SIGXCPU),
        Outcome::Interrupted(_) | Outcome::Error(_) => {
            SingleThreadStopReason::Terminated(Signal::SIGKILL)
        }
    }
}

/// What gdb asked for when it last resumed the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resume {
    /// One instruction (`stepi`), or until the next stop (`continue`).
    pub(crate) step: bool,
    /// The signal gdb delivers (`continue` after a SIGSEGV passes it: the guest ends).
    pub(crate) signal: Option<Signal>,
}

/// What the exception hook does with a trap, when a debugger is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Trap {
    /// Stop for gdb, with the guest's RIP set to `rip`.
    Stop { stop: Stop, rip: u64 },
    /// Resume the guest at `rip` as if nothing happened (a #DB the debugger did not ask for: the
    /// trap of a step gdb already had reported, which KVM delivered late).
    Resume { rip: u64 },
}

/// #GP's error code for an `int3` delivered through an IDT gate of DPL 0 (index 3, the IDT
/// bit set): what VT-x and SVM raise for a ring-3 `int3`, where PVM raises #BP after it.
const INT3_THROUGH_DPL0_GATE: u64 = (3 << 3) | 2;

/// The debugger's state for one guest, kept in its `Vm` while gdb is attached.
#[derive(Debug)]
pub(crate) struct DebugState {
    /// The debugger's breakpoints (long mode: `int3` bytes).
    pub(crate) breakpoints: Breakpoints,
    /// The 16- and 32-bit modes' breakpoints: the debug registers.
    pub(crate) hw: HwBreakpoints,
    /// Its write watchpoints.
    pub(crate) watchpoints: Watchpoints,
    /// The guest runs one instruction at a time (the host set RFLAGS.TF): for a step of
    /// gdb's, or for a `continue` while watchpoints are set.
    pub(crate) stepping: bool,
    /// The steps are a `continue` over watchpoints: they stop only where a watched value
    /// changes (or at a breakpoint, a fault, a Ctrl-C).
    pub(crate) continuing: bool,
    /// gdb asked for one step from a stop at a console read that had not completed: the step
    /// ends when the read does (no TF: registers may not be written before it completes).
    pub(crate) step_after_input: bool,
    /// A stop the exception hook decided on, for `Vm::step` to return.
    pub(crate) event: Option<Stop>,
    /// What gdb asked for at its last resume (set by the `Target` methods).
    pub(crate) resume: Option<Resume>,
    /// The guest's CR3, for walking its page tables: a ring-3 guest cannot change it (a
    /// paged 32-bit guest may not: see `hv_core::mode`).
    pub(crate) cr3: u64,
    /// 16- and 32-bit modes: the linear address of the next instruction, as the
    /// `KVM_EXIT_DEBUG` of the stop gave it, so the next resume can look for a `hlt` there
    /// without reading the registers; taken by that resume, dropped by gdb's register writes.
    pub(crate) next_pc: Option<u64>,
    /// 16- and 32-bit modes: what `KVM_SET_GUEST_DEBUG` was last given (a step, DR0-DR3, DR7),
    /// so a resume that changes none of it makes no call (KVM starts with it all off).
    pub(crate) armed: (bool, [u64; hw::SLOTS], u64),
}

impl DebugState {
    /// The state of a newly attached debugger.
    pub(crate) fn new(cr3: u64) -> DebugState {
        DebugState {
            breakpoints: Breakpoints::default(),
            hw: HwBreakpoints::default(),
            watchpoints: Watchpoints::default(),
            stepping: false,
            continuing: false,
            step_after_input: false,
            event: None,
            resume: None,
            cr3,
            next_pc: None,
            armed: (false, [0; hw::SLOTS], 0),
        }
    }

    /// A #DB or #BP (or the #GP that stands for `int3` on hardware KVM) that the ring-0 stub
    /// reported with the guest at `rip`; `None` for any other exception, which takes the usual
    /// path (and stops for gdb only if it would end the guest: see `fault`).
    pub(crate) fn on_trap(&self, vector: u8, error_code: u64, rip: u64) -> Option<Trap> {
        match Exception::try_from(vector) {
            // TF's trap: RIP is the next instruction.
            Ok(Exception::Debug) if self.stepping => Some(Trap::Stop { stop: Stop::Stepped, rip }),
            Ok(Exception::Debug) => Some(Trap::Resume { rip }),
            // `int3` is a trap: RIP is past the 0xCC, and gdb wants the breakpoint's address.
            Ok(Exception::Breakpoint) => {
                let at = rip.wrapping_sub(1);
                self.breakpoints
                    .contains(at)
                    .then_some(Trap::Stop { stop: Stop::Breakpoint, rip: at })
            }
            Ok(Exception::GeneralProtection)
                if error_code == INT3_THROUGH_DPL0_GATE && self.breakpoints.contains(rip) =>
            {
                Some(Trap::Stop { stop: Stop::Breakpoint, rip })
            }
            _ => None,
        }
    }

    /// What a `KVM_EXIT_DEBUG` with this DR6 means (16- and 32-bit modes: see `hw`): a
    /// breakpoint, or the step gdb asked for; `None` to run on. `in_stubs` says the guest is in
    /// hv's exception stubs: a step that took an exception ends there, and runs on until the
    /// stub reports it (the fault then stops the guest for gdb where it happened).
    pub(crate) fn on_debug_exit(&self, dr6: u64, in_stubs: bool) -> Option<Stop> {
        match self.hw.hit(dr6) {
            Some((_, hw::Kind::Software)) => Some(Stop::Breakpoint),
            Some((_, hw::Kind::Hardware)) => Some(Stop::HwBreakpoint),
            None if dr6 & hw::DR6_STEP != 0 && self.stepping && !in_stubs => Some(Stop::Stepped),
            None => None,
        }
    }

    /// The stop for a fault that would end the guest: its signal, and the fault as the end if
    /// the signal is passed on. The guest's own `int3` lands here too (not one of the
    /// debugger's breakpoints): SIGTRAP, after the 0xCC, as for a Linux process.
    pub(crate) fn fault(fault: Fault) -> Stop {
        Stop::Signal { signal: signal_for(fault.vector), fatal: Outcome::Fault(fault) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gdb::breakpoints::CodeBytes;
    use std::cell::Cell;

    struct OneByte(Cell<u8>);
    impl CodeBytes for OneByte {
        fn read(&self, _: u64) -> Option<u8> {
            Some(self.0.get())
        }
        fn write(&self, _: u64, byte: u8) -> bool {
            self.0.set(byte);
            true
        }
    }

    #[test]
    fn traps_are_the_debuggers_only_where_it_asked() {
        let mem = OneByte(Cell::new(0x55));
        let mut debug = DebugState::new(0x1000);
        assert!(debug.breakpoints.insert(&mem, 0x2000, 0x2000));
        // #BP after our 0xCC: a breakpoint at its address.
        assert_eq!(
            debug.on_trap(3, 0, 0x2001),
            Some(Trap::Stop { stop: Stop::Breakpoint, rip: 0x2000 })
        );
        // The guest's own int3 elsewhere: the usual path (a fault, SIGTRAP for gdb).
        assert_eq!(debug.on_trap(3, 0, 0x3001), None);
        // Hardware KVM's #GP for the same int3.
        assert_eq!(
            debug.on_trap(13, 0x1A, 0x2000),
            Some(Trap::Stop { stop: Stop::Breakpoint, rip: 0x2000 })
        );
        assert_eq!(debug.on_trap(13, 0x1A, 0x3000), None);
        assert_eq!(debug.on_trap(13, 0, 0x2000), None);
        // TF's trap: a step if gdb asked for one, else resumed silently.
        assert_eq!(debug.on_trap(1, 0, 0x2005), Some(Trap::Resume { rip: 0x2005 }));
        debug.stepping = true;
        assert_eq!(
            debug.on_trap(1, 0, 0x2005),
            Some(Trap::Stop { stop: Stop::Stepped, rip: 0x2005 })
        );
        assert_eq!(debug.on_trap(14, 2, 0x2005), None);
    }

    #[test]
    fn debug_exits_are_breakpoints_or_the_step_asked_for() {
        let mut debug = DebugState::new(0);
        assert!(debug.hw.insert(0x1000, hw::Kind::Software));
        assert!(debug.hw.insert(0x1008, hw::Kind::Hardware));
        assert_eq!(debug.on_debug_exit(0xFFFF_0FF1, false), Some(Stop::Breakpoint));
        assert_eq!(debug.on_debug_exit(0xFFFF_0FF2, false), Some(Stop::HwBreakpoint));
        // A step's trap: a stop only while gdb steps, and not inside hv's stubs.
        assert_eq!(debug.on_debug_exit(0xFFFF_4FF0, false), None);
        debug.stepping = true;
        assert_eq!(debug.on_debug_exit(0xFFFF_4FF0, false), Some(Stop::Stepped));
        assert_eq!(debug.on_debug_exit(0xFFFF_4FF0, true), None);
        // A slot that was emptied meanwhile is no breakpoint.
        assert!(debug.hw.remove(0x1000));
        assert_eq!(debug.on_debug_exit(0xFFFF_0FF1, false), None);
    }

    #[test]
    fn faults_get_the_signals_linux_gives() {
        assert_eq!(signal_for(0), Signal::SIGFPE);
        assert_eq!(signal_for(14), Signal::SIGSEGV);
        assert_eq!(signal_for(13), Signal::SIGSEGV);
        assert_eq!(signal_for(3), Signal::SIGTRAP);
        assert_eq!(signal_for(6), Signal::SIGILL);
        assert_eq!(signal_for(200), Signal::SIGSEGV);
        let fault = Fault { vector: 0, error_code: 0, rip: 0x10, address: 0, cpl: 3, symbol: None };
        let stop = DebugState::fault(fault.clone());
        assert_eq!(stop.reason(), SingleThreadStopReason::Signal(Signal::SIGFPE));
        assert_eq!(stop.fatal(), Some(&Outcome::Fault(fault)));
        assert_eq!(Stop::Breakpoint.fatal(), None);
    }

    #[test]
    fn a_guests_end_reads_as_a_process_end() {
        assert_eq!(end_reason(&Outcome::Exited(3)), SingleThreadStopReason::Exited(3));
        assert_eq!(end_reason(&Outcome::Halted), SingleThreadStopReason::Exited(0));
        assert_eq!(
            end_reason(&Outcome::Panicked("x".into())),
            SingleThreadStopReason::Terminated(Signal::SIGABRT)
        );
        assert_eq!(
            end_reason(&Outcome::Interrupted(StopReason::Signal(libc::SIGTERM))),
            SingleThreadStopReason::Terminated(Signal::SIGTERM)
        );
    }
}
