//! Guest images: a flat binary (loaded at 0, entered at 0, the seed's way) or an ELF64
//! executable (its `PT_LOAD` segments at their physical addresses, entered at `e_entry`), read
//! with a bound and checked against the layout before any guest starts.
//!
//! An image file is untrusted input: it is opened without blocking and `fstat`ed before any
//! read (a FIFO or a device is refused, never read), read up to a limit only (`/dev/zero`
//! cannot make the host allocate without bound), and every segment and the entry point must lie
//! wholly in the memory an image may occupy ([`Layout::max_image_size`]: below the stack and
//! the reserved region). ELF parsing is the `object` crate's; what is checked here is what hv
//! needs on top of a well-formed file.
//!
//! # What an image may cost the host
//!
//! A small file can describe a lot: thousands of program headers that all point at the same
//! megabytes of the file, or thousands of symbols that share one huge name. So what the host
//! keeps of an image is bounded by what the guest can use, not by what the file describes:
//! - the bytes its segments load, all together, are at most [`Layout::max_image_size`] (guest
//!   RAM, less the stack and the reserved region): they are copied once into one buffer, which
//!   every guest running the image shares, and each segment is a range of it;
//! - its function symbols are at most [`MAX_SYMBOLS`], their names (demangled and escaped, as
//!   reports show them) at most [`MAX_SYMBOL_BYTES`] together.
//!
//! Past either bound the image is refused at start (exit status 2), with the reason. The file
//! itself is read whole (at most [`MAX_ELF_FILE`] bytes) while it is checked, and dropped then.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hv_core::layout::Layout;
use object::LittleEndian;
use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};

mod symbols;

pub(crate) use symbols::Symbols;
pub use symbols::{MAX_SYMBOL_BYTES, MAX_SYMBOLS};

/// The first bytes of every ELF file.
const ELF_MAGIC: [u8; 4] = [0x7F, b'E', b'L', b'F'];

/// Largest ELF file accepted. An ELF file holds more than what is loaded (headers, symbol and
/// string tables, maybe debug info), so it may be larger than the RAM it occupies, but not
/// without bound.
pub const MAX_ELF_FILE: u64 = 64 << 20;

/// Why an image file cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not a regular file (a FIFO, a device, a socket, a directory): refused unread.
    #[error("it is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// A regular file larger than any ELF image hv accepts.
    #[error("it is {size} bytes; an ELF image may be at most {max} bytes")]
    ElfFileTooLarge {
        /// Its size.
        size: u64,
        /// [`MAX_ELF_FILE`].
        max: u64,
    },
    /// The ELF file is malformed (as the `object` crate found it).
    #[error("not a valid ELF64 file: {0}")]
    Elf(String),
    /// A valid ELF file that hv cannot run.
    #[error("{0}")]
    ElfUnsupported(&'static str),
    /// A loadable segment reaches outside the memory an image may occupy.
    #[error(
        "its segment at {addr:#x} ({size} bytes in memory) does not fit below {max:#x} (the stack and the reserved region of {mib} MiB of guest RAM)"
    )]
    SegmentOutside {
        /// The segment's physical address.
        addr: u64,
        /// Its size in memory.
        size: u64,
        /// [`Layout::max_image_size`].
        max: u64,
        /// The RAM size in MiB.
        mib: u64,
    },
    /// A segment's address in the file and in memory differ; guest memory is identity-mapped.
    #[error(
        "its segment at virtual address {vaddr:#x} is loaded at physical {paddr:#x}; hv maps guest memory one to one, so they must be equal"
    )]
    SegmentNotIdentity {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_paddr`.
        paddr: u64,
    },
    /// The entry point is not in an executable loaded segment.
    #[error("its entry point {0:#x} is not in an executable loaded segment")]
    EntryOutside(u64),
    /// The segments load more bytes, all together, than guest RAM can hold (segments that
    /// overlap, or the same file bytes loaded again and again).
    #[error(
        "its segments load {total} bytes together (overlapping or repeated segments); at most {max} fit in {mib} MiB of guest RAM"
    )]
    LoadTooLarge {
        /// The sum of the segments' file sizes (at least: counting stops past `max`).
        total: u64,
        /// [`Layout::max_image_size`].
        max: u64,
        /// The RAM size in MiB.
        mib: u64,
    },
    /// More function symbols than the host keeps.
    #[error("it has more than {max} function symbols")]
    TooManySymbols {
        /// [`MAX_SYMBOLS`].
        max: usize,
    },
    /// The function symbols' names are longer, together, than the host keeps.
    #[error("its function symbols' names take more than {max} bytes together")]
    SymbolNamesTooLarge {
        /// [`MAX_SYMBOL_BYTES`].
        max: usize,
    },
}

/// Bytes to copy into guest RAM at a guest-physical address; the rest of the segment's memory
/// size (`.bss`) is already zero in fresh guest RAM.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    /// Guest-physical address.
    pub(crate) addr: u64,
    /// The bytes from the file: a range of the image's one buffer.
    pub(crate) bytes: Bytes,
}

/// A range of an image's loaded bytes, shared (cloning copies no bytes).
#[derive(Clone)]
pub(crate) struct Bytes {
    all: Arc<[u8]>,
    range: std::ops::Range<usize>,
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // The range was cut from `all` when it was made (see `Loaded::push`).
        self.all.get(self.range.clone()).unwrap_or_default()
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.range.len())
    }
}

/// The segments of an image being read, and their bytes, gathered into one buffer whose size is
/// checked against the bound before anything is copied.
struct Loaded {
    buffer: Vec<u8>,
    /// Guest address, and range in `buffer`.
    segments: Vec<(u64, std::ops::Range<usize>)>,
}

impl Loaded {
    fn push(&mut self, addr: u64, bytes: &[u8]) {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(bytes);
        self.segments.push((addr, start..self.buffer.len()));
    }

    fn into_segments(self) -> Vec<Segment> {
        let all: Arc<[u8]> = self.buffer.into();
        self.segments
            .into_iter()
            .map(|(addr, range)| Segment { addr, bytes: Bytes { all: all.clone(), range } })
            .collect()
    }
}

/// An image, read and checked: what to load where, where to start, and how to name code
/// addresses in reports.
#[derive(Clone, Debug)]
pub(crate) struct Image {
    /// The file, as given.
    pub(crate) path: PathBuf,
    /// What to load.
    pub(crate) segments: Vec<Segment>,
    /// Where the guest starts (0 for a flat image).
    pub(crate) entry: u64,
    /// Function symbols, empty for a flat image or a stripped ELF file.
    pub(crate) symbols: Arc<Symbols>,
}

/// Why [`read`] failed: the file could not be read, or it is no image hv can run.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// `open`, `fstat` or `read` failed.
    Io(std::io::Error),
    /// An empty file.
    Empty,
    /// A flat image larger than `max`.
    TooLarge {
        /// Its size (at least; the read stops one byte past `max`).
        size: u64,
        /// [`Layout::max_image_size`].
        max: u64,
    },
    /// Not an image hv can run.
    Invalid(ImageError),
}

/// Reads and checks the image at `path` for `layout`.
pub(crate) fn read(path: &Path, layout: Layout) -> Result<Image, ReadError> {
    let max = layout.max_image_size();
    // O_NONBLOCK: opening a FIFO for reading blocks until a writer appears; with it the open
    // returns at once, and the fstat below refuses the FIFO before anything is read.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "FIFO"
        } else if kind.is_dir() {
            "directory"
        } else if kind.is_char_device() {
            "character device"
        } else if kind.is_block_device() {
            "block device"
        } else if kind.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(ReadError::Invalid(ImageError::NotRegular(what)));
    }
    let mut magic = [0u8; 4];
    let head = read_up_to(&mut file, &mut magic).map_err(ReadError::Io)?;
    if head == 0 {
        return Err(ReadError::Empty);
    }
    let is_elf = magic[..head] == ELF_MAGIC[..] && head == 4;
    // Read at most one byte past what may be used, so a file that grows meanwhile, or lies in
    // its size, cannot make the host allocate more than that.
    let limit = if is_elf { MAX_ELF_FILE } else { max };
    if is_elf && meta.len() > limit {
        return Err(ReadError::Invalid(ImageError::ElfFileTooLarge {
            size: meta.len(),
            max: limit,
        }));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize + 1);
    bytes.extend_from_slice(&magic[..head]);
    (&mut file).take(limit + 1 - head as u64).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    let size = bytes.len() as u64;
    if size > limit {
        return Err(if is_elf {
            ReadError::Invalid(ImageError::ElfFileTooLarge { size, max: limit })
        } else {
            ReadError::TooLarge { size: size.max(meta.len()), max }
        });
    }
    let path = path.to_path_buf();
    if is_elf {
        let (segments, entry, symbols) = parse_elf(&bytes, layout).map_err(ReadError::Invalid)?;
        return Ok(Image { path, segments, entry, symbols: Arc::new(symbols) });
    }
    let len = bytes.len();
    let segments = vec![Segment { addr: 0, bytes: Bytes { all: bytes.into(), range: 0..len } }];
    Ok(Image { path, segments, entry: 0, symbols: Arc::new(Symbols::default()) })
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Checks an ELF file and returns its segments, entry point and function symbols.
fn parse_elf(data: &[u8], layout: Layout) -> Result<(Vec<Segment>, u64, Symbols), ImageError> {
    let bad = |e: object::Error| ImageError::Elf(e.to_string());
    let file = ElfFile64::<LittleEndian>::parse(data).map_err(bad)?;
    let endian = file.endian();
    let header = file.elf_header();
    if header.e_machine(endian) != elf::EM_X86_64 {
        return Err(ImageError::ElfUnsupported("it is not an x86-64 ELF file"));
    }
    match header.e_type(endian) {
        elf::ET_EXEC => {}
        elf::ET_DYN => {
            return Err(ImageError::ElfUnsupported(
                "it is position-independent (ET_DYN), and hv applies no relocations: link it with -static -no-pie",
            ));
        }
        _ => return Err(ImageError::ElfUnsupported("it is not an executable (ET_EXEC)")),
    }
    let max = layout.max_image_size();
    let mib = layout.mem().mib();
    let headers = header.program_headers(endian, data).map_err(bad)?;
    // Every segment is checked, and its file size counted, before any byte is copied.
    let mut total = 0u64;
    for ph in headers.iter().filter(|ph| ph.p_type(endian) == elf::PT_LOAD) {
        total = total.saturating_add(ph.p_filesz(endian).min(ph.p_memsz(endian)));
        if total > max {
            return Err(ImageError::LoadTooLarge { total, max, mib });
        }
    }
    let mut loaded = Loaded { buffer: Vec::with_capacity(total as usize), segments: Vec::new() };
    let (mut entry_ok, mut any_segment) = (false, false);
    let entry = header.e_entry(endian);
    for ph in headers {
        if ph.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        let (paddr, vaddr) = (ph.p_paddr(endian), ph.p_vaddr(endian));
        let (filesz, memsz) = (ph.p_filesz(endian), ph.p_memsz(endian));
        if memsz == 0 {
            continue;
        }
        if filesz > memsz {
            return Err(ImageError::Elf(format!(
                "segment at {paddr:#x} has more bytes in the file ({filesz}) than in memory ({memsz})"
            )));
        }
        if vaddr != paddr {
            return Err(ImageError::SegmentNotIdentity { vaddr, paddr });
        }
        if paddr.checked_add(memsz).is_none_or(|end| end > max) {
            return Err(ImageError::SegmentOutside { addr: paddr, size: memsz, max, mib });
        }
        if ph.p_flags(endian) & elf::PF_X != 0 && (paddr..paddr + memsz).contains(&entry) {
            entry_ok = true;
        }
        // `data` checks that the file bytes are inside the file.
        let bytes = ph.data(endian, data).map_err(|()| {
            ImageError::Elf(format!("segment at {paddr:#x} reaches past the end of the file"))
        })?;
        if !bytes.is_empty() {
            loaded.push(paddr, bytes);
        }
        any_segment = true;
    }
    if !any_segment {
        return Err(ImageError::ElfUnsupported("it has no loadable segment"));
    }
    if !entry_ok {
        return Err(ImageError::EntryOutside(entry));
    }
    let symbols = Symbols::of(&file)?;
    Ok((loaded.into_segments(), entry, symbols))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hv_core::layout::{MemSize, PageSize};

    /// A minimal ELF64 executable: one PT_LOAD of `code` at `addr`, entry `entry`.
    fn elf(addr: u64, vaddr: u64, code: &[u8], memsz: u64, entry: u64, flags: u32) -> Vec<u8> {
        let mut f = vec![0u8; 64 + 56];
        f[..4].copy_from_slice(&ELF_MAGIC);
        f[4] = 2; // ELFCLASS64
        f[5] = 1; // little-endian
        f[6] = 1; // version
        f[16..18].copy_from_slice(&elf::ET_EXEC.to_le_bytes());
        f[18..20].copy_from_slice(&elf::EM_X86_64.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        f[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = &mut f[64..];
        ph[..4].copy_from_slice(&elf::PT_LOAD.to_le_bytes());
        ph[4..8].copy_from_slice(&flags.to_le_bytes());
        ph[8..16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
        ph[24..32].copy_from_slice(&addr.to_le_bytes());
        ph[32..40].copy_from_slice(&(code.len() as u64).to_le_bytes());
        ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        f.extend_from_slice(code);
        f
    }

    #[test]
    fn elf_segments_and_entry_are_checked_against_the_layout() {
        let layout = Layout::new(MemSize::Mib2, PageSize::Kib4);
        let max = layout.max_image_size();
        let rx = elf::PF_R | elf::PF_X;
        let (segs, entry, _) =
            parse_elf(&elf(0x1000, 0x1000, &[0xF4], 16, 0x1000, rx), layout).expect("a good image");
        assert_eq!(
            (segs.len(), segs[0].addr, &segs[0].bytes[..], entry),
            (1, 0x1000, &[0xF4][..], 0x1000)
        );
        let err = |image: Vec<u8>| parse_elf(&image, layout).err().map(|e| e.to_string());
        assert!(
            err(elf(max - 8, max - 8, &[0xF4], 16, max - 8, rx))
                .unwrap()
                .contains("does not fit below")
        );
        assert!(
            err(elf(u64::MAX - 4, u64::MAX - 4, &[0xF4], 16, u64::MAX - 4, rx))
                .unwrap()
                .contains("does not fit")
        );
        assert!(err(elf(0x1000, 0x2000, &[0xF4], 16, 0x1000, rx)).unwrap().contains("one to one"));
        assert!(
            err(elf(0x1000, 0x1000, &[0xF4], 16, 0x2000, rx))
                .unwrap()
                .contains("entry point 0x2000")
        );
        assert!(
            err(elf(0x1000, 0x1000, &[0xF4], 16, 0x1000, elf::PF_R))
                .unwrap()
                .contains("entry point")
        );
        assert!(
            err(elf(0x1000, 0x1000, &[0xF4, 0xF4], 1, 0x1000, rx))
                .unwrap()
                .contains("more bytes in the file")
        );
        let mut truncated = elf(0x1000, 0x1000, &[0xF4; 8], 16, 0x1000, rx);
        truncated.truncate(124);
        assert!(err(truncated).is_some());
        // The same file bytes loaded again and again: each segment fits, together they do not.
        let half = max / 2 + 1;
        let mut repeated = elf(0x1000, 0x1000, &vec![0xF4; half as usize], half, 0x1000, rx);
        repeated[56..58].copy_from_slice(&3u16.to_le_bytes()); // e_phnum: three headers
        let header = repeated[64..120].to_vec();
        repeated.splice(120..120, header.iter().chain(&header).copied());
        repeated[64 + 8..64 + 16].copy_from_slice(&232u64.to_le_bytes());
        repeated[120 + 8..120 + 16].copy_from_slice(&232u64.to_le_bytes());
        repeated[176 + 8..176 + 16].copy_from_slice(&232u64.to_le_bytes());
        assert!(err(repeated).unwrap().contains("(overlapping or repeated segments)"));
        let mut pie = elf(0x1000, 0x1000, &[0xF4], 16, 0x1000, rx);
        pie[16..18].copy_from_slice(&elf::ET_DYN.to_le_bytes());
        assert!(err(pie).unwrap().contains("-static -no-pie"));
    }
}
