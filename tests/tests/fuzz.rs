//! The protocol fuzzer: guests that make thousands of random calls (random mailbox contents,
//! opcodes, device registers, port accesses) from fixed seeds, in several configurations. The
//! host never panics, nothing is touched outside the working directory, and every guest ends
//! with a report: it finished, or the host says why it stopped it. And the image fuzzer:
//! mutated ELF images, refused or run, never a panic, a hang or unbounded host memory.
#![allow(clippy::unwrap_used)]

use hv_tests::{Scratch, guest, kvm_or_skip, run_in, s};

const GUESTS: usize = 8;

fn fuzz(test: &str, config: &[&str]) {
    let dir = Scratch::new(test);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(dir.path().join("outside"), b"outside\n").unwrap();
    std::fs::write(work.join("disk.img"), [0u8; 8192]).unwrap();
    let fuzz = guest("fuzz");
    // A guest that corrupts its own code may spin: the timeout stops it, and says so.
    let mut args = vec!["--quota", "1M", "--timeout", "3", "--stats", "--prefix"];
    args.extend(config);
    args.push("-g");
    args.extend(std::iter::repeat_n(s(&fuzz), GUESTS));
    let r = run_in(&work, &args, b"");
    assert!(matches!(r.code, Some(0 | 1)), "{config:?}: {r:?}");
    let host_panic = r.stderr.lines().any(|l| l.starts_with("thread '") && l.contains("panicked"));
    assert!(!host_panic, "{config:?}: the host panicked: {}", r.stderr);
    let mut finished = 0;
    for id in 0..GUESTS {
        assert!(r.stderr.contains(&format!("guest {id} exits by kind: ")), "{config:?} {id}");
        // The guest's seed (see guest-examples/src/bin/fuzz.rs); its last line may follow
        // random bytes it printed without a newline.
        let seed = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let done = r.stdout.contains(&format!("fuzz: seed {seed:#x}, 3000 calls\n"));
        let stopped = r.stderr.lines().any(|l| l.starts_with(&format!("guest {id} (")));
        assert!(done || stopped, "{config:?}: guest {id} has no report: {}", r.stderr);
        finished += usize::from(done);
    }
    eprintln!("fuzz {config:?}: {finished} of {GUESTS} guests made all their calls");
    assert_eq!(std::fs::read(dir.path().join("outside")).unwrap(), b"outside\n");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 2, "nothing created beside the working directory");
}

#[test]
fn random_calls_never_break_the_host() {
    if !kvm_or_skip("random_calls_never_break_the_host") {
        return;
    }
    fuzz("fuzz-ports", &["-m", "2", "-p", "4"]);
    fuzz("fuzz-mmio", &["-m", "4", "-p", "2", "--mmio", "--sched", "single"]);
    fuzz("fuzz-disk", &["-m", "2", "-p", "4", "--disk", "disk.img", "--disk-cow"]);
}

/// A small deterministic generator (xorshift64*), so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of an ELF image, aimed at what the host parses: the headers, the program
/// header table, the symbol table; or a cut.
fn mutate(image: &mut Vec<u8>, rng: &mut Rng) {
    let len = image.len();
    if len < 64 {
        // Already cut short of an ELF header: a byte more or less.
        let at = rng.below(len);
        image[at] ^= 0x55;
        return;
    }
    let u16_at = |img: &[u8], at: usize| usize::from(u16::from_le_bytes([img[at], img[at + 1]]));
    let phoff = u64::from_le_bytes(image[32..40].try_into().unwrap()) as usize;
    let phnum = u16_at(image, 56);
    let interesting =
        [0, 1, 0x1000, 0x7FFF_FFFF, 0xFFFF_FFFF, u64::MAX, len as u64, (len / 2) as u64];
    match rng.below(7) {
        // A byte of the first pages flipped.
        0 => {
            let at = rng.below(len.min(8192));
            image[at] ^= 1 + (rng.next() % 255) as u8;
        }
        // A header field (ELF header or a program header) set to an edge value.
        1 | 2 => {
            let table = phoff.saturating_add(56 * phnum).min(len);
            let at = rng.below(table.max(64)) & !7;
            let value = interesting[rng.below(interesting.len())];
            let width = [2, 4, 8][rng.below(3)];
            if at + width <= len {
                image[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
            }
        }
        // Every program header loads all of the file at the same place.
        3 => {
            for i in 0..phnum {
                let h = phoff.saturating_add(56 * i);
                if h.saturating_add(56) <= len && rng.below(2) == 0 {
                    image[h + 8..h + 16].copy_from_slice(&0u64.to_le_bytes());
                    image[h + 32..h + 40].copy_from_slice(&(len as u64).to_le_bytes());
                    image[h + 40..h + 48].copy_from_slice(&(len as u64).to_le_bytes());
                }
            }
        }
        // More program headers than the file holds, or as many as it can.
        4 => {
            let n = [0xFFFF, 0xFFFE, (len - phoff.min(len)) / 56, rng.below(0x10000)][rng.below(4)];
            image[56..58].copy_from_slice(&(n as u16).to_le_bytes());
        }
        // A word anywhere in the file (symbol and string tables, section headers).
        5 => {
            let at = rng.below(len.saturating_sub(8)) & !3;
            let value = interesting[rng.below(interesting.len())];
            image[at..at + 4].copy_from_slice(&value.to_le_bytes()[..4]);
        }
        // Cut short.
        _ => image.truncate(rng.below(len).max(1)),
    }
}

/// Issue 21: a few hundred mutants of real and hand-made ELF images (seeded, so every run is
/// the same), each run on its own: the host refuses or runs each, never panics or hangs, and
/// its peak memory (the kernel's account of the finished process) stays bounded whatever the
/// image describes.
#[test]
fn mutated_elf_images_never_break_the_host_and_cost_bounded_memory() {
    use hv_tests::elfgen::{BASE, Elf, FAULT_CODE, Load, Sym};
    const MUTANTS: usize = 300;
    // A host that copies every segment or symbol name separately can be made to use gigabytes
    // by a small file; the bound is the host's own few MiB, guest RAM, and the file.
    const BOUNDED_KIB: u64 = 64 * 1024;
    let hello = hv_tests::elf_guest("hello");
    let mut code = vec![0x90; 4096];
    code[4096 - FAULT_CODE.len()..].copy_from_slice(&FAULT_CODE);
    let mut handmade = Elf::with_code(code);
    handmade.loads = vec![Load { addr: BASE, offset: 0, filesz: 4096, memsz: 8192 }; 8];
    handmade.strtab.extend_from_slice(b"one\0two\0");
    handmade.symbols = (0..64)
        .map(|i| Sym { name: 1 + 4 * (i % 2), addr: BASE + i as u64 * 64, size: 64 })
        .collect();
    // Many program headers, each loading a little: one mutation away from each loading the
    // whole file.
    let mut wide = Elf::with_code(FAULT_CODE.to_vec());
    wide.loads = vec![Load { addr: BASE, offset: 0, filesz: 12, memsz: 12 }; 2048];
    let bases = [std::fs::read(&hello).unwrap(), handmade.bytes(), wide.bytes()];
    if !kvm_or_skip("mutated_elf_images_never_break_the_host_and_cost_bounded_memory") {
        return;
    }
    let dir = Scratch::new("fuzz-elf");
    let worst = std::sync::Mutex::new((0u64, 0usize));
    let outcomes = std::sync::Mutex::new([0usize; 3]);
    // Two at a time: the machine has two cores.
    std::thread::scope(|scope| {
        for half in 0..2 {
            let (dir, bases, worst, outcomes) = (&dir, &bases, &worst, &outcomes);
            scope.spawn(move || {
                for i in (half..MUTANTS).step_by(2) {
                    let mut rng =
                        Rng(0x9E37_79B9_7F4A_7C15
                            ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9ABC_DEF1));
                    let mut image = bases[i % bases.len()].clone();
                    for _ in 0..=rng.below(4) {
                        mutate(&mut image, &mut rng);
                    }
                    let name = format!("m{i}.elf");
                    std::fs::write(dir.path().join(&name), &image).unwrap();
                    let args = ["-m", "2", "-p", "4", "--timeout", "1", "-g", &name];
                    let limit = std::time::Duration::from_secs(30);
                    let (r, peak) = hv_tests::run_measured(dir.path(), &args, b"", limit);
                    let code = r.code.unwrap_or(-1);
                    assert!(matches!(code, 0..=2), "mutant {i}: {r:?}");
                    assert!(!r.stderr.contains("panicked at"), "mutant {i}: {r:?}");
                    assert!(peak < BOUNDED_KIB, "mutant {i}: peak RSS {peak} KiB: {r:?}");
                    outcomes.lock().unwrap()[code as usize] += 1;
                    let mut w = worst.lock().unwrap();
                    if peak > w.0 {
                        *w = (peak, i);
                    }
                    std::fs::remove_file(dir.path().join(&name)).unwrap();
                }
            });
        }
    });
    let (peak, i) = *worst.lock().unwrap();
    let [ok, failed, refused] = *outcomes.lock().unwrap();
    eprintln!(
        "{MUTANTS} ELF mutants: {ok} ran to status 0, {failed} ran and failed, {refused} refused; highest peak RSS {peak} KiB (mutant {i})"
    );
}
