//! Runs file and disk calls read from stdin, one command a line, and prints each result: the
//! sandbox and limit tests drive it (and can change the host's files between two lines, since
//! the guest waits for each line).
//!
//! | line | does | prints |
//! |---|---|---|
//! | `o r\|w\|a NAME` | `fopen` | `o NAME: fd N` or `o NAME: ERR` |
//! | `O r\|w\|a LEN` | `fopen` of a name of LEN bytes `n` | `O LEN: fd N` or `O LEN: ERR` |
//! | `p FD TEXT` | one `fwrite` of TEXT and a newline | `p: N` or `p: ERR` |
//! | `z FD TOTAL CHUNK` | `fwrite`s of CHUNK bytes `z` until TOTAL or an error | `z: wrote T in C calls, S short, stop ERR` |
//! | `r FD` | one `fread` of up to 256 bytes | `r: "TEXT"` or `r: ERR` |
//! | `c FD` | `fclose` | `c: ok` or `c: ERR` |
//! | `n COUNT NAME` | `fopen(NAME, "r")` COUNT times, nothing closed | `n: K opened, stop ERR` |
//! | `m COUNT LEN` | creates COUNT files (`fopen` "w", `fclose`), names of LEN bytes: the number, then `n`s | `m: K created, stop ERR` |
//! | `s` | disk setup | `s: size S, err ERR` |
//! | `S` | a second disk setup, at another block | `S: err ERR, new block untouched: BOOL` |
//! | `W SECTOR BYTE` | a sector of BYTE written to the disk | `W: ERR` |
//! | `R SECTOR` | a sector read | `R: BYTE ERR` (its first byte) |
//! | `x STATUS` | exit | |
#![no_std]
#![no_main]

use hv_guest::devices::{SECTOR_SIZE, Status, write_register};
use hv_guest::fs::{Mode, fclose, fopen, fread, fwrite};
use hv_guest::hv_core::proto::devices::DeviceReg;
use hv_guest::{Errno, console, println};

hv_guest::entry!(main);

const LINE: usize = 512;
const CHUNK: usize = 64 << 10;
static mut ZS: [u8; CHUNK] = [b'z'; CHUNK];

/// An error's C name, or "ok".
fn name(r: Result<(), Errno>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(e) => e.c_name(),
    }
}

fn read_line(buf: &mut [u8; LINE]) -> Option<usize> {
    let mut n = 0;
    loop {
        match console::getchar() {
            None if n == 0 => return None,
            None | Some(b'\n') => return Some(n),
            Some(c) if n < LINE => {
                buf[n] = c;
                n += 1;
            }
            Some(_) => {}
        }
    }
}

fn number(word: Option<&[u8]>) -> u64 {
    word.and_then(|w| core::str::from_utf8(w).ok()).and_then(|w| w.parse().ok()).unwrap_or(0)
}

fn mode(word: Option<&[u8]>) -> Mode {
    match word {
        Some(b"w") => Mode::Write,
        Some(b"a") => Mode::Append,
        _ => Mode::Read,
    }
}

/// The disk's status block and the result of its last command.
struct Disk {
    status: Status,
    spare: Status,
}

impl Disk {
    fn command(&mut self, sector: u32, addr: u64, cmd: u32) -> Result<(), Errno> {
        write_register(DeviceReg::DiskSector, sector);
        write_register(DeviceReg::DiskAddr, addr as u32);
        write_register(DeviceReg::DiskCmd, cmd);
        // SAFETY: a field of self, which the host writes in place: read it volatile.
        let err = unsafe { core::ptr::read_volatile(&self.status.err) };
        match err {
            0 => Ok(()),
            e => Err(u8::try_from(e)
                .ok()
                .and_then(|e| Errno::try_from(e).ok())
                .unwrap_or(Errno::Eio)),
        }
    }
}

fn main() -> i32 {
    let mut line = [0u8; LINE];
    let long = [b'n'; 300];
    let mut disk = Disk { status: Status::default(), spare: Status { size: 7, err: 7 } };
    let mut sector = [0u8; SECTOR_SIZE];
    while let Some(n) = read_line(&mut line) {
        let text = &line[..n];
        let mut words = text.split(|&b| b == b' ');
        let cmd = words.next().unwrap_or(b"");
        match cmd {
            b"o" => {
                let m = mode(words.next());
                let file = words.next().unwrap_or(b"");
                let shown = core::str::from_utf8(file).unwrap_or("?");
                match fopen(file, m) {
                    Ok(fd) => println!("o {shown}: fd {fd}"),
                    Err(e) => println!("o {shown}: {}", e.c_name()),
                }
            }
            b"O" => {
                let m = mode(words.next());
                let len = (number(words.next()) as usize).min(long.len());
                match fopen(&long[..len], m) {
                    Ok(fd) => println!("O {len}: fd {fd}"),
                    Err(e) => println!("O {len}: {}", e.c_name()),
                }
            }
            b"p" => {
                let fd = number(words.next()) as i32;
                let start = text.iter().position(|&b| b == b' ').map_or(n, |i| i + 1);
                let rest = &text[start..];
                let data = rest.iter().position(|&b| b == b' ').map_or(&[][..], |i| &rest[i + 1..]);
                let mut buf = [0u8; LINE + 1];
                buf[..data.len()].copy_from_slice(data);
                buf[data.len()] = b'\n';
                match fwrite(fd, &buf[..=data.len()]) {
                    Ok(n) => println!("p: {n}"),
                    Err(e) => println!("p: {}", e.c_name()),
                }
            }
            b"z" => {
                let fd = number(words.next()) as i32;
                let total = number(words.next());
                let chunk = (number(words.next()) as usize).clamp(1, CHUNK);
                // SAFETY: the only reference to ZS, in this single-threaded guest; never written.
                let zs: &[u8; CHUNK] = unsafe { &*core::ptr::addr_of!(ZS) };
                let (mut wrote, mut calls, mut short) = (0u64, 0, 0);
                let mut stop = Ok(());
                while wrote < total {
                    let want = chunk.min((total - wrote) as usize);
                    calls += 1;
                    match fwrite(fd, &zs[..want]) {
                        Ok(n) => {
                            wrote += n as u64;
                            if n < want {
                                short += 1;
                            }
                        }
                        Err(e) => {
                            stop = Err(e);
                            break;
                        }
                    }
                }
                println!("z: wrote {wrote} in {calls} calls, {short} short, stop {}", name(stop));
            }
            b"r" => {
                let fd = number(words.next()) as i32;
                let mut buf = [0u8; 256];
                match fread(fd, &mut buf) {
                    Ok(n) => {
                        let s = core::str::from_utf8(&buf[..n]).unwrap_or("(not UTF-8)");
                        println!("r: {s:?}");
                    }
                    Err(e) => println!("r: {}", e.c_name()),
                }
            }
            b"c" => println!("c: {}", name(fclose(number(words.next()) as i32))),
            b"n" => {
                let count = number(words.next());
                let file = words.next().unwrap_or(b"");
                let mut opened = 0;
                let mut stop = Ok(());
                for _ in 0..count {
                    match fopen(file, Mode::Read) {
                        Ok(_) => opened += 1,
                        Err(e) => {
                            stop = Err(e);
                            break;
                        }
                    }
                }
                println!("n: {opened} opened, stop {}", name(stop));
            }
            b"m" => {
                let count = number(words.next());
                let len = (number(words.next()) as usize).clamp(20, long.len());
                let mut file = long;
                let mut created = 0;
                let mut stop = Ok(());
                for i in 0..count {
                    // The number, in 20 decimal digits, then `n`s up to LEN bytes.
                    let mut n = i;
                    for d in file[..20].iter_mut().rev() {
                        *d = b'0' + (n % 10) as u8;
                        n /= 10;
                    }
                    match fopen(&file[..len], Mode::Write).and_then(fclose) {
                        Ok(()) => created += 1,
                        Err(e) => {
                            stop = Err(e);
                            break;
                        }
                    }
                }
                println!("m: {created} created, stop {}", name(stop));
            }
            b"s" => {
                let at = &raw const disk.status as u64;
                let r = disk.command(0, at, 2);
                // SAFETY: as in `Disk::command`.
                let size = unsafe { core::ptr::read_volatile(&disk.status.size) };
                println!("s: size {size}, err {}", name(r));
            }
            b"S" => {
                let at = &raw const disk.spare as u64;
                let r = disk.command(0, at, 2);
                // SAFETY: as in `Disk::command`.
                let spare = unsafe { core::ptr::read_volatile(&disk.spare) };
                let untouched = spare.size == 7 && spare.err == 7;
                println!("S: err {}, new block untouched: {untouched}", name(r));
            }
            b"W" => {
                let s = number(words.next()) as u32;
                sector.fill(number(words.next()) as u8);
                let r = disk.command(s, sector.as_ptr() as u64, 1);
                println!("W: {}", name(r));
            }
            b"R" => {
                let s = number(words.next()) as u32;
                sector.fill(0);
                let r = disk.command(s, sector.as_mut_ptr() as u64, 0);
                println!("R: {} {}", sector[0], name(r));
            }
            b"x" => return number(words.next()) as i32,
            _ => println!("?"),
        }
    }
    0
}
