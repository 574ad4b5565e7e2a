//! Sizes of the 64-bit TSS and its I/O permission bitmap.
//!
//! Kept below [`layout`](crate::layout) (which places the TSS) and [`gdt`](crate::gdt) (which
//! describes and writes it), so neither depends on the other for them.

use x86_64::structures::tss::TaskStateSegment;

/// Size of the hardware TSS.
pub const TSS_SIZE: u64 = core::mem::size_of::<TaskStateSegment>() as u64;
/// Size of the I/O permission bitmap: one bit per port, 65536 ports.
pub const IOPB_SIZE: u64 = 65536 / 8;
/// TSS, bitmap and the bitmap's 0xFF terminator byte (SDM Vol. 1, 19.5.2).
pub const TSS_SIZE_WITH_IOPB: u64 = TSS_SIZE + IOPB_SIZE + 1;

// SDM Vol. 3A, Figure 8-11: the 64-bit TSS is 104 bytes, RSP0 at 4, I/O map base at 102.
const _: () = assert!(TSS_SIZE == 104);
const _: () = assert!(core::mem::offset_of!(TaskStateSegment, privilege_stack_table) == 4);
const _: () = assert!(core::mem::offset_of!(TaskStateSegment, iomap_base) == 102);
