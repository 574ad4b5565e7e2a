//! Seed 000's file protocol: one byte per exit on the file port (see
//! [`hv_core::proto::seed`]), a second front end to the guest's [`FileTable`](crate::files).
//!
//! [`Decoder`] is the pure state machine: it turns the guest's `out` bytes into complete
//! [`Request`]s and serves the reply bytes to its `in`s, with no I/O of its own, so every
//! sequence (hostile ones included) is unit-tested below. The adapter (`services::file_port`) runs a
//! request on the file table and hands the reply back to the decoder.
//!
//! Cost: one exit per byte on the seed's host. On hv the request bytes may be queued without an
//! exit (`guest::coalesce`) and reach [`Decoder::out`] at the guest's next exit, always before
//! its next `in`, in order: the decoder sees the same sequence either way. hv's own file calls
//! are one exit per call.

use std::fmt;

use hv_core::proto::errno::Errno;
use hv_core::proto::file::MAX_NAME;
use hv_core::proto::seed::{SEED_ERROR_BYTE, SEED_FD_BYTES, SeedFileOp};

/// A complete request, decoded. The name of an open is in [`Decoder::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Open the name for reading (`false`) or writing (`true`).
    Open { write: bool },
    /// Close an fd.
    Close { fd: i32 },
    /// Read one byte.
    Read { fd: i32 },
    /// Write one byte.
    Write { fd: i32, byte: u8 },
}

impl Request {
    /// The fd it names, if it names one.
    pub(crate) fn fd(self) -> Option<i32> {
        match self {
            Request::Open { .. } => None,
            Request::Close { fd } | Request::Read { fd } | Request::Write { fd, .. } => Some(fd),
        }
    }
}

/// Why a request was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// The first byte of a request is no seed-000 request.
    UnknownRequest(u8),
    /// An `out` came while the reply to the last request was not yet read in full.
    OutDuringReply { unread: usize },
    /// An `in` came before the request was complete: it is dropped, and the guest reads its
    /// error reply (all of it: four 0xFF for an open).
    InBeforeComplete(SeedFileOp),
    /// An `in` came with no request at all.
    InWithoutRequest,
}

impl Malformed {
    /// What the host did about it, for the diagnostic.
    pub(crate) fn dropped(self) -> &'static str {
        match self {
            Malformed::UnknownRequest(_) => "byte ignored",
            Malformed::OutDuringReply { .. } => "reply dropped",
            Malformed::InBeforeComplete(_) => "request dropped, the guest reads 0xff",
            Malformed::InWithoutRequest => "the guest reads 0xff",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::UnknownRequest(b) => write!(f, "unknown request byte {b:#04x}"),
            Malformed::OutDuringReply { unread } => {
                write!(f, "a byte was sent while {unread} reply byte(s) were still unread")
            }
            Malformed::InBeforeComplete(op) => {
                write!(f, "`in` before the {op:?} request was complete")
            }
            Malformed::InWithoutRequest => f.write_str("`in` with no request pending"),
        }
    }
}

/// Where the decoder is in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for a request's first byte.
    Idle,
    /// Collecting an open's name; `len` bytes so far (only the first [`MAX_NAME`] are kept).
    Name { write: bool, len: usize },
    /// Collecting an fd, most significant byte first.
    Fd { op: SeedFileOp, got: usize, value: u32 },
    /// A write's fd is complete; the data byte comes next.
    Data { fd: i32 },
    /// A request was run; its reply bytes wait for `in`s.
    Reply { bytes: [u8; SEED_FD_BYTES], len: usize, pos: usize },
}

/// One guest's seed-000 request state machine.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
    /// The name of the open being collected (its first [`MAX_NAME`] bytes).
    name: [u8; MAX_NAME as usize],
    /// The full length of the last complete name.
    name_len: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { state: State::Idle, name: [0; MAX_NAME as usize], name_len: 0 }
    }
}

/// What an `out` byte did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct OutEffect {
    /// A pending reply the byte made the decoder drop.
    pub(crate) dropped: Option<Malformed>,
    /// The request the byte completed, to be run and answered with [`Decoder::reply`].
    pub(crate) request: Option<Request>,
    /// An unknown first byte that was dropped.
    pub(crate) unknown: Option<Malformed>,
}

impl Decoder {
    /// True when the next byte is a request's first byte: no request is under way, or only its
    /// reply is left unread.
    pub(crate) fn between_requests(&self) -> bool {
        matches!(self.state, State::Idle | State::Reply { .. })
    }

    /// Drops a reply the guest left unread (it made another call); says so if there was one.
    pub(crate) fn abandon_reply(&mut self) -> Option<Malformed> {
        let State::Reply { len, pos, .. } = self.state else {
            return None;
        };
        self.state = State::Idle;
        Some(Malformed::OutDuringReply { unread: len - pos })
    }

    /// The name of the last open request (valid from the NUL to the next request). `None`
    /// when the name was longer than [`MAX_NAME`] bytes.
    pub(crate) fn name(&self) -> Option<&[u8]> {
        self.name.get(..self.name_len)
    }

    /// The length of the name the last open request sent (also when it was too long to keep).
    pub(crate) fn name_len(&self) -> usize {
        self.name_len
    }

    /// Takes one `out` byte. A byte while a reply is unread drops the reply and starts a
    /// request.
    pub(crate) fn out(&mut self, byte: u8) -> OutEffect {
        let mut effect = OutEffect { dropped: self.abandon_reply(), ..OutEffect::default() };
        self.state = match self.state {
            State::Idle => match SeedFileOp::try_from(byte) {
                Ok(SeedFileOp::OpenRead) => State::Name { write: false, len: 0 },
                Ok(SeedFileOp::OpenWrite) => State::Name { write: true, len: 0 },
                Ok(op) => State::Fd { op, got: 0, value: 0 },
                Err(b) => {
                    effect.unknown = Some(Malformed::UnknownRequest(b));
                    State::Idle
                }
            },
            State::Name { write, len } if byte == 0 => {
                effect.request = Some(Request::Open { write });
                self.name_len = len;
                State::Idle
            }
            State::Name { write, len } => {
                if let Some(slot) = self.name.get_mut(len) {
                    *slot = byte;
                }
                State::Name { write, len: len.saturating_add(1) }
            }
            State::Fd { op, got, value } => {
                let value = value << 8 | u32::from(byte);
                let got = got + 1;
                if got < SEED_FD_BYTES {
                    State::Fd { op, got, value }
                } else {
                    // The guest's `int`, sent as its 32 bits.
                    let fd = value as i32;
                    effect.request = match op {
                        SeedFileOp::Close => Some(Request::Close { fd }),
                        SeedFileOp::Read => Some(Request::Read { fd }),
                        // Opens collect a name, never an fd; a write waits for its data byte.
                        SeedFileOp::Write | SeedFileOp::OpenRead | SeedFileOp::OpenWrite => None,
                    };
                    if op == SeedFileOp::Write { State::Data { fd } } else { State::Idle }
                }
            }
            State::Data { fd } => {
                effect.request = Some(Request::Write { fd, byte });
                State::Idle
            }
            // Dropped above.
            State::Reply { .. } => State::Idle,
        };
        effect
    }

    /// Answers the request [`Decoder::out`] returned: `reply` are the bytes the guest's next
    /// `in`s read (4 for an open, 1 otherwise).
    pub(crate) fn reply(&mut self, reply: &[u8]) {
        let mut bytes = [SEED_ERROR_BYTE; SEED_FD_BYTES];
        let len = reply.len().min(SEED_FD_BYTES);
        bytes[..len].copy_from_slice(&reply[..len]);
        self.state = State::Reply { bytes, len, pos: 0 };
    }

    /// Serves one `in`: the next reply byte, or [`SEED_ERROR_BYTE`] and why the request was
    /// dropped.
    pub(crate) fn input(&mut self) -> (u8, Option<Malformed>) {
        match self.state {
            State::Reply { bytes, len, pos } => {
                self.state = if pos + 1 < len {
                    State::Reply { bytes, len, pos: pos + 1 }
                } else {
                    State::Idle
                };
                (bytes[pos], None)
            }
            State::Idle => (SEED_ERROR_BYTE, Some(Malformed::InWithoutRequest)),
            // The request is dropped and the guest reads the seed's error value: all of it, so
            // an open's other three `in`s read 0xFF too (fd -1) without a diagnostic each.
            State::Name { write, .. } => {
                let op = if write { SeedFileOp::OpenWrite } else { SeedFileOp::OpenRead };
                self.fail_early(op)
            }
            State::Fd { op, .. } => self.fail_early(op),
            State::Data { .. } => self.fail_early(SeedFileOp::Write),
        }
    }

    /// An `in` before `op` was complete: the first byte of its error reply.
    fn fail_early(&mut self, op: SeedFileOp) -> (u8, Option<Malformed>) {
        let len = match op {
            SeedFileOp::OpenRead | SeedFileOp::OpenWrite => SEED_FD_BYTES,
            SeedFileOp::Close | SeedFileOp::Read | SeedFileOp::Write => 1,
        };
        let bytes = [SEED_ERROR_BYTE; SEED_FD_BYTES];
        self.state = if len > 1 { State::Reply { bytes, len, pos: 1 } } else { State::Idle };
        (SEED_ERROR_BYTE, Some(Malformed::InBeforeComplete(op)))
    }
}

/// The reply to an open: the fd, most significant byte first, or -1.
pub(crate) fn fd_reply(result: Result<u64, Errno>) -> [u8; SEED_FD_BYTES] {
    match result.ok().and_then(|fd| i32::try_from(fd).ok()) {
        Some(fd) => fd.to_be_bytes(),
        None => [SEED_ERROR_BYTE; SEED_FD_BYTES],
    }
}

/// A guest's fd as the file table takes it (a negative one is no fd: `EBADF`).
pub(crate) fn table_fd(fd: i32) -> Result<u64, Errno> {
    u64::try_from(fd).map_err(|_| Errno::Ebadf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes`, expecting no request until the last one, which completes `want`.
    fn send(d: &mut Decoder, bytes: &[u8], want: Request) {
        let (last, head) = bytes.split_last().expect("bytes");
        for &b in head {
            assert_eq!(d.out(b), OutEffect::default(), "{b:#x}");
        }
        assert_eq!(d.out(*last).request, Some(want));
    }

    fn read(d: &mut Decoder, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                let (b, m) = d.input();
                assert_eq!(m, None);
                b
            })
            .collect()
    }

    #[test]
    fn open_collects_the_name_and_replies_the_fd_msb_first() {
        let mut d = Decoder::default();
        send(&mut d, b"\x01in.txt\0", Request::Open { write: false });
        assert_eq!(d.name(), Some(&b"in.txt"[..]));
        d.reply(&fd_reply(Ok(0x0102_0304)));
        assert!(d.between_requests());
        assert_eq!(read(&mut d, 4), [1, 2, 3, 4]);
        assert!(d.between_requests());
        send(&mut d, b"\x02out\0", Request::Open { write: true });
        d.reply(&fd_reply(Err(Errno::Enoent)));
        assert_eq!(read(&mut d, 4), [0xFF; 4]);
    }

    #[test]
    fn fd_requests_take_four_bytes_msb_first() {
        let mut d = Decoder::default();
        send(&mut d, &[3, 0, 0, 0, 7], Request::Close { fd: 7 });
        d.reply(&[0]);
        assert_eq!(read(&mut d, 1), [0]);
        send(&mut d, &[4, 0, 0, 1, 2], Request::Read { fd: 0x102 });
        d.reply(b"x");
        assert_eq!(read(&mut d, 1), [b'x']);
        send(&mut d, &[5, 0xFF, 0xFF, 0xFF, 0xFF, b'y'], Request::Write { fd: -1, byte: b'y' });
        assert_eq!(table_fd(-1), Err(Errno::Ebadf));
    }

    #[test]
    fn malformed_sequences_are_dropped_and_the_next_request_is_clean() {
        let mut d = Decoder::default();
        // An unknown first byte.
        assert_eq!(d.out(0x00).unknown, Some(Malformed::UnknownRequest(0)));
        assert_eq!(d.out(0x42).unknown, Some(Malformed::UnknownRequest(0x42)));
        // An `in` before any request.
        assert_eq!(d.input(), (0xFF, Some(Malformed::InWithoutRequest)));
        // An `in` in the middle of an fd, of a name (no NUL), before a write's data byte.
        assert_eq!(d.out(4), OutEffect::default());
        assert_eq!(d.out(0), OutEffect::default());
        assert_eq!(d.input(), (0xFF, Some(Malformed::InBeforeComplete(SeedFileOp::Read))));
        assert_eq!(d.input(), (0xFF, Some(Malformed::InWithoutRequest)));
        for &b in b"\x01no-nul" {
            assert_eq!(d.out(b), OutEffect::default());
        }
        assert_eq!(d.input(), (0xFF, Some(Malformed::InBeforeComplete(SeedFileOp::OpenRead))));
        // The rest of the open's reply reads -1 without complaint.
        assert_eq!(read(&mut d, 3), [0xFF; 3]);
        assert_eq!(d.input(), (0xFF, Some(Malformed::InWithoutRequest)));
        for b in [5, 0, 0, 0, 1] {
            assert_eq!(d.out(b), OutEffect::default());
        }
        assert_eq!(d.input(), (0xFF, Some(Malformed::InBeforeComplete(SeedFileOp::Write))));
        // A byte while a reply is unread drops the reply and starts a request.
        send(&mut d, b"\x01a\0", Request::Open { write: false });
        d.reply(&[0, 0, 0, 3]);
        assert_eq!(read(&mut d, 2), [0, 0]);
        let e = d.out(3);
        assert_eq!(e.dropped, Some(Malformed::OutDuringReply { unread: 2 }));
        assert_eq!(e.request, None);
        for b in [0, 0, 0] {
            assert_eq!(d.out(b), OutEffect::default());
        }
        assert_eq!(d.out(3).request, Some(Request::Close { fd: 3 }));
        d.reply(&[0]);
        assert_eq!(read(&mut d, 1), [0]);
        // hv's own opcode after an unread reply: the reply is dropped, once.
        send(&mut d, &[4, 0, 0, 0, 0], Request::Read { fd: 0 });
        d.reply(b"z");
        assert!(d.between_requests());
        assert_eq!(d.abandon_reply(), Some(Malformed::OutDuringReply { unread: 1 }));
        assert_eq!(d.abandon_reply(), None);
        // And a clean request works.
        send(&mut d, b"\x01ok\0", Request::Open { write: false });
        assert_eq!(d.name(), Some(&b"ok"[..]));
    }

    #[test]
    fn long_names_are_counted_not_stored() {
        let mut d = Decoder::default();
        let mut bytes = vec![2];
        bytes.extend(std::iter::repeat_n(b'a', 300));
        bytes.push(0);
        send(&mut d, &bytes, Request::Open { write: true });
        assert_eq!(d.name(), None);
        // A name of exactly MAX_NAME bytes is kept whole.
        let mut bytes = vec![1];
        bytes.extend(std::iter::repeat_n(b'b', MAX_NAME as usize));
        bytes.push(0);
        send(&mut d, &bytes, Request::Open { write: false });
        assert_eq!(d.name().map(<[u8]>::len), Some(MAX_NAME as usize));
    }

    #[test]
    fn every_byte_sequence_is_safe() {
        // A cheap exhaustive-ish fuzz: any mix of outs and ins never panics and always ends up
        // able to take a clean request.
        let mut d = Decoder::default();
        let mut x = 0x1234_5678_u32;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if x.is_multiple_of(7) {
                let _ = d.input();
            } else if let Some(Request::Open { .. }) = d.out((x >> 8) as u8 % 8).request {
                d.reply(&[0; 4]);
            }
        }
        while !d.between_requests() {
            let _ = d.input();
        }
        let _ = d.abandon_reply();
        send(&mut d, &[3, 0, 0, 0, 1], Request::Close { fd: 1 });
    }
}
