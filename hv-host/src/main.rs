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
use std::time::Duration;

use argh::FromArgs;
use hv_host::{
    CpuMode, DeviceIo, GdbEndpoint, Hypervisor, MemSize, PageSize, RealEntry, Sched, StopReason,
};

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

/// Run tiny guests, each in its own KVM virtual machine, on a thread each or all on one: 64-bit
/// guests, or 16- and 32-bit ones with --mode.
///
/// Example: hv-host -m 4 -p 2 -g guest1.img guest2.img -f shared.txt
#[derive(FromArgs, Debug)]
#[argh(
    error_code(0, "every guest ended with status 0"),
    error_code(
        1,
        "a guest failed (a non-zero status, a fault, a panic, a timeout), or writing the output failed"
    ),
    error_code(2, "usage: the command line or configuration was refused; no guest ran"),
    error_code(129, "stopped by SIGHUP"),
    error_code(130, "stopped by SIGINT (Ctrl-C; a second one exits at once)"),
    error_code(
        141,
        "the output was closed (broken pipe, as in '| head'); nothing more is printed"
    ),
    error_code(143, "stopped by SIGTERM"),
    note = "Input: every guest reads hv-host's stdin, first come, first served, each line whole to one guest (or all of it to one guest: --stdin ID).
A signal stops every guest at its next exit; their unfinished lines are written, --stats is printed if asked, and each guest gets a report line ('interrupted').
RUST_LOG=info logs a line for every guest that ended with status 0; RUST_LOG=debug also the registers of a guest that failed."
)]
struct Cli {
    /// guest RAM in MiB: 2, 4 or 8 (mandatory)
    #[argh(option, short = 'm', from_str_fn(parse_memory))]
    memory: MemSize,

    /// page size the guest RAM is mapped with: 2 (2 MiB) or 4 (4 KiB) (mandatory)
    #[argh(option, short = 'p', from_str_fn(parse_page))]
    page: PageSize,

    /// guest image(s), flat binaries or ELF64 executables: one VM per image, IDs 0, 1, 2, ...
    /// in this order; the list runs to the next option (at least one)
    #[argh(option, short = 'g')]
    guest: Vec<String>,

    /// file(s) shared with every guest; the list runs to the next option
    #[argh(option, short = 'f')]
    file: Vec<String>,

    /// prefix each line of guest output with the guest's ID, as "[ID] "
    #[argh(switch)]
    prefix: bool,

    /// how guests share the CPU: "threads" (default: one host thread per guest) or "single"
    /// (all guests on one host thread, switched on exits and preempted by a timer)
    #[argh(option, from_str_fn(parse_sched), default = "Sched::Threads")]
    sched: Sched,

    /// with --sched single: milliseconds a guest may run before the others get a turn
    /// (default 10); ignored, with a warning, with --sched threads
    #[argh(option, from_str_fn(parse_quantum))]
    quantum_ms: Option<Duration>,

    /// with --sched single: each guest's share of the CPU, one positive integer per guest in -g
    /// order, e.g. 70,30 (default: equal); ignored, with a warning, with --sched threads
    #[argh(option, from_str_fn(parse_weights))]
    weights: Option<Vec<u32>>,

    /// stop any guest still running after this many seconds (e.g. 2 or 0.5); it is reported as
    /// timed out, and the others go on
    #[argh(option, from_str_fn(parse_timeout))]
    timeout: Option<Duration>,

    /// after the run, print on stderr a table of each guest's exits by kind, run time, bytes
    /// moved, CPU time, CPU share and preemptions
    #[argh(switch)]
    stats: bool,

    /// disk image attached to the guest (the seed's DMA disk): a relative path, a non-zero
    /// multiple of 512 bytes; the guest writes it in place, so only one guest may have it,
    /// unless --disk-cow is given
    #[argh(option)]
    disk: Option<String>,

    /// with --disk: never write the image; each guest writes its own copy, <disk>.cow<ID>,
    /// made lazily sector by sector (so several guests may share one image)
    #[argh(switch)]
    disk_cow: bool,

    /// the most bytes each guest may write to host files and the disk together, e.g. 64K,
    /// 100M, 2G (default 1G); a write past it fails with EFBIG in the guest
    #[argh(option, from_str_fn(parse_quota))]
    quota: Option<u64>,

    /// serve the serial port and the disk memory-mapped in the device window instead of on
    /// ports
    #[argh(switch)]
    mmio: bool,

    /// the CPU mode every guest starts in: "long" (default: 64-bit, the SDKs' guests), "real"
    /// (16-bit, at --entry), "protected" (32-bit, no paging) or "paged32" (32-bit with paging);
    /// outside long mode images are flat binaries (loaded at 0, or at --entry in real mode),
    /// run in ring 0, and hlt ends them
    #[argh(option, from_str_fn(parse_mode), default = "CpuMode::Long")]
    mode: CpuMode,

    /// with --mode real: where every guest starts, as SEG:OFF in hexadecimal (default
    /// 0000:0000); its image is loaded at SEG*16+OFF and must end below 1 MiB
    #[argh(option, from_str_fn(parse_entry))]
    entry: Option<RealEntry>,

    /// with --sched single: the guests take turns in -g order, one exit each (a guest that
    /// makes no exit loses its turn after the quantum), instead of sharing the CPU by weight
    #[argh(switch)]
    alternate: bool,

    /// give all of stdin to guest ID; the others find end of input at once (default: every
    /// guest reads it, first come, first served, each line whole to one guest)
    #[argh(option, from_str_fn(parse_stdin))]
    stdin: Option<u32>,

    /// debug a guest with gdb: PORT (TCP on 127.0.0.1; 0 picks a free one) or PATH (a Unix
    /// socket) for guest 0, ID:PORT or ID:PATH for guest ID; may be given once per guest. The
    /// guest waits for gdb before its first instruction; the others run
    #[argh(option, from_str_fn(parse_gdb))]
    gdb: Vec<(u32, GdbEndpoint)>,
}

fn parse_memory(v: &str) -> Result<MemSize, String> {
    v.parse()
        .ok()
        .and_then(MemSize::from_mib)
        .ok_or_else(|| format!("invalid memory size '{v}': use 2, 4 or 8"))
}

fn parse_page(v: &str) -> Result<PageSize, String> {
    v.parse()
        .ok()
        .and_then(PageSize::from_cli_value)
        .ok_or_else(|| format!("invalid page size '{v}': use 2 or 4"))
}

/// Options whose value is a list: `-g a b c` means `-g a -g b -g c`.
const LIST_OPTIONS: [&str; 4] = ["-g", "--guest", "-f", "--file"];

/// Rewrites `-g a b c` into the `-g a -g b -g c` argh understands. A list runs until the next
/// argument that starts with `-`.
fn expand_lists(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() * 2);
    let mut list: Option<&str> = None;
    let mut values_in_list = 0;
    for arg in args {
        if arg.starts_with('-') && arg.len() > 1 {
            list = LIST_OPTIONS.iter().copied().find(|o| o == arg);
            values_in_list = 0;
            if list.is_none() {
                out.push(arg.clone());
            }
            continue;
        }
        if let Some(option) = list {
            out.push(option.to_string());
            values_in_list += 1;
        }
        out.push(arg.clone());
    }
    // A list option with no value at all: leave it for argh to reject.
    if let (Some(option), 0) = (list, values_in_list) {
        out.push(option.to_string());
    }
    out
}

fn parse_mode(v: &str) -> Result<CpuMode, String> {
    CpuMode::from_cli_value(v)
        .ok_or_else(|| format!("invalid mode '{v}': use long, real, protected or paged32"))
}

fn parse_entry(v: &str) -> Result<RealEntry, String> {
    RealEntry::parse(v).ok_or_else(|| {
        format!("invalid entry '{v}': use SEG:OFF, each 1 to 4 hexadecimal digits (e.g. 1000:0000)")
    })
}

fn parse_gdb(v: &str) -> Result<(u32, GdbEndpoint), String> {
    GdbEndpoint::parse_cli(v)
}

fn parse_quota(v: &str) -> Result<u64, String> {
    hv_host::parse_size(v).ok_or_else(|| {
        format!("invalid quota '{v}': use a number of bytes, optionally with K, M, G or T")
    })
}

fn parse_sched(v: &str) -> Result<Sched, String> {
    Sched::from_cli_value(v)
        .ok_or_else(|| format!("invalid scheduling '{v}': use threads or single"))
}

fn parse_quantum(v: &str) -> Result<Duration, String> {
    v.parse()
        .ok()
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("invalid quantum '{v}': use a positive number of milliseconds"))
}

fn parse_weights(v: &str) -> Result<Vec<u32>, String> {
    v.split(',')
        .map(|w| w.parse().ok().filter(|&w: &u32| w > 0))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| {
            format!(
                "invalid weights '{v}': use positive integers separated by commas, one per guest"
            )
        })
}

fn parse_stdin(v: &str) -> Result<u32, String> {
    v.parse().map_err(|_| format!("invalid guest ID '{v}' for --stdin: use 0, 1, 2, ..."))
}

fn parse_timeout(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("invalid timeout '{v}': use a positive number of seconds"))
}

const USAGE_HINT: &str =
    "Usage: hv-host -m 2|4|8 -p 2|4 -g IMAGE... [-f FILE...]; run 'hv-host --help' for more.";

/// The usage lines of `--help` (argh's own shows `-g` as optional, which it is not), as the
/// README's command-line section shows them.
const USAGE: &str = "\
Usage: hv-host -m|--memory 2|4|8 -p|--page 2|4 -g|--guest IMAGE... [-f|--file FILE...]
        [--prefix] [--stats] [--sched threads|single] [--quantum-ms N] [--weights W,...]
        [--alternate] [--timeout SECONDS] [--quota SIZE] [--disk FILE [--disk-cow]] [--mmio]
        [--mode long|real|protected|paged32] [--entry SEG:OFF] [--stdin ID]
        [--gdb [ID:]PORT|PATH]";

/// `--help`: argh's text with hv's usage lines and the `--version` option, ending in a newline.
fn help_text(argh_help: &str) -> String {
    let body = argh_help.split_once('\n').map_or("", |(_, rest)| rest);
    let mut text = format!("{USAGE}\n{body}");
    if let Some(at) = text.find("  --help, help") {
        let line_end = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
        text.insert_str(
            line_end,
            &format!("  {:<18}print hv-host's version and exit\n", "--version"),
        );
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// One command-line error of argh's (possibly over several lines) as one line in hv-host's
/// words: the reason for the `hv-host: ` line.
fn usage_error(argh_output: &str) -> String {
    let lines: Vec<&str> = argh_output.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let text = lines.join(" ");
    // "Error parsing option 'OPT' with value 'VALUE': MESSAGE"
    let parse_error = text
        .strip_prefix("Error parsing option '")
        .and_then(|rest| rest.split_once("' with value '"))
        .and_then(|(option, rest)| Some((option, rest.split_once("': ")?)));
    if let Some((option, (value, message))) = parse_error {
        return match message {
            // Our own parsers' messages name the value and say what to use.
            m if m.starts_with("invalid ") => m.to_string(),
            "duplicate values provided" => format!("{option} is given more than once"),
            m => format!("invalid value '{value}' for {option}: {m}"),
        };
    }
    if let Some(option) = text.strip_prefix("No value provided for option '") {
        return format!("{} needs a value", option.trim_end_matches(['\'', '.']));
    }
    if let Some(options) = text.strip_prefix("Required options not provided:") {
        return format!("missing option(s):{options}");
    }
    if let Some(arg) = text.strip_prefix("Unrecognized argument: ") {
        let arg = arg.trim_matches('"');
        return if arg.starts_with('-') {
            format!("unknown option '{arg}'")
        } else {
            format!("unexpected argument '{arg}' (only -g and -f take several values)")
        };
    }
    text
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
    let mut builder = Hypervisor::builder()
        .memory(cli.memory)
        .page_size(cli.page)
        .prefix_ids(cli.prefix)
        .sched(cli.sched)
        .alternate(cli.alternate)
        .mode(cli.mode)
        .devices(if cli.mmio { DeviceIo::Mmio } else { DeviceIo::Ports });
    if let Some(entry) = cli.entry {
        builder = builder.entry(entry);
    }
    if let Some(quantum) = cli.quantum_ms {
        builder = builder.quantum(quantum);
    }
    if let Some(weights) = cli.weights {
        builder = builder.weights(weights);
    }
    if let Some(timeout) = cli.timeout {
        builder = builder.timeout(timeout);
    }
    for g in &cli.guest {
        builder = builder.guest(g);
    }
    for f in &cli.file {
        builder = builder.shared_file(f);
    }
    if let Some(disk) = &cli.disk {
        builder = builder.disk(disk);
    }
    builder = builder.disk_cow(cli.disk_cow);
    if let Some(quota) = cli.quota {
        builder = builder.quota(quota);
    }
    if let Some(id) = cli.stdin {
        builder = builder.input_for(id);
    }
    for (guest, endpoint) in cli.gdb {
        builder = builder.gdb(guest, endpoint);
    }
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

    fn expand(args: &[&str]) -> Vec<String> {
        expand_lists(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn lists_run_to_the_next_option() {
        assert_eq!(
            expand(&["-g", "a", "b", "-m", "4", "--file", "x", "y", "-p", "2"]),
            ["-g", "a", "-g", "b", "-m", "4", "--file", "x", "--file", "y", "-p", "2"]
        );
        assert_eq!(expand(&["-m", "4", "5"]), ["-m", "4", "5"]);
        assert_eq!(expand(&["-g"]), ["-g"]);
    }

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

    #[test]
    fn modes_and_entries_are_checked() {
        assert_eq!(parse_mode("paged32"), Ok(CpuMode::Paged32));
        assert_eq!(parse_mode("real"), Ok(CpuMode::Real));
        for bad in ["", "Real", "32", "protected "] {
            assert!(parse_mode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_entry("1000:0000").map(|e| e.linear()), Ok(0x10000));
        for bad in ["1000", "10000:0", "x:0", "1000:0:0"] {
            assert!(parse_entry(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scheduling_values_are_checked() {
        assert_eq!(parse_sched("single"), Ok(Sched::Single));
        assert_eq!(parse_sched("threads"), Ok(Sched::Threads));
        assert!(parse_sched("Single").is_err());
        assert_eq!(parse_weights("70,30"), Ok(vec![70, 30]));
        assert_eq!(parse_weights("5"), Ok(vec![5]));
        for bad in ["", "70,", "70,0", "a,b", "-1,2", "70 30", "1.5"] {
            assert!(parse_weights(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_quantum("10"), Ok(Duration::from_millis(10)));
        for bad in ["0", "-1", "x", "1.5"] {
            assert!(parse_quantum(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "x", "nan", "inf", "1e-12"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
    }
}
