//! Debugging guests with the real gdb (`--gdb`): gdb in batch mode (`gdb -batch -nx -ex ...`)
//! against a Rust guest and a C guest built as ELF images with debug info, the way the README's
//! "Debugging a guest" says; every assertion is on what gdb printed and what hv-host did.
//! Without gdb (or /dev/kvm) each test prints a loud SKIPPED line and returns.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use hv_tests::{Scratch, build_step, root, s};

#[path = "gdb/support.rs"]
mod support;
use support::*;

// The 16- and 32-bit modes.
#[path = "gdb/modes.rs"]
mod modes;

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
            "in gdbdemo::_::main () at guest-sdk/src/lib.rs",
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
fn rust_break_main_stops_in_the_sdks_main_and_step_enters_the_guests() {
    if !ready("rust_break_main_stops_in_the_sdks_main_and_step_enters_the_guests") {
        return;
    }
    let image = rust_guest("gdbdemo");
    let dir = Scratch::new("gdb-rust-main");
    let host = start(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"], b"");
    let first_line = line_of("guest-examples/src/bin/gdbdemo.rs", "let mut last = 0;");
    let out = gdb(
        &image,
        &host.address,
        &["break main", "continue", "bt", "step", "bt", "delete", "continue"],
    );
    assert_in_order(
        &out,
        &[
            "Breakpoint 1 at 0x",
            "Breakpoint 1, gdbdemo::_::main () at guest-sdk/src/lib.rs:",
            // `main` is the outermost frame, as in a C program.
            "#0  gdbdemo::_::main () at guest-sdk/src/lib.rs:",
            &format!("gdbdemo::main () at guest-examples/src/bin/gdbdemo.rs:{first_line}"),
            &format!("#0  gdbdemo::main () at guest-examples/src/bin/gdbdemo.rs:{first_line}"),
            "#1  0x",
            " in gdbdemo::_::main () at guest-sdk/src/lib.rs:",
            "[Inferior 1 (process 1) exited with code 036]",
        ],
    );
    assert!(!out.contains("#2"), "nothing past main: {out}");
    let (code, stdout, _) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(1), "total 30, last square 16\ndone after no laps"));
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
fn ctrl_c_while_the_guest_waits_for_input_and_a_step_over_the_read() {
    // The raw `in` (seed style): stopped in it, KVM still has to complete it.
    if !ready("ctrl_c_while_the_guest_waits_for_input_and_a_step_over_the_read") {
        return;
    }
    let dir = Scratch::new("gdb-input");
    let src = dir.write(
        "reader.c",
        b"#include \"hv_guest.h\"\n/* The seeds' getchar: one `in` from the console port. */\nstatic int getchar_port(void)\n{\n    unsigned char c;\n    __asm__ __volatile__(\"inb %1, %0\" : \"=a\"(c) : \"Nd\"((unsigned short)0xE9));\n    return c;\n}\nint main(void)\n{\n    puts(\"type\");\n    int c = getchar_port();\n    printf(\"got %c\\n\", c);\n    return 0;\n}\n",
    );
    let image = c_guest(&src, dir.path(), "reader");
    let (host, mut input) =
        start_piped(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"]);
    let child = gdb_spawn(
        &image,
        &host.address,
        &["continue", "bt", "set $rax = 0x77", "stepi", "print/c $al", "continue"],
    );
    host.wait_for_line("type");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill with a live child's PID.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    // Stopped in the read, gdb may look but not change registers; its step waits for the byte.
    std::thread::sleep(Duration::from_millis(500));
    input.write_all(b"X").unwrap();
    drop(input);
    let out = gdb_output(child);
    assert_in_order(
        &out,
        &[
            "Program received signal SIGINT, Interrupt.",
            "getchar_port () at ",
            " in main () at ",
            "$1 = 88 'X'",
            "[Inferior 1 (process 1) exited normally]",
        ],
    );
    // (gdb's errors come on stderr, after its stdout here.)
    assert!(out.contains("Could not write registers; remote failure reply 'E10'"), "{out}");
    let (code, stdout, stderr) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(0), "got X"), "{stderr}");
}

/// A C guest that announces itself with `type`, then waits for one byte with the SDK's
/// `getchar` (a `ConsoleRead` call parked until input comes) and prints it.
const READER_C: &[u8] = b"#include \"hv_guest.h\"\nint main(void)\n{\n    puts(\"type\");\n    int c = getchar();\n    printf(\"got %c\\n\", c);\n    return 0;\n}\n";

#[test]
fn ctrl_c_while_the_guest_waits_on_its_input_ring() {
    // The SDK's getchar: a `ConsoleRead` call (an `out`, complete) parked until input comes.
    if !ready("ctrl_c_while_the_guest_waits_on_its_input_ring") {
        return;
    }
    let dir = Scratch::new("gdb-ring");
    let src = dir.write("reader.c", READER_C);
    let image = c_guest(&src, dir.path(), "reader");
    let (host, mut input) =
        start_piped(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"]);
    let child = gdb_spawn(
        &image,
        &host.address,
        &["continue", "bt", "set $rax = 0x77", "finish", "continue"],
    );
    host.wait_for_line("type");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill with a live child's PID.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    // Stopped past the call's `out`: registers may change; `finish` waits for the input.
    std::thread::sleep(Duration::from_millis(500));
    input.write_all(b"X").unwrap();
    drop(input);
    let out = gdb_output(child);
    assert_in_order(
        &out,
        &[
            "Program received signal SIGINT, Interrupt.",
            "__hv_call (",
            "getchar () at guest-sdk/include/hv_guest.h:",
            " in main () at ",
            // `finish` returns to the caller once the input came.
            "__hv_hypercall (op=6",
            // ConsoleRead's answer: the bytes now in the ring.
            "Value returned is $1 = 1",
            "[Inferior 1 (process 1) exited normally]",
        ],
    );
    assert!(!out.contains("Could not write registers"), "{out}");
    let (code, stdout, stderr) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(0), "got X"), "{stderr}");
}

#[test]
fn a_step_over_a_console_read_that_waits_stops_right_after_its_out() {
    // PVM drops a step's trap after an `out`: the step over `ConsoleRead`'s `out` must still
    // stop there, while the guest waits for its input, not run on once the input comes.
    if !ready("a_step_over_a_console_read_that_waits_stops_right_after_its_out") {
        return;
    }
    let dir = Scratch::new("gdb-ring-step");
    let src = dir.write("reader.c", READER_C);
    let image = c_guest(&src, dir.path(), "reader");
    let (host, mut input) =
        start_piped(dir.path(), &["-m", "2", "-p", "4", "-g", s(&image), "--gdb", "0"]);
    let child = gdb_spawn(
        &image,
        &host.address,
        // Line 110 loads the opcode and the port (two instructions), then `out`s.
        &[
            "break hv_guest.h:110 if op == 6",
            "continue",
            "stepi 2",
            "stepi",
            "x/i $pc - 1",
            "continue",
        ],
    );
    host.wait_for_line("type");
    // The step has stopped (or wrongly run on) by now; only then does the input come.
    std::thread::sleep(Duration::from_millis(800));
    input.write_all(b"X").unwrap();
    drop(input);
    let out = gdb_output(child);
    assert_in_order(
        &out,
        &[
            "Breakpoint 1, ",
            "__hv_call (port=1280, op=6 ",
            "111\t    return (long)mb->ret;",
            // Right after the 1-byte `out`, not an instruction further.
            "<__hv_call+83>:\tout    %al,(%dx)",
            "[Inferior 1 (process 1) exited normally]",
        ],
    );
    let (code, stdout, stderr) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(0), "got X"), "{stderr}");
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
            "break *at_cr0",
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
            "continue",
            "stepi",
            "print $pc == &after_cr0",
            "print/x $rax",
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
            "Breakpoint 3, ",
            "$6 = 1",
            "$7 = 0x80010033",
            "Program received signal SIGTRAP, Trace/breakpoint trap.",
            "$8 = 1",
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
fn time_stopped_in_gdb_does_not_count_against_the_timeout() {
    if !ready("time_stopped_in_gdb_does_not_count_against_the_timeout") {
        return;
    }
    let image = rust_guest("gdbdemo");
    let dir = Scratch::new("gdb-timeout");
    let args = ["-m", "2", "-p", "4", "--timeout", "1", "-g", s(&image), "--gdb", "0"];
    let host = start(dir.path(), &args, b"");
    // Waiting for gdb, then stopped at a breakpoint: 2.5 s in all, the guest's time is 1 s.
    std::thread::sleep(Duration::from_millis(1500));
    let out = gdb(
        &image,
        &host.address,
        &["break gdbdemo::add_square", "continue", "shell sleep 1", "delete", "continue"],
    );
    assert!(out.contains("exited with code 036"), "{out}");
    let (code, stdout, stderr) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(1), "total 30, last square 16\ndone after no laps"));
    assert!(stderr.contains("exited with status 30"), "{stderr}");
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
