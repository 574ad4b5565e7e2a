//! Links the guest as an hv image with the arguments the SDK publishes, like
//! `guest-template/build.rs`: its own `.start` section goes first in `linker/guest.ld`.

fn main() {
    let args = std::env::var("DEP_HV_GUEST_LINK_ARGS").expect("guest-sdk is a dependency");
    for arg in args.split('\t') {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
