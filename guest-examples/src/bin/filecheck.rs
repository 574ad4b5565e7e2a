//! A hostile guest: tries every way of misusing the file service and prints what the host
//! answered, one `check <what>: <answer>` line each. The tests compare the lines exactly.
//!
//! Expects in the working directory: shared `shared.txt` (content `ORIGINAL\n`) and
//! `shared2.txt`, a stale
//! `stale.txt.local<ID>`, a symlink `link.txt.local<ID>` pointing outside, a directory symlink
//! `dirlink`, and an unshared `secret.txt`.
#![no_std]
#![no_main]

use hv_guest::fs::{self, File, Mode};
use hv_guest::hv_core::proto::FILE_PORT;
use hv_guest::hv_core::proto::file::{FileOp, MAX_OPEN_FILES};
use hv_guest::{Errno, println, raw_call};

hv_guest::entry!(main);

fn show<T>(what: &str, r: Result<T, Errno>) {
    match r {
        Ok(_) => println!("check {what}: ok"),
        Err(e) => println!("check {what}: {}", e.c_name()),
    }
}

fn raw(op: FileOp, args: &[u64]) -> Result<u64, Errno> {
    let (ret, _) = raw_call(FILE_PORT, op as u8, args);
    Errno::from_ret(ret).map_or(Ok(ret as u64), Err)
}

fn main() -> i32 {
    let info = hv_guest::boot_info();
    let end = info.user_end;
    // Names.
    show("unshared secret", File::open("secret.txt", Mode::Read));
    show("missing", File::open("missing.txt", Mode::Read));
    show("dotdot", File::open("../escape.txt", Mode::Write));
    show("absolute", File::open("/tmp/escape.txt", Mode::Write));
    show("empty name", fs::fopen(b"", Mode::Write));
    show("nul in name", fs::fopen(b"a\0b", Mode::Write));
    show("long name", fs::fopen(&[b'x'; 256], Mode::Write));
    show("bad mode", raw(FileOp::Open, &[b"x".as_ptr() as u64, 1, 7]));
    show("name outside memory", raw(FileOp::Open, &[0x4000_0000, 4, 0]));
    show("name across end", raw(FileOp::Open, &[end - 2, 4, 0]));
    show("name length overflow", raw(FileOp::Open, &[0x1000, u64::MAX, 0]));
    // hv's opcodes have the top bit set; a byte without it would start a seed-000 request.
    let (ret, _) = raw_call(FILE_PORT, 0xF7, &[]);
    show("unknown opcode", Errno::from_ret(ret).map_or(Ok(ret), Err));
    // Fds.
    let mut buf = [0u8; 64];
    show("read bad fd", fs::fread(99, &mut buf));
    show("read negative fd", fs::fread(-1, &mut buf));
    show("close never opened", fs::fclose(5));
    let mut out = File::open("out.txt", Mode::Write).unwrap_or_else(|e| panic!("out.txt: {e}"));
    show("read a write fd", out.read(&mut buf));
    show("write past end of memory", raw(FileOp::Write, &[out.fd() as u64, end - 10, 100]));
    show("write length overflow", raw(FileOp::Write, &[out.fd() as u64, 0x1000, u64::MAX]));
    show("write into reserved region", raw(FileOp::Write, &[out.fd() as u64, end, 8]));
    show("write", out.write_all(b"written by filecheck\n"));
    let fd = out.fd();
    show("close", out.close());
    show("double close", fs::fclose(fd));
    let mut back = File::open("out.txt", Mode::Read).unwrap_or_else(|e| panic!("out.txt: {e}"));
    show("write a read fd", back.write(b"x"));
    show("read into reserved region", raw(FileOp::Read, &[back.fd() as u64, end, 8]));
    let n = back.read(&mut buf).unwrap_or(0);
    println!("check read back: {}", core::str::from_utf8(&buf[..n]).unwrap_or("?").trim_end());
    drop(back);
    // Copy on write of a shared file, and invalidation of its read fds.
    let mut original =
        File::open("shared.txt", Mode::Read).unwrap_or_else(|e| panic!("shared: {e}"));
    let mut appended =
        File::open("shared.txt", Mode::Append).unwrap_or_else(|e| panic!("shared a: {e}"));
    show("write own copy", appended.write_all(b"MORE\n"));
    show("read invalidated fd", original.read(&mut buf));
    show("close invalidated fd", fs::fclose(original.fd()));
    core::mem::forget(original);
    drop(appended);
    let mut copy = File::open("shared.txt", Mode::Read).unwrap_or_else(|e| panic!("copy: {e}"));
    let n = copy.read(&mut buf).unwrap_or(0);
    println!("check own copy reads: {:?}", core::str::from_utf8(&buf[..n]).unwrap_or("?"));
    drop(copy);
    // "w" on a shared file: an empty copy of its own.
    show(
        "truncate own copy",
        File::open("shared2.txt", Mode::Write).and_then(|mut f| f.write_all(b"NEW\n")),
    );
    let n = File::open("shared2.txt", Mode::Read).and_then(|mut f| f.read(&mut buf)).unwrap_or(0);
    println!("check truncated copy reads: {:?}", core::str::from_utf8(&buf[..n]).unwrap_or("?"));
    // Leftovers from the host's side: a stale local file and planted symlinks.
    show("stale local invisible", File::open("stale.txt", Mode::Read));
    show(
        "stale local overwritten",
        File::open("stale.txt", Mode::Write).and_then(|mut f| f.write_all(b"fresh\n")),
    );
    show(
        "symlinked local",
        File::open("link.txt", Mode::Write)
            .and_then(|mut f| f.write_all(b"not through the link\n")),
    );
    show("symlinked directory", File::open("dirlink/x.txt", Mode::Write));
    // Too many open files; then everything still works.
    let mut held = [const { None }; MAX_OPEN_FILES + 1];
    let mut emfile = Ok(0);
    for (i, slot) in held.iter_mut().enumerate() {
        match fs::fopen(b"many.txt", if i == 0 { Mode::Write } else { Mode::Append }) {
            Ok(fd) => *slot = Some(fd),
            Err(e) => {
                emfile = Err(e);
                break;
            }
        }
    }
    show("too many open files", emfile);
    for fd in held.iter().flatten() {
        let _ = fs::fclose(*fd);
    }
    show(
        "works after all that",
        File::open("final.txt", Mode::Write).and_then(|mut f| f.write_all(b"ok\n")),
    );
    0
}
