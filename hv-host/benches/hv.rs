//! hv's benchmark: whole-process measurements of the real `hv-host` binary on real guests,
//! next to a raw-KVM floor, printed as one Markdown table.
//!
//! Run: `cargo bench -p hv-host --bench hv` (builds the release host, the example guests and
//! the `kvm_floor` example first). Each row says what was measured; times are wall-clock,
//! process start to exit, and rates are the work divided by that whole-process time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn release() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("release")
}

/// One finished process: its wall time, peak RSS and output.
struct Sample {
    wall: Duration,
    max_rss_kib: u64,
    stdout: String,
    stderr: String,
}

/// Runs `program args` in `cwd` with `stdin`, discarding nothing, and measures it.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its peak RSS
fn measure(cwd: &Path, program: &Path, args: &[&str], stdin: &[u8]) -> Sample {
    let start = Instant::now();
    let mut child = Command::new(program)
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals above.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let wall = start.elapsed();
    feeder.join().unwrap();
    let stdout = reader.join().unwrap();
    let stderr = ereader.join().unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} {args:?} failed: {stderr}",
        program.display()
    );
    Sample { wall, max_rss_kib: usage.ru_maxrss as u64, stdout, stderr }
}

/// Median, min and max of `runs` measurements.
fn stats(runs: usize, mut f: impl FnMut() -> Duration) -> (Duration, Duration, Duration) {
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn rate(bytes: f64, d: Duration) -> String {
    let r = bytes / d.as_secs_f64();
    if r >= 1e6 { format!("{:.1} MB/s", r / 1e6) } else { format!("{:.1} kB/s", r / 1e3) }
}

/// Total exits of guest 0, from the `--stats` table on stderr.
fn exits_of(stderr: &str) -> u64 {
    let row = stderr.lines().nth(1).expect("stats row");
    row.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// Exits to one port kind of guest 0 (`out file`, `out console`, ...), from `--stats`.
fn exits_to(stderr: &str, kind: &str) -> u64 {
    let line = stderr.lines().find_map(|l| l.strip_prefix("guest 0 exits by kind: ")).unwrap();
    line.split(", ")
        .filter_map(|part| part.rsplit_once(": "))
        .filter(|(k, _)| k.ends_with(kind))
        .map(|(_, n)| n.parse::<u64>().unwrap())
        .sum()
}

fn main() {
    // `cargo bench` passes --bench; anything else is ours to ignore.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for args in [
        &["build", "--release", "-p", "hv-host", "--bins", "--examples"][..],
        &["build", "--release", "-p", "guest-examples"][..],
    ] {
        assert!(Command::new(&cargo).current_dir(root()).args(args).status().unwrap().success());
    }
    let rel = release();
    let hv = rel.join("hv-host");
    let floor = rel.join("examples/kvm_floor");
    let g = |name: &str| rel.join(name).to_str().unwrap().to_string();
    let work = std::env::temp_dir().join(format!("hv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let run = |args: &[&str], stdin: &[u8]| measure(&work, &hv, args, stdin);
    let mut rows: Vec<[String; 3]> = Vec::new();
    let mut row = |what: &str, figure: String, note: String| rows.push([what.into(), figure, note]);

    // 1. Launch.
    let hello = g("hello");
    let (med, lo, hi) = stats(20, || run(&["-m", "2", "-p", "4", "-g", &hello], b"").wall);
    let (fmed, flo, fhi) = stats(20, || measure(&work, &floor, &["hlt"], b"").wall);
    row(
        "launch: 1 trivial guest, process start to exit (median of 20)",
        ms(med),
        format!("min {} max {}", ms(lo), ms(hi)),
    );
    row(
        "launch: raw-KVM floor (open, VM, vCPU, run to first exit; median of 20)",
        ms(fmed),
        format!("min {} max {}; hv is {} above", ms(flo), ms(fhi), ms(med.saturating_sub(fmed))),
    );
    let eight: Vec<&str> = std::iter::repeat_n(hello.as_str(), 8).collect();
    let mut args = vec!["-m", "2", "-p", "4", "-g"];
    args.extend(&eight);
    let (med8, lo8, hi8) = stats(20, || run(&args, b"").wall);
    row(
        "launch: 8 guests at once (median of 20)",
        ms(med8),
        format!("min {} max {}", ms(lo8), ms(hi8)),
    );

    // 2. One exit round trip: the time per call is the difference between a run with many calls
    // and one with few, so launch and teardown cancel. hv and the floor alternate run by run, so
    // whatever else the machine does weighs on both alike.
    let exitbench = g("exitbench");
    let n = 50_000u32;
    let ns = n.to_string();
    let hv_input = format!("{n}\n");
    let (mut hc, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let big = run(&["-m", "2", "-p", "4", "-g", &exitbench], hv_input.as_bytes()).wall;
        let small = run(&["-m", "2", "-p", "4", "-g", &exitbench], b"100\n").wall;
        hc.push(big.saturating_sub(small).as_secs_f64() * 1e6 / f64::from(n - 100));
        let big = measure(&work, &floor, &["exits", &ns], b"").wall;
        let small = measure(&work, &floor, &["exits", "100"], b"").wall;
        raw.push(big.saturating_sub(small).as_secs_f64() * 1e6 / f64::from(n - 100));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (hc_us, raw_us) = (median(&mut hc), median(&mut raw));
    row(
        "exit round trip: HC_numExits hypercall (ring 3)",
        format!("{hc_us:.2} µs"),
        format!("{n} calls, median of 7, launch subtracted"),
    );
    row(
        "exit round trip: raw floor, bare `out` in ring 3",
        format!("{raw_us:.2} µs"),
        format!(
            "runs alternate with hv's; hypercall is {:+.1} % of it",
            (hc_us / raw_us - 1.0) * 100.0
        ),
    );

    // 3. Console.
    let conbench = g("conbench");
    let p = run(&["-m", "2", "-p", "4", "--stats", "-g", &conbench], b"p");
    assert_eq!(p.stdout.len(), 1_000_000);
    let p_exits = exits_of(&p.stderr);
    row(
        "console: 1 MB via byte-wise putchar (coalesced PIO)",
        rate(1e6, p.wall),
        format!("{:.1} exits/KB", p_exits as f64 / 1000.0),
    );
    let (fwall, ..) = stats(5, || run(&["-m", "2", "-p", "4", "-g", &conbench], b"f").wall);
    let f = run(&["-m", "2", "-p", "4", "--stats", "-g", &conbench], b"f");
    row(
        "console: 1 MB via print!, one 64-byte line per call (median of 5)",
        rate(1e6, fwall),
        format!("{:.1} exits/KB", exits_of(&f.stderr) as f64 / 1000.0),
    );
    let (bwall, ..) = stats(5, || run(&["-m", "2", "-p", "4", "-g", &conbench], b"b").wall);
    let b = run(&["-m", "2", "-p", "4", "--stats", "-g", &conbench], b"b");
    row(
        "console: 1 MB via print!, 64 lines (4 KiB) per call (median of 5)",
        rate(1e6, bwall),
        format!("{:.2} exits/KB", exits_of(&b.stderr) as f64 / 1000.0),
    );

    // 4. Files.
    let filebench = g("filebench");
    for mib in [1u64, 8, 64] {
        let input = format!("{mib}\n");
        let (fw, ..) =
            stats(5, || run(&["-m", "4", "-p", "4", "-g", &filebench], input.as_bytes()).wall);
        let s = run(&["-m", "4", "-p", "4", "--stats", "-g", &filebench], input.as_bytes());
        // Calls: open, mib writes, close, open, mib reads (read until full: one each here), close.
        let calls = 2 * mib + 4;
        let file_exits = exits_to(&s.stderr, "file");
        row(
            &format!("files: {mib} MiB written then read back in 1 MiB calls (median of 5)"),
            rate((2 * (mib << 20)) as f64, fw),
            format!("{file_exits} file exits for {calls} calls"),
        );
        let _ = std::fs::remove_file(work.join("bench.dat.local0"));
    }

    // 5. Scale: `spin` guests compute for a while, so all of them are alive at the peak.
    let spin = g("spin");
    let mut base_rss = 0;
    for count in [1usize, 8, 64, 256] {
        let mut args = vec!["-m", "8", "-p", "4", "-g"];
        args.extend(std::iter::repeat_n(spin.as_str(), count));
        let s = run(&args, b"");
        assert_eq!(s.stdout.lines().count(), count);
        if count == 1 {
            base_rss = s.max_rss_kib;
        }
        let per_guest = if count > 1 {
            format!("{} KiB per extra guest", (s.max_rss_kib - base_rss) / (count as u64 - 1))
        } else {
            String::new()
        };
        row(
            &format!("scale: {count} `spin` guests of -m 8 at once (10^8 iterations each)"),
            ms(s.wall),
            format!("peak RSS {} KiB; {per_guest}", s.max_rss_kib),
        );
    }
    let _ = std::fs::remove_dir_all(&work);

    println!("| measurement | figure | notes |");
    println!("|---|---|---|");
    for [a, b, c] in rows {
        println!("| {a} | {b} | {c} |");
    }
}
