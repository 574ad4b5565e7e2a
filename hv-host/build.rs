//! Asks `linker/host-cc` (the workspace's host linker, `.cargo/config.toml`) to link the
//! hv-host binary static-pie: it then starts about 0.3 ms sooner (no dynamic loader, no
//! libgcc_s). Built with any other linker, the binary is linked as usual.

fn main() {
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let ours = std::env::var("RUSTC_LINKER").is_ok_and(|l| l.ends_with("linker/host-cc"));
    if ours {
        println!("cargo:rustc-link-arg-bin=hv-host=-hv-static");
    }
}
