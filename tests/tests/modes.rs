//! Seed 002 in every CPU mode (issue 18): its real-mode, protected-mode and paged 32-bit guests,
//! the Matrix's two real-mode guests on one thread under its three schedules, and hv's
//! guarantees in the 16- and 32-bit modes (reported ends, refused input).
//!
//! The seed's guests are in `tests/seeds/002/`, written in the seed's style and built here with
//! the seed's commands (`as -32`, `ld -m elf_i386 --oformat binary ...`, `gcc -m32` with its
//! `guest.ld`); the small hostile guests are assembled from the sources below the same way.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use hv_tests::{Run, Scratch, assert_refused, copy_seed, guest, kvm_or_skip, root, run_in, s, sh};

/// Assembles `<name>.s` in `dir` and links it as a flat image at `text` (the seed's part-2
/// commands); returns the image.
fn build_asm(dir: &Path, name: &str, entry: &str, text: &str) -> PathBuf {
    sh(dir, &format!("as -32 {name}.s -o {name}.o"));
    sh(
        dir,
        &format!(
            "ld -m elf_i386 --oformat binary -N -e {entry} -Ttext {text} -o {name}.bin {name}.o"
        ),
    );
    dir.join(format!("{name}.bin"))
}

/// Writes `source` as `<name>.s` in `dir` and builds it with [`build_asm`].
fn asm(dir: &Scratch, name: &str, text: &str, source: &str) -> PathBuf {
    dir.write(&format!("{name}.s"), source.as_bytes());
    build_asm(dir.path(), name, "_start", text)
}

/// Builds seed 002's part-1 guest `guest.c` for 32 bits, as kvm-hello-world's Makefile does.
fn build_guest32(dir: &Path) -> PathBuf {
    sh(dir, "gcc -Wall -Wextra -O2 -m32 -ffreestanding -fno-pic -c -o guest32.o guest.c");
    sh(dir, "ld -T guest.ld -m elf_i386 guest32.o -o guest32.img");
    dir.join("guest32.img")
}

fn lines(r: &Run) -> Vec<&str> {
    r.stdout.lines().collect()
}

/// The values guest `id` printed (with `--prefix`), in order.
fn values_of(r: &Run, id: u32) -> Vec<u32> {
    let prefix = format!("[{id}] ");
    r.stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())?.parse().ok()).collect()
}

/// Each value follows the one before by `step` (mod 2^16: the guests count in `ax`).
fn counts_by(values: &[u32], first: u32, step: i32) -> bool {
    values.first() == Some(&first)
        && values.windows(2).all(|w| w[1] == (w[0] as i32 + step).rem_euclid(65536) as u32)
}

/// Guest `id`'s CPU share in percent, from the `--stats` table.
fn cpu_share(r: &Run, id: u32) -> f64 {
    let line = r.stderr.lines().find(|l| l.starts_with(&format!("guest {id}: cpu "))).unwrap();
    let pct = line.split('(').nth(1).unwrap().split(' ').next().unwrap();
    pct.parse().unwrap()
}

fn preemptions(r: &Run, id: u32) -> u64 {
    let line = r.stderr.lines().find(|l| l.starts_with(&format!("guest {id}: cpu "))).unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn guest16_runs_in_real_mode() {
    let dir = Scratch::new("modes-guest16");
    copy_seed("002", dir.path());
    let image = build_asm(dir.path(), "guest16", "guest16", "0");
    if !kvm_or_skip("guest16_runs_in_real_mode") {
        return;
    }
    for entry in [None, Some("0000:0000")] {
        let mut args = vec!["-m", "2", "-p", "4", "--mode", "real", "--stats", "-g", s(&image)];
        args.extend(entry.iter().flat_map(|e| ["--entry", *e]));
        let r = run_in(dir.path(), &args, b"");
        assert_eq!(r.code, Some(0), "{r:?}");
        let out = lines(&r);
        // 11 console bytes and a print32 before the `in` that counts itself: 13.
        assert_eq!(out[..4], ["Hello 695!", "2048", "13", "real mode"], "{r:?}");
        // gvaToHva(0x400) without paging: the host address of guest address 0x400.
        assert!(out[4].parse::<u32>().is_ok_and(|hva| hva != 0), "{r:?}");
        // Seed 003's serial byte, then the console's newline.
        assert_eq!(out[5..], ["!"], "{r:?}");
        let kinds = r.stderr.lines().find(|l| l.starts_with("guest 0 exits by kind")).unwrap();
        assert!(kinds.contains("in 0x00ec: 1, in 0x00ef: 1, out 0x0010: 1"), "{kinds}");
        assert!(kinds.ends_with("hlt: 1"), "{kinds}");
    }
}

#[test]
fn guest_c_built_m32_runs_in_protected_and_paged32_modes() {
    let dir = Scratch::new("modes-guest32");
    copy_seed("002", dir.path());
    let image = build_guest32(dir.path());
    if !kvm_or_skip("guest_c_built_m32_runs_in_protected_and_paged32_modes") {
        return;
    }
    let head = ["Hello 695!", "2048", "4294967295", "CS695 Assignment 2", "14", "16"];
    let tail = ["IO in: 3", "IO out: 16", "IO in: 6", "IO out: 20"];
    // Protected mode, as on `simple-kvm -s`: without paging 4294967295 translates to itself, so
    // its "host address" is that of 1024 plus 0xFFFFFBFF, mod 2^32 (no `Invalid GVA`).
    let r =
        run_in(dir.path(), &["-m", "2", "-p", "4", "--mode", "protected", "-g", s(&image)], b"");
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
    let out = lines(&r);
    assert_eq!(out[..6], head, "{r:?}");
    let hva: u32 = out[6].parse().unwrap();
    assert_eq!(out[7].parse::<u32>().unwrap(), hva.wrapping_add(0xFFFF_FBFF), "{r:?}");
    assert_eq!(out[8..], tail, "{r:?}");
    // Paged 32-bit mode, 4 KiB and 2 MiB pages: gvaToHva walks the tables, and 4294967295 is
    // not mapped.
    for page in ["4", "2"] {
        let r =
            run_in(dir.path(), &["-m", "4", "-p", page, "--mode", "paged32", "-g", s(&image)], b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
        let out = lines(&r);
        assert_eq!(out[..6], head, "{r:?}");
        assert!(out[6].parse::<u32>().is_ok_and(|hva| hva != 0), "{r:?}");
        assert_eq!(out[7..9], ["Invalid GVA", "0"], "{r:?}");
        assert_eq!(out[9..], tail, "{r:?}");
    }
}

/// Seed 000's template guest, unchanged, built for 32 bits: its byte-wise file protocol on
/// 0x0278 serves 32-bit guests as it does 64-bit ones.
#[test]
fn seed000_file_protocol_in_the_32_bit_modes() {
    let dir = Scratch::new("modes-seed000");
    copy_seed("000", dir.path());
    sh(dir.path(), "gcc -m32 -ffreestanding -fno-pic -c -o guest32.o guest.c");
    sh(dir.path(), "ld -m elf_i386 -T guest.ld guest32.o -o guest32.img");
    if !kvm_or_skip("seed000_file_protocol_in_the_32_bit_modes") {
        return;
    }
    for mode in ["protected", "paged32"] {
        dir.write("input.txt", b"hello, 32 bits\n");
        dir.write("shared.txt", b"ORIGINAL\n");
        let args = ["-m", "2", "-p", "4", "--mode", mode, "-g", "guest32.img"];
        let r = run_in(dir.path(), &[&args[..], &["-f", "input.txt", "shared.txt"]].concat(), b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{mode}: {r:?}");
        assert_eq!(
            lines(&r),
            [
                "copied, closed",
                "copy: hello, 32 bits",
                "O",
                "read fd on the original invalidated",
                "shared.txt now: 1",
            ],
            "{mode}: {r:?}"
        );
        assert_eq!(dir.read("copy.txt.local0"), b"hello, 32 bits\n");
        assert_eq!(dir.read("shared.txt"), b"ORIGINAL\n");
    }
}

/// Seed 003's devices from a 32-bit guest: serial bytes, and a sector written and read back
/// through the DMA disk with its status block `{ u64 size; i32 err }`, on ports and in the MMIO
/// window right after RAM.
const DEVICES32: &str = r#"
#include <stdint.h>

struct hdd_status { uint64_t size; int32_t err; };

#ifdef USE_MMIO
static void outb(uint16_t port, uint8_t v) { *(volatile uint8_t *)(0x200000 + port * 8) = v; }
static void outl(uint16_t port, uint32_t v) { *(volatile uint32_t *)(0x200000 + port * 8) = v; }
#else
static void outb(uint16_t port, uint8_t v) { asm volatile("outb %0,%1" : : "a"(v), "Nd"(port) : "memory"); }
static void outl(uint16_t port, uint32_t v) { asm volatile("outl %0,%1" : : "a"(v), "Nd"(port) : "memory"); }
#endif

static void serial(const char *s) { while (*s) outb(0x10, *s++); }
static void command(uint32_t sector, void *buf, uint8_t cmd) {
	outl(0x20, sector);
	outl(0x21, (uint32_t)buf);
	outb(0x22, cmd);
}

static volatile struct hdd_status status;
static unsigned char out[512], in[512];

void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	int i, same = 1;
	outl(0x21, (uint32_t)&status);
	outb(0x22, 2);
	serial(status.size == 8192 && status.err == 0 ? "setup: 8192 bytes\n" : "setup: FAILED\n");
	for (i = 0; i < 512; i++)
		out[i] = (unsigned char)(i * 7 + 1);
	command(3, out, 1);
	command(3, in, 0);
	for (i = 0; i < 512; i++)
		same &= in[i] == out[i];
	serial(status.err == 0 && same ? "sector 3 read back: ok\n" : "sector 3: FAILED\n");
	command(16, in, 0);
	serial(status.err == 22 ? "past the end: EINVAL\n" : "past the end: FAILED\n");
	for (;;)
		asm("hlt");
}
"#;

#[test]
fn seed003_devices_in_the_32_bit_modes() {
    let dir = Scratch::new("modes-devices");
    copy_seed("002", dir.path());
    dir.write("devices32.c", DEVICES32.as_bytes());
    for (define, name) in [("", "ports"), ("-DUSE_MMIO", "mmio")] {
        sh(
            dir.path(),
            &format!("gcc -O2 -m32 -ffreestanding -fno-pic {define} -c -o {name}.o devices32.c"),
        );
        sh(dir.path(), &format!("ld -T guest.ld -m elf_i386 {name}.o -o {name}.img"));
    }
    if !kvm_or_skip("seed003_devices_in_the_32_bit_modes") {
        return;
    }
    for (mode, page) in [("protected", "4"), ("paged32", "4"), ("paged32", "2")] {
        for (image, mmio) in [("ports.img", None), ("mmio.img", Some("--mmio"))] {
            dir.write("disk.raw", &[0; 8192]);
            let mut args = vec!["-m", "2", "-p", page, "--mode", mode, "--disk", "disk.raw"];
            args.extend(mmio);
            args.extend(["-g", image]);
            let r = run_in(dir.path(), &args, b"");
            assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{args:?}: {r:?}");
            assert_eq!(
                lines(&r),
                ["setup: 8192 bytes", "sector 3 read back: ok", "past the end: EINVAL"],
                "{args:?}"
            );
            let disk = dir.read("disk.raw");
            assert_eq!(disk[3 * 512 + 1], 8, "{args:?}: the sector reached the disk");
        }
    }
}

/// Builds Neo and Morpheus (`guest1.s`, `guest2.s`) with the seed's part-2 commands.
fn matrix(dir: &Scratch, names: [&str; 2]) -> [PathBuf; 2] {
    copy_seed("002", dir.path());
    names.map(|name| build_asm(dir.path(), name, "_start", "0x10000"))
}

/// The Matrix's common arguments: two real-mode guests at 1000:0000 on one thread.
fn matrix_args<'a>(images: &'a [PathBuf; 2], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-m", "2", "-p", "4", "--mode", "real", "--entry", "1000:0000"];
    args.extend(["--sched", "single", "--prefix", "--stats"]);
    args.extend(extra);
    args.extend(["-g", s(&images[0]), s(&images[1])]);
    args
}

#[test]
fn matrix_a_switches_guest_at_every_exit() {
    let dir = Scratch::new("modes-matrix-a");
    let images = matrix(&dir, ["guest1", "guest2"]);
    if !kvm_or_skip("matrix_a_switches_guest_at_every_exit") {
        return;
    }
    // A quantum of 1 s, as matrix-b's: a step stretched past a short one on a loaded machine
    // would lose its turn without its value (that is the quantum's job), breaking the order.
    let extra = ["--alternate", "--quantum-ms", "1000", "--timeout", "1"];
    let r = run_in(dir.path(), &matrix_args(&images, &extra), b"");
    // The guests never end by themselves: the timeout ends both, and says so.
    assert_eq!(r.code, Some(1), "{r:?}");
    for id in 0..2 {
        let name = ["guest1", "guest2"][id as usize];
        // Its report says where it was: in its loop, at 1000:0000..1000:0007.
        let report = format!("guest {id} ({}): timed out after 1.", s(&images[id as usize]));
        let line = r.stderr.lines().find(|l| l.starts_with(&report));
        assert!(line.is_some_and(|l| l.contains(" s, at 1000:000")), "{name}: {r:?}");
    }
    // One value each, in turn: [0] 0, [1] 65535, [0] 1, [1] 65534, ...
    let ids: Vec<&str> = r.stdout.lines().map(|l| &l[..3]).collect();
    assert!(ids.len() > 1000, "{} lines", ids.len());
    assert!(ids.iter().enumerate().all(|(i, id)| *id == ["[0]", "[1]"][i % 2]), "not in turns");
    let (neo, morpheus) = (values_of(&r, 0), values_of(&r, 1));
    assert!(counts_by(&neo, 0, 1), "Neo counts up from 0");
    assert!(counts_by(&morpheus, 65535, -1), "Morpheus counts down from 65535");
    assert!(neo.len().abs_diff(morpheus.len()) <= 1);
}

#[test]
fn matrix_b_a_timer_takes_turns_between_guests_without_exits() {
    let dir = Scratch::new("modes-matrix-b");
    let images = matrix(&dir, ["guest1-b", "guest2-b"]);
    if !kvm_or_skip("matrix_b_a_timer_takes_turns_between_guests_without_exits") {
        return;
    }
    // Neither guest ever exits: only the 1 s quantum gives the other its turn.
    let r =
        run_in(dir.path(), &matrix_args(&images, &["--quantum-ms", "1000", "--timeout", "4"]), b"");
    assert_eq!((r.code, r.stdout.as_str()), (Some(1), ""), "{r:?}");
    for id in 0..2 {
        assert!(preemptions(&r, id) >= 1, "guest {id}: {r:?}");
        let share = cpu_share(&r, id);
        assert!((40.0..=60.0).contains(&share), "guest {id} had {share} % of the CPU: {r:?}");
    }
}

#[test]
fn matrix_weights_7_3_give_neo_70_percent() {
    let dir = Scratch::new("modes-matrix-weights");
    let images = matrix(&dir, ["guest1", "guest2"]);
    if !kvm_or_skip("matrix_weights_7_3_give_neo_70_percent") {
        return;
    }
    let r = run_in(dir.path(), &matrix_args(&images, &["--weights", "7,3", "--timeout", "3"]), b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    let (neo, morpheus) = (values_of(&r, 0), values_of(&r, 1));
    assert!(counts_by(&neo, 0, 1), "Neo counts up from 0");
    assert!(counts_by(&morpheus, 65535, -1), "Morpheus counts down from 65535");
    // The scheduler charges each guest the time it spent in KVM_RUN: Neo's charged share is
    // within the issue's 0.70 +- 0.05 however busy the machine is.
    let share = cpu_share(&r, 0);
    assert!((65.0..=75.0).contains(&share), "Neo had {share} % of the CPU: {r:?}");
    // Every value is one exit of about the same cost, so the values share like CPU time does:
    // 0.70 of them Neo's on a quiet machine, 0.63-0.67 with the machine loaded by other builds
    // (an exit's cost varies with the load), so a wider margin here.
    let ratio = neo.len() as f64 / (neo.len() + morpheus.len()) as f64;
    eprintln!("Neo printed {ratio:.3} of the values, had {share} % of the CPU");
    assert!((0.55..=0.80).contains(&ratio), "Neo printed {ratio:.3} of the values");
}

/// A runaway real-mode guest is a reported end with its CS:IP: one that spins without exits is
/// stopped by `--timeout`, which says where it was; one that jumps into zeros executes them
/// (`add [bx+si], al`) to the end of its 64 KiB segment, where it faults.
#[test]
fn a_runaway_real_mode_guest_is_stopped_and_located() {
    let dir = Scratch::new("modes-runaway");
    let spin = asm(&dir, "spin", "0x10000", ".code16\n.globl _start\n_start:\n\tnop\n\tjmp .\n");
    let zeros = asm(&dir, "zeros", "0x10000", ".code16\n.globl _start\n_start:\n\tjmp . + 0x800\n");
    if !kvm_or_skip("a_runaway_real_mode_guest_is_stopped_and_located") {
        return;
    }
    let args = ["-m", "2", "-p", "4", "--mode", "real", "--entry", "1000:0000"];
    let r = run_in(dir.path(), &[&args[..], &["--timeout", "0.5", "-g", s(&spin)]].concat(), b"");
    assert_eq!((r.code, r.stdout.as_str()), (Some(1), ""), "{r:?}");
    // One line: the report, with where the guest was.
    assert_eq!(
        r.stderr,
        format!(
            "guest 0 ({}): timed out after 0.5 s, at 1000:0001 (linear 0x10001) in real mode\n",
            s(&spin)
        ),
        "{r:?}"
    );
    let r = run_in(dir.path(), &[&args[..], &["--timeout", "5", "-g", s(&zeros)]].concat(), b"");
    assert_eq!((r.code, r.stdout.as_str()), (Some(1), ""), "{r:?}");
    let fault = format!("guest 0 ({}): general protection fault at rip 0x1", s(&zeros));
    assert!(r.stderr.starts_with(&fault) && r.stderr.contains(" (1000:"), "{r:?}");
}

/// What ends a 16- or 32-bit guest, each a report, never a host crash: exceptions (with the
/// stubs' frame per mode), a triple fault, a bad port, an access outside RAM, a software
/// interrupt with no BIOS, a forged exception report.
#[test]
fn the_ring0_modes_report_how_a_guest_ended() {
    let dir = Scratch::new("modes-hostile");
    let ud2_16 = asm(&dir, "ud2-16", "0", ".code16\n.globl _start\n_start:\n\tnop\n\tud2\n");
    let int10 =
        asm(&dir, "int10", "0x10000", ".code16\n.globl _start\n_start:\n\tint $0x10\n\thlt\n");
    let div0 = asm(
        &dir,
        "div0",
        "0x10000",
        ".code16\n.globl _start\n_start:\n\txor %bx, %bx\n\tdiv %bx\n",
    );
    let ud2_32 = asm(&dir, "ud2-32", "0", ".code32\n.globl _start\n_start:\n\tnop\n\tud2\n");
    let far =
        asm(&dir, "far", "0", ".code32\n.globl _start\n_start:\n\tmovl $1, 0x40000000\n\thlt\n");
    let port = asm(&dir, "port", "0", ".code32\n.globl _start\n_start:\n\tout %al, $0x99\n");
    let triple = asm(
        &dir,
        "triple",
        "0",
        ".code32\n.globl _start\n_start:\n\tlidt empty\n\tud2\nempty:\t.word 0\n\t.long 0\n",
    );
    let forged = asm(
        &dir,
        "forged",
        "0",
        ".code32\n.globl _start\n_start:\n\tmov $0x501, %dx\n\tout %al, %dx\n\thlt\n",
    );
    if !kvm_or_skip("the_ring0_modes_report_how_a_guest_ended") {
        return;
    }
    let ended = |mode: &str, entry: Option<&str>, image: &Path| {
        let mut args = vec!["-m", "2", "-p", "4", "--mode", mode];
        args.extend(entry.iter().flat_map(|e| ["--entry", *e]));
        args.extend(["-g", s(image)]);
        let r = run_in(dir.path(), &args, b"");
        assert_eq!((r.code, r.stdout.as_str()), (Some(1), ""), "{args:?}: {r:?}");
        // The report is one line, and says where the guest was.
        let prefix = format!("guest 0 ({}): ", s(image));
        assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
        let report = r.stderr.trim_end().strip_prefix(&prefix).unwrap_or_else(|| panic!("{r:?}"));
        assert!(report.contains(" at "), "{r:?}");
        report.to_string()
    };
    let real = Some("1000:0000");
    // (With a code segment other than 0, PVM fails to emulate `ud2` in real mode: that ends as
    // a KVM internal error, with the guest's CS:IP in its report.)
    assert_eq!(ended("real", None, &ud2_16), "invalid opcode at rip 0x1 (0000:0001) in ring 0");
    assert_eq!(ended("real", real, &div0), "divide error at rip 0x10002 (1000:0002) in ring 0");
    assert_eq!(
        ended("real", real, &int10),
        "software interrupt int 0x10 at 1000:0000 in real mode, with no handler for it (hv has no BIOS; a guest sets its own vectors with lidt)"
    );
    for mode in ["protected", "paged32"] {
        assert_eq!(ended(mode, None, &ud2_32), "invalid opcode at rip 0x1 in ring 0", "{mode}");
        // Where the guest was: past the instruction that exited (a port or MMIO access).
        let at = |eip: &str| format!(", at eip {eip} (cs 0x8) in --mode {mode}");
        assert_eq!(
            ended(mode, None, &port),
            format!("out of 1 byte(s) on unknown port 0x0099{}", at("0x2"))
        );
        assert_eq!(
            ended(mode, None, &forged),
            format!("wrote to the exception port from ring 0{}", at("0x5"))
        );
        assert_eq!(
            ended(mode, None, &triple),
            format!("triple fault (the guest broke its own exception handling){}", at("0x7"))
        );
    }
    // Outside RAM: without paging an MMIO access to nothing; with paging, not mapped.
    assert_eq!(
        ended("protected", None, &far),
        "MMIO write of 4 byte(s) at unmapped address 0x40000000, at eip 0xa (cs 0x8) in --mode protected"
    );
    assert_eq!(ended("paged32", None, &far), "page fault writing 0x40000000 at rip 0x0 in ring 0");
}

#[test]
fn bad_mode_input_is_refused_before_any_guest_starts() {
    let dir = Scratch::new("modes-refused");
    let image = asm(&dir, "tiny", "0", ".code16\n.globl _start\n_start:\n\thlt\n");
    dir.write("big.bin", &[0xF4; 0x1000]);
    let elf = hv_tests::elf_guest("hello");
    let cwd = dir.path();
    let args = |extra: &[&str]| {
        let mut a = vec!["-m", "2", "-p", "4"];
        a.extend(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let refused = |extra: &[&str], what: &str| {
        let a = args(extra);
        assert_refused(cwd, &a.iter().map(String::as_str).collect::<Vec<_>>(), what);
    };
    refused(
        &["--mode", "virtual", "-g", s(&image)],
        "invalid mode 'virtual': use long, real, protected or paged32",
    );
    refused(&["--mode", "real", "--entry", "10000:0", "-g", s(&image)], "invalid entry '10000:0'");
    refused(
        &["--mode", "protected", "--entry", "1000:0000", "-g", s(&image)],
        "--entry 1000:0000 is for --mode real; --mode protected loads a flat image at 0",
    );
    refused(
        &["--entry", "0:7c00", "-g", s(&image)],
        "--entry 0000:7c00 is for --mode real; --mode long",
    );
    // Exactly up to 1 MiB fits (it runs below); one byte more does not.
    dir.write("big2.bin", &[0xF4; 0x1001]);
    refused(
        &["--mode", "real", "--entry", "ff00:0", "-g", "big2.bin"],
        "would end at 0x100001, past the first MiB (0x100000) that real mode addresses",
    );
    for mode in ["real", "protected", "paged32"] {
        refused(
            &["--mode", mode, "-g", s(&elf)],
            &format!(
                "it is an ELF image, which runs in --mode long only (hv's SDKs build 64-bit guests); --mode {mode} takes a flat binary"
            ),
        );
    }
    refused(
        &["--sched", "single", "--alternate", "--weights", "7,3", "-g", s(&image), s(&image)],
        "--alternate gives the guests one turn each in -g order, at every exit, and takes no --weights",
    );
    refused(
        &["--sched", "single", "--weights", "7,3", "--mode", "real", "-g", s(&image)],
        "2 weight(s) for 1 guest(s)",
    );
    if !kvm_or_skip("bad_mode_input_is_refused_before_any_guest_starts") {
        return;
    }
    // The boundary case that fits runs.
    let r = run_in(
        cwd,
        &args(&["--mode", "real", "--entry", "ff00:0", "-g", "big.bin"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        b"",
    );
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
}

/// hv's SDK guests are 64-bit: run in paged 32-bit mode, a flat SDK image's code gets as far as
/// its ABI announcement (its 64-bit store decodes as a 32-bit one there), and the host ends it
/// at its first exit, saying which mode to use.
#[test]
fn an_sdk_guest_announcing_its_abi_outside_long_mode_is_ended() {
    let hello = guest("hello");
    if !kvm_or_skip("an_sdk_guest_announcing_its_abi_outside_long_mode_is_ended") {
        return;
    }
    let r = hv_tests::run(&["-m", "2", "-p", "4", "--mode", "paged32", "-g", s(&hello)]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(1), ""), "{r:?}");
    assert_eq!(
        r.stderr.lines().last(),
        Some(
            format!(
                "guest 0 ({}): could not start: it announced hv ABI version {}, as 64-bit SDK guests do, but runs in --mode paged32: run it with --mode long (the default)",
                s(&hello),
                hv_core::ABI_VERSION
            )
            .as_str()
        ),
        "{r:?}"
    );
}

/// The README's "Seed 002 in every CPU mode" runs as written: each ```sh block (from a copy of
/// `tests/seeds/002`, with the test build's host) prints the ```text block after it, where a
/// `<...>` line stands for a number that changes from run to run.
#[test]
fn the_readme_runs_seed_002_in_every_mode_as_shown() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme.find("### Seed 002 in every CPU mode").expect("the README's section");
    let section = &readme[at..];
    let section = &section[..section.find("\n## ").unwrap()];
    let mut pairs = Vec::new();
    let mut rest = section;
    while let Some(start) = rest.find("```sh\n") {
        let (script, after) = rest[start + 6..].split_once("\n```\n").unwrap();
        let text = after.trim_start().strip_prefix("```text\n").expect("output after the commands");
        let (output, after) = text.split_once("\n```\n").unwrap();
        pairs.push((script.to_string(), output.to_string()));
        rest = after;
    }
    assert_eq!(pairs.len(), 4, "guest16, protected, paged32, the Matrix");
    let dir = Scratch::new("modes-readme");
    copy_seed("002", dir.path());
    let host = hv_tests::hv_host();
    if !kvm_or_skip("the_readme_runs_seed_002_in_every_mode_as_shown") {
        return;
    }
    for (script, shown) in &pairs {
        let script = script
            .lines()
            .filter(|l| *l != "cd tests/seeds/002")
            .map(|l| l.replace("../../../target/release/hv-host", s(&host)))
            .collect::<Vec<_>>()
            .join("\n");
        let out = Command::new("sh").current_dir(dir.path()).args(["-e", "-c", &script]).output();
        let out = out.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{script}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let got: Vec<&str> = stdout.lines().collect();
        let want: Vec<&str> = shown.lines().collect();
        assert_eq!(got.len(), want.len(), "{script}:\n{stdout}");
        for (g, w) in got.iter().zip(&want) {
            if w.starts_with('<') && w.ends_with('>') {
                assert!(g.parse::<u32>().is_ok(), "{script}: {g:?} for {w:?}");
            } else {
                assert_eq!(g, w, "{script}");
            }
        }
    }
}
