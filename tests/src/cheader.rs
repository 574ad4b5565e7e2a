//! Generates `guest-sdk/include/hv_abi.h`, the C view of the hv-core contract.
//!
//! Every number in the header comes from hv-core at generation time, and the two wire structs
//! are derived from hv-core's `#[repr(C)]` types: field types are mapped from their Rust types
//! and every size and offset is measured with `size_of`/`offset_of!` and pinned in the header
//! with `_Static_assert`, so a C guest that compiles agrees with the host. The `c_header` test
//! fails when the checked-in header differs from [`generate`], which is how a wire change that
//! forgot the header is caught.
//!
//! Only field names and their one-line comments are written here by hand (Rust has no
//! reflection); [`struct_decl`] checks that the listed fields tile the Rust struct exactly, so
//! a field added in hv-core and not here fails the generator instead of silently shrinking the
//! C struct.
//!
//! (`write!` into a `String` cannot fail, hence the `let _ =` on each.)

use std::fmt::Write;

use hv_core::layout::{HV_ALIAS_BASE, MIN_STACK, RESERVED_SIZE};
use hv_core::proto::errno::Errno;
use hv_core::proto::file::{FileOp, MAX_NAME, MAX_NAME_COMPONENT, MAX_OPEN_FILES, OpenMode};
use hv_core::proto::hv_page::{
    ABI_ANNOUNCE_OFFSET, BOOT_INFO_OFFSET, BOOT_MAGIC, BootInfo, CONSOLE_RING_CONTROL_OFFSET,
    CONSOLE_RING_DATA_OFFSET, CONSOLE_RING_SIZE, ConsoleRingControl, EXIT_COUNTS_OFFSET,
    ExitCounts, INPUT_RING_CONTROL_OFFSET, INPUT_RING_DATA_OFFSET, INPUT_RING_SIZE,
    InputRingControl, MAILBOX_OFFSET, Mailbox, SCRATCH_OFFSET, SCRATCH_SIZE,
};
use hv_core::proto::hypercall::{HcOp, MAX_PANIC_MESSAGE, MAX_STRING};
use hv_core::proto::{CONSOLE_PORT, EXCEPTION_PORT, FILE_PORT, HYPERCALL_PORT, console};

/// Where the generated header lives, relative to the workspace root.
pub const HEADER_PATH: &str = "guest-sdk/include/hv_abi.h";

/// The command that rewrites the header from hv-core.
pub const REGENERATE: &str = "HV_BLESS=1 cargo test -p hv-tests --test c_header";

/// One `#define`: name, C value and an optional trailing comment.
struct Define {
    name: String,
    value: String,
    comment: Option<String>,
}

impl Define {
    fn new(name: impl Into<String>, value: impl Into<String>, comment: &str) -> Self {
        Define {
            name: name.into(),
            value: value.into(),
            comment: (!comment.is_empty()).then(|| comment.to_owned()),
        }
    }
}

/// Widest a generated line of prose may be.
const LINE: usize = 100;

/// Writes `text` as a C comment: one line if it fits, else a wrapped block.
fn comment(out: &mut String, text: &str) {
    if text.len() + 6 <= LINE {
        let _ = writeln!(out, "/* {text} */");
        return;
    }
    out.push_str("/*\n");
    let mut line = String::from(" *");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > LINE {
            let _ = writeln!(out, "{line}");
            line.truncate(2);
        }
        line.push(' ');
        line.push_str(word);
    }
    let _ = writeln!(out, "{line}\n */");
}

/// Writes a block of `#define`s under a heading, values and comments each aligned in a column.
fn defines(out: &mut String, heading: &str, rows: &[Define]) {
    let width = rows.iter().map(|d| d.name.len()).max().unwrap_or(0);
    let value_width = rows.iter().map(|d| d.value.len()).max().unwrap_or(0);
    comment(out, heading);
    for d in rows {
        let line = format!("#define {:width$} {}", d.name, d.value);
        let _ = match &d.comment {
            // "#define " + name + " " + value
            Some(c) => writeln!(out, "{line:<0$} /* {c} */", 8 + width + 1 + value_width),
            None => writeln!(out, "{line}"),
        };
    }
    out.push('\n');
}

/// The `#define`s of one wire enum: `C_PREFIX` + `c_name()` = its `u8` value in hex.
fn wire_enum<E: Copy>(
    all: &[E],
    prefix: &str,
    name: fn(E) -> &'static str,
    value: fn(E) -> u8,
) -> Vec<Define> {
    all.iter()
        .map(|&e| Define::new(format!("{prefix}{}", name(e)), format!("0x{:02X}", value(e)), ""))
        .collect()
}

/// A Rust field type the header can restate with a `<stdint.h>` type.
trait CType {
    /// The C declaration of a field of this type named `name`.
    fn declare(name: &str) -> String;
}

macro_rules! c_int_types {
    ($($rust:ty => $c:literal),* $(,)?) => {
        $(impl CType for $rust {
            fn declare(name: &str) -> String {
                format!("{} {name}", $c)
            }
        })*
    };
}

c_int_types!(u8 => "uint8_t", u16 => "uint16_t", u32 => "uint32_t", u64 => "uint64_t",
    i8 => "int8_t", i16 => "int16_t", i32 => "int32_t", i64 => "int64_t");

impl<T: CType, const N: usize> CType for [T; N] {
    fn declare(name: &str) -> String {
        T::declare(&format!("{name}[{N}]"))
    }
}

/// One field of a wire struct, as measured on the Rust type.
struct Field {
    name: &'static str,
    decl: String,
    offset: usize,
    size: usize,
    comment: &'static str,
}

/// Infers the field's C declaration from the Rust value's type.
fn declare<T: CType>(_: &T, name: &str) -> String {
    T::declare(name)
}

/// Describes a `#[repr(C)]` hv-core struct field by field: `fields!(Type { field: "comment" })`.
macro_rules! fields {
    ($ty:ty { $($field:ident: $comment:literal),* $(,)? }) => {{
        let value = <$ty>::default();
        vec![$(Field {
            name: stringify!($field),
            decl: declare(&value.$field, stringify!($field)),
            offset: core::mem::offset_of!($ty, $field),
            size: core::mem::size_of_val(&value.$field),
            comment: $comment,
        }),*]
    }};
}

/// Writes `struct <c_name>` and the `_Static_assert`s pinning its size and offsets.
///
/// Panics when the fields do not tile the Rust struct (a gap, an overlap or a missing field):
/// hv-core's wire structs have no padding, so any of these means the list here is out of date
/// and the header would describe another layout than hv-core's.
fn struct_decl(out: &mut String, doc: &str, c_name: &str, size: usize, fields: &[Field]) {
    let mut end = 0;
    for f in fields {
        assert_eq!(
            f.offset, end,
            "struct {c_name}: field {} is not where the previous one ends",
            f.name
        );
        end = f.offset + f.size;
    }
    assert_eq!(
        end, size,
        "struct {c_name}: the fields listed in cheader.rs do not cover the Rust struct"
    );

    let width = fields.iter().map(|f| f.decl.len()).max().unwrap_or(0) + 1;
    comment(out, doc);
    let _ = writeln!(out, "struct {c_name} {{");
    for f in fields {
        let _ = writeln!(out, "    {:width$} /* {} */", format!("{};", f.decl), f.comment);
    }
    out.push_str("};\n");
    let _ = writeln!(out, "HV_ABI_ASSERT(sizeof(struct {c_name}) == {size});");
    for f in fields {
        let _ =
            writeln!(out, "HV_ABI_ASSERT(offsetof(struct {c_name}, {}) == {});", f.name, f.offset);
    }
    out.push('\n');
}

/// The header text. Deterministic, so the checked-in file can be compared byte for byte.
pub fn generate() -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "/*
 * hv_abi.h: the hv guest/host ABI for C guests (ports, opcodes, the hv page, error codes).
 *
 * GENERATED from the hv-core crate by tests/src/cheader.rs: do not edit. Regenerate with
 *     {REGENERATE}
 * The c_header test fails when this file and hv-core disagree.
 *
 * Self-contained C99: needs only the freestanding <stddef.h> and <stdint.h>. Most guests want
 * hv_guest.h, which includes this file.
 */
#ifndef HV_ABI_H
#define HV_ABI_H

#include <stddef.h>
#include <stdint.h>

/*
 * Pins the struct layouts below to hv-core's. _Static_assert is C11; __extension__ lets gcc and
 * clang accept it without a warning in C99 -pedantic too.
 */
#define HV_ABI_ASSERT(cond) __extension__ _Static_assert(cond, \"differs from hv-core: \" #cond)

"
    );

    defines(
        &mut out,
        "Version of this ABI. A guest announces it at start-up (HV_HC_ABI_VERSION); the host \
         ends a guest built for another version.",
        &[Define::new("HV_ABI_VERSION", hv_core::ABI_VERSION.to_string(), "")],
    );

    defines(
        &mut out,
        "I/O ports.",
        &[
            Define::new(
                "HV_CONSOLE_PORT",
                format!("0x{CONSOLE_PORT:04X}"),
                "1-byte out: a byte of output; 1- or 4-byte in: a byte of input",
            ),
            Define::new(
                "HV_FILE_PORT",
                format!("0x{FILE_PORT:04X}"),
                "1-byte out of an HV_FILE_* opcode",
            ),
            Define::new(
                "HV_HYPERCALL_PORT",
                format!("0x{HYPERCALL_PORT:04X}"),
                "1-byte out of an HV_HC_* opcode",
            ),
            Define::new(
                "HV_EXCEPTION_PORT",
                format!("0x{EXCEPTION_PORT:04X}"),
                "ring 0 only: not for guests",
            ),
        ],
    );

    defines(
        &mut out,
        "Console: what a 4-byte in and a 1-byte in return at end of input (getchar's result there).",
        &[
            Define::new("HV_EOF", format!("({})", console::EOF), ""),
            Define::new("HV_EOF_BYTE", format!("0x{:02X}", console::EOF_BYTE), ""),
        ],
    );

    defines(
        &mut out,
        "Hypercall opcodes (out to HV_HYPERCALL_PORT; arguments and result in the mailbox).",
        &wire_enum(HcOp::ALL, HcOp::C_PREFIX, HcOp::c_name, |op| op as u8),
    );
    defines(
        &mut out,
        "Limits of the hypercalls.",
        &[
            Define::new(
                "HV_MAX_PANIC_MESSAGE",
                MAX_PANIC_MESSAGE.to_string(),
                "bytes of a panic message the host prints",
            ),
            Define::new(
                "HV_MAX_STRING",
                MAX_STRING.to_string(),
                "bytes HC_printStr prints at most",
            ),
        ],
    );

    defines(
        &mut out,
        "File opcodes (out to HV_FILE_PORT; arguments and result in the mailbox).",
        &wire_enum(FileOp::ALL, FileOp::C_PREFIX, FileOp::c_name, |op| op as u8),
    );
    defines(
        &mut out,
        "Open modes: HV_FILE_OPEN's args[2].",
        &wire_enum(OpenMode::ALL, OpenMode::C_PREFIX, OpenMode::c_name, |m| m as u8),
    );
    defines(
        &mut out,
        "Limits of the file service.",
        &[
            Define::new("HV_MAX_NAME", MAX_NAME.to_string(), "longest file name, in bytes"),
            Define::new(
                "HV_MAX_NAME_COMPONENT",
                MAX_NAME_COMPONENT.to_string(),
                "longest component of a file name (between two '/'), in bytes",
            ),
            Define::new(
                "HV_MAX_OPEN_FILES",
                MAX_OPEN_FILES.to_string(),
                "most files one guest may hold open",
            ),
        ],
    );

    let errors: Vec<Define> = Errno::ALL
        .iter()
        .map(|&e| {
            Define::new(
                format!("{}{}", Errno::C_PREFIX, e.c_name()),
                (e as u8).to_string(),
                e.description(),
            )
        })
        .collect();
    defines(
        &mut out,
        "Error codes. They are positive here; a failed call returns the NEGATED code (e.g. \
         -HV_ENOENT), so a result >= 0 is success.",
        &errors,
    );

    defines(
        &mut out,
        "The hv page: one 4 KiB page whose address the guest receives in rdi at entry.",
        &[
            Define::new(
                "HV_BOOT_INFO_OFFSET",
                format!("0x{BOOT_INFO_OFFSET:03X}"),
                "struct hv_boot_info",
            ),
            Define::new(
                "HV_MAILBOX_OFFSET",
                format!("0x{MAILBOX_OFFSET:03X}"),
                "struct hv_mailbox",
            ),
            Define::new(
                "HV_SCRATCH_OFFSET",
                format!("0x{SCRATCH_OFFSET:03X}"),
                "where the host writes string replies",
            ),
            Define::new("HV_SCRATCH_SIZE", format!("0x{SCRATCH_SIZE:03X}"), ""),
            Define::new(
                "HV_CONSOLE_RING_CONTROL_OFFSET",
                format!("0x{CONSOLE_RING_CONTROL_OFFSET:03X}"),
                "struct hv_console_ring_control",
            ),
            Define::new(
                "HV_ABI_ANNOUNCE_OFFSET",
                format!("0x{ABI_ANNOUNCE_OFFSET:03X}"),
                "uint64_t: the ABI version the guest was built for, set by _start",
            ),
            Define::new(
                "HV_INPUT_RING_CONTROL_OFFSET",
                format!("0x{INPUT_RING_CONTROL_OFFSET:03X}"),
                "struct hv_input_ring_control",
            ),
            Define::new(
                "HV_EXIT_COUNTS_OFFSET",
                format!("0x{EXIT_COUNTS_OFFSET:03X}"),
                "struct hv_exit_counts",
            ),
            Define::new(
                "HV_CONSOLE_RING_DATA_OFFSET",
                format!("0x{CONSOLE_RING_DATA_OFFSET:03X}"),
                "the console ring's bytes, from the hv page",
            ),
            Define::new(
                "HV_CONSOLE_RING_SIZE",
                format!("0x{CONSOLE_RING_SIZE:03X}"),
                "bytes the console ring holds",
            ),
            Define::new(
                "HV_INPUT_RING_DATA_OFFSET",
                format!("0x{INPUT_RING_DATA_OFFSET:03X}"),
                "the input ring's bytes, from the hv page",
            ),
            Define::new(
                "HV_INPUT_RING_SIZE",
                format!("0x{INPUT_RING_SIZE:03X}"),
                "bytes the input ring holds",
            ),
            Define::new(
                "HV_BOOT_MAGIC",
                format!("0x{BOOT_MAGIC:016X}ULL"),
                "hv_boot_info.magic: \"hv-boot\\0\" little-endian",
            ),
        ],
    );

    defines(
        &mut out,
        "Guest memory layout.",
        &[
            Define::new(
                "HV_RESERVED_SIZE",
                format!("0x{RESERVED_SIZE:X}"),
                "host-reserved top of RAM (hv pages, tables)",
            ),
            Define::new(
                "HV_MIN_STACK",
                format!("0x{MIN_STACK:X}"),
                "stack an image must leave below the reserved region",
            ),
            Define::new(
                "HV_ALIAS_BASE",
                format!("0x{HV_ALIAS_BASE:X}"),
                "the hv page (and the console and input rings after it), also mapped here",
            ),
        ],
    );

    struct_decl(
        &mut out,
        "At HV_BOOT_INFO_OFFSET: what the host tells the guest before it starts. Read-only.",
        "hv_boot_info",
        core::mem::size_of::<BootInfo>(),
        &fields!(BootInfo {
            magic: "HV_BOOT_MAGIC",
            abi_version: "the host's HV_ABI_VERSION",
            guest_id: "0, 1, 2, ... in -g order",
            ram_size: "guest RAM, bytes",
            page_size: "page size RAM is mapped with, bytes",
            stack_top: "initial stack pointer; the stack grows down",
            user_end: "end of the memory the guest may use and pass to the host",
            devices_mmio: "0: serial and disk on ports; else the address of the MMIO device window",
        }),
    );
    struct_decl(
        &mut out,
        "At HV_MAILBOX_OFFSET: one call's arguments (written by the guest) and results (written \
         by the host before the out returns). Access it through a volatile pointer.",
        "hv_mailbox",
        core::mem::size_of::<Mailbox>(),
        &fields!(Mailbox {
            args: "IN: the call's arguments",
            ret: "OUT: >= 0 on success, -HV_E* on failure",
            ret2: "OUT: a second result, for calls that have one",
        }),
    );

    struct_decl(
        &mut out,
        "At HV_CONSOLE_RING_CONTROL_OFFSET: the console ring's indices, bytes since the start. \
         The guest writes the bytes, then head; the host drains and writes tail.",
        "hv_console_ring_control",
        core::mem::size_of::<ConsoleRingControl>(),
        &fields!(ConsoleRingControl {
            head: "IN: bytes produced (byte i is at data[i % HV_CONSOLE_RING_SIZE])",
            tail: "OUT: bytes consumed by the host",
        }),
    );
    struct_decl(
        &mut out,
        "At HV_INPUT_RING_CONTROL_OFFSET: the input ring's indices, bytes since the start. The \
         host writes the bytes, then head (during an exit); the guest reads them and writes tail.",
        "hv_input_ring_control",
        core::mem::size_of::<InputRingControl>(),
        &fields!(InputRingControl {
            head: "OUT: bytes the host put in (byte i is at data[i % HV_INPUT_RING_SIZE])",
            tail: "IN: bytes taken by the guest",
        }),
    );
    struct_decl(
        &mut out,
        "At HV_EXIT_COUNTS_OFFSET: this guest's exits so far, rewritten by the host after every \
         exit. Read-only.",
        "hv_exit_counts",
        core::mem::size_of::<ExitCounts>(),
        &fields!(ExitCounts {
            total: "every exit",
            io_in: "in exits",
            io_out: "out exits (exception reports included)",
            hlt: "hlt exits",
            mmio: "MMIO exits",
            exceptions: "CPU exceptions reported by the ring-0 stubs",
            interrupted: "exits the host caused (time slices, console drains)",
            other: "any other exit",
        }),
    );

    out.push_str("#undef HV_ABI_ASSERT\n\n#endif /* HV_ABI_H */\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_declared_c_style() {
        assert_eq!(<[u64; 6]>::declare("args"), "uint64_t args[6]");
        assert_eq!(<[[u8; 2]; 3]>::declare("m"), "uint8_t m[3][2]");
    }
}
