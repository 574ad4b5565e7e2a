//! Console input: one reader thread, a bounded queue, and guests served first come, first
//! served, none of them ever blocking a host thread in `read`.
//!
//! The host's stdin is read by one thread of its own, started when a guest first asks for
//! input (so a run whose guests never read leaves stdin alone). It moves what it reads into a
//! queue of at most [`QUEUE_CAP`] bytes and wakes the run's parked threads (see
//! [`Stopper::wait`]). A guest asking for a byte gets [`Poll::Pending`] when there is none yet:
//! its vCPU is parked (not re-entered) until input arrives, so its host thread stays free for
//! the timeout, for signals and, with `--sched single`, for the other guests.
//!
//! First come, first served: a guest that finds no byte joins the waiting line; bytes go to
//! the guest at the head of the line, so a guest that asks later never takes a byte from one
//! that has waited longer. At end of input every read ends at once.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::stop::Stopper;

/// Bytes read ahead of the guests at most: the reader pauses when the queue is this full.
pub(crate) const QUEUE_CAP: usize = 64 * 1024;

/// Bytes the reader asks for at once.
const READ_SIZE: usize = 4096;

/// What a guest's read found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Poll {
    /// The next byte, or `None` at end of input.
    Ready(Option<u8>),
    /// Nothing yet: the guest waits (it is in the waiting line) and asks again after a wake-up.
    Pending,
}

/// The run's console input.
pub(crate) struct Input {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the queue has room again (the reader waits on it).
    room: Condvar,
    stopper: Stopper,
}

struct State {
    /// The input, until the reader thread takes it.
    source: Option<Box<dyn Read + Send>>,
    bytes: VecDeque<u8>,
    eof: bool,
    /// Guests waiting for a byte, longest-waiting first.
    waiting: VecDeque<u32>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").finish_non_exhaustive()
    }
}

impl Input {
    /// Input from `source`, not read until a guest asks; parked guests are woken through
    /// `stopper`.
    pub(crate) fn new(source: Box<dyn Read + Send>, stopper: Stopper) -> Input {
        let state = State {
            source: Some(source),
            bytes: VecDeque::new(),
            eof: false,
            waiting: VecDeque::new(),
        };
        Input {
            shared: Arc::new(Shared { state: Mutex::new(state), room: Condvar::new(), stopper }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Guest `who` asks for the next byte.
    pub(crate) fn poll(&self, who: u32) -> Poll {
        let mut state = self.lock();
        if let Some(source) = state.source.take() {
            self.start_reader(source, &mut state);
        }
        if state.bytes.is_empty() && state.eof {
            state.waiting.retain(|&w| w != who);
            return Poll::Ready(None);
        }
        let first = state.waiting.front().is_none_or(|&w| w == who);
        if state.bytes.is_empty() || !first {
            if !state.waiting.contains(&who) {
                state.waiting.push_back(who);
            }
            return Poll::Pending;
        }
        if state.waiting.front() == Some(&who) {
            state.waiting.pop_front();
        }
        let byte = state.bytes.pop_front();
        // The reader waits while the queue has no room for a whole read (see `read_all`).
        if state.bytes.len() + READ_SIZE == QUEUE_CAP {
            self.shared.room.notify_one();
        }
        // The next guest in line may be served now.
        let next_may_go = !state.waiting.is_empty() && (!state.bytes.is_empty() || state.eof);
        drop(state);
        if next_may_go {
            self.shared.stopper.notify();
        }
        Poll::Ready(byte)
    }

    /// True if guest `who`'s next [`Input::poll`] would not be pending.
    pub(crate) fn ready_for(&self, who: u32) -> bool {
        let state = self.lock();
        (state.bytes.is_empty() && state.eof)
            || (!state.bytes.is_empty() && state.waiting.front().is_none_or(|&w| w == who))
    }

    /// Guest `who` no longer waits (it was stopped while waiting): the line moves on.
    pub(crate) fn cancel(&self, who: u32) {
        let mut state = self.lock();
        let was_first = state.waiting.front() == Some(&who);
        state.waiting.retain(|&w| w != who);
        drop(state);
        if was_first {
            self.shared.stopper.notify();
        }
    }

    /// Starts the thread that reads `source` into the queue.
    fn start_reader(&self, source: Box<dyn Read + Send>, state: &mut State) {
        let shared = self.shared.clone();
        // The reader never takes a stop signal (see `signals`), even when a runner starts it.
        let spawned = crate::signals::blocked_while(|| {
            std::thread::Builder::new()
                .name("console-input".into())
                .spawn(move || read_all(source, &shared))
        });
        if let Err(e) = spawned {
            log::warn!("cannot start the console input thread: {e}; treating input as empty");
            state.eof = true;
        }
    }
}

/// The reader thread: moves `source` into the queue until end of input or a read error.
///
/// Note (lifetime): the thread may stay blocked in `read` after the run has ended (a terminal
/// nobody types on); it owns everything it touches, and the process exit ends it.
fn read_all(mut source: Box<dyn Read + Send>, shared: &Shared) {
    let mut buf = [0u8; READ_SIZE];
    loop {
        {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            while state.bytes.len() + buf.len() > QUEUE_CAP {
                state = shared.room.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        }
        let result = source.read(&mut buf);
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let more = match result {
            Ok(0) => false,
            Ok(n) => {
                state.bytes.extend(&buf[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("reading the console input: {e}; treating it as end of input");
                false
            }
        };
        state.eof = !more;
        drop(state);
        shared.stopper.notify();
        if !more {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Polls until the answer is not pending (the reader thread runs on its own).
    fn next(input: &Input, who: u32, stopper: &Stopper) -> Option<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = stopper.generation();
            match input.poll(who) {
                Poll::Ready(b) => return b,
                Poll::Pending if Instant::now() < deadline => stopper.wait(seen, Some(deadline)),
                Poll::Pending => panic!("no input within 10 s"),
            }
        }
    }

    #[test]
    fn input_reports_eof_and_stays_there() {
        let stopper = Stopper::new();
        let input = Input::new(Box::new(&b"ab"[..]), stopper.clone());
        assert_eq!(next(&input, 0, &stopper), Some(b'a'));
        assert_eq!(next(&input, 0, &stopper), Some(b'b'));
        assert_eq!(next(&input, 0, &stopper), None);
        assert_eq!(next(&input, 1, &stopper), None);
    }

    /// A source that gives nothing until told to.
    struct Gate(std::sync::mpsc::Receiver<Vec<u8>>);
    impl Read for Gate {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Ok(data) = self.0.recv() else { return Ok(0) };
            buf[..data.len()].copy_from_slice(&data);
            Ok(data.len())
        }
    }

    #[test]
    fn the_guest_that_waited_first_gets_the_first_byte() {
        let stopper = Stopper::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let input = Input::new(Box::new(Gate(rx)), stopper.clone());
        assert_eq!(input.poll(5), Poll::Pending);
        assert_eq!(input.poll(2), Poll::Pending);
        tx.send(b"xy".to_vec()).unwrap_or_default();
        // Guest 2 asks again first, but guest 5 has waited longer.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !input.ready_for(5) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(input.poll(2), Poll::Pending);
        assert_eq!(input.poll(5), Poll::Ready(Some(b'x')));
        assert_eq!(input.poll(2), Poll::Ready(Some(b'y')));
        // A stopped guest leaves the line.
        assert_eq!(input.poll(7), Poll::Pending);
        assert_eq!(input.poll(8), Poll::Pending);
        input.cancel(7);
        drop(tx);
        assert_eq!(next(&input, 8, &stopper), None);
    }
}
