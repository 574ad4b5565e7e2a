//! Access to guest-physical memory: the one trait every table builder writes through.
//!
//! It sits below [`layout`](crate::layout), [`paging`](crate::paging), [`gdt`](crate::gdt) and
//! [`idt`](crate::idt) so that none of them depends on another for it: the host implements it on
//! guest RAM, the unit tests on a byte vector (a `mock` module, test builds only).

use crate::addr::Gpa;

/// Access to guest-physical memory, 8 bytes at a time.
pub trait PhysMem {
    /// Reads the little-endian u64 at `gpa`, or `None` if it is not in guest RAM.
    fn read_u64(&self, gpa: Gpa) -> Option<u64>;
    /// Writes the little-endian u64 at `gpa`; returns `false` if it is not in guest RAM.
    fn write_u64(&mut self, gpa: Gpa, value: u64) -> bool;
}

/// Guest RAM as a byte vector, for the unit tests of everything built on [`PhysMem`].
#[cfg(test)]
pub(crate) mod mock {
    use super::PhysMem;
    use crate::addr::Gpa;
    use std::vec::Vec;

    /// Guest RAM as a byte vector; out-of-range accesses fail like they do on the host.
    pub(crate) struct Ram(pub(crate) Vec<u8>);

    impl PhysMem for Ram {
        fn read_u64(&self, gpa: Gpa) -> Option<u64> {
            let a = usize::try_from(gpa.as_u64()).ok()?;
            let b = self.0.get(a..a.checked_add(8)?)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        }
        fn write_u64(&mut self, gpa: Gpa, value: u64) -> bool {
            let Ok(a) = usize::try_from(gpa.as_u64()) else { return false };
            match a.checked_add(8).and_then(|end| self.0.get_mut(a..end)) {
                Some(b) => {
                    b.copy_from_slice(&value.to_le_bytes());
                    true
                }
                None => false,
            }
        }
    }
}
