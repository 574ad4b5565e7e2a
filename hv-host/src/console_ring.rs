//! The host's side of the console ring and of the exit counts in the hv page: console output
//! the guest wrote without exiting, taken out while the vCPU is stopped, and the counts the
//! guest reads instead of asking.
//!
//! The protocol, its ordering and what the guest may and may not do are specified in
//! [`hv_core::proto::hv_page`]. Here the guest is assumed hostile: the only index read from
//! the page is `head`, checked against the host's own `tail` before anything is copied, and
//! every copy is bounded by the ring's size.

use std::sync::atomic::{Ordering, fence};

use hv_core::layout::Layout;
use hv_core::proto::hv_page::{
    ABI_ANNOUNCE_OFFSET, CONSOLE_RING_CONTROL_OFFSET, CONSOLE_RING_DATA_OFFSET, CONSOLE_RING_SIZE,
    ConsoleRingControl, EXIT_COUNTS_OFFSET, ExitCounts,
};

use crate::memory::GuestRam;
use crate::outcome::GuestError;

/// A `head` the guest wrote that cannot be: behind the host's `tail`, or more than a ring's
/// size ahead of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadHead {
    /// What the guest wrote.
    pub(crate) head: u64,
    /// What the host has consumed.
    pub(crate) tail: u64,
}

impl From<BadHead> for GuestError {
    fn from(BadHead { head, tail }: BadHead) -> Self {
        GuestError::ConsoleRing { head, tail, size: CONSOLE_RING_SIZE }
    }
}

/// The console ring and exit counts of one guest, at their host addresses.
///
/// Note (validity): the three addresses are inside the guest RAM mapping that `GuestRam` owns;
/// the `Vm` that holds this ring also holds that RAM and drops the ring no later than it. The
/// hv page and the ring page are 4 KiB aligned, so the control words and counts are aligned.
/// They are kept as integers so the ring stays `Send`, like `GuestRam`'s mailbox.
#[derive(Debug)]
pub(crate) struct ConsoleRing {
    control: usize,
    data: usize,
    counts: usize,
    /// Bytes consumed so far: the host's own copy, the only one it trusts.
    tail: u64,
}

impl ConsoleRing {
    /// The ring of the guest whose RAM is `ram`; empty (the RAM is zeroed, so `head` is 0).
    pub(crate) fn new(ram: &GuestRam, layout: Layout) -> Self {
        let page = ram.host_base() as usize + layout.hv_page().as_u64() as usize;
        ConsoleRing {
            control: page + CONSOLE_RING_CONTROL_OFFSET as usize,
            data: page + CONSOLE_RING_DATA_OFFSET as usize,
            counts: page + EXIT_COUNTS_OFFSET as usize,
            tail: 0,
        }
    }

    fn control(&self) -> *mut ConsoleRingControl {
        self.control as *mut ConsoleRingControl
    }

    /// True once the guest has put anything in the ring.
    pub(crate) fn used(&self) -> bool {
        // SAFETY: see the type's Note (validity); volatile: the guest writes it.
        let head = unsafe { std::ptr::addr_of!((*self.control()).head).read_volatile() };
        head != 0 || self.tail != 0
    }

    /// Takes every byte the guest has put in the ring and hands it to `sink` (in at most two
    /// pieces: the ring wraps), then tells the guest they are consumed. Only while the vCPU is
    /// stopped. A bad `head` consumes nothing and is returned.
    pub(crate) fn drain(&mut self, mut sink: impl FnMut(&[u8])) -> Result<(), BadHead> {
        // SAFETY: see the type's Note (validity); volatile: the guest writes it.
        let head = unsafe { std::ptr::addr_of!((*self.control()).head).read_volatile() };
        // Acquire: the bytes below `head` were written before `head` (the guest's release).
        fence(Ordering::Acquire);
        let tail = self.tail;
        let len = head.wrapping_sub(tail);
        if len == 0 {
            return Ok(());
        }
        if len > CONSOLE_RING_SIZE {
            return Err(BadHead { head, tail });
        }
        let size = CONSOLE_RING_SIZE as usize;
        let start = (tail % CONSOLE_RING_SIZE) as usize;
        let len = len as usize; // at most CONSOLE_RING_SIZE
        let first = len.min(size - start);
        // SAFETY: `data` is the ring page (see the Note); `start < size`, `first <= size -
        // start` and `len - first <= size`, so both pieces lie inside the page. The guest is
        // stopped, so nothing writes the page while the slices live.
        let (a, b) = unsafe {
            let base = self.data as *const u8;
            (
                std::slice::from_raw_parts(base.add(start), first),
                std::slice::from_raw_parts(base, len - first),
            )
        };
        sink(a);
        if !b.is_empty() {
            sink(b);
        }
        self.tail = head;
        // Release: the bytes are copied before the guest may overwrite them.
        fence(Ordering::Release);
        // SAFETY: as above.
        unsafe { std::ptr::addr_of_mut!((*self.control()).tail).write_volatile(head) };
        Ok(())
    }

    /// The ABI version the guest announced in its hv page, 0 if none (yet).
    pub(crate) fn announced_abi(&self) -> u64 {
        let at = (self.control - CONSOLE_RING_CONTROL_OFFSET as usize
            + ABI_ANNOUNCE_OFFSET as usize) as *const u64;
        // SAFETY: the announcement word is in the hv page, like the control words (see the
        // type's Note (validity)), and 8-byte aligned; volatile: the guest writes it.
        unsafe { at.read_volatile() }
    }

    /// Publishes this guest's exit counts in its hv page, before it resumes.
    pub(crate) fn publish(&self, counts: &ExitCounts) {
        // SAFETY: see the type's Note (validity); volatile: the guest reads it.
        unsafe { (self.counts as *mut ExitCounts).write_volatile(*counts) };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hv_core::GuestRange;
    use hv_core::layout::{MemSize, PageSize};

    use super::*;

    fn setup() -> (GuestRam, Layout) {
        let layout = Layout::new(MemSize::Mib2, PageSize::Kib4);
        (GuestRam::new(layout).unwrap(), layout)
    }

    /// What a guest does: bytes at `head % SIZE`, then the new head.
    fn produce(ram: &GuestRam, layout: Layout, head: &mut u64, bytes: &[u8]) {
        let page = layout.hv_page().as_u64();
        for &b in bytes {
            let at = page + CONSOLE_RING_DATA_OFFSET + *head % CONSOLE_RING_SIZE;
            ram.write_range(GuestRange::new(hv_core::Gpa::new(at), 1).unwrap(), &[b]).unwrap();
            *head += 1;
        }
        set_head(ram, layout, *head);
    }

    fn set_head(ram: &GuestRam, layout: Layout, head: u64) {
        let at = layout.hv_page().as_u64() + CONSOLE_RING_CONTROL_OFFSET;
        let range = GuestRange::new(hv_core::Gpa::new(at), 8).unwrap();
        ram.write_range(range, &head.to_le_bytes()).unwrap();
    }

    fn drained(ring: &mut ConsoleRing) -> Result<Vec<u8>, BadHead> {
        let mut out = Vec::new();
        ring.drain(|b| out.extend_from_slice(b)).map(|()| out)
    }

    #[test]
    fn drains_in_order_across_the_wrap() {
        let (ram, layout) = setup();
        let mut ring = ConsoleRing::new(&ram, layout);
        let mut head = 0;
        assert_eq!(drained(&mut ring).unwrap(), b"");
        let first: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        produce(&ram, layout, &mut head, &first);
        assert_eq!(drained(&mut ring).unwrap(), first);
        // 4096 more bytes: a full ring that wraps after 1096.
        let second: Vec<u8> = (0..4096u32).map(|i| (i % 253) as u8).collect();
        produce(&ram, layout, &mut head, &second);
        assert_eq!(drained(&mut ring).unwrap(), second);
        // The guest sees its bytes consumed.
        let mut tail = [0u8; 8];
        let at = layout.hv_page().as_u64() + CONSOLE_RING_CONTROL_OFFSET + 8;
        ram.read_range(GuestRange::new(hv_core::Gpa::new(at), 8).unwrap(), &mut tail).unwrap();
        assert_eq!(u64::from_le_bytes(tail), 7096);
    }

    #[test]
    fn a_bogus_head_is_refused_and_nothing_is_copied() {
        let (ram, layout) = setup();
        let mut ring = ConsoleRing::new(&ram, layout);
        for head in [CONSOLE_RING_SIZE + 1, u64::MAX, 1 << 63] {
            set_head(&ram, layout, head);
            assert_eq!(drained(&mut ring), Err(BadHead { head, tail: 0 }));
        }
        // Exactly a full ring is fine.
        set_head(&ram, layout, CONSOLE_RING_SIZE);
        assert_eq!(drained(&mut ring).unwrap().len(), CONSOLE_RING_SIZE as usize);
        // A head that goes back is refused too.
        set_head(&ram, layout, 5);
        assert_eq!(drained(&mut ring), Err(BadHead { head: 5, tail: CONSOLE_RING_SIZE }));
    }

    #[test]
    fn counts_are_published_in_the_hv_page() {
        let (ram, layout) = setup();
        let ring = ConsoleRing::new(&ram, layout);
        ring.publish(&ExitCounts { total: 7, io_out: 5, other: 2, ..Default::default() });
        let mut words = [0u8; 64];
        let at = layout.hv_page().as_u64() + EXIT_COUNTS_OFFSET;
        ram.read_range(GuestRange::new(hv_core::Gpa::new(at), 64).unwrap(), &mut words).unwrap();
        let word = |i: usize| u64::from_le_bytes(words[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!((word(0), word(2), word(7)), (7, 5, 2));
    }
}
