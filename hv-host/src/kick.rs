//! Kicking a vCPU out of `KVM_RUN` at a set time: a POSIX timer per host thread, a real-time
//! signal, and the vCPU's `kvm_run.immediate_exit` byte.
//!
//! A guest that never exits would keep its host thread inside `KVM_RUN` forever. The scheduler
//! (to end a quantum) and the timeout (to end a guest) both need it back, so each thread that
//! runs vCPUs owns a [`Kicker`]: a `CLOCK_MONOTONIC` timer whose expiry sends [`kick_signal`]
//! to that thread alone (`SIGEV_THREAD_ID`), and the `immediate_exit` byte of the vCPU it is
//! running ("aimed at"). The signal handler sets that byte; `KVM_RUN` then returns `EINTR`,
//! either at once (the signal interrupts guest mode) or on its next call (the byte is polled
//! when `KVM_RUN` starts). This is the scheme Documentation/virt/kvm/api.rst gives for
//! `immediate_exit`, instead of blocking the signal outside `KVM_RUN` with
//! `KVM_SET_SIGNAL_MASK`.
//!
//! Note (race-freedom): a kick is only a wake-up; it carries no decision. Whoever runs the vCPU
//! decides from the clock, after every return from `KVM_RUN`, whether the quantum or the guest's
//! time is over. That makes every interleaving safe:
//! - the signal lands while the guest runs: `KVM_RUN` returns `EINTR`, the clock says why;
//! - it lands while the host is handling an exit, or just before `KVM_RUN` is entered: the byte
//!   stays set, and the next `KVM_RUN` returns `EINTR` before entering the guest;
//! - it lands after `KVM_RUN` has returned `EINTR` but before the byte is cleared: that kick is
//!   lost, but the timer that sent it expired before the clock is read (the timer is armed with
//!   a relative time on the same `CLOCK_MONOTONIC` as [`Instant`], so it cannot expire before the
//!   instant it was armed for), so the clock check sees the expiry anyway;
//! - a stale kick (a quantum that ended by itself, or a vCPU no longer aimed at) leaves the byte
//!   set: that vCPU's next `KVM_RUN` returns `EINTR` at once, the clock says nothing is over,
//!   and it is simply re-entered. Guest state lives in KVM and is never touched, so an
//!   interrupted guest resumes exactly where it was.
//!
//! The byte is cleared only when `KVM_RUN` returned `EINTR` (see `Vm::step`), never after an
//! ordinary exit, so a kick that arrives while an exit is being handled is not lost.

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use kvm_ioctls::VcpuFd;

/// The signal the kick timers send: the first real-time signal the C library leaves free.
pub(crate) fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

thread_local! {
    /// The `immediate_exit` byte of the vCPU this thread's kicks stop, or null.
    ///
    /// Note (signal safety): the handler reads this. A `const`-initialised thread local of a
    /// type without drop glue is a plain `#[thread_local]` static (no lazy initialisation, no
    /// destructor registration, no allocation), so reading it in a signal handler is a single
    /// TLS load; Firecracker's vCPU kick reads its thread-local vCPU pointer the same way.
    static TARGET: AtomicPtr<u8> = const { AtomicPtr::new(ptr::null_mut()) };
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    kick_this_thread();
}

/// Sets the `immediate_exit` byte of the vCPU the calling thread's kicks stop, if any: its
/// `KVM_RUN` returns `EINTR` now or at its next call. Async-signal-safe (the kick handler and
/// the stop-signal handler in `signals` call it).
pub(crate) fn kick_this_thread() {
    // `try_with` cannot panic, even while the thread is being torn down.
    let _ = TARGET.try_with(|target| {
        if let Some(byte) = NonNull::new(target.load(Ordering::Relaxed)) {
            KickFlag(byte).set();
        }
    });
}

/// Installs [`on_kick`] for [`kick_signal`], once per process.
///
/// Not `vmm_sys_util::signal::register_signal_handler`: that one omits `SA_RESTART`, and
/// without it a kick landing while a vCPU thread is blocked reading the console would make
/// `read` fail with `EINTR`, which the console takes for end of input. With `SA_RESTART` such
/// calls resume; `KVM_RUN` returns `-EINTR` itself, which is never restarted.
fn install_handler() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        // SAFETY: `sigaction` is plain old data; all-zero is a valid (empty) value.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_kick as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        // SAFETY: `sa_mask` is a valid sigset to initialise.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: a valid signal number and action; the handler is async-signal-safe (one TLS
        // load and one atomic store) and lives for the whole program.
        match unsafe { libc::sigaction(kick_signal(), &action, ptr::null_mut()) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)),
        }
    });
    result.map_err(io::Error::from_raw_os_error)
}

/// A vCPU's `kvm_run.immediate_exit` byte.
///
/// Every access is atomic: the byte is written both by the thread's ordinary code and by the
/// signal handler interrupting it, and read by KVM.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KickFlag(NonNull<u8>);

impl KickFlag {
    /// The flag of `vcpu`. It points into the vCPU's `kvm_run` mapping, so it is valid exactly
    /// as long as `vcpu` is alive. (kvm-ioctls hands the mapping out only as `&mut kvm_run`;
    /// the pointer kept here is used for this one byte, and only atomically.)
    pub(crate) fn of(vcpu: &mut VcpuFd) -> KickFlag {
        let run = vcpu.get_kvm_run();
        KickFlag(NonNull::from(&mut run.immediate_exit))
    }

    fn atomic(&self) -> &AtomicU8 {
        // SAFETY: the pointer is into the `kvm_run` page of a vCPU that is still alive (the
        // owner of a `KickFlag` keeps it no longer than its vCPU, and `Kicker::aim` requires the
        // same); the byte is aligned for `AtomicU8` and only ever accessed atomically by us.
        unsafe { AtomicU8::from_ptr(self.0.as_ptr()) }
    }

    /// Sets the flag: the next `KVM_RUN` returns `EINTR` (the debugger uses it to complete a
    /// pending access without running the guest: see `Vm::settle`).
    pub(crate) fn set(&self) {
        self.atomic().store(1, Ordering::Relaxed);
    }

    /// Clears the flag, so that the next `KVM_RUN` enters the guest.
    pub(crate) fn clear(&self) {
        self.atomic().store(0, Ordering::Relaxed);
    }
}

/// The calling thread's kick timer and the vCPU its kicks stop.
///
/// Not `Send`: the timer signals the thread that created it, and the aim is that thread's.
#[derive(Debug)]
pub(crate) struct Kicker {
    timer: libc::timer_t,
    _this_thread: PhantomData<Cell<*mut ()>>,
}

impl Kicker {
    /// A disarmed kick timer for the calling thread, aimed at nothing.
    pub(crate) fn for_this_thread() -> io::Result<Kicker> {
        install_handler()?;
        // SAFETY: `sigevent` is plain old data; all-zero is a valid value, completed below.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = kick_signal();
        // SAFETY: gettid has no preconditions.
        event.sigev_notify_thread_id = unsafe { libc::gettid() };
        let mut timer: libc::timer_t = ptr::null_mut();
        // SAFETY: valid clock, event and out-pointer; the timer is deleted in `drop`.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Kicker { timer, _this_thread: PhantomData })
    }

    /// From now on, kicks stop the vCPU whose flag this is.
    ///
    /// # Safety
    ///
    /// The flag's vCPU must stay alive until this kicker is dropped or aimed elsewhere (with
    /// `aim` or [`Kicker::aim_at_nothing`]): the signal handler writes through the flag.
    pub(crate) unsafe fn aim(&self, flag: KickFlag) {
        TARGET.with(|t| t.store(flag.0.as_ptr(), Ordering::Relaxed));
    }

    /// From now on, kicks stop nothing (call before dropping the vCPU last aimed at).
    pub(crate) fn aim_at_nothing(&self) {
        TARGET.with(|t| t.store(ptr::null_mut(), Ordering::Relaxed));
    }

    /// Arms the timer to kick once at `when` (or right away if that has passed), replacing any
    /// earlier setting.
    pub(crate) fn kick_at(&self, when: Instant) -> io::Result<()> {
        // A zero it_value would disarm the timer: wait at least a nanosecond. Relative time:
        // the timer then expires no earlier than `when` (see the module's Note).
        let wait = when.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(wait.subsec_nanos()),
            },
        };
        // SAFETY: a live timer of ours and a valid itimerspec.
        if unsafe { libc::timer_settime(self.timer, 0, &spec, ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Kicker {
    fn drop(&mut self) {
        // SAFETY: the timer is ours and deleted only here; afterwards it sends nothing.
        unsafe { libc::timer_delete(self.timer) };
        self.aim_at_nothing();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kick_sets_the_aimed_byte_and_nothing_else() {
        let mut byte = 0u8;
        let mut other = 0u8;
        let kicker = Kicker::for_this_thread().expect("timer");
        let flag = KickFlag(NonNull::from(&mut byte));
        // SAFETY: `byte` outlives the kicker's aim: it is re-aimed at nothing below.
        unsafe { kicker.aim(flag) };
        kicker.kick_at(Instant::now()).expect("arm");
        let deadline = Instant::now() + Duration::from_secs(5);
        while flag.atomic().load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(flag.atomic().load(Ordering::Relaxed), 1);
        flag.clear();
        assert_eq!(flag.atomic().load(Ordering::Relaxed), 0);
        // Aimed at another byte, a kick leaves the first alone.
        // SAFETY: as above.
        unsafe { kicker.aim(KickFlag(NonNull::from(&mut other))) };
        kicker.kick_at(Instant::now() + Duration::from_millis(2)).expect("arm");
        std::thread::sleep(Duration::from_millis(50));
        kicker.aim_at_nothing();
        drop(kicker);
        assert_eq!((byte, other), (0, 1));
    }
}
