//! Links every guest in this package as a flat image at address 0 with `linker/guest.ld`, so a
//! plain `cargo build` produces runnable images (`target/<profile>/<name>`), no RUSTFLAGS.

fn main() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../linker/guest.ld");
    let script = script.canonicalize().expect("linker/guest.ld exists");
    // -static drops -pie (otherwise the image is a PIE with unapplied relocations); the rest
    // keeps the C runtime, libc and build-id notes out of the image.
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,--gc-sections",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    println!("cargo:rerun-if-changed={}", script.display());
}
