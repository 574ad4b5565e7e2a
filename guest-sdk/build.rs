//! Tells every guest package how to link an hv image, so that no guest copies a linker path.
//!
//! A build script's `cargo:KEY=VALUE` lines reach the build scripts of the packages that depend
//! on this one as `DEP_HV_GUEST_KEY` (this package `links = "hv_guest"`). The SDK publishes the
//! complete link arguments as `DEP_HV_GUEST_LINK_ARGS` (tab-separated), with the absolute path of
//! the linker script next to this package; a guest's `build.rs` passes them on:
//!
//! ```ignore
//! fn main() {
//!     let args = std::env::var("DEP_HV_GUEST_LINK_ARGS").expect("guest-sdk is a dependency");
//!     for arg in args.split('\t') {
//!         println!("cargo:rustc-link-arg-bins={arg}");
//!     }
//! }
//! ```
//!
//! `HV_GUEST_FORMAT=elf` in the environment of the build makes ELF images (`linker/guest-elf.ld`:
//! loadable segments from 0x1000, entered at `_start`, with a symbol table that `hv-host` names
//! faulting functions with); the default is the flat image of `linker/guest.ld`.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=HV_GUEST_FORMAT");
    let script = match std::env::var("HV_GUEST_FORMAT").as_deref() {
        Ok("elf") => "guest-elf.ld",
        Ok("flat") | Err(_) => "guest.ld",
        Ok(other) => panic!("HV_GUEST_FORMAT={other}: use flat (the default) or elf"),
    };
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = PathBuf::from(dir).join("../linker").join(script);
    let script = script
        .canonicalize()
        .unwrap_or_else(|e| panic!("the linker script {} is missing: {e}", script.display()));
    println!("cargo:rerun-if-changed={}", script.display());
    // -static drops -pie (otherwise the image is a PIE with unapplied relocations); the rest
    // keeps the C runtime, libc and build-id notes out of the image.
    let script_arg = format!("-Wl,-T,{}", script.display());
    let args = [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,--gc-sections",
        &script_arg,
    ];
    println!("cargo:link_args={}", args.join("\t"));
}
