//! The heap (cargo feature `heap`): a global allocator over the guest's free RAM, so that
//! `alloc`'s `Vec`, `String`, `Box` and `format!` work.
//!
//! The heap is the RAM between the end of `.bss` and the stack's reserve: from `__bss_end`
//! (rounded up to 16 bytes) to `stack_top - MIN_STACK`, both known from the boot info the host
//! gives (`BootInfo::stack_top`) and [`hv_core::layout::MIN_STACK`], so the heap never reaches
//! the stack's guaranteed 64 KiB nor the host's reserved region above it. With 2 MiB of RAM that
//! is about 1.8 MiB less the image.
//!
//! The allocator is `linked_list_allocator`'s (a first-fit free list, widely used in `no_std`
//! kernels), not one of our own. An allocation that does not fit ends the guest like a panic,
//! with the size asked for: `panicked: memory allocation of 8388608 bytes failed`.
//!
//! ```ignore
//! extern crate alloc;
//! use alloc::{format, string::String, vec::Vec};
//!
//! let squares: Vec<u64> = (1..=10).map(|i| i * i).collect();
//! let text: String = format!("{squares:?}");
//! ```

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

unsafe extern "C" {
    static __bss_end: u8;
}

/// The heap's address range: from the end of `.bss` to the stack's reserve.
pub fn range() -> core::ops::Range<usize> {
    let start = (core::ptr::addr_of!(__bss_end) as usize).next_multiple_of(16);
    let end = crate::boot_info().stack_top.saturating_sub(hv_core::layout::MIN_STACK) as usize;
    start..end.max(start)
}

/// Hands the free RAM to the allocator; called once by `_start`, before `main`.
pub(crate) fn init() {
    let range = range();
    // Too small to hold the allocator's first free-list entry: leave the heap empty, so that
    // every allocation fails (and is reported) instead of `init` panicking before `main`.
    if range.len() < 64 {
        return;
    }
    // SAFETY: the range is guest RAM that nothing else uses: above every section of the image
    // (`__bss_end`), below the stack's guaranteed reserve, and `init` runs once, before `main`.
    unsafe { HEAP.lock().init(range.start as *mut u8, range.len()) }
}

/// Bytes the heap manages in all.
pub fn size() -> usize {
    HEAP.lock().size()
}

/// Bytes not allocated now.
pub fn free() -> usize {
    HEAP.lock().free()
}
