//! Debugging guests with the real gdb (`--gdb`): gdb in batch mode (`gdb -batch -nx -ex ...`)
//! against a Rust guest and a C guest built as ELF images with debug info, the way the README's
//! "Debugging a guest" says; every assertion is on what gdb printed and what hv-host did.
//! Without gdb (or /dev/kvm) each test prints a loud SKIPPED line and returns.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hv_tests::{Scratch, build_step, hv_host, kvm_or_skip, root, s};

/// True if KVM and gdb are both there; otherwise a loud SKIPPED line.
fn ready(test: &str) -> bool {
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
fn rust_guest(name: &str) -> PathBuf {
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
fn c_guest(src: &Path, dir: &Path, name: &str) -> PathBuf {
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
fn c_demo(dir: &Path) -> PathBuf {
    // Relative to the workspace root, where the build runs, as the README writes it: gdb
    // shows source paths as the compiler was given them.
    c_guest(Path::new("guest-examples/c/gdbdemo.c"), dir, "gdbdemo")
}

/// A running hv-host whose guest waits for gdb.
struct Host {
    child: Child,
    /// What gdb's `target remote` takes.
    address: String,
    stdout: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

/// Runs `hv-host args` in `cwd` with `stdin`, and waits for its line naming where gdb
/// connects.
fn start(cwd: &Path, args: &[&str], stdin: &[u8]) -> Host {
    let mut child = Command::new(hv_host())
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hv-host");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
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
    Host { child, address, stdout, stderr }
}

impl Host {
    /// Waits for a line of the guest's output that contains `text`, at most 30 s.
    fn wait_for_line(&self, text: &str) -> String {
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
    fn finish(mut self) -> (Option<i32>, String, String) {
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
fn gdb(image: &Path, address: &str, commands: &[&str]) -> String {
    let child = gdb_spawn(image, address, commands);
    gdb_output(child)
}

fn gdb_spawn(image: &Path, address: &str, commands: &[&str]) -> Child {
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx", "-ex", "set width 0", "-ex"])
        .arg(format!("target remote {address}"));
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd.arg(image).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("spawn gdb")
}

fn gdb_output(mut child: Child) -> String {
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
fn assert_in_order(text: &str, parts: &[&str]) {
    let mut rest = text;
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => panic!("{part:?} missing (or out of order) in:\n{text}"),
        }
    }
}

/// The line of `file` (from the workspace root) that contains `text`, 1-based.
fn line_of(file: &str, text: &str) -> usize {
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    source.lines().position(|l| l.contains(text)).unwrap() + 1
}

/// The value of `$N = value` gdb printed for `info registers rip` etc.: the hex after `rip`.
fn rips(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("rip"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .collect()
}

#[test]
fn rust_breakpoints_steps_variables_and_the_exit_status() {
    if !ready("rust_breakpoints_steps_variables_and_the_exit_status") {
        return;
    }
    let image = rust_guest("gdbdemo");
    let dir = Scratch::new("gdb-rust");
    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
    let square_line = line_of("guest-examples/src/bin/gdbdemo.rs", "let square = n * n;");
    let add_line = line_of("guest-examples/src/bin/gdbdemo.rs", "unsafe { TOTAL += square };");
    let out = gdb(
        &image,
        &host.address,
        &[
            &format!("break gdbdemo.rs:{square_line}"),
            "continue",
            "bt",
            "print n",
            "info registers rip",
            "stepi",
            "info registers rip",
            "next",
            "print square",
            "finish",
            "print gdbdemo::TOTAL",
            "set var gdbdemo::TOTAL = 1000",
            "delete",
            "continue",
        ],
    );
    assert_in_order(
        &out,
        &[
            "0x0000000000001000 in _start ()",
            &format!(
                "Breakpoint 1, gdbdemo::add_square (n=1) at guest-examples/src/bin/gdbdemo.rs:{square_line}"
            ),
            "#0  gdbdemo::add_square (n=1) at guest-examples/src/bin/gdbdemo.rs",
            "in gdbdemo::main () at guest-examples/src/bin/gdbdemo.rs",
            "in hv_guest::rt::rust_start ()",
            "$1 = 1",
            &format!("{add_line}\t"),
            "$2 = 1",
            "in gdbdemo::main () at guest-examples/src/bin/gdbdemo.rs",
            "Value returned is $3 = 1",
            "$4 = 1",
            "[Inferior 1 (process 1) exited with code 05]",
        ],
    );
    let r = rips(&out);
    assert_eq!(r.len(), 2, "{out}");
    assert!(r[1] > r[0], "stepi advances rip: {r:x?}\n{out}");
    let (code, stdout, stderr) = host.finish();
    // 1000 set from gdb after the first square, then 4 + 9 + 16; 1029 % 256 = 5.
    assert_eq!(stdout, "total 1029, last square 16\ndone after no laps");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("exited with status 5"), "{stderr}");
}

#[test]
fn rust_write_watchpoints_stop_at_the_write() {
    if !ready("rust_write_watchpoints_stop_at_the_write") {
        return;
    }
    let image = rust_guest("gdbdemo");
    let dir = Scratch::new("gdb-watch");
    for software in [false, true] {
        let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
        let mut commands = vec!["break gdbdemo::main", "continue"];
        if software {
            commands.push("set can-use-hw-watchpoints 0");
        }
        commands.extend([
            "watch gdbdemo::TOTAL",
            "continue",
            "continue",
            "bt 1",
            "delete",
            "continue",
        ]);
        let out = gdb(&image, &host.address, &commands);
        let kind = if software {
            "Watchpoint 2: gdbdemo::TOTAL"
        } else {
            "Hardware watchpoint 2: gdbdemo::TOTAL"
        };
        assert_in_order(
            &out,
            &[
                kind,
                "Old value = 0",
                "New value = 1",
                "gdbdemo::add_square (n=1) at",
                "Old value = 1",
                "New value = 5",
                "#0  gdbdemo::add_square (n=2) at",
                "exited with code 036",
            ],
        );
        let (code, stdout, _) = host.finish();
        assert_eq!(
            (code, stdout.as_str()),
            (Some(1), "total 30, last square 16\ndone after no laps")
        );
    }
}

#[test]
fn ctrl_c_in_gdb_stops_a_guest_that_computes_without_exits() {
    if !ready("ctrl_c_in_gdb_stops_a_guest_that_computes_without_exits") {
        return;
    }
    let image = rust_guest("gdbdemo");
    let dir = Scratch::new("gdb-ctrl-c");
    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
    let child = gdb_spawn(
        &image,
        &host.address,
        &[
            "break gdbdemo::main",
            "continue",
            "set var gdbdemo::SPIN = true",
            "delete",
            "continue",
            "bt",
            "set var gdbdemo::SPIN = false",
            "continue",
        ],
    );
    // The guest prints, then computes without exiting until SPIN is cleared.
    host.wait_for_line("total 30");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill with a live child's PID.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = gdb_output(child);
    assert_in_order(
        &out,
        &[
            "Program received signal SIGINT, Interrupt.",
            "gdbdemo::main () at guest-examples/src/bin/gdbdemo.rs:",
            "exited with code 036",
        ],
    );
    let (code, stdout, stderr) = host.finish();
    assert_eq!(stdout, "done after some laps", "{stderr}");
    assert_eq!(code, Some(1));
}

#[test]
fn detach_lets_the_guest_run_on_and_kill_ends_it() {
    if !ready("detach_lets_the_guest_run_on_and_kill_ends_it") {
        return;
    }
    let image = rust_guest("gdbdemo");
    let dir = Scratch::new("gdb-detach");
    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
    let out = gdb(
        &image,
        &host.address,
        &["set breakpoint always-inserted on", "break gdbdemo::add_square", "continue", "detach"],
    );
    assert_in_order(
        &out,
        &["Breakpoint 1, gdbdemo::add_square (n=1)", "[Inferior 1 (process 1) detached]"],
    );
    let (code, stdout, stderr) = host.finish();
    assert_eq!(stdout, "total 30, last square 16\ndone after no laps");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("exited with status 30"), "{stderr}");

    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
    let out = gdb(&image, &host.address, &["break gdbdemo::add_square", "continue", "kill"]);
    assert!(out.contains("[Inferior 1 (process 1) killed]"), "{out}");
    let (code, stdout, stderr) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert!(stderr.contains("): killed from gdb"), "{stderr}");
}

#[test]
fn c_guest_break_main_step_print_memory_and_a_divide_error() {
    if !ready("c_guest_break_main_step_print_memory_and_a_divide_error") {
        return;
    }
    let dir = Scratch::new("gdb-c");
    let image = c_demo(dir.path());
    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
    let div_line = line_of("guest-examples/c/gdbdemo.c", "return (int)(total / divisor);");
    let out = gdb(
        &image,
        &host.address,
        &[
            "break main",
            "continue",
            "next",
            "next",
            "step",
            "bt",
            "finish",
            "print total",
            "x/2dg &total",
            "info registers rsp",
            "set var divisor = 0",
            "delete",
            "continue",
            "bt",
            "continue",
        ],
    );
    assert_in_order(
        &out,
        &[
            "Breakpoint 1, main () at guest-examples/c/gdbdemo.c:",
            "add_square (n=1) at guest-examples/c/gdbdemo.c:",
            "#0  add_square (n=1) at guest-examples/c/gdbdemo.c:",
            "#1  0x",
            " in main () at guest-examples/c/gdbdemo.c:",
            "Value returned is $1 = 1",
            "$2 = 1",
            "<total>:\t1\t0",
            "rsp ",
            "Program received signal SIGFPE, Arithmetic exception.",
            &format!("in main () at guest-examples/c/gdbdemo.c:{div_line}"),
            "#0  0x",
            "Program terminated with signal SIGFPE, Arithmetic exception.",
        ],
    );
    let (code, stdout, stderr) = host.finish();
    assert_eq!(stdout, "total 30, last square 16");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("divide error at rip 0x") && stderr.contains("(main+0x"), "{stderr}");
}

#[test]
fn faults_and_panics_stop_with_their_signal_where_they_happened() {
    if !ready("faults_and_panics_stop_with_their_signal_where_they_happened") {
        return;
    }
    let dir = Scratch::new("gdb-faults");
    for (name, signal, frame, report) in [
        (
            "crash",
            "SIGSEGV, Segmentation fault",
            "crash::crash_here (addr=1073741824)",
            "page fault writing 0x40000000",
        ),
        (
            "panic",
            "SIGABRT, Aborted",
            "in panic::main () at guest-examples/src/bin/panic.rs:13",
            "panicked: the total was 6",
        ),
    ] {
        let image = rust_guest(name);
        let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
        let out = gdb(&image, &host.address, &["continue", "bt", "continue"]);
        assert_in_order(
            &out,
            &[
                &format!("Program received signal {signal}."),
                frame,
                &format!("Program terminated with signal {signal}."),
            ],
        );
        let (code, _, stderr) = host.finish();
        assert_eq!(code, Some(1));
        assert!(stderr.contains(report), "{stderr}");
    }
}

/// A C guest with an `out` that returns to it (a hypercall), an `in` from the console whose
/// byte is already there (the `getchar` before it waited for input), and an `int3` of its own,
/// each between labels gdb can break at.
const STEPPER_C: &str = r#"#include "hv_guest.h"
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
    puts("before int3");
    __asm__ volatile(".globl at_int3\n at_int3: int3\n");
    printf("after int3, read %c%c\n", first, got);
    return 0;
}
"#;

#[test]
fn steps_over_exiting_instructions_advance_one_instruction() {
    if !ready("steps_over_exiting_instructions_advance_one_instruction") {
        return;
    }
    let dir = Scratch::new("gdb-steps");
    let src = dir.write("stepper.c", STEPPER_C.as_bytes());
    let image = c_guest(&src, dir.path(), "stepper");
    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"PQ");
    let out = gdb(
        &image,
        &host.address,
        &[
            "break *at_out",
            "break *at_in",
            "continue",
            "stepi",
            "print $pc == &after_out",
            "stepi",
            "print $pc == &after_nop",
            "continue",
            "stepi",
            "print $pc == &after_in",
            "print/c $al",
            "stepi",
            "print $pc == &after_in_nop",
            "delete",
            "continue",
            "print $pc == (char *)&at_int3 + 1",
            "continue",
        ],
    );
    assert_in_order(
        &out,
        &[
            "Breakpoint 1, ",
            "$1 = 1",
            "$2 = 1",
            "Breakpoint 2, ",
            "$3 = 1",
            "$4 = 81 'Q'",
            "$5 = 1",
            "Program received signal SIGTRAP, Trace/breakpoint trap.",
            "$6 = 1",
            "[Inferior 1 (process 1) exited normally]",
        ],
    );
    let (code, stdout, stderr) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(0), "before int3\nafter int3, read PQ"), "{stderr}");

    // Without gdb, the guest's own int3 is its own fault, as before.
    let r = hv_tests::run_in(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image)], b"PQ");
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("breakpoint at rip 0x") && r.stderr.contains("(main+0x"), "{r:?}");
}

/// Sends one packet the way gdb frames it (`$data#checksum`).
fn packet(data: &[u8]) -> Vec<u8> {
    let sum = data.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    let mut p = vec![b'$'];
    p.extend_from_slice(data);
    p.extend_from_slice(format!("#{sum:02x}").as_bytes());
    p
}

#[test]
fn one_debugger_only_and_its_breakpoints_are_never_left_behind() {
    if !ready("one_debugger_only_and_its_breakpoints_are_never_left_behind") {
        return;
    }
    let image = rust_guest("hello");
    let dir = Scratch::new("gdb-second");
    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
    let mut first = TcpStream::connect(&host.address).unwrap();
    // The listening socket is closed once one debugger is connected.
    std::thread::sleep(Duration::from_millis(200));
    let second = TcpStream::connect(&host.address);
    assert_eq!(second.map_err(|e| e.kind()).err(), Some(std::io::ErrorKind::ConnectionRefused));
    // A breakpoint at the entry point, and the debugger goes without removing it.
    first.write_all(&packet(b"Z0,1000,1")).unwrap();
    first.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reply = [0u8; 7];
    first.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+$OK#9a");
    drop(first);
    let (code, stdout, stderr) = host.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "Hello from guest 0! 2 MiB of RAM, 4 KiB pages.");
}

/// One fuzz round: `bytes` on a fresh debugger connection, which is then closed; the guest
/// must run to its end as usual.
fn fuzz_round(image: &Path, dir: &Path, bytes: &[u8]) {
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

#[test]
fn random_bytes_and_malformed_packets_leave_the_host_alive() {
    if !ready("random_bytes_and_malformed_packets_leave_the_host_alive") {
        return;
    }
    let image = rust_guest("hello");
    let dir = Scratch::new("gdb-fuzz");
    // Random bytes from a fixed xorshift sequence (a failure can be replayed), never a kill
    // (k) or detach (D) that happens to parse: those are requests, not garbage.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x as u8 {
                    b'k' | b'D' => b'.',
                    b => b,
                }
            })
            .collect()
    };
    fuzz_round(&image, dir.path(), &random(65536));
    // Packets that are well framed but not what they claim to be, each followed by noise (the
    // stub may end the session at the first one it cannot go on from: the guest runs on).
    for bad in [
        &b"m"[..],
        b"mffffffffffffffff,ffffffffffffffff",
        b"m1000,zz",
        b"M1000,4:zz",
        b"X1000,100000:",
        b"G00",
        b"Z0,ffffffffffffffff,1",
        b"Z2,0,100000",
        b"vCont;x",
        b"qXfer:features:read:target.xml:ffffffff,ffffffff",
        b"P9999=00",
        &[b'q'; 5000],
    ] {
        let mut bytes = packet(bad);
        bytes.extend(random(4096));
        fuzz_round(&image, dir.path(), &bytes);
    }
}

#[test]
fn a_unix_socket_for_one_guest_while_the_others_run() {
    if !ready("a_unix_socket_for_one_guest_while_the_others_run") {
        return;
    }
    let hello = rust_guest("hello");
    let demo = rust_guest("gdbdemo");
    let dir = Scratch::new("gdb-unix");
    let sock = dir.path().join("guest1.sock");
    let gdb_arg = format!("1:{}", s(&sock));
    let host = start(
        dir.path(),
        &["-m", "2", "-p", "4", "--prefix", "-g", s(&hello), s(&demo), "--gdb", &gdb_arg],
        b"",
    );
    assert_eq!(host.address, s(&sock));
    // Guest 0 runs to its end while guest 1 waits for gdb.
    host.wait_for_line("[0] Hello from guest 0!");
    let out = gdb(
        &demo,
        &host.address,
        &["break gdbdemo::add_square", "continue", "print n", "delete", "continue"],
    );
    assert_in_order(
        &out,
        &["Breakpoint 1, gdbdemo::add_square (n=1)", "$1 = 1", "exited with code 036"],
    );
    assert!(!sock.exists(), "the socket's name is removed once gdb is connected");
    let (code, stdout, stderr) = host.finish();
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "[1] total 30, last square 16\n[1] done after no laps");
    assert!(stderr.contains("guest 1 (") && stderr.contains("exited with status 30"), "{stderr}");
}

#[test]
fn gdb_options_are_checked_before_any_guest_runs() {
    let image = hv_tests::guest("hello");
    let dir = Scratch::new("gdb-config");
    let base = ["-m", "2", "-p", "4", "-g", s(&image)];
    let refused = |extra: &[&str], what: &str| {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        hv_tests::assert_refused(dir.path(), &args, what);
    };
    refused(&["--gdb", "3:0"], "--gdb for guest 3, but there are only 1 guest(s)");
    refused(&["--gdb", "0", "--gdb", "0:0"], "--gdb given twice for guest 0");
    refused(&["--gdb", "0", "--sched", "single"], "--gdb needs a thread per guest");
    refused(&["--gdb", "70000"], "invalid gdb port '70000'");
    dir.write("plain", b"not a socket");
    refused(&["--gdb", "plain"], "cannot listen for gdb on plain");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    refused(&["--gdb", &port], &format!("cannot listen for gdb on 127.0.0.1:{port}"));
}

/// The README's "Debugging a guest": its ```sh blocks (the build recipes, then the session) and
/// the ```text block after the session.
fn readme_debugging() -> (String, String, String) {
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
fn without_addresses(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        out.push_str("0x_");
        rest = rest[at + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out + rest
}

#[test]
fn the_readme_session_and_recipes_run_as_shown() {
    if !ready("the_readme_session_and_recipes_run_as_shown") {
        return;
    }
    let (recipes, session, shown) = readme_debugging();
    let (rust, c) = recipes.split_once('\n').unwrap();
    // The Rust recipe is the build `rust_guest` makes (into the test build's target directory).
    assert_eq!(
        rust,
        "HV_GUEST_FORMAT=elf CARGO_TARGET_DIR=target/elf-guests cargo build -p guest-examples"
    );
    let image = rust_guest("gdbdemo");
    // The C recipe, run as written on the C example.
    let dir = Scratch::new("gdb-readme");
    std::fs::copy(root().join("guest-examples/c/gdbdemo.c"), dir.path().join("guest.c")).unwrap();
    let c = c.replace(" guest.", &format!(" {}/guest.", s(dir.path())));
    build_step("sh", &["-c", &c]);
    assert!(dir.path().join("guest.elf").exists());
    // The session, as written, from the workspace root where the README's paths lead (the test
    // build's own target directory must be hv's `target/`), on a port of the test's.
    if hv_tests::release_dir() != root().join("target/release") {
        eprintln!("the README session needs the build in target/: not run");
        return;
    }
    let (host_line, gdb_line) = session.split_once('\n').unwrap();
    assert_eq!(
        host_line,
        "./target/release/hv-host -m 2 -p 4 -g target/elf-guests/debug/gdbdemo --gdb 1234 &"
    );
    let host = start(
        &root(),
        &["-m", "2", "-p", "4", "-g", "target/elf-guests/debug/gdbdemo", "--gdb", "0"],
        b"",
    );
    let gdb_line =
        gdb_line.replace("target remote :1234", &format!("target remote {}", host.address));
    let out = Command::new("sh")
        .current_dir(root())
        .args(["-c", &gdb_line])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(without_addresses(&printed), without_addresses(&(shown + "\n")), "{image:?}");
    let (code, stdout, _) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(1), "total 30, last square 16\ndone after no laps"));
}
