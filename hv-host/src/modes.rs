//! How the guests of a run start: their CPU mode (`--mode`) and, in real mode, their entry
//! (`--entry SEG:OFF`), with the checks an image must pass for them before any guest starts.
//! The modes themselves (tables, registers) are `hv_core::mode`'s.

use hv_core::ivt::REAL_MODE_LIMIT;
use hv_core::mode::{CpuMode, Entry, RealEntry};

use crate::image::Image;

/// The mode every guest of a run starts in, and where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Start {
    /// The CPU mode.
    pub(crate) mode: CpuMode,
    /// In real mode, the entry: the flat image is loaded at its linear address.
    pub(crate) real: RealEntry,
}

/// Why an image cannot start in the mode asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeImageError {
    /// ELF images are 64-bit executables: long mode only.
    #[error(
        "it is an ELF image, which runs in --mode long only (hv's SDKs build 64-bit guests); --mode {mode} takes a flat binary"
    )]
    Elf {
        /// The mode asked for.
        mode: CpuMode,
    },
    /// A real-mode image must lie in the first MiB, from its entry on.
    #[error(
        "its {size} bytes, loaded at its entry {entry} (linear {start:#x}), would end at {end:#x}, past the first MiB (0x100000) that real mode addresses"
    )]
    BeyondFirstMib {
        /// The entry.
        entry: RealEntry,
        /// Its linear address.
        start: u64,
        /// The image's size.
        size: u64,
        /// Where it would end.
        end: u64,
    },
}

impl Start {
    /// Where a flat image's first byte goes: its real-mode entry, or 0.
    pub(crate) fn load_base(self) -> u64 {
        match self.mode {
            CpuMode::Real => self.real.linear(),
            _ => 0,
        }
    }

    /// Where the guest starts: the real-mode entry, an ELF image's entry point in long mode,
    /// the flat image's first byte (address 0) in the 32-bit modes.
    pub(crate) fn entry(self, image: &Image) -> Entry {
        match self.mode {
            CpuMode::Real => Entry::Real(self.real),
            CpuMode::Long => Entry::Linear(image.entry),
            CpuMode::Protected | CpuMode::Paged32 => Entry::Linear(0),
        }
    }

    /// Checks that `image` can start in this mode: outside long mode it must be a flat binary,
    /// and in real mode it must fit in the first MiB from its entry on. (Every image has
    /// already been checked against the RAM by `image::read`.)
    pub(crate) fn check(self, image: &Image) -> Result<(), ModeImageError> {
        if self.mode == CpuMode::Long {
            return Ok(());
        }
        // A flat image is one piece at 0, entered at 0 (see `image`); anything else came from
        // an ELF file.
        let size = match image.segments.as_slice() {
            [flat] if flat.addr == 0 && image.entry == 0 => flat.bytes.len() as u64,
            _ => return Err(ModeImageError::Elf { mode: self.mode }),
        };
        let start = self.load_base();
        let end = start + size;
        if self.mode == CpuMode::Real && end > REAL_MODE_LIMIT {
            return Err(ModeImageError::BeyondFirstMib { entry: self.real, start, size, end });
        }
        Ok(())
    }
}
