//! Helpers of the gdb tests: building guests with debug info, running hv-host with `--gdb`,
//! running gdb in batch mode, and reading what they print.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hv_tests::{build_step, kvm_or_skip, root, s, spawn_piped};

/// True if KVM and gdb are both there; otherwise a loud SKIPPED line.
pub fn ready(test: &str) -> bool {
    if !kvm_or_skip(test) {
        return false;
    }
    let gdb = Command::new("gdb").arg("--version").output();
    if gdb.is_ok_and(|o| o.status.success()) {
        return true;
    }
    eprintln!(
        "\n*** SKIPPED {test}: gdb is not installed (.ci/run installs it); gdb tests did not run ***\n"
    );
    false
}

/// A Rust example guest built as an ELF image with debug info, as the README's recipe builds
/// it (`HV_GUEST_FORMAT=elf`, the dev profile), in `target/elf-guests/debug/`.
pub fn rust_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = hv_tests::release_dir().parent().unwrap().join("elf-guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .env("HV_GUEST_FORMAT", "elf")
            .env("CARGO_TARGET_DIR", &target)
            .args(["build", "-p", "guest-examples"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build (ELF guests with debug info) failed");
        target.join("debug")
    });
    dir.join(name)
}

/// A C guest built with the README's recipe: its gcc command with `-g -O0`, and
/// `ld -T linker/guest-elf.ld`.
pub fn c_guest(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let object = dir.join(format!("{name}.o"));
    let image = dir.join(format!("{name}.elf"));
    build_step(
        "gcc",
        &[
            "-m64",
            "-ffreestanding",
            "-fno-pic",
            "-nostdlib",
            "-fno-stack-protector",
            "-g",
            "-O0",
            "-I",
            "guest-sdk/include",
            "-c",
            s(src),
            "-o",
            s(&object),
        ],
    );
    build_step("ld", &["-T", "linker/guest-elf.ld", s(&object), "-o", s(&image)]);
    image
}

/// The C example guest `guest-examples/c/gdbdemo.c`, built once into `dir`.
pub fn c_demo(dir: &Path) -> PathBuf {
    // Relative to the workspace root, where the build runs, as the README writes it: gdb
    // shows source paths as the compiler was given them.
    c_guest(Path::new("guest-examples/c/gdbdemo.c"), dir, "gdbdemo")
}

/// A running hv-host whose guest waits for gdb.
pub struct Host {
    child: Child,
    /// What gdb's `target remote` takes.
    pub address: String,
    stdout: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

/// Runs `hv-host args` in `cwd` with `stdin`, and waits for its line naming where gdb
/// connects.
pub fn start(cwd: &Path, args: &[&str], stdin: &[u8]) -> Host {
    let (host, mut input) = start_piped(cwd, args);
    input.write_all(stdin).unwrap();
    host
}

/// As [`start`], with hv-host's stdin left open for the test to write (or close).
pub fn start_piped(cwd: &Path, args: &[&str]) -> (Host, std::process::ChildStdin) {
    let mut child = spawn_piped(cwd, args);
    let input = child.stdin.take().unwrap();
    let (tx, stdout) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let address = first
        .trim_end()
        .split_once("waits for gdb: target remote ")
        .map(|(_, a)| a.to_string())
        .unwrap_or_else(|| panic!("hv-host did not say where gdb connects: {first:?}"));
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        first + &rest
    });
    (Host { child, address, stdout, stderr }, input)
}

impl Host {
    /// Waits for a line of the guest's output that contains `text`, at most 30 s.
    pub fn wait_for_line(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no output line with {text:?}: {e}"),
            }
        }
    }

    /// Waits for hv-host to end (at most 60 s): its status, the rest of its output, its stderr.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hv-host did not end within 60 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout: Vec<String> = self.stdout.iter().collect();
        (status.code(), stdout.join("\n"), self.stderr.join().unwrap())
    }
}

/// Runs gdb in batch mode on `image`, connected to `address`, with `commands`; returns what it
/// printed (stdout and stderr).
pub fn gdb(image: &Path, address: &str, commands: &[&str]) -> String {
    let child = gdb_spawn(image, address, commands);
    gdb_output(child)
}

pub fn gdb_spawn(image: &Path, address: &str, commands: &[&str]) -> Child {
    gdb_spawn_on(Some(image), address, commands)
}

/// As [`gdb`], with no executable file: gdb has only what the stub tells it.
pub fn gdb_without_file(address: &str, commands: &[&str]) -> String {
    gdb_output(gdb_spawn_on(None, address, commands))
}

fn gdb_spawn_on(image: Option<&Path>, address: &str, commands: &[&str]) -> Child {
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx", "-ex", "set width 0", "-ex"])
        .arg(format!("target remote {address}"));
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd.args(image).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("spawn gdb")
}

pub fn gdb_output(mut child: Child) -> String {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        let mut e = String::new();
        let _ = err.read_to_string(&mut e);
        text + &e
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gdb did not end within 60 s: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    reader.join().unwrap()
}

/// Asserts that `text` contains each of `parts`, in this order.
pub fn assert_in_order(text: &str, parts: &[&str]) {
    let mut rest = text;
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => panic!("{part:?} missing (or out of order) in:\n{text}"),
        }
    }
}

/// The line of `file` (from the workspace root) that contains `text`, 1-based.
pub fn line_of(file: &str, text: &str) -> usize {
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    source.lines().position(|l| l.contains(text)).unwrap() + 1
}

/// The values gdb printed for `info registers rip`, in order.
pub fn rips(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("rip"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .collect()
}

/// Sends one packet the way gdb frames it (`$data#checksum`).
pub fn packet(data: &[u8]) -> Vec<u8> {
    let sum = data.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    let mut p = vec![b'$'];
    p.extend_from_slice(data);
    p.extend_from_slice(format!("#{sum:02x}").as_bytes());
    p
}

/// A C guest with an `out` that returns to it (a hypercall), an `in` from the console whose
/// byte is already there (the `getchar` before it waited for input), a control-register read
/// (emulated by the host), and an `int3` of its own, each between labels gdb can break at.
pub const STEPPER_C: &str = r#"#include "hv_guest.h"
int main(void)
{
    __asm__ volatile(
        ".globl at_out\n at_out: outb %%al, %%dx\n"
        ".globl after_out\n after_out: nop\n"
        ".globl after_nop\n after_nop: nop\n"
        : : "a"(HV_HC_NUM_EXITS), "d"(HV_HYPERCALL_PORT) : "memory");
    int first = getchar(); /* waits for input; the next read finds its byte there */
    unsigned char got;
    __asm__ volatile(
        ".globl at_in\n at_in: inb %%dx, %%al\n"
        ".globl after_in\n after_in: nop\n"
        ".globl after_in_nop\n after_in_nop: nop\n"
        : "=a"(got) : "d"(HV_CONSOLE_PORT) : "memory");
    unsigned long cr0;
    __asm__ volatile(
        ".globl at_cr0\n at_cr0: mov %%cr0, %0\n"
        ".globl after_cr0\n after_cr0: nop\n"
        : "=a"(cr0) : : "memory");
    puts("before int3");
    __asm__ volatile(".globl at_int3\n at_int3: int3\n");
    printf("after int3, read %c%c\n", first, got);
    return 0;
}
"#;

/// The README's "Debugging a guest": its ```sh blocks (the build recipes, then the session) and
/// the ```text block after the session.
pub fn readme_debugging() -> (String, String, String) {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme.find("## Debugging a guest").expect("README has the section");
    let mut rest = &readme[at..];
    let mut block = |lang: &str| {
        let open = format!("```{lang}\n");
        let start = rest.find(&open).unwrap() + open.len();
        let (code, after) = rest[start..].split_once("\n```\n").unwrap();
        rest = after;
        code.to_string()
    };
    (block("sh"), block("sh"), block("text"))
}

/// `text` with every hexadecimal number made `0x_`: code addresses move when the guest or the
/// SDK changes, what gdb says about them does not.
pub fn without_addresses(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        out.push_str("0x_");
        rest = rest[at + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out + rest
}

/// One fuzz round: `bytes` on a fresh debugger connection, which is then closed; the guest
/// must run to its end as usual.
pub fn fuzz_round(image: &Path, dir: &Path, bytes: &[u8]) {
    let host = start(dir, &["-m", "2", "-p", "4", "-g", s(image), "--gdb", "0"], b"");
    let mut conn = TcpStream::connect(&host.address).unwrap();
    let mut reader = conn.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got);
    });
    for chunk in bytes.chunks(1024) {
        if conn.write_all(chunk).is_err() {
            break; // the host closed a connection it could make no sense of
        }
    }
    drop(conn);
    drain.join().unwrap();
    let (code, stdout, stderr) = host.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "Hello from guest 0! 2 MiB of RAM, 4 KiB pages.");
}
