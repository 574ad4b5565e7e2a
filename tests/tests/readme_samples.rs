//! The README's samples are real output: each command the README shows with its output is run
//! here (from the workspace root, as the README runs them) and compared with the ```text block
//! after it, only the figures that change from run to run (times) set aside; the command-line
//! synopsis is `--help`'s; and every file the README's commands create is one git ignores.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use hv_tests::{guest, hv_host, kvm_or_skip, release_dir, root, run, run_in};

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The first ```` ```lang ```` block after `heading`, and the ```text block right after it.
fn block_after(heading: &str, lang: &str) -> (String, String) {
    let text = readme();
    let at = text.find(heading).unwrap_or_else(|| panic!("README has {heading:?}"));
    let rest = &text[at..];
    let open = format!("```{lang}\n");
    let start = rest.find(&open).unwrap() + open.len();
    let (code, after) = rest[start..].split_once("\n```\n").unwrap();
    let output = after.trim_start().strip_prefix("```text\n").unwrap_or("");
    let output = output.split_once("\n```").map_or("", |(t, _)| t);
    (code.to_string(), format!("{output}\n"))
}

/// The `hv-host` command line of a README command, run from the workspace root: the words
/// after `./target/release/hv-host`, up to a redirection.
fn hv_args(command: &str) -> Vec<&str> {
    let (_, args) = command.split_once("./target/release/hv-host ").unwrap();
    args.split_whitespace().take_while(|w| !w.starts_with('>')).collect()
}

/// Whether the test build's images are where the README says (`target/release`).
fn images_where_the_readme_says() -> bool {
    let here = release_dir() == root().join("target/release");
    if !here {
        eprintln!("*** the README's samples are not compared: CARGO_TARGET_DIR is not target/ ***");
    }
    here
}

#[test]
fn the_quick_start_prints_what_the_readme_shows() {
    let _ = (guest("hello"), guest("memtest"));
    if !kvm_or_skip("the_quick_start_prints_what_the_readme_shows")
        || !images_where_the_readme_says()
    {
        return;
    }
    let (command, shown) = block_after("## Quick start", "sh");
    let r = run_in(&root(), &hv_args(&command), b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    // The guests run at once: their lines come in any order.
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort_unstable();
        lines
    };
    assert_eq!(sorted(&r.stdout), sorted(&shown));
}

/// A `--stats` table with the figures that change from run to run (run time, CPU time and
/// share) replaced by `*`.
fn stats_shape(table: &str) -> String {
    table
        .lines()
        .map(|line| {
            if line.starts_with(|c: char| c.is_ascii_digit()) {
                // A guest's row: its run time is the second column.
                let mut words: Vec<&str> = line.split_whitespace().collect();
                words[1] = "*";
                return words.join(" ");
            }
            if let Some((head, rest)) = line.split_once(": cpu ") {
                let (_, rest) = rest.split_once(" %), ").unwrap();
                return format!("{head}: cpu * ms (* %), {rest}");
            }
            line.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_stats_sample_is_what_stats_prints() {
    let _ = (guest("hello"), guest("hypercalls"));
    if !kvm_or_skip("the_stats_sample_is_what_stats_prints") || !images_where_the_readme_says() {
        return;
    }
    let (command, shown) = block_after("With `--stats`, `hv-host` prints", "sh");
    let r = run_in(&root(), &hv_args(&command), b"");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(stats_shape(&r.stderr), stats_shape(&shown), "the README's --stats sample is stale");
}

#[test]
fn the_synopsis_is_the_usage_help_prints() {
    let (synopsis, _) = block_after("## The command line", "text");
    let help = run(&["--help"]);
    assert_eq!(help.code, Some(0), "{help:?}");
    let usage: Vec<&str> = help.stdout.lines().take_while(|l| !l.is_empty()).collect();
    let usage = usage.join("\n").replacen("Usage: ", "", 1);
    assert_eq!(synopsis.trim_end(), usage, "README synopsis vs --help");
    // And --version says which.
    let version = run(&["--version"]);
    assert_eq!(version.stdout, format!("hv-host {}\n", env!("CARGO_PKG_VERSION")));
}

/// The files the README's ```sh blocks create, relative to the workspace root: what follows
/// `-o`, `>` (not `/dev/null`) and `truncate -s SIZE`, and `objcopy`'s output, in the
/// directory of the last `cd` (a `cd` holds for the rest of its `##` section, whose later
/// blocks go on in that directory). The guest crate copied out of the clone (`cp -r
/// hv/guest-template ...`) is not the clone's.
fn files_the_readme_makes() -> Vec<String> {
    let text = readme();
    let mut made = Vec::new();
    for section in text.split("\n## ") {
        let mut dir = String::new();
        for block in section.split("```sh\n").skip(1) {
            let block = block.split_once("\n```").unwrap().0;
            if !block.contains("cp -r hv/guest-template") {
                files_made_by(block, &mut dir, &mut made);
            }
        }
    }
    made.sort_unstable();
    made.dedup();
    made
}

/// The files one ```sh block makes (see [`files_the_readme_makes`]); `dir` is the directory
/// it starts in, and ends in.
fn files_made_by(block: &str, dir: &mut String, made: &mut Vec<String>) {
    for line in block.lines() {
        let line = line.split_once('#').map_or(line, |(code, _)| code);
        let words: Vec<&str> =
            line.split_whitespace().map(|w| w.trim_end_matches([';', '&'])).collect();
        for (i, w) in words.iter().enumerate() {
            let next = words.get(i + 1).copied();
            match (*w, next) {
                ("cd", Some(to)) => *dir = format!("{to}/"),
                ("-o" | ">", Some(file)) if file != "/dev/null" => {
                    made.push(format!("{dir}{file}"));
                }
                ("truncate", _) => made.push(format!("{dir}{}", words[i + 3])),
                // objcopy IN OUT: the last word.
                ("objcopy", _) => made.push(format!("{dir}{}", words[words.len() - 1])),
                _ => {}
            }
        }
    }
}

#[test]
fn every_file_the_readme_commands_make_is_ignored_by_git() {
    let made = files_the_readme_makes();
    // The parser found the examples' files (a README rewrite that hides them fails here).
    let seen = [
        "input.txt",
        "disk.img",
        "guest.o",
        "tests/seeds/003/payload.bin",
        "tests/seeds/002/guest1.bin",
    ];
    for file in seen {
        assert!(made.iter().any(|m| m == file), "{file} not among {made:?}");
    }
    // And the files hv-host makes for guests, as the README names them.
    let mut all = made.clone();
    all.extend(
        ["output.txt.local0", "tests/seeds/000/copy.txt.local1", "disk.img.cow3"].map(String::from),
    );
    let Ok(out) = Command::new("git").current_dir(root()).arg("check-ignore").args(&all).output()
    else {
        eprintln!("*** SKIPPED every_file_the_readme_commands_make_is_ignored_by_git: no git ***");
        return;
    };
    let ignored: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let missing: Vec<&String> = all.iter().filter(|f| !ignored.contains(&f.as_str())).collect();
    assert!(missing.is_empty(), "not in .gitignore: {missing:?}");
    // Nothing the project keeps is ignored.
    let kept = ["tests/seeds/000/guest.c", "tests/seeds/003/payload.ld", "README.md"];
    let out = Command::new("git").current_dir(root()).arg("check-ignore").args(kept).output();
    assert_eq!(out.unwrap().stdout, b"", "tracked files are ignored");
}

#[test]
fn the_install_section_installs_a_working_hv_host() {
    let (commands, _) = block_after("## Install", "sh");
    let install = commands.lines().next().unwrap();
    assert_eq!(install, "cargo install --locked --offline --path hv-host");
    // Into a scratch root, with the tests' target directory (so the release build is reused,
    // not redone), exactly with the README's flags.
    // The tests' own release build first: the install then reuses it.
    let _ = hv_host();
    let scratch = hv_tests::Scratch::new("install");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let words: Vec<&str> = install.split_whitespace().skip(1).collect();
    let out = Command::new(cargo)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", release_dir().parent().unwrap())
        .args(&words)
        .arg("--root")
        .arg(scratch.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let installed = scratch.path().join("bin/hv-host");
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("hv-host {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(version.status.success());
}
