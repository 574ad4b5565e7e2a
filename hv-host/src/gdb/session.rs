//! One gdb session: `gdbstub`'s state machine driven from the guest's own thread.
//!
//! While gdb holds the guest stopped, the thread reads gdb's packets (waking every
//! [`POLL`] to see whether the run was stopped) and answers them from the stopped vCPU. When
//! gdb resumes the guest, the thread goes back to running it; the runner's periodic wake-up
//! (see `sched::run_alone`) has the thread look for gdb's Ctrl-C between two `KVM_RUN`s, so a
//! guest that computes without ever exiting is still interrupted within [`POLL`], and an idle
//! session costs the guest no exit and no system call per exit.

use std::time::{Duration, Instant};

use gdbstub::conn::Connection;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};

use super::conn::{AcceptError, Conn, Listener};
use super::stop::{Resume, Stop, end_reason};
use super::target::{Code, read_user};
use crate::guest::{Step, Vm};
use crate::outcome::{GuestError, Outcome};
use crate::stop::{StopReason, Stopper};

/// How often a thread waiting on gdb, or running a debugged guest, looks for gdb's bytes and
/// for a stopped run.
pub(crate) const POLL: Duration = Duration::from_millis(50);

type Machine<'c> = GdbStubStateMachine<'static, Vm<'c>, Conn>;

/// What the runner does next with a debugged guest.
enum Next {
    /// Run it (gdb resumed it, or detached).
    Run,
    /// End it so.
    End(Outcome),
}

/// A gdb attached to one guest (or detached from it: then every call passes through).
pub(crate) struct Session<'c> {
    gdb: Option<Machine<'c>>,
    /// The stop gdb was last told of: a resume with a signal ends the guest if it was fatal.
    stop: Option<Stop>,
    /// gdb's Ctrl-C came while the guest was in a ring-0 stub: it stops at the next step that
    /// leaves it in ring 3.
    interrupt: bool,
    /// Time the guest spent stopped for gdb (`--timeout` does not count it).
    paused: Duration,
}

impl<'c> Session<'c> {
    /// Waits for gdb to connect before the guest's first instruction, then serves it until it
    /// resumes the guest. `Err` with the guest's end if the run was stopped meanwhile or gdb
    /// killed the guest.
    pub(crate) fn attach(
        listener: Listener,
        vm: &mut Vm<'c>,
        stopper: &Stopper,
    ) -> Result<Session<'c>, Outcome> {
        let started = Instant::now();
        let mut session =
            Session { gdb: None, stop: None, interrupt: false, paused: Duration::ZERO };
        let conn = match listener.accept(stopper) {
            Ok(conn) => conn,
            Err(AcceptError::Stopped(reason)) => return Err(Outcome::Interrupted(reason)),
            Err(AcceptError::Io(e)) => {
                log::warn!("guest {}: waiting for gdb failed ({e}); running without it", vm.id());
                return Ok(session);
            }
        };
        log::info!("guest {}: gdb connected", vm.id());
        if let Err(e) = vm.attach_debugger() {
            return Err(Outcome::Error(e));
        }
        match GdbStub::new(conn).run_state_machine(vm) {
            Ok(gdb) => session.gdb = Some(gdb),
            Err(e) => {
                log::warn!(
                    "guest {}: gdb session failed to start ({e}); running without it",
                    vm.id()
                );
                session.detach(vm);
                return Ok(session);
            }
        }
        let next = session.stopped(vm, Stop::Entry, stopper);
        session.paused = started.elapsed();
        match next {
            Next::Run => Ok(session),
            Next::End(outcome) => Err(outcome),
        }
    }

    /// True while gdb is attached.
    pub(crate) fn attached(&self) -> bool {
        self.gdb.is_some()
    }

    /// Time the guest spent stopped for gdb so far.
    pub(crate) fn paused(&self) -> Duration {
        self.paused
    }

    /// What a step came to, as the runner should take it: a stop for gdb is served here (the
    /// guest then runs on, or ends), and gdb's Ctrl-C is looked for where the runner got its
    /// thread back without an exit of the guest's own (a kick, or an input wait).
    pub(crate) fn after_step(&mut self, vm: &mut Vm<'c>, step: Step, stopper: &Stopper) -> Step {
        if self.gdb.is_none() {
            return step;
        }
        let next = match &step {
            Step::Debug(stop) => Some(self.stopped(vm, stop.clone(), stopper)),
            Step::Preempted | Step::Waiting => self.poll(vm, stopper),
            Step::Continue if self.interrupt => self.try_interrupt(vm, stopper),
            Step::Continue | Step::Ended(_) => None,
        };
        match next {
            None => step,
            Some(Next::End(outcome)) => Step::Ended(outcome),
            Some(Next::Run) if vm.parked() => Step::Waiting,
            Some(Next::Run) => Step::Continue,
        }
    }

    /// The guest ended with `outcome`: gdb, if it waits for the guest, is told how (its exit
    /// status, or the signal that ended it), and the session closes.
    pub(crate) fn finish(mut self, vm: &mut Vm<'c>, outcome: &Outcome) {
        let reason = end_reason(outcome);
        let reported = match self.gdb.take() {
            Some(GdbStubStateMachine::Running(m)) => Some(m.report_stop(vm, reason)),
            Some(GdbStubStateMachine::CtrlCInterrupt(m)) => {
                Some(m.interrupt_handled(vm, Some(reason)))
            }
            // Stopped (the run was stopped meanwhile), or gone: nothing to report.
            _ => None,
        };
        if let Some(Err(e)) = reported {
            log::info!("guest {}: telling gdb how the guest ended: {e}", vm.id());
        }
    }

    /// Tells gdb of `stop` and serves it until it resumes the guest (or lets it go).
    fn stopped(&mut self, vm: &mut Vm<'c>, stop: Stop, stopper: &Stopper) -> Next {
        let Some(stop) = self.watched(vm, stop) else {
            return Next::Run;
        };
        let started = Instant::now();
        self.interrupt = false;
        let reason: SingleThreadStopReason<u64> = stop.reason();
        self.stop = Some(stop);
        let reported = match self.gdb.take() {
            Some(GdbStubStateMachine::Running(m)) => m.report_stop(vm, reason),
            Some(GdbStubStateMachine::CtrlCInterrupt(m)) => m.interrupt_handled(vm, Some(reason)),
            Some(other) => Ok(other),
            None => return Next::Run,
        };
        let next = match reported {
            Ok(gdb) => {
                self.gdb = Some(gdb);
                self.serve(vm, stopper)
            }
            Err(e) => self.lost(vm, &e),
        };
        self.paused += started.elapsed();
        next
    }

    /// With watchpoints set, every stop first looks at them: a changed value makes it a
    /// watchpoint stop, and a step of a `continue` over watchpoints that changed nothing goes
    /// on without gdb (`None`: the guest takes its next step).
    fn watched(&mut self, vm: &mut Vm<'c>, stop: Stop) -> Option<Stop> {
        let Some(mut d) = vm.debuggee() else {
            return Some(stop);
        };
        if d.debug.watchpoints.is_empty() {
            return Some(stop);
        }
        let ram = d.ram;
        if let Some(addr) = d.debug.watchpoints.changed(|gpa, buf| read_user(ram, gpa, buf)) {
            return Some(Stop::Watch { addr });
        }
        if stop != Stop::Stepped || !d.debug.continuing {
            return Some(stop);
        }
        // Armed already, except after a step that ended a long-mode console read (see
        // `resume`); in the other modes this looks for a `hlt` ahead and makes no call.
        if d.can_arm()
            && let Err(e) = d.arm(true)
        {
            log::warn!("guest {}: stepping over watchpoints: {e}", vm.id());
        }
        None
    }

    /// Answers gdb while the guest is stopped, until it resumes the guest or goes.
    fn serve(&mut self, vm: &mut Vm<'c>, stopper: &Stopper) -> Next {
        loop {
            let Some(gdb) = self.gdb.take() else {
                return Next::Run;
            };
            let result = match gdb {
                GdbStubStateMachine::Idle(mut m) => match m.borrow_conn().next_byte(POLL) {
                    Ok(Some(byte)) => m.incoming_data(vm, byte),
                    Ok(None) => {
                        self.gdb = Some(m.into());
                        if let Some(reason) = stopper.requested().then(|| stopper.reason()) {
                            let reason = reason.unwrap_or(StopReason::Signal(libc::SIGTERM));
                            return Next::End(Outcome::Interrupted(reason));
                        }
                        continue;
                    }
                    Err(e) => return self.lost(vm, &e),
                },
                // A Ctrl-C while the guest is already stopped: nothing to do.
                GdbStubStateMachine::CtrlCInterrupt(m) => {
                    m.interrupt_handled(vm, None::<SingleThreadStopReason<u64>>)
                }
                GdbStubStateMachine::Running(m) => {
                    self.gdb = Some(m.into());
                    return self.resume(vm);
                }
                GdbStubStateMachine::Disconnected(mut m) => {
                    let reason = m.get_reason();
                    if reason == DisconnectReason::Kill {
                        // gdb's `vKill` waits for an "OK", which `gdbstub` leaves to targets
                        // in extended mode; without it gdb reports a closed connection.
                        let conn = m.borrow_conn();
                        let _ = conn.write_all(b"$OK#9a").and_then(|()| conn.flush());
                    }
                    return self.disconnected(vm, reason);
                }
            };
            match result {
                Ok(gdb) => self.gdb = Some(gdb),
                Err(e) => return self.lost(vm, &e),
            }
        }
    }

    /// gdb resumed the guest: stepping or not, with a signal or not.
    fn resume(&mut self, vm: &mut Vm<'c>) -> Next {
        let id = vm.id();
        let Some(mut d) = vm.debuggee() else {
            return Next::Run;
        };
        let resume = d.debug.resume.take().unwrap_or(Resume { step: false, signal: None });
        let fatal = self.stop.as_ref().and_then(Stop::fatal).cloned();
        if let (Some(signal), Some(fatal)) = (resume.signal, fatal) {
            // The fault's (or panic's) signal is delivered: the guest ends, as a process does.
            let reason = SingleThreadStopReason::Terminated(signal);
            if let Some(GdbStubStateMachine::Running(m)) = self.gdb.take()
                && let Err(e) = m.report_stop(vm, reason)
            {
                log::info!("guest {}: telling gdb the guest ended: {e}", vm.id());
            }
            self.detach(vm);
            return Next::End(fatal);
        }
        if let Some(signal) = resume.signal {
            log::info!("guest {id}: gdb sent {signal}, which a guest cannot take: ignored");
        }
        let now = d.can_arm();
        // A `continue` with watchpoints set runs as steps (see `watch`).
        let continuing = !resume.step && !d.debug.watchpoints.is_empty();
        let step = resume.step || continuing;
        d.debug.continuing = continuing;
        d.debug.stepping = step && now;
        d.debug.step_after_input = step && !now;
        if now && let Err(e) = d.arm(step) {
            return Next::End(Outcome::Error(GuestError::Run(e.to_string())));
        }
        Next::Run
    }

    /// gdb went (`detach`), or asked to `kill` the guest.
    fn disconnected(&mut self, vm: &mut Vm<'c>, reason: DisconnectReason) -> Next {
        self.gdb = None;
        match reason {
            DisconnectReason::Kill => {
                self.detach(vm);
                Next::End(Outcome::Error(GuestError::KilledByDebugger))
            }
            DisconnectReason::Disconnect => {
                log::info!("guest {}: gdb detached; the guest runs on", vm.id());
                self.detach(vm)
            }
            // Only after the guest's end was reported, which ends it anyway.
            DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_) => {
                self.detach(vm)
            }
        }
    }

    /// The connection failed or gdb sent something the stub cannot go on from: the guest runs
    /// on without a debugger, as after `detach`.
    fn lost(&mut self, vm: &mut Vm<'c>, e: &dyn std::fmt::Display) -> Next {
        log::warn!("guest {}: gdb session ended ({e}); the guest runs on without it", vm.id());
        self.gdb = None;
        self.detach(vm)
    }

    /// Removes every breakpoint and the step's trap flag (or KVM's guest debugging) and
    /// detaches the debugger; the guest then runs as if none had been attached, unless it is
    /// stopped at a fault or a panic, which ends it as it would have without gdb.
    fn detach(&mut self, vm: &mut Vm<'c>) -> Next {
        if let Some(mut d) = vm.debuggee() {
            d.debug.breakpoints.clear(&Code(d.ram));
            d.debug.hw.clear();
            if d.can_arm()
                && let Err(e) = d.arm(false)
            {
                log::warn!("guest {}: turning stepping and breakpoints off: {e}", vm.id());
            }
        }
        vm.detach_debugger();
        match self.stop.take().as_ref().and_then(Stop::fatal) {
            Some(fatal) => Next::End(fatal.clone()),
            None => Next::Run,
        }
    }

    /// Reads what gdb sent while the guest ran, without waiting; a Ctrl-C stops the guest.
    fn poll(&mut self, vm: &mut Vm<'c>, stopper: &Stopper) -> Option<Next> {
        loop {
            let gdb = self.gdb.take()?;
            let result = match gdb {
                GdbStubStateMachine::Running(mut m) => {
                    match m.borrow_conn().next_byte(Duration::ZERO) {
                        Ok(Some(byte)) => m.incoming_data(vm, byte),
                        Ok(None) => {
                            self.gdb = Some(m.into());
                            return None;
                        }
                        Err(e) => return Some(self.lost(vm, &e)),
                    }
                }
                GdbStubStateMachine::CtrlCInterrupt(m) => {
                    self.gdb = Some(m.into());
                    self.interrupt = true;
                    return self.try_interrupt(vm, stopper);
                }
                GdbStubStateMachine::Disconnected(m) => {
                    let reason = m.get_reason();
                    return Some(self.disconnected(vm, reason));
                }
                idle @ GdbStubStateMachine::Idle(_) => {
                    self.gdb = Some(idle);
                    return None;
                }
            };
            match result {
                Ok(gdb) => self.gdb = Some(gdb),
                Err(e) => return Some(self.lost(vm, &e)),
            }
        }
    }

    /// Stops the guest for gdb's Ctrl-C if it is in its own code; inside one of hv's exception
    /// stubs it is not, and the stop waits for the next step.
    fn try_interrupt(&mut self, vm: &mut Vm<'c>, stopper: &Stopper) -> Option<Next> {
        if !vm.debuggee()?.in_own_code() {
            return None;
        }
        if let Err(e) = vm.settle() {
            return Some(Next::End(Outcome::Error(e)));
        }
        Some(self.stopped(vm, Stop::Interrupted, stopper))
    }
}
