//! Console input through the input ring: a stream costs an exit per ring, not per byte; with
//! several guests a line goes whole to one of them; the seed's raw `in` keeps its order with the
//! ring; `--stdin ID` gives everything to one guest; impossible ring indices get `-EINVAL`.
#![allow(clippy::unwrap_used)]

use hv_tests::{Run, Scratch, guest, kvm_or_skip, run_in, s};

/// Runs `args` (after `-m 2 -p 4`) in a scratch directory with `stdin`.
fn run_with(test: &str, args: &[&str], stdin: &[u8]) -> Run {
    let scratch = Scratch::new(test);
    let mut all = vec!["-m", "2", "-p", "4"];
    all.extend_from_slice(args);
    run_in(scratch.path(), &all, stdin)
}

/// Total exits of guest `id`, from the `--stats` table.
fn exits_of(r: &Run, id: u32) -> u64 {
    let row = r.stderr.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap();
    row.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// `seq 1 n`'s output.
fn seq(n: u32) -> String {
    (1..=n).map(|i| format!("{i}\n")).collect()
}

#[test]
fn with_two_readers_every_line_goes_whole_to_one_of_them() {
    if !kvm_or_skip("with_two_readers_every_line_goes_whole_to_one_of_them") {
        return;
    }
    let echo = guest("echo");
    for sched in ["threads", "single"] {
        for n in [6, 2000] {
            let args = ["--prefix", "--sched", sched, "-g", s(&echo), s(&echo)];
            let r = run_with("two_readers", &args, seq(n).as_bytes());
            assert_eq!(r.code, Some(0), "{sched}: {r:?}");
            // Every line is `[0] N` or `[1] N`: none empty, none cut, each number once.
            let mut numbers: Vec<u32> = r
                .stdout
                .lines()
                .map(|l| {
                    let number = l.strip_prefix("[0] ").or_else(|| l.strip_prefix("[1] "));
                    number.unwrap_or_else(|| panic!("{sched}: line {l:?}")).parse().unwrap()
                })
                .collect();
            numbers.sort_unstable();
            assert_eq!(numbers, (1..=n).collect::<Vec<_>>(), "{sched}");
        }
    }
}

#[test]
fn a_line_longer_than_the_ring_still_goes_to_one_guest() {
    if !kvm_or_skip("a_line_longer_than_the_ring_still_goes_to_one_guest") {
        return;
    }
    let linelen = guest("linelen");
    // Lines of 100 000 and 70 000 bytes: several rings each (32 KiB).
    let lengths = [100_000usize, 5, 70_000, 0, 3, 40_000, 1];
    let mut input = Vec::new();
    for (i, &len) in lengths.iter().enumerate() {
        input.extend(std::iter::repeat_n(b'a' + i as u8, len));
        input.push(b'\n');
    }
    for sched in ["threads", "single"] {
        let args = ["--sched", sched, "-g", s(&linelen), s(&linelen), s(&linelen)];
        let r = run_with("long_lines", &args, &input);
        assert_eq!(r.code, Some(0), "{sched}: {r:?}");
        // `<guest> <length>` per line read: the lengths, each counted whole once.
        let mut counted: Vec<usize> =
            r.stdout.lines().map(|l| l.split_once(' ').unwrap().1.parse().unwrap()).collect();
        counted.sort_unstable();
        let mut want = lengths.to_vec();
        want.sort_unstable();
        assert_eq!(counted, want, "{sched}: {}", r.stdout);
    }
}

#[test]
fn stdin_can_go_to_one_guest_alone() {
    if !kvm_or_skip("stdin_can_go_to_one_guest_alone") {
        return;
    }
    let echo = guest("echo");
    let args = ["--prefix", "--stdin", "1", "-g", s(&echo), s(&echo)];
    let r = run_with("stdin_one", &args, b"one\ntwo\nthree\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "[1] ONE\n[1] TWO\n[1] THREE\n", "{r:?}");
    // An ID that is no guest's is refused before any guest starts.
    let r = run_with("stdin_one", &["--stdin", "2", "-g", s(&echo), s(&echo)], b"");
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.starts_with("hv-host: --stdin 2: there is no guest 2"), "{r:?}");
}

#[test]
fn a_stream_costs_an_exit_per_ring_not_per_byte() {
    if !kvm_or_skip("a_stream_costs_an_exit_per_ring_not_per_byte") {
        return;
    }
    // `seq 1 100000 | hv-host -g echo`: 588 895 bytes in, byte-wise getchar and putchar; it
    // took an exit per byte each way before the input ring (1.2 million exits, 42 s).
    let (echo, cat) = (guest("echo"), guest("cat"));
    let input = seq(100_000);
    let r = run_with("seq_echo", &["--stats", "-g", s(&echo)], input.as_bytes());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout == input, "echo's output is not its input");
    // 18 input rings of 32 KiB, 144 console rings of 4 KiB, the exit.
    let exits = exits_of(&r, 0);
    assert!(exits <= 200, "{exits} exits for {} bytes: {}", input.len(), r.stderr);
    // `cat` of 4 MiB: an exit per 32 KiB in, per 16 KiB out.
    let text: String = (0..65_536).map(|i| format!("{i:063}\n")).collect();
    let r = run_with("cat_4m", &["--stats", "-g", s(&cat)], text.as_bytes());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout == text, "cat's output is not its input");
    let exits = exits_of(&r, 0);
    assert!(exits <= 128 + 256 + 20, "{exits} exits for 4 MiB: {}", r.stderr);
    assert!(r.stderr.contains(&format!(" {}  ", text.len())), "con in B: {}", r.stderr);
}

#[test]
fn raw_in_and_the_ring_keep_one_order() {
    if !kvm_or_skip("raw_in_and_the_ring_keep_one_order") {
        return;
    }
    // `inmix` takes its bytes by getchar, by the seed's raw `in` and by read, in turn, and
    // prints each: its output is its input only if no byte is reordered, lost or doubled.
    let inmix = guest("inmix");
    let input: String = (0..3000).map(|i| format!("line {i} of the mix\n")).collect();
    let r = run_with("inmix", &["-g", s(&inmix)], input.as_bytes());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout == input, "inmix changed its input: {:?}", &r.stdout[..200]);
}

#[test]
fn impossible_input_ring_indices_get_einval_and_nothing_else() {
    if !kvm_or_skip("impossible_input_ring_indices_get_einval_and_nothing_else") {
        return;
    }
    let bad = guest("badinput");
    let r = run_with("badinput", &["-g", s(&bad)], b"ab\ncd\n");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            "check raw in: 'a'",
            "check tail ahead: EINVAL",
            "check tail a ring behind: EINVAL",
            "check raw in, tail bad: 'b'",
            "check head forged: ok",
            "check head now: 4",
            "check read on: '\\n' 'c'",
        ],
        "{r:?}"
    );
    assert_eq!(r.stderr, "", "{r:?}");
}
