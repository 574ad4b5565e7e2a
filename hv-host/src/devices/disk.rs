//! The seed's DMA disk: the image given with `--disk`, and one guest's registers, status block
//! and copy of it.
//!
//! The protocol (registers, commands, which error when) is specified in
//! [`hv_core::proto::devices`]; this is its state machine. The image is opened once, read-only,
//! and shared by every guest; each guest reads it with positional reads (`pread`), so guests
//! never share a file offset. A guest's first write makes its own copy, `<image>.local<ID>`,
//! through the [`Sandbox`] like any local file, and from then on it reads and writes that.
//!
//! Data moves one 512-byte sector per command through a stack buffer, with the guest side only
//! ever touched through [`GuestRam`] with a checked range.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use hv_core::GuestRange;
use hv_core::proto::devices::{
    DISK_STATUS_ERR_OFFSET, DISK_STATUS_SIZE, DiskCmd, DiskStatus, SECTOR_SIZE,
};
use hv_core::proto::errno::Errno;

use crate::ConfigError;
use crate::files::io_errno;
use crate::memory::GuestRam;
use crate::outcome::GuestError;
use crate::sandbox::{Access, GuestName, Sandbox};

/// One sector, as the host moves it.
type Sector = [u8; SECTOR_SIZE];
/// [`SECTOR_SIZE`] for offset arithmetic.
const SECTOR: u64 = SECTOR_SIZE as u64;

/// The disk image given with `--disk`, checked and opened once for every guest.
#[derive(Debug)]
pub(crate) struct DiskImage {
    /// The name guests' copies are made from: `<name>.local<ID>`.
    name: GuestName,
    /// The original, read-only. Only positional reads: guests share this descriptor.
    file: File,
    /// Size in bytes: a non-zero multiple of [`SECTOR_SIZE`].
    size: u64,
}

impl DiskImage {
    /// Checks `--disk`'s argument (a relative path inside the working directory, since the
    /// guests' copies go beside it, like shared files) and opens the image.
    pub(crate) fn open(path: PathBuf) -> Result<Self, ConfigError> {
        let name = GuestName::parse(path.as_os_str().as_encoded_bytes())
            .map_err(|reason| ConfigError::DiskName { name: path.display().to_string(), reason })?;
        Self::open_named(name, path)
    }

    /// Opens the image at `path`, whose guests' copies are named after `name`.
    fn open_named(name: GuestName, path: PathBuf) -> Result<Self, ConfigError> {
        let opened = File::open(&path).and_then(|f| {
            let meta = f.metadata()?;
            if meta.is_file() {
                Ok((f, meta.len()))
            } else {
                Err(io::Error::other("not a regular file"))
            }
        });
        let (file, size) = match opened {
            Ok(v) => v,
            Err(source) => return Err(ConfigError::DiskUnreadable { path, source }),
        };
        if size == 0 || !size.is_multiple_of(SECTOR) {
            return Err(ConfigError::DiskSize { path, size });
        }
        Ok(DiskImage { name, file, size })
    }
}

/// One guest's disk: its registers, its status block and its copy of the image.
#[derive(Debug)]
pub(crate) struct Disk {
    id: u32,
    /// `None`: no disk attached; every command reports `ENODEV`.
    image: Option<Arc<DiskImage>>,
    sandbox: Arc<Sandbox>,
    /// The sector register.
    sector: u32,
    /// The DMA address register.
    addr: u32,
    /// The status block, checked when it was set up; `None` before setup.
    status: Option<GuestRange>,
    /// This guest's own copy, once it has written.
    copy: Option<File>,
}

impl Disk {
    /// Guest `id`'s disk: `image`, or none.
    pub(crate) fn new(id: u32, image: Option<Arc<DiskImage>>, sandbox: Arc<Sandbox>) -> Self {
        Disk { id, image, sandbox, sector: 0, addr: 0, status: None, copy: None }
    }

    /// True once the guest has set up its status block (so it is about to use the disk).
    pub(crate) fn is_set_up(&self) -> bool {
        self.status.is_some()
    }

    /// A write to the sector register.
    pub(crate) fn set_sector(&mut self, sector: u32) {
        self.sector = sector;
    }

    /// A write to the DMA address register.
    pub(crate) fn set_addr(&mut self, addr: u32) {
        self.addr = addr;
    }

    /// A write to the command register. Every error the guest can be told about goes to its
    /// status block; only a command with no status block to report to ends the guest.
    pub(crate) fn command(&mut self, ram: &GuestRam, raw: u8) -> Result<(), GuestError> {
        let result = match (DiskCmd::try_from(raw), self.status) {
            (Ok(DiskCmd::Setup), _) => return self.setup(ram),
            (_, None) => return Err(GuestError::DiskNotSetUp { cmd: raw }),
            (Ok(DiskCmd::Read), Some(_)) => self.read(ram),
            (Ok(DiskCmd::Write), Some(_)) => self.write(ram),
            (Err(_), Some(_)) => Err(Errno::Enosys),
        };
        self.report(ram, result);
        Ok(())
    }

    /// Setup: the status block moves to the address register (the first time: is put there).
    fn setup(&mut self, ram: &GuestRam) -> Result<(), GuestError> {
        let addr = u64::from(self.addr);
        match (ram.user_range(addr, DISK_STATUS_SIZE), self.status) {
            (Ok(status), _) => {
                self.status = Some(status);
                let (size, result) = match &self.image {
                    Some(image) => (image.size, Ok(())),
                    None => (0, Err(Errno::Enodev)),
                };
                let size_offset = core::mem::offset_of!(DiskStatus, size) as u64;
                store(ram, status, size_offset, &size.to_le_bytes());
                self.report(ram, result);
                Ok(())
            }
            // A bad new address: tell the old block, which stays.
            (Err(e), Some(_)) => {
                self.report(ram, Err(e));
                Ok(())
            }
            (Err(_), None) => Err(GuestError::DiskStatusOutside { addr }),
        }
    }

    /// Writes a command's result into the status block's `err`: 0, or the positive code.
    fn report(&self, ram: &GuestRam, result: Result<(), Errno>) {
        let err = match result {
            Ok(()) => 0,
            Err(e) => i32::from(e as u8),
        };
        if let Some(status) = self.status {
            store(ram, status, DISK_STATUS_ERR_OFFSET, &err.to_le_bytes());
        }
    }

    /// The checks every transfer makes, in the documented order: a disk (`ENODEV`), a DMA
    /// range wholly in user RAM (`EFAULT`), a sector inside the disk (`EINVAL`). Returns the
    /// image, the DMA range and the sector's byte offset.
    fn transfer(&self, ram: &GuestRam) -> Result<(Arc<DiskImage>, GuestRange, u64), Errno> {
        let image = self.image.clone().ok_or(Errno::Enodev)?;
        let dma = ram.user_range(u64::from(self.addr), SECTOR)?;
        let offset = u64::from(self.sector) * SECTOR;
        if offset >= image.size {
            return Err(Errno::Einval);
        }
        Ok((image, dma, offset))
    }

    /// Read: one sector of this guest's copy, or of the original while it has none.
    fn read(&mut self, ram: &GuestRam) -> Result<(), Errno> {
        let (image, dma, offset) = self.transfer(ram)?;
        let mut sector: Sector = [0; SECTOR_SIZE];
        let from = self.copy.as_ref().unwrap_or(&image.file);
        from.read_exact_at(&mut sector, offset)
            .map_err(|e| self.host_error("reading", &image, &e))?;
        ram.write_range(dma, &sector)
    }

    /// Write: one sector into this guest's copy, made first if need be.
    fn write(&mut self, ram: &GuestRam) -> Result<(), Errno> {
        let (image, dma, offset) = self.transfer(ram)?;
        let mut sector: Sector = [0; SECTOR_SIZE];
        ram.read_range(dma, &mut sector)?;
        if self.copy.is_none() {
            self.copy = Some(self.make_copy(&image)?);
        }
        let Some(copy) = &self.copy else {
            return Err(Errno::Eio);
        };
        copy.write_all_at(&sector, offset).map_err(|e| self.host_error("writing", &image, &e))
    }

    /// Creates `<image>.local<ID>` (replacing a stale one) as a copy of the original. If that
    /// fails half-way the guest keeps reading the original and its next write tries again.
    fn make_copy(&self, image: &DiskImage) -> Result<File, Errno> {
        let copy = self
            .sandbox
            .open(&image.name.local(self.id), Access::ReadWrite)
            .map_err(|e| self.host_error("creating the copy of", image, &e))?;
        let mut chunk = vec![0u8; 64 << 10];
        let mut done = 0;
        while done < image.size {
            let n = usize::try_from(image.size - done)
                .map_or(chunk.len(), |left| left.min(chunk.len()));
            let chunk = &mut chunk[..n];
            image
                .file
                .read_exact_at(chunk, done)
                .and_then(|()| copy.write_all_at(chunk, done))
                .map_err(|e| self.host_error("copying", image, &e))?;
            done += n as u64;
        }
        Ok(copy)
    }

    /// Logs a host I/O failure and turns it into the code the guest gets.
    fn host_error(&self, what: &str, image: &DiskImage, e: &io::Error) -> Errno {
        log::warn!("guest {}: {what} disk {}: {e}", self.id, image.name);
        io_errno(e)
    }
}

/// Writes `bytes` at `offset` in the status block. The block was checked at setup and the
/// fields lie inside it, so the re-check cannot fail; if it ever did, the guest sees no update.
fn store(ram: &GuestRam, status: GuestRange, offset: u64, bytes: &[u8]) {
    let at = status.start().as_u64().saturating_add(offset);
    if let Ok(field) = ram.user_range(at, bytes.len() as u64) {
        let _ = ram.write_range(field, bytes);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use hv_core::layout::{Layout, MemSize, PageSize};
    use std::path::Path;

    /// A scratch directory for one test: the sandbox root, with an image `disk.img` whose
    /// sector `i` is filled with byte `i`.
    struct Fixture {
        dir: PathBuf,
        ram: GuestRam,
        image: Arc<DiskImage>,
        sandbox: Arc<Sandbox>,
    }

    /// Sectors in the test image (the read test walks them with a `u8`).
    const SECTORS: u64 = 4;
    const STATUS: u32 = 0x1000;
    const BUF: u32 = 0x2000;

    impl Fixture {
        fn new(test: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("hv-disk-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let bytes: Vec<u8> =
                (0..SECTORS * SECTOR).map(|i| u8::try_from(i / SECTOR).unwrap()).collect();
            std::fs::write(dir.join("disk.img"), bytes).unwrap();
            let name = GuestName::parse(b"disk.img").unwrap();
            let image = Arc::new(DiskImage::open_named(name, dir.join("disk.img")).unwrap());
            Fixture {
                ram: GuestRam::new(Layout::new(MemSize::Mib2, PageSize::Kib4)).unwrap(),
                sandbox: Arc::new(Sandbox::at(&dir).unwrap()),
                image,
                dir,
            }
        }

        fn disk(&self, id: u32) -> Disk {
            Disk::new(id, Some(self.image.clone()), self.sandbox.clone())
        }

        fn file(&self, name: &str) -> Vec<u8> {
            std::fs::read(self.dir.join(name)).unwrap()
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn status(ram: &GuestRam, at: u32) -> (u64, i32) {
        let mut b = [0u8; 16];
        ram.read_range(ram.user_range(u64::from(at), 16).unwrap(), &mut b).unwrap();
        (
            u64::from_le_bytes(b[..8].try_into().unwrap()),
            i32::from_le_bytes(b[8..12].try_into().unwrap()),
        )
    }

    fn guest_bytes(ram: &GuestRam, at: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        ram.read_range(ram.user_range(u64::from(at), len as u64).unwrap(), &mut b).unwrap();
        b
    }

    fn fill(ram: &GuestRam, at: u32, byte: u8) {
        let r = ram.user_range(u64::from(at), SECTOR).unwrap();
        ram.write_range(r, &[byte; SECTOR_SIZE]).unwrap();
    }

    /// Runs one command with the registers set first, like a guest's three writes.
    fn cmd(disk: &mut Disk, ram: &GuestRam, sector: u32, addr: u32, c: DiskCmd) -> i32 {
        disk.set_sector(sector);
        disk.set_addr(addr);
        disk.command(ram, c as u8).unwrap();
        status(ram, STATUS).1
    }

    fn set_up(disk: &mut Disk, ram: &GuestRam) {
        disk.set_addr(STATUS);
        disk.command(ram, DiskCmd::Setup as u8).unwrap();
    }

    const EINVAL: i32 = Errno::Einval as i32;
    const EFAULT: i32 = Errno::Efault as i32;

    #[test]
    fn commands_before_setup_end_the_guest() {
        let f = Fixture::new("before-setup");
        let mut disk = f.disk(0);
        for c in [0, 1, 9] {
            assert_eq!(disk.command(&f.ram, c), Err(GuestError::DiskNotSetUp { cmd: c }));
        }
        // A first setup whose block lies outside user memory has nowhere to report either.
        let end = u32::try_from(f.ram.layout().user_end()).unwrap();
        for bad in [end - 8, end, u32::MAX] {
            disk.set_addr(bad);
            assert_eq!(
                disk.command(&f.ram, DiskCmd::Setup as u8),
                Err(GuestError::DiskStatusOutside { addr: u64::from(bad) })
            );
        }
    }

    #[test]
    fn setup_writes_size_and_reads_come_from_the_original() {
        let f = Fixture::new("read");
        let ram = &f.ram;
        let mut disk = f.disk(0);
        // Garbage where the block goes: setup must write both fields.
        fill(ram, STATUS, 0xEE);
        set_up(&mut disk, ram);
        assert_eq!(status(ram, STATUS), (SECTORS * SECTOR, 0));
        for s in 0..4u8 {
            assert_eq!(cmd(&mut disk, ram, u32::from(s), BUF, DiskCmd::Read), 0);
            assert_eq!(guest_bytes(ram, BUF, SECTOR_SIZE), vec![s; 512]);
        }
        assert!(!f.dir.join("disk.img.local0").exists(), "reads make no copy");
    }

    #[test]
    fn bad_sectors_and_dma_ranges_are_reported_in_status() {
        let f = Fixture::new("errors");
        let ram = &f.ram;
        let mut disk = f.disk(0);
        set_up(&mut disk, ram);
        let end = u32::try_from(ram.layout().user_end()).unwrap();
        let past_end = u32::try_from(SECTORS).unwrap();
        for c in [DiskCmd::Read, DiskCmd::Write] {
            assert_eq!(cmd(&mut disk, ram, past_end, BUF, c), EINVAL);
            assert_eq!(cmd(&mut disk, ram, u32::MAX, BUF, c), EINVAL);
            // Across the end of user memory, into the page tables, past RAM, at 4 GiB - 1.
            for addr in [end - 511, end, 0x20_0000, u32::MAX] {
                assert_eq!(cmd(&mut disk, ram, 0, addr, c), EFAULT, "{c:?} {addr:#x}");
            }
            // Right below the end is fine (the hv page is the guest's).
            assert_eq!(cmd(&mut disk, ram, 0, end - 512, c), 0);
        }
        // An unknown command.
        disk.command(ram, 7).unwrap();
        assert_eq!(status(ram, STATUS).1, Errno::Enosys as i32);
    }

    #[test]
    fn first_write_makes_a_copy_and_the_original_never_changes() {
        let f = Fixture::new("cow");
        let ram = &f.ram;
        let original = f.file("disk.img");
        // A stale copy from an earlier run is ignored, then replaced.
        std::fs::write(f.dir.join("disk.img.local0"), b"stale").unwrap();
        let mut disk = f.disk(0);
        let mut other = f.disk(1);
        set_up(&mut disk, ram);
        assert_eq!(cmd(&mut disk, ram, 1, BUF, DiskCmd::Read), 0);
        assert_eq!(guest_bytes(ram, BUF, 4), [1; 4]);
        fill(ram, BUF, 0xAB);
        assert_eq!(cmd(&mut disk, ram, 2, BUF, DiskCmd::Write), 0);
        fill(ram, BUF, 0);
        assert_eq!(cmd(&mut disk, ram, 2, BUF, DiskCmd::Read), 0);
        assert_eq!(guest_bytes(ram, BUF, SECTOR_SIZE), vec![0xAB; 512]);
        let mut want = original.clone();
        want[1024..1536].fill(0xAB);
        assert_eq!(f.file("disk.img.local0"), want);
        assert_eq!(f.file("disk.img"), original);
        // Another guest still reads the original.
        set_up(&mut other, ram);
        assert_eq!(cmd(&mut other, ram, 2, BUF, DiskCmd::Read), 0);
        assert_eq!(guest_bytes(ram, BUF, 4), [2; 4]);
        assert!(!f.dir.join("disk.img.local1").exists());
    }

    #[test]
    fn setup_again_moves_the_status_block() {
        let f = Fixture::new("resetup");
        let ram = &f.ram;
        let mut disk = f.disk(0);
        set_up(&mut disk, ram);
        assert_eq!(cmd(&mut disk, ram, 99, BUF, DiskCmd::Read), EINVAL);
        // Moved: the new block gets the size and err 0, the old keeps its last err.
        disk.set_addr(0x3000);
        disk.command(ram, DiskCmd::Setup as u8).unwrap();
        assert_eq!(status(ram, 0x3000), (SECTORS * SECTOR, 0));
        assert_eq!(status(ram, STATUS).1, EINVAL);
        // A bad new address: EFAULT in the current block, which stays.
        disk.set_addr(0x20_0000);
        disk.command(ram, DiskCmd::Setup as u8).unwrap();
        assert_eq!(status(ram, 0x3000).1, EFAULT);
        disk.set_sector(0);
        disk.set_addr(BUF);
        disk.command(ram, DiskCmd::Read as u8).unwrap();
        assert_eq!(status(ram, 0x3000).1, 0);
    }

    #[test]
    fn without_a_disk_everything_is_enodev() {
        let f = Fixture::new("nodisk");
        let ram = &f.ram;
        let mut disk = Disk::new(0, None, f.sandbox.clone());
        fill(ram, STATUS, 0xEE);
        set_up(&mut disk, ram);
        let enodev = Errno::Enodev as i32;
        assert_eq!(status(ram, STATUS), (0, enodev));
        assert_eq!(cmd(&mut disk, ram, 0, BUF, DiskCmd::Read), enodev);
        assert_eq!(cmd(&mut disk, ram, 0, BUF, DiskCmd::Write), enodev);
    }

    #[test]
    fn images_must_be_whole_sectors() {
        let f = Fixture::new("sizes");
        let open = |name: &str, len: usize| {
            std::fs::write(f.dir.join(name), vec![0; len]).unwrap();
            let n = GuestName::parse(name.as_bytes()).unwrap();
            DiskImage::open_named(n, f.dir.join(name)).map(|i| i.size)
        };
        assert_eq!(open("a.img", 8192).unwrap(), 8192);
        assert!(matches!(open("b.img", 0), Err(ConfigError::DiskSize { size: 0, .. })));
        assert!(matches!(open("c.img", 513), Err(ConfigError::DiskSize { size: 513, .. })));
        let missing = GuestName::parse(b"none.img").unwrap();
        assert!(matches!(
            DiskImage::open_named(missing, f.dir.join("none.img")),
            Err(ConfigError::DiskUnreadable { .. })
        ));
        assert!(matches!(
            DiskImage::open(Path::new("/etc/passwd").into()),
            Err(ConfigError::DiskName { reason: Errno::Einval, .. })
        ));
    }
}
