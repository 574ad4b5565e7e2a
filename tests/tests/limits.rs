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

/// Runs `hv-host args` in `cwd` with `resource` limited to `soft` (and `hard`) before it starts,
/// and nothing else changed (SIGXFSZ keeps its default action: hv-host must handle it), feeding
/// `script`.
fn run_limited(
    cwd: &Path,
    args: &[&str],
    resource: libc::__rlimit_resource_t,
    (soft, hard): (u64, u64),
    script: &str,
) -> Run {
    let mut cmd = Command::new(hv_host());
    cmd.current_dir(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only setrlimit, which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: soft, rlim_max: hard };
            if libc::setrlimit(resource, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let mut child = cmd.spawn().unwrap();
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes());
    child.wait_with_output().unwrap().into()
}

/// Issue 21, item 2: under `ulimit -f`, a write past the limit is a short write and then EFBIG
/// in the guest that made it; the host (and every other guest) goes on. Before, SIGXFSZ
/// killed hv-host (status 153) and the other guests with it, unreported.
#[test]
fn a_host_file_size_limit_fails_one_write_not_the_host() {
    if !kvm_or_skip("a_host_file_size_limit_fails_one_write_not_the_host") {
        return;
    }
    let dir = Scratch::new("limits-sigxfsz");
    let (g, hello) = (guest("fscript"), guest("hello"));
    let limit = (200 * 1024, 200 * 1024);
    let args = ["-m", "2", "-p", "4", "--prefix", "-g", s(&g), s(&hello)];
    let r =
        run_limited(dir.path(), &args, libc::RLIMIT_FSIZE, limit, "o w big\nz 0 1048576 65536\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    let mut out = lines(&r.stdout);
    out.sort_unstable();
    assert_eq!(
        out,
        [
            "[0] o big: fd 0",
            "[0] z: wrote 204800 in 5 calls, 1 short, stop EFBIG",
            "[1] Hello from guest 1! 2 MiB of RAM, 4 KiB pages."
        ]
    );
    assert_eq!(dir.read("big.local0").len(), 204_800);
    // With --disk-cow, the guest's copy is made at the image's size: past the limit, the
    // guest's first sector write fails, and nothing else does.
    let image = std::fs::File::create(dir.path().join("big.img")).unwrap();
    image.set_len(1 << 20).unwrap();
    drop(image);
    let args = [
        "-m",
        "2",
        "-p",
        "4",
        "--prefix",
        "--disk",
        "big.img",
        "--disk-cow",
        "-g",
        s(&g),
        s(&hello),
    ];
    let r = run_limited(dir.path(), &args, libc::RLIMIT_FSIZE, limit, "s\nW 0 7\nR 0\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    let mut out = lines(&r.stdout);
    out.sort_unstable();
    assert_eq!(
        out,
        [
            "[0] R: 0 ok",
            "[0] W: EFBIG",
            "[0] s: size 1048576, err ok",
            "[1] Hello from guest 1! 2 MiB of RAM, 4 KiB pages."
        ]
    );
}

/// Issue 21, item 3: completing a `--disk-cow` copy writes on the guest's behalf, so it counts
/// against its quota: a quota that cannot cover it leaves the copy incomplete, the report says
/// so, and `--stats` shows what was written. Before, the completion wrote the whole image
/// whatever the quota, and `--stats` showed nothing.
#[test]
fn completing_a_disk_copy_counts_against_the_quota() {
    if !kvm_or_skip("completing_a_disk_copy_counts_against_the_quota") {
        return;
    }
    let dir = Scratch::new("limits-cow-quota");
    // 16 MiB of data (no holes): completing a copy means writing all of it.
    dir.write("big.img", &vec![0x5A; 16 << 20]);
    let args = ["--quota", "4K", "--stats", "--disk", "big.img", "--disk-cow"];
    let r = fscript(dir.path(), &args, "s\nW 0 7\nx 0\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(lines(&r.stdout), ["s: size 16777216, err ok", "W: ok"]);
    let image = s(&guest("fscript")).to_string();
    let note = format!(
        "guest 0 ({image}): disk copy left incomplete: big.img.cow0: completing it needs 16776704 bytes, and 3584 of the write quota of 4096 bytes are left"
    );
    assert!(r.stderr.lines().any(|l| l == note), "{}", r.stderr);
    // The stats row: 512 bytes written to the disk, in the last column before the image.
    let row = r.stderr.lines().find(|l| l.starts_with("0 ")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 2], "512", "{row}");
    let copy = std::fs::metadata(dir.path().join("big.img.cow0")).unwrap();
    assert_eq!(copy.len(), 16 << 20);
    assert!(copy.blocks() * 512 <= 64 << 10, "{} bytes written", copy.blocks() * 512);
    // With the quota for it, the copy is completed, and every byte shows.
    let r = fscript(dir.path(), &["--stats", "--disk", "big.img", "--disk-cow"], "s\nW 0 7\nx 0\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    let row = r.stderr.lines().find(|l| l.starts_with("0 ")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 2], (16u64 << 20).to_string(), "{row}");
    let copy = dir.read("big.img.cow0");
    assert_eq!(copy[..512], [7; 512]);
    assert!(copy[512..].iter().all(|&b| b == 0x5A));
}

/// Issue 21, item 5: the names a guest may create are capped, so neither the host's disk nor
/// its memory (a name kept per file) grows without bound. Before, a guest under `--quota 1K`
/// made ~100,000 empty files in 30 s.
#[test]
fn a_guest_creates_a_bounded_number_of_files() {
    if !kvm_or_skip("a_guest_creates_a_bounded_number_of_files") {
        return;
    }
    let dir = Scratch::new("limits-names-cap");
    let max = hv_host::MAX_CREATED_NAMES;
    let r = fscript(dir.path(), &["--quota", "1K"], &format!("m {} 200\no w 0\n", max + 10));
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(lines(&r.stdout), [format!("m: {max} created, stop EDQUOT"), "o 0: EDQUOT".into()]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), max);
    let image = s(&guest("fscript")).to_string();
    assert_eq!(
        r.stderr,
        format!(
            "guest 0 ({image}): created the most files a guest may ({max}); 2 more refused with EDQUOT\n"
        )
    );
    // Opening a name it made again, for writing too, creates nothing new.
    let name = format!("{:020}{}", 7, "n".repeat(180));
    let script = format!("m {max} 200\no w {name}\no a {name}\n");
    let r = fscript(dir.path(), &[], &script);
    assert_eq!(
        lines(&r.stdout),
        [
            format!("m: {max} created, stop ok"),
            format!("o {name}: fd 0"),
            format!("o {name}: fd 1")
        ]
    );
}

/// Issue 21, item 7: hv-host raises its soft limit on open files to the hard one, so that
/// guests are not refused for a soft limit the user never chose; a guest that still cannot
/// start for want of descriptors gets its own report line while the others run.
#[test]
fn guests_get_the_hard_limit_on_open_files() {
    if !kvm_or_skip("guests_get_the_hard_limit_on_open_files") {
        return;
    }
    let dir = Scratch::new("limits-nofile-raise");
    dir.write("shared.txt", b"x");
    let hello = guest("hello");
    // 40 guests need 80 descriptors for their VMs: a soft limit of 64, a hard one of 4096.
    let mut args = vec!["-m", "2", "-p", "4", "-g"];
    args.extend([s(&hello); 40]);
    let r = run_limited(dir.path(), &args, libc::RLIMIT_NOFILE, (64, 4096), "");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 40);
    // 30 guests that each hold 32 files at once (and their VMs: 34 descriptors each), under a
    // soft limit of 1024: every one gets all 32.
    let hog = guest("fdhog");
    let mut args = vec!["-m", "2", "-p", "4", "-f", "shared.txt", "-g"];
    args.extend([s(&hog); 30]);
    let mut cmd = Command::new(hv_host());
    cmd.current_dir(dir.path())
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let rl = libc::rlimit { rlim_cur: 1024, rlim_max: 4096 };
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            Ok(())
        })
    };
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(out) {
            if line.map(|l| tx.send(l)).is_err() {
                break;
            }
        }
    });
    // Every guest holds its files until its input ends, so all hold them at once; the input
    // ends once all have said how many they got (or after 30 s, if some never do).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < 30 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => got.push(line),
            Err(_) => break,
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    got.extend(rx.try_iter());
    assert_eq!(status.code(), Some(0));
    assert_eq!(got.len(), 30, "{got:?}");
    assert!(got.iter().all(|l| l == "fdhog: 32 opened, stop ok"), "{got:?}");
    // When the hard limit itself is too low, some guests cannot start: each says so, and the
    // others run.
    let mut args = vec!["-m", "2", "-p", "4", "-g"];
    args.extend([s(&hello); 30]);
    let r = run_limited(dir.path(), &args, libc::RLIMIT_NOFILE, (40, 40), "");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let refused = r.stderr.lines().filter(|l| l.contains("could not start: KVM_CREATE_")).count();
    let ran = r.stdout.lines().filter(|l| l.starts_with("Hello from guest ")).count();
    assert!(refused > 0 && ran > 0 && refused + ran == 30, "{refused} + {ran}: {r:?}");
    assert!(r.stderr.lines().all(|l| l.ends_with("Too many open files (os error 24)")), "{r:?}");
}
