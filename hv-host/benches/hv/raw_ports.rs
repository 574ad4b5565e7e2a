//! The seeds' raw-port guests, built the seeds' way (`benches/guests/seedraw.c`): one `out` per
//! byte from 64-bit ring-3 code, every one an exit until hv queues them, against the C floor
//! making one ring-0 exit per port access (what the seeds' peers make), and the peers
//! themselves when their binaries are named (`HV_BENCH_NIKCIN18`, `HV_BENCH_SIMPLE_KVM_IO`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Bars, Sample, Table, exits_of, measure, median, msf, queued_of, root};

/// Builds `benches/guests/seedraw.c` with `define` the way seed 000 builds its guests (no `-O`,
/// its wrappers and linker script from `tests/seeds/000`), into `dir`; returns the image.
fn build_seedraw(dir: &Path, name: &str, define: &str) -> String {
    let seed = root().join("tests/seeds/000");
    let object = dir.join(format!("{name}.o"));
    let image = dir.join(format!("{name}.img"));
    let status = Command::new("gcc")
        .args(["-m64", "-ffreestanding", "-fno-pic", define, "-I"])
        .arg(&seed)
        .arg("-c")
        .arg("-o")
        .arg(&object)
        .arg(root().join("hv-host/benches/guests/seedraw.c"))
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc seedraw.c {define} failed");
    let status = Command::new("ld")
        .arg("-T")
        .arg(seed.join("guest.ld"))
        .arg(&object)
        .arg("-o")
        .arg(&image)
        .status()
        .expect("run ld");
    assert!(status.success(), "ld seedraw {define} failed");
    image.to_str().unwrap().to_string()
}

/// A peer's host binary named by the environment variable `var` (the seeds' public peers are
/// not part of hv: build them yourself and name them to have them measured side by side).
fn peer(var: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(var)?);
    assert!(path.is_file(), "{var}={} is not a file", path.display());
    Some(path)
}

/// The three rows (serial 0x10, seed 000's byte protocol, eight guests with `out 0xE9`) and
/// their bars.
pub(crate) fn rows(t: &mut Table, bars: &mut Bars, work: &Path, hv: &Path, floor: &Path) {
    let secs = |s: Sample| s.wall.as_secs_f64();
    let nikcin18 = peer("HV_BENCH_NIKCIN18");
    let simple_kvm_io = peer("HV_BENCH_SIMPLE_KVM_IO");
    let raw = work.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let serial_img = build_seedraw(&raw, "serial", "-DSERIAL=100000");
    let files_img = build_seedraw(&raw, "files", "-DFILES=65536");
    let lines_img = build_seedraw(&raw, "lines", "-DLINES=250");
    let serial_out: String = (0..100_000u32)
        .map(|i| if i % 64 == 63 { '\n' } else { char::from(b'a' + (i % 26) as u8) })
        .collect();
    // simple-kvm-io loads `guest.flat` from its working directory, and its newer versions will
    // not start without a disk image `disk.raw` there (the serial guest never touches it).
    let skio_dir = raw.join("skio");
    std::fs::create_dir_all(&skio_dir).unwrap();
    std::fs::copy(&serial_img, skio_dir.join("guest.flat")).unwrap();
    std::fs::write(skio_dir.join("disk.raw"), [0u8; 512]).unwrap();
    let (mut hs, mut fs, mut ps, mut serial_exits) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..5 {
        let s = measure(&raw, hv, &["-m", "2", "-p", "4", "--stats", "-g", &serial_img], b"");
        assert!(s.stdout == serial_out, "serial output is not byte-exact");
        serial_exits = exits_of(&s.stderr);
        hs.push(secs(s));
        fs.push(secs(measure(&raw, floor, &["exits", "100000"], b"")));
        if let Some(p) = &simple_kvm_io {
            let s = measure(&skio_dir, p, &[], b"");
            assert!(s.stdout.contains(&serial_out), "simple-kvm-io's serial output");
            ps.push(secs(s));
        }
    }
    let (hs, fs) = (median(hs), median(fs));
    let skio = (!ps.is_empty()).then(|| median(ps));
    t.row(
        "seeds' raw ports: serial 0x10, 100 kB, one `outb` per byte (seed 003)",
        msf(hs),
        msf(fs),
        Some(hs / fs),
        format!(
            "byte-exact; {serial_exits} exits (100000 without queueing); median of 5; floor: 100000 ring-0 exits; simple-kvm-io (ring 0, the same image): {}",
            skio.map_or_else(|| "not given".into(), |p| format!("{}, hv is {:.2} times it", msf(p), hs / p))
        ),
    );
    bars.check(
        "serial 0x10, 100 kB: at most 2000 exits",
        Some(serial_exits <= 2000),
        format!("{serial_exits} exits"),
    );
    bars.check(
        "serial 0x10, 100 kB: time at most simple-kvm-io's",
        skio.map(|p| hs <= p),
        skio.map_or_else(|| "-".into(), |p| format!("{:.2} times it", hs / p)),
    );

    // Seed 000's byte protocol: 64 KiB written then read back, a request per byte. The peer's
    // port accesses: two opens of "bench.dat" (11 outs, 4 ins), 65536 writes (6 and 1), 65537
    // reads (5 and 1, the last one the end of file), two closes (5 and 1).
    let accesses = 2 * 15 + 65536 * 7 + 65537 * 6 + 2 * 6;
    let accesses_s = accesses.to_string();
    let (mut hf, mut ff, mut pf, mut file_exits, mut file_queued) =
        (Vec::new(), Vec::new(), Vec::new(), 0, 0);
    for _ in 0..3 {
        let s = measure(&raw, hv, &["-m", "2", "-p", "4", "--stats", "-g", &files_img], b"");
        assert_eq!(s.stdout, "files: ok\n");
        file_exits = exits_of(&s.stderr);
        file_queued = queued_of(&s.stderr);
        hf.push(secs(s));
        ff.push(secs(measure(&raw, floor, &["exits", &accesses_s], b"")));
        if let Some(p) = &nikcin18 {
            let s = measure(&raw, p, &["-m", "2", "-p", "4", "-g", &files_img], b"");
            assert!(s.stdout.starts_with("files: ok\n"), "nikcin18: {}", s.stdout);
            pf.push(secs(s));
        }
    }
    let (hf, ff) = (median(hf), median(ff));
    let nk_files = (!pf.is_empty()).then(|| median(pf));
    t.row(
        "seeds' raw ports: seed 000's byte protocol, 64 KiB written then read back",
        msf(hf),
        msf(ff),
        Some(hf / ff),
        format!(
            "{file_exits} exits and {file_queued} queued writes for {accesses} port accesses; median of 3; floor: {accesses} ring-0 exits, one per access; nikcin18 (ring 0, the same image): {}",
            nk_files.map_or_else(|| "not given".into(), |p| format!("{}, hv is {:.2} times faster", msf(p), p / hf))
        ),
    );
    bars.check(
        "seed 000's byte protocol, 64 KiB: at least 3 times faster than nikcin18",
        nk_files.map(|p| p / hf >= 3.0),
        nk_files.map_or_else(|| "-".into(), |p| format!("{:.2} times faster", p / hf)),
    );

    // Eight guests printing 250 lines of 64 bytes each with `out 0xE9`, a byte at a time.
    let lines_out = 250 * 64;
    let lines_s = lines_out.to_string();
    let mut eight_lines = vec!["-m", "2", "-p", "4", "--stats", "-g"];
    eight_lines.extend(std::iter::repeat_n(lines_img.as_str(), 8));
    let mut nk_eight = vec!["-m", "2", "-p", "4", "-g"];
    nk_eight.extend(std::iter::repeat_n(lines_img.as_str(), 8));
    let (mut hl, mut fl, mut pl, mut line_exits) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..5 {
        let s = measure(&raw, hv, &eight_lines, b"");
        assert_eq!(s.stdout.len(), 8 * lines_out, "eight guests' lines");
        line_exits = exits_of(&s.stderr);
        hl.push(secs(s));
        fl.push(secs(measure(&raw, floor, &["exits", &lines_s, "8"], b"")));
        if let Some(p) = &nikcin18 {
            pl.push(secs(measure(&raw, p, &nk_eight, b"")));
        }
    }
    let (hl, fl) = (median(hl), median(fl));
    let nk_lines = (!pl.is_empty()).then(|| median(pl));
    t.row(
        "seeds' raw ports: 8 guests at once, each 250 lines of 64 bytes with `out 0xE9`",
        msf(hl),
        msf(fl),
        Some(hl / fl),
        format!(
            "lines whole; guest 0: {line_exits} exits for {lines_out} bytes; median of 5; floor: 8 threads, {lines_out} ring-0 exits each; nikcin18 (ring 0, the same image, lines garbled): {}",
            nk_lines.map_or_else(|| "not given".into(), |p| format!("{}, hv is {:.2} times it", msf(p), hl / p))
        ),
    );
    bars.check(
        "8 guests printing with raw `out 0xE9`: level with nikcin18",
        nk_lines.map(|p| hl <= p),
        nk_lines.map_or_else(|| "-".into(), |p| format!("{:.2} times it", hl / p)),
    );
}
