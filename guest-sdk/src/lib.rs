//! # The hv guest SDK
//!
//! Everything a Rust guest needs to run under `hv-host`, with no standard library:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use hv_guest::println;
//!
//! hv_guest::entry!(main);
//!
//! fn main() -> i32 {
//!     println!("hello from guest {}", hv_guest::guest_id());
//!     0
//! }
//! ```
//!
//! The SDK's build script publishes the link arguments (`DEP_HV_GUEST_LINK_ARGS`: the flags
//! and the path of `linker/guest.ld`, or `linker/guest-elf.ld` with `HV_GUEST_FORMAT=elf`); a
//! guest's `build.rs` passes them on, as `guest-template/build.rs` does. The SDK provides `_start`
//! (zeroes `.bss`, aligns the stack, announces its ABI version, calls your `main`, exits with
//! its status; with `default-features = false`, which turns off the `start` feature, the guest
//! keeps its own `_start` and needs no `entry!`: the SDK finds the host's page at its fixed
//! alias), the console, `exit`, the guest's ID, a panic handler that reports the message
//! and location to the host, the `mem*` functions the compiler calls, files on the host
//! ([`fs`]) and the seed's serial port and disk ([`devices`]), the embedded I/O traits on files
//! and the console ([`io`]), and with the cargo feature `heap` a global allocator (module `heap`):
//! `extern crate alloc;` then gives `Vec`, `String` and `format!`.
#![no_std]
#![deny(missing_docs)]

mod arch;
pub mod console;
pub mod devices;
pub mod fs;
pub mod hc;
#[cfg(feature = "heap")]
pub mod heap;
pub mod io;
#[doc(hidden)]
pub mod rt;

pub use hv_core;
pub use hv_core::proto::errno::Errno;

use hv_core::proto::hv_page::BootInfo;
use hv_core::proto::hypercall::HcOp;

/// Ends the guest with `status` (0 is success). Never returns.
pub fn exit(status: i32) -> ! {
    // No flush: the host drains the console ring before it handles this exit.
    arch::hypercall(HcOp::Exit, &[status as u32 as u64]);
    // The host never resumes a guest that exited; should it, halting ends it too.
    loop {
        arch::hlt();
    }
}

/// Makes one raw call: `args` into the mailbox, `op` out to `port`, and returns the mailbox's
/// `(ret, ret2)`. For tools and tests that speak the protocol directly (including on purpose
/// wrongly); programs use the typed functions.
pub fn raw_call(port: u16, op: u8, args: &[u64]) -> (i64, u64) {
    arch::call(port, op, args)
}

/// What the host told this guest at start-up.
pub fn boot_info() -> BootInfo {
    arch::boot_info()
}

/// This guest's ID: 0, 1, 2, ... in the order of `hv-host -g`. Costs no exit.
pub fn guest_id() -> u32 {
    boot_info().guest_id
}

/// Declares the guest's `main`: `fn main() -> i32`, whose value becomes the exit status. (With
/// the default `start` feature; a guest with its own `_start` calls the SDK from there.)
///
/// The SDK's start code calls it through a C-ABI function named `main`, which this defines, as
/// a C program's start code calls its `main`: gdb finds a Rust function only by its path
/// (`my_guest::main`), so that symbol is what its `break main` stops at, and `step` there enters
/// yours. It is defined in an anonymous `const` block, so its Rust name does not clash with your
/// `fn main`.
///
/// It also installs the SDK's panic handler, except when the guest crate is compiled as a host
/// test harness (`cfg(test)`, as `cargo clippy --all-targets` does for every binary), where
/// `std` has its own.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The guest's `main`, named here, outside the block below, where `main` is the
        /// C-ABI function.
        #[doc(hidden)]
        const __HV_MAIN: fn() -> i32 = $main;

        const _: () = {
            /// What the SDK's start code calls (see `entry!`).
            #[unsafe(no_mangle)]
            extern "C" fn main() -> i32 {
                __HV_MAIN()
            }
        };

        $crate::panic_handler!();
    };
}

/// Installs the SDK's panic handler (it reports the message and `file:line` to the host).
/// [`entry!`] does it for you; a guest that keeps its own `_start` (no `start` feature, no
/// `entry!`) invokes this once instead.
#[macro_export]
macro_rules! panic_handler {
    () => {
        #[cfg(not(test))]
        #[panic_handler]
        fn __hv_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::rt::panic(info)
        }
    };
}
