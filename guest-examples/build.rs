//! Links every guest in this package as an hv image with the arguments the SDK publishes (see
//! `guest-sdk/build.rs`), so a plain `cargo build` produces runnable images
//! (`target/<profile>/<name>`), no RUSTFLAGS. `HV_GUEST_FORMAT=elf` makes ELF images instead.

fn main() {
    let args = std::env::var("DEP_HV_GUEST_LINK_ARGS").expect("guest-sdk is a dependency");
    for arg in args.split('\t') {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
