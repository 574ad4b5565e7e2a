//! Guest-physical addresses and ranges, checked before anything touches guest memory.
//!
//! A guest hands the host plain integers; [`Gpa`] and [`GuestRange`] are what they become
//! once they have been checked. A range can only be built with overflow-safe arithmetic, so
//! code holding a `GuestRange` never has to wonder whether `start + len` wrapped.

use core::fmt;

/// A guest-physical address: an offset into guest RAM, never a host pointer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Gpa(u64);

impl Gpa {
    /// Wraps a raw guest-physical address.
    pub const fn new(raw: u64) -> Self {
        Gpa(raw)
    }

    /// The raw value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self + offset`, or `None` on overflow.
    pub const fn checked_add(self, offset: u64) -> Option<Gpa> {
        match self.0.checked_add(offset) {
            Some(v) => Some(Gpa(v)),
            None => None,
        }
    }

    /// `self + offset` for offsets known to stay in range (layout constants).
    ///
    /// Panics on overflow, which only a wrong constant can cause; never use it on guest input.
    pub const fn add(self, offset: u64) -> Gpa {
        match self.checked_add(offset) {
            Some(v) => v,
            None => panic!("guest address overflow in a layout constant"),
        }
    }
}

impl fmt::Debug for Gpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gpa({:#x})", self.0)
    }
}

impl fmt::Display for Gpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A non-wrapping range of guest-physical addresses `[start, start + len)`.
///
/// It says nothing yet about *which* memory the range lies in: [`GuestRange::within`] checks it
/// against a bound such as the end of user-accessible RAM.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GuestRange {
    start: Gpa,
    len: u64,
}

impl GuestRange {
    /// The range `[start, start + len)`, or `None` if the end does not fit in 64 bits.
    pub const fn new(start: Gpa, len: u64) -> Option<Self> {
        match start.checked_add(len) {
            Some(_) => Some(GuestRange { start, len }),
            None => None,
        }
    }

    /// First address.
    pub const fn start(self) -> Gpa {
        self.start
    }

    /// Length in bytes.
    pub const fn len(self) -> u64 {
        self.len
    }

    /// True for an empty range.
    pub const fn is_empty(self) -> bool {
        self.len == 0
    }

    /// One past the last address (cannot overflow: checked at construction).
    pub const fn end(self) -> u64 {
        self.start.0 + self.len
    }

    /// True when the whole range lies in `[0, limit)`.
    pub const fn within(self, limit: u64) -> bool {
        self.end() <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_overflow() {
        assert!(GuestRange::new(Gpa::new(u64::MAX), 1).is_none());
        assert!(GuestRange::new(Gpa::new(u64::MAX - 1), 1).is_some());
        let r = GuestRange::new(Gpa::new(0x1000), 0x10).unwrap();
        assert!(r.within(0x1010));
        assert!(!r.within(0x100f));
        assert!(GuestRange::new(Gpa::new(0x1010), 0).unwrap().within(0x1010));
    }
}
