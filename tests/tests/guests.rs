//! The Rust SDK's conveniences, in flat and ELF builds: the heap (`Vec`, `String`, `format!`,
//! an allocation failure reported like a panic with its size) and the embedded I/O traits on
//! files and the console.
#![allow(clippy::unwrap_used)]

use hv_tests::{Scratch, elf_guest, guest, kvm_or_skip, root, run_in, s};

#[test]
fn the_examples_index_names_every_example_guest_once() {
    let dir = root().join("guest-examples");
    let index = std::fs::read_to_string(dir.join("README.md")).unwrap();
    // The index's rows: "| [`name`](path) | what it does |".
    let mut listed: Vec<String> = index
        .lines()
        .filter_map(|l| l.strip_prefix("| [`"))
        .map(|l| {
            let (name, rest) = l.split_once("`](").unwrap();
            let (path, rest) = rest.split_once(") | ").unwrap();
            assert!(rest.len() > " |".len(), "{name}: no description");
            assert!(dir.join(path).is_file(), "{name}: no file {path}");
            name.to_string()
        })
        .collect();
    let mut present: Vec<String> = Vec::new();
    for (sub, ext) in [("src/bin", ".rs"), ("c", ".c")] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(stem) = name.strip_suffix(ext) {
                present.push(if ext == ".c" { name.clone() } else { stem.to_string() });
            }
        }
    }
    listed.sort_unstable();
    present.sort_unstable();
    assert_eq!(listed, present, "guest-examples/README.md and the example guests differ");
}

#[test]
fn the_heap_gives_vec_string_and_format() {
    let images = [guest("heap"), elf_guest("heap")];
    if !kvm_or_skip("the_heap_gives_vec_string_and_format") {
        return;
    }
    let scratch = Scratch::new("heap");
    for image in &images {
        for (mem, page) in [("2", "4"), ("8", "2")] {
            let r = run_in(scratch.path(), &["-m", mem, "-p", page, "-g", s(image)], b"100000\n");
            assert_eq!(r.code, Some(0), "{r:?}");
            let lines: Vec<&str> = r.stdout.lines().collect();
            assert_eq!(lines[0], "squares: [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]");
            assert_eq!(lines[1], "words: \"heap in a guest\", 11 distinct letters, e x2");
            assert_eq!(lines[2], "box sum 7000, vec sum 100000");
            // The heap is the RAM from the end of .bss to the stack's 64 KiB reserve.
            let total: u64 = lines[3]["heap: ".len()..].split(' ').next().unwrap().parse().unwrap();
            let ram: u64 = mem.parse::<u64>().unwrap() << 20;
            let below_stack = ram - hv_core::layout::RESERVED_SIZE - (64 << 10);
            assert!(total <= below_stack && total > below_stack - (128 << 10), "{total}: {r:?}");
            // 100 000 u32s are in use until the vec is dropped, and given back after.
            let numbers: Vec<u64> =
                lines[3].split([' ', ',']).filter_map(|w| w.parse().ok()).collect();
            let (before, after) = (numbers[1], numbers[2]);
            assert!(before >= 400_000 && after + 400_000 <= before, "{r:?}");
            assert_eq!(&lines[4..], ["allocating 100000 bytes", "got 100000 bytes, last 0xab"]);
        }
    }
}

#[test]
fn an_allocation_that_does_not_fit_is_reported_with_its_size() {
    let images = [guest("heap"), elf_guest("heap")];
    if !kvm_or_skip("an_allocation_that_does_not_fit_is_reported_with_its_size") {
        return;
    }
    let scratch = Scratch::new("heap_oom");
    for image in &images {
        let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", s(image)], b"2000000\n");
        assert_eq!(r.code, Some(1), "{r:?}");
        assert!(r.stdout.ends_with("allocating 2000000 bytes\n"), "{r:?}");
        assert!(
            r.stderr.contains("): panicked: memory allocation of 2000000 bytes failed"),
            "{r:?}"
        );
        // The same request fits in 8 MiB.
        let r = run_in(scratch.path(), &["-m", "8", "-p", "4", "-g", s(image)], b"2000000\n");
        assert_eq!(r.code, Some(0), "{r:?}");
    }
}

#[test]
fn files_and_console_work_through_the_embedded_io_traits() {
    let images = [guest("iotraits"), elf_guest("iotraits")];
    if !kvm_or_skip("files_and_console_work_through_the_embedded_io_traits") {
        return;
    }
    let scratch = Scratch::new("iotraits");
    scratch.write("input.txt", b"alpha\nbeta\n");
    for image in &images {
        let args = ["-m", "2", "-p", "4", "-f", "input.txt", "-g", s(image)];
        let r = run_in(scratch.path(), &args, b"typed line\nsecond\n");
        assert_eq!(r.code, Some(0), "{r:?}");
        let written =
            "alpha\nbeta\ntyped line\nsecond\n11 bytes from input.txt\n18 bytes from stdin\n";
        assert_eq!(String::from_utf8(scratch.read("output.txt.local0")).unwrap(), written);
        assert_eq!(
            r.stdout,
            format!("{written}{} bytes shown\nmissing.txt: NotFound\n", written.len())
        );
        assert_eq!(scratch.read("input.txt"), b"alpha\nbeta\n");
    }
}

#[test]
fn every_file_in_src_bin_is_a_guest_without_a_cargo_toml_entry() {
    let manifest = std::fs::read_to_string(hv_tests::root().join("guest-examples/Cargo.toml"));
    assert!(!manifest.unwrap().contains("[[bin]]"), "examples are found, not listed");
    let dir = hv_tests::root().join("guest-examples/src/bin");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() > 20 && names.contains(&"crash".to_string()), "{names:?}");
    for name in &names {
        // `guest` asserts the image exists; `elf_guest` the same for the ELF build.
        let (flat, elf) = (guest(name), elf_guest(name));
        let magic = |p: &std::path::Path| std::fs::read(p).unwrap()[..4].to_vec();
        assert_eq!(magic(&elf), b"\x7fELF", "{name}");
        assert_ne!(magic(&flat), b"\x7fELF", "{name}: a flat image");
    }
}
