//! The file port, 0x0278: hv's one-exit file calls (an opcode with the top bit set) and seed
//! 000's byte requests (see [`crate::seed::files`]), two front ends to the guest's one
//! [`FileTable`](crate::files::FileTable).

use hv_core::proto::FILE_PORT;
use hv_core::proto::errno::Errno;
use hv_core::proto::file::{FileOp, MAX_NAME, MAX_OPEN_FILES, OpenMode};
use hv_core::proto::seed::{SEED_ERROR_BYTE, SEED_FD_BYTES};

use super::{Flow, Services};
use crate::outcome::{GuestError, Outcome};
use crate::seed::files::{Request, fd_reply, table_fd};

impl Services<'_> {
    /// Runs one file call whose opcode byte the guest wrote.
    pub(crate) fn file_call(&mut self, opcode: u8) -> Flow {
        let Ok(op) = FileOp::try_from(opcode) else {
            return self.reply(Err(Errno::Enosys));
        };
        let [a0, a1, a2, ..] = self.ram.read_mailbox();
        let files = &mut self.files;
        let ram = &self.ram;
        let result = match op {
            FileOp::Open => files.open_guest(ram, a0, a1, a2),
            FileOp::Close => files.close_fd(a0).map(|()| 0),
            FileOp::Read => files.read_guest(ram, a0, a1, a2),
            FileOp::Write => files.write_guest(ram, a0, a1, a2),
        };
        self.reply(result)
    }
}

impl Services<'_> {
    /// A 1-byte `out` to the file port: one of hv's own calls (an opcode with the top bit set,
    /// between seed requests), or a byte of a seed-000 request.
    pub(crate) fn file_port_out(&mut self, byte: u8) -> Flow {
        if self.is_hv_call(byte) {
            if let Some(m) = self.seed.files.abandon_reply() {
                self.files.diag().warn(format_args!("file protocol: {m}; {}", m.dropped()));
            }
            self.seed.hv_file_calls = true;
            return self.file_call(byte);
        }
        self.seed_file_out(byte)
    }

    /// A write to the file port that KVM queued without an exit (see `guest::coalesce`): a
    /// byte of a seed-000 request, run exactly as if it had exited. One of hv's own calls
    /// cannot be run late: the guest read its result from the mailbox right after the `out`,
    /// before the host saw it. The zone is registered only for a guest that never used hv's
    /// own ABI, so only one that sent seed 000's bytes first, without announcing its ABI
    /// version, and then made one of hv's file calls gets here: it is ended, and told why.
    pub(crate) fn file_port_queued(&mut self, data: &[u8]) -> Flow {
        let expected = "1 byte";
        match data {
            [byte] if self.is_hv_call(*byte) => {
                Flow::Stop(Outcome::Error(GuestError::BadAccessSize {
                    port: FILE_PORT,
                    dir: "out",
                    size: 1,
                    expected: "seed 000's request bytes only, once they are queued without an exit: announce the ABI version to mix in hv's file calls",
                }))
            }
            [byte] => self.seed_file_out(*byte),
            _ => Flow::Stop(Outcome::Error(GuestError::BadAccessSize {
                port: FILE_PORT,
                dir: "out",
                size: data.len(),
                expected,
            })),
        }
    }

    /// Whether `byte` on the file port is one of hv's own calls: an opcode with the top bit
    /// set, between seed requests (inside one, it is a byte of the request).
    fn is_hv_call(&self, byte: u8) -> bool {
        byte & 0x80 != 0 && self.seed.files.between_requests()
    }

    /// A byte of a seed-000 request.
    fn seed_file_out(&mut self, byte: u8) -> Flow {
        let effect = self.seed.files.out(byte);
        for m in [effect.dropped, effect.unknown].into_iter().flatten() {
            self.files.diag().warn(format_args!("file protocol: {m}; {}", m.dropped()));
        }
        let Some(request) = effect.request else {
            return Flow::Continue;
        };
        // An fd that no table slot has is a guest bug worth a line; an fd that was closed or
        // invalidated is an ordinary error (the seed's own rules make those).
        if let Some(fd) =
            request.fd().filter(|&fd| usize::try_from(fd).map_or(true, |i| i >= MAX_OPEN_FILES))
        {
            self.files.diag().warn(format_args!(
                "file protocol: fd {fd} can never be open; the guest reads 0xff"
            ));
        }
        let files = &mut self.files;
        let mut reply = [SEED_ERROR_BYTE; SEED_FD_BYTES];
        let len = match request {
            Request::Open { write } => {
                let mode = if write { OpenMode::Write } else { OpenMode::Read };
                let result = match self.seed.files.name() {
                    Some(name) => files.open_bytes(name, mode),
                    None => {
                        let n = self.seed.files.name_len();
                        self.files.diag().warn(format_args!(
                            "file protocol: a name of {n} bytes (at most {MAX_NAME}); open refused"
                        ));
                        Err(Errno::Enametoolong)
                    }
                };
                if let Err(e) = result {
                    log::debug!("guest {}: seed-000 open: {e}", self.id);
                }
                reply = fd_reply(result);
                SEED_FD_BYTES
            }
            Request::Close { fd } => {
                if table_fd(fd).and_then(|fd| files.close_fd(fd)).is_ok() {
                    reply[0] = 0;
                }
                1
            }
            Request::Read { fd } => {
                // End of file (0 bytes read) leaves the error byte: the seed's EOF.
                let _ = table_fd(fd).and_then(|fd| files.read_into(fd, &mut reply[..1]));
                1
            }
            Request::Write { fd, byte } => {
                if table_fd(fd).and_then(|fd| files.write_from(fd, &[byte])) == Ok(1) {
                    reply[0] = byte;
                }
                1
            }
        };
        self.seed.files.reply(&reply[..len]);
        Flow::Continue
    }

    /// A 1-byte `in` from the file port: the next byte of the pending reply.
    pub(crate) fn seed_file_in(&mut self) -> u8 {
        let (byte, malformed) = self.seed.files.input();
        if let Some(m) = malformed {
            self.files.diag().warn(format_args!("file protocol: {m}; {}", m.dropped()));
        }
        byte
    }
}
