//! Stop signals and `--timeout` while something is stuck: an output nobody reads, a full
//! stderr, a disk copy being completed. A first signal stops everything at the next safe
//! point; a second exits at once with its own status, whatever is stuck; a timeout fires even
//! while the output is blocked. Regression tests for issue 21's item 4.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use hv_tests::{Scratch, guest, kvm_or_skip, s, spawn_piped};

/// Longest any of these runs may take: each should end within a few seconds.
const HANG: Duration = Duration::from_secs(30);

/// Waits for `child` (at most [`HANG`], then kills it and fails); returns its status code and
/// how long it took from `since`.
fn wait(child: &mut Child, since: Instant, what: &str) -> (Option<i32>, Duration) {
    while child.try_wait().unwrap().is_none() {
        if since.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: hv-host did not end within {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait().unwrap().code(), since.elapsed())
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([name, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Two signals, some time apart, once the run is stuck; the run must end with the second's
/// status at once.
fn two_signals(mut child: Child, what: &str) {
    // Time for the guests to end and for the host to get stuck writing.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-TERM");
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, "-INT");
    let (code, took) = wait(&mut child, sent, what);
    assert_eq!(code, Some(130), "{what}");
    assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
}

#[test]
fn a_second_signal_ends_the_run_while_ended_guests_cannot_write_their_lines() {
    if !kvm_or_skip("a_second_signal_ends_the_run_while_ended_guests_cannot_write_their_lines") {
        return;
    }
    // 64 guests print 3000 bytes each without a newline and end: their lines go out as they
    // end, into a pipe nobody reads.
    let blob = guest("blob");
    let dir = std::env::current_dir().unwrap();
    for sched in ["threads", "single"] {
        let mut args = vec!["-m", "2", "-p", "4", "--sched", sched, "-g"];
        args.extend([s(&blob); 64]);
        two_signals(spawn_piped(&dir, &args), sched);
    }
}

#[test]
fn a_second_signal_ends_the_run_while_the_reports_are_stuck() {
    if !kvm_or_skip("a_second_signal_ends_the_run_while_the_reports_are_stuck") {
        return;
    }
    // 20 guests panic with 4 KiB messages: their reports fill a stderr nobody reads.
    let panic = guest("bigpanic");
    let mut args = vec!["-m", "2", "-p", "4", "-g"];
    args.extend([s(&panic); 20]);
    two_signals(spawn_piped(&std::env::current_dir().unwrap(), &args), "stuck stderr");
}

#[test]
fn a_timeout_fires_while_the_output_is_stuck() {
    if !kvm_or_skip("a_timeout_fires_while_the_output_is_stuck") {
        return;
    }
    let yes = guest("yes");
    let dir = std::env::current_dir().unwrap();
    for sched in ["threads", "single"] {
        // Four guests print lines forever into a pipe nobody reads.
        let args = ["-m", "2", "-p", "4", "--sched", sched, "--timeout", "1", "-g"];
        let mut args = args.to_vec();
        args.extend([s(&yes); 4]);
        let start = Instant::now();
        let mut child = spawn_piped(&dir, &args);
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (code, took) = wait(&mut child, start, sched);
        let stderr = errors.join().unwrap();
        assert_eq!(code, Some(1), "{sched}: {stderr}");
        assert!(took < Duration::from_secs(8), "{sched}: took {took:?}");
        for id in 0..4 {
            let line = format!("guest {id} ({}): timed out after 1.", s(&yes));
            assert!(stderr.lines().any(|l| l.starts_with(&line)), "{sched}: {stderr}");
        }
        assert!(
            stderr.lines().any(|l| l.starts_with("hv-host: ")
                && l.ends_with(" bytes of guest output not written: the output was stuck when the guests' time ran out")),
            "{sched}: {stderr}"
        );
    }
}

#[test]
fn a_signal_ends_the_completion_of_a_disk_copy() {
    if !kvm_or_skip("a_signal_ends_the_completion_of_a_disk_copy") {
        return;
    }
    let dir = Scratch::new("stuck-cow");
    // 256 MiB of data: completing a copy of it takes a while.
    let image = std::fs::File::create(dir.path().join("big.img")).unwrap();
    let chunk = vec![0x5A; 1 << 20];
    for i in 0..256u64 {
        std::os::unix::fs::FileExt::write_all_at(&image, &chunk, i << 20).unwrap();
    }
    drop(image);
    let g = guest("fscript");
    let args = ["-m", "2", "-p", "4", "--disk", "big.img", "--disk-cow", "-g", s(&g)];
    let mut child = spawn_piped(dir.path(), &args);
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"s\nW 0 7\n").unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("W: ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "hv-host ended early");
    }
    assert_eq!(line, "W: ok\n");
    // The guest now waits for its next line; the signal stops it, and its copy is not
    // completed.
    let sent = Instant::now();
    signal(&child, "-TERM");
    let (code, took) = wait(&mut child, sent, "disk copy");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    drop(stdin);
    assert_eq!(code, Some(143), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let note = format!(
        "guest 0 ({}): disk copy left incomplete: big.img.cow0: the run was stopped by a signal before it was completed",
        s(&g)
    );
    assert!(stderr.lines().any(|l| l == note), "{stderr}");
    let copy = std::fs::metadata(dir.path().join("big.img.cow0")).unwrap();
    assert!(copy.blocks() * 512 <= 1 << 20, "{} bytes copied", copy.blocks() * 512);
}
