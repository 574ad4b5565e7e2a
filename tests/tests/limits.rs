//! Limits: the per-guest write quota, POSIX short writes, host errors as themselves, the name
//! length every guest ID can use, rate-limited warnings, lazy disk copies and one writable disk.
//! Regression tests for issue 11's items 7, 8, 9 and 11.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hv_tests::{Run, Scratch, assert_refused, guest, hv_host, kvm_or_skip, run, run_in, s};

fn fscript(cwd: &Path, args: &[&str], script: &str) -> Run {
    let g = guest("fscript");
    let mut argv = vec!["-m", "2", "-p", "4", "-g", s(&g)];
    argv.extend(args);
    run_in(cwd, &argv, script.as_bytes())
}

/// Runs `fscript` like [`fscript`], with `limit` set on the host process before it starts.
fn fscript_limited(
    cwd: &Path,
    resource: libc::__rlimit_resource_t,
    limit: u64,
    script: &str,
) -> Run {
    let g = guest("fscript");
    let mut cmd = Command::new(hv_host());
    cmd.current_dir(cwd)
        .args(["-m", "2", "-p", "4", "-g", s(&g)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit) are made.
    unsafe {
        cmd.pre_exec(move || {
            // Past RLIMIT_FSIZE the kernel sends SIGXFSZ; ignored (which survives exec), the
            // write fails with EFBIG instead, as a full disk would fail it with ENOSPC.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(resource, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    child.wait_with_output().unwrap().into()
}

fn lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[test]
fn the_quota_bounds_what_a_guest_writes() {
    if !kvm_or_skip("the_quota_bounds_what_a_guest_writes") {
        return;
    }
    let dir = Scratch::new("limits-quota");
    dir.write("disk.img", &[0; 4096]);
    // 64 KiB: 10 bytes, then 4 KiB calls until the quota; the crossing call is short and the
    // next one fails. A disk sector counts too.
    let r = fscript(
        dir.path(),
        &["--quota", "64K", "--disk", "disk.img"],
        "s\nW 0 1\no w a\np 0 123456789\nz 0 1000000 4096\np 0 x\nW 1 1\nx 0\n",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        lines(&r.stdout),
        [
            "s: size 4096, err ok",
            "W: ok",
            "o a: fd 0",
            "p: 10",
            "z: wrote 65014 in 17 calls, 1 short, stop EFBIG",
            "p: EFBIG",
            "W: EFBIG",
        ]
    );
    assert_eq!(dir.read("a.local0").len(), 65536 - 512);
    assert_eq!(dir.read("disk.img")[..512], [1; 512]);
    assert_eq!(dir.read("disk.img")[512..1024], [0; 512], "the refused sector was not written");
    let image = s(&guest("fscript")).to_string();
    assert_eq!(
        r.stderr,
        format!(
            "guest 0 ({image}): write quota of 65536 bytes used up; 3 write(s) refused with EFBIG\n"
        )
    );
}

#[test]
fn the_default_quota_is_one_gib_and_sizes_are_checked() {
    let r = run(&["--help"]);
    assert!(r.stdout.contains("--quota") && r.stdout.contains("default 1G"), "{}", r.stdout);
    assert_eq!(hv_host::DEFAULT_QUOTA, 1 << 30);
    let hello = guest("hello");
    for bad in ["", "1.5G", "10X", "-1", "99999999999T"] {
        assert_refused(
            &std::env::current_dir().unwrap(),
            &["-m", "2", "-p", "4", "-g", s(&hello), "--quota", bad],
            &format!("invalid quota '{bad}'"),
        );
    }
}

#[test]
fn a_host_error_part_way_returns_the_count_then_the_error() {
    if !kvm_or_skip("a_host_error_part_way_returns_the_count_then_the_error") {
        return;
    }
    let dir = Scratch::new("limits-fsize");
    // The host may write files of at most 100000 bytes: the write that crosses it is short,
    // the next fails with EFBIG, the host's own code. Each failure is a host warning: only the
    // first few are printed, the rest counted in the report.
    let mut script = String::from("o w big\nz 0 300000 65536\n");
    script.push_str(&"p 0 more\n".repeat(20));
    let r = fscript_limited(dir.path(), libc::RLIMIT_FSIZE, 100_000, &script);
    assert_eq!(r.code, Some(0), "{r:?}");
    let out = lines(&r.stdout);
    assert_eq!(out[..2], ["o big: fd 0", "z: wrote 100000 in 3 calls, 1 short, stop EFBIG"]);
    assert!(out[2..].iter().all(|l| *l == "p: EFBIG") && out.len() == 22, "{r:?}");
    assert_eq!(dir.read("big.local0").len(), 100_000);
    let warnings = r.stderr.lines().filter(|l| l.contains("WARN")).count();
    // Ten warnings, and the line saying the rest are counted.
    assert_eq!(warnings, 11, "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.ends_with("): 11 more warning(s) not printed")),
        "{}",
        r.stderr
    );
}

#[test]
fn host_fd_exhaustion_is_emfile() {
    if !kvm_or_skip("host_fd_exhaustion_is_emfile") {
        return;
    }
    let dir = Scratch::new("limits-nofile");
    dir.write("shared.txt", b"x");
    let g = guest("fscript");
    let mut cmd = Command::new(hv_host());
    cmd.current_dir(dir.path())
        .args(["-m", "2", "-p", "4", "-f", "shared.txt", "-g", s(&g)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let rl = libc::rlimit { rlim_cur: 20, rlim_max: 20 };
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            Ok(())
        })
    };
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"n 32 shared.txt\n").unwrap();
    let r: Run = child.wait_with_output().unwrap().into();
    assert_eq!(r.code, Some(0), "{r:?}");
    // The host ran out of descriptors before the guest's own limit of 32: EMFILE, not EIO.
    let line = r.stdout.trim_end();
    let opened: u32 = line.strip_prefix("n: ").unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(opened < 32 && line.ends_with("stop EMFILE"), "{r:?}");
}

#[test]
fn the_longest_name_works_for_every_guest() {
    if !kvm_or_skip("the_longest_name_works_for_every_guest") {
        return;
    }
    let dir = Scratch::new("limits-names");
    let (hello, g) = (guest("hello"), guest("fscript"));
    // fscript as guest 0, and as guest 10 (a two-digit suffix).
    for before in [0, 10] {
        let mut args = vec!["-m", "2", "-p", "4", "-g"];
        args.extend(std::iter::repeat_n(s(&hello), before));
        args.push(s(&g));
        let r = run_in(dir.path(), &args, b"O w 239\nO a 239\nO w 240\nO r 239\n");
        assert_eq!(r.code, Some(0), "{r:?}");
        let out: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('O')).collect();
        assert_eq!(out, ["O 239: fd 0", "O 239: fd 1", "O 240: ENAMETOOLONG", "O 239: fd 2"]);
        let host = format!("{}.local{before}", "n".repeat(239));
        assert!(dir.path().join(&host).exists(), "{host}");
    }
}

#[test]
fn one_writable_disk_serves_one_guest() {
    let dir = Scratch::new("limits-disk-one");
    dir.write("disk.img", &[0; 4096]);
    let (hello, h2) = (guest("hello"), guest("hello"));
    assert_refused(
        dir.path(),
        &["-m", "2", "-p", "4", "--disk", "disk.img", "-g", s(&hello), s(&h2)],
        "disk image disk.img is written in place, so only one guest may have it, not 2; give --disk-cow",
    );
}

#[test]
fn a_first_write_to_a_large_sparse_disk_is_one_sector() {
    if !kvm_or_skip("a_first_write_to_a_large_sparse_disk_is_one_sector") {
        return;
    }
    let dir = Scratch::new("limits-sparse");
    let image = std::fs::File::create(dir.path().join("big.img")).unwrap();
    image.set_len(2 << 30).unwrap();
    drop(image);
    let start = Instant::now();
    let r = fscript(
        dir.path(),
        &["--disk", "big.img", "--disk-cow", "--timeout", "10"],
        "s\nW 4000000 7\nR 4000000\nR 3\n",
    );
    let took = start.elapsed();
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(lines(&r.stdout), ["s: size 2147483648, err ok", "W: ok", "R: 7 ok", "R: 0 ok"]);
    // The copy of everything took 17 s here; a sector takes microseconds. Wide margin.
    assert!(took < Duration::from_secs(5), "{took:?}");
    let meta = std::fs::metadata(dir.path().join("big.img.cow0")).unwrap();
    assert_eq!(meta.len(), 2 << 30);
    assert!(meta.blocks() * 512 <= 1 << 20, "holes stay holes: {} bytes", meta.blocks() * 512);
}

#[test]
fn a_read_only_working_directory_is_erofs() {
    if !kvm_or_skip("a_read_only_working_directory_is_erofs") {
        return;
    }
    let dir = Scratch::new("limits-erofs");
    let mount = dir.path().join("ro");
    std::fs::create_dir(&mount).unwrap();
    let g = guest("fscript");
    // A read-only tmpfs as the working directory, in a user and mount namespace of its own
    // (no privileges needed, nothing mounted outside this one command).
    let script = format!(
        "mount -t tmpfs -o ro tmpfs '{0}' && cd '{0}' && exec '{1}' -m 2 -p 4 -g '{2}'",
        s(&mount),
        s(&hv_host()),
        s(&g)
    );
    let child = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("\n*** SKIPPED a_read_only_working_directory_is_erofs: no unshare ***\n");
        return;
    };
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"o w a\no a b\no r c\n").unwrap();
    let r: Run = child.wait_with_output().unwrap().into();
    if r.stderr.contains("unshare:") || r.stderr.contains("mount:") {
        eprintln!(
            "\n*** SKIPPED a_read_only_working_directory_is_erofs: {} ***\n",
            r.stderr.trim()
        );
        return;
    }
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(lines(&r.stdout), ["o a: EROFS", "o b: EROFS", "o c: ENOENT"]);
}
