//! # hv-core: the contract between the hv host and its guests
//!
//! Everything both sides must agree on lives here, once: the guest memory [`layout`], the
//! x86 tables the host builds for the guest ([`paging`], [`gdt`], [`idt`], [`ivt`], per CPU
//! [`mode`]) and every wire protocol ([`proto`]: ports, opcodes, request blocks, error codes).
//! The crate is `no_std` and is compiled into the host, into the Rust guest SDK, and turned
//! into the C header, so a number written here is the same number everywhere.
//!
//! ```
//! use hv_core::layout::{Layout, MemSize, PageSize};
//! let layout = Layout::new(MemSize::Mib2, PageSize::Kib4);
//! // The reserved region (the hv pages, tables, stubs) is the top 96 KiB of guest RAM.
//! assert_eq!(layout.reserved_base().as_u64(), 2 * 1024 * 1024 - 96 * 1024);
//! // The guest stack grows down from right below it.
//! assert_eq!(layout.stack_top(), layout.reserved_base());
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod addr;
pub mod boot;
pub mod gdt;
pub mod idt;
pub mod ivt;
pub mod layout;
pub mod mode;
pub mod paging;
pub mod phys;
pub mod proto;
pub mod tss;

pub use addr::{Gpa, GuestRange};

/// Version of the guest/host ABI (layout, ports, opcodes, request blocks).
///
/// Bumped on every wire change, independently of the crate's semver. A guest built with the
/// SDK announces the version it was built against; the host refuses a guest whose version
/// differs, naming both numbers, instead of letting it misread replies.
///
/// Version 4 added the input ring: the reserved region grew from 64 to 96 KiB (so the stack
/// top moved), the hv page gained [`InputRingControl`](proto::hv_page::InputRingControl) and
/// the hypercalls [`ConsoleRead`](proto::hypercall::HcOp::ConsoleRead). Guests that announce
/// no version (the seeds') are unaffected.
pub const ABI_VERSION: u32 = 4;
