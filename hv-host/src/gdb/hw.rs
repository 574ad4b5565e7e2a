//! Breakpoints of the 16- and 32-bit modes: the CPU's four execute breakpoints (DR0-DR3), set
//! through `KVM_SET_GUEST_DEBUG`.
//!
//! Why not `int3` as in long mode: those guests run in ring 0, where our KVM (PVM) emulates
//! every instruction, and its emulator cannot take an `int3` there: in protected mode (and in
//! paged 32-bit mode, also ring 0) the guest ends with `KVM_EXIT_INTERNAL_ERROR`, whether the
//! `int3` goes to the guest's IDT or KVM is asked to intercept it (`KVM_GUESTDBG_USE_SW_BP`).
//! Execute breakpoints in the debug registers, on the other hand, stop the guest with
//! `KVM_EXIT_DEBUG` before the instruction in every one of these modes, touch neither the
//! guest's code nor its stack, and do not depend on the guest keeping hv's IDT. So gdb's
//! breakpoints there, `break` and `hbreak` alike, are these four (gdb's `next` and `finish`
//! take one of them while they run). Data watchpoints in the same registers never fire on this
//! KVM (measured), so watchpoints are emulated by single steps in every mode (see `watch`).
//!
//! The addresses are linear: in real mode CS * 16 + IP, the address gdb is given as the
//! program counter (see `regs`).

/// How many breakpoints the CPU has.
pub(crate) const SLOTS: usize = 4;

/// DR6's bits for the four breakpoints.
const DR6_HITS: u64 = 0xF;
/// DR6.BS: the trap of a single step.
pub(crate) const DR6_STEP: u64 = 1 << 14;

/// Which of gdb's requests a breakpoint answers: what gdb is told when it is hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `break` (gdb's `Z0`).
    Software,
    /// `hbreak` (`Z1`).
    Hardware,
}

/// The four debug-register breakpoints.
#[derive(Debug, Default)]
pub(crate) struct HwBreakpoints {
    slots: [Option<(u64, Kind)>; SLOTS],
}

impl HwBreakpoints {
    /// Sets a breakpoint at `addr`; false if all four are in use. Setting one again (as
    /// `break` and `hbreak` at one address do) is harmless: the first kind stays.
    pub(crate) fn insert(&mut self, addr: u64, kind: Kind) -> bool {
        if self.slots.iter().flatten().any(|&(a, _)| a == addr) {
            return true;
        }
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some((addr, kind));
                true
            }
            None => false,
        }
    }

    /// Removes the breakpoint at `addr`; false if there was none.
    pub(crate) fn remove(&mut self, addr: u64) -> bool {
        match self.slots.iter_mut().find(|s| s.is_some_and(|(a, _)| a == addr)) {
            Some(slot) => {
                *slot = None;
                true
            }
            None => false,
        }
    }

    /// Removes them all (at detach).
    pub(crate) fn clear(&mut self) {
        self.slots = Default::default();
    }

    /// True if none is set.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// The breakpoint a `KVM_EXIT_DEBUG` with this DR6 hit, if any.
    pub(crate) fn hit(&self, dr6: u64) -> Option<(u64, Kind)> {
        (0..SLOTS).filter(|i| dr6 & DR6_HITS & (1 << i) != 0).find_map(|i| self.slots[i])
    }

    /// DR0-DR3 and DR7 for `KVM_SET_GUEST_DEBUG`: each slot in use enabled (its local-enable
    /// bit) as a 1-byte execute breakpoint (R/W and LEN 0).
    pub(crate) fn debug_registers(&self) -> ([u64; SLOTS], u64) {
        let mut addrs = [0; SLOTS];
        let mut dr7 = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some((addr, _)) = slot {
                addrs[i] = *addr;
                dr7 |= 1 << (2 * i);
            }
        }
        (addrs, dr7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_slots_and_the_one_hit_is_named() {
        let mut hw = HwBreakpoints::default();
        assert!(hw.is_empty());
        assert_eq!(hw.debug_registers(), ([0; 4], 0));
        for (i, addr) in [0x1000u64, 0x1005, 0x2000, 0x10_0000].into_iter().enumerate() {
            let kind = if i == 1 { Kind::Hardware } else { Kind::Software };
            assert!(hw.insert(addr, kind));
        }
        assert!(hw.insert(0x1005, Kind::Software), "already there");
        assert!(!hw.insert(0x3000, Kind::Software), "a fifth");
        assert_eq!(hw.debug_registers(), ([0x1000, 0x1005, 0x2000, 0x10_0000], 0x55));
        assert_eq!(hw.hit(0xFFFF_0FF2), Some((0x1005, Kind::Hardware)));
        assert_eq!(hw.hit(0xFFFF_4FF0), None, "a step's trap hits no breakpoint");
        assert!(hw.remove(0x1005));
        assert!(!hw.remove(0x1005));
        assert_eq!(hw.hit(2), None);
        assert_eq!(hw.debug_registers(), ([0x1000, 0, 0x2000, 0x10_0000], 0x51));
        assert!(hw.insert(0x3000, Kind::Software), "the freed slot");
        assert_eq!(hw.debug_registers().0[1], 0x3000);
        hw.clear();
        assert!(hw.is_empty());
    }
}
