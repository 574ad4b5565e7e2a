//! Loading the guest's entry state into a vCPU (public for embedders that drive their own vCPU,
//! such as the benchmark's raw-KVM floor).
//!
//! Every value comes from hv-core: the segment registers are decoded from the very GDT the
//! guest has in memory, and the control registers and entry registers from
//! [`hv_core::mode::CpuMode::state`] (for long mode, [`hv_core::boot`]), so host and guest cannot
//! disagree about them. One function loads every mode; the modes differ only in the state
//! hv-core builds for them.

use hv_core::gdt::{self, GDT_ENTRIES, USER_CODE_INDEX, USER_DATA_INDEX};
use hv_core::layout::Layout;
use hv_core::mode::{CpuMode, Entry, ModeState, SegmentReg};
use kvm_bindings::{kvm_fpu, kvm_regs, kvm_segment, kvm_sregs};
use kvm_ioctls::VcpuFd;

/// Default x87 control word (all exceptions masked, extended precision), as after `fninit`.
const FCW_DEFAULT: u16 = 0x37F;
/// Default MXCSR (all SIMD exceptions masked, round to nearest), as after reset.
const MXCSR_DEFAULT: u32 = 0x1F80;

/// The KVM segment register for `reg`.
pub(crate) fn segment(reg: SegmentReg) -> kvm_segment {
    let f = reg.fields;
    kvm_segment {
        base: f.base,
        limit: f.limit,
        selector: reg.selector,
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

/// The KVM segment register for slot `index` of the long-mode GDT.
fn long_segment(entries: &[u64; GDT_ENTRIES], index: u16) -> kvm_segment {
    segment(SegmentReg { selector: gdt::selector(index).0, fields: gdt::decode(entries, index) })
}

/// Loads the ring-3 code and data segments the guest program runs with into `sregs`: CPL is the
/// DPL of CS/SS, so this is what puts (or, after an emulated instruction, puts back) the program
/// in ring 3.
pub(crate) fn set_ring3_segments(sregs: &mut kvm_sregs, layout: Layout) {
    let entries = gdt::gdt_entries(layout);
    let data = long_segment(&entries, USER_DATA_INDEX);
    sregs.cs = long_segment(&entries, USER_CODE_INDEX);
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
    load_mode(vcpu, CpuMode::Long, layout, Entry::Linear(rip))
}

/// Puts the vCPU in `mode` at `entry`: control registers, descriptor tables, segments (the
/// LDT keeps its reset value), FPU defaults, and the entry registers.
pub fn load_mode(
    vcpu: &VcpuFd,
    mode: CpuMode,
    layout: Layout,
    entry: Entry,
) -> Result<(), kvm_ioctls::Error> {
    let state: ModeState = mode.state(layout, entry);
    let mut sregs = vcpu.get_sregs()?;
    sregs.cr0 = state.cr0;
    sregs.cr3 = state.cr3;
    sregs.cr4 = state.cr4;
    sregs.efer = state.efer;
    sregs.gdt.base = state.gdt.base;
    sregs.gdt.limit = state.gdt.limit;
    sregs.idt.base = state.idt.base;
    sregs.idt.limit = state.idt.limit;
    let data = segment(state.data);
    sregs.cs = segment(state.cs);
    sregs.ss = data;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.tr = segment(state.tr);
    vcpu.set_sregs(&sregs)?;

    vcpu.set_fpu(&kvm_fpu { fcw: FCW_DEFAULT, mxcsr: MXCSR_DEFAULT, ..Default::default() })?;

    vcpu.set_regs(&kvm_regs {
        rip: state.rip,
        rsp: state.rsp,
        rdi: state.rdi,
        rflags: state.rflags,
        ..Default::default()
    })
}

/// Sets what KVM itself stops a 16- or 32-bit guest for (`KVM_SET_GUEST_DEBUG`, which reports
/// with `KVM_EXIT_DEBUG`): a single step if `step`, and the execute breakpoints `dr0_3` that
/// `dr7` enables. With neither, guest debugging is turned off, so the guest runs as without a
/// debugger. (For ring-3 code our KVM reports none of these: long mode steps with RFLAGS.TF
/// through hv's stubs instead; see `gdb`.)
pub(crate) fn set_guest_debug(
    vcpu: &VcpuFd,
    step: bool,
    dr0_3: [u64; 4],
    dr7: u64,
) -> Result<(), kvm_ioctls::Error> {
    use kvm_bindings::{
        KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP, KVM_GUESTDBG_USE_HW_BP, kvm_guest_debug,
    };
    let mut debug = kvm_guest_debug::default();
    if step || dr7 != 0 {
        debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
        if step {
            debug.control |= KVM_GUESTDBG_SINGLESTEP;
        }
        debug.arch.debugreg[..4].copy_from_slice(&dr0_3);
        debug.arch.debugreg[7] = dr7;
    }
    vcpu.set_guest_debug(&debug)
}
