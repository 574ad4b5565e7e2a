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
    for flag in ["-m, --memory", "-p, --page", "-g, --guest", "-f, --file", "--prefix"] {
        assert!(r.stdout.contains(flag), "{flag}: {}", r.stdout);
    }
}
