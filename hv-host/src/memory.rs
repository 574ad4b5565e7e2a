//! Guest RAM and the only ways the host touches it.
//!
//! Every guest-supplied `(address, length)` goes through [`GuestRam::user_range`], which
//! checks it with overflow-safe arithmetic against the memory the guest may hand us (its RAM
//! up to and including the hv page; never the page or descriptor tables). Nothing else in the
//! host turns a guest number into a memory access.

use hv_core::layout::Layout;
use hv_core::paging::PhysMem;
use hv_core::proto::errno::Errno;
use hv_core::proto::hv_page::{MAILBOX_OFFSET, Mailbox};
use hv_core::{Gpa, GuestRange};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

/// The host's page size: the granularity of `GuestRam::boot_written`.
const PAGE: u64 = 4096;

/// One guest's RAM, mapped in the host.
pub(crate) struct GuestRam {
    mem: GuestMemoryMmap<()>,
    layout: Layout,
    /// Host address of the hv page's mailbox, read and written on every call, so resolved
    /// once instead of through vm-memory's region lookup each time (~1.5 µs per call here).
    ///
    /// Note (validity): the layout puts the hv page inside RAM, `new` maps all of RAM as one
    /// region that `mem` owns until `self` is dropped, and the mailbox offset (0x100 into a page)
    /// keeps it 8-byte aligned. Kept as an integer so `GuestRam` stays `Send`.
    mailbox: usize,
    /// Host address of guest address 0 (resolved in `new`), also for [`PhysMem`]'s word
    /// accesses: the page-table, GDT and IDT builders write a few thousand words at boot, and
    /// through vm-memory's region lookup each cost ~50 ns, a tenth of a millisecond per launch
    /// (same validity as `mailbox`).
    base: usize,
    /// Until [`GuestRam::seal`]: one bit per 4 KiB page the host has written since `new`.
    /// Every other page still reads as zero straight from the mapping, so a zero written there
    /// is skipped without touching the page.
    ///
    /// Why not read the word and skip a zero over a zero: the read maps the kernel's shared
    /// zero page, and the write that usually follows is a copy-on-write fault, whose TLB flush
    /// interrupts every other CPU the process runs on (with 8 guests booting at once, about a
    /// tenth of the CPU time went to those interrupts, and 8 guests launched 15 % slower). And
    /// why skip at all: the TSS's all-zero I/O bitmap alone would otherwise cost every guest
    /// 8 KiB.
    boot_written: Option<Vec<u64>>,
}

/// Why guest RAM could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// mmap of guest RAM failed.
    #[error("cannot map {size} bytes of guest RAM: {reason}")]
    Map {
        /// Bytes requested.
        size: u64,
        /// What mmap said.
        reason: String,
    },
}

impl GuestRam {
    /// Maps zeroed RAM for `layout` (anonymous and lazily backed: untouched pages cost nothing).
    pub(crate) fn new(layout: Layout) -> Result<Self, MemoryError> {
        let size = layout.ram_size();
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size as usize)])
            .map_err(|e| MemoryError::Map { size, reason: format!("{e:?}") })?;
        let base = mem
            .get_host_address(GuestAddress(0))
            .map_err(|e| MemoryError::Map { size, reason: format!("{e:?}") })?
            as usize;
        let mailbox = base + (layout.hv_page().as_u64() + MAILBOX_OFFSET) as usize;
        let pages = size.div_ceil(PAGE).div_ceil(64) as usize;
        Ok(GuestRam { mem, layout, mailbox, base, boot_written: Some(vec![0; pages]) })
    }

    /// Ends the boot: the guest may run, and write anywhere, from now on; every write is
    /// made as asked.
    pub(crate) fn seal(&mut self) {
        self.boot_written = None;
    }

    /// Notes that the host wrote `[gpa, gpa + len)` (before the guest runs).
    fn note_written(&mut self, gpa: u64, len: u64) {
        if let Some(bits) = self.boot_written.as_mut()
            && len > 0
        {
            for page in gpa / PAGE..=(gpa + len - 1) / PAGE {
                if let Some(word) = bits.get_mut((page / 64) as usize) {
                    *word |= 1 << (page % 64);
                }
            }
        }
    }

    /// True if the page of `gpa` still reads as zero from the mapping: the guest has not
    /// run, and the host has not written it.
    fn untouched(&self, gpa: u64) -> bool {
        let page = gpa / PAGE;
        self.boot_written.as_ref().is_some_and(|bits| {
            bits.get((page / 64) as usize).is_some_and(|w| w & (1 << (page % 64)) == 0)
        })
    }

    /// The host address of the 8 bytes at `gpa`, if they lie wholly in guest RAM.
    fn word(&self, gpa: Gpa) -> Option<*mut [u8; 8]> {
        let end = gpa.as_u64().checked_add(8)?;
        (end <= self.layout.ram_size()).then(|| (self.base + gpa.as_u64() as usize) as *mut [u8; 8])
    }

    /// The layout this RAM was made for.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Host address of guest address 0 (for the KVM memory slot and `gvaToHva`).
    pub(crate) fn host_base(&self) -> u64 {
        self.base as u64
    }

    /// Checks a guest-supplied buffer: it must lie wholly in user memory.
    pub(crate) fn user_range(&self, addr: u64, len: u64) -> Result<GuestRange, Errno> {
        GuestRange::new(Gpa::new(addr), len)
            .filter(|r| r.within(self.layout.user_end()))
            .ok_or(Errno::Efault)
    }

    /// Copies a checked range out of guest memory.
    pub(crate) fn read_range(&self, range: GuestRange, buf: &mut [u8]) -> Result<(), Errno> {
        debug_assert_eq!(buf.len() as u64, range.len());
        self.mem.read_slice(buf, GuestAddress(range.start().as_u64())).map_err(|_| Errno::Efault)
    }

    /// Copies bytes into a checked range of guest memory.
    pub(crate) fn write_range(&self, range: GuestRange, buf: &[u8]) -> Result<(), Errno> {
        debug_assert_eq!(buf.len() as u64, range.len());
        self.mem.write_slice(buf, GuestAddress(range.start().as_u64())).map_err(|_| Errno::Efault)
    }

    /// Fills a checked range from `file` (straight into guest memory, no bounce buffer), until
    /// the range is full or the file ends. Returns the bytes read; an error after some bytes
    /// were read ends the transfer and reports what was read.
    pub(crate) fn fill_from(
        &self,
        range: GuestRange,
        file: &mut std::fs::File,
    ) -> std::io::Result<u64> {
        let mut done = 0u64;
        while done < range.len() {
            let at = GuestAddress(range.start().as_u64() + done);
            match self.mem.read_volatile_from(at, file, (range.len() - done) as usize) {
                Ok(0) => break,
                Ok(n) => done += n as u64,
                Err(e) if done == 0 => return Err(io_error(e)),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    /// Writes a checked range to `file` with one `write` system call, straight from guest
    /// memory; returns what the kernel took (possibly less than the range: a short write).
    pub(crate) fn write_some_to(
        &self,
        range: GuestRange,
        file: &mut std::fs::File,
    ) -> std::io::Result<u64> {
        use vm_memory::WriteVolatile;
        let slice = self
            .mem
            .get_slice(GuestAddress(range.start().as_u64()), range.len() as usize)
            .map_err(io_error)?;
        file.write_volatile(&slice).map(|n| n as u64).map_err(|e| match e {
            vm_memory::VolatileMemoryError::IOError(io) => io,
            other => std::io::Error::other(other.to_string()),
        })
    }

    /// Copies a piece of the guest's image to guest address `addr` (before the guest runs).
    pub(crate) fn load_image(&mut self, addr: u64, image: &[u8]) -> Result<(), Errno> {
        let range = self.user_range(addr, image.len() as u64)?;
        self.note_written(addr, range.len());
        self.write_range(range, image)
    }

    /// Reads a byte anywhere in RAM (the host's own inspection, e.g. the instruction at RIP).
    pub(crate) fn read_u8(&self, gpa: u64) -> Option<u8> {
        self.mem.read_obj(GuestAddress(gpa)).ok()
    }

    /// The host virtual address of guest-physical `gpa`, if it is in guest RAM.
    pub(crate) fn host_address(&self, gpa: u64) -> Option<u64> {
        (gpa < self.layout.ram_size()).then(|| self.host_base() + gpa)
    }

    /// Writes a NUL-terminated text into the hv page's scratch area, cut to fit; returns the
    /// text's guest address.
    pub(crate) fn write_scratch(&self, text: &str) -> u64 {
        use hv_core::proto::hv_page::{SCRATCH_OFFSET, SCRATCH_SIZE};
        let at = self.layout.hv_page().as_u64() + SCRATCH_OFFSET;
        let len = text.len().min(SCRATCH_SIZE as usize - 1);
        let _ = self.mem.write_slice(&text.as_bytes()[..len], GuestAddress(at));
        let _ = self.mem.write_obj(0u8, GuestAddress(at + len as u64));
        at
    }

    /// Reads a NUL-terminated string of at most `max` bytes from user memory.
    pub(crate) fn read_c_string(&self, addr: u64, max: u64) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            let at = addr.checked_add(out.len() as u64).ok_or(Errno::Efault)?;
            // Read up to the end of user memory, a chunk at a time, never past it.
            let room = self.layout.user_end().saturating_sub(at).min(chunk.len() as u64);
            if room == 0 {
                return Err(Errno::Efault);
            }
            let range = self.user_range(at, room)?;
            let buf = &mut chunk[..room as usize];
            self.read_range(range, buf)?;
            match buf.iter().position(|&b| b == 0) {
                Some(nul) => {
                    out.extend_from_slice(&buf[..nul]);
                    return if out.len() as u64 > max { Err(Errno::Einval) } else { Ok(out) };
                }
                None => out.extend_from_slice(buf),
            }
            if out.len() as u64 > max {
                return Err(Errno::Einval);
            }
        }
    }

    /// The call arguments, read once.
    pub(crate) fn read_mailbox(&self) -> [u64; 6] {
        let mailbox = self.mailbox as *const Mailbox;
        // SAFETY: see `mailbox` (the field): the address is inside this RAM's own mapping, which
        // lives as long as `self`, and suitably aligned. Volatile: the guest writes it too.
        std::array::from_fn(|i| unsafe { std::ptr::addr_of!((*mailbox).args[i]).read_volatile() })
    }

    /// Stores a call's results.
    pub(crate) fn write_result(&self, ret: i64, ret2: u64) {
        let mailbox = self.mailbox as *mut Mailbox;
        // SAFETY: as in `read_mailbox`.
        unsafe {
            std::ptr::addr_of_mut!((*mailbox).ret).write_volatile(ret);
            std::ptr::addr_of_mut!((*mailbox).ret2).write_volatile(ret2);
        }
    }
}

fn io_error(e: vm_memory::GuestMemoryError) -> std::io::Error {
    match e {
        vm_memory::GuestMemoryError::IOError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

impl PhysMem for GuestRam {
    fn read_u64(&self, gpa: Gpa) -> Option<u64> {
        let word = self.word(gpa)?;
        // SAFETY: `word` checked that the 8 bytes lie in guest RAM, which `self.mem` maps for
        // as long as `self` lives; a byte array has no alignment requirement. Volatile: the
        // guest may write this memory too (it is not running while the host is in here).
        Some(u64::from_le_bytes(unsafe { word.read_volatile() }))
    }

    fn write_u64(&mut self, gpa: Gpa, value: u64) -> bool {
        let Some(word) = self.word(gpa) else { return false };
        // See `boot_written`.
        if value == 0 && self.untouched(gpa.as_u64()) {
            return true;
        }
        self.note_written(gpa.as_u64(), 8);
        // SAFETY: as in `read_u64`; `&mut self` is the host's only writer.
        unsafe { word.write_volatile(value.to_le_bytes()) };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv_core::layout::{MemSize, PageSize};

    /// Whether the host page holding `gpa` is resident (`mincore`).
    fn resident(ram: &GuestRam, gpa: u64) -> bool {
        let page = (ram.host_base() + gpa) & !(PAGE - 1);
        let mut vec = 0u8;
        // SAFETY: one page of a mapping `ram` owns, and one byte to fill.
        let rc = unsafe { libc::mincore(page as *mut libc::c_void, PAGE as usize, &mut vec) };
        assert_eq!(rc, 0, "mincore");
        vec & 1 == 1
    }

    #[test]
    fn zeros_into_untouched_pages_touch_nothing_until_sealed() {
        let mut ram = GuestRam::new(Layout::new(MemSize::Mib2, PageSize::Kib4)).unwrap();
        let (a, b, c) = (Gpa::new(0x10_0000), Gpa::new(0x10_1000), Gpa::new(0x10_2000));
        // A zero into a page nobody wrote: skipped, the page stays unmapped.
        assert!(ram.write_u64(a, 0));
        assert!(!resident(&ram, a.as_u64()));
        // A page the host wrote takes zeros like any other value.
        assert!(ram.write_u64(b, 7));
        assert!(ram.write_u64(b.add(8), 9));
        assert!(ram.write_u64(b.add(8), 0));
        assert_eq!((ram.read_u64(b), ram.read_u64(b.add(8))), (Some(7), Some(0)));
        // Once sealed (the guest may have written anywhere), every zero is written.
        ram.seal();
        assert!(ram.write_u64(c, 0));
        assert!(resident(&ram, c.as_u64()));
        // Words past the end of RAM are refused.
        let end = Gpa::new(ram.layout().ram_size() - 4);
        assert!(!ram.write_u64(end, 1));
        assert_eq!(ram.read_u64(end), None);
    }
}
