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
    }
}

/// Longest panic message the host prints.
pub const MAX_PANIC_MESSAGE: u64 = 4096;
