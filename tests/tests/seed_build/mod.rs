//! Building the seeds' guests the seeds' own way, and reading `--stats`: shared by the test
//! files that run them (`seeds.rs`, `coalesce.rs`).
#![allow(dead_code, clippy::unwrap_used)] // each test file uses some of these

use std::path::{Path, PathBuf};

pub use hv_tests::{copy_seed, sh};

/// Builds seed 000's guest `<name>.c` with the seed's two commands; returns the image.
pub fn build_seed000(dir: &Path, name: &str) -> PathBuf {
    sh(dir, &format!("gcc -m64 -ffreestanding -fno-pic -c -o {name}.o {name}.c"));
    sh(dir, &format!("ld -T guest.ld {name}.o -o {name}.img"));
    dir.join(format!("{name}.img"))
}

/// Builds seed 002's guest `<name>.c` with the seed's two commands; returns the image.
pub fn build_seed002(dir: &Path, name: &str) -> PathBuf {
    sh(
        dir,
        &format!("gcc -Wall -Wextra -O2 -m64 -ffreestanding -fno-pic -c -o {name}64.o {name}.c"),
    );
    sh(dir, &format!("ld -T guest.ld {name}64.o -o {name}64.img"));
    dir.join(format!("{name}64.img"))
}

/// Builds seed 003's payload (its loader, guest and I/O library) with the seed's commands,
/// with `defines` (e.g. `-DUSE_MMIO`) added to each compile; returns the flat image.
pub fn build_seed003(dir: &Path, defines: &str, name: &str) -> PathBuf {
    let cc = format!("gcc -nostdinc -fno-builtin -ffreestanding {defines}");
    sh(dir, &format!("{cc} -c guest.c -o guest.o"));
    sh(dir, &format!("{cc} -c io.c -o io.o"));
    sh(dir, "gcc -c loader.S -o loader.o");
    sh(dir, "ld -T payload.ld loader.o guest.o io.o -o payload.elf");
    sh(dir, &format!("objcopy -O binary payload.elf {name}"));
    dir.join(name)
}

/// Guest `id`'s counts on the `--stats` line `guest <id> <what>: kind: n, ...`.
pub fn by_kind(stderr: &str, id: u32, what: &str) -> std::collections::BTreeMap<String, u64> {
    let prefix = format!("guest {id} {what}: ");
    let line = stderr.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or("");
    line.split(", ")
        .filter_map(|kv| kv.rsplit_once(": "))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}
