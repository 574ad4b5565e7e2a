//! Hypercalls: 1-byte `out` of an [`HcOp`] to [`HYPERCALL_PORT`](super::HYPERCALL_PORT), with
//! arguments and results in the mailbox (see the [module docs](super)).
//!
//! # Which calls exit
//!
//! Every opcode below is served by the host, one exit each, for any guest that makes it. The
//! SDKs (Rust `hv_guest`, C `hv_guest.h`) answer some of them from memory instead, with no
//! exit, where shared memory can hold the answer exactly:
//!
//! | call | SDK | why |
//! |---|---|---|
//! | `putchar`, `print!`, `puts`, `hv_write` ([`ConsoleWrite`](HcOp::ConsoleWrite)) | appended to the console ring; one exit only when it is full, or for a write longer than the room left | the host drains the ring before every exit it handles, so output keeps its order ([`hv_page`](super::hv_page#the-console-ring)) |
//! | `HC_print32bit` ([`Print32`](HcOp::Print32)) | formatted by the SDK (decimal, newline) into the ring | same text, same place in the output |
//! | `HC_printStr` ([`PrintStr`](HcOp::PrintStr)) | checked and copied by the SDK into the ring | same checks: `-EFAULT` when the string runs past the guest's user memory (`BootInfo::user_end`), `-EINVAL` without a NUL within [`MAX_STRING`] bytes |
//! | `HC_numExits` ([`NumExits`](HcOp::NumExits)) | read from [`ExitCounts`](super::hv_page::ExitCounts)`::total` | the host rewrites it after every exit, so it is exactly the exits made so far (the call itself makes none) |
//! | `HC_numExitsByType` ([`NumExitsByType`](HcOp::NumExitsByType)) | formatted by the SDK from [`ExitCounts`](super::hv_page::ExitCounts) | same text, same counts |
//! | [`GvaToHva`](HcOp::GvaToHva) | one exit | needs the vCPU's CR3 and the host's own mapping |
//! | [`Exit`](HcOp::Exit), [`AbiVersion`](HcOp::AbiVersion), [`Panic`](HcOp::Panic) | one exit | the host must act |
//! | [`ConsoleFlush`](HcOp::ConsoleFlush) | one exit, when the ring is full | the host must drain |
//! | `getchar`, `read` ([`ConsoleRead`](HcOp::ConsoleRead)) | taken from the input ring; one exit only when it is empty | the host fills the ring only when asked, so input goes to the guest that asked first ([`hv_page`](super::hv_page#the-input-ring)) |

use super::wire_enum;

wire_enum! {
    /// Hypercall opcodes. Values are never reused.
    pub enum HcOp : "HV_HC_" {
        /// End the guest. `args[0]`: exit status (low 32 bits, signed). Does not return.
        Exit = 0x01 => "EXIT",
        /// Announce the ABI version the guest was built against. `args[0]`: the version. The
        /// host ends a guest whose version differs from its own. `ret`: 0.
        AbiVersion = 0x02 => "ABI_VERSION",
        /// Write a buffer to the console. `args[0]`: address, `args[1]`: length.
        /// `ret`: the length, or `-EFAULT`.
        ConsoleWrite = 0x03 => "CONSOLE_WRITE",
        /// The guest panicked. `args[0]`: address of the message, `args[1]`: its length (the
        /// host prints at most 4 KiB of it). Does not return: the guest has failed.
        Panic = 0x04 => "PANIC",
        /// Drain the console ring (see [`hv_page`](super::hv_page#the-console-ring)): the
        /// guest makes this call when the ring is full, and it has no other effect (the host
        /// drains the ring on every exit). `ret`: 0. Added in ABI version 3.
        ConsoleFlush = 0x05 => "CONSOLE_FLUSH",
        /// Wait for console input (see [`hv_page`](super::hv_page#the-input-ring)): the guest
        /// makes this call when its input ring is empty. The host writes out the guest's
        /// pending output, parks the guest until input (or its end) is there for it, and puts
        /// the next input in the ring. `ret`: the bytes now in the ring (> 0; at once, with
        /// nothing added, if the ring was not empty), 0 at end of input, `-EINVAL` if the ring's
        /// indices are impossible. Added in ABI version 4.
        ConsoleRead = 0x06 => "CONSOLE_READ",
        /// Seed 002's `HC_print32bit`: the host prints `args[0]` (low 32 bits) in decimal and a
        /// newline on the guest's console. `ret`: 0.
        Print32 = 0x10 => "PRINT32",
        /// `HC_numExits`: `ret` = the exits this guest has made so far, this call's included.
        NumExits = 0x11 => "NUM_EXITS",
        /// `HC_printStr`: the host prints the NUL-terminated string at `args[0]` (at most
        /// [`MAX_STRING`] bytes before the NUL). `ret`: its length, `-EFAULT` if it is not in
        /// guest memory, `-EINVAL` if no NUL comes within [`MAX_STRING`] bytes.
        PrintStr = 0x12 => "PRINT_STR",
        /// `HC_numExitsByType`: the host writes a NUL-terminated text, one `kind: count` line
        /// per exit kind (starting with the seed's `IO in: <n>` and `IO out: <m>`), to the
        /// hv page's scratch area. `ret`: the text's guest address.
        NumExitsByType = 0x13 => "NUM_EXITS_BY_TYPE",
        /// `HC_gvaToHva`: the host walks the guest's own page tables (from its CR3) for the
        /// virtual address `args[0]`. `ret`: the host virtual address it maps to, or 0 if it is
        /// unmapped or not guest RAM; `ret2`: the guest-physical address (when `ret` != 0).
        GvaToHva = 0x14 => "GVA_TO_HVA",
    }
}

/// Longest string `PrintStr` prints (without its NUL).
pub const MAX_STRING: u64 = 4096;

/// Longest panic message the host prints.
pub const MAX_PANIC_MESSAGE: u64 = 4096;
