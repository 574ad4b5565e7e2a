//! Write watchpoints, emulated by single-stepping in the host.
//!
//! The CPU's debug registers never fire for ring-3 code on our KVM (see the module's doc in
//! `gdb`), and gdb on its own assumes a remote stub has hardware watchpoints: its `watch`
//! would fail with "Could not insert hardware watchpoint". So the stub offers write
//! watchpoints and keeps them itself: while one is set, a `continue` runs the guest one
//! instruction at a time (RFLAGS.TF, as a `stepi`) and compares the watched bytes after each,
//! without asking gdb; the first instruction that changes them stops the guest, reported as
//! gdb's hardware watchpoint stop. gdb's own software watchpoints (`set can-use-hw-watchpoints
//! 0`) work too and do the same from gdb's side, at a round trip per instruction.
//!
//! Only writes are watched (`watch`); a read watchpoint (`rwatch`, `awatch`) cannot be seen
//! without decoding every instruction and is refused. A guest runs far slower while a
//! watchpoint is set: every instruction costs a trap and an exit.

/// The most watchpoints at once.
pub(crate) const MAX_WATCHPOINTS: usize = 16;

/// The longest watched range, in bytes.
pub(crate) const MAX_WATCH_LEN: u64 = 256;

/// One watched range.
#[derive(Debug)]
struct Watched {
    /// Guest-virtual address and length, as gdb gave them.
    addr: u64,
    len: u64,
    /// Where its bytes are, guest-physical, piece by piece (one per page).
    pieces: Vec<(u64, usize)>,
    /// Its bytes when last looked at.
    value: Vec<u8>,
}

/// The write watchpoints of one guest.
#[derive(Debug, Default)]
pub(crate) struct Watchpoints {
    list: Vec<Watched>,
}

impl Watchpoints {
    /// True if none is set: the guest then runs at full speed.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Watches `[addr, addr + len)`, whose bytes are at `pieces` and now hold `value`. False if
    /// the table is full or the range too long.
    pub(crate) fn insert(
        &mut self,
        addr: u64,
        len: u64,
        pieces: Vec<(u64, usize)>,
        value: Vec<u8>,
    ) -> bool {
        if self.list.len() >= MAX_WATCHPOINTS || len == 0 || len > MAX_WATCH_LEN {
            return false;
        }
        self.list.push(Watched { addr, len, pieces, value });
        true
    }

    /// Stops watching `[addr, addr + len)`; false if it was not watched.
    pub(crate) fn remove(&mut self, addr: u64, len: u64) -> bool {
        match self.list.iter().position(|w| w.addr == addr && w.len == len) {
            Some(i) => {
                self.list.remove(i);
                true
            }
            None => false,
        }
    }

    /// The address of the first watched range whose bytes changed since they were last looked
    /// at, reading guest memory with `read` (guest-physical address, buffer; false if it
    /// cannot). Every range is brought up to date.
    pub(crate) fn changed(&mut self, read: impl Fn(u64, &mut [u8]) -> bool) -> Option<u64> {
        let mut hit = None;
        for w in &mut self.list {
            let mut now = vec![0u8; w.value.len()];
            let mut at = 0;
            for &(gpa, n) in &w.pieces {
                if !read(gpa, &mut now[at..at + n]) {
                    break;
                }
                at += n;
            }
            if now != w.value {
                w.value = now;
                hit = hit.or(Some(w.addr));
            }
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_change_is_seen_once_and_reported_by_address() {
        let mem = RefCell::new(vec![0u8; 64]);
        let read = |gpa: u64, buf: &mut [u8]| {
            let m = mem.borrow();
            let at = gpa as usize;
            buf.copy_from_slice(&m[at..at + buf.len()]);
            true
        };
        let mut w = Watchpoints::default();
        assert!(w.is_empty());
        // 8 bytes at virtual 0x1010, split over two "pages" at physical 16 and 40.
        assert!(w.insert(0x1010, 8, vec![(16, 4), (40, 4)], vec![0; 8]));
        assert!(w.insert(0x2000, 1, vec![(60, 1)], vec![0]));
        assert_eq!(w.changed(read), None);
        mem.borrow_mut()[42] = 7;
        assert_eq!(w.changed(read), Some(0x1010));
        assert_eq!(w.changed(read), None, "seen once");
        mem.borrow_mut()[60] = 1;
        mem.borrow_mut()[16] = 1;
        assert_eq!(w.changed(read), Some(0x1010), "the first in the list");
        assert_eq!(w.changed(read), None, "both brought up to date");
        assert!(w.remove(0x1010, 8));
        assert!(!w.remove(0x1010, 8));
        assert!(!w.insert(0x3000, MAX_WATCH_LEN + 1, vec![], vec![]));
    }
}
