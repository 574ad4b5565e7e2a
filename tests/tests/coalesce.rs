//! Writes that need no answer, queued by KVM without an exit (issue 22): seed 002's counts stay
//! the seed's, `HC_printStr` prints its text as it was at its call, seed 000's requests cost
//! their `in`s, the seeds' raw-port guests keep their output order across ports and files, a
//! queued write that is an error ends its guest as its exit would have, and the serial port
//! costs a fraction of an exit per byte.
//!
//! The guests are in the seeds' shape (their own `_start` in `.start`, raw `in`/`out`, the
//! seeds' linker scripts and build commands), in `tests/seeds/` or written here, and all print
//! 300 bytes on port 0xE9 first: hv queues a guest's writes only once it has made 256 that
//! could be queued.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod seed_build;

use hv_tests::{Run, Scratch, build_step, kvm_or_skip, root, run_in, s};
use seed_build::{build_seed000, build_seed002, by_kind, copy_seed};

/// The port helpers, seed 000's file wrappers and the 300-byte warm-up every guest here uses.
const PRELUDE: &str = r#"
#include "wrappers.h"

static void outw(uint16_t port, uint16_t value) {
	asm("outw %0,%1" : /* empty */ : "a" (value), "Nd" (port) : "memory");
}

static void outl(uint16_t port, uint32_t value) {
	asm("outl %0,%1" : /* empty */ : "a" (value), "Nd" (port) : "memory");
}

static void warm_up(void) {
	for (int i = 0; i < 299; i++)
		putchar('.');
	putchar('\n');
}

static void __attribute__((noreturn)) halt(void) {
	for (;;)
		asm("hlt");
}
"#;

/// Builds `source` (after [`PRELUDE`]) the way seed 000 builds its guests, with `defines`.
fn seed_guest(dir: &Path, name: &str, source: &str, defines: &[&str]) -> PathBuf {
    for file in ["wrappers.h", "guest.ld"] {
        std::fs::copy(root().join("tests/seeds/000").join(file), dir.join(file)).unwrap();
    }
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, format!("{PRELUDE}\n{source}")).unwrap();
    let object = dir.join(format!("{name}.o"));
    let image = dir.join(format!("{name}.img"));
    let mut args = vec!["-m64", "-ffreestanding", "-fno-pic", "-O2", "-c"];
    args.extend(defines);
    args.extend(["-o", s(&object), s(&src)]);
    build_step("gcc", &args);
    let script = dir.join("guest.ld");
    build_step("ld", &["-T", s(&script), s(&object), "-o", s(&image)]);
    image
}

fn exits(r: &Run, id: u32) -> BTreeMap<String, u64> {
    by_kind(&r.stderr, id, "exits by kind")
}

fn queued(r: &Run, id: u32) -> BTreeMap<String, u64> {
    by_kind(&r.stderr, id, "writes queued without an exit, by kind")
}

fn dots() -> String {
    format!("{}\n", ".".repeat(299))
}

/// A seed-000 guest's requests once its outs are queued: a write or a read costs the one exit
/// of its `in`, an open its four.
#[test]
fn seed000_requests_cost_their_ins_once_outs_are_queued() {
    let dir = Scratch::new("seed000-bulk");
    copy_seed("000", dir.path());
    let image = build_seed000(dir.path(), "bulk");
    if !kvm_or_skip("seed000_requests_cost_their_ins_once_outs_are_queued") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, format!("{}\nbulk: ok\n", ".".repeat(299)), "{r:?}");
    let pattern: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(dir.read("bulk.txt.local0"), pattern);
    let exits = by_kind(&r.stderr, 0, "exits by kind");
    let queued = by_kind(&r.stderr, 0, "writes queued without an exit, by kind");
    // Ins: open 4, 3000 write echoes, close 1, open 4, 3000 bytes and the EOF, close 1.
    assert_eq!(exits.get("in file"), Some(&(4 + 3000 + 1 + 4 + 3001 + 1)), "{r:?}");
    // Outs: two opens of "bulk.txt" (10 each), 3000 writes (6), 3001 reads (5), two closes (5):
    // only the first exits (it is the one that has the port's writes queued from then on).
    assert_eq!(exits.get("out file"), Some(&1), "{r:?}");
    let outs = 2 * 10 + 3000 * 6 + 3001 * 5 + 2 * 5;
    assert_eq!(queued.get("out file"), Some(&(outs - 1)), "{r:?}");
    // The console's first 256 bytes exited, the rest of its 309 were queued.
    assert_eq!(exits.get("out console"), Some(&256), "{r:?}");
    assert_eq!(queued.get("out console"), Some(&(309 - 256)), "{r:?}");
}

/// The graded guest with 300 bytes printed first, so that its outs are queued: it must print the
/// numbers the graded guest prints on the seed's own host (its exits counted the seed's way,
/// every queued `out` as the exit it would have been there), 300 `out`s more.
#[test]
fn seed002_counts_stay_exact_when_outs_are_queued() {
    let dir = Scratch::new("seed002-queued");
    copy_seed("002", dir.path());
    let image = build_seed002(dir.path(), "queued");
    if !kvm_or_skip("seed002_counts_stay_exact_when_outs_are_queued") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    let dots = ".".repeat(299);
    assert_eq!(
        lines[..7],
        [dots.as_str(), "Hello 695!", "2048", "4294967295", "CS695 Assignment 2", "314", "316"],
        "{r:?}"
    );
    assert!(lines[7].parse::<u32>().is_ok_and(|hva| hva != 0), "{r:?}");
    assert_eq!(
        lines[8..],
        ["Invalid GVA", "0", "IO in: 3", "IO out: 316", "IO in: 6", "IO out: 320"],
        "{r:?}"
    );
    // They were queued: the console's after its first 256, and the later print32s and
    // translations' addresses after the first of each; 0xEA (HC_printStr) always exits.
    let queued = by_kind(&r.stderr, 0, "writes queued without an exit, by kind");
    assert_eq!(queued.get("out console"), Some(&(300 + 11 - 256)), "{r:?}");
    assert_eq!(queued.get("out 0x00eb"), Some(&5), "{r:?}");
    assert_eq!(queued.get("out 0x00ee"), Some(&1), "{r:?}");
    assert_eq!(queued.get("out 0x00ea"), None, "{r:?}");
    let exits = by_kind(&r.stderr, 0, "exits by kind");
    assert_eq!(exits.get("out 0x00ea"), Some(&3), "{r:?}");
}

/// `HC_printStr` passes an address: a guest that formats into one buffer and prints it again
/// and again, with queued `out`s around each print, sees each text as it was at its own call.
#[test]
fn seed002_print_str_prints_the_text_as_it_was_at_the_call() {
    let dir = Scratch::new("seed002-printstr");
    copy_seed("002", dir.path());
    let image = build_seed002(dir.path(), "printstr");
    if !kvm_or_skip("seed002_print_str_prints_the_text_as_it_was_at_the_call") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let mut want = format!("{}\n", ".".repeat(299));
    for k in 0..5 {
        want.push_str(&format!("<text {k}\n{k}\n"));
    }
    assert_eq!(r.stdout, want, "{r:?}");
    // The `<` and the numbers around the prints were queued.
    let queued = by_kind(&r.stderr, 0, "writes queued without an exit, by kind");
    assert_eq!(queued.get("out console"), Some(&(300 + 5 - 256)), "{r:?}");
    assert!(queued.get("out 0x00eb").is_some_and(|&n| n >= 4), "{r:?}");
}

#[test]
fn queued_writes_keep_program_order_across_ports_and_files() {
    let dir = Scratch::new("coalesce-order");
    let image = seed_guest(
        dir.path(),
        "order",
        r#"
void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	warm_up();
	int fd = fopen("order.txt", 'w');
	for (int i = 0; i < 100; i++) {
		putchar('c');               /* console, 0xE9 */
		outb(0x10, 's');            /* serial */
		outl(0xEB, i);              /* seed 002's print32: "i\n" */
		fwrite('0' + i % 10, fd);   /* seed 000: one byte to the file */
	}
	fclose(fd);
	int back = fopen("order.txt", 'r');
	char c;
	while ((c = fread(back)) != EOF)
		outb(0x10, c);
	outb(0x10, '\n');
	halt();
}
"#,
        &[],
    );
    if !kvm_or_skip("queued_writes_keep_program_order_across_ports_and_files") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let digits: String = (0..100).map(|i| char::from(b'0' + i % 10)).collect();
    let mut want = dots();
    for i in 0..100 {
        want.push_str(&format!("cs{i}\n"));
    }
    want.push_str(&digits);
    want.push('\n');
    assert_eq!(r.stdout, want, "{r:?}");
    assert_eq!(dir.read("order.txt.local0"), digits.as_bytes());
    // All four were queued: each once the guest had made 256 queueable writes and then one of
    // its own (the console's 256th, the first serial byte, print32 and file byte after it).
    let q = queued(&r, 0);
    assert_eq!(q.get("out console"), Some(&(300 + 100 - 256)), "{r:?}");
    assert_eq!(q.get("out 0x0010"), Some(&(100 + 100 + 1 - 1)), "{r:?}");
    assert_eq!(q.get("out 0x00eb"), Some(&99), "{r:?}");
    assert!(q.get("out file").is_some_and(|&n| n > 1000), "{r:?}");
    assert_eq!(exits(&r, 0).get("out file"), Some(&1), "{r:?}");
}

/// Writes inside a zone that its service refuses (the wrong width, or one of hv's own file
/// calls, whose result the guest reads before a queued call could run): the guest ends with the
/// error its exit would have given, nothing it did after the write is run, and the other guests
/// are untouched.
#[test]
fn a_queued_write_that_is_an_error_ends_only_its_guest() {
    let dir = Scratch::new("coalesce-hostile");
    let source = r#"
void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
#ifdef WARM
	warm_up();
#endif
	outl(0xEB, 1);         /* one print32, which has the port's writes queued from then on */
#if CASE == 1
	outb(0xEC, 7);         /* 1 byte inside print32's four: 0xEC is seed 002's numExits, an `in` */
#elif CASE == 2
	outw(0xEB, 7);         /* print32 with 2 bytes */
#elif CASE == 3
	fclose(9);             /* a seed-000 request, which has the file port queued */
	/* hv's own close call (opcode 0x82), made as hv's SDKs make it */
	*(volatile uint64_t *)0x3FE00100 = 9;
	outb(0x0278, 0x82);
#endif
	print("after\n");
	halt();
}
"#;
    let cases = [
        (1, "out of 1 byte(s) on port 0x00ec, which takes 4-byte in"),
        (2, "out of 2 byte(s) on port 0x00eb, which takes 4-byte out"),
        (
            3,
            "out of 1 byte(s) on port 0x0278, which takes seed 000's request bytes only, once they are queued",
        ),
    ];
    let mut images = Vec::new();
    for (case, _) in cases {
        let define = format!("-DCASE={case}");
        for warm in [true, false] {
            let name = format!("case{case}{}", if warm { "w" } else { "" });
            let mut defines = vec![define.as_str()];
            if warm {
                defines.push("-DWARM");
            }
            images.push(seed_guest(dir.path(), &name, source, &defines));
        }
    }
    let good = seed_guest(dir.path(), "good", source, &["-DWARM"]);
    if !kvm_or_skip("a_queued_write_that_is_an_error_ends_only_its_guest") {
        return;
    }
    for (i, (case, message)) in cases.iter().enumerate() {
        for (warm, image) in [(true, &images[2 * i]), (false, &images[2 * i + 1])] {
            let args = ["-m", "2", "-p", "4", "--prefix", "-g", s(image), s(&good)];
            let r = run_in(dir.path(), &args, b"");
            let lines = |id: u32| -> Vec<String> {
                let prefix = format!("[{id}] ");
                r.stdout.lines().filter_map(|l| l.strip_prefix(&prefix)).map(String::from).collect()
            };
            // The other guest ran to its end.
            assert_eq!(lines(1), [".".repeat(299), "1".into(), "after".into()], "{r:?}");
            let mut want = if warm { vec![".".repeat(299)] } else { Vec::new() };
            want.push("1".into());
            if *case == 3 && !warm {
                // Not queued, hv's call exits and is answered (EBADF), and the guest goes on:
                // only a queued call cannot be.
                want.push("after".into());
                assert_eq!((r.code, lines(0)), (Some(0), want), "{r:?}");
                continue;
            }
            assert_eq!(r.code, Some(1), "case {case}: {r:?}");
            assert_eq!(lines(0), want, "case {case}, warm {warm}: {r:?}");
            assert!(r.stderr.contains(message), "case {case}, warm {warm}: {r:?}");
        }
    }
}

/// A guest that announced hv's ABI version (as the SDKs' start-up does) may mix seed 000's
/// bytes and hv's own file calls: its file port is never queued.
#[test]
fn hv_file_calls_after_seed_bytes_work_once_the_abi_is_announced() {
    let dir = Scratch::new("coalesce-announced");
    let image = seed_guest(
        dir.path(),
        "announced",
        &format!(
            r#"
void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {{
	*(volatile uint64_t *)0x3FE00150 = {abi};
	warm_up();
	fclose(9);
	*(volatile uint64_t *)0x3FE00100 = 9;
	outb(0x0278, 0x82);
	long ret = *(volatile long *)0x3FE00130;
	print(ret == -9 ? "EBADF\n" : "wrong\n");
	halt();
}}
"#,
            abi = hv_core::ABI_VERSION
        ),
        &[],
    );
    if !kvm_or_skip("hv_file_calls_after_seed_bytes_work_once_the_abi_is_announced") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, format!("{}EBADF\n", dots()), "{r:?}");
    assert_eq!(queued(&r, 0).get("out file"), None, "{r:?}");
}

#[test]
fn eight_guests_printing_with_raw_outs_keep_their_lines_whole() {
    let dir = Scratch::new("coalesce-eight");
    let image = seed_guest(
        dir.path(),
        "lines",
        r#"
void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	for (int i = 0; i < 200; i++) {
		print("a line printed byte by byte with out 0xE9, number ");
		putchar('0' + i / 100);
		putchar('0' + i / 10 % 10);
		putchar('0' + i % 10);
		putchar('\n');
	}
	halt();
}
"#,
        &[],
    );
    if !kvm_or_skip("eight_guests_printing_with_raw_outs_keep_their_lines_whole") {
        return;
    }
    let mut args = vec!["-m", "2", "-p", "4", "--prefix", "--stats", "-g"];
    args.extend(std::iter::repeat_n(s(&image), 8));
    let r = run_in(dir.path(), &args, b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let want: Vec<String> = (0..200)
        .map(|i| format!("a line printed byte by byte with out 0xE9, number {i:03}"))
        .collect();
    let bytes: u64 = want.iter().map(|l| l.len() as u64 + 1).sum();
    for id in 0..8 {
        let prefix = format!("[{id}] ");
        let lines: Vec<&str> = r.stdout.lines().filter_map(|l| l.strip_prefix(&prefix)).collect();
        assert_eq!(lines, want, "guest {id}: {r:?}");
        // 256 exits, then one each time KVM's ring (about 170 writes) is full.
        let n = exits(&r, id).get("out console").copied().unwrap_or(0);
        assert!(n <= 256 + bytes / 150, "guest {id}: {n} exits: {r:?}");
        assert_eq!(n + queued(&r, id).get("out console").copied().unwrap_or(0), bytes, "{r:?}");
    }
    assert_eq!(r.stdout.lines().count(), 8 * 200);
}

/// The serial port's data byte, on its port and in the device window: byte-exact, and a small
/// fraction of an exit per byte.
#[test]
fn serial_bytes_are_queued_on_the_port_and_in_the_window() {
    let dir = Scratch::new("coalesce-serial");
    let source = r#"
#define N 20000
void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	for (int i = 0; i < N; i++) {
		char c = i % 64 == 63 ? '\n' : 'a' + i % 26;
#ifdef USE_MMIO
		*(volatile uint8_t *)0x200080 = c;
#else
		outb(0x10, c);
#endif
	}
	halt();
}
"#;
    let ports = seed_guest(dir.path(), "ports", source, &[]);
    let mmio = seed_guest(dir.path(), "mmio", source, &["-DUSE_MMIO"]);
    if !kvm_or_skip("serial_bytes_are_queued_on_the_port_and_in_the_window") {
        return;
    }
    let want: String = (0..20000u32)
        .map(|i| if i % 64 == 63 { '\n' } else { char::from(b'a' + (i % 26) as u8) })
        .collect();
    for (image, flags, kind) in
        [(&ports, &["-p", "4"][..], "out 0x0010"), (&mmio, &["-p", "4", "--mmio"], "mmio")]
    {
        let mut args = vec!["-m", "2", "--stats", "-g", s(image)];
        args.extend(flags);
        let r = run_in(dir.path(), &args, b"");
        assert_eq!(r.code, Some(0), "{r:?}");
        assert!(r.stdout == want, "{kind}: output is not byte-exact: {r:?}");
        // 256 exits, then one each time KVM's ring (about 170 writes) is full.
        let n = exits(&r, 0).get(kind).copied().unwrap_or(0);
        assert!(n <= 256 + 20000 / 150, "{kind}: {n} exits: {r:?}");
        assert_eq!(n + queued(&r, 0).get(kind).copied().unwrap_or(0), 20000, "{r:?}");
    }
}
