//! The guest's GDT and TSS.
//!
//! The guest program runs in ring 3 and the host's exception stubs in ring 0, so the GDT has
//! a code and a data segment for each, plus the TSS. The TSS matters more than it looks: on
//! our KVM (PVM) ring-3 `in`/`out` permission comes only from the TSS I/O permission bitmap
//! (RFLAGS.IOPL is ignored), so the bitmap below allows every port. Do not drop it in favour of
//! IOPL=3 alone: ports then work or fault depending on the host.

use x86_64::PrivilegeLevel;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, DescriptorFlags};

use crate::addr::Gpa;
use crate::layout::Layout;
use crate::phys::PhysMem;

/// GDT index of the 64-bit ring-0 code segment.
pub const KERNEL_CODE_INDEX: u16 = 1;
/// GDT index of the ring-0 data segment.
pub const KERNEL_DATA_INDEX: u16 = 2;
/// GDT index of the ring-3 data segment (before user code, the order `sysret` expects).
pub const USER_DATA_INDEX: u16 = 3;
/// GDT index of the 64-bit ring-3 code segment.
pub const USER_CODE_INDEX: u16 = 4;
/// GDT index of the TSS descriptor (16 bytes: two slots).
pub const TSS_INDEX: u16 = 5;
/// Number of 8-byte GDT slots.
pub const GDT_ENTRIES: usize = 7;

/// GDT index of the flat 32-bit ring-0 code segment of the 32-bit modes (`protected`,
/// `paged32`; see [`crate::mode`]): selector 0x08, the one simple-kvm loads.
pub const CODE32_INDEX: u16 = 1;
/// GDT index of the flat ring-0 data segment of the 32-bit modes: selector 0x10.
pub const DATA32_INDEX: u16 = 2;
/// GDT index of the 64-bit ring-0 code segment the exception stubs run in under `paged32`:
/// long mode is active underneath, and its interrupt gates must name a 64-bit segment.
pub const STUB_CODE64_INDEX: u16 = 3;

/// A flat 32-bit ring-0 code segment: base 0, 4 GiB, execute/read, D=1, L=0.
pub const CODE32: u64 = DescriptorFlags::KERNEL_CODE32.bits();
/// A flat ring-0 data segment: base 0, 4 GiB, read/write, B=1.
pub const DATA32: u64 = DescriptorFlags::KERNEL_DATA.bits();
/// A 64-bit ring-0 code segment (L=1).
pub const CODE64: u64 = DescriptorFlags::KERNEL_CODE64.bits();

pub use crate::tss::{IOPB_SIZE, TSS_SIZE, TSS_SIZE_WITH_IOPB};

/// Selector of a ring-0 segment of any mode's GDT (RPL 0).
pub const fn ring0_selector(index: u16) -> SegmentSelector {
    SegmentSelector::new(index, PrivilegeLevel::Ring0)
}

/// Selector of a segment of the long-mode GDT, with the requested privilege level equal to its
/// DPL.
pub const fn selector(index: u16) -> SegmentSelector {
    let rpl = match index {
        USER_DATA_INDEX | USER_CODE_INDEX => PrivilegeLevel::Ring3,
        _ => PrivilegeLevel::Ring0,
    };
    SegmentSelector::new(index, rpl)
}

/// Type field of a busy 64-bit TSS. KVM requires TR to hold a busy TSS on entry, and it is
/// what `ltr` would have left in the GDT.
pub const TSS_TYPE_BUSY: u64 = 0b1011;

/// The TSS descriptor for a TSS at `base` (SDM Vol. 3A, Figure 8-4), with its I/O bitmap.
pub fn tss_descriptor(base: Gpa) -> Descriptor {
    let b = base.as_u64();
    let limit = TSS_SIZE_WITH_IOPB - 1;
    let low = (limit & 0xFFFF)
        | ((b & 0xFF_FFFF) << 16)
        | (TSS_TYPE_BUSY << 40)
        | DescriptorFlags::PRESENT.bits()
        | (((limit >> 16) & 0xF) << 48)
        | (((b >> 24) & 0xFF) << 56);
    Descriptor::SystemSegment(low, b >> 32)
}

/// The guest's GDT as raw 8-byte slots.
pub fn gdt_entries(layout: Layout) -> [u64; GDT_ENTRIES] {
    let raw = |d: Descriptor| match d {
        Descriptor::UserSegment(v) => v,
        Descriptor::SystemSegment(v, _) => v,
    };
    let Descriptor::SystemSegment(tss_low, tss_high) = tss_descriptor(layout.tss()) else {
        unreachable!("tss_descriptor builds a system segment")
    };
    [
        0,
        raw(Descriptor::kernel_code_segment()),
        raw(Descriptor::kernel_data_segment()),
        raw(Descriptor::user_data_segment()),
        raw(Descriptor::user_code_segment()),
        tss_low,
        tss_high,
    ]
}

/// The fields of a segment descriptor, decoded, as a VMM must hand them to KVM.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SegmentFields {
    /// Segment base.
    pub base: u64,
    /// Limit in bytes (already scaled by the granularity bit).
    pub limit: u32,
    /// The 4-bit type field.
    pub typ: u8,
    /// 1 for code/data, 0 for system segments.
    pub s: u8,
    /// Descriptor privilege level.
    pub dpl: u8,
    /// Present bit.
    pub present: u8,
    /// 64-bit code segment.
    pub l: u8,
    /// Default operand size.
    pub db: u8,
    /// Granularity.
    pub g: u8,
}

/// Decodes GDT slot `index` (and the next one, for a system segment) into its fields, so the
/// host derives its segment registers from the very bits the guest's GDT holds.
pub fn decode(entries: &[u64; GDT_ENTRIES], index: u16) -> SegmentFields {
    let i = usize::from(index);
    let low = entries[i];
    let bit = |n: u32| ((low >> n) & 1) as u8;
    let s = bit(44);
    let mut base = ((low >> 16) & 0xFF_FFFF) | (((low >> 56) & 0xFF) << 24);
    if s == 0 && i + 1 < GDT_ENTRIES {
        base |= (entries[i + 1] & 0xFFFF_FFFF) << 32;
    }
    let raw_limit = ((low & 0xFFFF) | (((low >> 48) & 0xF) << 16)) as u32;
    let g = bit(55);
    let limit = if g == 1 { (raw_limit << 12) | 0xFFF } else { raw_limit };
    SegmentFields {
        base,
        limit,
        typ: ((low >> 40) & 0xF) as u8,
        s,
        dpl: ((low >> 45) & 3) as u8,
        present: bit(47),
        l: bit(53),
        db: bit(54),
        g,
    }
}

/// Writes the long-mode GDT, the TSS (RSP0 = top of the ring-0 stack) and an all-zero I/O
/// permission bitmap (every port allowed) into guest memory. Returns `false` if any write fell
/// outside it.
pub fn install(mem: &mut impl PhysMem, layout: Layout) -> bool {
    install_entries(mem, layout, &gdt_entries(layout))
}

/// Writes `entries` as the GDT, and the TSS and its bitmap as [`install`] does (each mode's GDT
/// has the TSS descriptor in the same slot, [`TSS_INDEX`]).
pub fn install_entries(
    mem: &mut impl PhysMem,
    layout: Layout,
    entries: &[u64; GDT_ENTRIES],
) -> bool {
    let mut ok = true;
    for (i, e) in entries.iter().enumerate() {
        ok &= mem.write_u64(layout.gdt().add(i as u64 * 8), *e);
    }
    // Zero the TSS and the bitmap, then fill in the two fields that matter.
    let tss = layout.tss();
    let mut off = 0;
    while off < TSS_SIZE_WITH_IOPB - 1 {
        ok &= mem.write_u64(tss.add(off), 0);
        off += 8;
    }
    // RSP0 at offset 4 straddles two 8-byte words; compose them.
    let rsp0 = layout.kstack_top().as_u64();
    ok &= mem.write_u64(tss, rsp0 << 32);
    ok &= mem.write_u64(tss.add(8), rsp0 >> 32);
    // I/O map base at offset 102: bytes 96..104 hold reserved (u32, u16) and the base (u16).
    ok &= mem.write_u64(tss.add(96), TSS_SIZE << 48);
    // The bitmap's terminator byte, 0xFF, right after it (8-aligned, so a u64 write is exact).
    ok &= mem.write_u64(tss.add(TSS_SIZE + IOPB_SIZE), 0xFF);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{MemSize, PageSize};

    #[test]
    fn golden_gdt() {
        let l = Layout::new(MemSize::Mib2, PageSize::Kib4);
        let g = gdt_entries(l);
        assert_eq!(g[0], 0);
        assert_eq!(g[1], 0x00AF_9B00_0000_FFFF); // ring-0 code, L=1
        assert_eq!(g[3], 0x00CF_F300_0000_FFFF); // ring-3 data
        assert_eq!(g[4], 0x00AF_FB00_0000_FFFF); // ring-3 code, L=1
        // TSS at 0x1F9080, limit 0x2068, busy 64-bit TSS, present.
        assert_eq!(g[5], 0x0000_8B1F_9080_2068);
        assert_eq!(g[6], 0);
        assert_eq!(selector(USER_CODE_INDEX).0, 0x23);
        assert_eq!(selector(USER_DATA_INDEX).0, 0x1B);
        assert_eq!(selector(TSS_INDEX).0, 0x28);
    }

    #[test]
    fn decode_round_trips() {
        let l = Layout::new(MemSize::Mib8, PageSize::Mib2);
        let g = gdt_entries(l);
        let cs = decode(&g, USER_CODE_INDEX);
        assert_eq!((cs.dpl, cs.l, cs.s, cs.present, cs.typ), (3, 1, 1, 1, 0xB));
        let tr = decode(&g, TSS_INDEX);
        assert_eq!(tr.base, l.tss().as_u64());
        assert_eq!(u64::from(tr.limit), TSS_SIZE_WITH_IOPB - 1);
        assert_eq!((tr.s, tr.typ, tr.g), (0, 0xB, 0));
    }
}
