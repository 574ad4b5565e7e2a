//! Scheduling: how guests share the host's CPUs, and how long each may run.
//!
//! Two modes ([`Sched`]), one step function: both loops below call [`Vm::step`] and differ
//! only in what they do between steps.
//!
//! - **Threads** ([`run_alone`], one per guest thread): the host kernel schedules the threads;
//!   the loop only enforces the timeout.
//! - **Single** ([`run_single`]): every guest on one host thread. After every handled exit the
//!   scheduler picks the guest to run next, so guests switch on I/O exits as in the seeds; a
//!   guest that runs a whole quantum without exiting is preempted by the thread's kick timer
//!   (see `kick`).
//!
//! # The single-thread policy
//!
//! [`Fair`] runs the runnable guest with the **least weighted CPU time**: the time it has spent
//! inside `KVM_RUN`, measured around every call, divided by its weight. A guest runs for at most
//! one quantum per turn. This is stride scheduling with measured charges (the idea of Linux's
//! CFS virtual runtime) rather than weighted round-robin with slices of `quantum * weight`:
//! - a guest is charged what it used, so one that exits early (I/O) or is cut short is not
//!   charged a whole slice, and one that the host kernel kept off the CPU while in `KVM_RUN` is
//!   charged that too, so the measured shares converge to the weights whatever the guests do;
//! - the error against the target is bounded by one quantum per guest at any moment, and every
//!   turn is at most one quantum long, so no guest waits more than `(guests - 1) * quantum`;
//! - any number of guests and any positive weights work, with exact integer comparisons.
//!
//! Every guest starts with zero CPU time, so a guest that does little (hello) is picked at every
//! one of its exits until it has caught up, and finishes quickly even beside a spinning one.
//!
//! With `--alternate` ([`Alternate`]) the guests take turns in `-g` order instead, one exit each
//! (seed 002's matrix-a switches VM on every I/O exit); the quantum still ends the turn of a
//! guest that makes no exit, which the seed's schedule could not do.
//!
//! # Input waits and stops
//!
//! A guest waiting for console input (`getchar`) is parked: its vCPU is not re-entered until a
//! byte (or the end of input) is there for it (see `input`). With a thread per guest, its thread
//! sleeps until input comes, the run is stopped, or its timeout; in single mode it is simply
//! not picked, and the others go on (when every guest left waits, the thread sleeps the same
//! way). A stopped run (see `stop`) ends every guest at its next exit or kick.
//!
//! Note (blocking): other exit handlers still block the thread that runs them: a guest's file
//! call stops every guest in single mode for the time it takes, and a timeout is only seen
//! when the host gets the thread back. Console output is the exception: a write to a stuck
//! stdout gives up at the thread's deadline (see `stdout`).

use std::cmp::Ordering;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::gdb::{POLL, Session};
use crate::guest::{Step, Vm};
use crate::kick::Kicker;
use crate::outcome::{GuestError, GuestReport, Outcome};
use crate::stop::Stopper;

/// How guests are mapped to host threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sched {
    /// One host thread per guest, scheduled by the host kernel (the default).
    #[default]
    Threads,
    /// Every guest on one host thread, switched on exits and preempted by a timer, each getting
    /// CPU time in proportion to its weight.
    Single,
}

impl Sched {
    /// Parses the command line's `--sched` value: `threads` or `single`.
    pub fn from_cli_value(value: &str) -> Option<Sched> {
        match value {
            "threads" => Some(Sched::Threads),
            "single" => Some(Sched::Single),
            _ => None,
        }
    }
}

/// The quantum when none is given: long enough that the cost of a switch (a timer signal and an
/// exit, some tens of microseconds here) is well under 1 %, short enough to share the CPU
/// visibly within a second.
pub const DEFAULT_QUANTUM: Duration = Duration::from_millis(10);

/// Durations are capped at this when added to an instant (which panics on overflow): a timeout or
/// quantum of a century or more is as good as none.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `t` after `instant`, or [`FOREVER`] after it if `t` is even longer.
fn later(instant: Instant, t: Duration) -> Instant {
    instant + t.min(FOREVER)
}

/// A checked scheduling configuration.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) mode: Sched,
    /// The longest a guest runs before others get a turn (single mode).
    pub(crate) quantum: Duration,
    /// One positive weight per guest (single mode).
    pub(crate) weights: Vec<u32>,
    /// The longest a guest may run, wall time from when the host started running it.
    pub(crate) timeout: Option<Duration>,
    /// Turns in order, one exit each ([`Alternate`]), instead of by weight (single mode).
    pub(crate) alternate: bool,
}

/// A guest ready for [`run_single`]: its ID, image, and VM (or why it could not be set up).
pub(crate) type Seat<'c, 'i> = (u32, &'i Path, Result<Vm<'c>, GuestError>);

/// Runs one guest on the calling thread until it ends, its `timeout` passes or the run is
/// stopped. With `gdb`, the guest first waits for gdb to connect there, before its first
/// instruction, and runs under it (see `gdb`); the time it spends stopped for gdb does not
/// count against its timeout.
pub(crate) fn run_alone(
    mut vm: Vm<'_>,
    image: &Path,
    timeout: Option<Duration>,
    gdb: Option<crate::gdb::Listener>,
) -> GuestReport {
    let start = Instant::now();
    crate::stdout::set_output_deadline(timeout.map(|t| later(start, t)));
    // Aimed at the vCPU from the start, so that a stop (see `stop`) reaches it wherever it is.
    let kicker = match kicker_for(&vm) {
        Ok(k) => k,
        Err(e) => {
            return vm.finish(
                Outcome::Error(GuestError::Timer(e.to_string())),
                image,
                start.elapsed(),
            );
        }
    };
    let stopper = vm.stopper().clone();
    let registered = stopper.register_this_thread();
    let mut armed: Option<Instant> = None;
    // gdb: the guest waits for its debugger before its first instruction.
    let mut session = match gdb.map(|listener| Session::attach(listener, &mut vm, &stopper)) {
        None => None,
        Some(Ok(session)) => Some(session),
        Some(Err(outcome)) => {
            drop(registered);
            drop(kicker);
            return vm.finish(outcome, image, start.elapsed());
        }
    };
    let paused =
        |session: &Option<Session<'_>>| session.as_ref().map_or(Duration::ZERO, Session::paused);
    let outcome = loop {
        if let Some(reason) = stopper.requested().then(|| stopper.reason()).flatten() {
            break Outcome::Interrupted(reason);
        }
        let deadline = timeout.map(|t| later(start, t.saturating_add(paused(&session))));
        if session.is_some() {
            // Time stopped in gdb moves the guest's deadline (and its output's) later.
            crate::stdout::set_output_deadline(deadline);
        }
        // While gdb is attached, a wake-up to look for its Ctrl-C.
        let gdb_poll = session.as_ref().filter(|s| s.attached()).map(|_| Instant::now() + POLL);
        // Wake-ups: the timeout, and, while console output is queued in the coalesced-PIO ring,
        // a drain every CONSOLE_DRAIN so a guest that prints and then computes is not silent.
        // The timer is re-armed only when it has fired or an earlier wake-up is needed: no
        // timer syscall per exit.
        let now = Instant::now();
        let drain = vm.console_coalesced().then(|| now + CONSOLE_DRAIN);
        if let Some(when) = [deadline, drain, gdb_poll].into_iter().flatten().min()
            && armed.is_none_or(|a| a <= now || when < a)
        {
            if let Err(e) = kicker.kick_at(when) {
                break Outcome::Error(GuestError::Timer(e.to_string()));
            }
            armed = Some(when);
        }
        let mut step = vm.step();
        if let Some(session) = session.as_mut() {
            step = session.after_step(&mut vm, step, &stopper);
        }
        match step {
            Step::Ended(outcome) => break outcome,
            Step::Waiting => park(&vm, &stopper, [deadline, gdb_poll].into_iter().flatten().min()),
            // (A stop for gdb has been served by the session by now.)
            Step::Continue | Step::Preempted | Step::Debug(_) => {}
        }
        // The timer only guarantees that a step returns by then; the clock decides.
        let ran = start.elapsed().saturating_sub(paused(&session));
        if let Some(after) = timeout
            && ran >= after
        {
            break Outcome::TimedOut { after: ran };
        }
    };
    if let Some(session) = session {
        session.finish(&mut vm, &outcome);
    }
    // The kicker (and its aim at this vCPU) goes before the vCPU does.
    drop(registered);
    drop(kicker);
    vm.finish(outcome, image, start.elapsed())
}

/// Parks the calling thread while `vm` waits for input: until input comes for it, the run is
/// stopped, or `deadline`.
fn park(vm: &Vm<'_>, stopper: &Stopper, deadline: Option<Instant>) {
    // The generation is read before the checks: a wake-up after them ends the wait at once.
    let seen = stopper.generation();
    if vm.input_ready() || stopper.requested() {
        return;
    }
    stopper.wait(seen, deadline);
}

/// How long console output may wait in the coalesced-PIO ring of a guest that does not exit.
const CONSOLE_DRAIN: Duration = Duration::from_millis(50);

/// A kicker for this thread, aimed at `vm`.
fn kicker_for(vm: &Vm<'_>) -> std::io::Result<Kicker> {
    let kicker = Kicker::for_this_thread()?;
    // SAFETY: the caller (`run_alone`) drops the kicker before `vm`; on error it is dropped
    // here, which aims it at nothing.
    unsafe { kicker.aim(vm.kick_flag()) };
    Ok(kicker)
}

/// Runs every guest on the calling thread (see the module docs) until all have ended; reports
/// come back in the order of `seats`.
pub(crate) fn run_single(
    seats: Vec<Seat<'_, '_>>,
    plan: &Plan,
    stopper: &Stopper,
) -> Vec<GuestReport> {
    let start = Instant::now();
    let mut reports: Vec<Option<GuestReport>> = Vec::with_capacity(seats.len());
    let mut guests = Vec::with_capacity(seats.len());
    for (id, image, vm) in seats {
        match vm {
            Ok(vm) => {
                reports.push(None);
                guests.push(Some((image, vm)));
            }
            Err(e) => {
                reports.push(Some(setup_failed(id, image, e)));
                guests.push(None);
            }
        }
    }
    let kicker = match Kicker::for_this_thread() {
        Ok(kicker) => kicker,
        Err(e) => {
            for (report, guest) in reports.iter_mut().zip(guests) {
                if let Some((image, vm)) = guest {
                    let outcome = Outcome::Error(GuestError::Timer(e.to_string()));
                    *report = Some(vm.finish(outcome, image, start.elapsed()));
                }
            }
            return reports.into_iter().flatten().collect();
        }
    };
    let mut sched = Scheduler {
        kicker,
        fair: Fair::new(&plan.weights),
        alternate: plan.alternate.then(Alternate::default),
        quantum: plan.quantum,
        deadline: plan.timeout.map(|t| later(start, t)),
        turn: None,
    };
    crate::stdout::set_output_deadline(sched.deadline);
    let registered = stopper.register_this_thread();
    // Guests parked in a console read: not picked until input comes for them.
    let mut waiting = vec![false; guests.len()];
    loop {
        let over = stopper.requested() || sched.deadline.is_some_and(|d| Instant::now() >= d);
        let runnable = |i: usize| match &guests[i] {
            Some((_, vm)) => over || !waiting[i] || vm.input_ready(),
            None => false,
        };
        let picked = match &mut sched.alternate {
            Some(turns) => turns.pick(guests.len(), runnable),
            None => sched.fair.pick(runnable),
        };
        let Some(i) = picked else {
            if guests.iter().all(Option::is_none) {
                break;
            }
            // Every guest left waits for input: park until something changes.
            let seen = stopper.generation();
            let ready = guests.iter().flatten().any(|(_, vm)| vm.input_ready());
            if !(ready || stopper.requested()) {
                stopper.wait(seen, sched.deadline);
            }
            continue;
        };
        let Some((_, vm)) = guests[i].as_mut() else {
            break; // unreachable: `pick` only returns seated guests
        };
        let ended = if let Some(reason) = stopper.requested().then(|| stopper.reason()).flatten() {
            Some(Outcome::Interrupted(reason))
        } else {
            match plan.timeout {
                Some(_) if over => Some(Outcome::TimedOut { after: start.elapsed() }),
                _ => match sched.step(i, vm) {
                    Step::Ended(outcome) => Some(outcome),
                    step => {
                        waiting[i] = matches!(step, Step::Waiting);
                        if let Some(turns) = &mut sched.alternate {
                            // A kick that came before the turn was over (see `kick`) is no exit.
                            turns.again = matches!(step, Step::Preempted) && sched.turn.is_some();
                        }
                        None
                    }
                },
            }
        };
        if let Some(outcome) = ended {
            sched.release();
            if let Some((image, vm)) = guests[i].take() {
                let report = vm.finish(outcome, image, start.elapsed());
                crate::log_ended(&report);
                reports[i] = Some(report);
            }
        }
    }
    drop(registered);
    // The kicker (and its aim) goes before the guests do.
    drop(sched);
    reports.into_iter().flatten().collect()
}

/// The single thread's scheduling state.
#[derive(Debug)]
struct Scheduler {
    kicker: Kicker,
    fair: Fair,
    /// With `--alternate`: the turn order, which then decides instead of `fair`.
    alternate: Option<Alternate>,
    quantum: Duration,
    /// When every guest's time is up.
    deadline: Option<Instant>,
    /// Which guest holds the CPU, and until when.
    turn: Option<(usize, Instant)>,
}

impl Scheduler {
    /// Runs guest `i` for one step, in the current turn if it holds it, else in a new one.
    fn step(&mut self, i: usize, vm: &mut Vm<'_>) -> Step {
        let turn_end = match self.turn {
            Some((held, end)) if held == i && Instant::now() < end => end,
            _ => match self.new_turn(i, vm) {
                Ok(end) => end,
                Err(e) => return Step::Ended(Outcome::Error(GuestError::Timer(e.to_string()))),
            },
        };
        let used = vm.stats().cpu_time;
        let step = vm.step();
        self.fair.charge(i, vm.stats().cpu_time.saturating_sub(used));
        if let Step::Preempted = step {
            // A kick may be stale or early (see `kick`): only the clock says the turn is over.
            if Instant::now() >= turn_end {
                vm.stats_mut().preemptions += 1;
                self.turn = None;
            }
        }
        step
    }

    /// Gives guest `i` the CPU for a quantum (less if the deadline comes first): aims the
    /// kicker at it and arms the timer. Returns when the turn ends.
    fn new_turn(&mut self, i: usize, vm: &Vm<'_>) -> std::io::Result<Instant> {
        let end = later(Instant::now(), self.quantum);
        // SAFETY: a guest's VM stays in `run_single`'s `guests` until it is finished, and
        // `release` (which aims the kicker at nothing) is called before that; the kicker is
        // dropped, with this scheduler, before `guests`.
        unsafe { self.kicker.aim(vm.kick_flag()) };
        self.turn = Some((i, end));
        self.kicker.kick_at(self.deadline.map_or(end, |d| d.min(end)))?;
        Ok(end)
    }

    /// A guest is about to be dropped: kicks must no longer reach any guest until the next turn.
    fn release(&mut self) {
        self.kicker.aim_at_nothing();
        self.turn = None;
    }
}

/// The report of a guest whose VM could not be set up (not logged: its report line on stderr
/// says it).
fn setup_failed(id: u32, image: &Path, e: GuestError) -> GuestReport {
    GuestReport {
        id,
        image: image.to_path_buf(),
        outcome: Outcome::Error(e),
        run_time: Duration::ZERO,
        stats: Default::default(),
        location: None,
    }
}

/// The single-thread policy: the runnable guest with the least CPU time per unit of weight
/// runs next (see the module docs for why).
#[derive(Debug)]
struct Fair {
    used: Vec<Duration>,
    weights: Vec<u32>,
}

impl Fair {
    /// A policy for `weights.len()` guests, none of which has run yet.
    fn new(weights: &[u32]) -> Fair {
        Fair { used: vec![Duration::ZERO; weights.len()], weights: weights.to_vec() }
    }

    /// Guest `i` ran for `time`.
    fn charge(&mut self, i: usize, time: Duration) {
        self.used[i] += time;
    }

    /// `used[a] / weights[a]` against `used[b] / weights[b]`, exactly (cross-multiplied).
    fn compare(&self, a: usize, b: usize) -> Ordering {
        let scaled = |i: usize, by: usize| {
            self.used[i].as_nanos().saturating_mul(u128::from(self.weights[by]))
        };
        scaled(a, b).cmp(&scaled(b, a))
    }

    /// The guest to run next among those `runnable` says yes to; ties go to the lowest index.
    fn pick(&self, runnable: impl Fn(usize) -> bool) -> Option<usize> {
        (0..self.used.len()).filter(|&i| runnable(i)).min_by(|&a, &b| self.compare(a, b))
    }
}

/// The `--alternate` policy: the runnable guest after the one that ran last, in index order,
/// so that guests take turns one exit each.
#[derive(Debug, Default)]
struct Alternate {
    last: Option<usize>,
    /// The last guest's step was interrupted before its turn was over, without an exit: it
    /// goes on with its turn.
    again: bool,
}

impl Alternate {
    /// The next of `guests` guests that `runnable` says yes to, after the last one picked (or
    /// the last one again, if its turn goes on).
    fn pick(&mut self, guests: usize, runnable: impl Fn(usize) -> bool) -> Option<usize> {
        if let Some(last) = self.last.filter(|&l| std::mem::take(&mut self.again) && runnable(l)) {
            return Some(last);
        }
        let first = self.last.map_or(0, |last| last + 1);
        let next = (0..guests).map(|k| (first + k) % guests).find(|&i| runnable(i))?;
        self.last = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_takes_turns_in_order() {
        let mut turns = Alternate::default();
        let order: Vec<_> = (0..7).filter_map(|_| turns.pick(3, |_| true)).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0]);
        // A guest that cannot run (ended, or waiting for input) is skipped.
        let order: Vec<_> = (0..4).filter_map(|_| turns.pick(3, |i| i != 2)).collect();
        assert_eq!(order, [1, 0, 1, 0]);
        assert_eq!(turns.pick(3, |_| false), None);
        assert_eq!(turns.pick(3, |i| i == 2), Some(2));
        // A turn cut short by an early kick goes on.
        turns.again = true;
        assert_eq!(turns.pick(3, |_| true), Some(2));
        assert_eq!(turns.pick(3, |_| true), Some(0));
    }

    /// Simulates compute-bound guests for `turns` quanta; returns each one's share in percent.
    fn shares(weights: &[u32], turns: usize) -> Vec<f64> {
        let mut fair = Fair::new(weights);
        let quantum = Duration::from_millis(10);
        for _ in 0..turns {
            let i = fair.pick(|_| true).unwrap_or_default();
            fair.charge(i, quantum);
        }
        let total: f64 = fair.used.iter().map(Duration::as_secs_f64).sum();
        fair.used.iter().map(|u| (u.as_secs_f64() * 100.0 / total * 10.0).round() / 10.0).collect()
    }

    #[test]
    fn compute_bound_guests_get_their_weights() {
        assert_eq!(shares(&[1, 1], 1000), [50.0, 50.0]);
        assert_eq!(shares(&[70, 30], 1000), [70.0, 30.0]);
        assert_eq!(shares(&[40, 30, 20, 10], 1000), [40.0, 30.0, 20.0, 10.0]);
        assert_eq!(shares(&[3, 1], 4), [75.0, 25.0]);
    }

    #[test]
    fn turns_interleave_in_weight_order() {
        let mut fair = Fair::new(&[2, 1]);
        let mut order = Vec::new();
        for _ in 0..6 {
            let i = fair.pick(|_| true).unwrap_or_default();
            order.push(i);
            fair.charge(i, Duration::from_millis(10));
        }
        // Time per weight before each pick, ties to the lowest index: 0 (0 vs 0), 1 (5 vs 0),
        // 0 (5 vs 10), 0 (10 vs 10), 1 (15 vs 10), 0 (15 vs 20).
        assert_eq!(order, [0, 1, 0, 0, 1, 0]);
    }

    #[test]
    fn a_guest_that_exits_early_is_picked_until_it_catches_up() {
        let mut fair = Fair::new(&[1, 1]);
        fair.charge(0, Duration::from_millis(10));
        // Guest 1 exits every 20 µs: it keeps the CPU until it has used as much as guest 0.
        let mut steps = 0;
        while fair.pick(|_| true) == Some(1) {
            fair.charge(1, Duration::from_micros(20));
            steps += 1;
        }
        assert_eq!(steps, 500);
    }

    #[test]
    fn ended_guests_are_never_picked() {
        let mut fair = Fair::new(&[1, 1, 1]);
        fair.charge(0, Duration::from_millis(1));
        assert_eq!(fair.pick(|i| i != 1), Some(2));
        assert_eq!(fair.pick(|i| i == 0), Some(0));
        assert_eq!(fair.pick(|_| false), None);
    }
}
