//! The seed's devices: a serial port and a DMA disk (see `hv_core::proto::devices` for the
//! protocol).
//!
//! The host serves them on ports, or memory-mapped when it runs with `--mmio`. Every function
//! here reads which from the boot info when it runs, so one image works in both modes.
//!
//! ```ignore
//! use core::fmt::Write;
//! use hv_guest::devices::{Disk, Serial, Status};
//!
//! let mut status = Status::default();
//! let mut disk = Disk::setup(&mut status)?; // Err(ENODEV) when no --disk was given
//! let mut sector = [0u8; 512];
//! disk.read_sector(0, &mut sector)?;
//! sector[..5].copy_from_slice(b"hello");
//! disk.write_sector(0, &sector)?; // lands in the image (with --disk-cow: this guest's copy)
//! writeln!(Serial, "the disk has {} bytes", disk.size()).ok();
//! ```
//!
//! Costs, in exits: a serial byte is one; a sector read or write is three (sector, address,
//! command); setup is two. [`Disk::read_at`] and [`Disk::write_at`] add a sector read for each
//! partial sector they write.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use hv_core::proto::devices::{DeviceReg, DiskCmd};
pub use hv_core::proto::devices::{DiskStatus as Status, SECTOR_SIZE};

use crate::{Errno, arch};

/// Where the registers are: the device window's address, or 0 for ports.
fn window() -> u64 {
    crate::boot_info().devices_mmio
}

/// Writes `value` to `reg` (its low byte for a 1-byte register), on its port or in the window.
fn write_reg(window: u64, reg: DeviceReg, value: u32) {
    let [low, ..] = value.to_le_bytes();
    match (window, reg.width()) {
        (0, 1) => arch::outb(reg.port(), low),
        (0, _) => arch::outl(reg.port(), value),
        // SAFETY: a non-zero window is the host's device window (boot info), which is mapped
        // and holds no memory the program uses.
        (w, 1) => unsafe { arch::mmio_write8(w + reg.mmio_offset(), low) },
        // SAFETY: as above.
        (w, _) => unsafe { arch::mmio_write32(w + reg.mmio_offset(), value) },
    }
}

/// Writes `value` to a device register, on its port or in the window as the host serves them.
/// For tools and tests that speak the protocol directly (including on purpose wrongly);
/// programs use [`serial_write`] and [`Disk`]. A disk command issued this way makes the host
/// write its status block wherever the last setup put it.
pub fn write_register(reg: DeviceReg, value: u32) {
    write_reg(window(), reg, value);
}

/// Writes bytes to the serial port, one exit per byte. The host handles them like console
/// output (`putchar`): lines are kept whole.
pub fn serial_write(bytes: &[u8]) {
    let window = window();
    for &b in bytes {
        write_reg(window, DeviceReg::SerialData, u32::from(b));
    }
}

/// The serial port as a [`fmt::Write`]: `writeln!(Serial, "...")`. One exit per byte.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serial;

impl fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        serial_write(s.as_bytes());
        Ok(())
    }
}

/// The DMA address register is 32 bits wide (the seed's dword); guest RAM lies far below 4 GiB.
fn dma_addr<T>(p: *const T) -> Result<u32, Errno> {
    u32::try_from(p as u64).map_err(|_| Errno::Efault)
}

/// The disk, set up with its status block.
///
/// The host writes the status block in place after every command, so it stays borrowed for
/// as long as the `Disk` lives. There is one disk per guest, set up once: a second setup is
/// refused (`EBUSY`, reported in the first status block, which stays in use).
#[derive(Debug)]
pub struct Disk<'s> {
    status: NonNull<Status>,
    _borrow: PhantomData<&'s mut Status>,
}

impl<'s> Disk<'s> {
    /// Sets the disk up with its status block at `status` (2 exits). Fails with the error the
    /// host reported: `ENODEV` when no disk is attached.
    pub fn setup(status: &'s mut Status) -> Result<Disk<'s>, Errno> {
        let disk = Disk { status: NonNull::from(status), _borrow: PhantomData };
        let window = window();
        write_reg(window, DeviceReg::DiskAddr, dma_addr(disk.status.as_ptr())?);
        write_reg(window, DeviceReg::DiskCmd, DiskCmd::Setup as u32);
        match disk.last_error() {
            None => Ok(disk),
            Some(e) => Err(e),
        }
    }

    /// Size of the disk in bytes (no exit: read from the status block).
    pub fn size(&self) -> u64 {
        // SAFETY: `status` is borrowed for 's; volatile because the host writes it.
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.status.as_ptr()).size)) }
    }

    /// The error of the last command, if it failed (no exit: read from the status block).
    pub fn last_error(&self) -> Option<Errno> {
        // SAFETY: as in `size`.
        let err = unsafe { ptr::read_volatile(ptr::addr_of!((*self.status.as_ptr()).err)) };
        match err {
            0 => None,
            // A code this SDK does not know is still an error.
            e => Some(
                u8::try_from(e).ok().and_then(|e| Errno::try_from(e).ok()).unwrap_or(Errno::Eio),
            ),
        }
    }

    /// Number of sectors.
    pub fn sectors(&self) -> u64 {
        self.size() / SECTOR_SIZE as u64
    }

    /// Runs one command on `sector` with the buffer at `addr` (3 exits on ports, 1 in the
    /// MMIO window, where the host queues the register writes).
    fn command(&mut self, sector: u32, addr: u32, cmd: DiskCmd) -> Result<(), Errno> {
        let window = window();
        write_reg(window, DeviceReg::DiskSector, sector);
        write_reg(window, DeviceReg::DiskAddr, addr);
        // Note (ordering): the register writes are `asm!` without `nomem`, and `addr` came
        // from a pointer cast, so the compiler assumes the host may read or write the buffer
        // during the command: stores to it happen before, loads from it after.
        write_reg(window, DeviceReg::DiskCmd, cmd as u32);
        self.last_error().map_or(Ok(()), Err)
    }

    /// Reads sector `n` into `buf`. `EINVAL` past the end of the disk.
    pub fn read_sector(&mut self, n: u32, buf: &mut [u8; SECTOR_SIZE]) -> Result<(), Errno> {
        self.command(n, dma_addr(buf.as_mut_ptr())?, DiskCmd::Read)
    }

    /// Writes `buf` to sector `n` (of the image, or with `--disk-cow` of this guest's copy).
    /// `EINVAL` past the end of the disk, `EFBIG` once the guest's write quota is used up.
    pub fn write_sector(&mut self, n: u32, buf: &[u8; SECTOR_SIZE]) -> Result<(), Errno> {
        self.command(n, dma_addr(buf.as_ptr())?, DiskCmd::Write)
    }

    /// Reads `buf.len()` bytes from byte `offset` of the disk, at any alignment.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let (sector, within, n) = span(offset + done as u64, buf.len() - done)?;
            let part = &mut buf[done..done + n];
            if let Ok(whole) = <&mut [u8; SECTOR_SIZE]>::try_from(&mut *part) {
                self.read_sector(sector, whole)?;
            } else {
                let mut tmp = [0u8; SECTOR_SIZE];
                self.read_sector(sector, &mut tmp)?;
                part.copy_from_slice(&tmp[within..within + n]);
            }
            done += n;
        }
        Ok(())
    }

    /// Writes `buf` at byte `offset` of the disk, at any alignment: a partial sector is read,
    /// patched and written back.
    pub fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let (sector, within, n) = span(offset + done as u64, buf.len() - done)?;
            let part = &buf[done..done + n];
            if let Ok(whole) = <&[u8; SECTOR_SIZE]>::try_from(part) {
                self.write_sector(sector, whole)?;
            } else {
                let mut tmp = [0u8; SECTOR_SIZE];
                self.read_sector(sector, &mut tmp)?;
                tmp[within..within + n].copy_from_slice(part);
                self.write_sector(sector, &tmp)?;
            }
            done += n;
        }
        Ok(())
    }
}

/// The sector holding byte `offset`, the offset within it, and how many of `len` bytes from
/// there it holds. `EINVAL` for a sector number past the 32-bit register.
fn span(offset: u64, len: usize) -> Result<(u32, usize, usize), Errno> {
    let size = SECTOR_SIZE as u64;
    let sector = u32::try_from(offset / size).map_err(|_| Errno::Einval)?;
    let within = usize::try_from(offset % size).map_err(|_| Errno::Einval)?;
    Ok((sector, within, len.min(SECTOR_SIZE - within)))
}
