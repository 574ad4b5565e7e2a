//! Page-table builder and walker, shared by the host (which builds and walks the guest's
//! tables) and by tests (which run both against a plain byte array).
//!
//! Both go through [`PhysMem`] (defined in [`crate::phys`], below every table builder), so the same code writes real guest RAM on the host and a
//! mock in unit tests, and the walker used for `HC_gvaToHva` is the one the builder is
//! tested against.

use x86_64::structures::paging::PageTableFlags as F;

use crate::addr::Gpa;
use crate::layout::{FRAME, HV_ALIAS_BASE, HV_PAGES, Layout, PageSize};
pub use crate::phys::PhysMem;

/// Mask of the physical-address bits of a page-table entry (bits 12..52).
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Builds the guest's identity map of all its RAM with the layout's page size.
///
/// Every page is present and writable; all are user-accessible except, with 4 KiB pages, the
/// reserved region above the hv pages. Addresses at or past the end of RAM are unmapped, so a
/// stray access is a page fault the host can report, except the device window when the layout
/// has one (`--mmio`): it is mapped identity and user-accessible with one page of the layout's
/// size. No memory backs it, so every access to it exits to the host as MMIO (the page's
/// caching attributes therefore do not matter). Returns `false` if a table falls outside `mem`
/// (a wrong layout, never guest input).
pub fn build_identity_map(mem: &mut impl PhysMem, layout: Layout) -> bool {
    let table = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
    let mut ok = true;
    // Zero every table first: RAM handed to us may not be clean (a rebuilt guest).
    let mut tables = 3 + layout.pt_count();
    let mut t = layout.pml4();
    while tables > 0 {
        for i in 0..512 {
            ok &= mem.write_u64(t.add(i * 8), 0);
        }
        t = t.add(FRAME);
        tables -= 1;
    }
    ok &= mem.write_u64(layout.pml4(), layout.pdpt().as_u64() | table.bits());
    ok &= mem.write_u64(layout.pdpt(), layout.pd().as_u64() | table.bits());
    let two_mib = PageSize::Mib2.bytes();
    let directories = layout.ram_size() / two_mib;
    for d in 0..directories {
        let entry = match layout.page() {
            PageSize::Mib2 => (d * two_mib) | (table | F::HUGE_PAGE).bits(),
            PageSize::Kib4 => {
                let pt = layout.pt(d);
                for i in 0..512 {
                    let frame = d * two_mib + i * FRAME;
                    let mut flags = F::PRESENT | F::WRITABLE;
                    if layout.is_user(frame) {
                        flags |= F::USER_ACCESSIBLE;
                    }
                    ok &= mem.write_u64(pt.add(i * 8), frame | flags.bits());
                }
                pt.as_u64() | table.bits()
            }
        };
        ok &= mem.write_u64(layout.pd().add(d * 8), entry);
    }
    if let Some(window) = layout.mmio_window() {
        ok &= map_device_window(mem, layout, window);
    }
    ok &= map_hv_alias(mem, layout);
    ok
}

/// Maps the hv pages (hv page, console ring, input ring) a second time at [`HV_ALIAS_BASE`],
/// with 4 KiB pages whatever the layout's page size (a 2 MiB page there would expose the page
/// tables).
fn map_hv_alias(mem: &mut impl PhysMem, layout: Layout) -> bool {
    let user = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
    let pt = layout.alias_pt();
    let mut ok = true;
    for i in 0..512 {
        ok &= mem.write_u64(pt.add(i * 8), 0);
    }
    for i in 0..HV_PAGES {
        ok &= mem.write_u64(pt.add(i * 8), layout.hv_page().add(i * FRAME).as_u64() | user.bits());
    }
    let two_mib = PageSize::Mib2.bytes();
    ok & mem.write_u64(layout.pd().add((HV_ALIAS_BASE / two_mib) * 8), pt.as_u64() | user.bits())
}

/// Maps the device window's page (see [`build_identity_map`]).
fn map_device_window(mem: &mut impl PhysMem, layout: Layout, window: Gpa) -> bool {
    let user = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
    let two_mib = PageSize::Mib2.bytes();
    let base = window.as_u64();
    let mut ok = true;
    let entry = match layout.page() {
        PageSize::Mib2 => (base & !(two_mib - 1)) | (user | F::HUGE_PAGE).bits(),
        PageSize::Kib4 => {
            let pt = layout.mmio_pt();
            for i in 0..512 {
                ok &= mem.write_u64(pt.add(i * 8), 0);
            }
            let index = (base % two_mib) / FRAME;
            ok &= mem.write_u64(pt.add(index * 8), (base & ADDR_MASK) | user.bits());
            pt.as_u64() | user.bits()
        }
    };
    ok & mem.write_u64(layout.pd().add((base / two_mib) * 8), entry)
}

/// The result of walking a guest's page tables for one virtual address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Translation {
    /// The guest-physical address the virtual address maps to.
    pub gpa: Gpa,
    /// Size of the page that maps it.
    pub page_size: u64,
    /// True if ring 3 may access it.
    pub user: bool,
    /// True if it is writable.
    pub writable: bool,
}

/// Walks the 4-level tables rooted at `cr3` for `va`, as the MMU would.
///
/// Returns `None` for a non-canonical address, a non-present entry at any level, or a table
/// that lies outside guest RAM (the guest controls its tables; the walk trusts none of them).
pub fn translate(mem: &impl PhysMem, cr3: u64, va: u64) -> Option<Translation> {
    // Canonical: bits 63..48 copy bit 47.
    let top = va >> 47;
    if top != 0 && top != 0x1_FFFF {
        return None;
    }
    let mut table = cr3 & ADDR_MASK;
    let mut user = true;
    let mut writable = true;
    // Levels: PML4 (shift 39), PDPT (30), PD (21), PT (12).
    for shift in [39u32, 30, 21, 12] {
        let index = (va >> shift) & 0x1FF;
        let entry = mem.read_u64(Gpa::new(table + index * 8))?;
        let flags = F::from_bits_truncate(entry);
        if !flags.contains(F::PRESENT) {
            return None;
        }
        user &= flags.contains(F::USER_ACCESSIBLE);
        writable &= flags.contains(F::WRITABLE);
        let leaf = shift == 12 || (shift != 39 && flags.contains(F::HUGE_PAGE));
        if leaf {
            let page_size = 1u64 << shift;
            let base = entry & ADDR_MASK & !(page_size - 1);
            return Some(Translation {
                gpa: Gpa::new(base | (va & (page_size - 1))),
                page_size,
                user,
                writable,
            });
        }
        table = entry & ADDR_MASK;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::MemSize;
    use crate::phys::mock::Ram;
    use std::vec;

    #[test]
    fn identity_maps_all_ram_and_nothing_else() {
        for mem in MemSize::ALL {
            for page in PageSize::ALL {
                let layout = Layout::new(mem, page);
                let mut ram = Ram(vec![0xAA; layout.ram_size() as usize]);
                assert!(build_identity_map(&mut ram, layout));
                let cr3 = layout.pml4().as_u64();
                let mut va = 0;
                while va < layout.ram_size() {
                    let t = translate(&ram, cr3, va + 0x123).expect("mapped");
                    assert_eq!(t.gpa.as_u64(), va + 0x123);
                    assert_eq!(t.page_size, page.bytes());
                    assert!(t.writable);
                    if page == PageSize::Kib4 {
                        assert_eq!(t.user, layout.is_user(va), "{va:#x}");
                    }
                    va += FRAME;
                }
                assert_eq!(translate(&ram, cr3, layout.ram_size()), None);
                assert_eq!(translate(&ram, cr3, 0x4000_0000), None);
                assert_eq!(translate(&ram, cr3, 0xFFFF_8000_0000_0000), None);
                assert_eq!(translate(&ram, cr3, 0x0000_8000_0000_0000), None);
            }
        }
    }

    #[test]
    fn device_window_is_mapped_only_with_mmio() {
        use crate::layout::{DeviceIo, MMIO_SIZE};
        for mem in MemSize::ALL {
            for page in PageSize::ALL {
                let ports = Layout::new(mem, page);
                let layout = ports.with_devices(DeviceIo::Mmio);
                let window = layout.mmio_window().expect("mmio").as_u64();
                assert_eq!(window, layout.ram_size());
                let mut ram = Ram(vec![0xAA; usize::try_from(layout.ram_size()).expect("fits")]);
                assert!(build_identity_map(&mut ram, ports));
                let cr3 = layout.pml4().as_u64();
                assert_eq!(translate(&ram, cr3, window), None);
                assert!(build_identity_map(&mut ram, layout));
                // Seed 003's disk command register, port 0x22 at 0x22 * 8.
                let t = translate(&ram, cr3, window + 0x110).expect("window mapped");
                assert_eq!(t.gpa.as_u64(), window + 0x110);
                assert_eq!(t.page_size, page.bytes());
                assert!(t.user && t.writable);
                // Only the window's page: not the next one.
                let after = window + page.bytes().max(MMIO_SIZE);
                assert_eq!(translate(&ram, cr3, after), None);
                assert_eq!(translate(&ram, cr3, 0x4000_0000), None);
                // RAM is mapped as before, right up to the window.
                let t = translate(&ram, cr3, 0x1234).expect("RAM mapped");
                assert_eq!(t.gpa.as_u64(), 0x1234);
                let t = translate(&ram, cr3, window - 1).expect("RAM mapped");
                assert_eq!(t.gpa.as_u64(), window - 1);
                if page == PageSize::Kib4 {
                    // The window's table is supervisor-only memory, like the other tables.
                    let pt = layout.mmio_pt().as_u64();
                    assert!(!translate(&ram, cr3, pt).expect("mapped").user);
                }
            }
        }
    }

    #[test]
    fn hv_pages_are_aliased_at_a_fixed_address() {
        for mem in MemSize::ALL {
            for page in PageSize::ALL {
                let layout = Layout::new(mem, page);
                let mut ram = Ram(vec![0; usize::try_from(layout.ram_size()).expect("fits")]);
                assert!(build_identity_map(&mut ram, layout));
                let cr3 = layout.pml4().as_u64();
                for i in 0..HV_PAGES {
                    let t = translate(&ram, cr3, HV_ALIAS_BASE + i * FRAME + 0x18).expect("alias");
                    assert_eq!(t.gpa, layout.hv_page().add(i * FRAME + 0x18));
                    assert!(t.user && t.writable);
                    assert_eq!(t.page_size, FRAME);
                }
                // Only the hv pages: not the page tables after them.
                assert_eq!(translate(&ram, cr3, HV_ALIAS_BASE + HV_PAGES * FRAME), None);
                assert_eq!(translate(&ram, cr3, HV_ALIAS_BASE - 1), None);
            }
        }
    }

    #[test]
    fn golden_entries_4k() {
        let layout = Layout::new(MemSize::Mib2, PageSize::Kib4);
        let mut ram = Ram(vec![0; layout.ram_size() as usize]);
        assert!(build_identity_map(&mut ram, layout));
        // PML4[0] -> PDPT, present | writable | user.
        assert_eq!(ram.read_u64(layout.pml4()), Some(0x1F_3000 | 0x7));
        // PT entry for page 1: frame 0x1000, present | writable | user.
        assert_eq!(ram.read_u64(layout.pt(0).add(8)), Some(0x1000 | 0x7));
        // The console ring is the guest's; the PML4's own frame is supervisor-only.
        assert_eq!(ram.read_u64(layout.pt(0).add(0x1F1 * 8)), Some(0x1F_1000 | 0x7));
        assert_eq!(ram.read_u64(layout.pt(0).add(0x1F2 * 8)), Some(0x1F_2000 | 0x3));
    }

    #[test]
    fn walker_survives_hostile_tables() {
        let layout = Layout::new(MemSize::Mib2, PageSize::Kib4);
        let mut ram = Ram(vec![0; layout.ram_size() as usize]);
        // A PML4 entry pointing far outside RAM.
        assert!(ram.write_u64(layout.pml4(), 0x7FFF_FFFF_F000 | 0x7));
        assert_eq!(translate(&ram, layout.pml4().as_u64(), 0x1000), None);
        // A CR3 outside RAM.
        assert_eq!(translate(&ram, 0xFFFF_F000, 0x1000), None);
    }
}
