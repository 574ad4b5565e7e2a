//! C guests built with `guest-sdk/include/hv_guest.h` and exactly the two commands users run:
//!
//! ```text
//! gcc -m64 -ffreestanding -fno-pic -nostdlib -fno-stack-protector -O2 -I guest-sdk/include -c guest.c -o guest.o
//! ld -T linker/guest.ld guest.o -o guest.img
//! ```
//!
//! Every guest is built at `-O2` and at `-O0` and run at both: `-O2` is where gcc inlines the
//! header and may reorder mailbox accesses around the `out`, `-O0` is where every `static inline`
//! function becomes a real local function and nothing is folded away.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hv_tests::{Run, Scratch, build_c, kvm_or_skip, root, run_in, s};

/// The optimisation levels every C guest is built and run at.
const OPT_LEVELS: [&str; 2] = ["-O2", "-O0"];

/// Builds `guest-examples/c/<name>.c` at every optimisation level: `(level, image)` pairs.
fn build_example(name: &str, dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let source = root().join(format!("guest-examples/c/{name}.c"));
    OPT_LEVELS.map(|opt| (opt, build_c(std::slice::from_ref(&source), opt, dir, name))).to_vec()
}

/// Writes `source` into `dir` as `<name>.c` and builds it at every optimisation level.
fn build_source(name: &str, source: &str, dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let path = dir.join(format!("{name}.c"));
    std::fs::write(&path, source).unwrap();
    OPT_LEVELS.map(|opt| (opt, build_c(std::slice::from_ref(&path), opt, dir, name))).to_vec()
}

/// Builds `source` as guest `name` at every optimisation level and checks that each image exits
/// with status 0 and nothing on stderr (the C program returns non-zero on a failed check).
fn exits_cleanly(name: &str, test: &str, source: &str) {
    let scratch = Scratch::new(name);
    let images = build_source(name, source, scratch.path());
    if !kvm_or_skip(test) {
        return;
    }
    for (opt, image) in &images {
        let r = run_one(scratch.path(), image, &[], b"");
        assert_eq!(r.code, Some(0), "{opt}: {r:?}");
        assert_eq!(r.stderr, "", "{opt}");
    }
}

/// Runs one guest image with 2 MiB of RAM and 4 KiB pages in `dir`.
fn run_one(dir: &Path, image: &Path, extra: &[&str], stdin: &[u8]) -> Run {
    let mut args = vec!["-m", "2", "-p", "4", "-g", s(image)];
    args.extend_from_slice(extra);
    run_in(dir, &args, stdin)
}

#[test]
fn c_hello_three_guests() {
    let scratch = Scratch::new("c_hello_three_guests");
    let images = build_example("hello", scratch.path());
    if !kvm_or_skip("c_hello_three_guests") {
        return;
    }
    for (opt, image) in &images {
        let img = s(image);
        let r = run_in(scratch.path(), &["-m", "4", "-p", "2", "-g", img, img, img], b"");
        assert_eq!(r.code, Some(0), "{opt}: {r:?}");
        assert_eq!(r.stderr, "", "{opt}");
        // The guests run concurrently, so their lines come in any order.
        let mut lines: Vec<&str> = r.stdout.lines().collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            ["Hello from C guest 0!", "Hello from C guest 1!", "Hello from C guest 2!"],
            "{opt}: {r:?}"
        );
        assert!(r.stdout.ends_with('\n'), "{opt}: {r:?}");
    }
}

#[test]
fn c_echo_upper_cases_until_end_of_input() {
    let scratch = Scratch::new("c_echo");
    let images = build_example("echo", scratch.path());
    if !kvm_or_skip("c_echo_upper_cases_until_end_of_input") {
        return;
    }
    for (opt, image) in &images {
        let r = run_one(scratch.path(), image, &[], b"abc\nxyz");
        assert_eq!(r.code, Some(0), "{opt}: {r:?}");
        assert_eq!(r.stdout, "ABC\nXYZ", "{opt}");
        assert_eq!(r.stderr, "", "{opt}");
    }
}

#[test]
fn c_cat_copies_its_input_through_the_input_ring() {
    let scratch = Scratch::new("c_cat");
    let images = build_example("cat", scratch.path());
    if !kvm_or_skip("c_cat_copies_its_input_through_the_input_ring") {
        return;
    }
    // 1 MiB: 32 input rings, 64 writes of 16 KiB; getchar's C twin is tested by echo.
    let text: String = (0..16_384).map(|i| format!("{i:063}\n")).collect();
    for (opt, image) in &images {
        let r = run_one(scratch.path(), image, &["--stats"], text.as_bytes());
        assert_eq!(r.code, Some(0), "{opt}: {}", r.stderr);
        assert!(r.stdout == text, "{opt}: cat's output is not its input");
        let row = r.stderr.lines().nth(1).unwrap();
        let exits: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(exits <= 32 + 64 + 10, "{opt}: {exits} exits: {}", r.stderr);
    }
}

#[test]
fn c_seed_style_guest_runs_unchanged() {
    let scratch = Scratch::new("c_seed_style");
    let images = build_example("seed_style", scratch.path());
    if !kvm_or_skip("c_seed_style_guest_runs_unchanged") {
        return;
    }
    for (opt, image) in &images {
        let r = run_one(scratch.path(), image, &[], b"");
        assert_eq!(r.code, Some(0), "{opt}: {r:?}");
        assert_eq!(r.stdout, "seed\n", "{opt}");
        assert_eq!(r.stderr, "", "{opt}");
    }
}

#[test]
fn c_main_return_value_is_the_exit_status() {
    let scratch = Scratch::new("c_exit_status");
    let source = "#include \"hv_guest.h\"\n\nint main(void)\n{\n    return 7;\n}\n";
    let images = build_source("status7", source, scratch.path());
    if !kvm_or_skip("c_main_return_value_is_the_exit_status") {
        return;
    }
    for (opt, image) in &images {
        let r = run_one(scratch.path(), image, &[], b"");
        assert_eq!(r.code, Some(1), "{opt}: {r:?}");
        assert!(r.stderr.contains("guest 0 ("), "{opt}: {r:?}");
        assert!(r.stderr.contains("exited with status 7"), "{opt}: {r:?}");
    }
}

/// Two translation units that both include the header: its `_start`, `__hv_start`
/// and mem* are defined in each, and must link (weak) into one guest whose start-up works
/// whichever object comes first.
#[test]
fn c_header_included_by_two_translation_units() {
    let scratch = Scratch::new("c_two_units");
    let main_c = scratch.write(
        "two_main.c",
        br#"#include "hv_guest.h"

const char *greeting(void);

int main(void)
{
    return puts(greeting()) < 0 ? 100 : guest_id();
}
"#,
    );
    let other_c = scratch.write(
        "two_other.c",
        br#"#include "hv_guest.h"

const char *greeting(void)
{
    return "hello from two units";
}
"#,
    );
    let orders =
        [("main-first", [main_c.clone(), other_c.clone()]), ("other-first", [other_c, main_c])];
    let mut images = Vec::new();
    for (order, sources) in &orders {
        for opt in OPT_LEVELS {
            images.push((*order, opt, build_c(sources, opt, scratch.path(), order)));
        }
    }
    if !kvm_or_skip("c_header_included_by_two_translation_units") {
        return;
    }
    for (order, opt, image) in &images {
        let r = run_one(scratch.path(), image, &[], b"");
        assert_eq!(r.code, Some(0), "{order} {opt}: {r:?}");
        assert_eq!(r.stdout, "hello from two units\n", "{order} {opt}");
        assert_eq!(r.stderr, "", "{order} {opt}");
    }
}

/// The header's hand-written mem* functions, overlapping memmove in both directions included.
/// The guest returns the number of the first check that fails.
#[test]
fn c_mem_functions() {
    let source = r#"#include "hv_guest.h"

int main(void)
{
    char a[32], b[32];
    memset(a, 'x', sizeof a);
    for (unsigned i = 0; i < sizeof a; i++)
        if (a[i] != 'x')
            return 1;
    memcpy(b, "0123456789", 11);
    if (memcmp(b, "0123456789", 11) != 0)
        return 2;
    if (memcmp("abc", "abd", 3) >= 0 || memcmp("abd", "abc", 3) <= 0)
        return 3;
    memmove(b + 2, b, 10); /* dst above src: copies backwards */
    if (memcmp(b, "010123456789", 12) != 0)
        return 4;
    memmove(b, b + 2, 10); /* dst below src: copies forwards */
    if (memcmp(b, "0123456789", 10) != 0)
        return 5;
    if (memcmp(a, b, 0) != 0)
        return 6;
    return 0;
}
"#;
    exits_cleanly("mem", "c_mem_functions", source);
}

/// An invalid mode or a NULL argument is refused by the header itself, without a call to the
/// host (so this runs before the host's file service exists).
#[test]
fn c_fopen_rejects_invalid_modes_locally() {
    let source = r#"#include "hv_guest.h"

int main(void)
{
    static const char *const bad[] = {"", "x", "rw", "r+", "wa", "bb", "rbb"};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (fopen("input.txt", bad[i]) != -HV_EINVAL)
            return 1 + (int)i;
    if (fopen(NULL, "r") != -HV_EINVAL || fopen("input.txt", NULL) != -HV_EINVAL)
        return 20;
    return 0;
}
"#;
    exits_cleanly("fopen_modes", "c_fopen_rejects_invalid_modes_locally", source);
}

#[test]
fn c_files_copies_upper_cased() {
    let build = Scratch::new("c_files_build");
    let images = build_example("files", build.path());
    if !kvm_or_skip("c_files_copies_upper_cased") {
        return;
    }
    // More than two 4 KiB chunks, the last one partial.
    let input: Vec<u8> = b"The quick brown fox jumps over 13 lazy dogs.\n"
        .iter()
        .copied()
        .cycle()
        .take(10_000)
        .collect();
    for (opt, image) in &images {
        let scratch = Scratch::new(&format!("c_files{opt}"));
        scratch.write("input.txt", &input);
        let r = run_one(scratch.path(), image, &["-f", "input.txt"], b"");
        assert_eq!(r.code, Some(0), "{opt}: {r:?}");
        assert_eq!(r.stdout, "copied 10000 bytes\n", "{opt}");
        assert_eq!(r.stderr, "", "{opt}");
        // A file a guest creates is local to it: the host names it with the seed's
        // ".local<ID>" suffix, and leaves the shared input untouched.
        assert_eq!(scratch.read("output.txt.local0"), input.to_ascii_uppercase(), "{opt}");
        assert_eq!(scratch.read("input.txt"), input, "{opt}");
    }
}

/// The header's file calls report the host's errors as `-HV_E*`: a missing file, a name one byte
/// over the limit (sent with its bounded length, refused by the host), and a bad fd.
#[test]
fn c_file_errors_are_negated_codes() {
    let source = r#"#include "hv_guest.h"

int main(void)
{
    static char long_name[HV_MAX_NAME + 2];
    memset(long_name, 'n', HV_MAX_NAME + 1);
    if (fopen("missing.txt", "r") != -HV_ENOENT)
        return 1;
    if (fopen(long_name, "w") != -HV_ENAMETOOLONG)
        return 2;
    if (fclose(5) != -HV_EBADF)
        return 3;
    char byte;
    if (fread(-1, &byte, 1) != -HV_EBADF)
        return 4;
    return 0;
}
"#;
    exits_cleanly("file_errors", "c_file_errors_are_negated_codes", source);
}
