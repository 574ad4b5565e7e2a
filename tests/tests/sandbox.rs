//! The sandbox: no two roles (shared original, disk image, local file, disk copy) share a host
//! file, every file a guest writes is a fresh inode, and nothing the host opens can block it.
//! Regression tests for issue 11's items 1 to 4 and 6.
#![allow(clippy::unwrap_used)]

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use hv_tests::{Scratch, assert_refused, guest, kvm_or_skip, run_in, s, spawn_piped};

fn mkfifo(path: &Path) {
    let c = CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

/// Runs the `fscript` guest with `script` on stdin and `args` after its `-g`; returns the run.
fn fscript(cwd: &Path, args: &[&str], script: &str) -> hv_tests::Run {
    let g = guest("fscript");
    let mut argv = vec!["-m", "2", "-p", "4", "-g", s(&g)];
    argv.extend(args);
    run_in(cwd, &argv, script.as_bytes())
}

fn lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[test]
fn names_a_guest_could_create_are_refused_at_start() {
    let dir = Scratch::new("sandbox-reserved");
    for name in ["y.local0", "x.cow1", "d.img.local12", "plain.txt", "disk.img"] {
        dir.write(name, &[b'd'; 512]);
    }
    std::fs::hard_link(dir.path().join("disk.img"), dir.path().join("same.img")).unwrap();
    symlink("y.local0", dir.path().join("link.txt")).unwrap();
    let hello = guest("hello");
    let h = s(&hello);
    let base = ["-m", "2", "-p", "4", "-g", h];
    let with = |extra: &[&'static str]| [&base[..], extra].concat();
    let why = "is or leads to a name hv gives files it creates for guests";
    assert_refused(
        dir.path(),
        &with(&["-f", "y.local0"]),
        &format!("shared file \"y.local0\" {why}"),
    );
    assert_refused(dir.path(), &with(&["-f", "plain.txt", "x.cow1"]), "shared file \"x.cow1\"");
    assert_refused(
        dir.path(),
        &with(&["-f", "link.txt"]),
        &format!("shared file \"link.txt\" {why}"),
    );
    assert_refused(
        dir.path(),
        &with(&["--disk", "d.img.local12"]),
        &format!("disk image \"d.img.local12\" {why}"),
    );
    assert_refused(
        dir.path(),
        &with(&["--disk", "disk.img", "-f", "same.img"]),
        "disk image disk.img is the same file as shared file same.img",
    );
    // Nothing above was touched.
    for name in ["y.local0", "x.cow1", "d.img.local12", "disk.img"] {
        assert_eq!(dir.read(name), [b'd'; 512], "{name}");
    }
}

#[test]
fn a_shared_original_is_never_written_through_a_local_name() {
    if !kvm_or_skip("a_shared_original_is_never_written_through_a_local_name") {
        return;
    }
    let dir = Scratch::new("sandbox-hardlinked-original");
    dir.write("shared.txt", b"ORIGINAL\n");
    // The shared original is also guest 0's local name for "y" and, for "z", its copy.
    std::fs::hard_link(dir.path().join("shared.txt"), dir.path().join("y.local0")).unwrap();
    let r = fscript(
        dir.path(),
        &["-f", "shared.txt"],
        "o w y\np 0 guest data\no a z\np 1 more\no r shared.txt\nr 2\n",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        lines(&r.stdout),
        ["o y: fd 0", "p: 11", "o z: fd 1", "p: 5", "o shared.txt: fd 2", "r: \"ORIGINAL\\n\""]
    );
    assert_eq!(dir.read("shared.txt"), b"ORIGINAL\n");
    assert_eq!(dir.read("y.local0"), b"guest data\n");
}

#[test]
fn planted_links_are_never_written_through() {
    if !kvm_or_skip("planted_links_are_never_written_through") {
        return;
    }
    let dir = Scratch::new("sandbox-links");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"victim\n").unwrap();
    std::fs::hard_link(&victim, work.join("h.local0")).unwrap();
    std::fs::hard_link(&victim, work.join("g.local0")).unwrap();
    symlink(&victim, work.join("s.local0")).unwrap();
    let r = fscript(&work, &[], "o w h\np 0 x\no a g\np 1 y\no a s\np 2 z\no r g\nr 3\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        lines(&r.stdout),
        ["o h: fd 0", "p: 2", "o g: fd 1", "p: 2", "o s: fd 2", "p: 2", "o g: fd 3", "r: \"y\\n\""]
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim\n", "written through a link");
    for (name, want) in [("h.local0", "x\n"), ("g.local0", "y\n"), ("s.local0", "z\n")] {
        let meta = std::fs::symlink_metadata(work.join(name)).unwrap();
        assert!(meta.is_file(), "{name}");
        assert_eq!(std::fs::read(work.join(name)).unwrap(), want.as_bytes(), "{name}");
    }
}

#[test]
fn stale_local_files_are_invisible_in_every_mode() {
    if !kvm_or_skip("stale_local_files_are_invisible_in_every_mode") {
        return;
    }
    let dir = Scratch::new("sandbox-stale");
    dir.write("stale.local0", b"STALE\n");
    dir.write("old.local0", b"OLD\n");
    let r = fscript(dir.path(), &[], "o r old\no a stale\np 0 new\nc 0\no r stale\nr 0\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        lines(&r.stdout),
        ["o old: ENOENT", "o stale: fd 0", "p: 4", "c: ok", "o stale: fd 0", "r: \"new\\n\""]
    );
    assert_eq!(dir.read("stale.local0"), b"new\n");
}

#[test]
fn fifos_and_devices_are_refused_at_start_without_blocking() {
    let dir = Scratch::new("sandbox-fifo-start");
    mkfifo(&dir.path().join("fifo"));
    symlink("/dev/zero", dir.path().join("zero")).unwrap();
    std::fs::create_dir(dir.path().join("dir")).unwrap();
    let hello = guest("hello");
    let h = s(&hello);
    let start = Instant::now();
    for (opt, name) in [("-f", "fifo"), ("--disk", "fifo"), ("-f", "zero"), ("--disk", "zero")] {
        let what = if opt == "-f" { "cannot read shared file" } else { "cannot read disk image" };
        assert_refused(
            dir.path(),
            &["-m", "2", "-p", "4", "-g", h, opt, name],
            &format!("{what} {name}: not a regular file"),
        );
    }
    assert_refused(dir.path(), &["-m", "2", "-p", "4", "-g", h, "-f", "dir"], "shared file dir");
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
}

#[test]
fn a_fifo_at_a_local_name_never_blocks_the_guest() {
    if !kvm_or_skip("a_fifo_at_a_local_name_never_blocks_the_guest") {
        return;
    }
    let dir = Scratch::new("sandbox-fifo-guest");
    mkfifo(&dir.path().join("q.local0"));
    mkfifo(&dir.path().join("p.local0"));
    // The guest creates "q" (the FIFO is replaced), then the host's files change under it: its
    // own file becomes a FIFO. Every open of it is refused at once, and --timeout still works.
    let g = guest("fscript");
    let mut child =
        spawn_piped(dir.path(), &["-m", "2", "-p", "4", "--timeout", "20", "-g", s(&g)]);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"o r p\no a q\np 0 mine\nc 0\n").unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("c: ok") {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "guest output ended: {seen:?}");
        seen.push(line.trim_end().to_string());
    }
    assert_eq!(seen, ["o p: ENOENT", "o q: fd 0", "p: 5", "c: ok"]);
    assert!(std::fs::symlink_metadata(dir.path().join("q.local0")).unwrap().is_file());
    std::fs::remove_file(dir.path().join("q.local0")).unwrap();
    mkfifo(&dir.path().join("q.local0"));
    let start = Instant::now();
    stdin.write_all(b"o r q\no a q\no w q\np 0 fresh\nc 0\no r q\nr 0\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(start.elapsed() < Duration::from_secs(15), "took {:?}", start.elapsed());
    assert_eq!(status.code(), Some(0));
    // "r" and "a" need the file the guest made, which is gone: EACCES. "w" makes a new one.
    assert_eq!(
        lines(&rest),
        [
            "o q: EACCES",
            "o q: EACCES",
            "o q: fd 0",
            "p: 6",
            "c: ok",
            "o q: fd 0",
            "r: \"fresh\\n\""
        ]
    );
}

#[test]
fn a_local_file_named_like_the_disk_is_another_file() {
    if !kvm_or_skip("a_local_file_named_like_the_disk_is_another_file") {
        return;
    }
    let dir = Scratch::new("sandbox-disk-local");
    dir.write("disk.img", &[0; 4096]);
    let r = fscript(
        dir.path(),
        &["--disk", "disk.img", "--disk-cow"],
        "s\nW 0 65\no w disk.img\np 0 local data\nW 1 66\nc 0\no r disk.img\nr 0\nR 0\nR 1\nR 2\n",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        lines(&r.stdout),
        [
            "s: size 4096, err ok",
            "W: ok",
            "o disk.img: fd 0",
            "p: 11",
            "W: ok",
            "c: ok",
            "o disk.img: fd 0",
            "r: \"local data\\n\"",
            "R: 65 ok",
            "R: 66 ok",
            "R: 0 ok",
        ]
    );
    assert_eq!(dir.read("disk.img.local0"), b"local data\n");
    let copy = dir.read("disk.img.cow0");
    assert_eq!(copy.len(), 4096);
    assert!(copy[..512].iter().all(|&b| b == 65) && copy[512..1024].iter().all(|&b| b == 66));
    assert_eq!(dir.read("disk.img"), [0; 4096]);
}

/// Issue 21, item 8: a name that ends in `/` names a directory, never the file (`input.txt/`
/// is not `input.txt`), and a guest may not create host files whose names hold control,
/// bidirectional or invisible characters (the host's own directory listing would show them
/// raw): both are EINVAL.
#[test]
fn directory_names_and_names_with_control_characters_are_refused() {
    if !kvm_or_skip("directory_names_and_names_with_control_characters_are_refused") {
        return;
    }
    let dir = Scratch::new("sandbox-odd-names");
    dir.write("input.txt", b"input\n");
    let script = "o r input.txt/\no w input.txt/\no a input.txt/.\no w x\u{1b}[2J.txt\n\
                  o w a\rb\no w \u{202e}txt.exe\no w a\u{2028}b\no w caf\u{e9}.txt\no r input.txt\n";
    let r = fscript(dir.path(), &["-f", "input.txt"], script);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        lines(&r.stdout),
        [
            "o input.txt/: EINVAL",
            "o input.txt/: EINVAL",
            "o input.txt/.: EINVAL",
            "o x\u{1b}[2J.txt: EINVAL",
            "o a\rb: EINVAL",
            "o \u{202e}txt.exe: EINVAL",
            "o a\u{2028}b: EINVAL",
            "o caf\u{e9}.txt: fd 0",
            "o input.txt: fd 1",
        ]
    );
    let mut made: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    made.sort_unstable();
    assert_eq!(made, ["caf\u{e9}.txt.local0", "input.txt"]);
    // The shared original was not written through `input.txt/`.
    assert_eq!(dir.read("input.txt"), b"input\n");
}
