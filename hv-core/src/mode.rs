//! The CPU modes a guest can start in (`hv-host --mode`): for each, the tables the host writes
//! into guest RAM and the state it loads into the vCPU, built here without KVM (and tested
//! against a byte array), so host and tests cannot disagree about them.
//!
//! | mode | code | ring | tables hv writes | what ends it |
//! |---|---|---|---|---|
//! | [`Long`](CpuMode::Long) | 64-bit | 3 | 4-level identity map, GDT, TSS, IDT | `exit`, or `hlt` (a #GP in ring 3) |
//! | [`Real`](CpuMode::Real) | 16-bit | (0) | the vector table in the HMA ([`crate::ivt`]) | `hlt` |
//! | [`Protected`](CpuMode::Protected) | 32-bit | 0 | GDT, TSS, 32-bit IDT; no paging | `hlt` |
//! | [`Paged32`](CpuMode::Paged32) | 32-bit | 0 | as long mode, with a 32-bit code segment | `hlt` |
//!
//! The 16- and 32-bit modes are seed 002's `simple-kvm -r`, `-s` and `-p`: the guest owns the
//! machine (ring 0, its `hlt` ends it with status 0), and exceptions still reach hv's stubs,
//! which report them instead of letting the guest run into whatever a vector held.
//!
//! # Paged 32-bit mode runs in a compatibility-mode segment
//!
//! On our KVM (PVM) paging works only in long mode: CR0.PG with 2-level, PSE or PAE tables
//! outside long mode shuts the vCPU down (`kvm-pvm supports paging only in long mode`; seed
//! 002's own `simple-kvm -p` ends with a shutdown exit here). So [`Paged32`](CpuMode::Paged32)
//! runs the guest's 32-bit code in a compatibility-mode code segment (L=0, D=1) under long
//! mode, over the same 4-level identity tables as long mode (RAM mapped one to one with the
//! chosen page size). The guest's 32-bit code executes exactly as under 2-level paging, with
//! paging on, and `HC_gvaToHva` walks the real tables. What differs from a true 2-level mode,
//! for a guest that looks:
//! - `mov %cr3` reads the address of a PML4 (4-level tables), not of a page directory;
//!   CR4.PAE reads as set, EFER.LME and LMA are set, and CR0 is long mode's;
//! - a guest that loads its own 2-level page directory into CR3 has it read as a PML4, and one
//!   that clears CR0.PG leaves long mode: neither is supported;
//! - exceptions enter 64-bit stubs (selector 0x18) and push a 64-bit frame; the guest's own
//!   IDT, if it loads one, must be a long-mode IDT.

mod entry;
mod state;

use core::fmt;

pub use entry::{Entry, RealEntry};
pub use state::{CR0_PROTECTED, CR0_REAL, ModeState, RFLAGS_RING0, SegmentReg, TableReg};

use crate::addr::Gpa;
use crate::boot;
use crate::gdt::{
    self, CODE32, CODE32_INDEX, CODE64, DATA32, DATA32_INDEX, GDT_ENTRIES, STUB_CODE64_INDEX,
    TSS_INDEX,
};
use crate::idt::{self, ExceptionFrame, Gates, IDT_GATES, STUB_SIZE};
use crate::ivt;
use crate::layout::Layout;
use crate::paging;
use crate::phys::PhysMem;

/// A CPU mode a guest can start in.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub enum CpuMode {
    /// 64-bit long mode, the guest program in ring 3 over hv's ring-0 stubs: the SDKs' mode
    /// (see [`crate::boot`]).
    #[default]
    Long,
    /// 16-bit real mode, entered at a `segment:offset` ([`RealEntry`]); every segment
    /// register holds the entry's segment, and SP is 0 (the stack at the top of that 64 KiB).
    Real,
    /// 32-bit protected mode without paging, flat segments (code 0x08, data 0x10), ring 0,
    /// entered at 0 with the stack at the top of the guest's memory: `simple-kvm -s`.
    Protected,
    /// 32-bit code with paging on, the rest as [`CpuMode::Protected`]: `simple-kvm -p`, run in
    /// a compatibility-mode segment (see the module docs for why and what differs).
    Paged32,
}

impl CpuMode {
    /// Every mode.
    pub const ALL: [CpuMode; 4] =
        [CpuMode::Long, CpuMode::Real, CpuMode::Protected, CpuMode::Paged32];

    /// The command-line spelling.
    pub const fn cli_value(self) -> &'static str {
        match self {
            CpuMode::Long => "long",
            CpuMode::Real => "real",
            CpuMode::Protected => "protected",
            CpuMode::Paged32 => "paged32",
        }
    }

    /// The mode for its command-line spelling.
    pub fn from_cli_value(v: &str) -> Option<CpuMode> {
        CpuMode::ALL.into_iter().find(|m| m.cli_value() == v)
    }

    /// True for the modes with paging on (long mode and [`CpuMode::Paged32`]).
    pub const fn paging(self) -> bool {
        matches!(self, CpuMode::Long | CpuMode::Paged32)
    }

    /// The end of the memory an image may occupy: the first MiB in real mode, below the stack
    /// and the reserved region otherwise.
    pub const fn image_limit(self, layout: Layout) -> u64 {
        match self {
            CpuMode::Real => ivt::REAL_MODE_LIMIT,
            _ => layout.max_image_size(),
        }
    }

    /// The mode's GDT. The 32-bit modes use simple-kvm's selectors (code 0x08, data 0x10);
    /// every mode has the TSS in [`TSS_INDEX`]. Real mode has none: GDTR keeps its reset value
    /// until the guest loads its own (asked anyway, this gives the protected-mode table).
    pub fn gdt_entries(self, layout: Layout) -> [u64; GDT_ENTRIES] {
        let mut entries = gdt::gdt_entries(layout);
        if self == CpuMode::Long {
            return entries;
        }
        let (tss_low, tss_high) =
            (entries[usize::from(TSS_INDEX)], entries[usize::from(TSS_INDEX) + 1]);
        entries = [0; GDT_ENTRIES];
        entries[usize::from(CODE32_INDEX)] = CODE32;
        entries[usize::from(DATA32_INDEX)] = DATA32;
        if self == CpuMode::Paged32 {
            entries[usize::from(STUB_CODE64_INDEX)] = CODE64;
        }
        // The TSS descriptor's type, 0xB, is a busy 32-bit TSS outside long mode, a busy 64-bit
        // one in it; both formats put the I/O map base at offset 102, so one TSS serves both.
        entries[usize::from(TSS_INDEX)] = tss_low;
        entries[usize::from(TSS_INDEX) + 1] = tss_high;
        entries
    }

    /// The IDT the mode's exceptions go through (none in real mode: the vector table).
    pub const fn gates(self) -> Option<Gates> {
        match self {
            CpuMode::Long => {
                Some(Gates::Long { selector: gdt::selector(gdt::KERNEL_CODE_INDEX).0 })
            }
            CpuMode::Paged32 => {
                Some(Gates::Long { selector: gdt::ring0_selector(STUB_CODE64_INDEX).0 })
            }
            CpuMode::Protected => {
                Some(Gates::Legacy32 { selector: gdt::ring0_selector(CODE32_INDEX).0 })
            }
            CpuMode::Real => None,
        }
    }

    /// Writes what the guest needs from the host into guest RAM: the hv page, and the mode's
    /// tables (see the module docs). Returns `false` if any write fell outside guest memory (a
    /// wrong layout, never guest input).
    pub fn install(self, mem: &mut impl PhysMem, layout: Layout, guest_id: u32) -> bool {
        if self == CpuMode::Long {
            return boot::install(mem, layout, guest_id);
        }
        let mut ok = boot::install_hv_page(mem, layout, guest_id);
        if self.paging() {
            ok &= paging::build_identity_map(mem, layout);
        }
        match self.gates() {
            Some(gates) => {
                ok &= gdt::install_entries(mem, layout, &self.gdt_entries(layout));
                ok &= idt::install_gates(mem, layout, gates);
            }
            None => ok &= ivt::install(mem),
        }
        ok
    }

    /// The vCPU state a guest of this mode starts in, at `entry`.
    pub fn state(self, layout: Layout, entry: Entry) -> ModeState {
        match self {
            CpuMode::Long => state::long_state(layout, entry.linear()),
            CpuMode::Real => state::real_state(entry.real()),
            CpuMode::Protected | CpuMode::Paged32 => self.state32(layout, entry.linear()),
        }
    }

    /// The state of the 32-bit modes: flat segments from the mode's GDT, ring 0.
    fn state32(self, layout: Layout, rip: u64) -> ModeState {
        let entries = self.gdt_entries(layout);
        let reg = |index| SegmentReg::from_gdt(&entries, index, gdt::ring0_selector(index).0);
        let paged = self == CpuMode::Paged32;
        let gates = self.gates().unwrap_or(Gates::Legacy32 { selector: 0 });
        ModeState {
            cr0: if paged { boot::CR0.bits() } else { CR0_PROTECTED },
            cr3: if paged { layout.pml4().as_u64() } else { 0 },
            cr4: if paged { boot::CR4.bits() } else { 0 },
            efer: if paged { boot::EFER.bits() } else { 0 },
            gdt: TableReg { base: layout.gdt().as_u64(), limit: (GDT_ENTRIES * 8 - 1) as u16 },
            idt: TableReg { base: layout.idt().as_u64(), limit: gates.limit() },
            cs: reg(CODE32_INDEX),
            data: reg(DATA32_INDEX),
            tr: reg(TSS_INDEX),
            rip,
            rsp: layout.stack_top().as_u64(),
            rflags: RFLAGS_RING0,
            rdi: 0,
        }
    }

    /// The guest-physical address the guest-virtual (linear) address `va` stands for, as the
    /// guest's MMU sees it: walked through the tables at `cr3` when paging is on; without
    /// paging, every 32-bit linear address is its own physical address (what `KVM_TRANSLATE`
    /// answers there too), whether or not RAM backs it.
    pub fn translate(self, mem: &impl PhysMem, cr3: u64, va: u64) -> Option<Gpa> {
        if self.paging() {
            return paging::translate(mem, cr3, va).map(|t| t.gpa);
        }
        (va <= u64::from(u32::MAX)).then_some(Gpa::new(va))
    }

    /// How an exception stub's report lies at `SS:SP`: bytes per word, and words.
    pub const fn frame_shape(self) -> (u64, u64) {
        match self {
            CpuMode::Long | CpuMode::Paged32 => (8, idt::FRAME_WORDS),
            CpuMode::Protected => (4, FRAME_WORDS32),
            CpuMode::Real => (2, ivt::FRAME_WORDS16),
        }
    }

    /// The report a stub left, from its words (lowest address first, [`CpuMode::frame_shape`]),
    /// the stack pointer `sp` they were read at and the stack segment `ss`. In long mode the CPU
    /// pushes SS:RSP itself; in the others the interrupted code ran at the stubs' own privilege
    /// level, so its stack pointer is the one right above the frame. `None` if `words` is short.
    pub fn frame(self, words: &[u64], sp: u64, ss: u64) -> Option<ExceptionFrame> {
        let (size, count) = self.frame_shape();
        let w: &[u64] = words.get(..count as usize)?;
        let above = sp.wrapping_add(size * count);
        Some(match self {
            CpuMode::Long | CpuMode::Paged32 => {
                ExceptionFrame::from_words([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
            }
            CpuMode::Protected => ExceptionFrame {
                vector: w[0],
                rdx: w[1],
                error_code: w[2],
                rip: w[3],
                cs: w[4],
                rflags: w[5],
                rsp: above,
                ss,
            },
            CpuMode::Real => ExceptionFrame {
                vector: w[0],
                rdx: w[1],
                error_code: 0,
                rip: w[2],
                cs: w[3],
                rflags: w[4],
                rsp: above,
                ss,
            },
        })
    }

    /// Where the stubs are, as linear addresses: a report from code anywhere else was forged by
    /// the guest.
    pub const fn stubs(self, layout: Layout) -> core::ops::Range<u64> {
        match self {
            CpuMode::Real => ivt::STUBS_BASE..ivt::STUBS_END,
            _ => {
                let base = layout.stubs().as_u64();
                base..base + IDT_GATES * STUB_SIZE
            }
        }
    }
}

impl TryFrom<&str> for CpuMode {
    type Error = UnknownMode;
    fn try_from(v: &str) -> Result<Self, UnknownMode> {
        CpuMode::from_cli_value(v).ok_or(UnknownMode)
    }
}

impl fmt::Display for CpuMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cli_value())
    }
}

/// A mode name that is none of [`CpuMode::ALL`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UnknownMode;

/// 32-bit words a protected-mode stub's report is made of: vector, `edx`, error code, EIP, CS,
/// EFLAGS (no SS:ESP: the CPU pushes them only on a privilege change).
pub const FRAME_WORDS32: u64 = 6;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{MemSize, PageSize};
    use crate::phys::mock::Ram;
    use std::vec;

    fn layout() -> Layout {
        Layout::new(MemSize::Mib2, PageSize::Kib4)
    }

    #[test]
    fn names_round_trip() {
        for m in CpuMode::ALL {
            assert_eq!(CpuMode::try_from(m.cli_value()), Ok(m));
        }
        assert_eq!(CpuMode::try_from("Real"), Err(UnknownMode));
        assert_eq!(CpuMode::default(), CpuMode::Long);
    }

    #[test]
    fn golden_gdts() {
        let l = layout();
        let long = CpuMode::Long.gdt_entries(l);
        assert_eq!(long, gdt::gdt_entries(l));
        let prot = CpuMode::Protected.gdt_entries(l);
        assert_eq!(prot[1], 0x00CF_9B00_0000_FFFF); // 32-bit code: D=1, L=0, G=1, DPL 0
        assert_eq!(prot[2], 0x00CF_9300_0000_FFFF); // flat data
        assert_eq!((prot[3], prot[4]), (0, 0));
        assert_eq!(prot[5], long[5]); // the same busy TSS
        let paged = CpuMode::Paged32.gdt_entries(l);
        assert_eq!(paged[..3], prot[..3]);
        assert_eq!(paged[3], 0x00AF_9B00_0000_FFFF); // the stubs' 64-bit code: L=1
        let cs = gdt::decode(&paged, CODE32_INDEX);
        assert_eq!((cs.l, cs.db, cs.dpl, cs.base, cs.limit), (0, 1, 0, 0, 0xFFFF_FFFF));
    }

    #[test]
    fn states_match_simple_kvm() {
        let l = layout();
        let s = CpuMode::Protected.state(l, Entry::Linear(0));
        assert_eq!((s.cs.selector, s.data.selector, s.tr.selector), (0x08, 0x10, 0x28));
        assert_eq!((s.cr0 & 1, s.cr0 >> 31, s.efer, s.rip, s.rflags), (1, 0, 0, 0, 2));
        assert_eq!(s.rsp, l.stack_top().as_u64());
        assert_eq!((s.cs.fields.db, s.cs.fields.l, s.cs.fields.typ), (1, 0, 0xB));
        assert_eq!(s.idt, TableReg { base: l.idt().as_u64(), limit: 32 * 8 - 1 });
        let p = CpuMode::Paged32.state(l, Entry::Linear(0));
        assert_eq!((p.cs.selector, p.cs.fields.l, p.cs.fields.db), (0x08, 0, 1));
        assert_eq!((p.cr0 >> 31, p.cr3, p.efer & 0x500), (1, l.pml4().as_u64(), 0x500));
        assert_eq!(p.idt.limit, 32 * 16 - 1);
        let r = CpuMode::Real.state(l, Entry::Real(RealEntry { segment: 0x1000, offset: 0 }));
        assert_eq!((r.cs.selector, r.cs.fields.base, r.cs.fields.limit), (0x1000, 0x10000, 0xFFFF));
        assert_eq!((r.data.selector, r.data.fields.typ, r.cr0 & 1), (0x1000, 3, 0));
        assert_eq!((r.rip, r.rsp, r.idt.base, r.idt.limit), (0, 0, 0x10_0000, 0x3FF));
        let long = CpuMode::Long.state(l, Entry::Linear(0x1000));
        assert_eq!((long.cs.selector, long.data.selector, long.rip), (0x23, 0x1B, 0x1000));
        assert_eq!(long.rdi, l.hv_page().as_u64());
    }

    #[test]
    fn every_mode_installs_its_tables() {
        for mem in MemSize::ALL {
            for page in PageSize::ALL {
                let l = Layout::new(mem, page);
                for mode in CpuMode::ALL {
                    let mut ram = Ram(vec![0; usize::try_from(l.ram_size()).expect("fits")]);
                    assert!(mode.install(&mut ram, l, 3), "{mode} {mem:?} {page:?}");
                    let word = |a: u64| ram.read_u64(Gpa::new(a)).unwrap_or(0);
                    // The hv page, in every mode.
                    assert_eq!(word(l.hv_page().as_u64()), crate::proto::hv_page::BOOT_MAGIC);
                    let pml4 = l.pml4().as_u64();
                    assert_eq!(word(pml4) != 0, mode.paging(), "{mode}");
                    match mode.gates() {
                        Some(Gates::Legacy32 { selector }) => {
                            let stub = l.stubs().as_u64() as u32;
                            assert_eq!(word(l.idt().as_u64()), idt::gate32(stub, selector));
                        }
                        Some(Gates::Long { selector }) => {
                            let [lo, _] = idt::gate(l.stubs().as_u64(), selector);
                            assert_eq!(word(l.idt().as_u64()), lo);
                        }
                        None => assert_eq!(word(ivt::IVT_BASE) & 0xFFFF_0000, 0xFFFF_0000),
                    }
                    if mode != CpuMode::Real {
                        assert_eq!(word(l.gdt().as_u64() + 8), mode.gdt_entries(l)[1]);
                    }
                    // Nothing below the stack but the real-mode vectors above 1 MiB.
                    let touched = ram.0[..l.stack_top().as_u64() as usize]
                        .iter()
                        .enumerate()
                        .filter(|&(_, &b)| b != 0)
                        .all(|(a, _)| (ivt::IVT_BASE..ivt::STUBS_END).contains(&(a as u64)));
                    assert!(touched, "{mode}");
                }
            }
        }
    }

    #[test]
    fn translation_follows_the_mode() {
        let l = layout();
        let mut ram = Ram(vec![0; l.ram_size() as usize]);
        assert!(CpuMode::Paged32.install(&mut ram, l, 0));
        let cr3 = l.pml4().as_u64();
        for mode in [CpuMode::Paged32, CpuMode::Long] {
            assert_eq!(mode.translate(&ram, cr3, 1024), Some(Gpa::new(1024)));
            assert_eq!(mode.translate(&ram, cr3, 0xFFFF_FFFF), None);
        }
        for mode in [CpuMode::Real, CpuMode::Protected] {
            assert_eq!(mode.translate(&ram, 0, 1024), Some(Gpa::new(1024)));
            // No paging: every 32-bit linear address is its own physical address.
            assert_eq!(mode.translate(&ram, 0, 0xFFFF_FFFF), Some(Gpa::new(0xFFFF_FFFF)));
            assert_eq!(mode.translate(&ram, 0, 1 << 32), None);
        }
    }

    #[test]
    fn frames_decode_per_mode() {
        // Real mode: vector 6 at 0000:0004, from SP 0xFFF6.
        let r = CpuMode::Real.frame(&[6, 0x1234, 4, 0, 2], 0xFFF6, 0).expect("5 words");
        assert_eq!((r.vector, r.rdx, r.rip, r.cs, r.rflags, r.rsp), (6, 0x1234, 4, 0, 2, 0x10000));
        // Protected: #UD at 0x18, with edx 5 (as measured on KVM).
        let p = CpuMode::Protected
            .frame(&[6, 5, 0, 0x18, 8, 0x10002], 0x1E_FFE8, 0x10)
            .expect("6 words");
        assert_eq!((p.vector, p.rdx, p.error_code, p.rip, p.cs), (6, 5, 0, 0x18, 8));
        assert_eq!((p.rsp, p.ss), (0x1F_0000, 0x10));
        assert_eq!(CpuMode::Protected.frame(&[6, 5], 0, 0), None);
        let l = CpuMode::Paged32.frame(&[14, 0, 2, 0x20, 8, 2, 0x1F_0000, 0x10], 0, 0);
        assert_eq!(l.map(|f| (f.vector, f.error_code, f.rsp)), Some((14, 2, 0x1F_0000)));
    }

    #[test]
    fn stubs_are_where_reports_come_from() {
        let l = layout();
        assert_eq!(CpuMode::Real.stubs(l), 0x10_0400..0x10_1400);
        let s = CpuMode::Protected.stubs(l);
        assert_eq!((s.start, s.end - s.start), (l.stubs().as_u64(), 32 * 16));
        assert_eq!(CpuMode::Real.image_limit(l), 0x10_0000);
        assert_eq!(CpuMode::Paged32.image_limit(l), l.max_image_size());
    }
}
