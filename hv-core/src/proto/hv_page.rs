//! The hv page: one 4 KiB page per guest, at the bottom of the reserved region, shared by the
//! guest and the host. Its address is in `rdi` when the guest starts.
//!
//! | offset  | what                | written by |
//! |---------|---------------------|------------|
//! | 0x000   | [`BootInfo`]        | host, before the guest starts |
//! | 0x100   | [`Mailbox`]         | guest (args), host (results)  |
//! | 0x140   | [`ConsoleRingControl`] | guest (`head`), host (`tail`) |
//! | 0x150   | ABI announcement, u64 ([`ABI_ANNOUNCE_OFFSET`]) | guest, at start |
//! | 0x160   | [`InputRingControl`] | host (`head`), guest (`tail`) |
//! | 0x180   | [`ExitCounts`]      | host, after every exit        |
//! | 0x200   | scratch, 3.5 KiB    | host, for replies that are strings |
//!
//! The page after the hv page (`Layout::console_ring`, also user-accessible and also mapped
//! at [`HV_ALIAS_BASE`](crate::layout::HV_ALIAS_BASE) + 4 KiB) holds the console ring's data,
//! and the [`INPUT_RING_SIZE`] bytes after it (`Layout::input_ring`, at the alias + 8 KiB) the
//! input ring's.
//!
//! # The console ring
//!
//! Console output of the SDKs (`putchar`, `print!`, `puts`, `hv_write`, the print hypercalls)
//! does not exit: the guest appends the bytes to the ring, a single-producer single-consumer
//! queue of [`CONSOLE_RING_SIZE`] bytes, and the host takes them out whenever it has the vCPU
//! anyway: before it handles any exit (so console output keeps its order with file writes, the
//! serial port, raw `out`s to 0xE9 and everything else), when the guest ends however it ends,
//! and every few tens of milliseconds while it computes (the host interrupts it for that). A
//! guest exits for console output only when the ring is full: it then makes the
//! [`ConsoleFlush`](super::hypercall::HcOp::ConsoleFlush) call, whose only effect is that
//! drain, or, for a write longer than the room left, [`ConsoleWrite`](super::hypercall::HcOp::ConsoleWrite)
//! (the host drains the ring first, then prints the buffer): one exit either way.
//!
//! Note (ordering and trust): `head` and `tail` count bytes since the start and never wrap in
//! practice (u64); byte `i` of the stream is at `data[i % CONSOLE_RING_SIZE]`. Only the guest
//! writes `head`, only the host writes `tail`. The producer writes the bytes, then (release)
//! the new `head`; the consumer reads `head` (acquire), then the bytes, then publishes the new
//! `tail`. The ring holds `head - tail` bytes, at most [`CONSOLE_RING_SIZE`]; the guest MUST
//! NOT write a byte at or past `tail + CONSOLE_RING_SIZE`. The host drains only while the vCPU
//! is stopped, and keeps its own copy of `tail`: it never trusts the page's. A `head` behind the
//! host's `tail` or more than [`CONSOLE_RING_SIZE`] ahead of it is a guest error that ends the
//! guest; every copy is bounded by the ring's size.
//!
//! # The input ring
//!
//! Console input reaches the SDKs' `getchar` and `read` through the input ring, the console
//! ring's mirror: the host produces, the guest consumes. The guest takes bytes out of it without
//! exiting; only when it finds it empty does it make the
//! [`ConsoleRead`](super::hypercall::HcOp::ConsoleRead) call, one exit, in which the host writes
//! out what the guest has printed (so a prompt shows), parks the guest until input or its end is
//! there for it (its host thread stays free) and puts the next input in the ring. A stream read
//! this way costs one exit per [`INPUT_RING_SIZE`] bytes at most.
//!
//! Which guest gets which input, when several read the one stdin:
//! - Input moves from stdin into a guest's ring only when that guest asks (`ConsoleRead` with an
//!   empty ring, or a raw `in`), and guests are served in the order they asked: first come,
//!   first served.
//! - A line goes whole to one guest. The guest that asked first gets the next line; if no other
//!   guest is waiting, it gets as many whole lines as fit in its ring. A line that does not fit
//!   (longer than the ring), or that has not ended yet when it is handed out, goes in pieces to
//!   the same guest: until that guest has had the line's newline, no other guest gets input.
//!   At the end of input a last line without a newline goes as it is.
//! - Bytes left in a guest's ring when it ends are gone, like the buffered input of a process
//!   that exits.
//!
//! The seed's raw `in` from [`CONSOLE_PORT`](super::CONSOLE_PORT) keeps working, one byte per
//! exit, and keeps its order with the ring: while the guest's ring holds bytes, an `in` is
//! answered with the next of them (the host moves `tail` on); only an empty ring sends it to
//! stdin. A guest that mixes the two reads every byte once, in order.
//!
//! Note (ordering and trust): `head` counts the bytes the host has put in since the start,
//! `tail` those the guest has taken; byte `i` is at `data[i % INPUT_RING_SIZE]`. Only the host
//! writes `head`; the guest writes `tail`, and so does the host when it answers a raw `in` from
//! the ring, both only while the vCPU is stopped. The host writes the bytes, then (release)
//! `head`; the guest reads `head` (acquire), then the bytes, then (release) the new `tail`. The
//! host keeps its own copy of `head` and never reads the page's; it reads `tail`, and a `tail`
//! ahead of `head` or more than [`INPUT_RING_SIZE`] behind it is impossible: `ConsoleRead` then
//! returns `-EINVAL` and puts nothing in, and a raw `in` reads stdin as if the ring were empty.
//! Every copy is bounded by the ring's size.
//!
//! # Answers kept in memory
//!
//! The host rewrites [`ExitCounts`] after every exit, before the guest resumes, so a guest
//! reads its exit counts (`HC_numExits`, `HC_numExitsByType`) without exiting; the counts are
//! exact at the moment they are read: every exit the guest has made so far. A write the host
//! had KVM queue without an exit (a seed-style raw `out`) counts as the exit it would have been,
//! from the guest's next exit on.

/// Offset of [`BootInfo`] in the hv page.
pub const BOOT_INFO_OFFSET: u64 = 0x000;
/// Offset of the [`Mailbox`] in the hv page.
pub const MAILBOX_OFFSET: u64 = 0x100;
/// Offset of the scratch area the host writes string replies into.
pub const SCRATCH_OFFSET: u64 = 0x200;
/// Size of the scratch area.
pub const SCRATCH_SIZE: u64 = 0x1000 - SCRATCH_OFFSET;
/// Offset of the [`ConsoleRingControl`] in the hv page.
pub const CONSOLE_RING_CONTROL_OFFSET: u64 = 0x140;
/// Offset of the ABI announcement in the hv page: a u64 the SDKs' `_start` sets to the
/// [`ABI_VERSION`](crate::ABI_VERSION) they were built for, before anything else, without an
/// exit. The host reads it at the guest's first exit and every exit after it until it is set,
/// before it handles the exit (or drains the console ring), and ends a guest whose version
/// differs, naming both. 0 means "not announced" (a seed-style guest, which the host takes as
/// it is). A guest MAY instead announce with [`HcOp::AbiVersion`](super::hypercall::HcOp::AbiVersion)
/// (one exit), as ABI versions 1 and 2 did. Added in ABI version 3.
pub const ABI_ANNOUNCE_OFFSET: u64 = 0x150;
/// Offset of the [`InputRingControl`] in the hv page. Added in ABI version 4.
pub const INPUT_RING_CONTROL_OFFSET: u64 = 0x160;
/// Offset of the [`ExitCounts`] in the hv page.
pub const EXIT_COUNTS_OFFSET: u64 = 0x180;
/// Offset of the console ring's data from the hv page: the page right after it.
pub const CONSOLE_RING_DATA_OFFSET: u64 =
    crate::layout::CONSOLE_RING_OFFSET - crate::layout::HV_PAGE_OFFSET;
/// Size of the console ring's data, in bytes: the whole ring page.
pub const CONSOLE_RING_SIZE: u64 = crate::layout::FRAME;
/// Offset of the input ring's data from the hv page: the pages after the console ring.
pub const INPUT_RING_DATA_OFFSET: u64 =
    crate::layout::INPUT_RING_OFFSET - crate::layout::HV_PAGE_OFFSET;
/// Size of the input ring's data, in bytes: its pages, whole.
pub const INPUT_RING_SIZE: u64 = crate::layout::INPUT_RING_PAGES * crate::layout::FRAME;

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

/// The console ring's indices (see [the module docs](self#the-console-ring)).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ConsoleRingControl {
    /// IN (guest): bytes produced since the start; written after the bytes themselves.
    pub head: u64,
    /// OUT (host): bytes consumed since the start.
    pub tail: u64,
}

/// The input ring's indices (see [the module docs](self#the-input-ring)).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct InputRingControl {
    /// OUT (host): bytes put in the ring since the start; written after the bytes themselves.
    pub head: u64,
    /// IN (guest): bytes taken out of the ring since the start.
    pub tail: u64,
}

/// This guest's exits so far, by kind: written by the host after every exit, before the guest
/// resumes. Read-only for the guest.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ExitCounts {
    /// OUT: every exit.
    pub total: u64,
    /// OUT: `in` exits.
    pub io_in: u64,
    /// OUT: `out` exits (exception reports included).
    pub io_out: u64,
    /// OUT: `hlt` exits.
    pub hlt: u64,
    /// OUT: MMIO exits.
    pub mmio: u64,
    /// OUT: CPU exceptions reported by the ring-0 stubs (also counted in `io_out`).
    pub exceptions: u64,
    /// OUT: exits caused by the host interrupting the guest (time slices, console drains).
    pub interrupted: u64,
    /// OUT: any other exit.
    pub other: u64,
}

/// The text of `HC_numExitsByType`, one `kind: count` line per kind, the seed's two first:
/// `IO in: <n>\nIO out: <m>\nHLT: ...`. The host's reply and the SDKs' own formatting.
impl core::fmt::Display for ExitCounts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "IO in: {}\nIO out: {}\nHLT: {}\nMMIO: {}\nexceptions: {}\ninterrupted: {}\nother: {}\n",
            self.io_in,
            self.io_out,
            self.hlt,
            self.mmio,
            self.exceptions,
            self.interrupted,
            self.other
        )
    }
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
const _: () = assert!(core::mem::size_of::<ConsoleRingControl>() == 16);
const _: () = assert!(core::mem::offset_of!(ConsoleRingControl, tail) == 8);
const _: () = assert!(core::mem::size_of::<ExitCounts>() == 64);
const _: () = assert!(core::mem::offset_of!(ExitCounts, other) == 56);
const _: () = assert!(MAILBOX_OFFSET + 64 <= CONSOLE_RING_CONTROL_OFFSET);
const _: () = assert!(CONSOLE_RING_CONTROL_OFFSET + 16 <= ABI_ANNOUNCE_OFFSET);
const _: () = assert!(ABI_ANNOUNCE_OFFSET + 8 <= INPUT_RING_CONTROL_OFFSET);
const _: () = assert!(core::mem::size_of::<InputRingControl>() == 16);
const _: () = assert!(core::mem::offset_of!(InputRingControl, tail) == 8);
const _: () = assert!(INPUT_RING_CONTROL_OFFSET + 16 <= EXIT_COUNTS_OFFSET);
const _: () = assert!(INPUT_RING_SIZE.is_power_of_two());
const _: () = assert!(INPUT_RING_DATA_OFFSET + INPUT_RING_SIZE <= crate::layout::PML4_OFFSET);
const _: () = assert!(EXIT_COUNTS_OFFSET + 64 <= SCRATCH_OFFSET);
const _: () = assert!(CONSOLE_RING_SIZE.is_power_of_two());
