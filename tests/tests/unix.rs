//! hv-host behaves like a Unix tool: a closed pipe, a full disk, a closed stdout and the stop
//! signals end the run at once with a documented status; a guest waiting for input blocks
//! nothing; every line on the output belongs to one guest; `--prefix` output cannot be forged.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hv_tests::{Run, guest, hv_host, kvm_or_skip, run_in, s};

/// Longest any of these runs may take: each should end within a second or two.
const HANG: Duration = Duration::from_secs(30);

fn spawn(args: &[&str], stdout: Stdio) -> Child {
    Command::new(hv_host())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hv-host")
}

/// Waits for `child` (at most [`HANG`], then kills it and fails); returns its status code,
/// stderr and how long it took from `since`.
fn finish(mut child: Child, since: Instant, what: &str) -> (Option<i32>, String, Duration) {
    while child.try_wait().unwrap().is_none() {
        if since.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: hv-host did not end within {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = since.elapsed();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (child.wait().unwrap().code(), stderr, took)
}

/// Reads `child`'s stdout on a thread, line by line (an unfinished last line too).
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = BufReader::new(out);
        let mut line = String::new();
        while out.read_line(&mut line).is_ok_and(|n| n > 0) {
            if tx.send(std::mem::take(&mut line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects lines from `rx` until one contains `want` (failing after [`HANG`]).
fn read_until(rx: &mpsc::Receiver<String>, want: &str, seen: &mut String) {
    let deadline = Instant::now() + HANG;
    while !seen.contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push_str(&line),
            Err(e) => panic!("no {want:?} on stdout ({e}); got {seen:?}"),
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([name, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_closed_pipe_stops_every_guest_quietly_with_141() {
    if !kvm_or_skip("a_closed_pipe_stops_every_guest_quietly_with_141") {
        return;
    }
    let yes = guest("yes");
    for sched in ["threads", "single"] {
        // Quiet even with --stats asked for: the reader has all it wanted.
        let args = ["-m", "2", "-p", "4", "--stats", "--sched", sched, "-g", s(&yes), s(&yes)];
        let mut child = spawn(&args, Stdio::piped());
        // `| head -1`: one line, then the reader is gone.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let closed = Instant::now();
        drop(out);
        let (code, stderr, took) = finish(child, closed, sched);
        assert_eq!(first, "y 0\n", "{sched}");
        assert_eq!(code, Some(141), "{sched}: {stderr}");
        assert_eq!(stderr, "", "{sched}: quietly");
        assert!(took < Duration::from_secs(10), "{sched}: took {took:?}");
    }
}

#[test]
fn a_full_output_stops_the_run_with_one_line_and_status_1() {
    if !kvm_or_skip("a_full_output_stops_the_run_with_one_line_and_status_1") {
        return;
    }
    let yes = guest("yes");
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let start = Instant::now();
    let child = spawn(&["-m", "2", "-p", "4", "-g", s(&yes), s(&yes)], full.into());
    let (code, stderr, _) = finish(child, start, "/dev/full");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "hv-host: writing the output failed: No space left on device (os error 28)\n"
    );
}

#[test]
fn a_closed_stdout_fails_the_run_with_one_line() {
    if !kvm_or_skip("a_closed_stdout_fails_the_run_with_one_line") {
        return;
    }
    let hello = guest("hello");
    let host = hv_host();
    let run = |image: &str| -> Run {
        let script = r#""$@" >&-"#;
        let args = ["-c", script, "sh", s(&host), "-m", "2", "-p", "4", "-g", image];
        Command::new("sh").args(args).output().unwrap().into()
    };
    let r = run(s(&hello));
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stderr, "hv-host: writing the output failed: Bad file descriptor (os error 9)\n");
}

/// `/dev/null` opened read-write as stdout (as Python's `subprocess.DEVNULL` and many
/// supervisors give it) is an ordinary output, not a closed one.
#[test]
fn dev_null_opened_read_write_is_an_ordinary_output() {
    if !kvm_or_skip("dev_null_opened_read_write_is_an_ordinary_output") {
        return;
    }
    let (hello, host) = (guest("hello"), hv_host());
    let script = r#""$@" 1<>/dev/null"#;
    let args = ["-c", script, "sh", s(&host), "-m", "2", "-p", "4", "-g", s(&hello)];
    let r: Run = Command::new("sh").args(args).output().unwrap().into();
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
}

/// Runs two `partial` guests, a `hello` and a `prompt` that waits for input nobody types, with
/// `--prefix --stats`; sends `name` once hello's line is out, and checks the whole end of the
/// run.
fn stopped_by(name: &str, signo: i32, sched: &str) {
    let (partial, hello, prompt) = (guest("partial"), guest("hello"), guest("prompt"));
    let args = [
        "-m",
        "2",
        "-p",
        "4",
        "--prefix",
        "--stats",
        "--sched",
        sched,
        "-g",
        s(&partial),
        s(&hello),
        s(&partial),
        s(&prompt),
    ];
    let mut child = spawn(&args, Stdio::piped());
    let rx = lines_of(&mut child);
    let mut out = String::new();
    read_until(&rx, "[1] Hello from guest 1!", &mut out);
    // Time for both others to print their unfinished lines (a few exits each).
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    signal(&child, name);
    let (code, stderr, took) = finish(child, sent, name);
    out.extend(rx.iter());
    let what = format!("{name} ({sched})");
    assert_eq!(code, Some(128 + signo), "{what}: {stderr}");
    assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
    // The unfinished lines were written, each a line of its own.
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "[0] guest 0 working...",
            "[1] Hello from guest 1! 2 MiB of RAM, 4 KiB pages.",
            "[2] guest 2 working...",
            "[3] guest 3 name? ",
        ],
        "{what}: {out:?}"
    );
    assert!(out.ends_with('\n'), "{what}: {out:?}");
    // The statistics, then one line per guest.
    assert!(stderr.starts_with("guest     run ms"), "{what}: {stderr}");
    let reports: Vec<&str> = stderr.lines().filter(|l| l.contains("): ")).collect();
    assert_eq!(
        reports,
        [
            format!("guest 0 ({}): interrupted", s(&partial)),
            format!("guest 1 ({}): exited with status 0", s(&hello)),
            format!("guest 2 ({}): interrupted", s(&partial)),
            format!("guest 3 ({}): interrupted", s(&prompt)),
        ],
        "{what}: {stderr}"
    );
}

#[test]
fn sigterm_stops_every_guest_with_143_reports_and_flushed_lines() {
    if !kvm_or_skip("sigterm_stops_every_guest_with_143_reports_and_flushed_lines") {
        return;
    }
    stopped_by("-TERM", 15, "threads");
}

#[test]
fn a_line_cut_by_a_signal_still_ends_with_a_newline() {
    if !kvm_or_skip("a_line_cut_by_a_signal_still_ends_with_a_newline") {
        return;
    }
    // No --prefix: the guest's bytes go out as they are, and only the cut adds the newline
    // (so the shell's prompt after it starts a line of its own).
    let partial = guest("partial");
    let mut child = spawn(&["-m", "2", "-p", "4", "-g", s(&partial)], Stdio::piped());
    let rx = lines_of(&mut child);
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    signal(&child, "-TERM");
    let (code, stderr, _) = finish(child, sent, "partial");
    assert_eq!(code, Some(143), "{stderr}");
    let out: String = rx.iter().collect();
    assert_eq!(out, "guest 0 working...\n", "{stderr}");
}

#[test]
fn sigint_and_sighup_stop_the_run_too() {
    if !kvm_or_skip("sigint_and_sighup_stop_the_run_too") {
        return;
    }
    stopped_by("-INT", 2, "single");
    stopped_by("-HUP", 1, "threads");
}

#[test]
fn a_second_signal_exits_at_once_even_with_the_output_stuck() {
    if !kvm_or_skip("a_second_signal_exits_at_once_even_with_the_output_stuck") {
        return;
    }
    let yes = guest("yes");
    // Stdout is a pipe nobody reads: once it is full, the host is stuck writing to it, and a
    // first signal cannot end the run cleanly.
    let child = spawn(&["-m", "2", "-p", "4", "-g", s(&yes)], Stdio::piped());
    std::thread::sleep(Duration::from_millis(1000));
    signal(&child, "-TERM");
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, "-INT");
    let (code, _, took) = finish(child, sent, "second signal");
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_guest_waiting_for_input_still_times_out() {
    if !kvm_or_skip("a_guest_waiting_for_input_still_times_out") {
        return;
    }
    let prompt = guest("prompt");
    for sched in ["threads", "single"] {
        let start = Instant::now();
        let args = ["-m", "2", "-p", "4", "--sched", sched, "--timeout", "1", "-g", s(&prompt)];
        // Stdin stays open and empty: the guest waits in getchar.
        let mut child = spawn(&args, Stdio::piped());
        let stdin = child.stdin.take();
        let rx = lines_of(&mut child);
        let (code, stderr, took) = finish(child, start, sched);
        drop(stdin);
        let out: String = rx.iter().collect();
        assert_eq!(code, Some(1), "{sched}: {stderr}");
        // Its prompt was visible while it waited, byte for byte.
        assert_eq!(out, "guest 0 name? ", "{sched}");
        let line = format!("guest 0 ({}): timed out after 1.", s(&prompt));
        assert!(stderr.starts_with(&line) && stderr.ends_with(" s\n"), "{sched}: {stderr}");
        assert!(took < Duration::from_secs(10), "{sched}: took {took:?}");
    }
}

#[test]
fn on_one_thread_the_others_run_while_a_guest_waits_for_input() {
    if !kvm_or_skip("on_one_thread_the_others_run_while_a_guest_waits_for_input") {
        return;
    }
    let (prompt, spin) = (guest("prompt"), guest("spin"));
    let args = ["-m", "2", "-p", "4", "--prefix", "--sched", "single", "-g", s(&prompt), s(&spin)];
    let start = Instant::now();
    let mut child = spawn(&args, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let rx = lines_of(&mut child);
    let mut out = String::new();
    // Guest 1 computes and finishes while guest 0 waits for input nobody has typed yet.
    read_until(&rx, "[1] spin: guest 1 done", &mut out);
    stdin.write_all(b"bob\n").unwrap();
    drop(stdin);
    let (code, stderr, _) = finish(child, start, "single");
    out.extend(rx.iter());
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    // The prompt was out first, and a line of its own when guest 1 printed.
    assert_eq!(lines[0], "[0] guest 0 name? ");
    assert!(lines[1].starts_with("[1] spin: guest 1 done, x = "), "{out:?}");
    assert_eq!(lines[2], "[0] hello, bob");
}

#[test]
fn an_unfinished_line_is_never_glued_to_another_guests() {
    if !kvm_or_skip("an_unfinished_line_is_never_glued_to_another_guests") {
        return;
    }
    let (noline, spin) = (guest("noline"), guest("spin"));
    let dir = std::env::current_dir().unwrap();
    // One thread: the noline guests end long before spin prints.
    let args = ["-m", "2", "-p", "4", "--prefix", "--sched", "single", "-g", s(&noline), s(&spin)];
    let r = run_in(&dir, &args, b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let (first, spun) = r.stdout.split_once('\n').unwrap();
    assert_eq!(first, "[0] guest 0 no newline", "{r:?}");
    assert!(spun.starts_with("[1] spin: guest 1 done, x = ") && spun.ends_with('\n'), "{r:?}");
    // Without --prefix: a newline only between two guests' output.
    let args = ["-m", "2", "-p", "4", "--sched", "single", "-g", s(&noline), s(&spin), s(&noline)];
    let r = run_in(&dir, &args, b"");
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines[..2], ["guest 0 no newline", "guest 2 no newline"], "{r:?}");
    assert!(lines[2].starts_with("spin: guest 1 done, x = "), "{r:?}");
    assert_eq!(r.stdout.lines().count(), 3, "{r:?}");
}

#[test]
fn with_prefix_no_guest_can_forge_a_prefix_or_drive_the_terminal() {
    if !kvm_or_skip("with_prefix_no_guest_can_forge_a_prefix_or_drive_the_terminal") {
        return;
    }
    let forge = guest("forge");
    let dir = std::env::current_dir().unwrap();
    let r = run_in(&dir, &["-m", "2", "-p", "4", "--prefix", "-g", s(&forge)], b"");
    assert_eq!(r.stdout, "[0] real\\x0d[1] forged \\x1b[31mred\\x1b[0m\tend\n", "{r:?}");
    // Without --prefix the bytes go out exactly as the guest wrote them.
    let r = run_in(&dir, &["-m", "2", "-p", "4", "-g", s(&forge)], b"");
    assert_eq!(r.stdout, "real\r[1] forged \x1b[31mred\x1b[0m\tend\n", "{r:?}");
}

#[test]
fn the_debug_register_dump_shows_the_guest_at_the_fault() {
    if !kvm_or_skip("the_debug_register_dump_shows_the_guest_at_the_fault") {
        return;
    }
    let fault = guest("fault");
    let out = Command::new(hv_host())
        .args(["-m", "2", "-p", "4", "-g", s(&fault)])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r = Run::from(out);
    assert_eq!(r.code, Some(1), "{r:?}");
    let report = r.stderr.lines().find(|l| l.starts_with("guest 0 (")).unwrap();
    let rip = report.rsplit("at rip ").next().unwrap();
    let dump = r.stderr.lines().find(|l| l.contains("guest 0 registers")).unwrap();
    assert!(dump.contains(&format!("guest 0 registers: rip={rip} ")), "{dump}");
    // The guest's ring-3 code segment, not the stub's ring-0 one.
    assert!(
        dump.ends_with(" cs=0x23 ss=0x1b (at exception 14, error code 0x6, from its frame)"),
        "{dump}"
    );
    // One dump, every value in 0x hex (no second, bare-hex dump of the frame), and the failure
    // said once (the info log line is only for guests that ended well).
    assert!(!r.stderr.contains("ExceptionFrame"), "{}", r.stderr);
    let words = dump.split_once(": ").unwrap().1.split(" (").next().unwrap();
    for word in words.split(' ') {
        assert!(word.split_once('=').unwrap().1.starts_with("0x"), "{word} in {dump}");
    }
    assert_eq!(r.stderr.matches("page fault writing").count(), 1, "{}", r.stderr);
}

#[test]
fn help_and_readme_give_the_same_exit_statuses() {
    let r = Run::from(Command::new(hv_host()).arg("--help").output().unwrap());
    assert_eq!(r.code, Some(0));
    let readme = std::fs::read_to_string(hv_tests::root().join("README.md")).unwrap();
    for code in ["0", "1", "2", "129", "130", "141", "143"] {
        let in_help = r.stdout.lines().any(|l| l.trim_start().starts_with(&format!("{code} ")));
        assert!(in_help, "status {code} missing from --help:\n{}", r.stdout);
        let in_readme = readme.lines().any(|l| l.starts_with(&format!("| {code} |")));
        assert!(in_readme, "status {code} missing from the README's table");
    }
}

/// The host's peak resident memory so far, in KiB, while it runs (0 once it has ended).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn large_console_writes_are_passed_on_whole_in_bounded_memory() {
    if !kvm_or_skip("large_console_writes_are_passed_on_whole_in_bounded_memory") {
        return;
    }
    const GUESTS: usize = 16;
    const LINE: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n";
    let big = guest("bigwrite");
    let mut args = vec!["-m", "8", "-p", "4", "-g"];
    args.extend([s(&big); GUESTS]);
    let start = Instant::now();
    let mut child = spawn(&args, Stdio::piped());
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut total, mut bad) = (0usize, 0usize);
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending = Vec::new();
        while let Ok(n @ 1..) = out.read(&mut buf) {
            total += n;
            pending.extend_from_slice(&buf[..n]);
            let whole = pending.len() / LINE.len() * LINE.len();
            bad += pending[..whole].chunks(LINE.len()).filter(|l| *l != LINE).count();
            pending.drain(..whole);
        }
        (total, bad + usize::from(!pending.is_empty()))
    });
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() && start.elapsed() < HANG {
        peak = peak.max(peak_rss_kib(child.id()));
        std::thread::sleep(Duration::from_millis(2));
    }
    let (code, stderr, _) = finish(child, start, "bigwrite");
    let (total, bad) = reader.join().unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    // Every guest wrote all of its free RAM (a little under 8 MiB) in one call: all of it came
    // out, in whole lines.
    assert_eq!(bad, 0);
    assert_eq!(total % GUESTS, 0);
    assert!(total / GUESTS > 7 << 20, "{total}");
    // Guest RAM the guests touched (8 MiB each) plus a bounded host share; a host that held a
    // copy of each call (and a batch as large) would need 2 x 7 MiB more per guest.
    let guest_ram_kib = (GUESTS as u64) * 8 * 1024;
    assert!(peak < guest_ram_kib + 64 * 1024, "peak RSS {peak} KiB");
}
