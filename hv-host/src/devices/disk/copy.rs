//! A guest's copy of the disk image (`--disk-cow`), and its completion from the image when the
//! guest has ended: only the sectors of the image's data the guest did not write, skipping the
//! image's holes (`SEEK_DATA`/`SEEK_HOLE`), in chunks, each checked for a stop signal first.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use super::{DiskImage, SECTOR};

/// A guest's copy of the image (`--disk-cow`): a sparse file holding the sectors it wrote,
/// and which those are.
#[derive(Debug)]
pub(super) struct Copy {
    pub(super) file: File,
    /// Bit `s % 64` of word `s / 64` is set once sector `s` is in `file`. Sparse: a word
    /// exists only where the guest wrote, so its size is bounded by the guest's quota.
    pub(super) written: BTreeMap<u64, u64>,
}

impl Copy {
    pub(super) fn has(&self, sector: u64) -> bool {
        self.written.get(&(sector / 64)).is_some_and(|w| w & (1 << (sector % 64)) != 0)
    }

    pub(super) fn mark(&mut self, sector: u64) {
        *self.written.entry(sector / 64).or_default() |= 1 << (sector % 64);
    }
}

/// `lseek(fd, offset, whence)` for `SEEK_DATA`/`SEEK_HOLE`; `None` past the last data.
fn seek(file: &File, offset: u64, whence: i32) -> io::Result<Option<u64>> {
    let offset = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: lseek on a descriptor this function borrows; it touches no memory. Positional
    // I/O is all that is done with the image's descriptor, so its offset is free to move.
    let at = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    if at >= 0 {
        return Ok(Some(at as u64));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENXIO) { Ok(None) } else { Err(e) }
}

/// Calls `each(first, count)` for every run of sectors of the image's data that the guest did
/// not write, in order, each run at most [`CHUNK`] bytes long, until `each` says `false` (then
/// this returns `false`).
pub(super) fn runs(
    image: &DiskImage,
    copy: &Copy,
    mut each: impl FnMut(u64, u64) -> io::Result<bool>,
) -> io::Result<bool> {
    let mut at = 0;
    while at < image.size {
        let Some(data) = seek(&image.file, at, libc::SEEK_DATA)? else { break };
        let hole = seek(&image.file, data, libc::SEEK_HOLE)?.unwrap_or(image.size).min(image.size);
        let (first, end) = (data / SECTOR, hole.div_ceil(SECTOR));
        let mut sector = first;
        while sector < end {
            if copy.has(sector) {
                sector += 1;
                continue;
            }
            let mut run = 1;
            while sector + run < end && !copy.has(sector + run) && (run + 1) * SECTOR <= CHUNK {
                run += 1;
            }
            if !each(sector, run)? {
                return Ok(false);
            }
            sector += run;
        }
        at = end * SECTOR;
    }
    Ok(true)
}

/// The longest run of sectors the completion copies at once.
const CHUNK: u64 = 64 << 10;

/// Copies into `copy` every sector of the image's data that the guest did not write, counting
/// the bytes written in `written`; `Ok(false)` if a stop signal came first (checked before every
/// chunk).
pub(super) fn complete(image: &DiskImage, copy: &Copy, written: &mut u64) -> io::Result<bool> {
    let mut chunk = vec![0u8; CHUNK as usize];
    runs(image, copy, |sector, run| {
        if crate::signals::received().is_some() {
            return Ok(false);
        }
        let buf = &mut chunk[..(run * SECTOR) as usize];
        image.file.read_exact_at(buf, sector * SECTOR)?;
        copy.file.write_all_at(buf, sector * SECTOR)?;
        *written += run * SECTOR;
        Ok(true)
    })
}
