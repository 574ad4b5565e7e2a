//! The seeds' own byte-level dialects, served beside hv's one-exit calls so that guests written
//! for the seeds' hypervisors run unchanged: seed 000's file requests ([`files`]) and seed 002's
//! hypercall ports ([`hypercalls`]). The wire is specified in [`hv_core::proto::seed`].

pub(crate) mod files;
pub(crate) mod hypercalls;

use std::fmt;

/// Diagnostics one guest may cause before the rest are counted but not printed.
const DIAGNOSTICS_SHOWN: u32 = 10;

/// Per-guest state of the seed dialects.
#[derive(Debug, Default)]
pub(crate) struct SeedState {
    /// Seed 000's file request decoder.
    pub(crate) files: files::Decoder,
    /// The address seed 002's last `out` to 0xEE gave, for the next `in` on 0xEF.
    pub(crate) gva: Option<u32>,
    /// Rate limit of the diagnostics a malformed request or a bad pointer causes.
    pub(crate) diag: Diagnostics,
}

/// Host diagnostics about one guest's malformed requests, rate-limited: a hostile guest could
/// otherwise flood the host's stderr at one line per exit.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    count: u32,
}

impl Diagnostics {
    /// Prints a warning on the host's stderr, unless this guest has already caused
    /// [`DIAGNOSTICS_SHOWN`] of them; the first one past the limit says so.
    pub(crate) fn report(&mut self, id: u32, what: fmt::Arguments<'_>) {
        self.count = self.count.saturating_add(1);
        if self.count <= DIAGNOSTICS_SHOWN {
            log::warn!("guest {id}: {what}");
        } else if self.count == DIAGNOSTICS_SHOWN + 1 {
            log::warn!("guest {id}: further protocol diagnostics not shown");
        }
    }

    /// How many diagnostics this guest caused, shown or not.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u32 {
        self.count
    }
}
