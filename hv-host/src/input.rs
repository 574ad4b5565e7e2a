//! Console input: one reader thread, a bounded queue, and guests served first come, first
//! served, in whole lines, none of them ever blocking a host thread in `read`.
//!
//! The host's stdin is read by one thread of its own, started when a guest first asks for
//! input (so a run whose guests never read leaves stdin alone). It moves what it reads into a
//! queue of at most [`QUEUE_CAP`] bytes and wakes the run's parked threads (see
//! [`Stopper::wait`]). A guest asking for input when none is there for it gets
//! [`Taken::Pending`]: its vCPU is parked (not re-entered) until input arrives, so its host
//! thread stays free for the timeout, for signals and, with `--sched single`, for the other
//! guests.
//!
//! Who gets what (the rule `hv_core::proto::hv_page` documents for guests):
//! - **First come, first served.** A guest that finds nothing for it joins the waiting line;
//!   input goes to the guest at its head, so a guest that asks later never takes input from
//!   one that has waited longer.
//! - **Whole lines.** A guest is handed whole lines: the next one when other guests are
//!   waiting too, else as many as fit in the room it has (its input ring, or 1 byte for a raw
//!   `in`). A line that does not fit, or has not ended yet, goes in pieces to the same guest:
//!   until it has had the line's newline, that guest (the line's *owner*) is served before
//!   anyone else, and nobody else gets input. At the end of input, a last line without a
//!   newline goes as it is. A guest that ends while it owns a line leaves the rest to the next.
//! - **One reader, if asked** (`--stdin ID`): every other guest finds end of input at once.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::stop::Stopper;

/// Bytes read ahead of the guests at most: the reader pauses when the queue has no room for
/// another [`READ_SIZE`]. Several input rings' worth, so a guest reading a stream finds its
/// next ringful there when it asks.
pub(crate) const QUEUE_CAP: usize = 256 * 1024;

/// Bytes the reader asks for at once (a pipe's whole buffer).
const READ_SIZE: usize = 64 * 1024;

/// What a guest's request for input came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// This many bytes (at least 1) were handed to the guest's sink.
    Bytes(usize),
    /// End of input: nothing more will come for this guest.
    Eof,
    /// Nothing for this guest yet: it waits (it is in the waiting line) and asks again after a
    /// wake-up.
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
    /// Guests waiting for input, longest-waiting first.
    waiting: VecDeque<u32>,
    /// The guest that has had part of a line and gets the rest first.
    owner: Option<u32>,
    /// The only guest that reads input (`--stdin ID`), if one was chosen.
    only: Option<u32>,
}

impl State {
    /// True if guest `who` may be served now (input or not).
    fn its_turn(&self, who: u32) -> bool {
        match self.owner {
            Some(owner) => owner == who,
            None => self.waiting.front().is_none_or(|&w| w == who),
        }
    }

    /// How many of the queued bytes to hand over, at most `room` (>= 1, and the queue is not
    /// empty): whole lines, one if `others` wait, as many as fit if not; a line's first piece
    /// if no whole line fits (or none has ended yet).
    fn chunk(&self, room: usize, others: bool) -> usize {
        let limit = room.min(self.bytes.len());
        let mut window = self.bytes.range(..limit);
        if others {
            return window.position(|&b| b == b'\n').map_or(limit, |p| p + 1);
        }
        if limit == self.bytes.len() && self.eof {
            return limit;
        }
        // Searched from the end: a line's length at most, whatever the room.
        window.rposition(|&b| b == b'\n').map_or(limit, |p| p + 1)
    }

    /// Guest `who` no longer waits or owns a line; true if that may let another go on.
    fn leave(&mut self, who: u32) -> bool {
        let was_first = self.waiting.front() == Some(&who);
        self.waiting.retain(|&w| w != who);
        let owned = self.owner == Some(who);
        if owned {
            self.owner = None;
        }
        was_first || owned
    }
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
            owner: None,
            only: None,
        };
        Input {
            shared: Arc::new(Shared { state: Mutex::new(state), room: Condvar::new(), stopper }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives all input to guest `id` (`--stdin ID`): every other guest finds end of input.
    pub(crate) fn only_for(&self, id: u32) {
        self.lock().only = Some(id);
    }

    /// Guest `who` asks for input, with room for `room` bytes: the bytes it gets go to `sink`
    /// (in at most two pieces), under the rules in the module's doc.
    pub(crate) fn take(&self, who: u32, room: usize, mut sink: impl FnMut(&[u8])) -> Taken {
        let mut state = self.lock();
        if state.only.is_some_and(|only| only != who) {
            return Taken::Eof;
        }
        if let Some(source) = state.source.take() {
            self.start_reader(source, &mut state);
        }
        if state.bytes.is_empty() && state.eof {
            let moved = state.leave(who);
            drop(state);
            if moved {
                self.shared.stopper.notify();
            }
            return Taken::Eof;
        }
        if room == 0 {
            return Taken::Bytes(0);
        }
        if state.bytes.is_empty() || !state.its_turn(who) {
            if !state.waiting.contains(&who) {
                state.waiting.push_back(who);
            }
            return Taken::Pending;
        }
        state.waiting.retain(|&w| w != who);
        let n = state.chunk(room, !state.waiting.is_empty());
        let (a, b) = state.bytes.as_slices();
        let first = n.min(a.len());
        sink(&a[..first]);
        if n > first {
            sink(&b[..n - first]);
        }
        let last = state.bytes[n - 1];
        let before = state.bytes.len();
        state.bytes.drain(..n);
        let line_ended = last == b'\n' || (state.eof && state.bytes.is_empty());
        state.owner = (!line_ended).then_some(who);
        // The reader waits while the queue has no room for a whole read (see `read_all`).
        if before + READ_SIZE > QUEUE_CAP && state.bytes.len() + READ_SIZE <= QUEUE_CAP {
            self.shared.room.notify_one();
        }
        // The next guest in line may be served now.
        let next_may_go = !state.waiting.is_empty()
            && state.owner.is_none()
            && (!state.bytes.is_empty() || state.eof);
        drop(state);
        if next_may_go {
            self.shared.stopper.notify();
        }
        Taken::Bytes(n)
    }

    /// True if guest `who`'s next [`Input::take`] would not be pending.
    pub(crate) fn ready_for(&self, who: u32) -> bool {
        let state = self.lock();
        state.only.is_some_and(|only| only != who)
            || (state.bytes.is_empty() && state.eof)
            || (!state.bytes.is_empty() && state.its_turn(who))
    }

    /// Guest `who` has ended (or was stopped while waiting): it leaves the waiting line, and a
    /// line it had part of goes on to the next guest.
    pub(crate) fn leave(&self, who: u32) {
        let moved = self.lock().leave(who);
        if moved {
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
    let mut buf = vec![0u8; READ_SIZE];
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

    /// Asks until the answer is not pending (the reader thread runs on its own); the bytes
    /// taken, or `None` at end of input.
    fn next(input: &Input, who: u32, room: usize, stopper: &Stopper) -> Option<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = stopper.generation();
            let mut got = Vec::new();
            match input.take(who, room, |b| got.extend_from_slice(b)) {
                Taken::Bytes(n) => {
                    assert_eq!(n, got.len());
                    return Some(got);
                }
                Taken::Eof => return None,
                Taken::Pending if Instant::now() < deadline => stopper.wait(seen, Some(deadline)),
                Taken::Pending => panic!("no input within 10 s"),
            }
        }
    }

    fn some(b: &[u8]) -> Option<Vec<u8>> {
        Some(b.to_vec())
    }

    #[test]
    fn input_reports_eof_and_stays_there() {
        let stopper = Stopper::new();
        let input = Input::new(Box::new(&b"ab"[..]), stopper.clone());
        assert_eq!(next(&input, 0, 1, &stopper), some(b"a"));
        assert_eq!(next(&input, 0, 1, &stopper), some(b"b"));
        assert_eq!(next(&input, 0, 1, &stopper), None);
        assert_eq!(next(&input, 1, 100, &stopper), None);
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

    fn gated() -> (Input, Stopper, std::sync::mpsc::Sender<Vec<u8>>) {
        let stopper = Stopper::new();
        let (tx, rx) = std::sync::mpsc::channel();
        (Input::new(Box::new(Gate(rx)), stopper.clone()), stopper, tx)
    }

    fn until_ready(input: &Input, who: u32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !input.ready_for(who) {
            assert!(Instant::now() < deadline, "guest {who} never became ready");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_guest_that_waited_first_gets_the_first_line() {
        let (input, stopper, tx) = gated();
        let none = |_: &[u8]| panic!("nothing is due");
        assert_eq!(input.take(5, 1, none), Taken::Pending);
        assert_eq!(input.take(2, 1, none), Taken::Pending);
        tx.send(b"x\ny\n".to_vec()).unwrap_or_default();
        until_ready(&input, 5);
        // Guest 2 asks again first, but guest 5 has waited longer.
        assert!(!input.ready_for(2));
        assert_eq!(input.take(2, 100, none), Taken::Pending);
        // Guest 2 waits too: guest 5 gets one line, not both.
        assert_eq!(next(&input, 5, 100, &stopper), some(b"x\n"));
        assert_eq!(next(&input, 2, 100, &stopper), some(b"y\n"));
        // A stopped guest leaves the line.
        assert_eq!(input.take(7, 1, none), Taken::Pending);
        assert_eq!(input.take(8, 1, none), Taken::Pending);
        input.leave(7);
        drop(tx);
        assert_eq!(next(&input, 8, 1, &stopper), None);
    }

    #[test]
    fn a_line_goes_whole_to_one_guest_even_a_byte_at_a_time() {
        let (input, stopper, tx) = gated();
        tx.send(b"one\ntwo\n".to_vec()).unwrap_or_default();
        // Guest 0 takes a byte (a raw `in`): the rest of "one\n" is its own.
        assert_eq!(next(&input, 0, 1, &stopper), some(b"o"));
        assert_eq!(input.take(1, 100, |_| panic!("not guest 1's")), Taken::Pending);
        assert!(!input.ready_for(1));
        // With guest 1 waiting, guest 0 finishes its line and gets no more.
        assert_eq!(next(&input, 0, 100, &stopper), some(b"ne\n"));
        assert_eq!(next(&input, 1, 100, &stopper), some(b"two\n"));
        // A line longer than the room goes in pieces to the same guest.
        tx.send(b"abcdefgh\nz\n".to_vec()).unwrap_or_default();
        until_ready(&input, 1);
        assert_eq!(next(&input, 1, 3, &stopper), some(b"abc"));
        assert_eq!(input.take(0, 100, |_| panic!("not guest 0's")), Taken::Pending);
        assert_eq!(next(&input, 1, 3, &stopper), some(b"def"));
        // Its owner ends mid-line: the rest goes on to the next guest.
        input.leave(1);
        assert_eq!(next(&input, 0, 100, &stopper), some(b"gh\nz\n"));
        drop(tx);
        assert_eq!(next(&input, 0, 100, &stopper), None);
    }

    #[test]
    fn alone_a_guest_gets_whole_lines_as_many_as_fit_and_a_partial_line_at_once() {
        let (input, stopper, tx) = gated();
        tx.send(b"1\n22\n333\n4444".to_vec()).unwrap_or_default();
        // Room for 8: "1\n22\n" (5) is what ends a line within 8 bytes.
        assert_eq!(next(&input, 0, 8, &stopper), some(b"1\n22\n"));
        // The queue ends mid-line: whole lines first, then the unfinished one at once.
        assert_eq!(next(&input, 0, 100, &stopper), some(b"333\n"));
        assert_eq!(next(&input, 0, 100, &stopper), some(b"4444"));
        // Guest 0 owns the unfinished line: its end comes to it, not to guest 1.
        assert_eq!(input.take(1, 100, |_| panic!("not guest 1's")), Taken::Pending);
        tx.send(b"5\n6".to_vec()).unwrap_or_default();
        until_ready(&input, 0);
        assert_eq!(next(&input, 0, 100, &stopper), some(b"5\n"));
        drop(tx);
        // End of input: the last line goes as it is, to the guest that waited.
        assert_eq!(next(&input, 1, 100, &stopper), some(b"6"));
        assert_eq!(next(&input, 0, 100, &stopper), None);
    }

    #[test]
    fn with_one_reader_the_others_find_end_of_input() {
        let stopper = Stopper::new();
        let input = Input::new(Box::new(&b"all mine\n"[..]), stopper.clone());
        input.only_for(1);
        assert!(input.ready_for(0));
        assert_eq!(next(&input, 0, 100, &stopper), None);
        assert_eq!(next(&input, 1, 100, &stopper), some(b"all mine\n"));
        assert_eq!(next(&input, 1, 100, &stopper), None);
    }
}
