//! Copies the README's library example into the build, so that `tests/readme.rs` compiles it
//! (and runs it): a README that stops compiling fails the tests.

fn main() {
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let block = text
        .split("```rust\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(code, _)| code))
        .find(|code| code.contains("Hypervisor::builder()"))
        .expect("the README has a ```rust block with the library example");
    let out = std::path::Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR"))
        .join("readme_library.rs");
    let wrapped = format!(
        "/// The README's library example, verbatim.\npub fn readme_library_example() -> Result<(), Box<dyn std::error::Error>> {{\n{block}\n    Ok(())\n}}\n"
    );
    std::fs::write(out, wrapped).expect("write OUT_DIR/readme_library.rs");
}
