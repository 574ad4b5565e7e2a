//! Links the guest as an hv image with the arguments the SDK publishes (its build script knows
//! where its linker script is): nothing to copy, nothing to change here.
//! `HV_GUEST_FORMAT=elf cargo build --release` makes an ELF image with symbols instead.

fn main() {
    let args = std::env::var("DEP_HV_GUEST_LINK_ARGS").expect("guest-sdk is a dependency");
    for arg in args.split('\t') {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
