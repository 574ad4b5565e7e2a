//! The seed's DMA disk: the image given with `--disk`, and one guest's registers, status block
//! and, with `--disk-cow`, its copy of the image.
//!
//! The protocol (registers, commands, which error when) is specified in
//! [`hv_core::proto::devices`]; this is its state machine. The image is opened once, at start
//! (without blocking; only a regular file is accepted), and every guest reads it with positional
//! reads (`pread`), so no file offset is shared.
//!
//! - **Written in place** (the default, like the seed's disk and QEMU's or Firecracker's
//!   drives): writes go to the image. Only one guest may then have the disk.
//! - **Copy on write** (`--disk-cow`): the image is never written. A guest's first write
//!   creates its copy `<image>.cow<ID>`, a fresh sparse file of the image's size, and writes
//!   that one sector into it; a bitmap in the host remembers which sectors the guest wrote,
//!   and reads of the others come from the image. So a write costs one sector whatever the
//!   image's size, and inside an exit nothing is ever copied. When the guest has ended the copy
//!   is completed from the image, sector runs the guest did not write, skipping the image's
//!   holes (`SEEK_DATA`/`SEEK_HOLE`): holes stay holes, and the copy is then the guest's disk.
//!
//! Data moves one 512-byte sector per command through a stack buffer, with the guest side only
//! ever touched through [`GuestRam`] with a checked range. Every byte written counts against
//! the guest's [`Quota`]: 512 for each sector, and what the completion copies. The completion
//! is all or nothing for the quota: it reserves what it will copy first, and if that is more
//! than the guest has left, the copy is left as it is (the guest's own sectors, holes
//! elsewhere) and the guest's report says so. A stop signal (see `signals`) leaves it incomplete
//! too, at the next chunk: a user who pressed Ctrl-C does not wait for gigabytes to be copied.

use std::collections::BTreeMap;
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
use crate::diag::Diag;
use crate::files::io_errno;
use crate::memory::GuestRam;
use crate::outcome::GuestError;
use crate::quota::Quota;
use crate::sandbox::{self, GuestName, Identity, Sandbox};

mod copy;

use copy::{Copy, complete, runs};

/// One sector, as the host moves it.
type Sector = [u8; SECTOR_SIZE];
/// [`SECTOR_SIZE`] for offset arithmetic.
const SECTOR: u64 = SECTOR_SIZE as u64;

/// The disk image given with `--disk`, checked and opened once for every guest.
#[derive(Debug)]
pub(crate) struct DiskImage {
    /// The name guests' copies are made from: `<name>.cow<ID>`.
    name: GuestName,
    /// The image: read-write when written in place, read-only with copy on write. Only
    /// positional reads and writes: guests share this descriptor.
    file: File,
    /// Which inode it is (to keep it apart from shared files).
    identity: Identity,
    /// Size in bytes: a non-zero multiple of [`SECTOR_SIZE`].
    size: u64,
    /// True with `--disk-cow`: each guest writes its own copy.
    cow: bool,
}

impl DiskImage {
    /// Checks `--disk`'s argument (a relative path inside the working directory, since the
    /// guests' copies go beside it, like shared files) and opens the image: for writing
    /// unless `cow`.
    pub(crate) fn open(path: PathBuf, cow: bool) -> Result<Self, ConfigError> {
        let name = GuestName::parse(path.as_os_str().as_encoded_bytes())
            .map_err(|reason| ConfigError::DiskName { name: path.display().to_string(), reason })?;
        if name.is_host_reserved() || sandbox::resolves_to_reserved(&path) {
            return Err(ConfigError::HostReservedName {
                role: "disk image",
                name: name.to_string(),
            });
        }
        Self::open_named(name, path, cow)
    }

    /// Opens the image at `path`, whose guests' copies are named after `name`.
    fn open_named(name: GuestName, path: PathBuf, cow: bool) -> Result<Self, ConfigError> {
        let (file, identity) = match sandbox::open_given(&path, !cow) {
            Ok(v) => v,
            Err(source) => return Err(ConfigError::DiskUnreadable { path, source }),
        };
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(source) => return Err(ConfigError::DiskUnreadable { path, source }),
        };
        if size == 0 || !size.is_multiple_of(SECTOR) {
            return Err(ConfigError::DiskSize { path, size });
        }
        Ok(DiskImage { name, file, identity, size, cow })
    }

    /// Which inode the image is.
    pub(crate) fn identity(&self) -> Identity {
        self.identity
    }

    /// True with `--disk-cow`.
    pub(crate) fn is_cow(&self) -> bool {
        self.cow
    }

    /// The name as given.
    pub(crate) fn name(&self) -> &GuestName {
        &self.name
    }
}

/// One guest's disk: its registers, its status block and its copy of the image.
#[derive(Debug)]
pub(crate) struct Disk {
    id: u32,
    /// `None`: no disk attached; every command reports `ENODEV`.
    image: Option<Arc<DiskImage>>,
    sandbox: Arc<Sandbox>,
    quota: Arc<Quota>,
    diag: Arc<Diag>,
    /// The sector register.
    sector: u32,
    /// The DMA address register.
    addr: u32,
    /// The status block, checked when it was set up; `None` before setup.
    status: Option<GuestRange>,
    /// This guest's own copy (`--disk-cow`), once it has written.
    copy: Option<Copy>,
}

impl Disk {
    /// Guest `id`'s disk: `image`, or none.
    pub(crate) fn new(
        id: u32,
        image: Option<Arc<DiskImage>>,
        sandbox: Arc<Sandbox>,
        quota: Arc<Quota>,
        diag: Arc<Diag>,
    ) -> Self {
        Disk { id, image, sandbox, quota, diag, sector: 0, addr: 0, status: None, copy: None }
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
            (Ok(DiskCmd::Setup), None) => return self.setup(ram),
            (_, None) => return Err(GuestError::DiskNotSetUp { cmd: raw }),
            // "May be called only once": the block stays where it is and says so.
            (Ok(DiskCmd::Setup), Some(_)) => Err(Errno::Ebusy),
            (Ok(DiskCmd::Read), Some(_)) => self.read(ram),
            (Ok(DiskCmd::Write), Some(_)) => self.write(ram),
            (Err(_), Some(_)) => Err(Errno::Enosys),
        };
        self.report(ram, result);
        Ok(())
    }

    /// The first setup: the status block goes at the address register.
    fn setup(&mut self, ram: &GuestRam) -> Result<(), GuestError> {
        let addr = u64::from(self.addr);
        let status = ram
            .user_range(addr, DISK_STATUS_SIZE)
            .map_err(|_| GuestError::DiskStatusOutside { addr })?;
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
    /// image, the DMA range and the sector's number.
    fn transfer(&self, ram: &GuestRam) -> Result<(Arc<DiskImage>, GuestRange, u64), Errno> {
        let image = self.image.clone().ok_or(Errno::Enodev)?;
        let dma = ram.user_range(u64::from(self.addr), SECTOR)?;
        let sector = u64::from(self.sector);
        if sector * SECTOR >= image.size {
            return Err(Errno::Einval);
        }
        Ok((image, dma, sector))
    }

    /// Read: one sector of this guest's copy if it wrote that sector there, else of the image.
    fn read(&mut self, ram: &GuestRam) -> Result<(), Errno> {
        let (image, dma, sector) = self.transfer(ram)?;
        let mut buf: Sector = [0; SECTOR_SIZE];
        let from = match &self.copy {
            Some(copy) if copy.has(sector) => &copy.file,
            _ => &image.file,
        };
        from.read_exact_at(&mut buf, sector * SECTOR)
            .map_err(|e| self.host_error("reading", &image, &e))?;
        ram.write_range(dma, &buf)
    }

    /// Write: one sector, into the image or into this guest's copy (made first if need be).
    fn write(&mut self, ram: &GuestRam) -> Result<(), Errno> {
        let (image, dma, sector) = self.transfer(ram)?;
        let mut buf: Sector = [0; SECTOR_SIZE];
        ram.read_range(dma, &mut buf)?;
        self.quota.reserve_all(SECTOR)?;
        let written = self.write_sector(&image, sector, &buf);
        match written {
            Ok(()) => self.quota.add_disk_written(SECTOR),
            Err(_) => self.quota.refund(SECTOR),
        }
        written
    }

    fn write_sector(&mut self, image: &DiskImage, sector: u64, buf: &Sector) -> Result<(), Errno> {
        if !image.cow {
            return image
                .file
                .write_all_at(buf, sector * SECTOR)
                .map_err(|e| self.host_error("writing", image, &e));
        }
        if self.copy.is_none() {
            self.copy = Some(self.make_copy(image)?);
        }
        let Some(copy) = &mut self.copy else {
            return Err(Errno::Eio);
        };
        match copy.file.write_all_at(buf, sector * SECTOR) {
            Ok(()) => {
                copy.mark(sector);
                Ok(())
            }
            Err(e) => Err(self.host_error("writing the copy of", image, &e)),
        }
    }

    /// Creates `<image>.cow<ID>`: a fresh, sparse file of the image's size (replacing whatever
    /// was at the name). Costs no data: the sectors come as the guest writes them.
    fn make_copy(&self, image: &DiskImage) -> Result<Copy, Errno> {
        let name = image.name.disk_copy(self.id);
        self.sandbox
            .create_fresh(&name)
            .and_then(|(file, _)| file.set_len(image.size).map(|()| file))
            .map(|file| Copy { file, written: BTreeMap::new() })
            .map_err(|e| self.host_error("creating the copy of", image, &e))
    }

    /// The guest has ended: completes its copy, if it made one, from the image, within its
    /// write quota (see the module docs). Outside any exit, so it delays no guest. A copy left
    /// incomplete is noted for the guest's report.
    pub(crate) fn finish(&mut self) {
        let (Some(image), Some(copy)) = (&self.image, &self.copy) else { return };
        let name = image.name.disk_copy(self.id);
        let incomplete = |why: String| self.diag.disk_copy_incomplete(format!("{name}: {why}"));
        if crate::signals::received().is_some() {
            return incomplete("the run was stopped by a signal before it was completed".into());
        }
        let mut needed = 0;
        let counted = runs(image, copy, |_, sectors| {
            needed += sectors * SECTOR;
            Ok(true)
        });
        if let Err(e) = counted {
            self.diag.warn(format_args!("completing the copy of disk {}: {e}", image.name));
            return incomplete(format!("reading the image failed: {e}"));
        }
        if !self.quota.try_reserve_all(needed) {
            let (left, limit) = (self.quota.left(), self.quota.limit());
            return incomplete(format!(
                "completing it needs {needed} bytes, and {left} of the write quota of {limit} bytes are left"
            ));
        }
        let mut written = 0;
        let result = complete(image, copy, &mut written);
        self.quota.refund(needed.saturating_sub(written));
        self.quota.add_disk_written(written);
        match result {
            Ok(true) => {}
            Ok(false) => incomplete(format!(
                "the run was stopped by a signal after {written} of {needed} bytes"
            )),
            Err(e) => {
                self.diag.warn(format_args!("completing the copy of disk {}: {e}", image.name));
                incomplete(format!("after {written} of {needed} bytes: {e}"));
            }
        }
    }

    /// Logs a host I/O failure (rate-limited) and turns it into the code the guest gets.
    fn host_error(&self, what: &str, image: &DiskImage, e: &io::Error) -> Errno {
        self.diag.warn(format_args!("{what} disk {}: {e}", image.name));
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

    fn limits(id: u32, quota: u64) -> (Arc<Quota>, Arc<Diag>) {
        (Arc::new(Quota::new(quota)), Arc::new(Diag::new(id)))
    }

    /// Sectors in the test image (the read test walks them with a `u8`).
    const SECTORS: u64 = 4;
    const STATUS: u32 = 0x1000;
    const BUF: u32 = 0x2000;

    impl Fixture {
        fn new(test: &str) -> Self {
            Self::with(test, true)
        }

        fn with(test: &str, cow: bool) -> Self {
            let dir = std::env::temp_dir().join(format!("hv-disk-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let bytes: Vec<u8> =
                (0..SECTORS * SECTOR).map(|i| u8::try_from(i / SECTOR).unwrap()).collect();
            std::fs::write(dir.join("disk.img"), bytes).unwrap();
            let name = GuestName::parse(b"disk.img").unwrap();
            let image = Arc::new(DiskImage::open_named(name, dir.join("disk.img"), cow).unwrap());
            Fixture {
                ram: GuestRam::new(Layout::new(MemSize::Mib2, PageSize::Kib4)).unwrap(),
                sandbox: Arc::new(Sandbox::at(&dir).unwrap()),
                image,
                dir,
            }
        }

        fn disk(&self, id: u32) -> Disk {
            self.disk_with_quota(id, 1 << 30)
        }

        fn disk_with_quota(&self, id: u32, quota: u64) -> Disk {
            let (quota, diag) = limits(id, quota);
            Disk::new(id, Some(self.image.clone()), self.sandbox.clone(), quota, diag)
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
    fn copy_on_write_is_lazy_and_the_original_never_changes() {
        let f = Fixture::new("cow");
        let ram = &f.ram;
        let original = f.file("disk.img");
        // A stale copy from an earlier run, and a guest's local file named like the image,
        // are other files: neither is read nor written.
        std::fs::write(f.dir.join("disk.img.cow0"), b"stale").unwrap();
        std::fs::write(f.dir.join("disk.img.local0"), b"local").unwrap();
        let mut disk = f.disk(0);
        let mut other = f.disk(1);
        set_up(&mut disk, ram);
        assert_eq!(cmd(&mut disk, ram, 1, BUF, DiskCmd::Read), 0);
        assert_eq!(guest_bytes(ram, BUF, 4), [1; 4]);
        fill(ram, BUF, 0xAB);
        assert_eq!(cmd(&mut disk, ram, 2, BUF, DiskCmd::Write), 0);
        // The copy holds the written sector only, as a sparse file of the image's size.
        let copy = f.file("disk.img.cow0");
        assert_eq!(copy.len(), original.len());
        assert_eq!(copy[1024..1536], [0xAB; 512]);
        assert_eq!(copy[..1024], [0; 1024]);
        // Reads: the written sector from the copy, the others still from the image.
        for (s, want) in [(2, 0xAB), (1, 1), (3, 3)] {
            fill(ram, BUF, 0);
            assert_eq!(cmd(&mut disk, ram, s, BUF, DiskCmd::Read), 0);
            assert_eq!(guest_bytes(ram, BUF, SECTOR_SIZE), vec![want; 512], "sector {s}");
        }
        // Another guest still reads the original.
        set_up(&mut other, ram);
        assert_eq!(cmd(&mut other, ram, 2, BUF, DiskCmd::Read), 0);
        assert_eq!(guest_bytes(ram, BUF, 4), [2; 4]);
        assert!(!f.dir.join("disk.img.cow1").exists());
        // At the end the copy is completed: the image with the guest's sector.
        disk.finish();
        let mut want = original.clone();
        want[1024..1536].fill(0xAB);
        assert_eq!(f.file("disk.img.cow0"), want);
        assert_eq!(f.file("disk.img"), original);
        assert_eq!(f.file("disk.img.local0"), b"local");
    }

    #[test]
    fn a_first_write_to_a_huge_sparse_image_costs_one_sector() {
        let dir = std::env::temp_dir().join(format!("hv-disk-{}-sparse", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("big.img");
        let size: u64 = 2 << 30;
        let file = File::create(&img).unwrap();
        file.set_len(size).unwrap();
        file.write_all_at(b"DATA", 1 << 20).unwrap();
        drop(file);
        let name = GuestName::parse(b"big.img").unwrap();
        let image = Arc::new(DiskImage::open_named(name, img, true).unwrap());
        let ram = GuestRam::new(Layout::new(MemSize::Mib2, PageSize::Kib4)).unwrap();
        let (quota, diag) = limits(0, 1 << 30);
        let sandbox = Arc::new(Sandbox::at(&dir).unwrap());
        let mut disk = Disk::new(0, Some(image), sandbox, quota, diag);
        set_up(&mut disk, &ram);
        fill(&ram, BUF, 0x5A);
        let start = std::time::Instant::now();
        assert_eq!(cmd(&mut disk, &ram, 4_000_000, BUF, DiskCmd::Write), 0);
        let took = start.elapsed();
        // Generous: the old full copy took 17 s here; one sector takes well under 1 ms.
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
        disk.finish();
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir.join("big.img.cow0")).unwrap();
        assert_eq!(meta.len(), size);
        // Allocated: the guest's sector and the image's one data block, not 2 GiB.
        assert!(meta.blocks() * 512 <= 1 << 20, "{} bytes allocated", meta.blocks() * 512);
        let copy = File::open(dir.join("big.img.cow0")).unwrap();
        let mut b = [0u8; 4];
        copy.read_exact_at(&mut b, 1 << 20).unwrap();
        assert_eq!(&b, b"DATA");
        copy.read_exact_at(&mut b, 4_000_000 * SECTOR).unwrap();
        assert_eq!(b, [0x5A; 4]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_cow_the_image_itself_is_written() {
        let f = Fixture::with("in-place", false);
        let ram = &f.ram;
        let mut disk = f.disk(0);
        set_up(&mut disk, ram);
        fill(ram, BUF, 0xCD);
        assert_eq!(cmd(&mut disk, ram, 3, BUF, DiskCmd::Write), 0);
        disk.finish();
        let image = f.file("disk.img");
        assert_eq!(image[3 * 512..], [0xCD; 512]);
        assert_eq!(image[2 * 512..3 * 512], [2; 512]);
        assert!(!f.dir.join("disk.img.cow0").exists());
    }

    #[test]
    fn sector_writes_count_against_the_quota() {
        let f = Fixture::with("quota", false);
        let ram = &f.ram;
        let mut disk = f.disk_with_quota(0, 1000);
        set_up(&mut disk, ram);
        assert_eq!(cmd(&mut disk, ram, 0, BUF, DiskCmd::Write), 0);
        assert_eq!(cmd(&mut disk, ram, 1, BUF, DiskCmd::Write), Errno::Efbig as i32);
        assert_eq!(cmd(&mut disk, ram, 1, BUF, DiskCmd::Read), 0);
        assert_eq!(f.file("disk.img")[512..516], [1; 4], "the refused write wrote nothing");
    }

    #[test]
    fn the_completion_counts_against_the_quota_or_is_left_undone() {
        let f = Fixture::new("complete-quota");
        let ram = &f.ram;
        // Room for the guest's sector and two more: completing needs three (sectors 0, 1, 3).
        let (quota, diag) = limits(0, 3 * SECTOR);
        let mut disk = Disk::new(0, Some(f.image.clone()), f.sandbox.clone(), quota.clone(), diag);
        set_up(&mut disk, ram);
        fill(ram, BUF, 0xAB);
        assert_eq!(cmd(&mut disk, ram, 2, BUF, DiskCmd::Write), 0);
        disk.finish();
        let copy = f.file("disk.img.cow0");
        assert_eq!(copy[1024..1536], [0xAB; 512]);
        assert_eq!(copy[..1024], [0; 1024], "nothing copied past the quota");
        assert_eq!(quota.disk_written(), SECTOR);
        assert_eq!(quota.refused(), 0);
        assert_eq!(
            disk.diag.disk_copy_note().as_deref(),
            Some(
                "disk.img.cow0: completing it needs 1536 bytes, and 1024 of the write quota of 1536 bytes are left"
            )
        );
        // With the quota for it, the copy is completed and every byte counted.
        let (quota, diag) = limits(1, 4 * SECTOR);
        let mut disk = Disk::new(1, Some(f.image.clone()), f.sandbox.clone(), quota.clone(), diag);
        set_up(&mut disk, ram);
        assert_eq!(cmd(&mut disk, ram, 2, BUF, DiskCmd::Write), 0);
        disk.finish();
        assert_eq!(f.file("disk.img.cow1")[..512], [0; 512]);
        assert_eq!(f.file("disk.img.cow1")[512..1024], [1; 512]);
        assert_eq!((quota.disk_written(), quota.left()), (4 * SECTOR, 0));
        assert_eq!(disk.diag.disk_copy_note(), None);
    }

    #[test]
    fn a_second_setup_is_refused_and_the_block_stays() {
        let f = Fixture::new("resetup");
        let ram = &f.ram;
        let mut disk = f.disk(0);
        set_up(&mut disk, ram);
        assert_eq!(cmd(&mut disk, ram, 99, BUF, DiskCmd::Read), EINVAL);
        fill(ram, 0x3000, 0xEE);
        // Refused, at a good or a bad address: EBUSY in the block, which stays.
        for addr in [0x3000, 0x20_0000] {
            disk.set_addr(addr);
            disk.command(ram, DiskCmd::Setup as u8).unwrap();
            assert_eq!(status(ram, STATUS), (SECTORS * SECTOR, Errno::Ebusy as i32));
        }
        assert_eq!(guest_bytes(ram, 0x3000, 16), [0xEE; 16], "nothing written at the new address");
        assert_eq!(cmd(&mut disk, ram, 0, BUF, DiskCmd::Read), 0);
    }

    #[test]
    fn without_a_disk_everything_is_enodev() {
        let f = Fixture::new("nodisk");
        let ram = &f.ram;
        let (quota, diag) = limits(0, 1 << 30);
        let mut disk = Disk::new(0, None, f.sandbox.clone(), quota, diag);
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
            DiskImage::open_named(n, f.dir.join(name), true).map(|i| i.size)
        };
        assert_eq!(open("a.img", 8192).unwrap(), 8192);
        assert!(matches!(open("b.img", 0), Err(ConfigError::DiskSize { size: 0, .. })));
        assert!(matches!(open("c.img", 513), Err(ConfigError::DiskSize { size: 513, .. })));
        let missing = GuestName::parse(b"none.img").unwrap();
        assert!(matches!(
            DiskImage::open_named(missing, f.dir.join("none.img"), true),
            Err(ConfigError::DiskUnreadable { .. })
        ));
        assert!(matches!(
            DiskImage::open(Path::new("/etc/passwd").into(), true),
            Err(ConfigError::DiskName { reason: Errno::Einval, .. })
        ));
        assert!(matches!(
            DiskImage::open(Path::new("a.img.local0").into(), true),
            Err(ConfigError::HostReservedName { role: "disk image", .. })
        ));
    }
}
