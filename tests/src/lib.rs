//! Shared helpers for the end-to-end tests.
//!
//! The tests run the real `hv-host` binary on real guest images, built once per test process
//! with `cargo build --release` (so guests compute at full speed), and C guests built with the
//! exact `gcc`/`ld` commands the README gives users. On a machine where `/dev/kvm` cannot be
//! used, [`kvm_or_skip`] prints a loud SKIPPED line and the test returns early.
#![allow(clippy::unwrap_used)]

pub mod cheader;
pub mod elfgen;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Where the release build of the host and the guests lands.
pub fn release_dir() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("release")
}

/// Builds `hv-host` and every Rust example guest (release) once per test process.
fn build_all() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--release", "-p", "hv-host", "-p", "guest-examples"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --release failed");
        release_dir()
    })
}

/// The `hv-host` binary: the release build, or the one `HV_TEST_HOST` names (to run the
/// tests against another build, such as `main`'s, and see a regression test fail there).
pub fn hv_host() -> PathBuf {
    let built = build_all().join("hv-host");
    std::env::var_os("HV_TEST_HOST").map_or(built, PathBuf::from)
}

/// A Rust example guest's image, by bin name (`hello`, `memtest`, ...).
pub fn guest(name: &str) -> PathBuf {
    let path = build_all().join(name);
    assert!(path.exists(), "no guest image {}", path.display());
    path
}

/// The same Rust example guest built as an ELF image (`HV_GUEST_FORMAT=elf`, linked with
/// `linker/guest-elf.ld`), in its own target directory; all are built once per test process.
pub fn elf_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = release_dir().parent().unwrap().join("elf-guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .env("HV_GUEST_FORMAT", "elf")
            .env("CARGO_TARGET_DIR", &target)
            .args(["build", "--release", "-p", "guest-examples"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --release (ELF guests) failed");
        target.join("release")
    });
    let path = dir.join(name);
    assert!(path.exists(), "no ELF guest image {}", path.display());
    path
}

/// True if KVM is usable; otherwise prints a loud SKIPPED line for `test` and returns false.
pub fn kvm_or_skip(test: &str) -> bool {
    if hv_host::kvm_available() {
        return true;
    }
    eprintln!(
        "\n*** SKIPPED {test}: /dev/kvm cannot be opened on this machine; KVM tests did not run ***\n"
    );
    false
}

/// A scratch directory for one test, removed when dropped; hv-host runs with it as its
/// working directory so local files land there.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// A new empty directory named after the test.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hv-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes a file in it.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Reads a file in it.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a run of `hv-host` produced.
#[derive(Debug)]
pub struct Run {
    /// Exit status (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A running `hv-host`: its stdin fed by one thread, its stdout and stderr each drained by
/// another while it runs, so a guest that prints more than a pipe holds never stalls the host
/// on a full pipe the test only reads afterwards.
struct Piped {
    child: std::process::Child,
    feeder: std::thread::JoinHandle<()>,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

impl Piped {
    fn spawn(cwd: &Path, args: &[&str], stdin: &[u8]) -> Piped {
        let mut child = spawn_piped(cwd, args);
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        Piped { child, feeder, stdout, stderr }
    }

    /// Joins the three threads once the process has ended: (stdout, stderr).
    fn finish(self) -> (Vec<u8>, Vec<u8>) {
        self.feeder.join().unwrap();
        (self.stdout.join().unwrap(), self.stderr.join().unwrap())
    }
}

/// Starts `hv-host args` in `cwd` with its stdin, stdout and stderr all pipes, for a test that
/// drives them itself.
pub fn spawn_piped(cwd: &Path, args: &[&str]) -> std::process::Child {
    Command::new(hv_host())
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hv-host")
}

/// Runs `hv-host` with `args` in `cwd`, feeding `stdin`, and waits for it (at most 60 s).
pub fn run_in(cwd: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut piped = Piped::spawn(cwd, args, stdin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = piped.child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = piped.child.kill();
            panic!("hv-host {args:?} did not finish within 60 s (a hang)");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let (stdout, stderr) = piped.finish();
    Output { status, stdout, stderr }.into()
}

/// Runs `hv-host` like [`run_in`] (at most `limit`), and also returns its peak resident memory
/// in KiB, as the kernel accounted it for the finished process (`wait4`'s `ru_maxrss`).
pub fn run_measured(
    cwd: &Path,
    args: &[&str],
    stdin: &[u8],
    limit: std::time::Duration,
) -> (Run, u64) {
    // Reaped below by `wait4`, which also gives its resource usage.
    let mut piped = Piped::spawn(cwd, args, stdin);
    let child = &mut piped.child;
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let deadline = std::time::Instant::now() + limit;
    let mut status = 0;
    // SAFETY: rusage is plain old data, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: our own child; valid out-pointers. The child is reaped here, never by `child`.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("hv-host {args:?} did not finish within {limit:?} (a hang)");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let (stdout, stderr) = piped.finish();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let run = Run {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    (run, u64::try_from(usage.ru_maxrss).unwrap_or(0))
}

/// Lines `hv-host args` printed, each with the time it reached us, and the time it ended:
/// for tests that output comes out while a guest still runs. `stdin` is written, then closed.
/// Panics if hv-host fails.
pub fn timed_lines(
    args: &[&str],
    stdin: &[u8],
) -> (Vec<(String, std::time::Duration)>, std::time::Duration) {
    use std::io::BufRead;
    let start = std::time::Instant::now();
    let mut child = Command::new(hv_host())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn hv-host");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| (l.unwrap(), start.elapsed()))
        .collect();
    assert!(child.wait().unwrap().success(), "hv-host {args:?} failed");
    (lines, start.elapsed())
}

/// Runs `hv-host` with `args` in the current directory with empty stdin.
pub fn run(args: &[&str]) -> Run {
    run_in(&std::env::current_dir().unwrap(), args, b"")
}

/// Path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs a build command from the workspace root (the `-I` and `-T` paths are relative to it) and
/// fails the test with the tool's own output if it does not succeed.
pub fn build_step(program: &str, args: &[&str]) {
    build_in(&root(), program, args);
}

/// Runs `program args` in `dir`, failing the test with the tool's own output if it fails.
fn build_in(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs one build command line in `dir` (words split on whitespace, as the seeds' own
/// instructions write them), failing the test with the tool's output if it fails.
pub fn sh(dir: &Path, line: &str) {
    let mut words = line.split_whitespace();
    let program = words.next().expect("an empty command line");
    build_in(dir, program, &words.collect::<Vec<_>>());
}

/// Copies the seed guests' sources `tests/seeds/<seed>/*` into `dir`, to build them there with
/// the seed's own commands.
pub fn copy_seed(seed: &str, dir: &Path) {
    for entry in std::fs::read_dir(root().join("tests/seeds").join(seed)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
}

/// Compiles one C source at `opt` into `object` with exactly the `gcc` command the README gives
/// users (run from the workspace root, so `-I guest-sdk/include` resolves).
pub fn gcc_compile(src: &Path, opt: &str, object: &Path) {
    build_step(
        "gcc",
        &[
            "-m64",
            "-ffreestanding",
            "-fno-pic",
            "-nostdlib",
            "-fno-stack-protector",
            opt,
            "-I",
            "guest-sdk/include",
            "-c",
            s(src),
            "-o",
            s(object),
        ],
    );
}

/// Compiles each C source at `opt` with exactly the `gcc` command the README gives users, and
/// links them, in order, with its `ld` command into `<dir>/<name><opt>.img`.
pub fn build_c(sources: &[PathBuf], opt: &str, dir: &Path, name: &str) -> PathBuf {
    let mut objects = Vec::new();
    for src in sources {
        let stem = src.file_stem().unwrap().to_str().unwrap();
        let object = dir.join(format!("{name}-{stem}{opt}.o"));
        gcc_compile(src, opt, &object);
        objects.push(object);
    }
    let image = dir.join(format!("{name}{opt}.img"));
    let mut args = vec!["-T", "linker/guest.ld"];
    args.extend(objects.iter().map(|o| s(o)));
    args.extend(["-o", s(&image)]);
    build_step("ld", &args);
    image
}

/// Asserts that `hv-host args`, run in `cwd`, is refused before any guest starts: exit status
/// 2, nothing on stdout, and on stderr exactly a one-line reason containing `what` and the
/// usage hint.
pub fn assert_refused(cwd: &Path, args: &[&str], what: &str) {
    let r = run_in(cwd, args, b"");
    assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{args:?}: {r:?}");
    assert!(lines[0].starts_with("hv-host: ") && lines[0].contains(what), "{args:?}: {r:?}");
    assert!(lines[1].starts_with("Usage: hv-host -m 2|4|8 -p 2|4 -g IMAGE..."), "{r:?}");
    assert_eq!(r.stdout, "");
}
