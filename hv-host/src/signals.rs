//! SIGINT, SIGTERM and SIGHUP stop the run instead of killing the process.
//!
//! [`install`] installs `on_stop_signal` for the three signals and blocks them in the calling
//! thread, so that every thread started afterwards inherits the mask. From then on:
//! - a thread that runs vCPUs takes them from the moment a [`Stopper`](crate::Stopper)
//!   registers it until it ends, its guest's end included (the last output, the completion of
//!   a disk copy): whatever that thread blocks in, a signal reaches it ([`accept_here`]);
//! - the thread that called `Hypervisor::run` takes them while it runs a guest itself, and not
//!   while it only waits for the others (then a signal lands in a thread that has a vCPU to
//!   kick); the command line has it take them again once the run is over, for the reports;
//! - the console input thread never takes them (its blocking `read` must not be interrupted).
//!
//! The handler notes the first signal, kicks the vCPU of the thread it interrupted (the same
//! byte as a timer kick, see `kick`), which makes that thread's `KVM_RUN` return, and wakes every
//! parked thread (see `Stopper::wait`); all three are async-signal-safe. The runner that sees
//! [`received`] through `Stopper::requested` at its next check stops the run from ordinary
//! code, which kicks every other vCPU thread: every guest ends at its next exit or kick,
//! unfinished lines are written, and the command line reports and exits with 128 + the signal
//! number. A runner the signal did not reach directly sees it at its next exit, at the latest
//! when its periodic console drain kicks it (see `sched`). The first signal also ends the
//! completion of `--disk-cow` copies (see `devices::disk`).
//!
//! A second signal exits at once with its own status, from the handler, as a user pressing
//! Ctrl-C twice expects, whatever is stuck: a write to an output nobody reads, a full stderr, a
//! long copy. No thread that can be stuck has the signals blocked, so the handler always runs.
//!
//! Why a handler and not a thread in `sigwait`: a thread costs every launch about 0.1 ms
//! here (its creation, and its teardown at exit), a tenth of the whole launch of a guest.
//!
//! Without `SA_RESTART`, so that a signal interrupts a runner's blocking calls; every one a
//! runner makes either returns to a loop that checks [`received`] (`KVM_RUN`, the parked
//! wait, see `Stopper::wait`) or is retried (`write_all` on `EINTR`).

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals that stop a run.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The first stop signal received, or 0.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Set once [`install`] succeeded.
static INSTALLED: OnceLock<()> = OnceLock::new();

extern "C" fn on_stop_signal(signo: libc::c_int) {
    if RECEIVED.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        // SAFETY: _exit is async-signal-safe and has no preconditions; nothing is flushed, on
        // purpose (the output may be what is stuck).
        unsafe { libc::_exit(128 + signo) };
    }
    crate::kick::kick_this_thread();
    crate::stop::wake_parked();
}

/// Makes SIGINT, SIGTERM and SIGHUP stop the run (see the module docs).
///
/// Call it before any other thread is started (the signals stay blocked in this thread and
/// every thread it starts later, except while they run vCPUs); a thread started earlier
/// would still die of them.
pub fn install() -> io::Result<()> {
    let set = stop_set();
    // SAFETY: a valid, initialised set; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: `sigaction` is plain old data; all-zero is a valid (empty) value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_stop_signal as *const () as usize;
    // While one stop signal is handled, the others wait (the handler is short).
    action.sa_mask = set;
    for signo in STOP_SIGNALS {
        // SAFETY: a valid signal number and action; the handler is async-signal-safe (atomic
        // operations, a TLS load, a futex wake, `_exit`) and lives for the whole program.
        if unsafe { libc::sigaction(signo, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let _ = INSTALLED.set(());
    Ok(())
}

/// True once [`install`] succeeded.
fn installed() -> bool {
    INSTALLED.get().is_some()
}

/// The first stop signal received since [`install`], if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signo => Some(signo),
    }
}

/// From now on the calling thread takes stop signals (nothing, without [`install`]): a thread
/// that runs vCPUs, from its registration until it ends, and the command line's main thread
/// once the run is over (see the module docs).
pub fn accept_here() {
    if installed() {
        set_mask(libc::SIG_UNBLOCK);
    }
}

/// Runs `f` with stop signals blocked in the calling thread, so that a thread `f` starts
/// inherits them blocked (it must never take one: see the module docs).
pub(crate) fn blocked_while<T>(f: impl FnOnce() -> T) -> T {
    let mut old: libc::sigset_t = stop_set();
    let set = stop_set();
    // SAFETY: valid sets; `old` receives the mask to restore.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    let result = f();
    // SAFETY: restores the mask read above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

fn set_mask(how: libc::c_int) {
    let set = stop_set();
    // SAFETY: a valid, initialised set; it cannot fail with a valid `how`.
    unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
}

fn stop_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain old data, initialised by sigemptyset right away.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid set to initialise and add valid signal numbers to.
    unsafe {
        libc::sigemptyset(&mut set);
        for signo in STOP_SIGNALS {
            libc::sigaddset(&mut set, signo);
        }
    }
    set
}
