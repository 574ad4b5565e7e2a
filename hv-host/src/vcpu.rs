//! Loading the guest's entry state into a vCPU (public for embedders that drive their own vCPU,
//! such as the benchmark's raw-KVM floor).
//!
//! Every value comes from hv-core: the segment registers are decoded from the very GDT the
//! guest has in memory, and the control registers and entry registers from
//! [`hv_core::boot`], so host and guest cannot disagree about them.

use hv_core::boot::{self, EntryState};
use hv_core::gdt::{
    self, GDT_ENTRIES, KERNEL_CODE_INDEX, TSS_INDEX, USER_CODE_INDEX, USER_DATA_INDEX,
};
use hv_core::idt::{GATE_SIZE, IDT_GATES};
use hv_core::layout::Layout;
use kvm_bindings::{kvm_fpu, kvm_regs, kvm_segment, kvm_sregs};
use kvm_ioctls::VcpuFd;

/// Default x87 control word (all exceptions masked, extended precision), as after `fninit`.
const FCW_DEFAULT: u16 = 0x37F;
/// Default MXCSR (all SIMD exceptions masked, round to nearest), as after reset.
const MXCSR_DEFAULT: u32 = 0x1F80;

/// The KVM segment register for GDT slot `index`, with its selector.
fn segment(entries: &[u64; GDT_ENTRIES], index: u16) -> kvm_segment {
    let f = gdt::decode(entries, index);
    kvm_segment {
        base: f.base,
        limit: f.limit,
        selector: gdt::selector(index).0,
        type_: f.typ,
        present: f.present,
        dpl: f.dpl,
        db: f.db,
        s: f.s,
        l: f.l,
        g: f.g,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Loads the ring-3 code and data segments the guest program runs with into `sregs`: CPL is the
/// DPL of CS/SS, so this is what puts (or, after an emulated instruction, puts back) the program
/// in ring 3.
pub(crate) fn set_ring3_segments(sregs: &mut kvm_sregs, layout: Layout) {
    let entries = gdt::gdt_entries(layout);
    let data = segment(&entries, USER_DATA_INDEX);
    sregs.cs = segment(&entries, USER_CODE_INDEX);
    sregs.ss = data;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
}

/// Puts the vCPU in 64-bit long mode, ring 3, at guest address 0 (a flat image's entry).
pub fn load_entry_state(vcpu: &VcpuFd, layout: Layout) -> Result<(), kvm_ioctls::Error> {
    load_entry_state_at(vcpu, layout, 0)
}

/// Puts the vCPU in 64-bit long mode, ring 3, at `rip` (an ELF image's `e_entry`).
pub fn load_entry_state_at(
    vcpu: &VcpuFd,
    layout: Layout,
    rip: u64,
) -> Result<(), kvm_ioctls::Error> {
    let entry = EntryState::new(layout).at(rip);
    let entries = gdt::gdt_entries(layout);

    let mut sregs = vcpu.get_sregs()?;
    sregs.cr0 = boot::CR0.bits();
    sregs.cr3 = entry.cr3;
    sregs.cr4 = boot::CR4.bits();
    sregs.efer = boot::EFER.bits();
    sregs.gdt.base = layout.gdt().as_u64();
    sregs.gdt.limit = (GDT_ENTRIES * 8 - 1) as u16;
    sregs.idt.base = layout.idt().as_u64();
    sregs.idt.limit = (IDT_GATES * GATE_SIZE - 1) as u16;
    set_ring3_segments(&mut sregs, layout);
    debug_assert_eq!((sregs.cs.selector, sregs.ss.selector), (entry.cs, entry.ss));
    sregs.tr = segment(&entries, TSS_INDEX);
    let _ = KERNEL_CODE_INDEX; // the IDT gates name it; the CPU loads it on an exception
    vcpu.set_sregs(&sregs)?;

    vcpu.set_fpu(&kvm_fpu { fcw: FCW_DEFAULT, mxcsr: MXCSR_DEFAULT, ..Default::default() })?;

    vcpu.set_regs(&kvm_regs {
        rip: entry.rip,
        rsp: entry.rsp,
        rdi: entry.rdi,
        rflags: entry.rflags,
        ..Default::default()
    })
}
