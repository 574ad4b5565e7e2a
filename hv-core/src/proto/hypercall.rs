//! Hypercalls: 1-byte `out` of an [`HcOp`] to [`HYPERCALL_PORT`](super::HYPERCALL_PORT), with
//! arguments and results in the mailbox (see the [module docs](super)).

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
