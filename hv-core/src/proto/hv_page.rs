//! The hv page: one 4 KiB page per guest, at the bottom of the reserved region, shared by the
//! guest and the host. Its address is in `rdi` when the guest starts.
//!
//! | offset  | what                | written by |
//! |---------|---------------------|------------|
//! | 0x000   | [`BootInfo`]        | host, before the guest starts |
//! | 0x100   | [`Mailbox`]         | guest (args), host (results)  |
//! | 0x200   | scratch, 3.5 KiB    | host, for replies that are strings |

/// Offset of [`BootInfo`] in the hv page.
pub const BOOT_INFO_OFFSET: u64 = 0x000;
/// Offset of the [`Mailbox`] in the hv page.
pub const MAILBOX_OFFSET: u64 = 0x100;
/// Offset of the scratch area the host writes string replies into.
pub const SCRATCH_OFFSET: u64 = 0x200;
/// Size of the scratch area.
pub const SCRATCH_SIZE: u64 = 0x1000 - SCRATCH_OFFSET;

/// `BootInfo::magic`: "hv-boot\0" little-endian.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"hv-boot\0");

/// What the host tells a guest about itself before it starts. Read-only for the guest.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct BootInfo {
    /// OUT: [`BOOT_MAGIC`].
    pub magic: u64,
    /// OUT: the host's [`ABI_VERSION`](crate::ABI_VERSION).
    pub abi_version: u32,
    /// OUT: this guest's ID: 0, 1, 2, ... in `-g` order.
    pub guest_id: u32,
    /// OUT: guest RAM size in bytes.
    pub ram_size: u64,
    /// OUT: page size the RAM is mapped with, in bytes.
    pub page_size: u64,
    /// OUT: the initial stack pointer; the stack grows down from here.
    pub stack_top: u64,
    /// OUT: end of the memory the guest may use and pass to the host (exclusive).
    pub user_end: u64,
    /// OUT: where the seed's devices are (see [`devices`](super::devices)): 0 when they are
    /// on ports, else the address of the device window (`--mmio`), identity-mapped. Added in
    /// ABI version 2.
    pub devices_mmio: u64,
}

/// Arguments and results of one call. The meaning of each word is given per opcode.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct Mailbox {
    /// IN: the call's arguments.
    pub args: [u64; 6],
    /// OUT: the result: >= 0 on success, `-errno` on failure.
    pub ret: i64,
    /// OUT: a second result, for calls that have one.
    pub ret2: u64,
}

// Pin the layouts the C header restates.
const _: () = assert!(core::mem::size_of::<BootInfo>() == 56);
const _: () = assert!(core::mem::offset_of!(BootInfo, guest_id) == 12);
const _: () = assert!(core::mem::offset_of!(BootInfo, user_end) == 40);
const _: () = assert!(core::mem::offset_of!(BootInfo, devices_mmio) == 48);
const _: () = assert!(core::mem::size_of::<Mailbox>() == 64);
const _: () = assert!(core::mem::offset_of!(Mailbox, ret) == 48);
const _: () = assert!(core::mem::offset_of!(Mailbox, ret2) == 56);
const _: () = assert!(BOOT_INFO_OFFSET + 56 <= MAILBOX_OFFSET);
const _: () = assert!(MAILBOX_OFFSET + 64 <= SCRATCH_OFFSET);
