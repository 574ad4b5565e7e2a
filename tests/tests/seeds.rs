//! The seeds' own guests, built the seeds' own way, run unchanged (issue 10).
//!
//! The guests under `tests/seeds/` are written from `shared/notes/seed-dialects.md` in each
//! seed's style: their own `_start` (in `.start`, or seed 003's loader), the seed's wrappers and
//! port numbers, the seed's build commands and a classic linker script like the seed's. Each is
//! copied into a scratch directory and built there with exactly the seed's commands.
#![allow(clippy::unwrap_used)]

mod seed_build;

use std::path::{Path, PathBuf};
use std::process::Command;

use hv_tests::{Run, Scratch, build_c, kvm_or_skip, root, run_in, s};
use seed_build::{build_seed000, build_seed002, build_seed003, by_kind, copy_seed, sh};

/// The lines guest `id` printed (with `--prefix`).
fn lines_of(r: &Run, id: u32) -> Vec<&str> {
    let prefix = format!("[{id}] ");
    r.stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
}

#[test]
fn seed000_file_copy_through_the_byte_protocol() {
    let dir = Scratch::new("seed000-copy");
    copy_seed("000", dir.path());
    let image = build_seed000(dir.path(), "guest");
    if !kvm_or_skip("seed000_file_copy_through_the_byte_protocol") {
        return;
    }
    dir.write("input.txt", b"hello, seed 000\n");
    dir.write("shared.txt", b"ORIGINAL\n");
    let img = s(&image);
    let r = run_in(
        dir.path(),
        &[
            "-m",
            "2",
            "-p",
            "4",
            "--prefix",
            "--stats",
            "-g",
            img,
            img,
            "-f",
            "input.txt",
            "shared.txt",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    for id in 0..2 {
        assert_eq!(
            lines_of(&r, id),
            [
                "copied, closed",
                "copy: hello, seed 000",
                "O",
                "read fd on the original invalidated",
                "shared.txt now: 1",
            ],
            "guest {id}: {r:?}"
        );
        assert_eq!(dir.read(&format!("copy.txt.local{id}")), b"hello, seed 000\n");
        // Its copy of the shared file: written through fd 1 ("1\n").
        assert_eq!(dir.read(&format!("shared.txt.local{id}")), b"1\n");
        // 400 `out`s and 87 `in`s on the file port for this program (an open is 1 + name + 1
        // outs and 4 ins, a read or close 5 and 1, a write 6 and 1): each `in` exits (it needs
        // its answer); the `out`s exit one by one until the guest has made 256 that could be
        // queued (console bytes included), and are queued without an exit after that.
        let exits = by_kind(&r.stderr, id, "exits by kind");
        let queued = by_kind(&r.stderr, id, "writes queued without an exit, by kind");
        assert_eq!(exits.get("in file"), Some(&87), "{r:?}");
        let file_outs = exits.get("out file").copied().unwrap_or(0);
        assert_eq!(file_outs + queued.get("out file").copied().unwrap_or(0), 400, "{r:?}");
        assert!(file_outs < 400, "{r:?}");
    }
    assert_eq!(dir.read("shared.txt"), b"ORIGINAL\n", "shared originals never change");
    assert_eq!(dir.read("input.txt"), b"hello, seed 000\n");
}

#[test]
fn seed000_hostile_byte_sequences_are_dropped() {
    let dir = Scratch::new("seed000-hostile");
    copy_seed("000", dir.path());
    let image = build_seed000(dir.path(), "hostile");
    // The same guest with 300 console bytes first: every byte after them is queued without an
    // exit, and must be dropped or answered exactly as when each exits.
    sh(dir.path(), "gcc -m64 -ffreestanding -fno-pic -DWARM -c -o warm.o hostile.c");
    sh(dir.path(), "ld -T guest.ld warm.o -o warm.img");
    if !kvm_or_skip("seed000_hostile_byte_sequences_are_dropped") {
        return;
    }
    dir.write("input.txt", b"hello\n");
    let run = |image: &Path| {
        let args = ["-m", "2", "-p", "4", "-g", s(image), "-f", "input.txt"];
        run_in(dir.path(), &args, b"")
    };
    let r = run(&image);
    assert_eq!(r.code, Some(0), "{r:?}");
    let cases = [
        "unknown first byte: ok",
        "in before any request: ok",
        "in before the fd is complete: ok",
        "reply left unread: ok",
        "300-byte name: ok",
        "name without NUL: ok",
        "wild fds: ok",
        "flood: ok",
    ];
    assert_eq!(r.stdout.lines().collect::<Vec<_>>(), cases, "{r:?}");
    // Each malformed sequence got a diagnostic on the host's stderr (rate-limited per guest).
    for what in [
        "file protocol: unknown request byte 0x07; byte ignored",
        "file protocol: `in` with no request pending; the guest reads 0xff",
        "file protocol: `in` before the Read request was complete; request dropped, the guest reads 0xff",
        "file protocol: a byte was sent while 2 reply byte(s) were still unread; reply dropped",
        "file protocol: a name of 300 bytes (at most 255); open refused",
        "file protocol: fd 2147483647 can never be open; the guest reads 0xff",
        "file protocol: fd -5 can never be open; the guest reads 0xff",
        "file protocol: `in` before the OpenRead request was complete; request dropped, the guest reads 0xff",
    ] {
        assert!(r.stderr.contains(what), "{what}: {r:?}");
    }
    // Ten shown, one line saying the rest are counted (the flood), and the count in the
    // guest's report: the guest's warnings are rate-limited like every other host warning.
    assert!(r.stderr.contains("further warnings are counted in its report, not printed"), "{r:?}");
    assert!(r.stderr.lines().last().is_some_and(|l| l.ends_with("more warning(s) not printed")));
    assert_eq!(r.stderr.lines().count(), 12, "{r:?}");
    // Queued, the same bytes make the same answers and the same diagnostics, in the same order.
    let warm = run(&dir.path().join("warm.img"));
    assert_eq!(warm.code, Some(0), "{warm:?}");
    let dots = format!("{}\n", ".".repeat(299));
    assert_eq!(warm.stdout.strip_prefix(dots.as_str()), Some(r.stdout.as_str()), "{warm:?}");
    // (Log lines lose their time stamps, and the report names the image.)
    let plain = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .map(|l| {
                l.split_once("] ").map_or(l, |(_, rest)| rest).replace("warm.img", "hostile.img")
            })
            .collect()
    };
    assert_eq!(plain(&warm.stderr), plain(&r.stderr));
}

#[test]
fn seed002_graded_sequence() {
    let dir = Scratch::new("seed002-graded");
    copy_seed("002", dir.path());
    let image = build_seed002(dir.path(), "guest");
    if !kvm_or_skip("seed002_graded_sequence") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image)], b"");
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    // Exits are counted the seed's way (I/O exits only): 11 console bytes, two print32, then
    // this `in` makes 14; the printStr `out` and the second `in` make 16. The first snapshot
    // sees 16 `out`s and 3 `in`s (its own included); the second also two translations (0xEE
    // `out`, 0xEF `in`), their two print32 `out`s and its own `in`.
    assert_eq!(
        lines[..6],
        ["Hello 695!", "2048", "4294967295", "CS695 Assignment 2", "14", "16"],
        "{r:?}"
    );
    // gvaToHva(1024): a host address (its low 32 bits); gvaToHva(4294967295): unmapped.
    assert!(lines[6].parse::<u32>().is_ok_and(|hva| hva != 0), "{r:?}");
    assert_eq!(
        lines[7..],
        ["Invalid GVA", "0", "IO in: 3", "IO out: 16", "IO in: 6", "IO out: 20"],
        "{r:?}"
    );
}

#[test]
fn seed002_hostile_pointers() {
    let dir = Scratch::new("seed002-hostile");
    copy_seed("002", dir.path());
    let image = build_seed002(dir.path(), "hostile");
    if !kvm_or_skip("seed002_hostile_pointers") {
        return;
    }
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            "Invalid GVA",
            "0",
            "after an early 0xEF",
            "after pointers past RAM",
            "after an unterminated string",
            "Invalid GVA",
            "0",
            "Invalid GVA",
            "0",
            "Invalid GVA",
            "0",
            "1",
            "1",
            "done",
        ],
        "{r:?}"
    );
    for what in [
        "HC_printStr (port 0xEA): the string at 0x7fffff00: bad guest address",
        "HC_printStr (port 0xEA): the string at 0x1fffff: bad guest address",
        "HC_printStr (port 0xEA): the string at 0x",
        "invalid argument",
    ] {
        assert!(r.stderr.contains(what), "{what}: {r:?}");
    }
}

/// What seed 003's test guest prints on a fresh 8 KiB disk.
const SEED003_LINES: [&str; 10] = [
    "check 1: setup reports the size: ok",
    "check 2: write sector 0: ok",
    "check 3: read sector 0 back: ok",
    "check 4: write the last sector: ok",
    "check 5: read the last sector back: ok",
    "check 6: read past the end is EINVAL: ok",
    "check 7: write past the end is EINVAL: ok",
    "check 8: an unwritten sector reads zeros: ok",
    "all 8 checks passed",
    "cr0 = 0x80010033, rdx kept",
];

#[test]
fn seed003_test_guest_on_ports_and_mmio() {
    let dir = Scratch::new("seed003");
    copy_seed("003", dir.path());
    let ports = build_seed003(dir.path(), "", "payload-ports.bin");
    let mmio = build_seed003(dir.path(), "-DUSE_MMIO", "payload-mmio.bin");
    if !kvm_or_skip("seed003_test_guest_on_ports_and_mmio") {
        return;
    }
    for (image, extra, page) in
        [(&ports, None, "4"), (&mmio, Some("--mmio"), "4"), (&mmio, Some("--mmio"), "2")]
    {
        dir.write("disk.raw", &[0; 8192]);
        let mut args = vec!["-m", "2", "-p", page, "--disk", "disk.raw", "-g", s(image)];
        args.extend(extra);
        let r = run_in(dir.path(), &args, b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{args:?}: {r:?}");
        assert_eq!(r.stdout.lines().collect::<Vec<_>>(), SEED003_LINES, "{args:?}: {r:?}");
    }
}

/// A guest in seed 000's template shape (its own `_start` in `.start`) that includes
/// `hv_guest.h` with `HV_NO_START` and uses the SDK, which finds the hv page at its alias.
#[test]
fn c_guest_with_its_own_start_uses_the_sdk() {
    let dir = Scratch::new("own-start");
    let source = dir.write(
        "own_start.c",
        br#"#define HV_NO_START
#include "hv_guest.h"

void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void)
{
    const char *first = HC_numExitsByType();
    puts("own _start");
    int fd = fopen("note.txt", "w");
    const char *second = HC_numExitsByType();
    fwrite(fd, "by guest ", 9);
    fwrite(fd, guest_id() ? "1\n" : "0\n", 2);
    fclose(fd);
    /* Two snapshots held at once: the second counts the fopen's exit (the counts are read from
     * the hv page, and puts goes into the console ring: neither exits). */
    HC_printStr(first);
    HC_printStr(second);
    HC_printStr(first == second ? "one buffer\n" : "two buffers\n");
    for (;;)
        __asm__ __volatile__("hlt");
}
"#,
    );
    let images: Vec<PathBuf> = ["-O2", "-O0"]
        .iter()
        .map(|opt| build_c(std::slice::from_ref(&source), opt, dir.path(), "own"))
        .collect();
    if !kvm_or_skip("c_guest_with_its_own_start_uses_the_sdk") {
        return;
    }
    for image in &images {
        for mem in ["2", "8"] {
            let r = run_in(dir.path(), &["-m", mem, "-p", "4", "-g", s(image), s(image)], b"");
            assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
            let out: Vec<&str> = r.stdout.lines().collect();
            for id in 0..2 {
                assert_eq!(
                    dir.read(&format!("note.txt.local{id}")),
                    format!("by guest {id}\n").as_bytes()
                );
            }
            assert_eq!(out.iter().filter(|l| **l == "own _start").count(), 2, "{r:?}");
            // The first snapshot is taken before any exit; the second after the fopen's.
            let outs: Vec<u64> =
                out.iter().filter_map(|l| l.strip_prefix("IO out: ")?.parse().ok()).collect();
            assert_eq!(outs.len(), 4, "{r:?}");
            assert!(outs.iter().filter(|&&n| n == 0).count() == 2, "{r:?}");
            assert!(outs.iter().filter(|&&n| n == 1).count() == 2, "{r:?}");
            assert_eq!(out.iter().filter(|l| **l == "two buffers").count(), 2, "{r:?}");
        }
    }
}

/// A Rust guest with its own `_start` (the SDK without its `start` feature) uses the SDK: the
/// console, the guest's ID and a file, with no `rdi` and no `entry!`.
#[test]
fn rust_guest_with_its_own_start_uses_the_sdk() {
    let target = hv_tests::release_dir().parent().unwrap().join("seed-own-start");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root().join("tests/seeds/rust"))
        .args(["build", "--release", "--locked", "--target-dir", s(&target)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "building tests/seeds/rust failed: {stderr}");
    // The SDK without its `start` feature builds without a warning (cargo replays a cached
    // crate's warnings, so this holds on a rebuild too).
    assert!(!stderr.contains("warning"), "{stderr}");
    let image = target.join("release/own_start");
    if !kvm_or_skip("rust_guest_with_its_own_start_uses_the_sdk") {
        return;
    }
    let dir = Scratch::new("rust-own-start");
    for mem in ["2", "4", "8"] {
        let r = run_in(dir.path(), &["-m", mem, "-p", "2", "-g", s(&image), s(&image)], b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
        let mut lines: Vec<&str> = r.stdout.lines().collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            ["file: ok", "file: ok", "own _start, guest 0", "own _start, guest 1"],
            "{r:?}"
        );
        for id in 0..2 {
            assert_eq!(dir.read(&format!("rust.txt.local{id}")), b"written without rdi\n");
        }
    }
}

/// Sector `sector` as seed 003's test guest writes it (`fill` in `tests/seeds/003/guest.c`).
fn seed003_sector(seed: u8) -> Vec<u8> {
    (0..512u32).map(|i| seed.wrapping_add((i * 7) as u8)).collect()
}

/// The disk semantics seed 003's guest expects, as QEMU's and Firecracker's drives behave:
/// `--disk FILE` writes to FILE; `--disk-cow` gives each guest its own copy instead; a second
/// setup is refused with the status block left where it was.
#[test]
fn seed003_disk_keeps_what_the_guest_writes() {
    let dir = Scratch::new("seed003-disk");
    copy_seed("003", dir.path());
    let ports = build_seed003(dir.path(), "", "payload-ports.bin");
    let mmio = build_seed003(dir.path(), "-DUSE_MMIO", "payload-mmio.bin");
    let twice = build_seed003(dir.path(), "-DSECOND_SETUP", "payload-twice.bin");
    if !kvm_or_skip("seed003_disk_keeps_what_the_guest_writes") {
        return;
    }
    let mut written = vec![0u8; 8192];
    written[..512].copy_from_slice(&seed003_sector(1));
    written[8192 - 512..].copy_from_slice(&seed003_sector(2));
    for (image, extra) in [(&ports, None), (&mmio, Some("--mmio"))] {
        // The disk file itself holds what the guest wrote.
        dir.write("disk.raw", &[0; 8192]);
        let mut args = vec!["-m", "2", "-p", "4", "--disk", "disk.raw", "-g", s(image)];
        args.extend(extra);
        let r = run_in(dir.path(), &args, b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{args:?}: {r:?}");
        assert_eq!(r.stdout.lines().collect::<Vec<_>>(), SEED003_LINES, "{r:?}");
        assert_eq!(dir.read("disk.raw"), written, "{args:?}");
        assert!(!dir.path().join("disk.raw.cow0").exists(), "{args:?}");
        // With --disk-cow the file is untouched and the guest's copy has the writes.
        dir.write("disk.raw", &[0; 8192]);
        args.push("--disk-cow");
        let r = run_in(dir.path(), &args, b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{args:?}: {r:?}");
        assert_eq!(dir.read("disk.raw"), [0; 8192], "{args:?}");
        assert_eq!(dir.read("disk.raw.cow0"), written, "{args:?}");
        std::fs::remove_file(dir.path().join("disk.raw.cow0")).unwrap();
    }
    // A second setup is refused, as the seed says.
    dir.write("disk.raw", &[0; 8192]);
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--disk", "disk.raw", "-g", s(&twice)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("all 8 checks passed\nsecond setup refused: ok\n"), "{r:?}");
}
