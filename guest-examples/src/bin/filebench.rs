//! File throughput: writes `bench.dat` in 1 MiB calls, closes it, reads it back in 1 MiB calls
//! and checks every byte. The size in MiB comes from stdin (default 8). Time the whole process.
#![no_std]
#![no_main]

use hv_guest::console::read_u64;
use hv_guest::fs::{File, Mode};
use hv_guest::{Errno, println};

hv_guest::entry!(main);

const CHUNK: usize = 1 << 20;
static mut BUF: [u8; CHUNK] = [0; CHUNK];

fn run(mib: usize, buf: &mut [u8; CHUNK]) -> Result<(), Errno> {
    let mut out = File::open("bench.dat", Mode::Write)?;
    for i in 0..mib {
        buf.fill(i as u8);
        out.write_all(buf)?;
    }
    out.close()?;
    let mut input = File::open("bench.dat", Mode::Read)?;
    for i in 0..mib {
        let mut filled = 0;
        while filled < CHUNK {
            match input.read(&mut buf[filled..])? {
                0 => return Err(Errno::Eio),
                n => filled += n,
            }
        }
        if buf.iter().any(|&b| b != i as u8) {
            return Err(Errno::Eio);
        }
    }
    Ok(())
}

fn main() -> i32 {
    let mib = read_u64().filter(|&n| n > 0).map_or(8, |n| usize::try_from(n).unwrap_or(usize::MAX));
    // SAFETY: the only reference to BUF, taken once in this single-threaded guest.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(BUF) };
    match run(mib, buf) {
        Ok(()) => {
            println!("filebench: wrote and read back {mib} MiB");
            0
        }
        Err(e) => {
            println!("filebench: failed: {e}");
            1
        }
    }
}
