//! How a guest ended, and the report the host gives about it.
//!
//! Text a guest or its image chose (a panic message, a symbol name) is shown escaped (see
//! `escape`), and so is the image's path: a report line is always one line of hv's own.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use hv_core::idt::Exception;

use crate::escape::Escaped;
use crate::stop::StopReason;

/// How one guest ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest called `exit(status)`.
    Exited(i32),
    /// The guest executed `hlt` (the seed's way to end): status 0.
    Halted,
    /// A CPU exception the guest did not survive.
    Fault(Fault),
    /// The guest's panic handler reported this message (with its `file:line`).
    Panicked(String),
    /// The host stopped the guest: it did something no guest may do, or KVM failed.
    Error(GuestError),
    /// The guest was still running when its time (`--timeout`) ran out, and was stopped.
    TimedOut {
        /// How long it had really run when it was stopped (at least the limit), counted from
        /// when the host started running it.
        after: Duration,
    },
    /// The run was stopped (a signal, or the output failed) while the guest was still running.
    Interrupted(StopReason),
}

impl Outcome {
    /// True for a guest that ended normally with status 0.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Exited(0) | Outcome::Halted)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(status) => write!(f, "exited with status {status}"),
            Outcome::Halted => f.write_str("halted"),
            Outcome::Fault(fault) => fault.fmt(f),
            Outcome::Panicked(msg) => write!(f, "panicked: {}", Escaped(msg)),
            Outcome::Error(e) => e.fmt(f),
            // Tenths of a second, rounded down: "after 2.0 s" means it ran 2.0 s and less than
            // 2.1 s, so the limit never reads as exceeded by rounding alone.
            Outcome::TimedOut { after } => {
                let tenths = after.as_millis() / 100;
                write!(f, "timed out after {}.{} s", tenths / 10, tenths % 10)
            }
            Outcome::Interrupted(StopReason::Signal(_)) => f.write_str("interrupted"),
            Outcome::Interrupted(reason) => write!(f, "stopped: {reason}"),
        }
    }
}

/// A CPU exception, as the ring-0 stub reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The exception vector (an [`Exception`] when it is one of the architectural ones).
    pub vector: u8,
    /// The error code (0 where the CPU pushes none).
    pub error_code: u64,
    /// Where it happened.
    pub rip: u64,
    /// For a page fault: the address (CR2).
    pub address: u64,
    /// Privilege level the guest ran at when it faulted.
    pub cpl: u8,
    /// `rip` as `function+0xoffset`, when the image has a symbol table that covers it.
    pub symbol: Option<String>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(exception) = Exception::try_from(self.vector) else {
            return write!(f, "exception {} at rip {:#x}", self.vector, self.rip);
        };
        f.write_str(exception.description())?;
        if exception == Exception::PageFault {
            // SDM Vol. 3A, 4.7: bit 1 write, bit 4 instruction fetch (set because EFER.NXE is
            // on, see `hv_core::boot::EFER`); a fault at RIP is a fetch too, whatever the CPU
            // says.
            let access = if self.error_code & 0x10 != 0 || self.address == self.rip {
                "fetching"
            } else if self.error_code & 0x2 != 0 {
                "writing"
            } else {
                "reading"
            };
            write!(f, " {access} {:#x}", self.address)?;
        } else if exception.has_error_code() && self.error_code != 0 {
            write!(f, " (error code {:#x})", self.error_code)?;
        }
        write!(f, " at rip {:#x}", self.rip)?;
        if let Some(symbol) = &self.symbol {
            write!(f, " ({})", Escaped(symbol))?;
        }
        if self.cpl == 0 {
            f.write_str(" in ring 0")?;
        }
        Ok(())
    }
}

/// Why the host stopped a guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// The guest wrote an impossible producer index (`head`) into its console ring: behind
    /// what the host consumed (`tail`) or more than the ring's size ahead of it.
    #[error("console ring: head {head} with tail {tail} (a ring of {size} bytes)")]
    ConsoleRing {
        /// What the guest wrote.
        head: u64,
        /// What the host had consumed.
        tail: u64,
        /// The ring's size.
        size: u64,
    },
    /// The guest accessed a port no device serves.
    #[error("{dir} of {size} byte(s) on unknown port {port:#06x}")]
    UnknownPort {
        /// The port.
        port: u16,
        /// "in" or "out".
        dir: &'static str,
        /// Access size.
        size: usize,
    },
    /// The guest accessed a port with a size its device does not take.
    #[error("{dir} of {size} byte(s) on port {port:#06x}, which takes {expected}")]
    BadAccessSize {
        /// The port.
        port: u16,
        /// "in" or "out".
        dir: &'static str,
        /// Access size.
        size: usize,
        /// What the device takes.
        expected: &'static str,
    },
    /// The guest accessed an address outside its RAM that no device serves.
    #[error("MMIO {dir} of {size} byte(s) at unmapped address {addr:#x}")]
    UnknownMmio {
        /// The address.
        addr: u64,
        /// "read" or "write".
        dir: &'static str,
        /// Access size.
        size: usize,
    },
    /// The guest accessed the device window (`--mmio`) in a way its registers do not take.
    #[error(
        "MMIO {dir} of {size} byte(s) at {addr:#x} in the device window, which takes {expected}"
    )]
    BadMmio {
        /// The address.
        addr: u64,
        /// "read" or "write".
        dir: &'static str,
        /// Access size.
        size: usize,
        /// What the register there takes.
        expected: &'static str,
    },
    /// A disk command came before the disk was set up, so it has no status block to report to.
    #[error(
        "disk command {cmd} before disk setup (command 2): there is no status block to report its result in"
    )]
    DiskNotSetUp {
        /// The command byte.
        cmd: u8,
    },
    /// The first disk setup put its status block outside the guest's user memory.
    #[error("disk setup with its status block at {addr:#x}, outside the guest's user memory")]
    DiskStatusOutside {
        /// The address the guest gave.
        addr: u64,
    },
    /// The CPU shut down: an exception while delivering an exception.
    #[error("triple fault (the guest broke its own exception handling)")]
    TripleFault,
    /// KVM could not run the guest's code.
    #[error("KVM internal error (suberror {suberror})")]
    InternalError {
        /// `kvm_run.internal.suberror`.
        suberror: u32,
    },
    /// The CPU refused to enter the guest.
    #[error("VM entry failed (hardware reason {reason:#x})")]
    FailedEntry {
        /// The hardware entry failure reason.
        reason: u64,
    },
    /// A KVM exit the host does not handle.
    #[error("unexpected KVM exit: {0}")]
    UnexpectedExit(String),
    /// A guest outside long mode executed `int n` for a vector nothing handles (hv has no BIOS
    /// and its tables only report exceptions). Not the exception sharing the vector.
    #[error("software interrupt int {vector:#x} {at}, with no handler for it ({hint})")]
    UnhandledInterrupt {
        /// The vector.
        vector: u8,
        /// Where, in the mode's words (`at 1000:0000 in real mode`).
        at: String,
        /// How a guest gives itself handlers in its mode.
        hint: &'static str,
    },
    /// The guest was built for another ABI version.
    #[error("built for hv ABI version {guest}, but this host speaks version {host}")]
    AbiMismatch {
        /// What the guest announced.
        guest: u64,
        /// [`hv_core::ABI_VERSION`].
        host: u32,
    },
    /// A ring-3 guest wrote to the port only the ring-0 exception stubs may use.
    #[error("wrote to the exception port from ring {cpl}")]
    ForgedException {
        /// The privilege level it wrote from.
        cpl: u8,
    },
    /// The VM could not be created or set up.
    #[error("could not start: {0}")]
    Setup(String),
    /// `KVM_RUN` failed.
    #[error("KVM_RUN failed: {0}")]
    Run(String),
    /// The timer that preempts the guest or enforces its timeout could not be set up.
    #[error("the host's kick timer failed: {0}")]
    Timer(String),
    /// The debugger attached to the guest killed it (gdb's `kill`).
    #[error("killed from gdb")]
    KilledByDebugger,
}

/// Counts kept per guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestStats {
    /// Its exits to the host, by kind.
    pub exits: crate::stats::ExitStats,
    /// Bytes the guest read from files.
    pub file_bytes_read: u64,
    /// Bytes the guest wrote to files.
    pub file_bytes_written: u64,
    /// Bytes the host wrote to the disk for the guest: its sectors, and with `--disk-cow` the
    /// completion of its copy when it ended.
    pub disk_bytes_written: u64,
    /// With `--disk-cow`: why the guest's copy of the disk was left incomplete, if it was (its
    /// write quota could not cover the completion, a host error, a stop signal).
    pub disk_copy_incomplete: Option<String>,
    /// Bytes the guest wrote to the console.
    pub console_bytes_out: u64,
    /// Bytes the guest read from the console.
    pub console_bytes_in: u64,
    /// Time spent inside `KVM_RUN` (wall time, so it includes any time the host kernel gave
    /// the thread's CPU to someone else meanwhile): what the scheduler charges the guest.
    pub cpu_time: Duration,
    /// How often the scheduler's timer took the CPU from the guest at the end of a quantum
    /// (`--sched single` only: with a thread per guest, the host kernel preempts, unseen).
    pub preemptions: u64,
    /// The guest's write quota in bytes (`--quota`), files and disk together.
    pub quota: u64,
    /// Writes refused (`EFBIG`) because the quota was used up.
    pub quota_refused: u64,
    /// Files not created (`EDQUOT`) because the guest had created as many as it may.
    pub names_refused: u64,
    /// Host warnings about the guest that were counted but not printed (rate limit).
    pub diagnostics_suppressed: u64,
}

impl GuestStats {
    /// What the report adds about limits the guest ran into, one line each (none if it ran
    /// into none): its quota, and warnings the host did not print.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.quota_refused > 0 {
            notes.push(format!(
                "write quota of {} bytes used up; {} write(s) refused with EFBIG",
                self.quota, self.quota_refused
            ));
        }
        if let Some(why) = &self.disk_copy_incomplete {
            notes.push(format!("disk copy left incomplete: {why}"));
        }
        if self.names_refused > 0 {
            notes.push(format!(
                "created the most files a guest may ({}); {} more refused with EDQUOT",
                crate::files::MAX_CREATED_NAMES,
                self.names_refused
            ));
        }
        if self.diagnostics_suppressed > 0 {
            notes.push(format!("{} more warning(s) not printed", self.diagnostics_suppressed));
        }
        notes
    }
}

/// What the host reports about one guest once it has ended.
#[derive(Clone, Debug)]
pub struct GuestReport {
    /// The guest's ID (0-based, in the order the images were given).
    pub id: u32,
    /// The image it ran.
    pub image: PathBuf,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it ran.
    pub run_time: Duration,
    /// Its counters.
    pub stats: GuestStats,
    /// Where a guest outside long mode was when it ended, if it did not end normally and its
    /// outcome does not say so itself (a fault does): `at 1000:0001 (linear 0x10001) in real
    /// mode`, `at eip 0x42 (cs 0x8) in --mode protected`. So a runaway 16- or 32-bit guest
    /// stopped by its timeout can be found.
    pub location: Option<String>,
}

impl GuestReport {
    /// The report's notes on limits the guest ran into (see [`GuestStats::notes`]), each a
    /// whole line: `guest ID (IMAGE): note`.
    pub fn notes(&self) -> Vec<String> {
        let image = self.image.to_string_lossy();
        let image = Escaped(&image);
        let line = |n: &String| format!("guest {} ({image}): {}", self.id, Escaped(n));
        self.stats.notes().iter().map(line).collect()
    }
}

impl fmt::Display for GuestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let image = self.image.to_string_lossy();
        write!(f, "guest {} ({}): {}", self.id, Escaped(&image), self.outcome)?;
        match &self.location {
            Some(at) => write!(f, ", {at}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_fault_reads_like_a_sentence() {
        let fault = Fault {
            vector: 14,
            error_code: 0x6,
            rip: 0x1a2f,
            address: 0x4000_0000,
            cpl: 3,
            symbol: None,
        };
        assert_eq!(fault.to_string(), "page fault writing 0x40000000 at rip 0x1a2f");
        let named = Fault { rip: 0x46, symbol: Some("crash_here+0x6".into()), ..fault };
        assert_eq!(named.to_string(), "page fault writing 0x40000000 at rip 0x46 (crash_here+0x6)");
        let ud = Fault { vector: 6, error_code: 0, rip: 0x10, address: 0, cpl: 3, symbol: None };
        assert_eq!(ud.to_string(), "invalid opcode at rip 0x10");
        let gp =
            Fault { vector: 13, error_code: 0x18, rip: 0x20, address: 0, cpl: 3, symbol: None };
        assert_eq!(gp.to_string(), "general protection fault (error code 0x18) at rip 0x20");
    }

    #[test]
    fn only_status_zero_is_success() {
        assert!(Outcome::Halted.is_success());
        assert!(Outcome::Exited(0).is_success());
        assert!(!Outcome::Exited(1).is_success());
        assert!(!Outcome::Panicked("x".into()).is_success());
        assert!(!Outcome::TimedOut { after: Duration::from_secs(1) }.is_success());
    }

    #[test]
    fn timeouts_read_in_seconds() {
        let after = Duration::from_millis(2000);
        assert_eq!(Outcome::TimedOut { after }.to_string(), "timed out after 2.0 s");
        let after = Duration::from_millis(1500);
        assert_eq!(Outcome::TimedOut { after }.to_string(), "timed out after 1.5 s");
        let after = Duration::from_millis(8_399);
        assert_eq!(Outcome::TimedOut { after }.to_string(), "timed out after 8.3 s");
        let after = Duration::from_millis(17_050);
        assert_eq!(Outcome::TimedOut { after }.to_string(), "timed out after 17.0 s");
    }

    #[test]
    fn a_report_says_where_a_guest_outside_long_mode_was() {
        let mut report = GuestReport {
            id: 1,
            image: "spin.bin".into(),
            outcome: Outcome::TimedOut { after: Duration::from_millis(500) },
            run_time: Duration::from_millis(500),
            stats: GuestStats::default(),
            location: Some("at 1000:0001 (linear 0x10001) in real mode".into()),
        };
        assert_eq!(
            report.to_string(),
            "guest 1 (spin.bin): timed out after 0.5 s, at 1000:0001 (linear 0x10001) in real mode"
        );
        report.location = None;
        assert_eq!(report.to_string(), "guest 1 (spin.bin): timed out after 0.5 s");
    }
}
