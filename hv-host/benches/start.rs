//! The Rust process start-up floor: an empty `main`, built by the benchmark with `rustc -O` (as
//! the release host is), so its start-up can be told apart from the C floor's.
fn main() {}
