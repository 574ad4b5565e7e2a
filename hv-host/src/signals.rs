//! SIGINT, SIGTERM and SIGHUP stop the run instead of killing the process.
//!
//! [`forward_to`] blocks the three signals in the calling thread, so that every thread it
//! starts afterwards (all of the run's threads) inherits the mask, and starts one thread that
//! takes them with `sigwait`. The first one stops the run (see [`Stopper`]): every guest ends
//! at its next exit or kick, unfinished lines are written, and the command line reports and
//! exits with 128 + the signal number. A second one exits at once with that status, as a
//! user pressing Ctrl-C twice expects.
//!
//! `sigwait` in an ordinary thread, not a handler: stopping walks a lock-protected list of
//! threads and wakes a condition variable, which a signal handler must not do.

use std::io;

use crate::stop::{StopReason, Stopper};

/// The signals that stop a run.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Makes SIGINT, SIGTERM and SIGHUP stop the run of `stopper` (see the module docs).
///
/// Call it before any other thread is started (the signals stay blocked in this thread and
/// every thread it starts later); a thread started earlier would still die of them.
pub fn forward_to(stopper: Stopper) -> io::Result<()> {
    let set = stop_set();
    // SAFETY: a valid, initialised set; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut first = true;
        loop {
            let mut signo: libc::c_int = 0;
            // SAFETY: a valid set, blocked in this thread (inherited), and a valid out-pointer.
            if unsafe { libc::sigwait(&set, &mut signo) } != 0 {
                continue;
            }
            if !first {
                // SAFETY: _exit has no preconditions; nothing is flushed, on purpose.
                unsafe { libc::_exit(128 + signo) };
            }
            first = false;
            stopper.stop(StopReason::Signal(signo));
        }
    })?;
    Ok(())
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
