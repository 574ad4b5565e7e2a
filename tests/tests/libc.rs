//! The C basics of `hv_libc.h`: every printf conversion, flag, width, precision and length
//! modifier checked against the exact text C gives; snprintf's truncation and result; the
//! string.h functions; malloc, calloc, realloc and free over the guest's free RAM; and printf's
//! buffering (one exit per line, flushed before input and at exit). Built at -O2 and -O0.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use hv_tests::{Scratch, build_c, kvm_or_skip, root, run_in, s};

/// Each case: a format and its arguments as C source, and what C prints for it.
const CASES: &[(&str, &str)] = &[
    (r#""%d", 0"#, "0"),
    (r#""%d", -2147483647 - 1"#, "-2147483648"),
    (r#""%i", 123"#, "123"),
    (r#""%u", 4294967295u"#, "4294967295"),
    (r#""%x", 0xdeadbeefu"#, "deadbeef"),
    (r#""%X", 0xdeadbeefu"#, "DEADBEEF"),
    (r#""%o", 8"#, "10"),
    (r#""%c%c", 'h', 'v'"#, "hv"),
    (r#""%s", "text""#, "text"),
    (r#""%s", (char *)0"#, "(null)"),
    (r#""%p", (void *)0x1234"#, "0x1234"),
    (r#""%ld", -9000000000L"#, "-9000000000"),
    (r#""%lld", -9223372036854775807LL - 1"#, "-9223372036854775808"),
    (r#""%llu", 18446744073709551615ULL"#, "18446744073709551615"),
    (r#""%lx", 0xfedcba9876543210UL"#, "fedcba9876543210"),
    (r#""%zu", (size_t)12345"#, "12345"),
    (r#""%zx", (size_t)255"#, "ff"),
    (r#""%hhd", 300"#, "44"),
    (r#""%hd", 70000"#, "4464"),
    (r#""[%6d]", 42"#, "[    42]"),
    (r#""[%-6d]", 42"#, "[42    ]"),
    (r#""[%06d]", -42"#, "[-00042]"),
    (r#""[%-06d]", 42"#, "[42    ]"),
    (r#""[%.4d]", 42"#, "[0042]"),
    (r#""[%8.4d]", -42"#, "[   -0042]"),
    (r#""[%08.3d]", 7"#, "[     007]"),
    (r#""[%.0d]", 0"#, "[]"),
    (r#""[%08x]", 0xbeefu"#, "[0000beef]"),
    (r#""[%-8X]", 0xbeefu"#, "[BEEF    ]"),
    (r#""[%5s]", "ab""#, "[   ab]"),
    (r#""[%-5s]", "ab""#, "[ab   ]"),
    (r#""[%.2s]", "abcdef""#, "[ab]"),
    (r#""[%5.1s]", "xyz""#, "[    x]"),
    (r#""[%*d]", 5, 1"#, "[    1]"),
    (r#""[%-*d]", 3, 1"#, "[1  ]"),
    (r#""[%.*s]", 3, "abcdef""#, "[abc]"),
    (r#""[%3c]", 'c'"#, "[  c]"),
    (r#""[%-3c]", 'c'"#, "[c  ]"),
    (r#""[%18p]", (void *)0xabc"#, "[             0xabc]"),
    (r#""100%%""#, "100%"),
    (r#""%s=%d, %s=%x", "a", 1, "b", 11u"#, "a=1, b=b"),
];

/// The guest: every case through snprintf (checking its result is the length) and printf.
fn source() -> String {
    let mut c = String::from(
        r#"#include "hv_guest.h"
static int check(const char *buf, int n) {
    if (n != (int)strlen(buf)) { printf("snprintf returned %d for %s\n", n, buf); return 1; }
    return 0;
}
int main(void) {
    char buf[128];
    int bad = 0;
"#,
    );
    for (args, _) in CASES {
        c.push_str(&format!(
            "    bad |= check(buf, snprintf(buf, sizeof buf, {args}));\n    printf(\"%s|\", buf);\n    printf({args});\n    printf(\"\\n\");\n"
        ));
    }
    c.push_str(
        r#"    /* Truncation: at most size - 1 bytes and a NUL; the result is the full length. */
    char small[6];
    int n = snprintf(small, sizeof small, "%s-%d", "abcdef", 12345);
    printf("truncated %s %d\n", small, n);
    n = snprintf(small, 0, "%d", 123456);
    printf("size 0 gives %d, %c\n", n, small[0]);
    return bad;
}
"#,
    );
    c
}

fn build(scratch: &Scratch, name: &str, source: &str) -> Vec<(&'static str, PathBuf)> {
    let path = scratch.path().join(format!("{name}.c"));
    std::fs::write(&path, source).unwrap();
    ["-O2", "-O0"]
        .map(|opt| (opt, build_c(std::slice::from_ref(&path), opt, scratch.path(), name)))
        .to_vec()
}

#[test]
fn printf_and_snprintf_convert_exactly_like_c() {
    let scratch = Scratch::new("libc_printf");
    let images = build(&scratch, "printf", &source());
    if !kvm_or_skip("printf_and_snprintf_convert_exactly_like_c") {
        return;
    }
    let mut expected: String = CASES.iter().map(|(_, out)| format!("{out}|{out}\n")).collect();
    expected.push_str("truncated abcde 12\nsize 0 gives 6, a\n");
    for (opt, image) in &images {
        let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", s(image)], b"");
        assert_eq!(r.code, Some(0), "{opt}: {r:?}");
        let got: Vec<&str> = r.stdout.lines().collect();
        let want: Vec<&str> = expected.lines().collect();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{opt}: case {i}: {:?}", CASES.get(i));
        }
        assert_eq!(got.len(), want.len(), "{opt}: {r:?}");
    }
}

#[test]
fn printf_is_line_buffered_with_one_exit_per_line() {
    let scratch = Scratch::new("libc_flush");
    let source = r#"#include "hv_guest.h"
int main(void) {
    for (int i = 0; i < 3; i++) {
        printf("line %d:", i);
        for (int j = 0; j < 50; j++)
            printf(" %d", j);
        printf("\n");
    }
    printf("name? ");          /* flushed before getchar waits */
    int c = getchar();
    printf("got %c", c);       /* no newline: flushed at exit */
    return 0;
}
"#;
    let images = build(&scratch, "flush", source);
    if !kvm_or_skip("printf_is_line_buffered_with_one_exit_per_line") {
        return;
    }
    for (opt, image) in &images {
        let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(image)], b"Q");
        assert_eq!(r.code, Some(0), "{opt}: {r:?}");
        let numbers: String = (0..50).map(|j| format!(" {j}")).collect();
        let lines: String = (0..3).map(|i| format!("line {i}:{numbers}\n")).collect();
        assert_eq!(r.stdout, format!("{lines}name? got Q"), "{opt}");
        // The lines, the prompt and the last text go into the console ring without an exit
        // (the ABI version is a word in the hv page): the input byte and exit are the only
        // exits for 155 printf calls.
        let row = r.stderr.lines().nth(1).unwrap();
        let exits: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(exits, 2, "{opt}: {}", r.stderr);
    }
}

#[test]
fn malloc_calloc_realloc_and_free_manage_the_free_ram() {
    let scratch = Scratch::new("libc_malloc");
    let source = r#"#include "hv_guest.h"
#define CHECK(c) do { if (!(c)) { printf("failed: %s (line %d)\n", #c, __LINE__); return 1; } } while (0)
int main(void) {
    char *a = malloc(100), *b = malloc(200), *c = malloc(1);
    CHECK(a && b && c);
    CHECK(((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0 && ((uintptr_t)c & 15) == 0);
    CHECK((uintptr_t)a >= (uintptr_t)__bss_end && b >= a + 100 && c >= b + 200);
    memset(a, 'a', 100); memset(b, 'b', 200); *c = 'c';
    free(b);
    char *d = malloc(150);          /* first fit: b's block again */
    CHECK(d == b && a[99] == 'a' && *c == 'c');
    int *z = calloc(1000, sizeof *z);
    CHECK(z);
    for (int i = 0; i < 1000; i++) CHECK(z[i] == 0);
    CHECK(calloc((size_t)-1 / 2, 4) == NULL);  /* the size overflows */
    strcpy(a, "kept by realloc");
    char *e = realloc(a, 5000);
    CHECK(e && strcmp(e, "kept by realloc") == 0);
    CHECK(realloc(e, 10) == e);      /* shrinking keeps the block */
    /* The heap is the RAM from the end of .bss to the stack's reserve, and no more. */
    uint64_t room = hv_boot_info()->stack_top - HV_MIN_STACK - (uintptr_t)__bss_end;
    CHECK(malloc(room) == NULL);
    size_t got = 0;
    void *blocks[200];
    int n = 0;
    for (; n < 200; n++) {
        blocks[n] = malloc(64 * 1024);
        if (!blocks[n]) break;
        memset(blocks[n], n, 64 * 1024);
        got += 64 * 1024;
    }
    CHECK(n < 200 && got + 128 * 1024 > room - 16 * 1024 && got <= room);
    for (int i = 0; i < n; i++) free(blocks[i]);
    free(d); free(c); free(e); free(z);
    void *big = malloc(got);         /* freed neighbours merge into one block again */
    CHECK(big != NULL);
    free(NULL);
    printf("heap ok: %zu KiB in 64 KiB blocks\n", got / 1024);
    return 0;
}
"#;
    let images = build(&scratch, "malloc", source);
    if !kvm_or_skip("malloc_calloc_realloc_and_free_manage_the_free_ram") {
        return;
    }
    for (opt, image) in &images {
        for mem in ["2", "8"] {
            let r = run_in(scratch.path(), &["-m", mem, "-p", "4", "-g", s(image)], b"");
            assert_eq!(r.code, Some(0), "{opt} -m {mem}: {r:?}");
            assert!(r.stdout.starts_with("heap ok: "), "{r:?}");
        }
    }
}

#[test]
fn the_printf_example_prints_what_the_readme_shows() {
    let scratch = Scratch::new("libc_example");
    let source = root().join("guest-examples/c/printf.c");
    let image = build_c(std::slice::from_ref(&source), "-O2", scratch.path(), "printf");
    if !kvm_or_skip("the_printf_example_prints_what_the_readme_shows") {
        return;
    }
    let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stdout,
        "Hello from C guest 0: printf, 2 MiB\n\
         [   42] [42   ] [-0042] [007] [ff] [FF] [10] [z] [he] [   right] [left    ]\n\
         -1234567890123 9223372036854775807 3 18446744073709551615 -5 %\n\
         snprintf has 8 chars (20)\n\
         squares: 0 1 4 9 16 25 36 49 64 81\n\
         hypervisor: strchr visor, strrchr r, strstr visor, cmp 1\n"
    );
}

#[test]
fn translation_units_share_one_printf_buffer_and_one_heap() {
    let scratch = Scratch::new("libc_units");
    let main = scratch.path().join("main.c");
    let other = scratch.path().join("other.c");
    std::fs::write(
        &main,
        r#"#include "hv_guest.h"
char *finish(char *p);
int main(void) {
    char *p = malloc(32);
    strcpy(p, "from main");
    printf("main says: ");           /* the line is finished in other.c */
    char *q = finish(p);             /* frees p, allocates q of the same size */
    return q == p ? 0 : 1;           /* first fit: the same block */
}
"#,
    )
    .unwrap();
    std::fs::write(
        &other,
        r#"#include "hv_guest.h"
char *finish(char *p) {
    printf("%s, finished in other.c\n", p);
    free(p);
    return malloc(32);
}
"#,
    )
    .unwrap();
    let image = build_c(&[main, other], "-O2", scratch.path(), "units");
    if !kvm_or_skip("translation_units_share_one_printf_buffer_and_one_heap") {
        return;
    }
    let r = run_in(scratch.path(), &["-m", "2", "-p", "4", "--stats", "-g", s(&image)], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "main says: from main, finished in other.c\n");
    // The one line goes into the console ring: exit is the only exit.
    let row = r.stderr.lines().nth(1).unwrap();
    assert_eq!(row.split_whitespace().nth(2), Some("1"), "{}", r.stderr);
}
