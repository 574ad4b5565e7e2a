//! ELF images and what hv-host reads as an image: Rust examples built as ELF run exactly like
//! their flat builds, entered at `e_entry`; faults name the function when the image has a symbol
//! table; bad ELF files and anything that is not a regular file are refused before any guest
//! starts, without being read (a FIFO, `/dev/zero`).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use hv_tests::{
    Scratch, assert_refused, build_step, elf_guest, gcc_compile, guest, kvm_or_skip, run_in, s,
};

/// The entry point of an ELF64 file (`e_entry`, bytes 24..32).
fn e_entry(image: &Path) -> u64 {
    let bytes = std::fs::read(image).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is an ELF file", image.display());
    u64::from_le_bytes(bytes[24..32].try_into().unwrap())
}

#[test]
fn rust_examples_built_as_elf_run_like_flat_ones() {
    let scratch = Scratch::new("elf_like_flat");
    scratch.write("input.txt", b"one\ntwo\n");
    let cases: [(&str, &[u8]); 3] =
        [("hello", b""), ("iotraits", b"typed\n"), ("echo", b"echo me\n")];
    for (name, stdin) in cases {
        let (flat, elf) = (guest(name), elf_guest(name));
        // The ELF linker script leaves the first page out: a host entering at 0 would not
        // run these images at all.
        assert!(e_entry(&elf) >= 0x1000, "{name}: e_entry {:#x}", e_entry(&elf));
        if !kvm_or_skip("rust_examples_built_as_elf_run_like_flat_ones") {
            return;
        }
        for page in ["2", "4"] {
            let args = |image| ["-m", "2", "-p", page, "-f", "input.txt", "-g", image];
            let a = run_in(scratch.path(), &args(s(&flat)), stdin);
            let b = run_in(scratch.path(), &args(s(&elf)), stdin);
            assert_eq!(a.code, Some(0), "{name} flat: {a:?}");
            assert_eq!(b.code, Some(0), "{name} ELF: {b:?}");
            assert!(!a.stdout.is_empty());
            assert_eq!(a.stdout, b.stdout, "{name}: flat and ELF builds print the same");
        }
    }
}

#[test]
fn a_fault_in_an_elf_image_names_the_function() {
    let (flat, elf) = (guest("crash"), elf_guest("crash"));
    if !kvm_or_skip("a_fault_in_an_elf_image_names_the_function") {
        return;
    }
    let scratch = Scratch::new("elf_fault_symbol");
    let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", s(&elf)], b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stdout, "crashing in crash_here\n");
    let line = r.stderr.lines().next().unwrap();
    let (head, symbol) = line.split_once(" (crash::crash_here+0x").expect("a named function");
    assert!(head.contains("): page fault writing 0x40000000 at rip 0x"), "{line}");
    assert!(symbol.ends_with(')'), "{line}");
    // The offset is the rip's distance from the function's start.
    let rip = u64::from_str_radix(head.rsplit("0x").next().unwrap(), 16).unwrap();
    let offset = u64::from_str_radix(symbol.trim_end_matches(')'), 16).unwrap();
    assert!(offset < 0x40 && rip > offset, "{line}");
    // A flat image has no symbols: the report gives the rip alone.
    let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", s(&flat)], b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("page fault writing 0x40000000 at rip 0x"), "{r:?}");
    assert!(r.stderr.trim_end().ends_with(|c: char| c.is_ascii_hexdigit()), "{r:?}");
}

/// A C guest whose function `crash_here` writes outside RAM, and whose `.bss` is `bss` bytes.
fn c_crash_source(bss: usize) -> String {
    format!(
        r#"#include "hv_guest.h"
static char big[{bss}];
__attribute__((noinline)) void crash_here(volatile unsigned long *p) {{ *p = 1; }}
int main(void) {{
    big[sizeof big - 1] = 1;
    puts("C crash");
    crash_here((volatile unsigned long *)0x40000000);
    return big[0];
}}
"#
    )
}

/// Builds a C source as an ELF image with the README's gcc command and `ld -T linker/guest-elf.ld`.
fn build_c_elf(dir: &Path, name: &str, source: &str) -> std::path::PathBuf {
    let (c, o, elf) =
        (dir.join(format!("{name}.c")), dir.join(format!("{name}.o")), dir.join(name));
    std::fs::write(&c, source).unwrap();
    gcc_compile(&c, "-O2", &o);
    build_step("ld", &["-T", "linker/guest-elf.ld", s(&o), "-o", s(&elf)]);
    elf
}

#[test]
fn c_guests_link_as_elf_and_faults_name_the_function() {
    let scratch = Scratch::new("c_elf");
    let elf = build_c_elf(scratch.path(), "crash", &c_crash_source(16));
    if !kvm_or_skip("c_guests_link_as_elf_and_faults_name_the_function") {
        return;
    }
    let r = run_in(scratch.path(), &["-m", "2", "-p", "2", "-g", s(&elf)], b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stdout, "C crash\n");
    assert!(r.stderr.contains("page fault writing 0x40000000 at rip 0x"), "{r:?}");
    assert!(r.stderr.contains(" (crash_here+0x"), "{r:?}");
}

#[test]
fn elf_images_are_entered_at_e_entry() {
    // `.start` goes first in the image (linker/guest-elf.ld keeps it there for seed-style
    // guests), so this image begins with `trap`, and `_start` comes after it. A host that
    // entered at 0, or at the first segment, would slide through the zero page into `trap`.
    let source = r#"#include "hv_guest.h"
__attribute__((section(".start"), used)) void trap(void) { hv_panic("entered before e_entry"); }
int main(void) { puts("entered at e_entry"); return 0; }
"#;
    let scratch = Scratch::new("elf_entry");
    let elf = build_c_elf(scratch.path(), "entry", source);
    let entry = e_entry(&elf);
    assert!(entry > 0x1000, "e_entry {entry:#x} is past trap at 0x1000");
    if !kvm_or_skip("elf_images_are_entered_at_e_entry") {
        return;
    }
    let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", s(&elf)], b"");
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (Some(0), "entered at e_entry\n", "")
    );
}

#[test]
fn elf_segments_must_fit_below_the_stack() {
    let scratch = Scratch::new("elf_fit");
    // 3 MiB of .bss: too much for 2 MiB of RAM, fine in 8 MiB.
    let elf = build_c_elf(scratch.path(), "bigbss", &c_crash_source(3 << 20));
    assert_refused(
        scratch.path(),
        &["-m", "2", "-p", "4", "-g", s(&elf)],
        "does not fit below 0x1d8000",
    );
    if !kvm_or_skip("elf_segments_must_fit_below_the_stack") {
        return;
    }
    let r = run_in(scratch.path(), &["-m", "8", "-p", "4", "-g", s(&elf)], b"");
    assert_eq!(r.stdout, "C crash\n", "{r:?}");
}

#[test]
fn malformed_elf_files_are_refused() {
    let scratch = Scratch::new("elf_bad");
    let mut junk = b"\x7fELF".to_vec();
    junk.extend_from_slice(&[0xAA; 200]);
    scratch.write("junk.elf", &junk);
    assert_refused(
        scratch.path(),
        &["-m", "2", "-p", "4", "-g", "junk.elf"],
        "not a valid ELF64 file",
    );
    // A real ELF image cut short: its segments reach past the end of the file.
    let whole = std::fs::read(elf_guest("hello")).unwrap();
    scratch.write("cut.elf", &whole[..whole.len().min(0x1100)]);
    assert_refused(scratch.path(), &["-m", "2", "-p", "4", "-g", "cut.elf"], "guest image cut.elf");
}

#[test]
fn non_regular_images_are_refused_unread() {
    let scratch = Scratch::new("image_not_regular");
    let fifo = scratch.path().join("fifo");
    build_step("mkfifo", &[s(&fifo)]);
    // Without O_NONBLOCK the open alone would wait for a writer forever.
    assert_refused(
        scratch.path(),
        &["-m", "2", "-p", "4", "-g", "fifo"],
        "it is a FIFO, not a regular file",
    );
    // Read without limit, /dev/zero took gigabytes before failing.
    let start = std::time::Instant::now();
    assert_refused(
        scratch.path(),
        &["-m", "2", "-p", "4", "-g", "/dev/zero"],
        "it is a character device, not a regular file",
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    std::fs::create_dir(scratch.path().join("dir")).unwrap();
    assert_refused(scratch.path(), &["-m", "2", "-p", "4", "-g", "dir"], "it is a directory");
}

#[test]
fn oversized_flat_images_report_their_real_size() {
    let scratch = Scratch::new("image_bounded");
    // A sparse 1 GiB file: refused after reading at most the image limit (+1 byte).
    let big = std::fs::File::create(scratch.path().join("big.img")).unwrap();
    big.set_len(1 << 30).unwrap();
    assert_refused(
        scratch.path(),
        &["-m", "2", "-p", "4", "-g", "big.img"],
        "big.img is 1073741824 bytes; at most 1933312 fit in 2 MiB",
    );
}

#[test]
fn the_elf_linker_script_has_the_flat_scripts_size_limit() {
    // tests/c_header.rs ties guest.ld's limit to hv-core's largest image; this ties the ELF
    // script to guest.ld.
    let limit = |name: &str| {
        let script = std::fs::read_to_string(hv_tests::root().join("linker").join(name)).unwrap();
        let at = script.find("ASSERT(_end <= ").unwrap_or_else(|| panic!("{name} asserts _end"));
        script[at..].split([' ', ',']).nth(2).unwrap().to_string()
    };
    assert_eq!(limit("guest-elf.ld"), limit("guest.ld"));
    assert_eq!(limit("guest.ld"), "0x7D8000");
}
