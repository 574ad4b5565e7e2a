//! The file service: 1-byte `out` of a [`FileOp`] to [`FILE_PORT`](super::FILE_PORT), with
//! arguments and results in the mailbox (see the [module docs](super)).

use super::wire_enum;

wire_enum! {
    /// File opcodes. Values are never reused. All have the top bit set (ABI version 3), so
    /// none can be taken for the first byte of a seed-000 byte request (0x01..0x05, see
    /// [`seed::SeedFileOp`](super::seed::SeedFileOp)), which shares the port.
    pub enum FileOp : "HV_FILE_" {
        /// Open a file. `args[0]`: name address, `args[1]`: name length (no NUL),
        /// `args[2]`: an [`OpenMode`]. `ret`: the fd (>= 0) or `-errno`.
        Open = 0x81 => "OPEN",
        /// Close an fd. `args[0]`: the fd. `ret`: 0 or `-errno`.
        Close = 0x82 => "CLOSE",
        /// Read. `args[0]`: fd, `args[1]`: buffer address, `args[2]`: length.
        /// `ret`: bytes read (0 at end of file) or `-errno`.
        Read = 0x83 => "READ",
        /// Write. `args[0]`: fd, `args[1]`: buffer address, `args[2]`: length.
        /// `ret`: bytes written or `-errno`.
        Write = 0x84 => "WRITE",
    }
}

wire_enum! {
    /// How a file is opened (`FileOp::Open`'s `args[2]`).
    pub enum OpenMode : "HV_MODE_" {
        /// `"r"`: read from the start.
        Read = 0 => "READ",
        /// `"w"`: write, truncating (or creating) the guest's own copy. Writes count against
        /// the guest's quota: one that crosses it is short, the next fails with `EFBIG`.
        Write = 1 => "WRITE",
        /// `"a"`: write at the end of the guest's own copy.
        Append = 2 => "APPEND",
    }
}

impl OpenMode {
    /// The mode for a C `fopen` mode string: `"r"`, `"w"` or `"a"` (a trailing `b` is accepted).
    pub fn from_c_mode(mode: &[u8]) -> Option<OpenMode> {
        match mode {
            b"r" | b"rb" => Some(OpenMode::Read),
            b"w" | b"wb" => Some(OpenMode::Write),
            b"a" | b"ab" => Some(OpenMode::Append),
            _ => None,
        }
    }

    /// True for the modes that write.
    pub const fn writes(self) -> bool {
        !matches!(self, OpenMode::Read)
    }
}

// hv's one-exit calls and seed 000's byte requests share the port: no opcode may be both.
const _: () = {
    let mut i = 0;
    while i < FileOp::ALL.len() {
        assert!(super::seed::SeedFileOp::from_byte(FileOp::ALL[i] as u8).is_none());
        i += 1;
    }
};

/// Longest file name, in bytes (directories included).
pub const MAX_NAME: u64 = 255;
/// The longest suffix the host adds to a name's last component: `.local` and a guest ID of up
/// to ten digits (`u32::MAX`). Disk copies (`.cow<ID>`) are shorter.
pub const LOCAL_SUFFIX_MAX: u64 = ".local".len() as u64 + 10;
/// Longest component of a file name (the text between two `/`), in bytes: what keeps the
/// host's `<name>.local<ID>` within Linux's 255-byte `NAME_MAX` for every guest ID.
pub const MAX_NAME_COMPONENT: u64 = 255 - LOCAL_SUFFIX_MAX;

const _: () = assert!(MAX_NAME_COMPONENT == 239);
/// Most files one guest may hold open at once.
pub const MAX_OPEN_FILES: usize = 32;
