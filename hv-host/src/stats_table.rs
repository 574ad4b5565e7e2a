//! The `--stats` table: per guest, its exits by kind, run time, bytes moved and CPU share.
//!
//! Apart from [`stats`](crate::stats) (which counts) and [`outcome`](crate::outcome) (which
//! reports), so that neither of those depends on the other for it.

use std::fmt::Write;
use std::time::Duration;

use crate::outcome::GuestReport;

/// A well-known port's name, for the table.
fn port_name(port: u16) -> Option<&'static str> {
    use hv_core::proto::{CONSOLE_PORT, EXCEPTION_PORT, FILE_PORT, HYPERCALL_PORT};
    match port {
        CONSOLE_PORT => Some("console"),
        FILE_PORT => Some("file"),
        HYPERCALL_PORT => Some("hypercall"),
        EXCEPTION_PORT => Some("exception"),
        _ => None,
    }
}

/// A port as the table names it: its service's name, or its number.
fn port_label(port: u16) -> String {
    port_name(port).map_or_else(|| format!("{port:#06x}"), str::to_string)
}

/// The `--stats` table: per guest, its exits by kind, run time and bytes moved, then its CPU
/// time (in `KVM_RUN`), its share of all the guests' CPU time, and its preemptions.
///
/// The exit columns and the "exits by kind" line count the exits the host really handled; the
/// writes KVM queued without an exit (coalesced, see `guest::coalesce`) are the `queued` column
/// and a "queued by kind" line of their own. The guest itself counts both alike (see `stats`).
pub fn stats_table(reports: &[GuestReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:>10} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>12} {:>12} {:>12}  image",
        "guest",
        "run ms",
        "exits",
        "in",
        "out",
        "queued",
        "con out B",
        "con in B",
        "file read B",
        "file wrote B",
        "disk wrote B"
    );
    for r in reports {
        let s = &r.stats;
        let queued_out: u64 = s.exits.queued_out.values().sum();
        let _ = writeln!(
            out,
            "{:<5} {:>10.3} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>12} {:>12} {:>12}  {}",
            r.id,
            r.run_time.as_secs_f64() * 1000.0,
            s.exits.exits(),
            s.exits.io_in_total(),
            s.exits.io_out_total() - queued_out,
            s.exits.queued(),
            s.console_bytes_out,
            s.console_bytes_in,
            s.file_bytes_read,
            s.file_bytes_written,
            s.disk_bytes_written,
            crate::escape::Escaped(&r.image.to_string_lossy())
        );
    }
    for r in reports {
        let e = &r.stats.exits;
        let mut kinds = Vec::new();
        for (port, n) in &e.io_in {
            kinds.push(format!("in {}: {n}", port_label(*port)));
        }
        for port in e.io_out.keys() {
            let n = e.out_exits(*port);
            if n > 0 {
                kinds.push(format!("out {}: {n}", port_label(*port)));
            }
        }
        for (name, n) in [
            ("hlt", e.hlt),
            ("mmio", e.mmio - e.queued_mmio),
            ("exceptions", e.exceptions),
            ("interrupted", e.interrupted),
            ("other", e.other),
        ] {
            if n > 0 {
                kinds.push(format!("{name}: {n}"));
            }
        }
        let _ = writeln!(out, "guest {} exits by kind: {}", r.id, kinds.join(", "));
        let mut queued: Vec<String> = e
            .queued_out
            .iter()
            .map(|(port, n)| format!("out {}: {n}", port_label(*port)))
            .collect();
        if e.queued_mmio > 0 {
            queued.push(format!("mmio: {}", e.queued_mmio));
        }
        if !queued.is_empty() {
            let _ = writeln!(
                out,
                "guest {} writes queued without an exit, by kind: {}",
                r.id,
                queued.join(", ")
            );
        }
    }
    // Time in KVM_RUN: with --sched single exactly what the scheduler shares out by weight. In
    // milliseconds with three decimals, like the run time: a guest that runs for less than a
    // millisecond must not read "0 ms" next to a share that is not zero.
    let total: Duration = reports.iter().map(|r| r.stats.cpu_time).sum();
    for r in reports {
        let share = if total.is_zero() {
            0.0
        } else {
            r.stats.cpu_time.as_secs_f64() * 100.0 / total.as_secs_f64()
        };
        let _ = writeln!(
            out,
            "guest {}: cpu {:.3} ms ({share:.1} %), preemptions {}",
            r.id,
            r.stats.cpu_time.as_secs_f64() * 1000.0,
            r.stats.preemptions
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{GuestStats, Outcome};

    #[test]
    fn cpu_time_under_a_millisecond_is_not_zero() {
        let report = |id, cpu_us| {
            let stats =
                GuestStats { cpu_time: Duration::from_micros(cpu_us), ..Default::default() };
            GuestReport {
                id,
                image: format!("g{id}").into(),
                outcome: Outcome::Exited(0),
                run_time: Duration::from_micros(400),
                stats,
                location: None,
            }
        };
        let table = stats_table(&[report(0, 139), report(1, 297)]);
        let cpu: Vec<&str> = table.lines().filter(|l| l.contains(": cpu ")).collect();
        assert_eq!(
            cpu,
            [
                "guest 0: cpu 0.139 ms (31.9 %), preemptions 0",
                "guest 1: cpu 0.297 ms (68.1 %), preemptions 0"
            ]
        );
    }
}
