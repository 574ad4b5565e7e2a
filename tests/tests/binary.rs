//! The `hv-host` binary itself: how it is linked (see `linker/host-cc`).
#![allow(clippy::unwrap_used)]

use hv_tests::hv_host;

/// hv-host is linked static-pie (`linker/host-cc`): no dynamic loader to run at every launch,
/// and still position-independent, so its address is randomised like any PIE.
#[test]
fn hv_host_is_linked_static_pie() {
    let elf = std::fs::read(hv_host()).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    const ET_DYN: u16 = 3;
    const PT_INTERP: u32 = 3;
    assert_eq!(u16_at(16), ET_DYN, "not position-independent");
    let (phoff, phentsize, phnum) = (u64_at(32) as usize, u16_at(54) as usize, u16_at(56));
    let interp = (0..usize::from(phnum)).any(|i| u32_at(phoff + i * phentsize) == PT_INTERP);
    assert!(!interp, "hv-host asks for a dynamic loader (PT_INTERP): linker/host-cc fell back");
}
