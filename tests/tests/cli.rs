//! The command line: what is refused before any guest starts, and how.
#![allow(clippy::unwrap_used)]

use hv_tests::{Scratch, assert_refused, guest, run, run_in, s};

/// A refusal of `args` in the current directory (see [`assert_refused`]).
fn refused(args: &[&str], what: &str) {
    assert_refused(&std::env::current_dir().unwrap(), args, what);
}

#[test]
fn bad_command_lines_are_refused() {
    let hello = guest("hello");
    let h = s(&hello);
    refused(&["-p", "4", "-g", h], "memory");
    refused(&["-m", "4", "-g", h], "page");
    refused(&["-m", "4", "-p", "4"], "no guest image");
    refused(&["-m", "3", "-p", "4", "-g", h], "invalid memory size '3'");
    refused(&["-m", "four", "-p", "4", "-g", h], "invalid memory size 'four'");
    refused(&["-m", "4", "-p", "8", "-g", h], "invalid page size '8'");
    refused(&["-m", "4", "-p", "4", "-g", h, "--bogus"], "--bogus");
    refused(&["-m", "4", "-p", "4", "-g"], "-g");
    refused(&["-m", "4", "4", "-p", "4", "-g", h], "4");
    refused(
        &["-m", "4", "-p", "4", "-g", "/nonexistent/guest.img"],
        "cannot read guest image /nonexistent/guest.img",
    );
}

#[test]
fn every_refusal_and_warning_is_one_hv_host_line() {
    let hello = guest("hello");
    let h = s(&hello);
    // argh's own errors, reworded: one style, starting `hv-host: ` (assert_refused checks it).
    for (args, what) in [
        (&["-m", "3", "-p", "4", "-g", h][..], "hv-host: invalid memory size '3': use 2, 4 or 8"),
        (&["-m", "2", "-p", "4", "-g", h, "--bogus"], "hv-host: unknown option '--bogus'"),
        (&["-m", "2", "-m", "4", "-p", "4", "-g", h], "hv-host: -m is given more than once"),
        (&["-p", "4", "-g", h], "hv-host: missing option(s): --memory"),
        (&["-m", "2", "-p", "4", "-g", h, "--stdin", "x"], "hv-host: invalid guest ID 'x'"),
        (&["-m", "2", "-p", "4", "-g", h, "--disk-cow"], "hv-host: --disk-cow needs a disk"),
    ] {
        refused(args, what);
        let r = run(args);
        assert!(!r.stderr.contains("Error parsing") && !r.stderr.contains("Unrecognized"), "{r:?}");
    }
    // An option that will be ignored: one plain line, no log timestamp, and the run goes on.
    let r = run(&["-m", "2", "-p", "4", "--weights", "1", "-g", h]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stderr,
        "hv-host: warning: the quantum and weights only apply to single-thread scheduling \
         (--sched single); with a thread per guest the host kernel shares the CPU, so they are \
         ignored\n"
    );
}

#[test]
fn empty_and_oversized_images_are_refused() {
    let dir = Scratch::new("cli-images");
    let empty = dir.write("empty.img", b"");
    refused(&["-m", "2", "-p", "4", "-g", s(&empty)], "is empty");
    let big = dir.write("big.img", &vec![0x90; 2 << 20]);
    refused(&["-m", "2", "-p", "4", "-g", s(&big)], "at most 1933312 fit in 2 MiB");
    // One bad image refuses the whole run, before any guest starts.
    let hello = guest("hello");
    refused(&["-m", "2", "-p", "4", "-g", s(&hello), s(&big)], "big.img is 2097152 bytes");
}

#[test]
fn shared_files_are_checked_before_start() {
    let dir = Scratch::new("cli-files");
    dir.write("ok.txt", b"x");
    let hello = guest("hello");
    let run_here = |args: &[&str]| run_in(dir.path(), args, b"");
    let r = run_here(&["-m", "2", "-p", "4", "-g", s(&hello), "-f", "missing.txt"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("cannot read shared file missing.txt"), "{r:?}");
    let r = run_here(&["-m", "2", "-p", "4", "-g", s(&hello), "-f", "../ok.txt"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("shared file \"../ok.txt\""), "{r:?}");
    let r = run_here(&["-f", "./ok.txt", "-g", s(&hello), "-p", "4", "-m", "2"]);
    assert_eq!(r.code, Some(0), "options in any order: {r:?}");
}

#[test]
fn help_explains_every_flag() {
    let r = run(&["--help"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    for flag in ["-m, --memory", "-p, --page", "-g, --guest", "-f, --file", "--prefix", "--stdin"] {
        assert!(r.stdout.contains(flag), "{flag}: {}", r.stdout);
    }
    // The usage line shows -g as required, and the help names --version and RUST_LOG.
    assert!(
        r.stdout.starts_with("Usage: hv-host -m|--memory 2|4|8 -p|--page 2|4 -g|--guest IMAGE...")
    );
    assert!(r.stdout.contains("  --version ") && r.stdout.contains("RUST_LOG="), "{}", r.stdout);
    assert!(r.stdout.ends_with('\n'));
    let v = run(&["--version"]);
    let want = format!("hv-host {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!((v.code, v.stdout.as_str()), (Some(0), want.as_str()));
}
