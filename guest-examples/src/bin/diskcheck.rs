//! A hostile guest: misuses the disk every way a set-up disk can be misused and prints what
//! the host answered, one `check <what>: <answer>` line each. The tests compare the lines
//! exactly. Expects an 8 KiB disk whose sector 0 starts with `BOOT`.
#![no_std]
#![no_main]

use hv_guest::devices::{self, Disk, SECTOR_SIZE, Status};
use hv_guest::hv_core::proto::devices::{DeviceReg, DiskCmd};
use hv_guest::{Errno, println};

hv_guest::entry!(main);

fn show(what: &str, r: Result<(), Errno>) {
    match r {
        Ok(()) => println!("check {what}: ok"),
        Err(e) => println!("check {what}: {}", e.c_name()),
    }
}

/// One command with raw register values, as a hand-written guest would issue it.
fn raw(disk: &Disk<'_>, sector: u32, addr: u32, cmd: u32) -> Result<(), Errno> {
    devices::write_register(DeviceReg::DiskSector, sector);
    devices::write_register(DeviceReg::DiskAddr, addr);
    devices::write_register(DeviceReg::DiskCmd, cmd);
    disk.last_error().map_or(Ok(()), Err)
}

fn main() -> i32 {
    let end = u32::try_from(hv_guest::boot_info().user_end).unwrap_or(u32::MAX);
    let mut status = Status::default();
    let mut disk = match Disk::setup(&mut status) {
        Ok(d) => d,
        Err(e) => {
            println!("check setup: {}", e.c_name());
            return 1;
        }
    };
    println!("check setup: ok, {} bytes", disk.size());
    let mut buf = [0u8; SECTOR_SIZE];
    let past = u32::try_from(disk.sectors()).unwrap_or(u32::MAX);
    show("read past the end", disk.read_sector(past, &mut buf));
    show("read sector 0xffffffff", disk.read_sector(u32::MAX, &mut buf));
    show("write past the end", disk.write_sector(past, &buf));
    let read = DiskCmd::Read as u32;
    let write = DiskCmd::Write as u32;
    show("read to unmapped 0x40000000", raw(&disk, 0, 0x4000_0000, read));
    show("read across the end of user memory", raw(&disk, 0, end - 100, read));
    show("read into the page tables", raw(&disk, 0, end, read));
    show("write from the page tables", raw(&disk, 0, end, write));
    show("read to 0xffffffff", raw(&disk, 0, u32::MAX, read));
    show("unknown command", raw(&disk, 0, 0x1000, 9));
    // The host still answers normally after all that.
    show("read sector 0", disk.read_sector(0, &mut buf));
    println!("check sector 0 reads: {}", core::str::from_utf8(&buf[..4]).unwrap_or("?"));
    buf.fill(b'W');
    show("write sector 15", disk.write_sector(15, &buf));
    buf.fill(0);
    show("read sector 15", disk.read_sector(15, &mut buf));
    println!("check sector 15 reads back: {}", buf.iter().all(|&b| b == b'W'));
    // Setup may be called only once: a second one, at a bad or a good address, is refused
    // with EBUSY in the block in use, which stays; nothing is written at the new address.
    let setup = DiskCmd::Setup as u32;
    show("setup again at 0x40000000", raw(&disk, 0, 0x4000_0000, setup));
    let second = Status { size: 7, err: 7 };
    let at = u32::try_from(&raw const second as u64).unwrap_or(u32::MAX);
    show("setup again", raw(&disk, 0, at, setup));
    // SAFETY: a local the host may have written: read it volatile.
    let after = unsafe { core::ptr::read_volatile(&raw const second) };
    println!("check second block untouched: {}", after.size == 7 && after.err == 7);
    show("read after that", disk.read_sector(0, &mut buf));
    0
}
