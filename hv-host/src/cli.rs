//! The command line: the options, their parsers, and the [`Builder`] a command line asks for.
//!
//! argh parses; this module adds what argh does not do the way a Unix user expects: `-g a b c`
//! lists ([`expand_lists`]), usage lines that show `-g` as mandatory ([`help_text`]), and one
//! error line in hv-host's words for each of argh's ([`usage_error`]).

use std::time::Duration;

use argh::FromArgs;
use hv_host::{
    Builder, CpuMode, DeviceIo, GdbEndpoint, Hypervisor, MemSize, PageSize, RealEntry, Sched,
};

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
pub struct Cli {
    /// guest RAM in MiB: 2, 4 or 8 (mandatory)
    #[argh(option, short = 'm', from_str_fn(parse_memory))]
    pub memory: MemSize,

    /// page size the guest RAM is mapped with: 2 (2 MiB) or 4 (4 KiB) (mandatory)
    #[argh(option, short = 'p', from_str_fn(parse_page))]
    pub page: PageSize,

    /// guest image(s), flat binaries or ELF64 executables: one VM per image, IDs 0, 1, 2, ...
    /// in this order; the list runs to the next option (at least one)
    #[argh(option, short = 'g')]
    pub guest: Vec<String>,

    /// file(s) shared with every guest; the list runs to the next option
    #[argh(option, short = 'f')]
    pub file: Vec<String>,

    /// prefix each line of guest output with the guest's ID, as "[ID] "
    #[argh(switch)]
    pub prefix: bool,

    /// how guests share the CPU: "threads" (default: one host thread per guest) or "single"
    /// (all guests on one host thread, switched on exits and preempted by a timer)
    #[argh(option, from_str_fn(parse_sched), default = "Sched::Threads")]
    pub sched: Sched,

    /// with --sched single: milliseconds a guest may run before the others get a turn
    /// (default 10); ignored, with a warning, with --sched threads
    #[argh(option, from_str_fn(parse_quantum))]
    pub quantum_ms: Option<Duration>,

    /// with --sched single: each guest's share of the CPU, one positive integer per guest in -g
    /// order, e.g. 70,30 (default: equal); ignored, with a warning, with --sched threads
    #[argh(option, from_str_fn(parse_weights))]
    pub weights: Option<Vec<u32>>,

    /// stop any guest still running after this many seconds (e.g. 2 or 0.5); it is reported as
    /// timed out, and the others go on
    #[argh(option, from_str_fn(parse_timeout))]
    pub timeout: Option<Duration>,

    /// after the run, print on stderr a table of each guest's exits by kind, run time, bytes
    /// moved, CPU time, CPU share and preemptions
    #[argh(switch)]
    pub stats: bool,

    /// disk image attached to the guest (the seed's DMA disk): a relative path, a non-zero
    /// multiple of 512 bytes; the guest writes it in place, so only one guest may have it,
    /// unless --disk-cow is given
    #[argh(option)]
    pub disk: Option<String>,

    /// with --disk: never write the image; each guest writes its own copy, <disk>.cow<ID>,
    /// made lazily sector by sector (so several guests may share one image)
    #[argh(switch)]
    pub disk_cow: bool,

    /// the most bytes each guest may write to host files and the disk together, e.g. 64K,
    /// 100M, 2G (default 1G); a write past it fails with EFBIG in the guest
    #[argh(option, from_str_fn(parse_quota))]
    pub quota: Option<u64>,

    /// serve the serial port and the disk memory-mapped in the device window instead of on
    /// ports
    #[argh(switch)]
    pub mmio: bool,

    /// the CPU mode every guest starts in: "long" (default: 64-bit, the SDKs' guests), "real"
    /// (16-bit, at --entry), "protected" (32-bit, no paging) or "paged32" (32-bit with paging);
    /// outside long mode images are flat binaries (loaded at 0, or at --entry in real mode),
    /// run in ring 0, and hlt ends them
    #[argh(option, from_str_fn(parse_mode), default = "CpuMode::Long")]
    pub mode: CpuMode,

    /// with --mode real: where every guest starts, as SEG:OFF in hexadecimal (default
    /// 0000:0000); its image is loaded at SEG*16+OFF and must end below 1 MiB
    #[argh(option, from_str_fn(parse_entry))]
    pub entry: Option<RealEntry>,

    /// with --sched single: the guests take turns in -g order, one exit each (a guest that
    /// makes no exit loses its turn after the quantum), instead of sharing the CPU by weight
    #[argh(switch)]
    pub alternate: bool,

    /// give all of stdin to guest ID; the others find end of input at once (default: every
    /// guest reads it, first come, first served, each line whole to one guest)
    #[argh(option, from_str_fn(parse_stdin))]
    pub stdin: Option<u32>,

    /// debug a guest with gdb: PORT (TCP on 127.0.0.1; 0 picks a free one) or PATH (a Unix
    /// socket) for guest 0, ID:PORT or ID:PATH for guest ID; may be given once per guest. The
    /// guest waits for gdb before its first instruction; the others run
    #[argh(option, from_str_fn(parse_gdb))]
    pub gdb: Vec<(u32, GdbEndpoint)>,
}

impl Cli {
    /// The run this command line asks for, short of what only the process knows (its output,
    /// and that it exits right after the run).
    pub fn builder(&self) -> Builder {
        let mut builder = Hypervisor::builder()
            .memory(self.memory)
            .page_size(self.page)
            .prefix_ids(self.prefix)
            .sched(self.sched)
            .alternate(self.alternate)
            .mode(self.mode)
            .devices(if self.mmio { DeviceIo::Mmio } else { DeviceIo::Ports })
            .disk_cow(self.disk_cow);
        if let Some(entry) = self.entry {
            builder = builder.entry(entry);
        }
        if let Some(quantum) = self.quantum_ms {
            builder = builder.quantum(quantum);
        }
        if let Some(weights) = &self.weights {
            builder = builder.weights(weights.iter().copied());
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        for g in &self.guest {
            builder = builder.guest(g);
        }
        for f in &self.file {
            builder = builder.shared_file(f);
        }
        if let Some(disk) = &self.disk {
            builder = builder.disk(disk);
        }
        if let Some(quota) = self.quota {
            builder = builder.quota(quota);
        }
        if let Some(id) = self.stdin {
            builder = builder.input_for(id);
        }
        for (guest, endpoint) in &self.gdb {
            builder = builder.gdb(*guest, endpoint.clone());
        }
        builder
    }
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
pub fn expand_lists(args: &[String]) -> Vec<String> {
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

pub const USAGE_HINT: &str =
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
pub fn help_text(argh_help: &str) -> String {
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
pub fn usage_error(argh_output: &str) -> String {
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
