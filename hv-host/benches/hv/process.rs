//! Running and building the processes the benchmark measures: each command runs as a whole
//! process, timed from spawn to exit, its output kept; the C programs (the floor, the memory
//! probe) and the empty Rust program are built at bench time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::root;

/// One finished process: its wall time, peak RSS and output. The peak RSS is the process's own
/// only when it ran through the probe ([`peak_rss`]); from [`measure`] it includes the pages
/// it started with in the benchmark's address space.
pub struct Sample {
    pub wall: Duration,
    pub max_rss_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args` in `cwd` with `stdin`, discarding nothing, and measures it.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its peak RSS
pub fn measure(cwd: &Path, program: &Path, args: &[&str], stdin: &[u8]) -> Sample {
    let start = Instant::now();
    let mut child = Command::new(program)
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals above.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let wall = start.elapsed();
    feeder.join().unwrap();
    let stdout = reader.join().unwrap();
    let stderr = ereader.join().unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} {args:?} failed: {stderr}",
        program.display()
    );
    Sample { wall, max_rss_kib: usage.ru_maxrss as u64, stdout, stderr }
}

/// Runs `program args` in `cwd` with stdin from the file `stdin` (or nothing) and stdout to
/// `/dev/null`, and returns its wall time: for rows whose data is too big to hold twice.
pub fn measure_quiet(cwd: &Path, program: &Path, args: &[&str], stdin: Option<&Path>) -> f64 {
    let input = match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).expect("bench input")),
        None => Stdio::null(),
    };
    let start = Instant::now();
    let status = Command::new(program)
        .current_dir(cwd)
        .args(args)
        .stdin(input)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("spawn");
    let wall = start.elapsed().as_secs_f64();
    assert!(status.success(), "{} {args:?} failed", program.display());
    wall
}

/// Runs `program args` in `cwd` with stdin from the file `stdin` and checks its stdout as it
/// comes, piece by piece, against the file `expected`; returns its stderr. No copy of a large
/// output is held: the benchmark's own memory stays small.
pub fn stream_check(
    cwd: &Path,
    program: &Path,
    args: &[&str],
    stdin: &Path,
    expected: &Path,
) -> String {
    use std::io::Read;
    let mut child = Command::new(program)
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::from(std::fs::File::open(stdin).expect("bench input")))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = child.stderr.take().unwrap();
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut out = child.stdout.take().unwrap();
    let mut want = std::io::BufReader::new(std::fs::File::open(expected).unwrap());
    let (mut buf, mut wbuf) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut seen = 0usize;
    loop {
        let n = out.read(&mut buf).expect("read the output");
        if n == 0 {
            break;
        }
        want.read_exact(&mut wbuf[..n]).unwrap_or_else(|_| panic!("{args:?}: too much output"));
        assert!(buf[..n] == wbuf[..n], "{args:?}: wrong output after byte {seen}");
        seen += n;
    }
    assert_eq!(want.read(&mut wbuf).unwrap(), 0, "{args:?}: output short, {seen} bytes");
    let status = child.wait().expect("wait");
    let stderr = ereader.join().unwrap();
    assert!(status.success(), "{} {args:?} failed: {stderr}", program.display());
    stderr
}

/// Builds the C floor with the system's `cc` into the release directory: dynamically linked,
/// as C peers are, or (`static_link`) static, as hv-host is (see `linker/host-cc`).
pub fn build_floor(rel: &Path, static_link: bool) -> PathBuf {
    let src = root().join("hv-host/benches/floor.c");
    let out = rel.join(if static_link { "hv-floor-static" } else { "hv-floor" });
    let status = Command::new("cc")
        .args(["-O2", "-pthread"])
        .args(static_link.then_some("-static"))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run cc (the floor is C, built at bench time)");
    assert!(status.success(), "cc {} failed", src.display());
    out
}

/// Builds the empty Rust program (`benches/start.rs`) with `rustc -O`, panic=abort and
/// linked like the release host (static-pie, through `linker/host-cc`).
pub fn build_rust_start(rel: &Path) -> PathBuf {
    let src = root().join("hv-host/benches/start.rs");
    let out = rel.join("hv-start");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let linker = root().join("linker/host-cc");
    let status = Command::new(rustc)
        .current_dir(root())
        .args(["-O", "-C", "panic=abort", "-C", "link-arg=-hv-static", "-C"])
        .arg(format!("linker={}", linker.display()))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run rustc");
    assert!(status.success(), "rustc {} failed", src.display());
    out
}

/// Builds the memory probe (`benches/peak_rss.c`), static so that what it forks starts small.
pub fn build_peak_rss(rel: &Path) -> PathBuf {
    let src = root().join("hv-host/benches/peak_rss.c");
    let out = rel.join("hv-peak-rss");
    let status = Command::new("cc")
        .args(["-O2", "-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run cc (the memory probe is C, built at bench time)");
    assert!(status.success(), "cc {} failed", src.display());
    out
}

/// The peak RSS of `program args` run in `cwd`, in KiB, through the probe `peak_rss` (see
/// `peak_rss.c` for why not this process's own `wait4`): the process's own pages, not the
/// benchmark's. Its output is kept in the sample as `measure` keeps it.
pub fn peak_rss(probe: &Path, cwd: &Path, program: &Path, args: &[&str]) -> Sample {
    let figure = cwd.join(format!("peak-rss-{}", std::process::id()));
    let mut probe_args = vec![figure.to_str().unwrap(), program.to_str().unwrap()];
    probe_args.extend_from_slice(args);
    let mut sample = measure(cwd, probe, &probe_args, b"");
    let text = std::fs::read_to_string(&figure).expect("the probe's figure");
    sample.max_rss_kib = text.trim().parse().expect("a number of KiB");
    let _ = std::fs::remove_file(&figure);
    sample
}
