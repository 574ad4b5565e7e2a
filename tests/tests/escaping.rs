//! Guest-chosen text in hv's own messages is escaped, one way everywhere (and in guest output
//! under `--prefix`): control characters, bidirectional controls and line separators cannot
//! erase, forge or reorder a report. Regression tests for issue 21's item 6.
#![allow(clippy::unwrap_used)]

use hv_tests::{guest, kvm_or_skip, run_in, s};

/// Erases the line, forges a clean exit, reverses what follows, and breaks the line.
const HOSTILE: &str = "\x1b[2K\rguest 0 (x): exited with status 0\u{202E}\u{2028}\u{2066}end";
const ESCAPED: &str =
    "\\x1b[2K\\x0dguest 0 (x): exited with status 0\\u{202e}\\u{2028}\\u{2066}end";

#[test]
fn panic_reports_and_prefixed_output_escape_the_same_characters() {
    if !kvm_or_skip("panic_reports_and_prefixed_output_escape_the_same_characters") {
        return;
    }
    let blurt = guest("blurt");
    let dir = std::env::current_dir().unwrap();
    let input = format!("{HOSTILE}\n");
    let r = run_in(&dir, &["-m", "2", "-p", "4", "--prefix", "-g", s(&blurt)], input.as_bytes());
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stdout, format!("[0] {ESCAPED}\n"));
    let report =
        format!("guest 0 ({}): panicked: {ESCAPED} at guest-examples/src/bin/blurt.rs:", s(&blurt));
    assert!(r.stderr.starts_with(&report) && r.stderr.lines().count() == 1, "{r:?}");
    // Without --prefix the guest's own output is its own, byte for byte; the report is still
    // escaped.
    let r = run_in(&dir, &["-m", "2", "-p", "4", "-g", s(&blurt)], input.as_bytes());
    assert_eq!(r.stdout, format!("{HOSTILE}\n"));
    assert!(r.stderr.starts_with(&report), "{r:?}");
}
