//! A protocol fuzzer: random mailbox contents and port accesses from a fixed seed (derived
//! from the guest's ID), to show the host survives anything.
//!
//! Most calls aim at something real (an opcode that exists, a buffer in the guest's scratch
//! area, a short name), so the host's deeper paths run too; a few are wholly random (any
//! opcode, any address, any port), and may end the guest, which the host must report.
//! Prints `fuzz: seed S, N calls` at the end if it got there.
#![no_std]
#![no_main]

use core::arch::asm;

use hv_guest::devices::write_register;
use hv_guest::hv_core::proto::devices::DeviceReg;
use hv_guest::hv_core::proto::file::FileOp;
use hv_guest::hv_core::proto::hypercall::HcOp;
use hv_guest::hv_core::proto::{CONSOLE_PORT, FILE_PORT, HYPERCALL_PORT};
use hv_guest::{console, println, raw_call};

hv_guest::entry!(main);

/// Calls each guest makes.
const CALLS: u32 = 3000;
/// What file and console calls point into, most of the time.
const SCRATCH: usize = 64 << 10;
static mut SCRATCH_BUF: [u8; SCRATCH] = [0; SCRATCH];

/// xorshift64*: small, and the same sequence for the same seed on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One mailbox argument: mostly plausible, sometimes anything.
fn arg(rng: &mut Rng, scratch: u64, user_end: u64) -> u64 {
    match rng.below(10) {
        0..=2 => rng.below(40),
        3..=5 => scratch + rng.below(SCRATCH as u64),
        6 => user_end.wrapping_sub(rng.below(8192)),
        7 => rng.below(user_end + 0x10_0000),
        8 => rng.below(SCRATCH as u64 * 2),
        _ => rng.next(),
    }
}

/// A random `in` or `out` of a random size on `port`.
fn port_access(rng: &mut Rng, port: u16) {
    let value = rng.next() as u32;
    // SAFETY: port I/O only; the host decides what it means (possibly ending the guest).
    unsafe {
        match rng.below(6) {
            0 => asm!("out dx, al", in("dx") port, in("al") value as u8),
            1 => asm!("out dx, ax", in("dx") port, in("ax") value as u16),
            2 => asm!("out dx, eax", in("dx") port, in("eax") value),
            3 => asm!("in al, dx", in("dx") port, out("al") _),
            4 => asm!("in ax, dx", in("dx") port, out("ax") _),
            _ => asm!("in eax, dx", in("dx") port, out("eax") _),
        }
    }
}

fn main() -> i32 {
    let info = hv_guest::boot_info();
    let seed = (u64::from(info.guest_id) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = Rng(seed | 1);
    // SAFETY: the only reference to SCRATCH_BUF in this single-threaded guest.
    let scratch = unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH_BUF) };
    let scratch_addr = scratch.as_ptr() as u64;
    // Short names from a few letters, a dot, a slash.
    const NAME_BYTES: &[u8] = b"ab./.x";
    // The disk, set up once at a real block so later commands have somewhere to report.
    let status = scratch_addr + SCRATCH as u64 - 64;
    write_register(DeviceReg::DiskAddr, status as u32);
    write_register(DeviceReg::DiskCmd, 2);
    let hypercalls: &[HcOp] = &[
        HcOp::ConsoleWrite,
        HcOp::Print32,
        HcOp::NumExits,
        HcOp::PrintStr,
        HcOp::NumExitsByType,
        HcOp::GvaToHva,
    ];
    for _ in 0..CALLS {
        let mut args = [0u64; 6];
        for a in &mut args {
            *a = arg(&mut rng, scratch_addr, info.user_end);
        }
        match rng.below(100) {
            0..=44 => {
                let op = if rng.below(20) == 0 {
                    rng.next() as u8
                } else {
                    FileOp::ALL[rng.below(FileOp::ALL.len() as u64) as usize] as u8
                };
                if rng.below(2) == 0 {
                    // A name in the scratch buffer, and a mode that mostly exists.
                    let len = rng.below(12) as usize;
                    for b in &mut scratch[..len] {
                        *b = NAME_BYTES[rng.below(NAME_BYTES.len() as u64) as usize];
                    }
                    args[0] = scratch_addr;
                    args[1] = len as u64;
                    args[2] = rng.below(4);
                } else if rng.below(2) == 0 {
                    // A buffer of a plausible size in the scratch area.
                    args[0] = rng.below(34);
                    args[1] = scratch_addr + rng.below(SCRATCH as u64 / 2);
                    args[2] = rng.below(SCRATCH as u64 / 2);
                }
                raw_call(FILE_PORT, op, &args);
            }
            45..=74 => {
                let op = hypercalls[rng.below(hypercalls.len() as u64) as usize];
                if op == HcOp::ConsoleWrite {
                    args[1] = rng.below(64);
                }
                raw_call(HYPERCALL_PORT, op as u8, &args);
            }
            75..=89 => {
                let reg = DeviceReg::ALL[rng.below(DeviceReg::ALL.len() as u64) as usize];
                let value = match reg {
                    // Setup is refused after the first; read, write, unknown commands.
                    DeviceReg::DiskCmd => rng.below(4) as u32,
                    DeviceReg::SerialData => b'.' as u32,
                    _ => arg(&mut rng, scratch_addr, info.user_end) as u32,
                };
                write_register(reg, value);
            }
            90..=96 => {
                let _ = console::getchar();
            }
            97 => {
                // An opcode no call has, or a hypercall byte picked at random (never exit).
                let op = rng.next() as u8;
                if op != HcOp::Exit as u8 && op != HcOp::AbiVersion as u8 && op != HcOp::Panic as u8
                {
                    raw_call(HYPERCALL_PORT, op, &args);
                }
            }
            _ => {
                // Rarely, any access to one of the host's ports, or to any port at all: may
                // end the guest with a report.
                if rng.below(200) == 0 {
                    let ports = [CONSOLE_PORT, FILE_PORT, HYPERCALL_PORT, rng.next() as u16];
                    let port = ports[rng.below(4) as usize];
                    port_access(&mut rng, port);
                }
            }
        }
    }
    println!("fuzz: seed {seed:#x}, {CALLS} calls");
    0
}
