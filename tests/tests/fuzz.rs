//! The protocol fuzzer: guests that make thousands of random calls (random mailbox contents,
//! opcodes, device registers, port accesses) from fixed seeds, in several configurations. The
//! host never panics, nothing is touched outside the working directory, and every guest ends
//! with a report: it finished, or the host says why it stopped it.
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
