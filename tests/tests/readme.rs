//! The README stays true: every ```rust and ```c block is compiled and run here, and the shell
//! blocks of the guest-writing sections are run as written, their output compared with the
//! ```text block the README shows after them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use hv_tests::{Scratch, elf_guest, guest, hv_host, kvm_or_skip, release_dir, root, run_in, s};

// The library example, extracted by build.rs.
include!(concat!(env!("OUT_DIR"), "/readme_library.rs"));

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The ````lang` blocks of the README, in order.
fn blocks(lang: &str) -> Vec<String> {
    readme()
        .split(&format!("```{lang}\n"))
        .skip(1)
        .map(|rest| rest.split_once("\n```").unwrap().0.to_string() + "\n")
        .collect()
}

/// The first ```` ```lang ```` block after `heading`, and the ```text block right after it.
fn block_after(heading: &str, lang: &str) -> (String, Option<String>) {
    let text = readme();
    let at = text.find(heading).unwrap_or_else(|| panic!("README has {heading:?}"));
    let rest = &text[at..];
    let open = format!("```{lang}\n");
    let start = rest.find(&open).unwrap() + open.len();
    let (code, after) = rest[start..].split_once("\n```\n").unwrap();
    let output = after
        .trim_start()
        .strip_prefix("```text\n")
        .map(|t| t.split_once("\n```").unwrap().0.to_string() + "\n");
    (code.to_string() + "\n", output)
}

/// Copies `from` to `to`, leaving out build output.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" || entry.file_name().to_string_lossy().contains(".local") {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn sh(dir: &Path, script: &str) -> std::process::Output {
    Command::new("sh")
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("HV_GUEST_FORMAT")
        .args(["-e", "-c", script])
        .output()
        .unwrap()
}

#[test]
fn every_rust_and_c_block_is_one_of_those_tested_here() {
    let rust = blocks("rust");
    assert_eq!(rust.len(), 2, "a new ```rust block needs a test in tests/readme.rs");
    assert!(rust[0].contains("#![no_std]") && rust[0].contains("hv_guest::entry!(main)"));
    assert!(rust[1].contains("Hypervisor::builder()"));
    assert_eq!(blocks("c").len(), 1, "a new ```c block needs a test in tests/readme.rs");
}

#[test]
fn the_library_example_compiles_and_runs() {
    let hello = guest("hello");
    if !kvm_or_skip("the_library_example_compiles_and_runs") {
        return;
    }
    let scratch = Scratch::new("readme_library");
    std::fs::copy(&hello, scratch.path().join("hello.img")).unwrap();
    scratch.write("input.txt", b"shared\n");
    // The example names its files relative to the working directory; no other test in this
    // file depends on it.
    let cwd = std::env::current_dir().unwrap();
    std::env::set_current_dir(scratch.path()).unwrap();
    let result = readme_library_example();
    std::env::set_current_dir(cwd).unwrap();
    result.unwrap();
}

#[test]
fn the_rust_guest_example_builds_and_runs() {
    let code = blocks("rust").remove(0);
    let scratch = Scratch::new("readme_rust_guest");
    let dir = scratch.path().join("guest");
    copy_dir(&root().join("guest-template"), &dir);
    std::fs::write(dir.join("src/main.rs"), code).unwrap();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let sdk = format!("path = {:?}", s(&root().join("guest-sdk")));
    std::fs::write(dir.join("Cargo.toml"), manifest.replace("path = \"../guest-sdk\"", &sdk))
        .unwrap();
    let target = release_dir().parent().unwrap().join("readme-guest");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("HV_GUEST_FORMAT")
        .args(["build", "--release", "--offline"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if !kvm_or_skip("the_rust_guest_example_builds_and_runs") {
        return;
    }
    let image = target.join("release/my-guest");
    let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", s(&image), s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["hello from guest 0", "hello from guest 1"]);
    assert_eq!(scratch.read("notes.txt.local0"), b"written by guest 0\n");
    assert_eq!(scratch.read("notes.txt.local1"), b"written by guest 1\n");
}

#[test]
fn the_c_example_builds_with_the_readme_commands_and_runs() {
    let (commands, _) = block_after("### In C", "sh");
    assert!(commands.starts_with("gcc ") && commands.contains("\nld -T linker/guest.ld "));
    let scratch = Scratch::new("readme_c");
    std::fs::write(scratch.path().join("guest.c"), blocks("c").remove(0)).unwrap();
    for dir in ["guest-sdk", "linker"] {
        std::os::unix::fs::symlink(root().join(dir), scratch.path().join(dir)).unwrap();
    }
    let out = sh(scratch.path(), &commands);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Not a warning from gcc or ld, with either linker script (ld used to warn about an RWX
    // segment in the ELF one).
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "warnings from the README's commands");
    let elf = commands.replace("linker/guest.ld", "linker/guest-elf.ld").replace(".img", ".elf");
    let out = sh(scratch.path(), &elf);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "warnings with linker/guest-elf.ld");
    if !kvm_or_skip("the_c_example_builds_with_the_readme_commands_and_runs") {
        return;
    }
    let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", "guest.img"], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "wrote 21 bytes to notes.txt: written by C guest 0\n");
    assert_eq!(scratch.read("notes.txt.local0"), b"written by C guest 0\n");
}

#[test]
fn the_guest_in_its_own_crate_section_runs_as_written() {
    let (script, output) = block_after("### A guest in its own crate", "sh");
    let host = hv_host();
    if !kvm_or_skip("the_guest_in_its_own_crate_section_runs_as_written") {
        return;
    }
    let scratch = Scratch::new("readme_template");
    std::os::unix::fs::symlink(root(), scratch.path().join("hv")).unwrap();
    // The README runs the host from hv's own target directory; a test build may use another.
    let script = script.replace("../hv/target/release/hv-host", s(&host));
    let out = sh(scratch.path(), &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, output.unwrap());
    let written = std::fs::read(scratch.path().join("my-guest/greeting.txt.local0")).unwrap();
    assert_eq!(written, b"Nice to meet you, Ada (1 word(s))\n");
}

/// Runs `args` from the workspace root, as the README does, if the test build's images are where
/// the README says (`target/release`, `target/elf-guests/release`).
fn run_from_root(args: &[&str]) -> Option<hv_tests::Run> {
    (release_dir() == root().join("target/release")).then(|| run_in(&root(), args, b""))
}

#[test]
fn the_failure_reports_read_as_shown() {
    let images =
        [guest("fault"), guest("panic"), guest("status"), guest("progress"), elf_guest("crash")];
    if !kvm_or_skip("the_failure_reports_read_as_shown") {
        return;
    }
    let (shown, _) = block_after("### Exit statuses", "text");
    let args = ["-m", "2", "-p", "4", "--timeout", "2", "-g"];
    let names = [
        "target/release/fault",
        "target/release/panic",
        "target/release/status",
        "target/release/progress",
    ];
    if let Some(r) = run_from_root(&[&args[..], &names[..]].concat()) {
        assert_eq!(r.stderr, shown, "{images:?}");
    }
    let (_, shown) = block_after("The Rust examples\nas ELF images", "sh");
    if let Some(r) = run_from_root(&["-m", "2", "-p", "4", "-g", "target/elf-guests/release/crash"])
    {
        let shown = shown.unwrap();
        let (out, err) = shown.split_once('\n').unwrap();
        assert_eq!(r.stdout, format!("{out}\n"));
        assert_eq!(r.stderr, err);
    }
}
