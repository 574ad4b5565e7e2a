//! The debugger's software breakpoints: an `int3` (0xCC) written over the first byte of an
//! instruction, and the byte it replaced.
//!
//! The table lives in the host, out of the guest's reach. What the guest can do is write over a
//! patched byte itself (self-modifying code, or a file read into its code): that removes the
//! breakpoint, and removing it later must not put the old byte back over the guest's own, so
//! [`Breakpoints::remove`] restores a byte only while it still holds 0xCC. What gdb reads
//! through the stub shows the original bytes ([`Breakpoints::mask`]), and what gdb writes under a
//! breakpoint updates the saved byte instead ([`Breakpoints::absorb`]), so a breakpoint is never
//! visible to gdb and never left behind: [`Breakpoints::clear`] removes them all at detach.
//!
//! A guest that reads its own code while it runs with a breakpoint inserted sees the 0xCC (as
//! under any software-breakpoint debugger); gdb removes its breakpoints whenever the guest stops,
//! so this can only happen while the guest runs.

use std::collections::BTreeMap;

/// The x86 `int3` instruction.
pub(crate) const INT3: u8 = 0xCC;

/// The most breakpoints one guest may have at once (gdb's own temporary ones included): a bound
/// on the host memory a debugger can make the table use.
pub(crate) const MAX_BREAKPOINTS: usize = 4096;

/// Where the table reads and writes code bytes: the guest's memory, by guest-physical address.
pub(crate) trait CodeBytes {
    /// The byte at `gpa`, if it is in guest memory.
    fn read(&self, gpa: u64) -> Option<u8>;
    /// Writes `byte` at `gpa`; false if it is not in guest memory.
    fn write(&self, gpa: u64, byte: u8) -> bool;
}

/// One inserted breakpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Inserted {
    /// Where the 0xCC is, guest-physical.
    gpa: u64,
    /// The byte it replaced.
    original: u8,
}

/// The inserted breakpoints, by guest-virtual address.
#[derive(Debug, Default)]
pub(crate) struct Breakpoints {
    at: BTreeMap<u64, Inserted>,
}

impl Breakpoints {
    /// True if a breakpoint of the debugger's is at `addr`.
    pub(crate) fn contains(&self, addr: u64) -> bool {
        self.at.contains_key(&addr)
    }

    /// True if there is none.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Inserts a breakpoint at `addr`, whose byte is at `gpa`. False if it cannot be (the byte
    /// is not in guest memory, or the table is full); true if it is there (again).
    pub(crate) fn insert(&mut self, mem: &impl CodeBytes, addr: u64, gpa: u64) -> bool {
        if self.at.contains_key(&addr) {
            return true;
        }
        if self.at.len() >= MAX_BREAKPOINTS {
            return false;
        }
        let Some(original) = mem.read(gpa) else {
            return false;
        };
        if !mem.write(gpa, INT3) {
            return false;
        }
        self.at.insert(addr, Inserted { gpa, original });
        true
    }

    /// Removes the breakpoint at `addr`; false if there was none. The original byte goes back
    /// only if the 0xCC is still there: a byte the guest wrote since stays.
    pub(crate) fn remove(&mut self, mem: &impl CodeBytes, addr: u64) -> bool {
        let Some(bp) = self.at.remove(&addr) else {
            return false;
        };
        if mem.read(bp.gpa) == Some(INT3) {
            mem.write(bp.gpa, bp.original);
        }
        true
    }

    /// Removes every breakpoint (at detach, or when the guest ends).
    pub(crate) fn clear(&mut self, mem: &impl CodeBytes) {
        let addrs: Vec<u64> = self.at.keys().copied().collect();
        for addr in addrs {
            self.remove(mem, addr);
        }
    }

    /// Puts the original bytes back into `data`, which was read from guest-virtual `start`: gdb
    /// never sees its own breakpoints (nor mistakes one for the guest's code).
    pub(crate) fn mask(&self, mem: &impl CodeBytes, start: u64, data: &mut [u8]) {
        let Some(end) = start.checked_add(data.len() as u64) else {
            return;
        };
        for (&addr, bp) in self.at.range(start..end) {
            let i = (addr - start) as usize;
            // Only a byte that still holds our 0xCC is ours to hide.
            if data[i] == INT3 && mem.read(bp.gpa) == Some(INT3) {
                data[i] = bp.original;
            }
        }
    }

    /// gdb is about to write `data` at guest-virtual `start`: the bytes that fall on a
    /// breakpoint become its saved byte, and `data` keeps the 0xCC there, so the breakpoint stays
    /// armed and removing it later restores what gdb wrote.
    pub(crate) fn absorb(&mut self, start: u64, data: &mut [u8]) {
        let Some(end) = start.checked_add(data.len() as u64) else {
            return;
        };
        for (&addr, bp) in self.at.range_mut(start..end) {
            let i = (addr - start) as usize;
            bp.original = data[i];
            data[i] = INT3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// 64 bytes of "code" at guest-physical 0x100, mapped at virtual 0x1100.
    struct Mem(RefCell<Vec<u8>>);

    impl CodeBytes for Mem {
        fn read(&self, gpa: u64) -> Option<u8> {
            gpa.checked_sub(0x100).and_then(|i| self.0.borrow().get(i as usize).copied())
        }
        fn write(&self, gpa: u64, byte: u8) -> bool {
            let Some(i) = gpa.checked_sub(0x100) else { return false };
            match self.0.borrow_mut().get_mut(i as usize) {
                Some(b) => {
                    *b = byte;
                    true
                }
                None => false,
            }
        }
    }

    fn mem() -> Mem {
        Mem(RefCell::new((0..64).collect()))
    }

    #[test]
    fn insert_patches_and_remove_restores() {
        let m = mem();
        let mut bps = Breakpoints::default();
        assert!(bps.insert(&m, 0x1105, 0x105));
        assert_eq!(m.read(0x105), Some(INT3));
        assert!(bps.contains(0x1105));
        // Inserting again is harmless: the saved byte stays the original, not the 0xCC.
        assert!(bps.insert(&m, 0x1105, 0x105));
        assert!(bps.remove(&m, 0x1105));
        assert_eq!(m.read(0x105), Some(5));
        assert!(!bps.remove(&m, 0x1105));
        assert!(bps.is_empty());
        // Outside memory: refused, nothing recorded.
        assert!(!bps.insert(&m, 0x2000, 0x1000));
        assert!(bps.is_empty());
    }

    #[test]
    fn a_byte_the_guest_wrote_over_a_breakpoint_stays() {
        let m = mem();
        let mut bps = Breakpoints::default();
        assert!(bps.insert(&m, 0x1110, 0x110));
        m.write(0x110, 0x90); // the guest rewrites its code
        assert!(bps.remove(&m, 0x1110));
        assert_eq!(m.read(0x110), Some(0x90));
    }

    #[test]
    fn gdb_sees_and_writes_the_original_bytes() {
        let m = mem();
        let mut bps = Breakpoints::default();
        assert!(bps.insert(&m, 0x1102, 0x102));
        assert!(bps.insert(&m, 0x1104, 0x104));
        let mut data: Vec<u8> = (0..8).map(|i| m.read(0x100 + i).unwrap_or(0)).collect();
        assert_eq!(data, [0, 1, INT3, 3, INT3, 5, 6, 7]);
        bps.mask(&m, 0x1100, &mut data);
        assert_eq!(data, [0, 1, 2, 3, 4, 5, 6, 7]);
        // A write across a breakpoint keeps it armed and its saved byte follows the write.
        let mut write = [0xA0, 0xA1, 0xA2];
        bps.absorb(0x1103, &mut write);
        assert_eq!(write, [0xA0, INT3, 0xA2]);
        bps.clear(&m);
        assert_eq!(m.read(0x104), Some(0xA1));
        assert_eq!(m.read(0x102), Some(2));
        assert!(bps.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let m = Mem(RefCell::new(vec![0; MAX_BREAKPOINTS + 1]));
        let mut bps = Breakpoints::default();
        for i in 0..MAX_BREAKPOINTS as u64 {
            assert!(bps.insert(&m, 0x1100 + i, 0x100 + i));
        }
        let last = MAX_BREAKPOINTS as u64;
        assert!(!bps.insert(&m, 0x1100 + last, 0x100 + last));
        bps.clear(&m);
        assert!(m.0.borrow().iter().all(|&b| b == 0));
    }
}
