//! The seeds' own byte-level dialects, served beside hv's one-exit calls so that guests written
//! for the seeds' hypervisors run unchanged.
//!
//! # Seed 000: files, a byte per access, on [`FILE_PORT`](super::FILE_PORT)
//!
//! Every access is 1 byte. One request at a time per guest; the host keeps a small state machine
//! per guest. Multi-byte numbers go **most significant byte first**.
//!
//! Costs: on the seed's host every byte is an exit. On hv every `in` is (it needs its answer);
//! the request bytes need none until the guest's next `in`, so once a guest has made 256 writes
//! the host could queue (and as long as it has never used hv's own ABI, whose calls share the
//! port) they are queued without an exit and run, in order, before that `in` is answered: a
//! read or a write then costs one exit, an open the four `in`s of its fd.
//!
//! | request | guest `out`s, in order | then guest `in`s | reply |
//! |---|---|---|---|
//! | [`OpenRead`](SeedFileOp::OpenRead) | 0x01, the name's bytes, 0x00 | 4 | the fd, or -1 (four [`SEED_ERROR_BYTE`]s) |
//! | [`OpenWrite`](SeedFileOp::OpenWrite) | 0x02, the name's bytes, 0x00 | 4 | as above |
//! | [`Close`](SeedFileOp::Close) | 0x03, the fd's 4 bytes | 1 | 0x00, or [`SEED_ERROR_BYTE`] |
//! | [`Read`](SeedFileOp::Read) | 0x04, the fd's 4 bytes | 1 | the byte read; [`SEED_ERROR_BYTE`] at end of file or on error |
//! | [`Write`](SeedFileOp::Write) | 0x05, the fd's 4 bytes, the data byte | 1 | the byte written (echoed); [`SEED_ERROR_BYTE`] on error |
//!
//! The files are the same as those of hv's own calls (same fds, sandbox, `.local<ID>` copies and
//! invalidation). hv's own [`FileOp`](super::file::FileOp) opcodes all have the top bit set, so
//! the first byte of a request tells the two apart. A malformed sequence (an unknown first byte,
//! an `out` while a reply is pending, an `in` before the request is complete) is dropped with a
//! diagnostic on the host's stderr, the guest reads [`SEED_ERROR_BYTE`] for such an `in`, and the
//! next request starts clean, as on the seed's host. A name longer than
//! [`MAX_NAME`](super::file::MAX_NAME) bytes gets -1 once its NUL arrives.
//!
//! # Seed 002: hypercalls as port accesses
//!
//! Every access is 4 bytes. See [`Seed002Port`]. Pointers are guest addresses in the guest's
//! user memory (identity-mapped), checked like those of hv's own calls.

/// The byte every seed-000 error reply is made of (and an fd of -1 is four of).
pub const SEED_ERROR_BYTE: u8 = 0xFF;
/// Bytes of an fd in a seed-000 request or reply.
pub const SEED_FD_BYTES: usize = 4;

/// The first byte of a seed-000 file request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum SeedFileOp {
    /// Open the NUL-terminated name that follows for reading.
    OpenRead = 0x01,
    /// Open the NUL-terminated name that follows for writing (the guest's own copy, truncated).
    OpenWrite = 0x02,
    /// Close the fd that follows.
    Close = 0x03,
    /// Read one byte of the fd that follows.
    Read = 0x04,
    /// Write the byte that follows the fd.
    Write = 0x05,
}

impl SeedFileOp {
    /// Decodes a first byte (a `const fn`, so hv's opcodes can be checked against it at compile
    /// time).
    pub const fn from_byte(b: u8) -> Option<SeedFileOp> {
        match b {
            0x01 => Some(SeedFileOp::OpenRead),
            0x02 => Some(SeedFileOp::OpenWrite),
            0x03 => Some(SeedFileOp::Close),
            0x04 => Some(SeedFileOp::Read),
            0x05 => Some(SeedFileOp::Write),
            _ => None,
        }
    }
}

impl TryFrom<u8> for SeedFileOp {
    type Error = u8;
    fn try_from(b: u8) -> Result<Self, u8> {
        SeedFileOp::from_byte(b).ok_or(b)
    }
}

/// Seed 002's hypercall ports (all accesses 4 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Seed002Port {
    /// `out` 0xEA: the guest address of a NUL-terminated string; the host prints it (at most
    /// [`MAX_STRING`](super::hypercall::MAX_STRING) bytes, no newline added). A bad pointer or a
    /// missing NUL prints nothing and a diagnostic on the host's stderr. Always an exit, where
    /// the host reads the string: queued, it would be read later, after the guest may have
    /// written another text into the same buffer. (`out` 0xEB and 0xEE carry their value and
    /// are queued like the console's bytes.)
    PrintStr,
    /// `out` 0xEB: a u32 the host prints in decimal and a newline.
    Print32,
    /// `in` 0xEC: the guest's I/O exits so far (`in` and `out`), this one included.
    NumExits,
    /// `in` 0xED: the host writes `"IO in: <n>\nIO out: <m>\n"` (NUL-terminated) into the hv
    /// page's scratch area and returns its guest address.
    NumExitsByType,
    /// `out` 0xEE: a guest-virtual address, translated at the next `in` on 0xEF.
    GvaIn,
    /// `in` 0xEF: the host virtual address of the last 0xEE address, truncated to 32 bits, found
    /// by walking the guest's own page tables; for an unmapped address the host prints
    /// `Invalid GVA` on the guest's console and returns 0.
    HvaOut,
}

impl Seed002Port {
    /// Every port.
    pub const ALL: [Seed002Port; 6] = [
        Seed002Port::PrintStr,
        Seed002Port::Print32,
        Seed002Port::NumExits,
        Seed002Port::NumExitsByType,
        Seed002Port::GvaIn,
        Seed002Port::HvaOut,
    ];

    /// Its port number.
    pub const fn port(self) -> u16 {
        match self {
            Seed002Port::PrintStr => 0xEA,
            Seed002Port::Print32 => 0xEB,
            Seed002Port::NumExits => 0xEC,
            Seed002Port::NumExitsByType => 0xED,
            Seed002Port::GvaIn => 0xEE,
            Seed002Port::HvaOut => 0xEF,
        }
    }

    /// True if the guest reads it (`in`), false if it writes it (`out`).
    pub const fn is_in(self) -> bool {
        matches!(self, Seed002Port::NumExits | Seed002Port::NumExitsByType | Seed002Port::HvaOut)
    }

    /// The port's meaning, if it is one.
    pub const fn from_port(port: u16) -> Option<Seed002Port> {
        match port {
            0xEA => Some(Seed002Port::PrintStr),
            0xEB => Some(Seed002Port::Print32),
            0xEC => Some(Seed002Port::NumExits),
            0xED => Some(Seed002Port::NumExitsByType),
            0xEE => Some(Seed002Port::GvaIn),
            0xEF => Some(Seed002Port::HvaOut),
            _ => None,
        }
    }
}

/// The access size of every seed-002 port.
pub const SEED002_ACCESS: usize = 4;

/// Seed 002's part 2, the "Matrix": its real-mode guests count in `ax` and `out` every value,
/// Neo (guest 1) up from 0 on port 0x10, Morpheus (guest 2) down from 65535 on port 0x11.
/// A 2- or 4-byte `out` to one of these ports prints its value in decimal on a line of its own
/// (the seed's hosts print `out port: 16, data: N` for each). A 1-byte `out` to 0x10 stays seed
/// 003's serial byte ([`SERIAL_PORT`](super::devices::SERIAL_PORT)), and 0x11 takes no other.
pub const MATRIX_PORTS: [u16; 2] = [0x10, 0x11];

/// The value of a Matrix `out` (see [`MATRIX_PORTS`]): `data` is the `out`'s bytes,
/// little-endian. `None` for any other port or size.
pub fn matrix_value(port: u16, data: &[u8]) -> Option<u32> {
    if !MATRIX_PORTS.contains(&port) {
        return None;
    }
    match *data {
        [a, b] => Some(u32::from(u16::from_le_bytes([a, b]))),
        [a, b, c, d] => Some(u32::from_le_bytes([a, b, c, d])),
        _ => None,
    }
}

/// What 0xEF prints for an unmapped address (then a newline).
pub const INVALID_GVA: &str = "Invalid GVA";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_decode_both_ways() {
        for p in Seed002Port::ALL {
            assert_eq!(Seed002Port::from_port(p.port()), Some(p));
        }
        assert_eq!(Seed002Port::from_port(0xE9), None);
        assert_eq!(Seed002Port::from_port(0xF0), None);
    }

    #[test]
    fn matrix_outs_are_words_and_dwords_on_two_ports() {
        assert_eq!(matrix_value(0x10, &[0xFF, 0xFF]), Some(65535));
        assert_eq!(matrix_value(0x11, &[1, 0, 0, 1]), Some(0x0100_0001));
        // The serial port keeps its bytes; other sizes and ports are not the Matrix's.
        assert_eq!(matrix_value(0x10, b"A"), None);
        assert_eq!(matrix_value(0x11, &[1]), None);
        assert_eq!(matrix_value(0x12, &[1, 0]), None);
        assert_eq!(matrix_value(0x10, &[0; 8]), None);
        assert_eq!(super::super::devices::SERIAL_PORT, MATRIX_PORTS[0]);
    }

    #[test]
    fn seed_file_ops_are_the_seeds() {
        assert_eq!(SeedFileOp::try_from(1), Ok(SeedFileOp::OpenRead));
        assert_eq!(SeedFileOp::try_from(5), Ok(SeedFileOp::Write));
        assert_eq!(SeedFileOp::try_from(0), Err(0));
        assert_eq!(SeedFileOp::try_from(0x81), Err(0x81));
    }
}
