//! The seed's eight disk self-checks, printed through the serial port. Checks 1-7 each write a
//! pattern at an offset and length, read it back and compare; check 8 writes past the end of
//! the disk and expects `EINVAL`. Works with the devices on ports and with `--mmio`.
//!
//! Run: `truncate -s 8K disk.img && hv-host -m 2 -p 4 -g disk --disk disk.img [--mmio]`.
//! After a good run the disk (`disk.img`, or with `--disk-cow` each guest's `disk.img.cow<ID>`)
//! holds check 7's pattern over the whole disk, byte `o` being `PATTERN[(o + 7) % 59]`.
#![no_std]
#![no_main]

use core::fmt::{self, Write};

use hv_guest::Errno;
use hv_guest::devices::{Disk, Serial, Status};

hv_guest::entry!(main);

/// What the checks write; 59 bytes, so the pattern never lines up with a sector.
const PATTERN: &[u8; 59] = b"hv disk check: the quick brown fox jumps over the lazy dog\n";

/// The byte check `check` writes at disk offset `o`: each check writes different bytes, so a
/// read that returns an earlier check's data fails.
fn pattern(check: usize, o: usize) -> u8 {
    PATTERN[(o + check) % PATTERN.len()]
}

/// How a check failed.
enum Failure {
    Write(usize, Errno),
    Read(usize, Errno),
    Mismatch { at: usize, got: u8, want: u8 },
    Expected(Errno),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Write(at, e) => write!(f, "writing at {at}: {} ({e})", e.c_name()),
            Failure::Read(at, e) => write!(f, "reading at {at}: {} ({e})", e.c_name()),
            Failure::Mismatch { at, got, want } => {
                write!(f, "byte {at} reads {got:#04x}, wrote {want:#04x}")
            }
            Failure::Expected(e) => write!(f, "expected {}, got success", e.c_name()),
        }
    }
}

/// Bytes moved per `write_at`/`read_at` call, so any disk size works with a small buffer.
const CHUNK: usize = 2048;

/// Writes check `check`'s pattern over `[offset, offset + len)`, reads it back and compares.
fn round_trip(disk: &mut Disk<'_>, check: usize, offset: usize, len: usize) -> Result<(), Failure> {
    let mut buf = [0u8; CHUNK];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        let at = offset + done;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(check, at + i);
        }
        disk.write_at(at as u64, &buf[..n]).map_err(|e| Failure::Write(at, e))?;
        done += n;
    }
    done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        let at = offset + done;
        buf[..n].fill(0);
        disk.read_at(at as u64, &mut buf[..n]).map_err(|e| Failure::Read(at, e))?;
        for (i, &got) in buf[..n].iter().enumerate() {
            let want = pattern(check, at + i);
            if got != want {
                return Err(Failure::Mismatch { at: at + i, got, want });
            }
        }
        done += n;
    }
    Ok(())
}

/// A write that must fail with `want`.
fn refused(disk: &mut Disk<'_>, offset: usize, len: usize, want: Errno) -> Result<(), Failure> {
    let buf = [0x55u8; CHUNK];
    match disk.write_at(offset as u64, &buf[..len.min(CHUNK)]) {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(Failure::Write(offset, e)),
        Ok(()) => Err(Failure::Expected(want)),
    }
}

fn main() -> i32 {
    let info = hv_guest::boot_info();
    let mut status = Status::default();
    let mut disk = match Disk::setup(&mut status) {
        Ok(disk) => disk,
        Err(e) => {
            let _ = writeln!(Serial, "disk: setup failed: {} ({e})", e.c_name());
            return 1;
        }
    };
    let size = usize::try_from(disk.size()).unwrap_or(0);
    let _ = match info.devices_mmio {
        0 => writeln!(Serial, "disk: {size} bytes, devices on ports"),
        w => writeln!(Serial, "disk: {size} bytes, devices memory-mapped at {w:#x}"),
    };
    let sector = hv_guest::devices::SECTOR_SIZE;
    let checks: [(&str, usize, usize); 7] = [
        ("sector 0 aligned", 0, sector),
        ("sector 0 partial", 0, 50),
        ("sector 1 aligned", sector, sector),
        ("sector 1 partial", sector, 50),
        ("two sectors aligned", 0, 2 * sector),
        ("two sectors misaligned", 50, 2 * sector),
        ("whole disk", 0, size),
    ];
    let mut failed = 0;
    let mut report = |n: usize, what: &str, result: Result<(), Failure>| {
        let _ = match result {
            Ok(()) => writeln!(Serial, "disk check {n} {what}: ok"),
            Err(f) => {
                failed += 1;
                writeln!(Serial, "disk check {n} {what}: FAILED {f}")
            }
        };
    };
    for (i, (what, offset, len)) in checks.into_iter().enumerate() {
        report(i + 1, what, round_trip(&mut disk, i + 1, offset, len));
    }
    report(8, "write past the end", refused(&mut disk, size, sector, Errno::Einval));
    let _ = writeln!(Serial, "disk checks: {} of 8 passed", 8 - failed);
    failed
}
