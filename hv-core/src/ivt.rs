//! The real-mode interrupt vector table and its 16-bit report stubs: how an exception (or a
//! software `int n`) of a real-mode guest becomes a report instead of a jump into nowhere.
//!
//! A real-mode CPU finds the handler of vector `v` as a `segment:offset` pair at `IDTR.base +
//! 4 * v`. At reset IDTR.base is 0, where hv loads a real-mode image (`--entry 0000:0000`, the
//! seed's layout), so the image's first bytes would be taken for vectors. hv points IDTR at its
//! own table instead, in the high memory area (HMA) right above the first MiB: every vector
//! leads to a 16-byte stub at `FFFF:xxxx` that pushes the guest's `dx` and the vector number
//! and reports with an `out` to [`EXCEPTION_PORT`], like the protected-mode stubs. The CPU has
//! pushed FLAGS, CS and IP before it, so the host reads the whole report at `SS:SP`.
//!
//! The HMA is reachable in real mode only through segment `FFFF` (no BIOS, no A20 gate: KVM
//! maps every address as it is), a real-mode image must end below 1 MiB, and RAM is at least
//! 2 MiB, so the table never meets the image. A guest that wants its own vectors loads them
//! with `lidt`, as any real-mode program that does not trust IDTR's value must.
//!
//! Why all 256 vectors: real mode has no privilege checks, so `int 0x10` (a BIOS call, which
//! hv has no BIOS for) enters its vector like an exception does; reporting it names the
//! problem instead of letting the guest run into whatever the vector pointed at.

use crate::addr::Gpa;
use crate::phys::PhysMem;
use crate::proto::EXCEPTION_PORT;

/// Linear address of the table (IDTR.base in real mode): the first byte past 1 MiB.
pub const IVT_BASE: u64 = 0x10_0000;
/// Vectors in the table: every vector a real-mode CPU has.
pub const IVT_VECTORS: u64 = 256;
/// Bytes per vector: offset, then segment, 16 bits each.
pub const IVT_ENTRY_SIZE: u64 = 4;
/// IDTR.limit for the table.
pub const IVT_LIMIT: u16 = (IVT_VECTORS * IVT_ENTRY_SIZE - 1) as u16;
/// The segment every stub runs in: `FFFF`, whose base (0xFFFF0) reaches 64 KiB into the HMA.
pub const STUB_SEGMENT: u16 = 0xFFFF;
/// Linear address of the first stub, right after the table.
pub const STUBS_BASE: u64 = IVT_BASE + IVT_VECTORS * IVT_ENTRY_SIZE;
/// Bytes per stub.
pub const STUB_SIZE: u64 = 16;
/// Linear address one past the last stub: everything hv writes for a real-mode guest above
/// 1 MiB lies below it.
pub const STUBS_END: u64 = STUBS_BASE + IVT_VECTORS * STUB_SIZE;
/// 16-bit words the CPU and the stub leave at `SS:SP` when a stub reports, lowest address
/// first: vector, `dx`, IP, CS, FLAGS.
pub const FRAME_WORDS16: u64 = 5;

/// The end of the memory a real-mode image may occupy: the first MiB.
pub const REAL_MODE_LIMIT: u64 = 0x10_0000;

// Every stub is reachable from segment FFFF, whose offsets end at 0x10FFEF.
const _: () = assert!(STUBS_END <= 0xF_FFF0 + 0x1_0000);
const _: () = assert!(IVT_BASE >= REAL_MODE_LIMIT);

/// The offset in [`STUB_SEGMENT`] of vector `v`'s stub.
pub const fn stub_offset(v: u8) -> u16 {
    (STUBS_BASE + v as u64 * STUB_SIZE - (STUB_SEGMENT as u64) * 16) as u16
}

/// The 16-bit stub for `vector`, padded with `int3`: `push dx`, `push vector`,
/// `mov dx, EXCEPTION_PORT`, `out dx, al`, then `hlt` forever (the host never resumes it).
pub fn stub_code16(vector: u8) -> [u8; STUB_SIZE as usize] {
    let [lo, hi] = EXCEPTION_PORT.to_le_bytes();
    let code = [
        0x52, // push dx          (the guest's, for the report)
        0x6A, vector, // push vector
        0xBA, lo, hi,   // mov dx, EXCEPTION_PORT
        0xEE, // out dx, al       (the host takes over here)
        0xF4, 0xEB, 0xFD, // 1: hlt; jmp 1b
    ];
    let mut stub = [0xCC; STUB_SIZE as usize];
    stub[..code.len()].copy_from_slice(&code);
    stub
}

/// Writes the table and the stubs. Returns `false` if a write fell outside guest memory.
pub fn install(mem: &mut impl PhysMem) -> bool {
    let mut ok = true;
    // Two vectors per u64: (offset, segment) for v, then for v + 1.
    for v in (0..IVT_VECTORS).step_by(2) {
        let entry = |v: u64| u64::from(stub_offset(v as u8)) | (u64::from(STUB_SEGMENT) << 16);
        let pair = entry(v) | (entry(v + 1) << 32);
        ok &= mem.write_u64(Gpa::new(IVT_BASE + v * IVT_ENTRY_SIZE), pair);
    }
    for v in 0..IVT_VECTORS {
        let code = stub_code16(v as u8);
        let at = Gpa::new(STUBS_BASE + v * STUB_SIZE);
        for (i, chunk) in code.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0xCC; 8]));
            ok &= mem.write_u64(at.add(i as u64 * 8), word);
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phys::mock::Ram;
    use std::vec;

    #[test]
    fn golden_stub() {
        assert_eq!(
            stub_code16(0x21),
            [
                0x52, 0x6A, 0x21, 0xBA, 0x01, 0x05, 0xEE, 0xF4, 0xEB, 0xFD, 0xCC, 0xCC, 0xCC, 0xCC,
                0xCC, 0xCC
            ]
        );
        // FFFF:0410 is linear 0x100400, the first stub.
        assert_eq!(stub_offset(0), 0x0410);
        assert_eq!(stub_offset(255), 0x0410 + 255 * 16);
    }

    #[test]
    fn vectors_lead_to_their_stubs() {
        let mut ram = Ram(vec![0; 2 << 20]);
        assert!(install(&mut ram));
        for v in [0u64, 6, 13, 0x10, 0x21, 255] {
            let word = ram.read_u64(Gpa::new(IVT_BASE + v * 4)).unwrap_or(0);
            let (offset, segment) = (word & 0xFFFF, (word >> 16) & 0xFFFF);
            assert_eq!(segment, 0xFFFF, "vector {v}");
            let linear = segment * 16 + offset;
            assert_eq!(linear, STUBS_BASE + v * STUB_SIZE, "vector {v}");
            let code = ram.read_u64(Gpa::new(linear)).unwrap_or(0).to_le_bytes();
            assert_eq!(code[..3], [0x52, 0x6A, v as u8], "vector {v}");
        }
        // Nothing below 1 MiB is touched: that is the image's.
        assert!(ram.0[..REAL_MODE_LIMIT as usize].iter().all(|&b| b == 0));
        assert!(ram.0[STUBS_END as usize..].iter().all(|&b| b == 0));
    }
}
