//! The hypercall port: exit, ABI check, console buffer writes, panics.

use hv_core::ABI_VERSION;
use hv_core::proto::errno::Errno;
use hv_core::proto::hypercall::{HcOp, MAX_PANIC_MESSAGE, MAX_STRING};

use super::{Flow, Services};

/// The largest piece of a `ConsoleWrite` buffer the host copies at once.
const CONSOLE_CHUNK: usize = 4096;
use crate::outcome::{GuestError, Outcome};

impl Services<'_> {
    /// Runs one hypercall whose opcode byte the guest wrote.
    pub(crate) fn hypercall(&mut self, opcode: u8) -> Flow {
        let Ok(op) = HcOp::try_from(opcode) else {
            self.ram.write_result(Errno::Enosys.to_ret(), 0);
            return Flow::Continue;
        };
        let args = self.ram.read_mailbox();
        match op {
            HcOp::Exit => Flow::Stop(Outcome::Exited(args[0] as u32 as i32)),
            HcOp::AbiVersion if args[0] != u64::from(ABI_VERSION) => {
                Flow::Stop(Outcome::Error(GuestError::AbiMismatch {
                    guest: args[0],
                    host: ABI_VERSION,
                }))
            }
            HcOp::AbiVersion => self.reply(Ok(0)),
            HcOp::ConsoleWrite => {
                let result = self.console_write(args[0], args[1]);
                self.reply(result)
            }
            // The ring was drained before this exit was handled, as before every exit.
            HcOp::ConsoleFlush => self.reply(Ok(0)),
            // May park the guest (see `services::input`).
            HcOp::ConsoleRead => self.console_read(),
            HcOp::Panic => Flow::Stop(Outcome::Panicked(self.panic_message(args[0], args[1]))),
            HcOp::Print32 => {
                self.write_console(format!("{}\n", args[0] as u32).as_bytes());
                self.reply(Ok(0))
            }
            // The exit that brought us here is already counted.
            HcOp::NumExits => self.reply(Ok(self.stats.exits.total())),
            HcOp::PrintStr => {
                let result = self.ram.read_c_string(args[0], MAX_STRING).map(|s| {
                    self.write_console(&s);
                    s.len() as u64
                });
                self.reply(result)
            }
            HcOp::NumExitsByType => {
                let at = self.ram.write_scratch(&self.stats.exits.by_type_text());
                self.reply(Ok(at))
            }
            // Needs the vCPU's CR3: answered by `Vm` before it gets here.
            HcOp::GvaToHva => self.reply(Err(Errno::Enosys)),
        }
    }

    /// `ConsoleWrite`: the buffer goes to the guest's line buffer in pieces of at most
    /// [`CONSOLE_CHUNK`] bytes, so what the host holds for a guest never grows with the size of
    /// its calls (an 8 MB call costs the host 4 KiB, not 8 MB).
    fn console_write(&mut self, addr: u64, len: u64) -> Result<u64, Errno> {
        let range = self.ram.user_range(addr, len)?;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.resize(CONSOLE_CHUNK.min(range.len() as usize), 0);
        let mut done = 0u64;
        let mut result = Ok(len);
        while done < len {
            let n = (len - done).min(CONSOLE_CHUNK as u64);
            let piece = self.ram.user_range(range.start().as_u64() + done, n);
            if let Err(e) = piece.and_then(|p| self.ram.read_range(p, &mut buf[..n as usize])) {
                result = Err(e);
                break;
            }
            self.write_console(&buf[..n as usize]);
            done += n;
        }
        self.scratch = buf;
        result
    }

    /// The panic message, bounded and escaped (see `escape`): it is printed on one line of the
    /// host's report.
    fn panic_message(&self, addr: u64, len: u64) -> String {
        let len = len.min(MAX_PANIC_MESSAGE);
        let Ok(range) = self.ram.user_range(addr, len) else {
            return format!("(message at {addr:#x}, {len} bytes, lies outside guest memory)");
        };
        let mut buf = vec![0; len as usize];
        if self.ram.read_range(range, &mut buf).is_err() {
            return "(unreadable message)".into();
        }
        crate::escape::escape_bytes(&buf)
    }
}
