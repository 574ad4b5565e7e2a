//! Scheduling: all guests on one host thread (`--sched single`) with timer preemption and
//! weights, timeouts in both modes, and every service working the same on one thread.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use hv_tests::{Run, Scratch, assert_refused, guest, kvm_or_skip, run, run_in, s};

/// One `--stats` line: `guest N: cpu X ms (Y %), preemptions Z`.
#[derive(Debug)]
struct Stat {
    id: u32,
    share: f64,
    preemptions: u64,
}

fn stats(r: &Run) -> Vec<Stat> {
    r.stderr
        .lines()
        .filter(|l| l.contains(": cpu "))
        .map(|l| {
            let (id, rest) = l.strip_prefix("guest ").unwrap().split_once(": cpu ").unwrap();
            let (_ms, rest) = rest.split_once(" ms (").unwrap();
            let (share, preemptions) = rest.split_once(" %), preemptions ").unwrap();
            Stat {
                id: id.parse().unwrap(),
                share: share.parse().unwrap(),
                preemptions: preemptions.parse().unwrap(),
            }
        })
        .collect()
}

/// The `progress` guest's lines for guest `id`: (units, LCG state).
fn progress(r: &Run, id: usize) -> Vec<(u64, String)> {
    let prefix = format!("progress: guest {id}: ");
    r.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|l| {
            let (units, x) = l.split_once(" units, x = ").unwrap();
            (units.parse().unwrap(), x.to_string())
        })
        .collect()
}

/// Runs one `progress` guest per entry of `want` on one thread for 2 s with `--stats` (and
/// `--weights` if given). Checks that each timed out, made progress without losing state, and
/// got `want[i]` percent of the guests' CPU time, within 10 points.
fn shares_on_one_thread(weights: Option<&str>, want: &[f64]) {
    let p = guest("progress");
    let mut args = vec!["-m", "2", "-p", "4", "--sched", "single", "--timeout", "2", "--stats"];
    if let Some(w) = weights {
        args.extend(["--weights", w]);
    }
    args.push("-g");
    args.extend(want.iter().map(|_| s(&p)));
    let r = run(&args);
    assert_eq!(r.code, Some(1), "timed-out guests fail the run: {r:?}");
    for id in 0..want.len() {
        let line = format!("guest {id} ({}): timed out after 2.0 s", s(&p));
        assert!(r.stderr.lines().any(|l| l == line), "{line}: {r:?}");
    }
    let stats = stats(&r);
    assert_eq!(stats.len(), want.len(), "{r:?}");
    for (id, (stat, &want)) in stats.iter().zip(want).enumerate() {
        assert_eq!(stat.id as usize, id);
        assert!(
            (stat.share - want).abs() <= 10.0,
            "guest {id} got {} %, wanted {want} %: {r:?}",
            stat.share
        );
        // Turns that last a whole quantum end in a preemption: dozens of them in 2 s.
        assert!(stat.preemptions >= 10, "{stat:?}: {r:?}");
    }
    // Each guest went on where it was preempted: its unit counts run 16, 32, ... with no gap
    // or reset, and it has the same LCG state at the same count as every other guest.
    let lines: Vec<Vec<(u64, String)>> = (0..want.len()).map(|id| progress(&r, id)).collect();
    let longest = lines.iter().max_by_key(|l| l.len()).unwrap();
    for (id, lines) in lines.iter().enumerate() {
        assert!(!lines.is_empty(), "guest {id} made progress: {r:?}");
        for (i, (units, x)) in lines.iter().enumerate() {
            assert_eq!(*units, 16 * (i as u64 + 1), "guest {id}: {r:?}");
            assert_eq!(x, &longest[i].1, "guest {id} at {units} units: {r:?}");
        }
    }
}

#[test]
fn two_spinning_guests_share_one_thread_equally() {
    if !kvm_or_skip("two_spinning_guests_share_one_thread_equally") {
        return;
    }
    shares_on_one_thread(None, &[50.0, 50.0]);
}

#[test]
fn weights_70_30_give_70_30() {
    if !kvm_or_skip("weights_70_30_give_70_30") {
        return;
    }
    shares_on_one_thread(Some("70,30"), &[70.0, 30.0]);
}

#[test]
fn four_guests_share_by_weight() {
    if !kvm_or_skip("four_guests_share_by_weight") {
        return;
    }
    shares_on_one_thread(Some("4,3,2,1"), &[40.0, 30.0, 20.0, 10.0]);
}

#[test]
fn a_runaway_guest_is_stopped_in_both_modes() {
    if !kvm_or_skip("a_runaway_guest_is_stopped_in_both_modes") {
        return;
    }
    let dir = Scratch::new("runaway");
    // jmp $: spins in ring 3 without a single exit.
    let runaway = dir.write("runaway.img", &[0xEB, 0xFE]);
    let hello = guest("hello");
    for mode in ["threads", "single"] {
        let start = Instant::now();
        let r = run_in(
            dir.path(),
            &[
                "-m",
                "2",
                "-p",
                "4",
                "--sched",
                mode,
                "--timeout",
                "1",
                "-g",
                s(&runaway),
                s(&hello),
            ],
            b"",
        );
        let took = start.elapsed();
        assert_eq!(r.code, Some(1), "{mode}: {r:?}");
        assert_eq!(
            r.stderr,
            format!("guest 0 ({}): timed out after 1.0 s\n", s(&runaway)),
            "{mode}"
        );
        assert_eq!(
            r.stdout, "Hello from guest 1! 2 MiB of RAM, 4 KiB pages.\n",
            "{mode}: the other guest finished"
        );
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(10),
            "{mode}: took {took:?}"
        );
    }
}

#[test]
fn hello_guests_run_on_one_thread() {
    if !kvm_or_skip("hello_guests_run_on_one_thread") {
        return;
    }
    let hello = guest("hello");
    let r = run(&[
        "-m",
        "4",
        "-p",
        "2",
        "--sched",
        "single",
        "--prefix",
        "-g",
        s(&hello),
        s(&hello),
        s(&hello),
    ]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        (0..3)
            .map(|id| format!("[{id}] Hello from guest {id}! 4 MiB of RAM, 2048 KiB pages."))
            .collect::<Vec<_>>()
    );
    assert_eq!(r.stderr, "");
}

#[test]
fn files_work_the_same_on_one_thread() {
    if !kvm_or_skip("files_work_the_same_on_one_thread") {
        return;
    }
    let dir = Scratch::new("sched-files");
    let text: Vec<u8> =
        (0..200_000u32).map(|i| b"abcdefghij klmnop\n"[(i % 18) as usize]).collect();
    dir.write("input.txt", &text);
    let files = guest("files");
    let mut args = vec!["-m", "2", "-p", "2", "--sched", "single", "-f", "input.txt"];
    args.push("-g");
    args.extend(std::iter::repeat_n(s(&files), 4));
    let r = run_in(dir.path(), &args, b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let upper = text.to_ascii_uppercase();
    for id in 0..4 {
        assert!(r.stdout.contains(&format!("guest {id}: copied 200000 bytes\n")), "{r:?}");
        assert_eq!(dir.read(&format!("output.txt.local{id}")), upper);
    }
    assert_eq!(dir.read("input.txt"), text, "the shared original is unchanged");
}

#[test]
fn console_input_works_on_one_thread() {
    if !kvm_or_skip("console_input_works_on_one_thread") {
        return;
    }
    let dir = Scratch::new("sched-echo");
    let r = run_in(
        dir.path(),
        &["-m", "2", "-p", "4", "--sched", "single", "-g", s(&guest("echo"))],
        b"hello, world\nno newline",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "HELLO, WORLD\nNO NEWLINE");
}

#[test]
fn weights_are_checked_in_both_modes_and_used_in_one() {
    if !kvm_or_skip("weights_are_checked_in_both_modes_and_used_in_one") {
        return;
    }
    let hello = guest("hello");
    let h = s(&hello);
    let r = run(&["-m", "2", "-p", "4", "--weights", "70,30", "-g", h, h]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stderr.contains("ignored") && r.stderr.lines().count() == 1,
        "threads mode warns that weights do not apply: {r:?}"
    );
}

#[test]
fn bad_scheduling_options_are_refused() {
    let hello = guest("hello");
    let h = s(&hello);
    // `-m 2 -p 4`, then `options`, then `-g` with `guests` hellos.
    let refused_with = |options: &[&str], guests: usize, what: &str| {
        let mut args = vec!["-m", "2", "-p", "4"];
        args.extend_from_slice(options);
        args.push("-g");
        args.extend(std::iter::repeat_n(h, guests));
        assert_refused(&std::env::current_dir().unwrap(), &args, what);
    };
    for sched in ["single", "threads"] {
        let options = ["--sched", sched, "--weights", "70"];
        refused_with(&options, 2, "1 weight(s) for 2 guest(s)");
    }
    let options = ["--sched", "single", "--weights", "70,30,10"];
    refused_with(&options, 2, "3 weight(s) for 2 guest(s)");
    for bad in ["70,0", "a,b", "70,", "1.5,1"] {
        let options = ["--sched", "single", "--weights", bad];
        refused_with(&options, 2, "invalid weights");
    }
    refused_with(&["--sched", "fast"], 1, "invalid scheduling 'fast'");
    for bad in ["0", "x"] {
        let options = ["--sched", "single", "--quantum-ms", bad];
        refused_with(&options, 1, "invalid quantum");
        refused_with(&["--timeout", bad], 1, "invalid timeout");
    }
}

#[test]
fn help_explains_the_scheduling_flags() {
    let r = run(&["--help"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    for flag in ["--sched", "--quantum-ms", "--weights", "--timeout", "--stats"] {
        assert!(r.stdout.contains(flag), "{flag}: {}", r.stdout);
    }
}
