//! Hostile images: a small ELF file may describe far more than it holds (program headers that
//! all load the same megabytes, symbols that share one huge name), and its symbol names reach
//! the host's reports. What the host keeps of an image is bounded by guest RAM and by fixed
//! symbol limits, past which it refuses the image with exit status 2; names are escaped.
//! Regression tests for issue 21's items 1 and 6.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hv_core::layout::{MemSize, PageSize};
use hv_tests::elfgen::{BASE, Elf, FAULT_CODE, Load, Sym};
use hv_tests::{Scratch, kvm_or_skip, run_measured};

/// A run, shortened for a failure message (a report may carry megabytes of name).
fn short(r: &hv_tests::Run) -> String {
    let cut = |t: &str| t.chars().take(400).collect::<String>();
    format!("status {:?}, stderr {:?}, stdout {:?}", r.code, cut(&r.stderr), cut(&r.stdout))
}

/// Generous for a refusal or a faulting guest; a host that copied every segment or name
/// separately needs hundreds of megabytes for these images.
const BOUNDED_KIB: u64 = 96 * 1024;

/// `count` program headers that all load the same `len` bytes of the file at [`BASE`].
fn repeated_segments(count: usize, len: usize) -> Elf {
    let mut data = vec![0xF4; len];
    data[..FAULT_CODE.len()].copy_from_slice(&FAULT_CODE);
    let load = Load { addr: BASE, offset: 0, filesz: len as u64, memsz: len as u64 };
    Elf { loads: vec![load; count], ..Elf::with_code(data) }
}

#[test]
fn segments_that_load_the_same_bytes_again_are_refused_in_bounded_memory() {
    let dir = Scratch::new("images-repeated");
    // 200 headers over the same 4 MiB: each fits 8 MiB of RAM, all together 800 MiB.
    std::fs::write(dir.path().join("rep.elf"), repeated_segments(200, 4 << 20).bytes()).unwrap();
    let args = ["-m", "8", "-p", "4", "-g", "rep.elf"];
    let (r, peak) = run_measured(dir.path(), &args, b"", Duration::from_secs(60));
    assert_eq!(r.code, Some(2), "{}", short(&r));
    let reason = r.stderr.lines().next().unwrap();
    let max = hv_core::layout::Layout::new(MemSize::Mib8, PageSize::Kib4).max_image_size();
    let limit = format!("(overlapping or repeated segments); at most {max} fit in 8 MiB");
    assert!(
        reason.starts_with("hv-host: guest image rep.elf: its segments load ")
            && reason.contains(&limit),
        "{}",
        short(&r)
    );
    assert!(peak < BOUNDED_KIB, "peak RSS {peak} KiB");
    // The most headers `e_phnum` can count (65535 means "see section 0"), each loading 16
    // bytes: together they fit.
    std::fs::write(dir.path().join("many.elf"), repeated_segments(65534, 16).bytes()).unwrap();
    if !kvm_or_skip("segments_that_load_the_same_bytes_again_are_refused_in_bounded_memory") {
        return;
    }
    let args = ["-m", "8", "-p", "4", "-g", "many.elf"];
    let (r, peak) = run_measured(dir.path(), &args, b"", Duration::from_secs(60));
    assert_eq!(r.code, Some(1), "{}", short(&r));
    assert!(r.stderr.contains("page fault writing 0x40000000 at rip 0x1000"), "{}", short(&r));
    assert!(peak < BOUNDED_KIB, "peak RSS {peak} KiB");
}

/// An image whose `count` function symbols all share one name of `len` bytes.
fn shared_name(count: usize, len: usize) -> Elf {
    let mut elf = Elf::with_code(FAULT_CODE.to_vec());
    elf.strtab.extend(std::iter::repeat_n(b'f', len));
    elf.strtab.push(0);
    elf.symbols = (0..count as u64).map(|i| Sym { name: 1, addr: BASE + i, size: 1 }).collect();
    elf
}

#[test]
fn symbols_are_bounded_in_count_and_in_the_bytes_of_their_names() {
    let dir = Scratch::new("images-symbols");
    // 300 symbols sharing one 2 MiB name: 600 MiB of names if each were kept.
    std::fs::write(dir.path().join("names.elf"), shared_name(300, 2 << 20).bytes()).unwrap();
    let args = ["-m", "2", "-p", "4", "-g", "names.elf"];
    let (r, peak) = run_measured(dir.path(), &args, b"", Duration::from_secs(60));
    assert_eq!(r.code, Some(2), "{}", short(&r));
    assert_eq!(
        r.stderr.lines().next().unwrap_or_default(),
        format!(
            "hv-host: guest image names.elf: its function symbols' names take more than {} bytes together",
            hv_host::MAX_SYMBOL_BYTES
        )
    );
    assert!(peak < BOUNDED_KIB, "peak RSS {peak} KiB");
    // One symbol more than the limit, with one-byte names.
    let many = shared_name(hv_host::MAX_SYMBOLS + 1, 1);
    std::fs::write(dir.path().join("many.elf"), many.bytes()).unwrap();
    let args = ["-m", "2", "-p", "4", "-g", "many.elf"];
    let (r, _) = run_measured(dir.path(), &args, b"", Duration::from_secs(60));
    assert_eq!(r.code, Some(2), "{}", short(&r));
    let want = format!("more than {} function symbols", hv_host::MAX_SYMBOLS);
    assert!(r.stderr.lines().next().unwrap().ends_with(&want), "{}", short(&r));
    // At the limits, the image runs, and its fault is named.
    std::fs::write(dir.path().join("ok.elf"), shared_name(hv_host::MAX_SYMBOLS, 40).bytes())
        .unwrap();
    if !kvm_or_skip("symbols_are_bounded_in_count_and_in_the_bytes_of_their_names") {
        return;
    }
    let args = ["-m", "2", "-p", "4", "-g", "ok.elf"];
    let (r, _) = run_measured(dir.path(), &args, b"", Duration::from_secs(60));
    assert_eq!(r.code, Some(1), "{}", short(&r));
    let name = "f".repeat(40);
    assert!(r.stderr.contains(&format!("at rip 0x1000 ({name}+0x0)")), "{}", short(&r));
}

#[test]
fn a_symbol_name_cannot_rewrite_the_report_on_a_terminal() {
    if !kvm_or_skip("a_symbol_name_cannot_rewrite_the_report_on_a_terminal") {
        return;
    }
    let dir = Scratch::new("images-escape");
    // Erase the line, then forge a clean exit, in a bidi override, over a line separator.
    let forged = "\x1b[2K\rguest 0 (x): exited with status 0\u{202E}\u{2028}";
    let mut elf = Elf::with_code(FAULT_CODE.to_vec());
    elf.strtab.extend_from_slice(forged.as_bytes());
    elf.strtab.push(0);
    elf.symbols = vec![Sym { name: 1, addr: BASE, size: FAULT_CODE.len() as u64 }];
    std::fs::write(dir.path().join("forge.elf"), elf.bytes()).unwrap();
    let args = ["-m", "2", "-p", "4", "-g", "forge.elf"];
    let (r, _) = run_measured(dir.path(), &args, b"", Duration::from_secs(60));
    assert_eq!(r.code, Some(1), "{}", short(&r));
    assert_eq!(
        r.stderr,
        "guest 0 (forge.elf): page fault writing 0x40000000 at rip 0x1000 \
         (\\x1b[2K\\x0dguest 0 (x): exited with status 0\\u{202e}\\u{2028}+0x0)\n"
    );
}
