//! The state a guest starts in: what the host writes into guest RAM and loads into the vCPU.

use x86_64::registers::control::{Cr0Flags, Cr4Flags};
use x86_64::registers::model_specific::EferFlags;
use x86_64::registers::rflags::RFlags;

use crate::gdt::{self, USER_CODE_INDEX, USER_DATA_INDEX, selector};
use crate::layout::Layout;
use crate::paging;
use crate::phys::PhysMem;
use crate::proto::hv_page::{BOOT_INFO_OFFSET, BOOT_MAGIC, BootInfo, MAILBOX_OFFSET};
use crate::{ABI_VERSION, idt};

/// CR0: protected mode, paging, native FPU errors, write-protect in ring 0; no emulation of
/// the FPU, so SSE works in ring 3.
pub const CR0: Cr0Flags = Cr0Flags::PROTECTED_MODE_ENABLE
    .union(Cr0Flags::MONITOR_COPROCESSOR)
    .union(Cr0Flags::EXTENSION_TYPE)
    .union(Cr0Flags::NUMERIC_ERROR)
    .union(Cr0Flags::WRITE_PROTECT)
    .union(Cr0Flags::PAGING);

/// CR4: PAE (required by long mode) and SSE support (`fxsave` and SIMD exceptions), which
/// Rust's precompiled `core` needs.
pub const CR4: Cr4Flags =
    Cr4Flags::PHYSICAL_ADDRESS_EXTENSION.union(Cr4Flags::OSFXSR).union(Cr4Flags::OSXMMEXCPT_ENABLE);

/// EFER: long mode enabled and active, and no-execute enabled. hv's page tables set no NX bit;
/// NXE is on so that the CPU marks every page fault on an instruction fetch as one (error code
/// bit 4, SDM Vol. 3A, 4.7), which it does only with NXE (or SMEP): an instruction whose last
/// bytes lie on a supervisor page then reads as "fetching", not "reading".
pub const EFER: EferFlags = EferFlags::LONG_MODE_ENABLE
    .union(EferFlags::LONG_MODE_ACTIVE)
    .union(EferFlags::NO_EXECUTE_ENABLE);

/// RFLAGS at entry: the reserved bit 1, and IOPL 3.
///
/// IOPL=3 lets ring 3 use `in`/`out` on hardware that honours it; our KVM (PVM) ignores IOPL
/// and consults only the TSS I/O bitmap, which is why [`gdt::install`] writes one that allows
/// every port. Keep both: each is needed on one kind of host.
pub const RFLAGS: u64 = (1 << 1) | RFlags::IOPL_LOW.bits() | RFlags::IOPL_HIGH.bits();

/// Where the guest program starts, and with what, in ring 3.
///
/// Why ring 3: on our KVM (PVM) ring-0 guest code is emulated instruction by instruction
/// (~1 M instructions/s) and most SSE instructions fail there, which Rust's `core::fmt` uses;
/// ring 3 runs natively. Running the program in ring 3 over a small ring-0 exception layer is
/// also an ordinary setup on VT-x/SVM, so nothing here is PVM-specific. Do not "simplify" the
/// guest back to ring 0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EntryState {
    /// RIP: 0 for a flat image (loaded at 0, entered at 0, the seed's way); an ELF image's
    /// entry point otherwise (see [`EntryState::at`]).
    pub rip: u64,
    /// RSP: the top of the stack.
    pub rsp: u64,
    /// RDI: the address of the hv page.
    pub rdi: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// CR3: the PML4.
    pub cr3: u64,
    /// Code selector (ring 3).
    pub cs: u16,
    /// Stack and data selector (ring 3).
    pub ss: u16,
}

impl EntryState {
    /// The entry state for a layout.
    pub const fn new(layout: Layout) -> Self {
        EntryState {
            rip: 0,
            rsp: layout.stack_top().as_u64(),
            rdi: layout.hv_page().as_u64(),
            rflags: RFLAGS,
            cr3: layout.pml4().as_u64(),
            cs: selector(USER_CODE_INDEX).0,
            ss: selector(USER_DATA_INDEX).0,
        }
    }

    /// The same state, entered at `rip` instead of 0.
    pub const fn at(self, rip: u64) -> Self {
        EntryState { rip, ..self }
    }
}

/// The boot info a guest gets.
pub const fn boot_info(layout: Layout, guest_id: u32) -> BootInfo {
    BootInfo {
        magic: BOOT_MAGIC,
        abi_version: ABI_VERSION,
        guest_id,
        ram_size: layout.ram_size(),
        page_size: layout.page().bytes(),
        stack_top: layout.stack_top().as_u64(),
        user_end: layout.user_end(),
        devices_mmio: match layout.mmio_window() {
            Some(window) => window.as_u64(),
            None => 0,
        },
    }
}

/// Writes everything the reserved region holds for a long-mode guest: the hv page (boot info,
/// clean mailbox), the page tables, GDT, TSS and I/O bitmap, IDT and exception stubs. Returns
/// `false` if any write fell outside guest memory (a wrong layout, never guest input). The other
/// modes' tables: [`crate::mode::CpuMode::install`].
pub fn install(mem: &mut impl PhysMem, layout: Layout, guest_id: u32) -> bool {
    let mut ok = install_hv_page(mem, layout, guest_id);
    ok &= paging::build_identity_map(mem, layout);
    ok &= gdt::install(mem, layout);
    ok &= idt::install(mem, layout);
    ok
}

/// Writes the hv page: its boot info, and zeros everywhere else (a clean mailbox, no ABI
/// announcement). Returns `false` if any write fell outside guest memory.
pub fn install_hv_page(mem: &mut impl PhysMem, layout: Layout, guest_id: u32) -> bool {
    let page = layout.hv_page();
    let mut ok = true;
    for off in (0..crate::layout::FRAME).step_by(8) {
        ok &= mem.write_u64(page.add(off), 0);
    }
    let info = boot_info(layout, guest_id);
    let words = [
        info.magic,
        u64::from(info.abi_version) | (u64::from(info.guest_id) << 32),
        info.ram_size,
        info.page_size,
        info.stack_top,
        info.user_end,
        info.devices_mmio,
    ];
    for (i, w) in words.iter().enumerate() {
        ok &= mem.write_u64(page.add(BOOT_INFO_OFFSET + i as u64 * 8), *w);
    }
    let _ = MAILBOX_OFFSET; // zeroed with the page above
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{DeviceIo, MemSize, PageSize};
    use crate::phys::mock::Ram;
    use std::vec;

    #[test]
    fn boot_info_words_match_the_struct() {
        for devices in [DeviceIo::Ports, DeviceIo::Mmio] {
            let layout = Layout::new(MemSize::Mib2, PageSize::Kib4).with_devices(devices);
            let mut ram = Ram(vec![0; usize::try_from(layout.ram_size()).expect("fits")]);
            assert!(install(&mut ram, layout, 7));
            let word = |field: usize| ram.read_u64(layout.hv_page().add(field as u64));
            let info = boot_info(layout, 7);
            assert_eq!(word(core::mem::offset_of!(BootInfo, magic)), Some(BOOT_MAGIC));
            assert_eq!(
                word(core::mem::offset_of!(BootInfo, guest_id) - 4),
                Some(u64::from(ABI_VERSION) | 7 << 32)
            );
            assert_eq!(word(core::mem::offset_of!(BootInfo, user_end)), Some(info.user_end));
            let window = match devices {
                DeviceIo::Ports => 0,
                DeviceIo::Mmio => 0x20_0000,
            };
            assert_eq!(info.devices_mmio, window);
            assert_eq!(word(core::mem::offset_of!(BootInfo, devices_mmio)), Some(window));
        }
    }
}
