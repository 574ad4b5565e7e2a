//! `guest-template/` is a Rust guest in its own crate: copied elsewhere, with the one edit the
//! README asks for (where the SDK lives), it builds with `cargo build --release --offline` (its
//! lockfile pins the workspace's versions, so nothing is fetched) and runs under hv-host.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use hv_tests::{Scratch, kvm_or_skip, root, run_in, s};

/// Copies `from` to `to`, leaving out build output and local files.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().contains(".local") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn the_template_builds_offline_in_its_own_folder_and_runs() {
    let scratch = Scratch::new("template");
    let crate_dir = scratch.path().join("my-guest");
    copy_dir(&root().join("guest-template"), &crate_dir);
    assert!(crate_dir.join("Cargo.lock").exists(), "the template ships its lockfile");
    // The one edit: where the SDK lives.
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let sdk = root().join("guest-sdk");
    let edited = manifest.replace("path = \"../guest-sdk\"", &format!("path = {:?}", s(&sdk)));
    assert_ne!(manifest, edited, "the template names ../guest-sdk once");
    std::fs::write(crate_dir.join("Cargo.toml"), edited).unwrap();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&crate_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("HV_GUEST_FORMAT")
        .args(["build", "--release", "--offline"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let image = crate_dir.join("target/release/my-guest");
    assert!(image.exists());
    if !kvm_or_skip("the_template_builds_offline_in_its_own_folder_and_runs") {
        return;
    }
    let args = ["-m", "2", "-p", "4", "-g", s(&image)];
    let r = run_in(scratch.path(), &args, b"Ada Lovelace\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    let greeting = "Nice to meet you, Ada Lovelace (2 word(s))\n";
    assert_eq!(
        r.stdout,
        format!(
            "Hello from my guest, guest 0!\n{greeting}wrote greeting.txt (on the host: greeting.txt.local0)\n"
        )
    );
    assert_eq!(String::from_utf8(scratch.read("greeting.txt.local0")).unwrap(), greeting);
}

/// `(name, version)` of every package in a Cargo.lock.
fn locked(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("[[package]]")
        .skip(1)
        .map(|p| {
            let field = |key: &str| {
                p.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap()
            };
            (field("name"), field("version"))
        })
        .collect()
}

#[test]
fn the_template_pins_the_workspace_versions() {
    let workspace = locked(&root().join("Cargo.lock"));
    let template = locked(&root().join("guest-template/Cargo.lock"));
    assert!(template.iter().any(|(n, _)| n == "linked_list_allocator"), "{template:?}");
    for package in &template {
        if package.0 == "my-guest" {
            continue;
        }
        // An offline build of the template finds exactly what building hv fetched.
        assert!(
            workspace.contains(package),
            "guest-template/Cargo.lock has {package:?}, hv's Cargo.lock does not: copy hv's \
             Cargo.lock into guest-template/ and build it once to trim it"
        );
    }
}
