//! What the hv page holds besides the mailbox: the console ring (SDK console output without
//! exits, drained by the host in order, while guests compute, in both scheduling modes, and
//! refused when a guest corrupts it) and the ABI announcement (checked with no exit of its own).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hv_tests::{Scratch, guest, kvm_or_skip, run_in, s};

/// Exits of guest 0, from the `--stats` table.
fn exits(stderr: &str) -> u64 {
    let row = stderr.lines().nth(1).unwrap();
    row.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn a_megabyte_of_putchar_is_byte_exact_with_one_exit_per_ring() {
    if !kvm_or_skip("a_megabyte_of_putchar_is_byte_exact_with_one_exit_per_ring") {
        return;
    }
    let dir = Scratch::new("ring-mb");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n";
    let want: Vec<u8> = line.iter().copied().cycle().take(1_000_000).collect();
    let conbench = guest("conbench");
    for sched in ["threads", "single"] {
        let args = ["-m", "2", "-p", "4", "--stats", "--sched", sched, "-g", s(&conbench)];
        // Not `run_in`, which reads the output only at the end: 1 MB would fill the pipe.
        let mut child = std::process::Command::new(hv_tests::hv_host())
            .current_dir(dir.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"p").unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(out.stdout == want, "not byte-exact ({sched})");
        // 1 000 000 bytes through a 4096-byte ring: 244 flushes, plus the ABI call, getchar,
        // exit, and the odd drain timer or time slice.
        let n = exits(&stderr);
        assert!((246..300).contains(&n), "{n} exits ({sched}): {stderr}");
    }
}

#[test]
fn ring_output_is_not_held_back_while_a_guest_computes() {
    if !kvm_or_skip("ring_output_is_not_held_back_while_a_guest_computes") {
        return;
    }
    for sched in ["threads", "single"] {
        let image = guest("printspin");
        let args = ["-m", "2", "-p", "4", "--sched", sched, "-g", s(&image)];
        let (lines, ended_at) = hv_tests::timed_lines(&args, b"r");
        assert_eq!(lines.len(), 11, "{lines:?}");
        // The ten lines sit in the ring with no exit after them: only the host's periodic drain
        // (threads) or the end of a time slice (single) can bring them out before the end.
        let (last, last_at) = &lines[9];
        assert_eq!(last, "printed byte by byte before a long computation: line 9");
        assert!(
            ended_at > *last_at + Duration::from_millis(300),
            "{sched}: line 9 after {last_at:?}, end after {ended_at:?}: output was held back"
        );
    }
}

#[test]
fn a_line_printed_before_any_exit_is_shown_while_the_guest_computes() {
    if !kvm_or_skip("a_line_printed_before_any_exit_is_shown_while_the_guest_computes") {
        return;
    }
    let (lines, ended_at) =
        hv_tests::timed_lines(&["-m", "2", "-p", "4", "-g", s(&guest("ringspin"))], b"");
    assert_eq!(lines.len(), 2, "{lines:?}");
    // The guest has made no exit when it prints: the periodic drain runs from the start.
    let (first, first_at) = &lines[0];
    assert_eq!(first, "printed before a long computation, with no exit yet");
    assert!(
        ended_at > *first_at + Duration::from_millis(300),
        "line after {first_at:?}, end after {ended_at:?}: output was held back"
    );
}

#[test]
fn a_corrupt_ring_ends_that_guest_only() {
    if !kvm_or_skip("a_corrupt_ring_ends_that_guest_only") {
        return;
    }
    let dir = Scratch::new("ring-bad");
    let (bad, hello) = (guest("badring"), guest("hello"));
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "-g", s(&bad), s(&hello)], b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(
        r.stderr,
        format!("guest 0 ({}): console ring: head 3 with tail 7 (a ring of 4096 bytes)\n", s(&bad))
    );
    // What it printed before corrupting its ring is out; nothing after.
    assert!(r.stdout.contains("before\n") && !r.stdout.contains("unreachable"), "{r:?}");
    assert!(r.stdout.contains("Hello from guest 1!"), "{r:?}");
}

/// A guest that announces `version` in its hv page (through the fixed alias), then makes one
/// hypercall (`HC_numExits`) and halts.
fn announcing(version: u8) -> Vec<u8> {
    use hv_core::layout::HV_ALIAS_BASE;
    use hv_core::proto::hv_page::ABI_ANNOUNCE_OFFSET;
    let word = u32::try_from(HV_ALIAS_BASE + ABI_ANNOUNCE_OFFSET).unwrap().to_le_bytes();
    let mut code = vec![0xB8]; // mov eax, the announcement's address
    code.extend(word);
    code.extend([0x48, 0xC7, 0x00, version, 0, 0, 0]); // mov qword [rax], version
    code.extend([0x66, 0xBA, 0x00, 0x05, 0xB0, 0x11, 0xEE]); // mov dx, 0x500; mov al, 0x11; out
    code.push(0xF4); // hlt
    code
}

#[test]
fn the_abi_announcement_is_checked_at_the_first_exit() {
    if !kvm_or_skip("the_abi_announcement_is_checked_at_the_first_exit") {
        return;
    }
    let dir = Scratch::new("abi");
    let old = dir.write("old.img", &announcing(2));
    let current = dir.write("current.img", &announcing(hv_core::ABI_VERSION as u8));
    let hello = guest("hello");
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "-g", s(&old), s(&current), s(&hello)], b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "guest 0 ({}): built for hv ABI version 2, but this host speaks version {}\n",
            s(&old),
            hv_core::ABI_VERSION
        )
    );
    // The SDK guest announces the same way, with no exit for it: hello makes one (its exit).
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&hello)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(exits(&r.stderr), 1, "{}", r.stderr);
    // The hypercall that announced it in ABI versions 1 and 2 is still refused when it differs.
    let mut code = vec![0x48, 0xC7, 0xC0, 2, 0, 0, 0]; // mov rax, 2
    code.extend([0x48, 0x89, 0x87, 0x00, 0x01, 0x00, 0x00]); // mov [rdi + 0x100], rax (args[0])
    code.extend([0x66, 0xBA, 0x00, 0x05, 0xB0, 0x02, 0xEE, 0xF4]); // out 0x500, ABI_VERSION; hlt
    let call = dir.write("call.img", &code);
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "-g", s(&call)], b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("built for hv ABI version 2, but this host speaks version"), "{r:?}");
}
