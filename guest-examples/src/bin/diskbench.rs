//! Measures disk commands: reads `r N` or `w N` from stdin, then reads or writes N sectors
//! (cycling over the disk) and prints one line. The tests run it twice with different N and
//! divide the difference in exits and time by the difference in N.
#![no_std]
#![no_main]

use hv_guest::console::{getchar, read_u64};
use hv_guest::devices::{Disk, SECTOR_SIZE, Status};
use hv_guest::println;

hv_guest::entry!(main);

fn main() -> i32 {
    let op = getchar();
    let n = u32::try_from(read_u64().unwrap_or(0)).unwrap_or(u32::MAX);
    let mut status = Status::default();
    let mut disk = match Disk::setup(&mut status) {
        Ok(d) => d,
        Err(e) => {
            println!("diskbench: setup failed: {}", e.c_name());
            return 1;
        }
    };
    let sectors = u32::try_from(disk.sectors()).unwrap_or(u32::MAX).max(1);
    let mut buf = [0u8; SECTOR_SIZE];
    for i in 0..n {
        let r = match op {
            Some(b'w') => disk.write_sector(i % sectors, &buf),
            _ => disk.read_sector(i % sectors, &mut buf),
        };
        if let Err(e) = r {
            println!("diskbench: sector {i}: {}", e.c_name());
            return 1;
        }
    }
    let what = if op == Some(b'w') { "writes" } else { "reads" };
    println!("diskbench: {n} sector {what}");
    0
}
