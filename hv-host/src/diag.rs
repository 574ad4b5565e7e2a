//! Diagnostics a guest can make the host print, rate-limited per guest.
//!
//! A guest can provoke a host warning on purpose (a write the host refuses, again and again);
//! without a limit it could fill the host's log. Each guest gets its first [`SHOWN`] warnings
//! printed; the rest are counted, and the count is in its report. A warning often carries text
//! the guest chose (a file name): it is printed escaped (see `escape`), whole.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many warnings each guest gets printed.
pub(crate) const SHOWN: u64 = 10;

/// One guest's diagnostics. Shared (through an `Arc`) by every part of the host that serves
/// the guest; see the note on `Quota` for why atomics with relaxed ordering.
#[derive(Debug)]
pub(crate) struct Diag {
    id: u32,
    /// Warnings so far, printed or not.
    count: AtomicU64,
    /// What the guest's disk copy was left as, if not complete (for its report).
    disk_copy: std::sync::OnceLock<String>,
}

impl Diag {
    /// The diagnostics of guest `id`.
    pub(crate) fn new(id: u32) -> Self {
        Diag { id, count: AtomicU64::new(0), disk_copy: std::sync::OnceLock::new() }
    }

    /// Prints `message` as a warning about this guest, if it is among the first [`SHOWN`].
    pub(crate) fn warn(&self, message: fmt::Arguments<'_>) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= SHOWN {
            let text = message.to_string();
            log::warn!("guest {}: {}", self.id, crate::escape::Escaped(&text));
        } else if n == SHOWN + 1 {
            log::warn!(
                "guest {}: further warnings are counted in its report, not printed",
                self.id
            );
        }
    }

    /// Notes, for the guest's report, that its disk copy was left incomplete and why (the first
    /// note stays).
    pub(crate) fn disk_copy_incomplete(&self, why: String) {
        let _ = self.disk_copy.set(why);
    }

    /// Why the guest's disk copy was left incomplete, if it was.
    pub(crate) fn disk_copy_note(&self) -> Option<String> {
        self.disk_copy.get().cloned()
    }

    /// Warnings that were counted but not printed.
    pub(crate) fn suppressed(&self) -> u64 {
        self.count.load(Ordering::Relaxed).saturating_sub(SHOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_few_are_printed() {
        let d = Diag::new(3);
        for i in 0..SHOWN {
            d.warn(format_args!("warning {i}"));
            assert_eq!(d.suppressed(), 0);
        }
        for _ in 0..7 {
            d.warn(format_args!("more"));
        }
        assert_eq!(d.suppressed(), 7);
    }
}
