//! gdb on the 16- and 32-bit modes (`--mode real|protected|paged32`), on seed 002's guests built
//! with the seed's commands, plus an ELF file of each for gdb's symbols (the README's recipe):
//! breakpoints (the CPU's four debug registers there), `stepi` over port accesses, registers
//! in i386's set (real mode's `eip` linear), memory, watchpoints, Ctrl-C, faults stopped where
//! they happen, and the guest's `hlt` reaching gdb as exit status 0.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hv_tests::{Scratch, copy_seed, root, s, sh};

use super::support::*;

/// Assembles `<name>.s` in `dir` with line information (`as -32 -g`), and links it at `text`
/// twice: the flat image hv runs (the seed's command) and an ELF file with the symbols for gdb.
fn asm(dir: &Path, name: &str, entry: &str, text: &str) -> (PathBuf, PathBuf) {
    sh(dir, &format!("as -32 -g {name}.s -o {name}.o"));
    let ld = format!("ld -m elf_i386 -N -e {entry} -Ttext {text} {name}.o");
    sh(dir, &format!("{ld} --oformat binary -o {name}.bin"));
    sh(dir, &format!("{ld} -o {name}.elf"));
    (dir.join(format!("{name}.bin")), dir.join(format!("{name}.elf")))
}

/// Seed 002's `guest.c` built for 32 bits with debug info: the image (the seed's `ld -T
/// guest.ld` command) and an ELF file of it (`--oformat elf32-i386`).
fn guest32(dir: &Path) -> (PathBuf, PathBuf) {
    sh(dir, "gcc -g -O0 -m32 -ffreestanding -fno-pic -c -o guest32.o guest.c");
    sh(dir, "ld -T guest.ld -m elf_i386 guest32.o -o guest32.img");
    sh(dir, "ld -T guest.ld -m elf_i386 --oformat elf32-i386 guest32.o -o guest32.elf");
    (dir.join("guest32.img"), dir.join("guest32.elf"))
}

#[test]
fn real_mode_guest16_breaks_steps_over_ports_and_halts() {
    if !ready("real_mode_guest16_breaks_steps_over_ports_and_halts") {
        return;
    }
    let dir = Scratch::new("gdb-real");
    copy_seed("002", dir.path());
    let (image, elf) = asm(dir.path(), "guest16", "guest16", "0");
    let args = ["-m", "2", "-p", "4", "--mode", "real", "-g", s(&image), "--gdb", "0"];
    // Without a file gdb takes the architecture the stub names: i8086, so 16-bit code reads
    // right; registers are i386's.
    let host = start(dir.path(), &args, b"");
    let out = gdb_without_file(&host.address, &["show architecture", "x/2i $pc", "kill"]);
    assert_in_order(
        &out,
        &[
            "The target architecture is set to \"auto\" (currently \"i8086\").",
            "=> 0x0:\tmov    $0x45,%si",
            "0x3:\tlods   %ds:(%si),%al",
            "[Inferior 1 (process 1) killed]",
        ],
    );
    host.finish();
    // With the ELF file (i386, so `set architecture i8086`), by source line.
    let host = start(dir.path(), &args, b"");
    let print32 = line_of("tests/seeds/002/guest16.s", "outl %eax, $0xEB");
    let out = gdb(
        &elf,
        &host.address,
        &[
            "set architecture i8086",
            "info registers eip cs",
            &format!("break guest16.s:{print32}"),
            "continue",
            "info registers eip eax",
            "stepi",
            "x/i $pc",
            "stepi",
            "print $eax",
            "x/s hello",
            "delete",
            "continue",
        ],
    );
    assert_in_order(
        &out,
        &[
            "eip            0x0                 0x0 <guest16>",
            "cs             0x0",
            "Breakpoint 1, guest16 () at guest16.s:",
            "eip            0x12 ",
            "eax            0x800               2048",
            // Past the `out`, at the `in` that counts the exits so far.
            "=> 0x15 <guest16+21>:\tin     $0xec,%eax",
            "$1 = 13",
            "<hello>:\t\"Hello 695!\\n\"",
            "[Inferior 1 (process 1) exited normally]",
        ],
    );
    let (code, stdout, stderr) = host.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..4], ["Hello 695!", "2048", "13", "real mode"], "{stdout}");
    assert_eq!(lines[5..], ["!"], "{stdout}");
}

#[test]
fn real_mode_matrix_guests_by_symbol_and_ctrl_c() {
    if !ready("real_mode_matrix_guests_by_symbol_and_ctrl_c") {
        return;
    }
    let dir = Scratch::new("gdb-matrix");
    copy_seed("002", dir.path());
    let (neo, neo_elf) = asm(dir.path(), "guest1", "_start", "0x10000");
    let args = |image: &Path| -> Vec<String> {
        ["-m", "2", "-p", "4", "--mode", "real", "--entry", "1000:0000", "-g", s(image)]
            .into_iter()
            .chain(["--gdb", "0"])
            .map(String::from)
            .collect()
    };
    let neo_args = args(&neo);
    let neo_args: Vec<&str> = neo_args.iter().map(String::as_str).collect();
    let host = start(dir.path(), &neo_args, b"");
    let out = gdb(
        &neo_elf,
        &host.address,
        &[
            "set architecture i8086",
            "break loop1",
            "continue",
            "continue",
            // gdb's pc is the linear address CS * 16 + IP.
            "info registers eip cs",
            "print $ax",
            "set var $ax = 1000",
            "continue",
            "print $ax",
            "kill",
        ],
    );
    assert_in_order(
        &out,
        &[
            "Breakpoint 1 at 0x10002: file guest1.s,",
            "Breakpoint 1, loop1 () at guest1.s:",
            "Breakpoint 1, loop1 () at guest1.s:",
            "eip            0x10002             0x10002 <loop1>",
            "cs             0x1000              4096",
            "$1 = 1",
            "$2 = 1001",
            "[Inferior 1 (process 1) killed]",
        ],
    );
    let (code, stdout, stderr) = host.finish();
    assert_eq!((code, stdout.as_str()), (Some(1), "0\n1000"), "{stderr}");
    assert!(stderr.contains("killed from gdb"), "{stderr}");

    // Neo without I/O never exits: only gdb's Ctrl-C stops it.
    let (spin, spin_elf) = asm(dir.path(), "guest1-b", "_start", "0x10000");
    let spin_args = args(&spin);
    let spin_args: Vec<&str> = spin_args.iter().map(String::as_str).collect();
    let host = start(dir.path(), &spin_args, b"");
    let child =
        gdb_spawn(&spin_elf, &host.address, &["continue", "info registers cs", "x/i $pc", "kill"]);
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill with a live child's PID.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = gdb_output(child);
    assert_in_order(
        &out,
        &[
            "Program received signal SIGINT, Interrupt.",
            "loop1 () at guest1-b.s:",
            "cs             0x1000",
            "=> 0x1000",
            " <loop1",
            "[Inferior 1 (process 1) killed]",
        ],
    );
    let (code, _, stderr) = host.finish();
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn protected_and_paged32_guest_c_breaks_finishes_watches_and_halts() {
    if !ready("protected_and_paged32_guest_c_breaks_finishes_watches_and_halts") {
        return;
    }
    let dir = Scratch::new("gdb-guest32");
    copy_seed("002", dir.path());
    let (image, elf) = guest32(dir.path());
    for mode in ["protected", "paged32"] {
        let args = ["-m", "2", "-p", "4", "--mode", mode, "-g", s(&image), "--gdb", "0"];
        let host = start(dir.path(), &args, b"");
        let out = gdb(
            &elf,
            &host.address,
            &[
                "show architecture",
                "break HC_numExits",
                "hbreak HC_gvaToHva",
                "continue",
                "bt",
                "finish",
                "delete 1",
                "continue",
                "info registers eip",
                "stepi",
                "info registers eip",
                "up",
                "print num_exits_a",
                "x/s str",
                "delete",
                "watch *(long *)0x400",
                "continue",
                "continue",
            ],
        );
        assert_in_order(
            &out,
            &[
                "The target architecture is set to \"auto\" (currently \"i386\").",
                "Breakpoint 1, HC_numExits () at guest.c:34",
                "#0  HC_numExits () at guest.c:34",
                "#1  0x",
                " in _start () at guest.c:80",
                "Value returned is $1 = 14",
                "Breakpoint 2, HC_gvaToHva (gva=1024) at guest.c:",
                "#1  0x",
                "$2 = 14",
                "\"CS695 Assignment 2\\n\"",
                "Hardware watchpoint 3: *(long *)0x400",
                "Old value = 0",
                "New value = 42",
                "_start () at guest.c:",
                "[Inferior 1 (process 1) exited normally]",
            ],
        );
        let eips: Vec<u64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("eip"))
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
            .collect();
        assert!(eips.len() == 2 && eips[1] > eips[0], "{mode}: stepi advances eip: {out}");
        let (code, stdout, stderr) = host.finish();
        assert_eq!(code, Some(0), "{mode}: {stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[..4], ["Hello 695!", "2048", "4294967295", "CS695 Assignment 2"]);
        assert_eq!(lines[lines.len() - 4..], ["IO in: 3", "IO out: 16", "IO in: 6", "IO out: 20"]);
    }
}

#[test]
fn the_ring0_modes_have_four_breakpoints_and_say_so() {
    if !ready("the_ring0_modes_have_four_breakpoints_and_say_so") {
        return;
    }
    let dir = Scratch::new("gdb-four");
    copy_seed("002", dir.path());
    let (image, elf) = guest32(dir.path());
    let args = ["-m", "2", "-p", "4", "--mode", "protected", "-g", s(&image), "--gdb", "0"];
    let host = start(dir.path(), &args, b"");
    let functions = ["HC_print8bit", "HC_print32bit", "HC_numExits", "HC_printStr", "HC_gvaToHva"];
    let mut commands: Vec<String> = functions.iter().map(|f| format!("break {f}")).collect();
    commands.extend(["continue", "delete 5", "continue", "delete", "continue"].map(String::from));
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let out = gdb(&elf, &host.address, &commands);
    // (gdb's warning comes on stderr, after its stdout here.)
    assert_in_order(
        &out,
        &[
            "Breakpoint 5 at ",
            "Breakpoint 1, HC_print8bit (val=72 'H') at guest.c:",
            "[Inferior 1 (process 1) exited normally]",
            "Cannot insert breakpoint 5.",
            "Command aborted.",
        ],
    );
    let (code, _, stderr) = host.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "in --mode protected breakpoints are the CPU's 4 debug registers, all in use"
        ),
        "{stderr}"
    );
}

/// 16- and 32-bit guests that fault after setting `dx` and the stack pointer: gdb must see them
/// as they were at the fault, not as hv's stub left them.
const DIV16: &str = ".code16\n.globl _start\n_start:\n\tmov $7, %dx\n\tmov $0x1234, %sp\n\txor %bx, %bx\n\tmov $10, %ax\nfault:\n\tdiv %bx\n\thlt\n";
const UD32: &str = ".code32\n.globl _start\n_start:\n\tmov $7, %edx\n\tnop\nfault:\n\tud2\n\thlt\n";

#[test]
fn faults_in_the_ring0_modes_stop_where_they_happened() {
    if !ready("faults_in_the_ring0_modes_stop_where_they_happened") {
        return;
    }
    let dir = Scratch::new("gdb-ring0-faults");
    dir.write("div16.s", DIV16.as_bytes());
    dir.write("ud32.s", UD32.as_bytes());
    // Real mode: a divide error; fixed from gdb, the division is made again and succeeds.
    let (div16, div16_elf) = asm(dir.path(), "div16", "_start", "0x10000");
    let args = ["-m", "2", "-p", "4", "--mode", "real", "--entry", "1000:0000"];
    let host = start(dir.path(), &[&args[..], &["-g", s(&div16), "--gdb", "0"]].concat(), b"");
    let out = gdb(
        &div16_elf,
        &host.address,
        &[
            "continue",
            "info registers eip edx esp cs ss",
            "set var $dx = 0",
            "set var $bx = 2",
            "signal 0",
        ],
    );
    assert_in_order(
        &out,
        &[
            "Program received signal SIGFPE, Arithmetic exception.",
            "fault () at div16.s:",
            "eip            0x1000b",
            "edx            0x7 ",
            "esp            0x1234 ",
            "cs             0x1000 ",
            "ss             0x1000 ",
            "[Inferior 1 (process 1) exited normally]",
        ],
    );
    let (code, _, stderr) = host.finish();
    assert_eq!(code, Some(0), "{stderr}");
    // 32-bit modes: an invalid opcode; passing the signal on ends the guest with its report.
    let (ud32, ud32_elf) = asm(dir.path(), "ud32", "_start", "0");
    for mode in ["protected", "paged32"] {
        let args = ["-m", "2", "-p", "4", "--mode", mode, "-g", s(&ud32), "--gdb", "0"];
        let host = start(dir.path(), &args, b"");
        let out =
            gdb(&ud32_elf, &host.address, &["continue", "info registers edx esp cs", "continue"]);
        assert_in_order(
            &out,
            &[
                "Program received signal SIGILL, Illegal instruction.",
                "fault () at ud32.s:",
                "edx            0x7 ",
                "esp            0x1e8000 ",
                "cs             0x8 ",
                "Program terminated with signal SIGILL, Illegal instruction.",
            ],
        );
        let (code, _, stderr) = host.finish();
        assert_eq!(code, Some(1), "{mode}: {stderr}");
        assert!(stderr.contains("invalid opcode at rip 0x6 in ring 0"), "{mode}: {stderr}");
    }
}

#[test]
fn the_readme_ring0_session_runs_as_shown() {
    if !ready("the_readme_ring0_session_runs_as_shown") {
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme.find("### In the 16- and 32-bit modes").expect("README has the section");
    let rest = &readme[at..];
    let open = rest.find("```sh\n").unwrap() + "```sh\n".len();
    let (block, after) = rest[open..].split_once("\n```\n").unwrap();
    let shown = after.trim_start().strip_prefix("```text\n").unwrap();
    let shown = shown.split_once("\n```").unwrap().0;
    let lines: Vec<&str> = block.lines().collect();
    assert_eq!(lines.len(), 6, "{block}");
    assert_eq!(lines[0], "cd tests/seeds/002");
    // The build, as written, in a copy of the seed's directory.
    let dir = Scratch::new("gdb-readme-ring0");
    copy_seed("002", dir.path());
    for line in &lines[1..4] {
        sh(dir.path(), line);
    }
    assert_eq!(
        lines[4],
        "../../../target/release/hv-host -m 2 -p 4 --mode protected -g guest32.img --gdb 1234 &"
    );
    let args = ["-m", "2", "-p", "4", "--mode", "protected", "-g", "guest32.img", "--gdb", "0"];
    let host = start(dir.path(), &args, b"");
    let gdb_line =
        lines[5].replace("target remote :1234", &format!("target remote {}", host.address));
    let out = Command::new("sh")
        .current_dir(dir.path())
        .args(["-c", &gdb_line])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(without_addresses(&printed), without_addresses(&format!("{shown}\n")));
    let (code, stdout, stderr) = host.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("Hello 695!\n2048\n"), "{stdout}");
}
