//! The file service: sandbox, local and shared files, copy on write, hostile calls.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;

use hv_tests::{Scratch, guest, kvm_or_skip, run_in, s};

#[test]
fn hostile_file_calls_get_clear_errors() {
    if !kvm_or_skip("hostile_file_calls_get_clear_errors") {
        return;
    }
    let dir = Scratch::new("filecheck");
    let work = dir.path().join("work");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(work.join("shared.txt"), b"ORIGINAL\n").unwrap();
    std::fs::write(work.join("shared2.txt"), b"SECOND ORIGINAL\n").unwrap();
    std::fs::write(work.join("secret.txt"), b"not shared\n").unwrap();
    std::fs::write(work.join("stale.txt.local0"), b"STALE\n").unwrap();
    std::fs::write(outside.join("victim"), b"victim\n").unwrap();
    symlink(outside.join("victim"), work.join("link.txt.local0")).unwrap();
    symlink(&outside, work.join("dirlink")).unwrap();

    let (filecheck, cat) = (guest("filecheck"), guest("cat"));
    let r = run_in(
        &work,
        &["-m", "2", "-p", "4", "-g", s(&filecheck), s(&cat), "-f", "shared.txt", "./shared2.txt"],
        b"",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let checks: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("check ")).collect();
    let want = [
        "check unshared secret: ENOENT",
        "check missing: ENOENT",
        "check dotdot: EINVAL",
        "check absolute: EINVAL",
        "check empty name: EINVAL",
        "check nul in name: EINVAL",
        "check long name: ENAMETOOLONG",
        "check bad mode: EINVAL",
        "check name outside memory: EFAULT",
        "check name across end: EFAULT",
        "check name length overflow: ENAMETOOLONG",
        "check unknown opcode: ENOSYS",
        "check read bad fd: EBADF",
        "check read negative fd: EBADF",
        "check close never opened: EBADF",
        "check read a write fd: EBADF",
        "check write past end of memory: EFAULT",
        "check write length overflow: EFAULT",
        "check write into reserved region: EFAULT",
        "check write: ok",
        "check close: ok",
        "check double close: EBADF",
        "check write a read fd: EBADF",
        "check read into reserved region: EFAULT",
        "check read back: written by filecheck",
        "check write own copy: ok",
        "check read invalidated fd: EBADF",
        "check close invalidated fd: EBADF",
        "check own copy reads: \"ORIGINAL\\nMORE\\n\"",
        "check truncate own copy: ok",
        "check truncated copy reads: \"NEW\\n\"",
        "check stale local invisible: ENOENT",
        "check stale local overwritten: ok",
        "check symlinked local: ok",
        "check symlinked directory: EACCES",
        "check too many open files: EMFILE",
        "check works after all that: ok",
    ];
    assert_eq!(checks, want, "{r:?}");
    // The other guest still sees the original.
    assert!(r.stdout.contains("ORIGINAL\n"), "{r:?}");
    let read = |p: &str| std::fs::read(work.join(p)).unwrap();
    // Shared originals never change; copies are the guest's own.
    assert_eq!(read("shared.txt"), b"ORIGINAL\n");
    assert_eq!(read("shared2.txt"), b"SECOND ORIGINAL\n");
    assert_eq!(read("shared.txt.local0"), b"ORIGINAL\nMORE\n");
    assert_eq!(read("shared2.txt.local0"), b"NEW\n");
    assert_eq!(read("out.txt.local0"), b"written by filecheck\n");
    assert_eq!(read("stale.txt.local0"), b"fresh\n");
    assert_eq!(read("final.txt.local0"), b"ok\n");
    // The planted symlink was replaced; the write never reached its target.
    assert!(std::fs::symlink_metadata(work.join("link.txt.local0")).unwrap().is_file());
    assert_eq!(read("link.txt.local0"), b"not through the link\n");
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"victim\n");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "nothing created outside");
    // Guest 1 only read.
    assert!(!work.join("shared.txt.local1").exists());
}

#[test]
fn eight_guests_copy_files_at_once() {
    if !kvm_or_skip("eight_guests_copy_files_at_once") {
        return;
    }
    let dir = Scratch::new("files8");
    let text: Vec<u8> =
        (0..200_000u32).map(|i| b"abcdefghij klmnop\n"[(i % 18) as usize]).collect();
    dir.write("input.txt", &text);
    let files = guest("files");
    let mut args = vec!["-m", "2", "-p", "2", "-f", "input.txt", "-g"];
    args.extend(std::iter::repeat_n(s(&files), 8));
    let r = run_in(dir.path(), &args, b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let upper = text.to_ascii_uppercase();
    for id in 0..8 {
        assert!(r.stdout.contains(&format!("guest {id}: copied 200000 bytes\n")), "{r:?}");
        assert_eq!(dir.read(&format!("output.txt.local{id}")), upper, "guest {id}");
    }
    assert_eq!(dir.read("input.txt"), text, "the shared original is unchanged");
}

#[test]
fn a_faulting_guest_loses_no_written_data() {
    if !kvm_or_skip("a_faulting_guest_loses_no_written_data") {
        return;
    }
    let dir = Scratch::new("writefault");
    let r = run_in(dir.path(), &["-m", "2", "-p", "4", "-g", s(&guest("writefault"))], b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("page fault writing 0x40000000"), "{r:?}");
    assert_eq!(dir.read("partial.txt.local0"), b"every byte written before the fault is kept\n");
}

#[test]
fn megabytes_round_trip_through_files() {
    if !kvm_or_skip("megabytes_round_trip_through_files") {
        return;
    }
    let dir = Scratch::new("filebench");
    let r = run_in(dir.path(), &["-m", "4", "-p", "4", "-g", s(&guest("filebench"))], b"3\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "filebench: wrote and read back 3 MiB\n");
    let data = dir.read("bench.dat.local0");
    assert_eq!(data.len(), 3 << 20);
    assert!(data[..1 << 20].iter().all(|&b| b == 0) && data[2 << 20..].iter().all(|&b| b == 2));
}
