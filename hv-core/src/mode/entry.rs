//! Where a guest starts: an address in a flat segment, or a real-mode `segment:offset`.

use core::fmt;

/// Where a real-mode guest starts, `--entry SEG:OFF` (hexadecimal, as CS:IP is written): the
/// image is loaded at the linear address `SEG * 16 + OFF` and entered there with CS = SEG and
/// IP = OFF. `1000:0000` is seed 002's part-2 layout (CS 0x1000, base 0x10000).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub struct RealEntry {
    /// CS, and every other segment register.
    pub segment: u16,
    /// IP.
    pub offset: u16,
}

impl RealEntry {
    /// The linear address it names.
    pub const fn linear(self) -> u64 {
        self.segment as u64 * 16 + self.offset as u64
    }

    /// Parses `SEG:OFF`, each 1 to 4 hexadecimal digits.
    pub fn parse(v: &str) -> Option<RealEntry> {
        let (seg, off) = v.split_once(':')?;
        let hex = |s: &str| {
            let ok = (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
            ok.then(|| u16::from_str_radix(s, 16).ok()).flatten()
        };
        Some(RealEntry { segment: hex(seg)?, offset: hex(off)? })
    }
}

impl fmt::Display for RealEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.segment, self.offset)
    }
}

/// Where a guest starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Entry {
    /// At this address in a flat code segment (long, protected and paged 32-bit modes).
    Linear(u64),
    /// At this `segment:offset` (real mode).
    Real(RealEntry),
}

impl Entry {
    pub(super) fn linear(self) -> u64 {
        match self {
            Entry::Linear(a) => a,
            Entry::Real(e) => e.linear(),
        }
    }

    pub(super) fn real(self) -> RealEntry {
        match self {
            Entry::Real(e) => e,
            // Only for completeness: real-mode guests are given a RealEntry.
            Entry::Linear(a) => RealEntry { segment: (a >> 4) as u16, offset: (a & 0xF) as u16 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn real_entries_parse_as_cs_ip() {
        let e = RealEntry::parse("1000:0000").expect("valid");
        assert_eq!((e.segment, e.offset, e.linear()), (0x1000, 0, 0x10000));
        assert_eq!(RealEntry::parse("0:7c00").map(RealEntry::linear), Some(0x7C00));
        assert_eq!(RealEntry::parse("ffff:ffff").map(RealEntry::linear), Some(0x10_FFEF));
        assert_eq!(e.to_string(), "1000:0000");
        for bad in ["", "1000", ":", "1000:", ":0", "10000:0", "0:10000", "g:0", "+1:0", "0x10:0"] {
            assert_eq!(RealEntry::parse(bad), None, "{bad:?}");
        }
    }
}
