//! Files and the console through the embedded I/O traits and `core::fmt::Write`: one generic
//! copy loop serves a shared file, the console input, a local file and the console output.
#![no_std]
#![no_main]

use embedded_io::{Read, Write};
use hv_guest::fs::{File, Mode};
use hv_guest::io::{Stdin, Stdout};
use hv_guest::println;

hv_guest::entry!(main);

/// Copies everything from `from` to `to`; returns the bytes copied.
fn copy<R: Read, W: Write>(from: &mut R, to: &mut W) -> Result<usize, &'static str> {
    let mut buf = [0u8; 64];
    let mut total = 0;
    loop {
        let n = from.read(&mut buf).map_err(|_| "read failed")?;
        if n == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..n]).map_err(|_| "write failed")?;
        total += n;
    }
}

/// Formats into anything that implements `core::fmt::Write`.
fn summary(to: &mut impl core::fmt::Write, what: &str, n: usize) -> Result<(), &'static str> {
    writeln!(to, "{n} bytes {what}").map_err(|_| "format failed")
}

fn run() -> Result<(), &'static str> {
    let mut input = File::open("input.txt", Mode::Read).map_err(|_| "cannot open input.txt")?;
    let mut output =
        File::open("output.txt", Mode::Write).map_err(|_| "cannot create output.txt")?;
    let from_file = copy(&mut input, &mut output)?;
    let from_stdin = copy(&mut Stdin, &mut output)?;
    summary(&mut output, "from input.txt", from_file)?;
    summary(&mut output, "from stdin", from_stdin)?;
    output.close().map_err(|_| "close failed")?;
    let mut again = File::open("output.txt", Mode::Read).map_err(|_| "cannot reopen")?;
    let shown = copy(&mut again, &mut Stdout)?;
    summary(&mut Stdout, "shown", shown)?;
    match File::open("missing.txt", Mode::Read) {
        Err(e) => println!("missing.txt: {:?}", embedded_io::Error::kind(&hv_guest::io::Error(e))),
        Ok(_) => return Err("missing.txt exists"),
    }
    Ok(())
}

fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(e) => {
            println!("iotraits: {e}");
            1
        }
    }
}
