//! The vCPU state a guest starts in, per mode: what `hv-host`'s vCPU set-up loads.

use crate::boot;
use crate::gdt::{self, GDT_ENTRIES, SegmentFields, TSS_INDEX};
use crate::idt::Gates;
use crate::ivt;
use crate::layout::Layout;

use super::{CpuMode, RealEntry};

/// CR0 in protected mode: protection on, paging off, native FPU errors (`simple-kvm -s` sets PE
/// on its reset CR0; the cache-disable bits of the reset value are left out).
pub const CR0_PROTECTED: u64 = CR0_PE | CR0_ET | CR0_NE;
/// CR0 in real mode: the 387 extension type only.
pub const CR0_REAL: u64 = CR0_ET;
const CR0_PE: u64 = 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;

/// RFLAGS at entry in the ring-0 modes: the reserved bit 1 only, as simple-kvm sets it.
pub const RFLAGS_RING0: u64 = 1 << 1;

/// A segment register as the vCPU holds it: the selector and the descriptor's fields.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SegmentReg {
    /// The selector.
    pub selector: u16,
    /// The hidden part.
    pub fields: SegmentFields,
}

impl SegmentReg {
    /// GDT slot `index` of `entries`, loaded with `selector`.
    pub(super) fn from_gdt(entries: &[u64; GDT_ENTRIES], index: u16, selector: u16) -> SegmentReg {
        SegmentReg { selector, fields: gdt::decode(entries, index) }
    }

    /// A real-mode segment register holding `segment` (base `segment * 16`, 64 KiB), code or
    /// data; present and accessed, as after a load in real mode.
    pub const fn real(segment: u16, code: bool) -> SegmentReg {
        SegmentReg {
            selector: segment,
            fields: SegmentFields {
                base: segment as u64 * 16,
                limit: 0xFFFF,
                typ: if code { 0xB } else { 0x3 },
                s: 1,
                dpl: 0,
                present: 1,
                l: 0,
                db: 0,
                g: 0,
            },
        }
    }
}

/// A descriptor-table register (GDTR, IDTR).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TableReg {
    /// Linear base address.
    pub base: u64,
    /// Limit: size in bytes minus one.
    pub limit: u16,
}

/// Everything the host loads into the vCPU for a guest to start.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModeState {
    /// CR0.
    pub cr0: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// EFER.
    pub efer: u64,
    /// GDTR.
    pub gdt: TableReg,
    /// IDTR.
    pub idt: TableReg,
    /// CS.
    pub cs: SegmentReg,
    /// DS, ES, FS, GS and SS.
    pub data: SegmentReg,
    /// TR.
    pub tr: SegmentReg,
    /// RIP.
    pub rip: u64,
    /// RSP.
    pub rsp: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// RDI: the hv page's address in long mode, 0 in the others (as simple-kvm's registers).
    pub rdi: u64,
}

pub(super) fn long_state(layout: Layout, rip: u64) -> ModeState {
    let entry = boot::EntryState::new(layout).at(rip);
    let entries = gdt::gdt_entries(layout);
    let reg = |index| SegmentReg::from_gdt(&entries, index, gdt::selector(index).0);
    ModeState {
        cr0: boot::CR0.bits(),
        cr3: entry.cr3,
        cr4: boot::CR4.bits(),
        efer: boot::EFER.bits(),
        gdt: TableReg { base: layout.gdt().as_u64(), limit: (GDT_ENTRIES * 8 - 1) as u16 },
        idt: TableReg {
            base: layout.idt().as_u64(),
            limit: CpuMode::Long.gates().map_or(0, Gates::limit),
        },
        cs: reg(gdt::USER_CODE_INDEX),
        data: reg(gdt::USER_DATA_INDEX),
        tr: reg(TSS_INDEX),
        rip: entry.rip,
        rsp: entry.rsp,
        rflags: entry.rflags,
        rdi: entry.rdi,
    }
}

pub(super) fn real_state(entry: RealEntry) -> ModeState {
    ModeState {
        cr0: CR0_REAL,
        cr3: 0,
        cr4: 0,
        efer: 0,
        // GDTR as at reset: a real-mode guest that enters protected mode loads its own.
        gdt: TableReg { base: 0, limit: 0xFFFF },
        idt: TableReg { base: ivt::IVT_BASE, limit: ivt::IVT_LIMIT },
        cs: SegmentReg::real(entry.segment, true),
        data: SegmentReg::real(entry.segment, false),
        // TR as at reset (a busy TSS at 0), which entering a vCPU requires even in real mode.
        tr: SegmentReg {
            selector: 0,
            fields: SegmentFields { s: 0, typ: 0xB, ..SegmentReg::real(0, true).fields },
        },
        rip: u64::from(entry.offset),
        rsp: 0,
        rflags: RFLAGS_RING0,
        rdi: 0,
    }
}
