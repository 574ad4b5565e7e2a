//! Console input for one guest: the [`ConsoleRead`](hv_core::proto::hypercall::HcOp) call that
//! fills its input ring, and the seed's raw `in` from port 0xE9, a byte per exit. The rules of
//! who gets which input are `input`'s; the ring's protocol is in [`hv_core::proto::hv_page`].
//!
//! Both kinds of read keep one order: a raw `in` takes the ring's unread bytes first, so a
//! guest that mixes them reads every byte once, in order. Either kind may have to wait: the
//! guest's unfinished line is then written out (its prompt shows) and the handler answers
//! [`Flow::Wait`]; the guest is parked and asks again when input comes for it (see
//! [`InputWait`]).

use hv_core::proto::console::{EOF, EOF_BYTE};
use hv_core::proto::errno::Errno;

use super::{Flow, Services};
use crate::input::Taken;

/// A read a guest is parked in, to be asked again when input comes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InputWait {
    /// A raw `in` of this many bytes (1 or 4) from the console port, answered in `kvm_run`.
    Port(usize),
    /// A `ConsoleRead` call, answered in the mailbox.
    Ring,
}

impl Services<'_> {
    /// `ConsoleRead`: fills the guest's empty input ring with its next input, or parks it.
    /// `ret`: the bytes now in the ring, 0 at end of input, `-EINVAL` for a ring whose `tail`
    /// is impossible.
    pub(crate) fn console_read(&mut self) -> Flow {
        let room = match self.input_ring.unread() {
            Err(_) => return self.reply(Err(Errno::Einval)),
            // Not empty: nothing to wait for (the SDKs only ask with an empty ring).
            Ok(unread) if unread > 0 => return self.reply(Ok(unread)),
            Ok(_) => self.input_ring.room().unwrap_or(0),
        };
        let Services { input_ring, console, id, .. } = self;
        let taken = console.input.take(*id, room, |bytes| {
            // Fits: the ring was empty and `take` hands over at most `room` bytes.
            let _ = input_ring.push(bytes);
        });
        match taken {
            Taken::Pending => {
                // What was printed so far must be visible while the guest waits.
                self.line.flush(self.console);
                Flow::Wait
            }
            Taken::Eof => self.reply(Ok(0)),
            Taken::Bytes(n) => {
                self.stats.console_bytes_in += n as u64;
                self.reply(Ok(n as u64))
            }
        }
    }

    /// A raw `in` of 1 or 4 bytes from the console port: the next byte of input, from the
    /// guest's input ring while it holds any, else from stdin; at end of input [`EOF_BYTE`]
    /// (1 byte) or [`EOF`] (4 bytes).
    pub(crate) fn console_in(&mut self, data: &mut [u8]) -> Flow {
        let byte = match self.input_ring.take_byte() {
            Some(b) => Some(b),
            None => {
                let mut got = None;
                match self.console.input.take(self.id, 1, |b| got = b.first().copied()) {
                    Taken::Pending => {
                        self.line.flush(self.console);
                        return Flow::Wait;
                    }
                    Taken::Eof => None,
                    Taken::Bytes(_) => {
                        self.stats.console_bytes_in += 1;
                        got
                    }
                }
            }
        };
        if data.len() == 1 {
            data[0] = byte.unwrap_or(EOF_BYTE);
        } else {
            let value = byte.map_or(EOF, i32::from);
            data.copy_from_slice(&value.to_le_bytes());
        }
        Flow::Continue
    }

    /// Asks again for the read the guest is parked in; for a raw `in`, the reply goes to
    /// `data` (its size), for the caller to put in `kvm_run`.
    pub(crate) fn resume_input(&mut self, wait: InputWait, data: &mut [u8]) -> Flow {
        match wait {
            InputWait::Port(size) => self.console_in(&mut data[..size]),
            InputWait::Ring => self.console_read(),
        }
    }
}
