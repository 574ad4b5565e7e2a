//! The seed's devices, the serial port and the DMA disk, on ports and memory-mapped: the disk
//! example's eight checks in Rust and a C guest, hostile use of the disk, misuse that ends a
//! guest, `--disk` checks, the C header against hv-core, and what each operation costs in exits.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hv_core::ABI_VERSION;
use hv_core::layout::{MMIO_SIZE, MemSize};
use hv_core::proto::devices::{
    DISK_STATUS_ERR_OFFSET, DISK_STATUS_SIZE, DeviceReg, DiskCmd, MMIO_STRIDE, SECTOR_SIZE,
};
use hv_core::proto::errno::Errno;
use hv_core::proto::hv_page::{BOOT_INFO_OFFSET, BootInfo};
use hv_tests::{Scratch, assert_refused, guest, hv_host, kvm_or_skip, root, run, run_in, s};

/// The disk every test makes: the seed's `make disk`, 8 KiB of zeros.
const DISK_SIZE: usize = 8 << 10;

/// What the disk example prints after its first line.
const CHECK_LINES: [&str; 9] = [
    "disk check 1 sector 0 aligned: ok",
    "disk check 2 sector 0 partial: ok",
    "disk check 3 sector 1 aligned: ok",
    "disk check 4 sector 1 partial: ok",
    "disk check 5 two sectors aligned: ok",
    "disk check 6 two sectors misaligned: ok",
    "disk check 7 whole disk: ok",
    "disk check 8 write past the end: ok",
    "disk checks: 8 of 8 passed",
];

/// A guest's copy after the disk example: check 7's pattern over the whole disk (the pattern
/// is `guest-examples/src/bin/disk.rs`'s).
fn after_disk_example() -> Vec<u8> {
    const PATTERN: &[u8] = b"hv disk check: the quick brown fox jumps over the lazy dog\n";
    (0..DISK_SIZE).map(|o| PATTERN[(o + 7) % PATTERN.len()]).collect()
}

/// Runs the disk example on `guests` guests with `args`, and checks every line each printed
/// through the serial port, and what it wrote: with one guest the image itself, with several
/// (`--disk-cow`) each guest's copy, the image untouched.
fn disk_example(test: &str, args: &[&str], guests: usize) {
    let dir = Scratch::new(test);
    dir.write("disk.img", &[0; DISK_SIZE]);
    let disk = guest("disk");
    let mut argv = vec!["--disk", "disk.img", "--prefix"];
    if guests > 1 {
        argv.push("--disk-cow");
    }
    argv.extend(args);
    argv.push("-g");
    argv.extend(std::iter::repeat_n(s(&disk), guests));
    let r = run_in(dir.path(), &argv, b"");
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
    let first = if args.contains(&"--mmio") {
        // The window starts right after RAM (seed 003's layout).
        let mib = args.iter().skip_while(|a| **a != "-m").nth(1).expect("-m");
        let ram = MemSize::from_mib(mib.parse().expect("-m value")).expect("a size").bytes();
        format!("disk: {DISK_SIZE} bytes, devices memory-mapped at {ram:#x}")
    } else {
        format!("disk: {DISK_SIZE} bytes, devices on ports")
    };
    let mut want = vec![first.as_str()];
    want.extend(CHECK_LINES);
    for id in 0..guests {
        let prefix = format!("[{id}] ");
        let lines: Vec<&str> = r.stdout.lines().filter_map(|l| l.strip_prefix(&prefix)).collect();
        assert_eq!(lines, want, "guest {id}: {r:?}");
        if guests > 1 {
            let copy = dir.read(&format!("disk.img.cow{id}"));
            assert_eq!(copy, after_disk_example(), "guest {id}'s copy");
        }
    }
    // Serial output, one byte per exit from several guests at once, still comes out in whole
    // lines: every line is one of the above, with its guest's prefix.
    assert_eq!(r.stdout.lines().count(), guests * want.len(), "{r:?}");
    if guests > 1 {
        assert_eq!(dir.read("disk.img"), [0; DISK_SIZE], "with --disk-cow the image is unchanged");
    } else {
        assert_eq!(dir.read("disk.img"), after_disk_example(), "the disk keeps what was written");
        assert!(!dir.path().join("disk.img.cow0").exists());
    }
}

#[test]
fn disk_example_passes_on_ports() {
    if !kvm_or_skip("disk_example_passes_on_ports") {
        return;
    }
    disk_example("disk-ports", &["-m", "2", "-p", "4"], 2);
}

#[test]
fn disk_example_passes_memory_mapped() {
    if !kvm_or_skip("disk_example_passes_memory_mapped") {
        return;
    }
    // 8 MiB with 4 KiB pages uses every RAM page table, so the window needs its own; with
    // 2 MiB pages the window is one large page.
    disk_example("disk-mmio-4k", &["-m", "8", "-p", "4", "--mmio"], 1);
    disk_example("disk-mmio-2m", &["-m", "4", "-p", "2", "--mmio"], 2);
}

#[test]
fn hostile_disk_use_is_reported_in_status() {
    if !kvm_or_skip("hostile_disk_use_is_reported_in_status") {
        return;
    }
    let want = [
        "check setup: ok, 8192 bytes",
        "check read past the end: EINVAL",
        "check read sector 0xffffffff: EINVAL",
        "check write past the end: EINVAL",
        "check read to unmapped 0x40000000: EFAULT",
        "check read across the end of user memory: EFAULT",
        "check read into the page tables: EFAULT",
        "check write from the page tables: EFAULT",
        "check read to 0xffffffff: EFAULT",
        "check unknown command: ENOSYS",
        "check read sector 0: ok",
        "check sector 0 reads: BOOT",
        "check write sector 15: ok",
        "check read sector 15: ok",
        "check sector 15 reads back: true",
        "check setup again at 0x40000000: EBUSY",
        "check setup again: EBUSY",
        "check second block untouched: true",
        "check read after that: ok",
    ];
    let diskcheck = guest("diskcheck");
    for mode in [&["-p", "4"][..], &["-p", "2", "--mmio"]] {
        let dir = Scratch::new("diskcheck");
        let mut image = vec![0; DISK_SIZE];
        image[..4].copy_from_slice(b"BOOT");
        dir.write("disk.img", &image);
        let mut args = vec!["-m", "2", "--disk", "disk.img", "-g", s(&diskcheck)];
        args.extend(mode);
        let r = run_in(dir.path(), &args, b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{mode:?}: {r:?}");
        assert_eq!(r.stdout.lines().collect::<Vec<_>>(), want, "{mode:?}");
        // Only sector 15 was written; nothing of the page tables reached the disk.
        let mut written = image.clone();
        written[15 * SECTOR_SIZE..].fill(b'W');
        assert_eq!(dir.read("disk.img"), written, "{mode:?}");
    }
}

#[test]
fn misuse_ends_only_that_guest() {
    if !kvm_or_skip("misuse_ends_only_that_guest") {
        return;
    }
    let dir = Scratch::new("disk-misuse");
    dir.write("disk.img", &[0; DISK_SIZE]);
    let hello = guest("hello");
    // mov eax, 0x200000 (the device window with -m 2), then one access relative to rax.
    let window = |access: &[u8]| [&[0xB8, 0x00, 0x00, 0x20, 0x00][..], access].concat();
    let ports: &[&str] = &["-p", "4"];
    let mmio: &[&str] = &["-p", "2", "--mmio"];
    let cases: [(&str, &[&str], Vec<u8>, &str); 12] = [
        (
            // mov dx, 0x22; mov al, 0; out dx, al: a read before setup.
            "early.img",
            ports,
            vec![0x66, 0xBA, 0x22, 0x00, 0xB0, 0x00, 0xEE, 0xF4],
            "disk command 0 before disk setup (command 2): there is no status block to report its result in",
        ),
        (
            // mov dx, 0x21; mov eax, 0x40000000; out dx, eax; mov dx, 0x22; mov al, 2; out dx, al
            "outside.img",
            ports,
            vec![
                0x66, 0xBA, 0x21, 0x00, 0xB8, 0x00, 0x00, 0x00, 0x40, 0xEF, 0x66, 0xBA, 0x22, 0x00,
                0xB0, 0x02, 0xEE, 0xF4,
            ],
            "disk setup with its status block at 0x40000000, outside the guest's user memory",
        ),
        (
            // mov dx, 0x20; out dx, al: a byte to the dword sector register.
            "narrow.img",
            ports,
            vec![0x66, 0xBA, 0x20, 0x00, 0xEE],
            "out of 1 byte(s) on port 0x0020, which takes 4-byte writes (disk sector)",
        ),
        (
            // mov dx, 0x22; out dx, ax: a word to the byte command register. (A word or a
            // dword on 0x10 is seed 002's Matrix value, printed: see tests/modes.rs.)
            "wide.img",
            ports,
            vec![0x66, 0xBA, 0x22, 0x00, 0x66, 0xEF],
            "out of 2 byte(s) on port 0x0022, which takes 1-byte writes (disk command)",
        ),
        (
            // mov dx, 0x10; in al, dx
            "in.img",
            ports,
            vec![0x66, 0xBA, 0x10, 0x00, 0xEC],
            "in of 1 byte(s) on port 0x0010, which takes 1-byte writes (serial data)",
        ),
        (
            // mov byte [rax + 0x80], 'A': the window is not mapped in port mode.
            "window.img",
            ports,
            window(&[0xC6, 0x80, 0x80, 0x00, 0x00, 0x00, 0x41]),
            "page fault writing 0x200080 at rip 0x5",
        ),
        (
            // mov dx, 0x10; mov al, 'A'; out dx, al: no device ports in MMIO mode.
            "port.img",
            mmio,
            vec![0x66, 0xBA, 0x10, 0x00, 0xB0, 0x41, 0xEE],
            "out of 1 byte(s) on unknown port 0x0010",
        ),
        (
            // mov byte [rax + 0x110], 1: a write before setup.
            "mmio-early.img",
            mmio,
            window(&[0xC6, 0x80, 0x10, 0x01, 0x00, 0x00, 0x01]),
            "disk command 1 before disk setup (command 2): there is no status block to report its result in",
        ),
        (
            // mov word [rax + 0x100], 0x1234
            "mmio-wide.img",
            mmio,
            window(&[0x66, 0xC7, 0x80, 0x00, 0x01, 0x00, 0x00, 0x34, 0x12]),
            "MMIO write of 2 byte(s) at 0x200100 in the device window, which takes 4-byte writes (disk sector)",
        ),
        (
            // mov al, [rax + 0x110]
            "mmio-read.img",
            mmio,
            window(&[0x8A, 0x80, 0x10, 0x01, 0x00, 0x00]),
            "MMIO read of 1 byte(s) at 0x200110 in the device window, which takes 1-byte writes (disk command)",
        ),
        (
            // mov byte [rax + 0x81], 0
            "mmio-hole.img",
            mmio,
            window(&[0xC6, 0x80, 0x81, 0x00, 0x00, 0x00, 0x00]),
            "MMIO write of 1 byte(s) at 0x200081 in the device window, which takes nothing (no register there)",
        ),
        (
            // mov byte [rax + 0x1000], 0: mapped (the window's 2 MiB page), but past the window.
            "mmio-past.img",
            mmio,
            window(&[0xC6, 0x80, 0x00, 0x10, 0x00, 0x00, 0x00]),
            "MMIO write of 1 byte(s) at unmapped address 0x201000",
        ),
    ];
    for (name, mode, code, want) in cases {
        let img = dir.write(name, &code);
        let mut args =
            vec!["-m", "2", "--disk", "disk.img", "--disk-cow", "-g", s(&img), s(&hello)];
        args.extend(mode);
        let r = run_in(dir.path(), &args, b"");
        assert_eq!(r.code, Some(1), "{name}: {r:?}");
        assert_eq!(r.stderr.trim_end(), format!("guest 0 ({}): {want}", s(&img)), "{name}");
        assert!(r.stdout.contains("Hello from guest 1!"), "{name}: the other guest ran: {r:?}");
    }
}

#[test]
fn without_a_disk_guests_get_enodev() {
    if !kvm_or_skip("without_a_disk_guests_get_enodev") {
        return;
    }
    let disk = guest("disk");
    for mmio in [false, true] {
        let mut args = vec!["-m", "2", "-p", "4", "-g", s(&disk)];
        if mmio {
            args.push("--mmio");
        }
        let r = run(&args);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert_eq!(r.stdout, "disk: setup failed: ENODEV (no such device)\n");
        assert_eq!(r.stderr.trim_end(), format!("guest 0 ({}): exited with status 1", s(&disk)));
    }
}

#[test]
fn disk_images_are_checked_before_start() {
    let dir = Scratch::new("disk-cli");
    dir.write("empty.img", b"");
    dir.write("odd.img", &[0; 1000]);
    dir.write("ok.img", &[0; 1024]);
    std::fs::create_dir(dir.path().join("dir.img")).unwrap();
    let hello = guest("hello");
    let h = s(&hello);
    let with = |disk| ["-m", "2", "-p", "4", "-g", h, "--disk", disk];
    assert_refused(
        dir.path(),
        &with("odd.img"),
        "disk image odd.img is 1000 bytes; a disk must be a non-zero multiple of 512 bytes",
    );
    assert_refused(dir.path(), &with("empty.img"), "disk image empty.img is 0 bytes");
    assert_refused(dir.path(), &with("missing.img"), "cannot read disk image missing.img");
    assert_refused(dir.path(), &with("dir.img"), "cannot read disk image dir.img");
    assert_refused(
        dir.path(),
        &with("../ok.img"),
        "disk image \"../ok.img\": invalid argument; give it as a relative path",
    );
    let abs = dir.path().join("ok.img");
    assert_refused(dir.path(), &with(s(&abs)), "invalid argument");
    assert_refused(dir.path(), &["-m", "2", "-p", "4", "-g", h, "--disk"], "--disk");
    if kvm_or_skip("disk_images_are_checked_before_start (run part)") {
        let r = run_in(dir.path(), &with("./ok.img"), b"");
        assert_eq!(r.code, Some(0), "{r:?}");
    }
}

#[test]
fn help_explains_the_device_options() {
    let r = run(&["--help"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    for flag in ["--disk", "--disk-cow", "--mmio"] {
        assert!(r.stdout.contains(flag), "{flag}: {}", r.stdout);
    }
}

/// The `#define NAME VALUE` lines of a C header (names without a value are skipped).
fn c_defines(header: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(header).unwrap();
    let mut defines = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let parsed = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse(),
        };
        let value = parsed.unwrap_or_else(|e| panic!("{name} {value}: {e}"));
        assert!(defines.insert(name.to_string(), value).is_none(), "{name} defined twice");
    }
    defines
}

#[test]
fn c_header_matches_hv_core() {
    let header = root().join("guest-sdk/include/hv_devices.h");
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |name: &str, value: u64| want.insert(name.to_string(), value);
    add("HV_DEVICES_ABI_VERSION", u64::from(ABI_VERSION));
    for reg in DeviceReg::ALL {
        let (port, mmio) = match reg {
            DeviceReg::SerialData => ("HV_SERIAL_PORT", "HV_MMIO_SERIAL"),
            DeviceReg::DiskSector => ("HV_DISK_SECTOR_PORT", "HV_MMIO_DISK_SECTOR"),
            DeviceReg::DiskAddr => ("HV_DISK_ADDR_PORT", "HV_MMIO_DISK_ADDR"),
            DeviceReg::DiskCmd => ("HV_DISK_CMD_PORT", "HV_MMIO_DISK_CMD"),
        };
        add(port, u64::from(reg.port()));
        add(mmio, reg.mmio_offset());
    }
    add("HV_MMIO_STRIDE", MMIO_STRIDE);
    add("HV_MMIO_SIZE", MMIO_SIZE);
    add(
        "HV_BOOT_INFO_DEVICES_MMIO",
        BOOT_INFO_OFFSET + std::mem::offset_of!(BootInfo, devices_mmio) as u64,
    );
    for cmd in DiskCmd::ALL {
        add(&format!("{}{}", DiskCmd::C_PREFIX, cmd.c_name()), *cmd as u64);
    }
    add("HV_DISK_SECTOR_SIZE", SECTOR_SIZE as u64);
    add("HV_DISK_STATUS_SIZE", DISK_STATUS_SIZE);
    add("HV_DISK_STATUS_ERR_OFFSET", DISK_STATUS_ERR_OFFSET);
    for e in Errno::ALL {
        add(&format!("{}{}", Errno::C_PREFIX, e.c_name()), *e as u64);
    }
    // Both ways: every constant of hv-core is there with its value, and nothing else is.
    assert_eq!(c_defines(&header), want);
}

/// Builds the C guest with the header alone, as its source comment says; `None` without gcc.
fn c_guest(dir: &Scratch) -> Option<PathBuf> {
    let out = dir.path().join("c-devices");
    let status = Command::new("gcc")
        .current_dir(root())
        .args([
            "-std=c99",
            "-pedantic",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O2",
            "-ffreestanding",
            "-fno-pic",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-nostdlib",
            "-static",
            "-no-pie",
            "-Wl,--build-id=none",
            "-Wl,-T,linker/guest.ld",
            "-I",
            "guest-sdk/include",
            "-o",
            s(&out),
            "guest-examples/c/devices.c",
        ])
        .status();
    match status {
        Ok(st) => {
            assert!(st.success(), "gcc failed on guest-examples/c/devices.c");
            Some(out)
        }
        Err(e) => {
            eprintln!("\n*** SKIPPED the C guest: cannot run gcc: {e} ***\n");
            None
        }
    }
}

#[test]
fn c_guest_uses_the_header_in_both_modes() {
    if !kvm_or_skip("c_guest_uses_the_header_in_both_modes") {
        return;
    }
    let dir = Scratch::new("c-devices");
    let Some(c) = c_guest(&dir) else { return };
    dir.write("disk.img", &[0; DISK_SIZE]);
    for (mode, first) in [
        (&["-p", "4"][..], "c: devices on ports"),
        (&["-p", "2", "--mmio"], "c: devices memory-mapped"),
    ] {
        let mut args = vec!["-m", "2", "--disk", "disk.img", "-g", s(&c)];
        args.extend(mode);
        let r = run_in(dir.path(), &args, b"");
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{r:?}");
        assert_eq!(
            r.stdout.lines().collect::<Vec<_>>(),
            [
                first,
                "c: disk of 8192 bytes",
                "c: sector 3 round trip: ok",
                "c: past the end: EINVAL"
            ],
            "{mode:?}"
        );
        let copy = dir.read("disk.img");
        let sector3: Vec<u8> =
            (0..SECTOR_SIZE).map(|i| b'A' + u8::try_from(i % 26).unwrap()).collect();
        assert_eq!(copy[3 * SECTOR_SIZE..4 * SECTOR_SIZE], sector3[..]);
        assert!(copy[..3 * SECTOR_SIZE].iter().all(|&b| b == 0));
    }
}

/// Runs `diskbench` with `input` ("r N" or "w N") and returns the guest's exits, less those
/// the host caused (its periodic console drain), from `--stats`, and the wall time of the run.
fn diskbench(dir: &Scratch, mode: &[&str], input: &str) -> (u64, Duration) {
    let bench = guest("diskbench");
    let start = Instant::now();
    let mut child = Command::new(hv_host())
        .current_dir(dir.path())
        .args(["-m", "2", "--stats", "--disk", "disk.img", "-g", s(&bench)])
        .args(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{input}: {stderr}");
    let total: u64 = stderr
        .lines()
        .nth(1)
        .and_then(|row| row.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or_else(|| panic!("no exit count in the stats: {stderr}"));
    let interrupted: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("guest 0 exits by kind: "))
        .and_then(|kinds| kinds.split(", ").find_map(|k| k.strip_prefix("interrupted: ")))
        .map_or(0, |n| n.parse().unwrap());
    (total - interrupted, took)
}

#[test]
fn a_sector_costs_three_exits_on_ports_and_one_in_the_window() {
    if !kvm_or_skip("a_sector_costs_three_exits_on_ports_and_one_in_the_window") {
        return;
    }
    let dir = Scratch::new("diskbench");
    dir.write("disk.img", &[0; DISK_SIZE]);
    const N: u64 = 2000;
    // In the MMIO window the sector and address registers are coalesced: only the command
    // exits. On ports they cannot be (see the zone table, `hv-host/src/guest/coalesce/zones.rs`).
    for (mode, per_sector) in [(&["-p", "4"][..], 3), (&["-p", "4", "--mmio"], 1)] {
        for op in ["r", "w"] {
            // Same input length and same output line length, so only the N extra commands
            // differ between the two runs.
            let (exits1, t1) = diskbench(&dir, mode, &format!("{op} {N}\n"));
            let (exits2, t2) = diskbench(&dir, mode, &format!("{op} {}\n", 2 * N));
            assert_eq!(exits2 - exits1, per_sector * N, "{op} {mode:?}");
            let per_op = t2.saturating_sub(t1).as_secs_f64() * 1e6 / N as f64;
            eprintln!("diskbench {op} {mode:?}: {per_sector} exits and {per_op:.1} us per sector");
        }
    }
}

#[test]
fn a_queued_register_write_of_the_wrong_width_still_ends_the_guest() {
    if !kvm_or_skip("a_queued_register_write_of_the_wrong_width_still_ends_the_guest") {
        return;
    }
    use hv_core::layout::{DeviceIo, Layout, MemSize, PageSize};
    use hv_core::proto::devices::DeviceReg;
    let dir = Scratch::new("disk-queued");
    dir.write("disk.img", &[0; DISK_SIZE]);
    let layout = Layout::new(MemSize::Mib2, PageSize::Mib2).with_devices(DeviceIo::Mmio);
    let window = layout.mmio_window().unwrap().as_u64();
    let at = |reg: DeviceReg| u32::try_from(reg.mmio_offset()).unwrap().to_le_bytes();
    // mov eax, window; mov dword [rax + addr], 0x1000; mov byte [rax + cmd], 2 (setup: exits,
    // and from then on the sector and address registers are queued); mov byte [rax + sector],
    // 1 (a byte to the dword register: queued, not exited on); hlt (exits: the queue is drained
    // and the bad write found).
    let mut code = vec![0xB8];
    code.extend(u32::try_from(window).unwrap().to_le_bytes());
    code.extend([0xC7, 0x80]);
    code.extend(at(DeviceReg::DiskAddr));
    code.extend(0x1000u32.to_le_bytes());
    code.extend([0xC6, 0x80]);
    code.extend(at(DeviceReg::DiskCmd));
    code.push(2);
    code.extend([0xC6, 0x80]);
    code.extend(at(DeviceReg::DiskSector));
    code.extend([1, 0xF4]);
    let img = dir.write("queued.img", &code);
    let hello = guest("hello");
    let args = [
        "-m",
        "2",
        "-p",
        "2",
        "--mmio",
        "--disk",
        "disk.img",
        "--disk-cow",
        "-g",
        s(&img),
        s(&hello),
    ];
    let r = run_in(dir.path(), &args, b"");
    assert_eq!(r.code, Some(1), "{r:?}");
    let sector = window + DeviceReg::DiskSector.mmio_offset();
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "guest 0 ({}): MMIO write of 1 byte(s) at {sector:#x} in the device window, which takes 4-byte writes (disk sector)",
            s(&img)
        )
    );
    assert!(r.stdout.contains("Hello from guest 1!"), "{r:?}");
}
