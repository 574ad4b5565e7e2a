//! Where everything lives in guest RAM.
//!
//! ```text
//!  0                                         stack_top = reserved_base            ram_size
//!  |  image (.text .rodata .data .bss) ... free RAM ... <- stack  | reserved region (96 KiB) |
//!
//!  reserved region, offsets from reserved_base:
//!   0x00000  hv page: boot info + mailbox  (user-accessible: the guest's window to the host)
//!   0x01000  console ring page             (user-accessible: output the host drains)
//!   0x02000  input ring, 8 pages           (user-accessible: input the host fills)
//!   0x0A000  PML4
//!   0x0B000  PDPT
//!   0x0C000  PD
//!   0x0D000  PT 0..3 (4 KiB pages only; one PT maps 2 MiB)
//!   0x11000  GDT; TSS at +0x80, followed by its 8 KiB I/O permission bitmap
//!   0x14000  IDT (32 gates) and, at +0x800, the ring-0 exception stubs
//!   0x15000  PT of the device window (`--mmio` with 4 KiB pages only)
//!   0x16000  PT of the hv-page alias at [`HV_ALIAS_BASE`]
//!   0x17000  ring-0 stack (4 KiB), top = ram_size
//! ```
//!
//! The user-accessible pages ([`HV_PAGES`] of them: hv page, console ring, input ring) are also
//! mapped at the fixed virtual address [`HV_ALIAS_BASE`], whatever the RAM size, so a guest that
//! keeps its own `_start` (and never sees `rdi`) still finds them.
//!
//! With `--mmio` the seed's device registers are served in a window right after guest RAM
//! (seed 003's layout: 0x200000 with 2 MiB of RAM); it is identity-mapped and user-accessible
//! but backed by no memory, so every access exits to the host (see [`crate::proto::devices`]).
//! Without `--mmio` it is unmapped.
//!
//! The image is loaded at 0 and entered at 0, so a guest linked by the seed's commands runs
//! unchanged. Everything the host adds sits at the *top* of RAM, where no image or `.bss` can
//! collide with it (peers that put page tables at 0x1000 break as soon as an image exceeds
//! 4 KiB). With 4 KiB pages the reserved region, except the hv pages, is supervisor-only; a
//! 2 MiB page cannot be split, so with 2 MiB pages the guest could write it, which only ever
//! harms that guest itself.

use crate::addr::Gpa;

/// Guest RAM sizes the host offers (`-m`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum MemSize {
    /// 2 MiB.
    Mib2,
    /// 4 MiB.
    Mib4,
    /// 8 MiB.
    Mib8,
}

impl MemSize {
    /// All sizes, smallest first.
    pub const ALL: [MemSize; 3] = [MemSize::Mib2, MemSize::Mib4, MemSize::Mib8];

    /// Size in MiB, as written on the command line.
    pub const fn mib(self) -> u64 {
        match self {
            MemSize::Mib2 => 2,
            MemSize::Mib4 => 4,
            MemSize::Mib8 => 8,
        }
    }

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        self.mib() << 20
    }

    /// The size for a number of MiB, if it is one we offer.
    pub const fn from_mib(mib: u64) -> Option<MemSize> {
        match mib {
            2 => Some(MemSize::Mib2),
            4 => Some(MemSize::Mib4),
            8 => Some(MemSize::Mib8),
            _ => None,
        }
    }
}

/// Page sizes the host can map guest RAM with (`-p`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PageSize {
    /// 4 KiB pages: PML4 -> PDPT -> PD -> PT.
    Kib4,
    /// 2 MiB pages: PML4 -> PDPT -> PD with the PS bit.
    Mib2,
}

impl PageSize {
    /// Both sizes.
    pub const ALL: [PageSize; 2] = [PageSize::Kib4, PageSize::Mib2];

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Kib4 => 4 << 10,
            PageSize::Mib2 => 2 << 20,
        }
    }

    /// The command-line spelling: `4` for 4 KiB, `2` for 2 MiB.
    pub const fn cli_value(self) -> u8 {
        match self {
            PageSize::Kib4 => 4,
            PageSize::Mib2 => 2,
        }
    }

    /// The page size for its command-line spelling.
    pub const fn from_cli_value(v: u64) -> Option<PageSize> {
        match v {
            4 => Some(PageSize::Kib4),
            2 => Some(PageSize::Mib2),
            _ => None,
        }
    }
}

/// A 4 KiB frame, the unit of the reserved region.
pub const FRAME: u64 = 4096;
/// Size of the reserved region at the top of guest RAM.
pub const RESERVED_SIZE: u64 = 24 * FRAME;
/// Offset of the hv page (boot info + mailbox) in the reserved region.
pub const HV_PAGE_OFFSET: u64 = 0;
/// Offset of the console ring page (user-accessible, right after the hv page).
pub const CONSOLE_RING_OFFSET: u64 = FRAME;
/// Offset of the input ring (user-accessible, right after the console ring).
pub const INPUT_RING_OFFSET: u64 = CONSOLE_RING_OFFSET + FRAME;
/// Pages of the input ring: 32 KiB, so that a guest reading a stream exits once per 32 KiB.
/// Why that much: a filter (`cat`) also exits for its output, once per write; with input at a
/// quarter or less of those exits, reading costs a filter less than writing does.
pub const INPUT_RING_PAGES: u64 = 8;
/// Number of user-accessible pages at the bottom of the reserved region: the hv page, the
/// console ring and the input ring.
pub const HV_PAGES: u64 = 2 + INPUT_RING_PAGES;
/// Offset of the PML4.
pub const PML4_OFFSET: u64 = HV_PAGES * FRAME;
/// Offset of the PDPT.
pub const PDPT_OFFSET: u64 = PML4_OFFSET + FRAME;
/// Offset of the page directory.
pub const PD_OFFSET: u64 = PDPT_OFFSET + FRAME;
/// Offset of the first page table (4 KiB pages only).
pub const PT_OFFSET: u64 = PD_OFFSET + FRAME;
/// Page tables reserved: enough for the largest RAM (8 MiB / 2 MiB per table).
pub const MAX_PTS: u64 = 4;
/// Offset of the GDT.
pub const GDT_OFFSET: u64 = PT_OFFSET + MAX_PTS * FRAME;
/// Offset of the TSS, in the GDT's frame, 128 bytes after the GDT.
pub const TSS_OFFSET: u64 = GDT_OFFSET + 0x80;
/// Offset of the IDT (after the TSS and its I/O bitmap, which span three frames).
pub const IDT_OFFSET: u64 = GDT_OFFSET + 3 * FRAME;
/// Offset of the ring-0 exception stubs: in the IDT's frame, after its 32 gates (512 bytes).
pub const STUBS_OFFSET: u64 = IDT_OFFSET + 0x800;
/// Offset of the page table that maps the device window (`--mmio` with 4 KiB pages).
pub const MMIO_PT_OFFSET: u64 = IDT_OFFSET + FRAME;
/// Offset of the page table that maps the hv pages at [`HV_ALIAS_BASE`].
pub const ALIAS_PT_OFFSET: u64 = MMIO_PT_OFFSET + FRAME;
/// Offset of the ring-0 stack's lowest byte; the stack grows down from the top of RAM. It only
/// ever holds one exception frame, so one frame is plenty.
pub const KSTACK_OFFSET: u64 = ALIAS_PT_OFFSET + FRAME;

const _: () = assert!(KSTACK_OFFSET + FRAME == RESERVED_SIZE);
const _: () = assert!(
    TSS_OFFSET + crate::tss::TSS_SIZE_WITH_IOPB <= IDT_OFFSET,
    "TSS + I/O bitmap overlap the IDT"
);

/// Fixed guest-virtual address where the hv pages (the hv page, and the console and input rings
/// after it) are mapped as well as at their identity address: the top 2 MiB of the first GiB,
/// clear of RAM (at most 8 MiB) and of the device window right after it. A guest that never
/// sees `rdi` (its own `_start`) reaches the host's boot info, mailbox and rings here.
pub const HV_ALIAS_BASE: u64 = 0x3FE0_0000;

/// Stack the host guarantees a guest below its image: an image must leave at least this much.
pub const MIN_STACK: u64 = 64 << 10;

/// Size of the device window: one 4 KiB page, room for ports up to 0x1FF at 8 bytes each (with
/// 2 MiB pages, the rest of its 2 MiB page is mapped too, and an access there ends the guest as
/// an access outside the window).
pub const MMIO_SIZE: u64 = FRAME;

// The window (at the end of RAM, a multiple of 2 MiB) gets a page-directory entry of its own,
// below the hv-page alias.
const _: () = assert!(MemSize::Mib8.bytes() + (2 << 20) <= HV_ALIAS_BASE);

/// How a guest reaches the seed's devices (serial port, disk): the host's `--mmio` switch.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub enum DeviceIo {
    /// On ports (the seed's default); the device window is not mapped.
    #[default]
    Ports,
    /// In the device window right after RAM; the device ports are unknown.
    Mmio,
}

/// The layout of one guest's RAM, derived from its size and page size.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    mem: MemSize,
    page: PageSize,
    devices: DeviceIo,
}

impl Layout {
    /// The layout for `mem` bytes of RAM mapped with `page`-sized pages, devices on ports.
    pub const fn new(mem: MemSize, page: PageSize) -> Self {
        Layout { mem, page, devices: DeviceIo::Ports }
    }

    /// The same layout with the devices reached as `devices` says.
    pub const fn with_devices(self, devices: DeviceIo) -> Self {
        Layout { devices, ..self }
    }

    /// How the devices are reached.
    pub const fn devices(self) -> DeviceIo {
        self.devices
    }

    /// Base of the device window when it is mapped (`--mmio`), else `None`: the first address
    /// past guest RAM, where seed 003's guest expects it (0x200000 with 2 MiB of RAM).
    pub const fn mmio_window(self) -> Option<Gpa> {
        match self.devices {
            DeviceIo::Mmio => Some(Gpa::new(self.ram_size())),
            DeviceIo::Ports => None,
        }
    }

    /// Page table of the device window (used with 4 KiB pages and `--mmio` only).
    pub const fn mmio_pt(self) -> Gpa {
        self.reserved_base().add(MMIO_PT_OFFSET)
    }

    /// RAM size.
    pub const fn mem(self) -> MemSize {
        self.mem
    }

    /// Page size.
    pub const fn page(self) -> PageSize {
        self.page
    }

    /// RAM size in bytes.
    pub const fn ram_size(self) -> u64 {
        self.mem.bytes()
    }

    /// First byte of the reserved region.
    pub const fn reserved_base(self) -> Gpa {
        Gpa::new(self.ram_size() - RESERVED_SIZE)
    }

    /// The hv page: boot info and mailbox, shared by guest and host.
    pub const fn hv_page(self) -> Gpa {
        self.reserved_base().add(HV_PAGE_OFFSET)
    }

    /// The console ring page (user-accessible, after the hv page).
    pub const fn console_ring(self) -> Gpa {
        self.reserved_base().add(CONSOLE_RING_OFFSET)
    }

    /// The input ring's first page (user-accessible, after the console ring).
    pub const fn input_ring(self) -> Gpa {
        self.reserved_base().add(INPUT_RING_OFFSET)
    }

    /// Page table of the hv-page alias at [`HV_ALIAS_BASE`].
    pub const fn alias_pt(self) -> Gpa {
        self.reserved_base().add(ALIAS_PT_OFFSET)
    }

    /// End of what a guest may hand the host as a buffer: its own RAM up to and including the
    /// hv pages (hv page, console ring, input ring). The page tables and descriptor tables
    /// above are off limits.
    pub const fn user_end(self) -> u64 {
        self.hv_page().as_u64() + HV_PAGES * FRAME
    }

    /// Initial stack pointer of the guest program (16-byte aligned).
    pub const fn stack_top(self) -> Gpa {
        self.reserved_base()
    }

    /// Largest image the host will load: everything below the stack but [`MIN_STACK`].
    pub const fn max_image_size(self) -> u64 {
        self.stack_top().as_u64() - MIN_STACK
    }

    /// PML4 (what CR3 points at).
    pub const fn pml4(self) -> Gpa {
        self.reserved_base().add(PML4_OFFSET)
    }

    /// PDPT.
    pub const fn pdpt(self) -> Gpa {
        self.reserved_base().add(PDPT_OFFSET)
    }

    /// Page directory.
    pub const fn pd(self) -> Gpa {
        self.reserved_base().add(PD_OFFSET)
    }

    /// Page table `i` (maps `[i * 2 MiB, (i + 1) * 2 MiB)` with 4 KiB pages).
    pub const fn pt(self, i: u64) -> Gpa {
        assert!(i < MAX_PTS);
        self.reserved_base().add(PT_OFFSET + i * FRAME)
    }

    /// Number of page tables used: one per 2 MiB of RAM with 4 KiB pages, none with 2 MiB.
    pub const fn pt_count(self) -> u64 {
        match self.page {
            PageSize::Kib4 => self.ram_size() / PageSize::Mib2.bytes(),
            PageSize::Mib2 => 0,
        }
    }

    /// GDT.
    pub const fn gdt(self) -> Gpa {
        self.reserved_base().add(GDT_OFFSET)
    }

    /// TSS (followed by its I/O permission bitmap).
    pub const fn tss(self) -> Gpa {
        self.reserved_base().add(TSS_OFFSET)
    }

    /// IDT.
    pub const fn idt(self) -> Gpa {
        self.reserved_base().add(IDT_OFFSET)
    }

    /// Ring-0 exception stubs.
    pub const fn stubs(self) -> Gpa {
        self.reserved_base().add(STUBS_OFFSET)
    }

    /// Top of the ring-0 stack (TSS.RSP0): the end of RAM.
    pub const fn kstack_top(self) -> Gpa {
        Gpa::new(self.ram_size())
    }

    /// True when `gpa` is in a page the guest program may touch (user-accessible).
    pub const fn is_user(self, gpa: u64) -> bool {
        gpa < self.user_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_layout_2mib() {
        let l = Layout::new(MemSize::Mib2, PageSize::Kib4);
        assert_eq!(l.reserved_base().as_u64(), 0x1E_8000);
        assert_eq!(l.hv_page().as_u64(), 0x1E_8000);
        assert_eq!(l.console_ring().as_u64(), 0x1E_9000);
        assert_eq!(l.input_ring().as_u64(), 0x1E_A000);
        assert_eq!(l.pml4().as_u64(), 0x1F_2000);
        assert_eq!(l.pt(0).as_u64(), 0x1F_5000);
        assert_eq!(l.gdt().as_u64(), 0x1F_9000);
        assert_eq!(l.tss().as_u64(), 0x1F_9080);
        assert_eq!(l.idt().as_u64(), 0x1F_C000);
        assert_eq!(l.stubs().as_u64(), 0x1F_C800);
        assert_eq!(l.kstack_top().as_u64(), 0x20_0000);
        assert_eq!(l.user_end(), 0x1F_2000);
        assert_eq!(l.max_image_size(), 0x1D_8000);
        assert_eq!(l.pt_count(), 1);
        assert_eq!(l.mmio_pt().as_u64(), 0x1F_D000);
        assert_eq!(l.alias_pt().as_u64(), 0x1F_E000);
        assert_eq!(l.mmio_window(), None);
        let m = l.with_devices(DeviceIo::Mmio);
        assert_eq!(m.mmio_window(), Some(Gpa::new(0x20_0000)));
        let m8 = Layout::new(MemSize::Mib8, PageSize::Mib2).with_devices(DeviceIo::Mmio);
        assert_eq!(m8.mmio_window(), Some(Gpa::new(0x80_0000)));
        assert_eq!((m.user_end(), m.kstack_top()), (l.user_end(), l.kstack_top()));
    }

    #[test]
    fn every_config_fits() {
        for mem in MemSize::ALL {
            for page in PageSize::ALL {
                let l = Layout::new(mem, page);
                assert!(l.pt_count() <= MAX_PTS);
                assert_eq!(l.reserved_base().as_u64() % FRAME, 0);
                assert_eq!(l.stack_top().as_u64() % 16, 0);
            }
        }
    }
}
