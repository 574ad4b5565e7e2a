//! A guest's write quota: how many bytes it may make the host write, to files and to the disk
//! together (`--quota`).
//!
//! Every byte the host writes on a guest's behalf counts: file writes, the copy `"a"` makes of
//! a shared original, disk sectors, and the completion of a `--disk-cow` copy when the guest
//! has ended. Every write reserves what it asks for before it touches the host, gets at most
//! what is left (a POSIX short write), and gives back what the host did not write. When nothing
//! is left the write fails with `EFBIG`, the error `RLIMIT_FSIZE`, the per-process write limit
//! of POSIX, gives; the guest's report says the quota was reached. So the host never writes
//! more than the quota for a guest.

use std::sync::atomic::{AtomicU64, Ordering};

use hv_core::proto::errno::Errno;

/// The quota when none is given: enough for any guest the project ships, small enough that a
/// guest looping on `fwrite` cannot fill the host's disk.
pub const DEFAULT_QUOTA: u64 = 1 << 30;

/// One guest's quota, shared by its file table and its disk.
///
/// Note (atomics): both users run on the guest's one thread; the atomics only make the type
/// `Sync` for the `Arc` it is shared through. Relaxed ordering is enough: nothing else is
/// published through these counters.
#[derive(Debug)]
pub(crate) struct Quota {
    limit: u64,
    used: AtomicU64,
    /// Writes refused (wholly) because nothing was left.
    refused: AtomicU64,
    /// Bytes written to the disk (the image in place, or the guest's copy), for `--stats`.
    disk_written: AtomicU64,
}

impl Quota {
    /// A quota of `limit` bytes.
    pub(crate) fn new(limit: u64) -> Self {
        Quota {
            limit,
            used: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            disk_written: AtomicU64::new(0),
        }
    }

    /// Reserves up to `want` bytes: returns how many may be written, `EFBIG` if none may
    /// (and `want` is not 0).
    pub(crate) fn reserve(&self, want: u64) -> Result<u64, Errno> {
        let used = self.used.load(Ordering::Relaxed);
        let granted = want.min(self.limit.saturating_sub(used));
        if granted == 0 && want > 0 {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::Efbig);
        }
        self.used.store(used + granted, Ordering::Relaxed);
        Ok(granted)
    }

    /// Reserves exactly `want` bytes, or nothing (`EFBIG`): for a disk sector, which is written
    /// whole or not at all.
    pub(crate) fn reserve_all(&self, want: u64) -> Result<(), Errno> {
        let used = self.used.load(Ordering::Relaxed);
        if self.limit.saturating_sub(used) < want {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::Efbig);
        }
        self.used.store(used + want, Ordering::Relaxed);
        Ok(())
    }

    /// Reserves exactly `want` bytes if that many are left, without counting a refusal (for
    /// the host's own writes on the guest's behalf, which no guest call is refused for); false
    /// if they are not.
    pub(crate) fn try_reserve_all(&self, want: u64) -> bool {
        let used = self.used.load(Ordering::Relaxed);
        if self.limit.saturating_sub(used) < want {
            return false;
        }
        self.used.store(used + want, Ordering::Relaxed);
        true
    }

    /// Bytes left.
    pub(crate) fn left(&self) -> u64 {
        self.limit.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Counts `bytes` written to the disk (already reserved).
    pub(crate) fn add_disk_written(&self, bytes: u64) {
        self.disk_written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes written to the disk so far.
    pub(crate) fn disk_written(&self) -> u64 {
        self.disk_written.load(Ordering::Relaxed)
    }

    /// Gives back bytes reserved but not written.
    pub(crate) fn refund(&self, unused: u64) {
        let used = self.used.load(Ordering::Relaxed);
        self.used.store(used.saturating_sub(unused), Ordering::Relaxed);
    }

    /// The limit, in bytes.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Writes refused because the quota was used up.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Parses a size as `--quota` takes it: a number of bytes, optionally followed by `K`, `M`,
/// `G` or `T` (binary multiples: `64K` is 65536).
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        b'T' | b't' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_get_what_is_left_then_efbig() {
        let q = Quota::new(100);
        assert_eq!(q.reserve(60), Ok(60));
        assert_eq!(q.reserve(60), Ok(40));
        assert_eq!(q.reserve(0), Ok(0));
        assert_eq!(q.reserve(1), Err(Errno::Efbig));
        q.refund(10);
        assert_eq!(q.reserve_all(20), Err(Errno::Efbig));
        assert_eq!(q.reserve_all(10), Ok(()));
        assert_eq!(q.refused(), 2);
        q.refund(30);
        assert_eq!(q.left(), 30);
        assert!(!q.try_reserve_all(31));
        assert!(q.try_reserve_all(30));
        assert_eq!((q.left(), q.refused()), (0, 2), "the host's own writes are no refusal");
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size("3m"), Some(3 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("2T"), Some(2 << 40));
        for bad in ["", "K", "-1", "1.5M", "1KB", "x", "99999999999T", " 1"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
