//! Every wire protocol between a guest and the host.
//!
//! # How a guest calls the host
//!
//! The console keeps the seed's byte protocol on port 0xE9 (see [`console`]). Every other
//! service is a **call**: the guest fills the [`Mailbox`](hv_page::Mailbox) in its hv page
//! with the call's arguments, then executes one 1-byte `out` of the call's opcode to the
//! service's port. The host decodes the opcode, reads the arguments once, performs the call
//! (moving any data straight between guest memory and the host), and writes the result to
//! `Mailbox::ret` before the guest resumes. So:
//!
//! - a call costs **one exit whatever its size** (peers stream one byte per exit; an exit costs
//!   ~20 µs at ring 3 on our machines);
//! - there is no state spanning exits, so a malformed call cannot desynchronise the protocol:
//!   it gets a negative [`Errno`](errno::Errno) in `ret` and the next call starts afresh;
//! - the file port keeps the seed's rule (only 1-byte `in`/`out` on 0x0278), and also serves
//!   seed 000's own byte requests (see [`seed`]): hv's opcodes all have the top bit set, which
//!   no seed-000 request byte has.
//!
//! The seed's serial port and DMA disk ([`devices`]) keep the seed's register interface
//! instead: a few write-only registers, on ports or memory-mapped.
//!
//! The hv page's address is passed in `rdi` at entry; the page sits right above the initial
//! stack pointer and moves with the RAM size. It is also mapped at the fixed virtual address
//! [`HV_ALIAS_BASE`](crate::layout::HV_ALIAS_BASE), whatever the RAM size, which is what the SDKs
//! use (so a guest with its own `_start` needs no `rdi`). Results are valid only once the `out` has returned, so guests
//! MUST issue the `out` with a compiler memory barrier (in Rust: an `asm!` without `nomem`).

pub mod console;
pub mod devices;
pub mod errno;
pub mod file;
pub mod hv_page;
pub mod hypercall;
pub mod seed;

/// Port of the console: `out` writes a byte to the guest's output, `in` reads one from stdin.
pub const CONSOLE_PORT: u16 = 0x00E9;
/// Port of the file service (opcode bytes: [`file::FileOp`]).
pub const FILE_PORT: u16 = 0x0278;
/// Port of the hypercalls (opcode bytes: [`hypercall::HcOp`]).
pub const HYPERCALL_PORT: u16 = 0x0500;
/// Port the ring-0 exception stubs report on. Only meaningful from ring 0; the host ignores
/// the written value and reads the exception frame from the ring-0 stack.
pub const EXCEPTION_PORT: u16 = 0x0501;

/// Defines a `#[repr(u8)]` wire enum with explicit values, its `TryFrom<u8>` decoder, the list
/// of all values and the C names, so the Rust and C sides come from one table.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $c_prefix:literal {
            $($(#[$doc:meta])* $variant:ident = $value:literal => $c_name:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$doc])* $variant = $value,)*
        }

        impl $name {
            /// Every value, in definition order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// Prefix of the C constants for this enum.
            pub const C_PREFIX: &'static str = $c_prefix;

            /// The C constant's name without the prefix.
            pub const fn c_name(self) -> &'static str {
                match self { $($name::$variant => $c_name,)* }
            }
        }

        impl TryFrom<u8> for $name {
            type Error = u8;
            fn try_from(v: u8) -> Result<Self, u8> {
                match v {
                    $($value => Ok($name::$variant),)*
                    other => Err(other),
                }
            }
        }
    };
}
pub(crate) use wire_enum;
