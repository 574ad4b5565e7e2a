//! Hypercalls (seed 002) from Rust and C guests, and the exit statistics behind them.
#![allow(clippy::unwrap_used)]

use hv_tests::{Scratch, build_c, guest, kvm_or_skip, run_in, s};

/// Checks the demo's output, the same for the Rust and the C guest.
fn check_demo(stdout: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        &lines[..3],
        ["42", "4294967295", "a string printed by the host with one exit"],
        "{stdout}"
    );
    // putchar goes into the console ring and numExits is read from the hv page: no exit.
    assert!(lines.contains(&"numExits grew by 0 over 3 putchar and 1 numExits"), "{stdout}");
    assert!(stdout.contains("IO in: 0\nIO out: "), "{stdout}");
    assert!(stdout.contains("\nHLT: 0\nMMIO: 0\nexceptions: 0\n"), "{stdout}");
    // Translations: code, data and stack are identity-mapped to one host mapping; the
    // unmapped address is unmapped.
    let mut offsets = Vec::new();
    for what in ["code", "data", "stack"] {
        let prefix = format!("gvaToHva {what}: gva ");
        let line = lines
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{what}: {stdout}"));
        let nums: Vec<u64> = line
            .split([' ', ','])
            .filter_map(|w| w.strip_prefix("0x"))
            .map(|h| u64::from_str_radix(h, 16).unwrap())
            .collect();
        let [gva, gpa, hva] = nums[..] else { panic!("{line}") };
        assert_eq!(gva, gpa, "identity map: {line}");
        assert!(hva > gpa, "{line}");
        offsets.push(hva - gpa);
    }
    assert!(offsets.windows(2).all(|w| w[0] == w[1]), "one host mapping: {offsets:x?}");
    assert!(lines.contains(&"gvaToHva unmapped: gva 0x40000000 -> unmapped"), "{stdout}");
}

#[test]
fn rust_hypercall_demo() {
    if !kvm_or_skip("rust_hypercall_demo") {
        return;
    }
    let dir = Scratch::new("hc-rust");
    for page in ["2", "4"] {
        let r = run_in(dir.path(), &["-m", "2", "-p", page, "-g", s(&guest("hypercalls"))], b"");
        assert_eq!(r.code, Some(0), "{r:?}");
        check_demo(&r.stdout);
        assert!(
            r.stdout.contains("IO out grew by 0 over 3 putchar and 1 numExitsByType\n"),
            "{r:?}"
        );
        assert!(r.stdout.contains("printStr of a wild pointer: Err(\"EFAULT\")\n"), "{r:?}");
        assert!(
            r.stdout.contains("printStr of an unterminated string: Err(\"EINVAL\")\n"),
            "{r:?}"
        );
    }
}

#[test]
fn c_hypercall_demo() {
    if !kvm_or_skip("c_hypercall_demo") {
        return;
    }
    let dir = Scratch::new("hc-c");
    let source = hv_tests::root().join("guest-examples/c/hypercalls.c");
    let img = build_c(&[source], "-O2", dir.path(), "hypercalls");
    let r = run_in(dir.path(), &["-m", "4", "-p", "4", "-g", s(&img)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    check_demo(&r.stdout);
}

#[test]
fn stats_table_counts_exits_by_kind() {
    if !kvm_or_skip("stats_table_counts_exits_by_kind") {
        return;
    }
    let dir = Scratch::new("hc-stats");
    dir.write("input.txt", b"abc\n");
    let (hello, files) = (guest("hello"), guest("files"));
    let r = run_in(
        dir.path(),
        &["-m", "2", "-p", "4", "--stats", "-g", s(&hello), s(&files), "-f", "input.txt"],
        b"",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let err: Vec<&str> = r.stderr.lines().collect();
    assert!(
        err[0].starts_with("guest") && err[0].contains("exits") && err[0].ends_with("image"),
        "{r:?}"
    );
    // hello: its exit, one hypercall exit (the ABI announcement is a word in the hv page and its
    // println goes into the console ring).
    let hello_row: Vec<&str> = err[1].split_whitespace().collect();
    assert_eq!(
        (hello_row[0], hello_row[2], hello_row[3], hello_row[4]),
        ("0", "1", "0", "1"),
        "{r:?}"
    );
    assert_eq!(err[3], "guest 0 exits by kind: out hypercall: 1");
    // files: open x2, read x2, write, close x2 (output, then input on drop), exit.
    assert_eq!(err[4], "guest 1 exits by kind: out file: 7, out hypercall: 1");
    let files_row: Vec<&str> = err[2].split_whitespace().collect();
    assert_eq!((files_row[8], files_row[9]), ("4", "4"), "file bytes read and written: {r:?}");
}

/// The exit counts a guest reads from its hv page include the `out`s KVM queued before its last
/// exit, each counted as the exit it would have been: the host drains the queue before it
/// publishes the counts.
#[test]
fn counts_in_the_hv_page_include_queued_outs() {
    let dir = Scratch::new("hc-queued");
    let source = dir.write(
        "queued.c",
        br#"#include "hv_guest.h"

static void out_e9(char c)
{
    __asm__ __volatile__("outb %0, %1" : : "a"(c), "Nd"((uint16_t)0xE9) : "memory");
}

int main(void)
{
    /* 300 raw outs: from the 256th on, the host queues them without an exit. */
    for (int i = 0; i < 299; i++)
        out_e9('.');
    out_e9('\n');
    /* One exit (its own `out` counted), after which the host publishes the counts. */
    HC_gvaToHva(0);
    const volatile struct hv_exit_counts *c = hv_exit_counts();
    /* (Less the host's own interruptions: its periodic console drain.) */
    uint64_t total = c->total - c->interrupted, out = c->io_out;
    printf("total %lu, IO out %lu\n", (unsigned long)total, (unsigned long)out);
    return 0;
}
"#,
    );
    let image = build_c(&[source], "-O2", dir.path(), "queued");
    if !kvm_or_skip("counts_in_the_hv_page_include_queued_outs") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, format!("{}\ntotal 301, IO out 301\n", ".".repeat(299)), "{r:?}");
    assert!(
        r.stderr.contains("guest 0 writes queued without an exit, by kind: out console: 44\n"),
        "{r:?}"
    );
}
