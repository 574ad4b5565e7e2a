//! Exit statistics: what each guest's exits were, for `HC_numExits`, `HC_numExitsByType` and
//! `--stats`.

use std::collections::BTreeMap;

/// The kind of one exit, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// `in` from a port.
    IoIn(u16),
    /// `out` to a port (exception reports included: they come from the stubs' `out`).
    IoOut(u16),
    /// `hlt`.
    Hlt,
    /// An access to an address that is not RAM.
    Mmio,
    /// KVM_RUN interrupted by a signal (a timer or a kick).
    Interrupted,
    /// Anything else (shutdown, internal error, failed entry).
    Other,
}

/// Counts of one guest's exits, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitStats {
    /// `in` exits per port.
    pub io_in: BTreeMap<u16, u64>,
    /// `out` exits per port.
    pub io_out: BTreeMap<u16, u64>,
    /// `hlt` exits.
    pub hlt: u64,
    /// MMIO exits.
    pub mmio: u64,
    /// CPU exceptions reported by the ring-0 stubs (also counted as `out` to their port).
    pub exceptions: u64,
    /// Exits caused by a signal to the vCPU thread (timer, kick).
    pub interrupted: u64,
    /// Other exits.
    pub other: u64,
}

impl ExitStats {
    /// Counts one exit.
    pub(crate) fn count(&mut self, kind: ExitKind) {
        match kind {
            ExitKind::IoIn(port) => *self.io_in.entry(port).or_default() += 1,
            ExitKind::IoOut(port) => {
                *self.io_out.entry(port).or_default() += 1;
                if port == hv_core::proto::EXCEPTION_PORT {
                    self.exceptions += 1;
                }
            }
            ExitKind::Hlt => self.hlt += 1,
            ExitKind::Mmio => self.mmio += 1,
            ExitKind::Interrupted => self.interrupted += 1,
            ExitKind::Other => self.other += 1,
        }
    }

    /// All `in` exits.
    pub fn io_in_total(&self) -> u64 {
        self.io_in.values().sum()
    }

    /// All `out` exits.
    pub fn io_out_total(&self) -> u64 {
        self.io_out.values().sum()
    }

    /// Every exit.
    pub fn total(&self) -> u64 {
        self.io_in_total()
            + self.io_out_total()
            + self.hlt
            + self.mmio
            + self.interrupted
            + self.other
    }

    /// The counts as published in the hv page (see `hv_core::proto::hv_page::ExitCounts`).
    pub(crate) fn counts(&self) -> hv_core::proto::hv_page::ExitCounts {
        hv_core::proto::hv_page::ExitCounts {
            total: self.total(),
            io_in: self.io_in_total(),
            io_out: self.io_out_total(),
            hlt: self.hlt,
            mmio: self.mmio,
            exceptions: self.exceptions,
            interrupted: self.interrupted,
            other: self.other,
        }
    }

    /// The text `HC_numExitsByType` returns: the seed's two lines first, then ours.
    pub fn by_type_text(&self) -> String {
        self.counts().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind() {
        let mut s = ExitStats::default();
        s.count(ExitKind::IoOut(0xE9));
        s.count(ExitKind::IoOut(0xE9));
        s.count(ExitKind::IoIn(0xE9));
        s.count(ExitKind::IoOut(hv_core::proto::EXCEPTION_PORT));
        s.count(ExitKind::Hlt);
        assert_eq!(s.total(), 5);
        assert_eq!(s.exceptions, 1);
        assert!(s.by_type_text().starts_with("IO in: 1\nIO out: 3\nHLT: 1\n"));
    }
}
