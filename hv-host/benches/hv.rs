//! hv's benchmark: whole-process measurements of the real `hv-host` binary on real guests,
//! each next to a floor measured in the same run, printed as one Markdown table.
//!
//! Run: `cargo bench -p hv-host --bench hv` (builds the release host, the example guests and
//! the `kvm_floor` example, and compiles the C floor `benches/floor.c` with `cc` and the seeds'
//! raw-port guest `benches/guests/seedraw.c` with `gcc`). The seeds' public peers are measured
//! side by side when their host binaries are named: `HV_BENCH_NIKCIN18` (seed 000's, nikcin18's
//! Simplified-KVM `mini_hypervisor`) and `HV_BENCH_SIMPLE_KVM_IO` (seed 003's, simple-kvm-io's
//! `test`); they are not part of hv, build them yourself. After the table, each goal the
//! benchmark checks is printed as a "bar" line: met, MISSED, or not measured. Times are
//! wall-clock, process start to exit; hv's runs and the floor's alternate (for launches, in
//! an order that rotates every round), so whatever else the machine does weighs on both
//! alike, and every figure is a median.
//!
//! The floor is a minimal C launcher (`floor.c`): real mode, 2 MiB, run to `hlt`, or a loop of
//! ring-0 `out` exits, or N such launches on N threads at once; and the same program exiting
//! before it opens `/dev/kvm`, whose time (process start-up) is taken off every launch figure. Each row gives hv's figure, the
//! floor's, and their ratio: launch to the floor's launch, an exit to the floor's exit, data
//! (time per KB, per sector, per MiB) to the floor's exit, memory to the floor's peak RSS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "hv/process.rs"]
mod process;
#[path = "hv/raw_ports.rs"]
mod raw_ports;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use process::{
    Sample, build_floor, build_peak_rss, build_rust_start, measure, measure_quiet, peak_rss,
    stream_check,
};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn release() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("release")
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

/// Writes of guest 0 queued without an exit, from the `--stats` table on stderr.
fn queued_of(stderr: &str) -> u64 {
    let row = stderr.lines().nth(1).expect("stats row");
    row.split_whitespace().nth(5).unwrap().parse().unwrap()
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

/// Median of a sample.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds as milliseconds, for the table.
fn msf(s: f64) -> String {
    format!("{:.2} ms", s * 1e3)
}

/// Seconds as microseconds, for the table.
fn usf(s: f64) -> String {
    format!("{:.2} µs", s * 1e6)
}

/// The goals the benchmark checks: each printed after the table as met or MISSED.
struct Bars(Vec<String>);

impl Bars {
    fn check(&mut self, what: &str, met: Option<bool>, figure: String) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        self.0.push(format!("bar: {what}: {figure}: {verdict}"));
    }
}

/// The table: one row per figure, each with the floor it is compared with.
struct Table(Vec<[String; 5]>);

impl Table {
    fn row(&mut self, what: &str, hv: String, floor: String, ratio: Option<f64>, note: String) {
        let ratio = ratio.map_or_else(|| "-".into(), |r| format!("{r:.2}"));
        self.0.push([what.into(), hv, floor, ratio, note]);
    }
}

/// A flat image that makes `n` exits with `in eax, 0xEC` (seed 002's `HC_numExits`, answered
/// by the host from its counts: the cheapest exit a guest of every mode can make), then halts,
/// for `--mode mode`, hand-assembled for the mode's code size.
fn in_loop(mode: &str, n: u32) -> Vec<u8> {
    let [a, b, c, d] = n.to_le_bytes();
    match mode {
        "real" => vec![
            0x66, 0xB9, a, b, c, d, // mov ecx, n
            0x66, 0xE5, 0xEC, //       1: in eax, 0xEC
            0x66, 0x49, //             dec ecx
            0x75, 0xF9, //             jnz 1b
            0xF4, //                   hlt
        ],
        "protected" | "paged32" => vec![
            0xB9, a, b, c, d, // mov ecx, n
            0xE5, 0xEC, //       1: in eax, 0xEC
            0x49, //             dec ecx
            0x75, 0xFB, //       jnz 1b
            0xF4, //             hlt
        ],
        _ => vec![
            0xB9, a, b, c, d, // mov ecx, n
            0xE5, 0xEC, //       1: in eax, 0xEC
            0xFF, 0xC9, //       dec ecx
            0x75, 0xFA, //       jnz 1b
            0xF4, //             hlt (a #GP in ring 3, which ends the guest normally)
        ],
    }
}

/// The rows of issue 18: an exit's round trip in each CPU mode, against the C floor's ring-0
/// exit, and the seed's Matrix (part 2's guests, built with its commands) in values per second
/// per guest under two of its schedules.
fn modes(t: &mut Table, work: &Path, hv: &Path, floor: &Path, exit0: f64) {
    let secs = |s: Sample| s.wall.as_secs_f64();
    let (big, small) = (20_000u32, 100u32);
    for mode in ["real", "protected", "paged32", "long"] {
        let mut per = Vec::new();
        let mut c0 = Vec::new();
        for _ in 0..5 {
            let run = |n: u32| {
                let image = work.join(format!("in-{mode}-{n}.img"));
                std::fs::write(&image, in_loop(mode, n)).unwrap();
                let args = ["-m", "2", "-p", "4", "--mode", mode, "-g", image.to_str().unwrap()];
                secs(measure(work, hv, &args, b""))
            };
            per.push((run(big) - run(small)) / f64::from(big - small));
            let fe = |count: u32| secs(measure(work, floor, &["exits", &count.to_string()], b""));
            c0.push((fe(big) - fe(small)) / f64::from(big - small));
        }
        let (per, floor_now) = (median(per), median(c0));
        t.row(
            &format!("exit round trip: `in` 0xEC, --mode {mode}"),
            usf(per),
            usf(exit0),
            Some(per / exit0),
            format!(
                "{big} exits, medians of 5; {}; the C floor's ring-0 exit measured beside it {} ({:.2} times)",
                if mode == "long" { "ring 3, 64-bit" } else { "ring 0, emulated" },
                usf(floor_now),
                per / floor_now
            ),
        );
    }
    // The Matrix: the seed's part-2 guests, assembled and linked with its commands.
    let seeds = root().join("tests/seeds/002");
    let mut images = Vec::new();
    for name in ["guest1", "guest2"] {
        let (src, obj, bin) = (
            seeds.join(format!("{name}.s")),
            work.join(format!("{name}.o")),
            work.join(format!("{name}.bin")),
        );
        let ok = Command::new("as").arg("-32").arg(&src).arg("-o").arg(&obj).status();
        assert!(ok.unwrap().success(), "as -32 {}", src.display());
        let ok = Command::new("ld")
            .args(["-m", "elf_i386", "--oformat", "binary", "-N", "-e", "_start", "-Ttext"])
            .args(["0x10000", "-o"])
            .arg(&bin)
            .arg(&obj)
            .status();
        assert!(ok.unwrap().success(), "ld {}", obj.display());
        images.push(bin.to_str().unwrap().to_string());
    }
    for (schedule, extra) in [
        ("--alternate (matrix-a)", &["--alternate", "--quantum-ms", "1000"][..]),
        ("--weights 7,3 (matrix)", &["--weights", "7,3"]),
    ] {
        let mut args = vec!["-m", "2", "-p", "4", "--mode", "real", "--entry", "1000:0000"];
        args.extend(["--sched", "single", "--prefix", "--timeout", "2"]);
        args.extend(extra);
        args.extend(["-g", &images[0], &images[1]]);
        // The guests never end: the timeout does, so hv-host exits with status 1.
        let start = Instant::now();
        let out = Command::new(hv).current_dir(work).args(&args).output().unwrap();
        let wall = start.elapsed().as_secs_f64();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let count = |id: &str| stdout.lines().filter(|l| l.starts_with(id)).count() as f64;
        let (neo, morpheus) = (count("[0] "), count("[1] "));
        let per_value = 2.0 / (neo + morpheus);
        t.row(
            &format!("Matrix: Neo and Morpheus on one thread, {schedule}"),
            format!("{:.0} / {:.0} values/s", neo / 2.0, morpheus / 2.0),
            usf(exit0),
            Some(per_value / exit0),
            format!(
                "values per second per guest over the 2 s timeout ({:.1} % Neo's; whole run {}); ratio: time per value to the floor's exit",
                neo * 100.0 / (neo + morpheus),
                msf(wall)
            ),
        );
    }
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
    let floor = build_floor(&rel, false);
    let floor_static = build_floor(&rel, true);
    let rust_start = build_rust_start(&rel);
    let ring3_floor = rel.join("examples/kvm_floor");
    let probe = build_peak_rss(&rel);
    let g = |name: &str| rel.join(name).to_str().unwrap().to_string();
    let work = std::env::temp_dir().join(format!("hv-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let run = |args: &[&str], stdin: &[u8]| measure(&work, &hv, args, stdin);
    let secs = |s: Sample| s.wall.as_secs_f64();
    let mut t = Table(Vec::new());
    let mut bars = Bars(Vec::new());

    // 1. Launch: process start-up (the C floor exiting before it opens /dev/kvm; also static,
    // and an empty Rust program linked as hv-host is), the C floor, one hv guest and eight,
    // alternating so that whatever else the machine does weighs on all alike; start-up is
    // taken off each median.
    let hello = g("hello");
    let mut eight = vec!["-m", "2", "-p", "4", "-g"];
    eight.extend(std::iter::repeat_n(hello.as_str(), 8));
    // Each round runs the seven in a different order (a rotation): a process's teardown can
    // leave kernel work behind that slows whichever runs next.
    let one = ["-m", "2", "-p", "4", "-g", hello.as_str()];
    let commands: [(&Path, &[&str]); 7] = [
        (&floor, &["start"]),
        (&floor_static, &["start"]),
        (&rust_start, &[]),
        (&floor, &["hlt"]),
        (&floor, &["hlt", "8"]),
        (&hv, &one),
        (&hv, &eight),
    ];
    let mut times: [Vec<f64>; 7] = Default::default();
    for round in 0..60 {
        for k in 0..commands.len() {
            let i = (round + k) % commands.len();
            times[i].push(secs(measure(&work, commands[i].0, commands[i].1, b"")));
        }
    }
    let [st, sst, rst, fl, fl8, h1, h8] = times;
    let (start, floor_whole) = (median(st), median(fl));
    let floor_net = floor_whole - start;
    let floor8_net = median(fl8) - start;
    let (static_start, rust_start) = (median(sst), median(rst));
    let (hv1, hv8) = (median(h1), median(h8));
    let (hv1_net, hv8_net) = (hv1 - start, hv8 - start);
    t.row(
        "launch: 1 guest, run to its end, process start-up taken off",
        msf(hv1_net),
        msf(floor_net),
        Some(hv1_net / floor_net),
        format!(
            "medians of 60, in rotating order; start-up taken off: the C floor's, dynamically linked as C peers are, exiting before it opens /dev/kvm ({}); whole process: hv {}, floor {} ({:.2} times); hv-host is static-pie: with a static C program's start-up ({}) taken off instead, hv is {:.2} times the floor; with an empty Rust program linked as hv-host is ({}), {:.2} times",
            msf(start),
            msf(hv1),
            msf(floor_whole),
            hv1 / floor_whole,
            msf(static_start),
            (hv1 - static_start) / floor_net,
            msf(rust_start),
            (hv1 - rust_start) / floor_net
        ),
    );
    t.row(
        "launch: 8 guests at once, process start-up taken off",
        msf(hv8_net),
        msf(floor8_net),
        Some(hv8_net / floor8_net),
        format!(
            "floor: 8 threads, one VM each; hv's 8 take {:.2} times its one, the floor's {:.2}",
            hv8_net / hv1_net,
            floor8_net / floor_net
        ),
    );

    bars.check(
        "launch, 1 guest, at most 1.2 times the C floor net of start-up",
        Some(hv1_net / floor_net <= 1.2),
        format!("{:.2}", hv1_net / floor_net),
    );
    bars.check(
        "launch, 8 guests, at most 1.2 times the floor's 8 threads",
        Some(hv8_net / floor8_net <= 1.2),
        format!("{:.2}", hv8_net / floor8_net),
    );

    // 2. One exit round trip: the time per exit is the difference between a run with many and
    // one with few, so launch and teardown cancel; hv, the C floor (ring 0) and the ring-3 floor
    // alternate.
    let exitbench = g("exitbench");
    let n = 50_000u32;
    let ns = n.to_string();
    let per = |big: f64, small: f64| (big - small) / f64::from(n - 100);
    let (mut hc, mut mem, mut c0, mut r3) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let hv_calls = |mode: &str, count: &str| {
        let input = format!("{mode} {count}\n");
        secs(run(&["-m", "2", "-p", "4", "-g", &exitbench], input.as_bytes()))
    };
    for _ in 0..7 {
        hc.push(per(hv_calls("x", &ns), hv_calls("x", "100")));
        // From memory a call takes nanoseconds: 10^7 of them, so they outweigh launch noise.
        mem.push((hv_calls("m", "10000000") - hv_calls("m", "100")) / f64::from(10_000_000 - 100));
        let fe = |count: &str| secs(measure(&work, &floor, &["exits", count], b""));
        c0.push(per(fe(&ns), fe("100")));
        let re = |count: &str| secs(measure(&work, &ring3_floor, &["exits", count], b""));
        r3.push(per(re(&ns), re("100")));
    }
    let (hc, mem, exit0, exit3) = (median(hc), median(mem), median(c0), median(r3));
    t.row(
        "exit round trip: a hypercall that exits (ring 3)",
        usf(hc),
        usf(exit0),
        Some(hc / exit0),
        format!(
            "{n} calls, medians of 7; floor: C, `out` loop in ring 0; ring-3 floor (bare `out`) {}, hv is {:.2} times it",
            usf(exit3),
            hc / exit3
        ),
    );
    t.row(
        "HC_numExits, answered from the hv page",
        format!("{:.3} µs", mem * 1e6),
        usf(exit0),
        Some(mem / exit0),
        "10^7 calls, median of 7; no exit".into(),
    );

    // 2b. The 16- and 32-bit modes (issue 18): an exit from each, and the seed's Matrix.
    modes(&mut t, &work, &hv, &floor, exit0);

    // 3. Console. Data figures are compared with the floor's exit: the ratio is the time per
    // KB (per sector, per MiB) counted in C floor exits.
    let conbench = g("conbench");
    let expected: Vec<u8> = {
        let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n";
        line.iter().copied().cycle().take(1_000_000).collect()
    };
    let mut pw = Vec::new();
    let mut p_exits = 0;
    for _ in 0..5 {
        let p = run(&["-m", "2", "-p", "4", "--stats", "-g", &conbench], b"p");
        assert!(p.stdout.as_bytes() == expected.as_slice(), "putchar output is not byte-exact");
        p_exits = exits_of(&p.stderr);
        pw.push(secs(p));
    }
    let pw = median(pw);
    t.row(
        "console: 1 MB via byte-wise putchar",
        rate(1e6, Duration::from_secs_f64(pw)),
        format!("{} per exit", usf(exit0)),
        Some(pw / 1000.0 / exit0),
        format!(
            "byte-exact; {:.2} exits/KB; median of 5; ratio: time per KB in floor exits",
            p_exits as f64 / 1000.0
        ),
    );
    for (mode, what) in [
        (b"f", "console: 1 MB via print!, one 64-byte line per call"),
        (b"b", "console: 1 MB via print!, 64 lines (4 KiB) per call"),
    ] {
        let wall = median(
            (0..5).map(|_| secs(run(&["-m", "2", "-p", "4", "-g", &conbench], mode))).collect(),
        );
        let s = run(&["-m", "2", "-p", "4", "--stats", "-g", &conbench], mode);
        t.row(
            what,
            rate(1e6, Duration::from_secs_f64(wall)),
            format!("{} per exit", usf(exit0)),
            Some(wall / 1000.0 / exit0),
            format!("{:.2} exits/KB; median of 5", exits_of(&s.stderr) as f64 / 1000.0),
        );
    }

    // 3b. Input, against the output path measured in the same run. `cat` of 64 MiB (stdin from
    // a file, 64-byte lines, stdout to /dev/null) against `conbench w`, which writes the same
    // 64 MiB in the same 16 KiB writes `cat` makes; and `seq 1 100000 | hv-host -g echo`
    // (byte-wise getchar and putchar) against `conbench p` writing as many bytes byte-wise.
    // The 64 MiB never sit in this process's memory (see `stream_check`).
    {
        let (cat, echo) = (g("cat"), g("echo"));
        let line = &expected[..64];
        let mib64 = 64usize << 20;
        let cat_in = work.join("cat-in.txt");
        {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&cat_in).unwrap());
            for _ in 0..mib64 / line.len() {
                file.write_all(line).unwrap();
            }
            file.flush().unwrap();
        }
        let stats = ["-m", "2", "-p", "4", "--stats", "-g"];
        let stderr = stream_check(&work, &hv, &[&stats[..], &[&cat]].concat(), &cat_in, &cat_in);
        let cat_exits = exits_of(&stderr);
        let out_mode = format!("w {mib64}\n");
        let conbench_in = work.join("conbench-in.txt");
        std::fs::write(&conbench_in, &out_mode).unwrap();
        let args = [&stats[..], &[&conbench]].concat();
        let out_exits = exits_of(&stream_check(&work, &hv, &args, &conbench_in, &cat_in));
        let seq_cmd =
            format!("seq 1 100000 | {} -m 2 -p 4 -g {echo} > /dev/null", hv.to_str().unwrap());
        // `seq`'s output, which echo upper-cases to itself.
        let seq_in = work.join("seq.txt");
        let seq_file = std::fs::File::create(&seq_in).unwrap();
        let status = Command::new("seq").args(["1", "100000"]).stdout(seq_file).status().unwrap();
        assert!(status.success(), "seq");
        let seq_bytes = std::fs::metadata(&seq_in).unwrap().len();
        let seq_exits =
            exits_of(&stream_check(&work, &hv, &[&stats[..], &[&echo]].concat(), &seq_in, &seq_in));
        let (mut cat_t, mut out_t, mut seq_t, mut put_t) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            cat_t.push(measure_quiet(
                &work,
                &hv,
                &["-m", "2", "-p", "4", "-g", &cat],
                Some(&cat_in),
            ));
            std::fs::write(&conbench_in, &out_mode).unwrap();
            out_t.push(measure_quiet(
                &work,
                &hv,
                &["-m", "2", "-p", "4", "-g", &conbench],
                Some(&conbench_in),
            ));
            seq_t.push(measure_quiet(&work, Path::new("sh"), &["-c", &seq_cmd], None));
            std::fs::write(&conbench_in, format!("p {seq_bytes}\n")).unwrap();
            put_t.push(measure_quiet(
                &work,
                &hv,
                &["-m", "2", "-p", "4", "-g", &conbench],
                Some(&conbench_in),
            ));
        }
        let (cat_t, out_t, seq_t, put_t) =
            (median(cat_t), median(out_t), median(seq_t), median(put_t));
        t.row(
        "input: `cat` of 64 MiB, stdin to stdout (64-byte lines)",
        rate(mib64 as f64, Duration::from_secs_f64(cat_t)),
        format!("{} out", rate(mib64 as f64, Duration::from_secs_f64(out_t))),
        Some(cat_t / out_t),
        format!(
            "floor: the output path, a guest writing the same 64 MiB in the same 16 KiB writes (`conbench w`); {cat_exits} exits (output alone {out_exits}); medians of 5; ratio: time to the output's"
        ),
    );
        t.row(
        "input: `seq 1 100000 \\| hv-host -m 2 -p 4 -g echo` (byte-wise getchar and putchar)",
        msf(seq_t),
        msf(put_t),
        Some(seq_t / put_t),
        format!(
            "{seq_bytes} bytes in and out; {seq_exits} exits; floor: the output path, a guest writing as many bytes with byte-wise putchar (`conbench p`); medians of 5; ratio: time to the output's"
        ),
    );
        let _ = std::fs::remove_file(&cat_in);
    }

    // 4. Disk: the time per sector is the difference between runs of many and few sectors.
    let diskbench = g("diskbench");
    std::fs::write(work.join("disk.img"), vec![0u8; 64 << 10]).unwrap();
    for (mode, flags) in [("ports", &["-p", "4"][..]), ("MMIO", &["-p", "4", "--mmio"])] {
        for (op, opname) in [("r", "reads"), ("w", "writes")] {
            let go = |count: u32| {
                let mut args = vec!["-m", "2", "--stats", "--disk", "disk.img", "-g", &diskbench];
                args.extend(flags);
                let input = format!("{op} {count}\n");
                let s = run(&args, input.as_bytes());
                (s.wall.as_secs_f64(), exits_of(&s.stderr))
            };
            let (mut times, mut exits) = (Vec::new(), 0);
            for _ in 0..5 {
                let ((big, eb), (small, es)) = (go(2100), go(100));
                times.push((big - small) / 2000.0);
                exits = eb - es;
            }
            let sector = median(times);
            t.row(
                &format!("disk: one sector, {opname}, {mode}"),
                usf(sector),
                usf(exit0),
                Some(sector / exit0),
                format!("{:.2} exits per sector; 2000 sectors, median of 5", exits as f64 / 2000.0),
            );
            let _ = std::fs::remove_file(work.join("disk.img.local0"));
        }
    }

    // 5. Files.
    let filebench = g("filebench");
    for mib in [1u64, 8, 64] {
        let input = format!("{mib}\n");
        let fw = median(
            (0..5)
                .map(|_| secs(run(&["-m", "4", "-p", "4", "-g", &filebench], input.as_bytes())))
                .collect(),
        );
        let s = run(&["-m", "4", "-p", "4", "--stats", "-g", &filebench], input.as_bytes());
        // Calls: open, mib writes, close, open, mib reads (read until full: one each here), close.
        let calls = 2 * mib + 4;
        let file_exits = exits_to(&s.stderr, "file");
        t.row(
            &format!("files: {mib} MiB written then read back in 1 MiB calls"),
            rate((2 * (mib << 20)) as f64, Duration::from_secs_f64(fw)),
            format!("{} per exit", usf(exit0)),
            Some(fw / (2 * mib) as f64 / exit0),
            format!(
                "{file_exits} file exits for {calls} calls; median of 5; ratio: time per MiB in floor exits"
            ),
        );
        let _ = std::fs::remove_file(work.join("bench.dat.local0"));
    }

    // 6. The seeds' raw-port guests (`hv/raw_ports.rs`).
    raw_ports::rows(&mut t, &mut bars, &work, &hv, &floor);

    // 7. Scale: `spin` guests compute for a while, so all of them are alive at the peak. Peak
    // RSS through the probe (see `peak_rss.c`), the floor's the same way: one VM run to `hlt`.
    let floor_rss = {
        let runs = (0..5).map(|_| peak_rss(&probe, &work, &floor, &["hlt"]).max_rss_kib as f64);
        median(runs.collect()) as u64
    };
    let spin = g("spin");
    let mut base_rss = 0;
    for count in [1usize, 8, 64, 256] {
        let mut args = vec!["-m", "8", "-p", "4", "-g"];
        args.extend(std::iter::repeat_n(spin.as_str(), count));
        let s = peak_rss(&probe, &work, &hv, &args);
        assert_eq!(s.stdout.lines().count(), count);
        if count == 1 {
            base_rss = s.max_rss_kib;
        }
        let (per_guest, ratio) = if count > 1 {
            let kib = (s.max_rss_kib.saturating_sub(base_rss)) / (count as u64 - 1);
            (format!("; {kib} KiB per extra guest"), Some(kib as f64 / floor_rss as f64))
        } else {
            (String::new(), Some(s.max_rss_kib as f64 / floor_rss as f64))
        };
        t.row(
            &format!("scale: {count} `spin` guests of -m 8 at once (10^8 iterations each)"),
            format!("{} KiB peak RSS", s.max_rss_kib),
            format!("{floor_rss} KiB"),
            ratio,
            format!(
                "{}{per_guest}; floor: the C floor's peak RSS (one VM, median of 5); peak RSS as the process's own (a probe forks it: see peak_rss.c); ratio: {}",
                ms(s.wall),
                if count > 1 { "RSS per extra guest to it" } else { "RSS to it" }
            ),
        );
    }
    let _ = std::fs::remove_dir_all(&work);

    println!("| measurement | hv | floor | hv ÷ floor | notes |");
    println!("|---|---|---|---|---|");
    for [a, b, c, d, e] in t.0 {
        println!("| {a} | {b} | {c} | {d} | {e} |");
    }
    println!();
    for bar in bars.0 {
        println!("{bar}");
    }
}
