//! Ending a run early: why ([`StopReason`]), and reaching every guest wherever it is.
//!
//! A run stops early when the host's output breaks (a closed pipe, a full disk) or when the
//! user asks with a signal (see `signals`). Either way every guest must stop soon, whatever it
//! is doing: computing inside `KVM_RUN`, handling an exit, or parked waiting for input. The
//! [`Stopper`] does all three:
//! - the reason is stored once (the first reason wins; later ones are dropped);
//! - every thread that runs vCPUs has registered its thread ID, and gets the kick signal (see
//!   `kick`): a thread inside `KVM_RUN` returns with `EINTR`, one handling an exit finds its
//!   `immediate_exit` byte set at its next `KVM_RUN`;
//! - every thread parked on the run's [`Stopper::wait`] (input waits) is woken.
//!
//! Note (ordering): the reason is stored before any kick is sent, and a runner checks
//! [`Stopper::requested`] after every return from `KVM_RUN` and before parking. A runner that
//! checked just before the reason was stored has its kick byte set by the kick that follows
//! (it is aimed at its vCPU before its first check), so its next `KVM_RUN` returns at once; a
//! runner about to park reads the wake-up generation before it checks, so a wake-up between
//! the check and the wait is not lost.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::kick::kick_signal;

/// Why a run was stopped before its guests ended by themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The host received this signal (SIGINT, SIGTERM or SIGHUP).
    Signal(i32),
    /// The console output was closed by its reader (`EPIPE`, as in `hv-host ... | head`).
    BrokenPipe,
    /// Writing the console output failed for another reason (`ENOSPC`, `EBADF`, ...).
    OutputFailed(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Signal(signo) => write!(f, "interrupted by {}", signal_name(*signo)),
            StopReason::BrokenPipe => f.write_str("the output was closed"),
            StopReason::OutputFailed(e) => write!(f, "writing the output failed: {e}"),
        }
    }
}

/// The usual name of the signals the host handles.
pub fn signal_name(signo: i32) -> String {
    match signo {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        other => format!("signal {other}"),
    }
}

/// A handle that stops every guest of one run; cheap to clone, usable from any thread.
#[derive(Clone, Debug, Default)]
pub struct Stopper(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    reason: OnceLock<StopReason>,
    /// Set once `reason` is: one relaxed-free flag for the hot path (checked at every exit).
    requested: AtomicBool,
    /// Threads that run vCPUs, to kick.
    threads: Mutex<Vec<libc::pid_t>>,
}

/// Wake-up generation: bumped by every event a parked thread may be waiting for; parked threads
/// sleep on it with a futex (see [`Stopper::wait`]).
///
/// One for the whole process, not one per run, so that the stop-signal handler, which cannot
/// know the run, can wake every parked thread ([`wake_parked`]). Runs that share a process
/// (an embedding program's, tests') only wake each other's parked threads in vain: a wait
/// re-checks what it waits for.
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// Wakes every thread parked in [`Stopper::wait`]. Async-signal-safe (an atomic add and a
/// futex wake): the stop-signal handler calls it.
pub(crate) fn wake_parked() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    // SAFETY: FUTEX_WAKE on a live, aligned u32 (a static); it reads nothing else and wakes
    // at most every waiter.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            GENERATION.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        )
    };
}

impl Stopper {
    /// A stopper for a new run, not stopped.
    pub fn new() -> Stopper {
        Stopper::default()
    }

    /// Stops the run for `reason` (unless it is already stopping, for an earlier reason):
    /// every guest ends at its next exit or kick, and parked guests wake up.
    pub fn stop(&self, reason: StopReason) {
        if self.0.reason.set(reason).is_err() {
            return;
        }
        self.0.requested.store(true, Ordering::SeqCst);
        self.kick_all();
        self.notify();
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        self.take_signal();
        self.0.reason.get().cloned()
    }

    /// True once [`Stopper::stop`] was called, or a stop signal came (see `signals`).
    pub(crate) fn requested(&self) -> bool {
        self.take_signal() || self.0.requested.load(Ordering::SeqCst)
    }

    /// Turns a stop signal the handler noted into a stop (from ordinary code, which may kick
    /// and wake); true if there was one.
    fn take_signal(&self) -> bool {
        match crate::signals::received() {
            Some(signo) => {
                if !self.0.requested.load(Ordering::SeqCst) {
                    self.stop(StopReason::Signal(signo));
                }
                true
            }
            None => false,
        }
    }

    fn kick_all(&self) {
        let threads = self.0.threads.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        for &tid in threads.iter() {
            // SAFETY: tgkill with our own process ID and a thread ID registered by a live thread
            // (threads deregister, under this lock, before they end, so the ID is not reused).
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, kick_signal()) };
        }
    }

    /// Registers the calling thread as one that runs vCPUs, until the guard is dropped; it
    /// takes stop signals from now on until it ends (see `signals`).
    pub(crate) fn register_this_thread(&self) -> Registered {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.0.threads.lock().unwrap_or_else(|p| p.into_inner()).push(tid);
        crate::signals::accept_here();
        Registered { stopper: self.clone(), tid }
    }

    /// The wake-up generation now: pass it to [`Stopper::wait`] after checking the condition
    /// the wait is for.
    pub(crate) fn generation(&self) -> u32 {
        GENERATION.load(Ordering::SeqCst)
    }

    /// Wakes every thread parked in [`Stopper::wait`]: something it may wait for happened
    /// (input arrived, a guest left the input queue, the run is stopping).
    pub(crate) fn notify(&self) {
        wake_parked();
    }

    /// Parks the calling thread until [`Stopper::notify`] is called after `seen` was read, a
    /// stop signal comes, or `deadline`.
    ///
    /// A futex rather than a condition variable: a stop signal landing in this thread makes
    /// the futex wait return (`EINTR`), and the loop then sees it (see `signals`); the
    /// standard library's condition variable would go back to sleep.
    pub(crate) fn wait(&self, seen: u32, deadline: Option<Instant>) {
        while self.generation() == seen && crate::signals::received().is_none() {
            let timeout = match deadline {
                None => None,
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return;
                    }
                    Some(libc::timespec {
                        tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
                        tv_nsec: libc::c_long::from(left.subsec_nanos()),
                    })
                }
            };
            let timeout_ptr = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: FUTEX_WAIT on a live, aligned u32 (a static), sleeping only while it still
            // holds `seen`; `timeout_ptr` is null or points at a timespec that outlives the call.
            // Whatever it returns (woken, changed, interrupted, timed out), the loop re-checks.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    GENERATION.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    seen,
                    timeout_ptr,
                )
            };
        }
    }
}

/// A thread registered with [`Stopper::register_this_thread`]; deregisters when dropped.
#[derive(Debug)]
pub(crate) struct Registered {
    stopper: Stopper,
    tid: libc::pid_t,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut threads = self.stopper.0.threads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = threads.iter().position(|&t| t == self.tid) {
            threads.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_first_reason_wins_and_wakes_waiters() {
        let stopper = Stopper::new();
        assert!(!stopper.requested());
        let seen = stopper.generation();
        let waiter = {
            let stopper = stopper.clone();
            std::thread::spawn(move || {
                stopper.wait(seen, Some(Instant::now() + Duration::from_secs(30)));
                Instant::now()
            })
        };
        let asked = Instant::now();
        stopper.stop(StopReason::Signal(libc::SIGTERM));
        stopper.stop(StopReason::BrokenPipe);
        let woke = waiter.join().unwrap_or_else(|_| Instant::now() + Duration::from_secs(60));
        assert!(woke.duration_since(asked) < Duration::from_secs(10));
        assert!(stopper.requested());
        assert_eq!(stopper.reason(), Some(StopReason::Signal(libc::SIGTERM)));
    }

    #[test]
    fn a_wait_ends_at_its_deadline() {
        let stopper = Stopper::new();
        let start = Instant::now();
        stopper.wait(stopper.generation(), Some(start + Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
