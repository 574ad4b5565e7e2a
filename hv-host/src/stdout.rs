//! The host's standard output, as the console writes guest output to it (see `console`).
//!
//! Plain `write(2)` calls on fd 1, with two things the standard library's `Stdout` does not do:
//! report every error (it takes `EBADF`, a closed stdout, for success), and never keep a guest
//! past its `--timeout` when nobody reads the output.

use std::cell::Cell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The host's standard output, written with plain `write(2)` calls: no second buffer (the
/// line buffers batch already), and every error reported (the standard library's `Stdout`
/// takes `EBADF`, a closed stdout, for success).
///
/// # A stuck output and `--timeout`
///
/// A guest thread with a deadline ([`set_output_deadline`]) never blocks on stdout past it: it
/// waits for stdout to take more with `poll` until the deadline, and then writes no more than
/// a pipe takes without blocking (`PIPE_BUF`, once `poll` says there is room). Past the deadline,
/// output that stdout does not take at once is dropped and counted ([`dropped_output`]), so a
/// guest whose time ran out while nobody read the output still ends, and is reported as timed
/// out, instead of keeping its thread (and the console) forever.
pub(crate) struct Stdout {
    file: std::mem::ManuallyDrop<std::fs::File>,
    /// Whether a write to fd 1 may block part-way (anything but a regular file); asked once,
    /// the first time it matters.
    may_block: Option<bool>,
}

thread_local! {
    /// When the guests of this thread must have ended (`--timeout`): see [`Stdout`].
    static OUTPUT_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Console output dropped because stdout did not take it before its guest's deadline.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The calling thread's guests must have ended by `deadline`: a write to a stuck stdout does not
/// keep it past then (see [`Stdout`]).
pub(crate) fn set_output_deadline(deadline: Option<Instant>) {
    OUTPUT_DEADLINE.with(|d| d.set(deadline));
}

/// Bytes of guest output dropped so far because stdout was stuck when their guest's time ran
/// out (hv's stdout writer gives up on a write at the deadline).
pub fn dropped_output() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

impl Stdout {
    pub(crate) fn new() -> Stdout {
        use std::os::fd::FromRawFd;
        // SAFETY: fd 1 is never closed by this process; `ManuallyDrop` keeps this `File` from
        // closing it. If fd 1 is not open, writes fail with EBADF, which is reported.
        let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
        Stdout { file, may_block: None }
    }

    /// Waits until fd 1 takes more, until `deadline` (for ever if `None`); false if it did not
    /// by then.
    fn wait_writable(deadline: Option<Instant>) -> bool {
        loop {
            let timeout = match deadline {
                None => -1,
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    // Rounded up: a wait of 0 ms while time is left would spin.
                    i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
                }
            };
            let mut fd = libc::pollfd { fd: 1, events: libc::POLLOUT, revents: 0 };
            // SAFETY: one valid pollfd, for the length of the call.
            match unsafe { libc::poll(&mut fd, 1, timeout) } {
                // Writable, or an error condition the write itself will report.
                1.. => return true,
                0 => return false,
                // Interrupted (a kick, a signal): wait again for what is left.
                _ => {}
            }
        }
    }

    fn may_block(&mut self) -> bool {
        *self.may_block.get_or_insert_with(|| !self.file.metadata().is_ok_and(|m| m.is_file()))
    }
}

impl Write for Stdout {
    /// One `write(2)`; if stdout was left non-blocking by whoever gave it to us, waits until it
    /// takes more instead of failing the run with `EAGAIN`. With a deadline, see [`Stdout`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let deadline = OUTPUT_DEADLINE.with(Cell::get);
        loop {
            let mut piece = buf;
            if deadline.is_some() && self.may_block() {
                if !Self::wait_writable(deadline) {
                    DROPPED.fetch_add(buf.len() as u64, Ordering::Relaxed);
                    return Ok(buf.len());
                }
                piece = &buf[..buf.len().min(libc::PIPE_BUF)];
            }
            match self.file.write(piece) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !Self::wait_writable(deadline) {
                        DROPPED.fetch_add(buf.len() as u64, Ordering::Relaxed);
                        return Ok(buf.len());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
