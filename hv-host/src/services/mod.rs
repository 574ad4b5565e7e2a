//! One guest's services: the host side of everything a guest asks for with an exit, and the
//! context they share ([`Services`]: its RAM, console line, counters, files, disk and the seeds'
//! dialect state).
//!
//! The state each service keeps lives in a module of its own below this one (`files`,
//! `devices`, `seed`, `console`, `stats`), which knows nothing of the others; the handlers that
//! need the whole context (decode a port access, act, reply) are the submodules here, one per
//! port or register group. So the import graph goes one way: `guest` -> `services` -> state.

mod console_input;
mod device_regs;
#[cfg(test)]
pub(crate) use device_regs::fixture;
mod file_port;
mod hypercalls;
mod seed_ports;

pub(crate) use console_input::InputWait;

use hv_core::proto::errno::Errno;
use hv_core::proto::{CONSOLE_PORT, FILE_PORT};

use crate::console::{Console, LineBuffer};
use crate::devices::Disk;
use crate::files::FileTable;
use crate::input_ring::InputRing;
use crate::memory::GuestRam;
use crate::outcome::{GuestError, GuestStats, Outcome};

/// What a handler decides after an exit.
#[derive(Debug)]
pub(crate) enum Flow {
    /// Re-enter the guest.
    Continue,
    /// The guest has ended.
    Stop(Outcome),
    /// The guest waits for console input: it is parked (not re-entered) until input arrives
    /// (see `console_input`).
    Wait,
}

/// One guest's services: everything its exits are handled with, apart from the vCPU itself.
pub(crate) struct Services<'c> {
    pub(crate) id: u32,
    pub(crate) ram: GuestRam,
    pub(crate) console: &'c Console,
    pub(crate) line: LineBuffer,
    /// The input ring in the guest's hv pages (see `console_input`).
    pub(crate) input_ring: InputRing,
    pub(crate) stats: GuestStats,
    /// Reused buffer for data copied out of the guest, so no call allocates once warm.
    pub(crate) scratch: Vec<u8>,
    pub(crate) files: FileTable,
    /// The seed's disk (the serial port has no state of its own).
    pub(crate) disk: Disk,
    /// The seeds' byte dialects: seed 000's file requests, seed 002's ports.
    pub(crate) seed: crate::seed::SeedState,
}

impl Services<'_> {
    /// Sends guest bytes to its console line buffer.
    pub(crate) fn write_console(&mut self, bytes: &[u8]) {
        self.stats.console_bytes_out += bytes.len() as u64;
        self.line.push(self.console, bytes);
    }

    /// A port read: the console, a seed-000 reply byte, or a device register.
    pub(crate) fn io_in(&mut self, port: u16, data: &mut [u8]) -> Flow {
        match (port, data.len()) {
            (CONSOLE_PORT, 1 | 4) => self.console_in(data),
            (CONSOLE_PORT, size) => Flow::Stop(Outcome::Error(GuestError::BadAccessSize {
                port,
                dir: "in",
                size,
                expected: "1 or 4 bytes",
            })),
            // Seed 000's file requests: a reply byte.
            (FILE_PORT, 1) => {
                data[0] = self.seed_file_in();
                Flow::Continue
            }
            (FILE_PORT, size) => Flow::Stop(Outcome::Error(GuestError::BadAccessSize {
                port,
                dir: "in",
                size,
                expected: "1 byte",
            })),
            (port, size) => self.device_port_in(port, size),
        }
    }

    /// Stores a call's result in the mailbox and lets the guest go on.
    pub(crate) fn reply(&mut self, result: Result<u64, Errno>) -> Flow {
        let ret = match result {
            Ok(v) => i64::try_from(v).unwrap_or(i64::MAX),
            Err(e) => e.to_ret(),
        };
        self.ram.write_result(ret, 0);
        Flow::Continue
    }
}
