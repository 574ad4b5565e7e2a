//! `hv-host`: the command line over the [`hv_host`] library.

use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;
use hv_host::{DeviceIo, Hypervisor, MemSize, PageSize, Sched};

/// Run tiny 64-bit guests, each in its own KVM virtual machine, on a thread each or all on one.
///
/// Example: hv-host -m 4 -p 2 -g guest1.img guest2.img -f shared.txt
#[derive(FromArgs, Debug)]
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

    /// disk image attached to every guest (the seed's DMA disk): a relative path, a non-zero
    /// multiple of 512 bytes; never modified: a guest's first write makes its own copy,
    /// <disk>.local<ID>
    #[argh(option)]
    disk: Option<String>,

    /// serve the serial port and the disk memory-mapped in the device window instead of on
    /// ports
    #[argh(switch)]
    mmio: bool,
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

fn fail_usage(reason: &str) -> ExitCode {
    eprintln!("hv-host: {}", reason.trim_end());
    eprintln!("{USAGE_HINT}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let argv: Vec<String> = std::env::args().collect();
    let args = expand_lists(&argv[1..]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cli = match Cli::from_args(&["hv-host"], &args) {
        Ok(cli) => cli,
        Err(early) if early.status.is_ok() => {
            print!("{}", early.output);
            return ExitCode::SUCCESS;
        }
        // argh may spread one error over several lines ("Required options not provided:" and
        // then the options); the user gets it as one line.
        Err(early) => {
            let reason: Vec<&str> =
                early.output.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            return fail_usage(&reason.join(" "));
        }
    };
    if cli.guest.is_empty() {
        return fail_usage("no guest image given (-g IMAGE...)");
    }
    let mut builder = Hypervisor::builder()
        .memory(cli.memory)
        .page_size(cli.page)
        .prefix_ids(cli.prefix)
        .sched(cli.sched)
        .devices(if cli.mmio { DeviceIo::Mmio } else { DeviceIo::Ports });
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
    let hv = match builder.build() {
        Ok(hv) => hv,
        Err(e) => return fail_usage(&e.to_string()),
    };
    let reports = match hv.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hv-host: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.stats {
        eprint!("{}", hv_host::stats_table(&reports));
    }
    let mut ok = true;
    for report in reports.iter().filter(|r| !r.outcome.is_success()) {
        eprintln!("{report}");
        ok = false;
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
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
