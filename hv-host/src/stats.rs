//! Exit statistics: what each guest's exits were, for `HC_numExits`, `HC_numExitsByType` and
//! `--stats`.
//!
//! Two views of one count. The guest's view (`HC_numExits`, `HC_numExitsByType`, the hv page's
//! counts) counts every write KVM queued without an exit (see `guest::coalesce`) as the exit it
//! would have been, so a guest sees the same numbers whether or not its writes were queued, as
//! it would on the seed's own host; the host's view (`--stats`) shows the exits it really
//! handled and the queued writes apart ([`ExitStats::exits`], [`ExitStats::queued`]).

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

/// Counts of one guest's exits, by kind, as the guest sees them: a write KVM queued without an
/// exit counts as the exit it would have been (and is also counted in `queued_out` or
/// `queued_mmio`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitStats {
    /// `in` exits per port (an `in` is never queued: it needs its answer).
    pub io_in: BTreeMap<u16, u64>,
    /// `out`s per port: exits and queued writes.
    pub io_out: BTreeMap<u16, u64>,
    /// `hlt` exits.
    pub hlt: u64,
    /// MMIO writes and reads: exits and queued writes.
    pub mmio: u64,
    /// CPU exceptions reported by the ring-0 stubs (also counted as `out` to their port).
    pub exceptions: u64,
    /// Exits caused by a signal to the vCPU thread (timer, kick).
    pub interrupted: u64,
    /// Other exits.
    pub other: u64,
    /// Of the `out`s, those KVM queued without an exit, per port.
    pub queued_out: BTreeMap<u16, u64>,
    /// Of the MMIO writes, those KVM queued without an exit.
    pub queued_mmio: u64,
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

    /// Counts one write KVM queued without an exit, as the exit it would have been: an `out`
    /// ([`ExitKind::IoOut`]) or an MMIO write ([`ExitKind::Mmio`]); no other kind is queued.
    pub(crate) fn count_queued(&mut self, kind: ExitKind) {
        match kind {
            ExitKind::IoOut(port) => *self.queued_out.entry(port).or_default() += 1,
            ExitKind::Mmio => self.queued_mmio += 1,
            ExitKind::IoIn(_) | ExitKind::Hlt | ExitKind::Interrupted | ExitKind::Other => return,
        }
        self.count(kind);
    }

    /// All `in` exits.
    pub fn io_in_total(&self) -> u64 {
        self.io_in.values().sum()
    }

    /// All `out`s, exits and queued writes.
    pub fn io_out_total(&self) -> u64 {
        self.io_out.values().sum()
    }

    /// The writes KVM queued without an exit.
    pub fn queued(&self) -> u64 {
        self.queued_out.values().sum::<u64>() + self.queued_mmio
    }

    /// The exits the host really handled: [`ExitStats::total`] without the queued writes.
    pub fn exits(&self) -> u64 {
        self.total() - self.queued()
    }

    /// `out` exits to `port` the host really handled (queued writes not included).
    pub fn out_exits(&self, port: u16) -> u64 {
        let all = self.io_out.get(&port).copied().unwrap_or(0);
        all - self.queued_out.get(&port).copied().unwrap_or(0)
    }

    /// Every exit as the guest sees them: the exits and the queued writes.
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

    #[test]
    fn queued_writes_count_as_the_exits_they_would_have_been() {
        let mut s = ExitStats::default();
        s.count(ExitKind::IoOut(0x10));
        for _ in 0..5 {
            s.count_queued(ExitKind::IoOut(0x10));
        }
        s.count_queued(ExitKind::Mmio);
        s.count(ExitKind::IoIn(0x278));
        // Only writes are ever queued.
        s.count_queued(ExitKind::IoIn(0x278));
        s.count_queued(ExitKind::Hlt);
        assert_eq!((s.total(), s.exits(), s.queued()), (8, 2, 6));
        assert_eq!((s.io_out_total(), s.io_in_total(), s.mmio), (6, 1, 1));
        assert_eq!(s.out_exits(0x10), 1);
        assert_eq!(s.out_exits(0xE9), 0);
        let c = s.counts();
        assert_eq!((c.total, c.io_in, c.io_out, c.mmio), (8, 1, 6, 1));
    }
}
