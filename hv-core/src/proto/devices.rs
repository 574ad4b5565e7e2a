//! The seed's two devices, a serial port and a DMA "disk", with the seed's register interface.
//!
//! # Registers
//!
//! Every register is write-only and takes exactly one access width. The guest reaches them
//! either as ports (the default) or, when the host runs with `--mmio`, as memory in the device
//! window at [`BootInfo::devices_mmio`](super::hv_page::BootInfo::devices_mmio), never both: in
//! port mode the window is not mapped, in MMIO mode the ports are unknown. A guest MUST pick the
//! mode from the boot info at run time; the SDKs do.
//!
//! The window is seed 003's: it starts right after guest RAM (see
//! [`Layout::mmio_window`](crate::layout::Layout::mmio_window); 0x200000 with 2 MiB of RAM),
//! and register `port` is at `window + port * 8` ([`MMIO_STRIDE`]).
//!
//! | register            | port   | MMIO offset | width | what a write does |
//! |---------------------|--------|-------------|-------|-------------------|
//! | [`SerialData`]      | 0x10   | 0x80        | 1     | prints the byte (like port 0xE9) |
//! | [`DiskSector`]      | 0x20   | 0x100       | 4     | sets the sector of the next command |
//! | [`DiskAddr`]        | 0x21   | 0x108       | 4     | sets the guest address of the next command |
//! | [`DiskCmd`]         | 0x22   | 0x110       | 1     | runs a [`DiskCmd`]          |
//!
//! A read, a write of another width, or an access to the window where no register is ends the
//! guest (as any wrong-size port access does).
//!
//! # The disk
//!
//! The disk is an array of [`SECTOR_SIZE`]-byte sectors. [`DiskCmd::Setup`] MUST come first:
//! it makes the [`DiskStatus`] at the address register the disk's status block, writes the
//! disk's size into it, and from then on the host writes the result of every command into its
//! `err` in place: 0 on success, else a positive [`Errno`](super::errno::Errno) code:
//!
//! - `ENODEV`: no disk is attached (`--disk` not given); setup also reports it (with size 0);
//! - `EFAULT`: the 512 bytes at the address register are not wholly in the guest's user RAM
//!   (its RAM up to and including the hv page);
//! - `EINVAL`: the sector is at or past the end of the disk;
//! - `ENOSYS`: an unknown command byte;
//! - `EFBIG`: a write, once the guest's write quota (`--quota`) is used up; nothing is written;
//! - `EIO`, `ENOSPC`, `EDQUOT`, `EROFS`, `EACCES`: the host failed to read or write the disk or
//!   the guest's copy (the host's own code).
//!
//! Checks run in that order. A command before any setup has nowhere to report to: the host
//! ends the guest. Setup may be called only once, as the seed says: a second setup, at any
//! address, reports `EBUSY` in the status block in use, which stays where it was; nothing is
//! written at the new address.
//!
//! Writes go to the image given with `--disk` (the disk keeps them, as the seed's does; only
//! one guest may then have the disk). With `--disk-cow` they go to the guest's own copy,
//! `<image>.cow<ID>`, made lazily one sector at a time; reads come from the copy for the
//! sectors the guest wrote, from the image for the others.
//!
//! Costs: a sector read or write is three register writes. On ports that is three exits; in the
//! device window the host queues the sector and address writes without an exit (coalesced
//! MMIO, from the disk's setup on) and applies them, in order, when the command exits: one exit.
//! setup is two. A serial byte is one exit, until the guest has made 256 writes the host could
//! queue: then its 1-byte serial writes are queued too (on the port and in the window), and
//! printed, in order, at its next exit.
//!
//! [`SerialData`]: DeviceReg::SerialData
//! [`DiskSector`]: DeviceReg::DiskSector
//! [`DiskAddr`]: DeviceReg::DiskAddr
//! [`DiskCmd`]: DeviceReg::DiskCmd

use super::wire_enum;

/// Port of the serial data register.
pub const SERIAL_PORT: u16 = 0x0010;
/// Port of the disk's sector register.
pub const DISK_SECTOR_PORT: u16 = 0x0020;
/// Port of the disk's DMA address register.
pub const DISK_ADDR_PORT: u16 = 0x0021;
/// Port of the disk's command register.
pub const DISK_CMD_PORT: u16 = 0x0022;

/// Bytes per port in the device window: register `port` is at `port * MMIO_STRIDE` (seed 003's
/// layout).
pub const MMIO_STRIDE: u64 = 8;
/// Offset of the serial data register in the device window.
pub const MMIO_SERIAL: u64 = SERIAL_PORT as u64 * MMIO_STRIDE;
/// Offset of the disk's sector register in the device window.
pub const MMIO_DISK_SECTOR: u64 = DISK_SECTOR_PORT as u64 * MMIO_STRIDE;
/// Offset of the disk's DMA address register in the device window.
pub const MMIO_DISK_ADDR: u64 = DISK_ADDR_PORT as u64 * MMIO_STRIDE;
/// Offset of the disk's command register in the device window.
pub const MMIO_DISK_CMD: u64 = DISK_CMD_PORT as u64 * MMIO_STRIDE;

/// Size of a disk sector, the unit of every transfer (a `usize`: it sizes buffers).
pub const SECTOR_SIZE: usize = 512;

/// One register of the seed's devices.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum DeviceReg {
    /// Serial port: a 1-byte write prints the byte.
    SerialData,
    /// Disk: a 4-byte write sets the sector of the next command.
    DiskSector,
    /// Disk: a 4-byte write sets the guest address of the next command.
    DiskAddr,
    /// Disk: a 1-byte write runs a [`DiskCmd`].
    DiskCmd,
}

impl DeviceReg {
    /// Every register.
    pub const ALL: [DeviceReg; 4] =
        [DeviceReg::SerialData, DeviceReg::DiskSector, DeviceReg::DiskAddr, DeviceReg::DiskCmd];

    /// Its port (port mode).
    pub const fn port(self) -> u16 {
        match self {
            DeviceReg::SerialData => SERIAL_PORT,
            DeviceReg::DiskSector => DISK_SECTOR_PORT,
            DeviceReg::DiskAddr => DISK_ADDR_PORT,
            DeviceReg::DiskCmd => DISK_CMD_PORT,
        }
    }

    /// Its offset in the device window (MMIO mode).
    pub const fn mmio_offset(self) -> u64 {
        match self {
            DeviceReg::SerialData => MMIO_SERIAL,
            DeviceReg::DiskSector => MMIO_DISK_SECTOR,
            DeviceReg::DiskAddr => MMIO_DISK_ADDR,
            DeviceReg::DiskCmd => MMIO_DISK_CMD,
        }
    }

    /// The one access width it takes, in bytes.
    pub const fn width(self) -> usize {
        match self {
            DeviceReg::SerialData | DeviceReg::DiskCmd => 1,
            DeviceReg::DiskSector | DeviceReg::DiskAddr => 4,
        }
    }

    /// What it takes, for messages: "1-byte writes (serial data)".
    pub const fn takes(self) -> &'static str {
        match self {
            DeviceReg::SerialData => "1-byte writes (serial data)",
            DeviceReg::DiskSector => "4-byte writes (disk sector)",
            DeviceReg::DiskAddr => "4-byte writes (disk DMA address)",
            DeviceReg::DiskCmd => "1-byte writes (disk command)",
        }
    }

    /// The register at `port`, if any.
    pub const fn from_port(port: u16) -> Option<DeviceReg> {
        match port {
            SERIAL_PORT => Some(DeviceReg::SerialData),
            DISK_SECTOR_PORT => Some(DeviceReg::DiskSector),
            DISK_ADDR_PORT => Some(DeviceReg::DiskAddr),
            DISK_CMD_PORT => Some(DeviceReg::DiskCmd),
            _ => None,
        }
    }

    /// The register at `offset` in the device window, if any (only its first byte counts).
    pub const fn from_mmio_offset(offset: u64) -> Option<DeviceReg> {
        if !offset.is_multiple_of(MMIO_STRIDE) || offset / MMIO_STRIDE > u16::MAX as u64 {
            return None;
        }
        DeviceReg::from_port((offset / MMIO_STRIDE) as u16)
    }
}

wire_enum! {
    /// Disk commands, written to [`DeviceReg::DiskCmd`]. Values are the seed's; never reused.
    pub enum DiskCmd : "HV_DISK_CMD_" {
        /// Copy sector `sector` of the disk to the [`SECTOR_SIZE`] bytes at `addr`.
        Read = 0 => "READ",
        /// Copy the [`SECTOR_SIZE`] bytes at `addr` to sector `sector` of the disk (with
        /// `--disk-cow`, of this guest's own copy of it).
        Write = 1 => "WRITE",
        /// Make the [`DiskStatus`] at `addr` the status block; `sector` is ignored.
        Setup = 2 => "SETUP",
    }
}

/// The disk's status block, in guest memory where the guest asked for it with
/// [`DiskCmd::Setup`]. The host writes it in place; the guest only reads it. It SHOULD be
/// 8-byte aligned (its natural alignment); all [`DISK_STATUS_SIZE`] bytes MUST lie in user RAM.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct DiskStatus {
    /// OUT: size of the disk in bytes (a multiple of [`SECTOR_SIZE`]; 0 with no disk).
    /// Written at setup.
    pub size: u64,
    /// OUT: result of the last command: 0 on success, else a positive errno code (not negated,
    /// as in the seed). Written after every command.
    pub err: i32,
}

/// Size of [`DiskStatus`] (C: `sizeof(struct hv_disk_status)`, with its tail padding).
pub const DISK_STATUS_SIZE: u64 = core::mem::size_of::<DiskStatus>() as u64;
/// Offset of [`DiskStatus::err`].
pub const DISK_STATUS_ERR_OFFSET: u64 = core::mem::offset_of!(DiskStatus, err) as u64;

// Pin the layout the C header and the seed's `struct hdd_status { u64 size; int err; }` share.
const _: () = assert!(DISK_STATUS_SIZE == 16);
const _: () = assert!(core::mem::align_of::<DiskStatus>() == 8);
const _: () = assert!(core::mem::offset_of!(DiskStatus, size) == 0);
const _: () = assert!(DISK_STATUS_ERR_OFFSET == 8);
// Every register is naturally aligned in the window, and the window holds them all.
const _: () = {
    let mut i = 0;
    while i < DeviceReg::ALL.len() {
        let r = DeviceReg::ALL[i];
        assert!(r.mmio_offset().is_multiple_of(r.width() as u64));
        assert!(r.mmio_offset() + r.width() as u64 <= crate::layout::MMIO_SIZE);
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_decode_both_ways() {
        for r in DeviceReg::ALL {
            assert_eq!(DeviceReg::from_port(r.port()), Some(r));
            assert_eq!(DeviceReg::from_mmio_offset(r.mmio_offset()), Some(r));
        }
        assert_eq!(DeviceReg::from_port(0xE9), None);
        // Seed 003's guest: serial at 0x200080, sector 0x200100, address 0x200108, command
        // 0x200110 with the window at 0x200000.
        assert_eq!(DeviceReg::from_mmio_offset(0x80), Some(DeviceReg::SerialData));
        assert_eq!(DeviceReg::from_mmio_offset(0x100), Some(DeviceReg::DiskSector));
        assert_eq!(DeviceReg::from_mmio_offset(0x108), Some(DeviceReg::DiskAddr));
        assert_eq!(DeviceReg::from_mmio_offset(0x110), Some(DeviceReg::DiskCmd));
        assert_eq!(DeviceReg::from_mmio_offset(0x10), None);
        assert_eq!(DeviceReg::from_mmio_offset(0x81), None);
        assert_eq!(DeviceReg::from_mmio_offset(0x104), None);
        assert_eq!(DeviceReg::from_mmio_offset(!7), None);
    }

    #[test]
    fn commands_are_the_seeds() {
        assert_eq!(DiskCmd::try_from(0), Ok(DiskCmd::Read));
        assert_eq!(DiskCmd::try_from(1), Ok(DiskCmd::Write));
        assert_eq!(DiskCmd::try_from(2), Ok(DiskCmd::Setup));
        assert_eq!(DiskCmd::try_from(3), Err(3));
    }
}
