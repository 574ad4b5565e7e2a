//! The host's side of a guest's input ring: console input the host puts in the guest's memory
//! for `getchar` and `read` to take without an exit.
//!
//! The protocol, its ordering and what the guest may and may not do are specified in
//! [`hv_core::proto::hv_page`] (the input ring). Here the guest is assumed hostile: the host
//! keeps its own copy of `head` and never reads the page's; the only index it reads is the
//! guest's `tail`, checked against that copy before anything is written or read, and every
//! copy is bounded by the ring's size.

use std::sync::atomic::{Ordering, fence};

use hv_core::layout::Layout;
use hv_core::proto::hv_page::{
    INPUT_RING_CONTROL_OFFSET, INPUT_RING_DATA_OFFSET, INPUT_RING_SIZE, InputRingControl,
};

use crate::memory::GuestRam;

/// A `tail` the guest wrote that cannot be: ahead of what the host put in (`head`), or more
/// than a ring's size behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadTail {
    /// What the guest wrote.
    pub(crate) tail: u64,
    /// What the host has put in.
    pub(crate) head: u64,
}

/// The input ring of one guest, at its host addresses.
///
/// Note (validity): both addresses are inside the guest RAM mapping that `GuestRam` owns; the
/// services that hold this ring also hold that RAM and drop the ring with it. The hv page is
/// 4 KiB aligned, so the control words are aligned. They are kept as integers so the ring stays
/// `Send`, like the console ring.
#[derive(Debug)]
pub(crate) struct InputRing {
    control: usize,
    data: usize,
    /// Bytes put in so far: the host's own copy, the only one it trusts.
    head: u64,
}

impl InputRing {
    /// The ring of the guest whose RAM is `ram`; empty (the RAM is zeroed, so `tail` is 0).
    pub(crate) fn new(ram: &GuestRam, layout: Layout) -> Self {
        let page = ram.host_base() as usize + layout.hv_page().as_u64() as usize;
        InputRing {
            control: page + INPUT_RING_CONTROL_OFFSET as usize,
            data: page + INPUT_RING_DATA_OFFSET as usize,
            head: 0,
        }
    }

    fn control(&self) -> *mut InputRingControl {
        self.control as *mut InputRingControl
    }

    /// The bytes the guest has not taken yet (`head - tail`), checked. Only while the vCPU is
    /// stopped.
    pub(crate) fn unread(&self) -> Result<u64, BadTail> {
        // SAFETY: see the type's Note (validity); volatile: the guest writes it.
        let tail = unsafe { std::ptr::addr_of!((*self.control()).tail).read_volatile() };
        let unread = self.head.wrapping_sub(tail);
        if unread > INPUT_RING_SIZE {
            return Err(BadTail { tail, head: self.head });
        }
        Ok(unread)
    }

    /// Room for more bytes, checked.
    pub(crate) fn room(&self) -> Result<usize, BadTail> {
        // At most INPUT_RING_SIZE, a few KiB.
        Ok((INPUT_RING_SIZE - self.unread()?) as usize)
    }

    /// Puts `bytes` in the ring, after what is there (the caller asked [`InputRing::room`]
    /// first; what does not fit is not written and the count written is returned), then tells
    /// the guest. Only while the vCPU is stopped.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<usize, BadTail> {
        let n = bytes.len().min(self.room()?);
        if n == 0 {
            return Ok(0);
        }
        let size = INPUT_RING_SIZE as usize;
        let start = (self.head % INPUT_RING_SIZE) as usize;
        let first = n.min(size - start);
        // SAFETY: `data` is the ring's pages (see the Note); `start < size`, `first <= size -
        // start` and `n - first <= size`, so both pieces lie inside them. The guest is stopped,
        // so nothing else touches them meanwhile, and `bytes` is host memory, apart from them.
        unsafe {
            let base = self.data as *mut u8;
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(start), first);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first), base, n - first);
        }
        self.head = self.head.wrapping_add(n as u64);
        // Release: the bytes are in place before the guest can see the new `head`.
        fence(Ordering::Release);
        // SAFETY: see the type's Note (validity).
        unsafe { std::ptr::addr_of_mut!((*self.control()).head).write_volatile(self.head) };
        Ok(n)
    }

    /// Takes the next byte the guest has not read, as the guest would (for a raw `in` from
    /// the console port, which must see the ring's bytes first). `None` if the ring is empty
    /// or its `tail` impossible. Only while the vCPU is stopped.
    pub(crate) fn take_byte(&mut self) -> Option<u8> {
        let unread = self.unread().ok()?;
        if unread == 0 {
            return None;
        }
        let tail = self.head - unread;
        let at = (tail % INPUT_RING_SIZE) as usize;
        // SAFETY: `at < INPUT_RING_SIZE`, inside the ring's pages (see the Note); the guest is
        // stopped.
        let byte = unsafe { (self.data as *const u8).add(at).read_volatile() };
        // SAFETY: see the type's Note (validity).
        unsafe { std::ptr::addr_of_mut!((*self.control()).tail).write_volatile(tail + 1) };
        Some(byte)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hv_core::layout::{MemSize, PageSize};
    use hv_core::{Gpa, GuestRange};

    use super::*;

    fn setup() -> (GuestRam, Layout) {
        let layout = Layout::new(MemSize::Mib2, PageSize::Kib4);
        (GuestRam::new(layout).unwrap(), layout)
    }

    fn word(ram: &GuestRam, at: u64) -> u64 {
        let mut w = [0u8; 8];
        ram.read_range(GuestRange::new(Gpa::new(at), 8).unwrap(), &mut w).unwrap();
        u64::from_le_bytes(w)
    }

    fn set_tail(ram: &GuestRam, layout: Layout, tail: u64) {
        let at = layout.hv_page().as_u64() + INPUT_RING_CONTROL_OFFSET + 8;
        ram.write_range(GuestRange::new(Gpa::new(at), 8).unwrap(), &tail.to_le_bytes()).unwrap();
    }

    /// What a guest does: takes `n` bytes at `tail % SIZE`, then moves `tail`.
    fn consume(ram: &GuestRam, layout: Layout, n: u64) -> Vec<u8> {
        let page = layout.hv_page().as_u64();
        let (head, tail) = (
            word(ram, page + INPUT_RING_CONTROL_OFFSET),
            word(ram, page + INPUT_RING_CONTROL_OFFSET + 8),
        );
        assert!(head - tail >= n);
        let mut out = Vec::new();
        for i in tail..tail + n {
            let at = page + INPUT_RING_DATA_OFFSET + i % INPUT_RING_SIZE;
            out.push(ram.read_u8(at).unwrap());
        }
        set_tail(ram, layout, tail + n);
        out
    }

    #[test]
    fn bytes_arrive_in_order_across_the_wrap_and_never_past_the_room() {
        let (ram, layout) = setup();
        let mut ring = InputRing::new(&ram, layout);
        let size = INPUT_RING_SIZE as usize;
        assert_eq!(ring.room(), Ok(size));
        let first: Vec<u8> = (0..size - 100).map(|i| (i % 251) as u8).collect();
        assert_eq!(ring.push(&first), Ok(size - 100));
        assert_eq!(consume(&ram, layout, first.len() as u64), first);
        // A full ring that wraps 100 bytes before its end; one byte more does not fit.
        let second: Vec<u8> = (0..=size).map(|i| (i % 253) as u8).collect();
        assert_eq!(ring.push(&second), Ok(size));
        assert_eq!(ring.room(), Ok(0));
        assert_eq!(ring.push(b"x"), Ok(0));
        // A raw `in` takes the next byte, in order with the guest's own reads.
        assert_eq!(ring.take_byte(), Some(second[0]));
        assert_eq!(consume(&ram, layout, 10), second[1..11]);
        assert_eq!(ring.take_byte(), Some(second[11]));
        assert_eq!(consume(&ram, layout, (size - 12) as u64), second[12..size]);
        assert_eq!(ring.take_byte(), None);
        let head = word(&ram, layout.hv_page().as_u64() + INPUT_RING_CONTROL_OFFSET);
        assert_eq!(head, 2 * INPUT_RING_SIZE - 100);
    }

    #[test]
    fn an_impossible_tail_is_refused_and_nothing_is_written() {
        let (ram, layout) = setup();
        let mut ring = InputRing::new(&ram, layout);
        ring.push(b"abc").unwrap();
        // Ahead of head, or more than a ring behind it (the host's head is 3; the indices
        // wrap, so u64::MAX is 4 behind it, and fine).
        for tail in [4, 1 << 63, 3u64.wrapping_sub(INPUT_RING_SIZE + 1)] {
            set_tail(&ram, layout, tail);
            assert_eq!(ring.room(), Err(BadTail { tail, head: 3 }));
            assert_eq!(ring.push(b"more"), Err(BadTail { tail, head: 3 }));
            assert_eq!(ring.take_byte(), None);
        }
        let head = word(&ram, layout.hv_page().as_u64() + INPUT_RING_CONTROL_OFFSET);
        assert_eq!(head, 3);
        // A guest that rewinds its tail by up to a ring only rereads its own bytes.
        set_tail(&ram, layout, 0);
        assert_eq!(ring.take_byte(), Some(b'a'));
    }
}
