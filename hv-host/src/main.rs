//! `hv-host`: the command line over the [`hv_host`] library.
//!
//! It behaves like a Unix tool: see [`Status`] for what its exit status means. It never dies
//! of SIGPIPE, SIGINT, SIGTERM or SIGHUP: a broken output or one of those signals stops every
//! guest, and the run ends with its unfinished lines written and a status that says why.
//!
//! `#![no_main]`: the C runtime calls [`main`] directly, without Rust's runtime set-up, which
//! costs a launch about 0.06 ms here (it reads `/proc/self/maps` and sets up a signal stack
//! for every thread) and, by reopening a closed stdout as `/dev/null`, would hide whether
//! stdout was closed. [`process_start`] does the part of it hv-host needs. (The unit tests
//! keep the test harness's own `main`.)
#![cfg_attr(not(test), no_main)]

use std::io::Write;

use argh::FromArgs;
use hv_host::{Sched, StopReason};

mod cli;
use cli::{Cli, USAGE_HINT, expand_lists, help_text, usage_error};

/// What hv-host's exit status means (also in `--help` and the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Every guest ended with status 0.
    Success,
    /// A guest failed, or writing the output failed (one line on stderr says so).
    Failed,
    /// The command line or the configuration was refused; no guest ran.
    Usage,
    /// The output was closed by its reader (`EPIPE`): the status of a process killed by
    /// SIGPIPE, and nothing is printed, as `... | head` expects.
    BrokenPipe,
    /// Stopped by this signal (SIGINT, SIGTERM or SIGHUP): 128 + its number.
    Signal(i32),
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            Status::BrokenPipe => 128 + libc::SIGPIPE as u8,
            Status::Signal(signo) => u8::try_from(128 + signo).unwrap_or(1),
        }
    }
}

/// Writes to stderr; a failure there has nowhere to be reported, so it is ignored (the
/// standard `eprintln!` would panic).
fn say(text: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().write_fmt(text);
}

fn fail_usage(reason: &str) -> Status {
    say(format_args!("hv-host: {}\n{USAGE_HINT}\n", reason.trim_end()));
    Status::Usage
}

/// What Rust's runtime would have done before `main`, as far as hv-host needs it; returns
/// true if stdout was closed when the process started.
///
/// - fds 0, 1 and 2, if closed, are opened on `/dev/null`, so that no file hv-host opens
///   later (a guest's file, the disk) takes their number and receives console output;
/// - SIGPIPE is ignored, so a closed output is an `EPIPE` the run handles (status 141);
/// - SIGXFSZ is ignored, so a write past the host's file-size limit (`ulimit -f`) is a short
///   write and then `EFBIG` for the guest that made it, instead of the end of every guest;
/// - the soft limit on open files is raised to the hard one: each guest holds its VM's two
///   descriptors and up to 32 files, and a soft limit of 1024 would start only some hundreds of
///   guests.
#[cfg_attr(test, allow(dead_code))]
fn process_start() -> bool {
    let mut stdout_closed = false;
    for fd in 0..=2 {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            stdout_closed |= fd == 1;
            // SAFETY: a NUL-terminated path; the lowest free descriptor, `fd`, is the result
            // (0, 1 and 2 are checked in order), and it stays open for the whole process.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut files = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills the struct it is given; setrlimit reads it. Raising the soft
    // limit up to the hard one needs no privilege; if it fails, the old limit stays.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut files) == 0 && files.rlim_cur < files.rlim_max
        {
            files.rlim_cur = files.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &files);
        }
    }
    stdout_closed
}

/// The output of a run whose stdout was closed: every write fails as it would have (EBADF).
struct ClosedStdout;

impl Write for ClosedStdout {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::from_raw_os_error(libc::EBADF))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's entry point, called by the C runtime (see the module's doc).
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let stdout_closed = process_start();
    // (A panic is an hv-host bug: the workspace's `panic = "abort"` prints it and aborts.)
    let status = run(stdout_closed);
    let _ = std::io::stdout().flush();
    libc::c_int::from(status.code())
}

/// Everything but the process's start: the command line, the run and its status.
#[cfg_attr(test, allow(dead_code))]
fn run(stdout_closed: bool) -> Status {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let argv: Vec<String> = std::env::args().collect();
    if argv[1..].iter().any(|a| a == "--version") {
        let _ = writeln!(std::io::stdout(), "hv-host {}", env!("CARGO_PKG_VERSION"));
        return Status::Success;
    }
    let args = expand_lists(&argv[1..]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cli = match Cli::from_args(&["hv-host"], &args) {
        Ok(cli) => cli,
        Err(early) if early.status.is_ok() => {
            let _ = std::io::stdout().write_all(help_text(&early.output).as_bytes());
            return Status::Success;
        }
        // argh may spread one error over several lines ("Required options not provided:" and
        // then the options); the user gets it as one line, in the words of hv-host's others.
        Err(early) => return fail_usage(&usage_error(&early.output)),
    };
    if cli.guest.is_empty() {
        return fail_usage("no guest image given (-g IMAGE...)");
    }
    let mut builder = cli.builder();
    if stdout_closed {
        builder = builder.output(ClosedStdout);
    }
    // hv-host exits right after the run.
    builder = builder.teardown_at_exit(true);
    if cli.guest.len() > 1 && cli.sched == Sched::Threads {
        // One malloc arena for every guest thread: each thread would otherwise make its own,
        // a 64 MiB reservation whose mmap calls hold the address-space lock that the other
        // guests' launches wait on (8 guests launch 2-5 % faster).
        // SAFETY: mallopt only changes the allocator's tuning; called before any thread.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    }
    let hv = match builder.build() {
        Ok(hv) => hv,
        Err(e) => return fail_usage(&e.to_string()),
    };
    for warning in hv.warnings() {
        say(format_args!("hv-host: warning: {warning}\n"));
    }
    for (guest, address) in hv.gdb_addresses() {
        say(format_args!("hv-host: guest {guest} waits for gdb: target remote {address}\n"));
    }
    let stopper = hv.stopper();
    // Before the run starts any thread: they all inherit the blocked signals.
    if let Err(e) = hv_host::signals::install() {
        say(format_args!("hv-host: cannot handle signals ({e}); they will kill the run\n"));
    }
    let reports = hv.run();
    // The reports can be stuck on a full stderr too: a second signal must still end it.
    hv_host::signals::accept_here();
    let reports = match reports {
        Ok(r) => r,
        Err(e) => {
            say(format_args!("hv-host: {e}\n"));
            return Status::Failed;
        }
    };
    let reason = stopper.reason();
    // A closed output (`hv-host ... | head`) ends the run in silence, as SIGPIPE would end a
    // process: the reader has all it wanted, and a table or notes on stderr would be noise.
    if reason == Some(StopReason::BrokenPipe) {
        return Status::BrokenPipe;
    }
    if cli.stats {
        say(format_args!("{}", hv_host::stats_table(&reports)));
    }
    for report in &reports {
        for note in report.notes() {
            say(format_args!("{note}\n"));
        }
    }
    let dropped = hv_host::dropped_output();
    if dropped > 0 {
        say(format_args!(
            "hv-host: {dropped} bytes of guest output not written: the output was stuck when the guests' time ran out\n"
        ));
    }
    match reason {
        Some(StopReason::BrokenPipe) => Status::BrokenPipe,
        Some(StopReason::OutputFailed(e)) => {
            say(format_args!("hv-host: writing the output failed: {e}\n"));
            Status::Failed
        }
        Some(StopReason::Signal(signo)) => {
            // One line for every guest: "interrupted" for those the signal stopped.
            for report in &reports {
                say(format_args!("{report}\n"));
            }
            Status::Signal(signo)
        }
        None => {
            let mut status = Status::Success;
            for report in reports.iter().filter(|r| !r.outcome.is_success()) {
                say(format_args!("{report}\n"));
                status = Status::Failed;
            }
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_follow_the_shell_conventions() {
        assert_eq!(Status::Success.code(), 0);
        assert_eq!(Status::Failed.code(), 1);
        assert_eq!(Status::Usage.code(), 2);
        assert_eq!(Status::BrokenPipe.code(), 141);
        assert_eq!(Status::Signal(libc::SIGHUP).code(), 129);
        assert_eq!(Status::Signal(libc::SIGINT).code(), 130);
        assert_eq!(Status::Signal(libc::SIGTERM).code(), 143);
    }
}
