//! The C side of the contract must not drift from hv-core: the checked-in `hv_abi.h` must be
//! exactly what the generator makes of hv-core today, and the linker script's image limit must
//! be the one the host enforces.
#![allow(clippy::unwrap_used)]

use hv_core::layout::{Layout, MemSize, PageSize};
use hv_tests::cheader::{self, HEADER_PATH, REGENERATE};
use hv_tests::root;

#[test]
fn hv_abi_h_matches_hv_core() {
    let path = root().join(HEADER_PATH);
    let expected = cheader::generate();
    if std::env::var_os("HV_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &expected).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let first_difference = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "{HEADER_PATH} is out of date with hv-core (first difference at line {}).\n\
             Regenerate it with:\n    {REGENERATE}",
            first_difference + 1
        );
    }
}

#[test]
fn linker_script_image_limit_matches_layout() {
    const NEEDLE: &str = "ASSERT(_end <= ";
    let script = std::fs::read_to_string(root().join("linker/guest.ld")).unwrap();
    let start =
        script.find(NEEDLE).expect("linker/guest.ld asserts `_end <= LIMIT`") + NEEDLE.len();
    let literal: String =
        script[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let hex = literal
        .strip_prefix("0x")
        .or_else(|| literal.strip_prefix("0X"))
        .unwrap_or_else(|| panic!("the limit in linker/guest.ld is not a hex number: {literal:?}"));
    let limit = u64::from_str_radix(hex, 16).unwrap();
    let max = Layout::new(MemSize::Mib8, PageSize::Kib4).max_image_size();
    assert_eq!(
        limit, max,
        "linker/guest.ld limits images to {limit:#x} but hv-core's largest image is {max:#x}"
    );
}
