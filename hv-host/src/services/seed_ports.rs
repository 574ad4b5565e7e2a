//! Seed 002's hypercalls: port accesses of 4 bytes on 0xEA..0xEF (see
//! [`hv_core::proto::seed::Seed002Port`]), counted the seed's way: `HC_numExits` is the number
//! of I/O exits, and `HC_numExitsByType` gives `in` exits and all other I/O exits.
//!
//! Each call costs one exit, except `HC_gvaToHva`, which is the seed's two (0xEE, then 0xEF).
//! Pointers are checked like those of hv's own calls: a bad one prints nothing but a
//! diagnostic on the host's stderr, and the guest goes on.

use hv_core::paging;
use hv_core::proto::hypercall::MAX_STRING;
use hv_core::proto::seed::{INVALID_GVA, SEED002_ACCESS, Seed002Port};

use super::{Flow, Services};
use crate::outcome::{GuestError, Outcome};

/// What every seed-002 port takes, for the error that ends a guest using one wrongly.
fn wrong_access(port: u16, dir: &'static str, size: usize, p: Seed002Port) -> Flow {
    let expected = if p.is_in() { "4-byte in" } else { "4-byte out" };
    Flow::Stop(Outcome::Error(GuestError::BadAccessSize { port, dir, size, expected }))
}

impl Services<'_> {
    /// The seed's count of I/O exits so far: `(in, all other I/O)`.
    fn seed_io_counts(&self) -> (u64, u64) {
        (self.stats.exits.io_in_total(), self.stats.exits.io_out_total())
    }

    /// An `out` to a seed-002 port.
    pub(crate) fn seed002_out(&mut self, port: u16, data: &[u8]) -> Flow {
        let Some(p) = Seed002Port::from_port(port) else {
            let e = GuestError::UnknownPort { port, dir: "out", size: data.len() };
            return Flow::Stop(Outcome::Error(e));
        };
        let Ok(word) = <[u8; SEED002_ACCESS]>::try_from(data) else {
            return wrong_access(port, "out", data.len(), p);
        };
        let value = u32::from_le_bytes(word);
        match p {
            Seed002Port::Print32 => self.write_console(format!("{value}\n").as_bytes()),
            Seed002Port::PrintStr => match self.ram.read_c_string(u64::from(value), MAX_STRING) {
                Ok(s) => self.write_console(&s),
                Err(e) => self
                    .files
                    .diag()
                    .warn(format_args!("HC_printStr (port 0xEA): the string at {value:#x}: {e}")),
            },
            Seed002Port::GvaIn => self.seed.gva = Some(value),
            Seed002Port::NumExits | Seed002Port::NumExitsByType | Seed002Port::HvaOut => {
                return wrong_access(port, "out", data.len(), p);
            }
        }
        Flow::Continue
    }

    /// An `in` from a seed-002 port; `cr3` is the guest's, for 0xEF.
    pub(crate) fn seed002_in(
        &mut self,
        p: Seed002Port,
        port: u16,
        cr3: u64,
        data: &mut [u8],
    ) -> Flow {
        if data.len() != SEED002_ACCESS {
            return wrong_access(port, "in", data.len(), p);
        }
        let value: u32 = match p {
            // This exit is already counted.
            Seed002Port::NumExits => {
                let (i, o) = self.seed_io_counts();
                u32::try_from(i + o).unwrap_or(u32::MAX)
            }
            Seed002Port::NumExitsByType => {
                let (i, o) = self.seed_io_counts();
                let at = self.ram.write_scratch(&format!("IO in: {i}\nIO out: {o}\n"));
                // The hv page lies in the guest's first 8 MiB: always a 32-bit address.
                u32::try_from(at).unwrap_or(0)
            }
            Seed002Port::HvaOut => self.seed_gva_to_hva(cr3),
            Seed002Port::PrintStr | Seed002Port::Print32 | Seed002Port::GvaIn => {
                return wrong_access(port, "in", data.len(), p);
            }
        };
        data.copy_from_slice(&value.to_le_bytes());
        Flow::Continue
    }

    /// The host virtual address of the last 0xEE address, walked from `cr3` through the
    /// guest's own tables, truncated to 32 bits as the seed's port does; 0 and `Invalid GVA` on
    /// the console if it is unmapped or not guest RAM.
    fn seed_gva_to_hva(&mut self, cr3: u64) -> u32 {
        let hva = self.seed.gva.and_then(|gva| {
            let t = paging::translate(&self.ram, cr3, u64::from(gva))?;
            self.ram.host_address(t.gpa.as_u64())
        });
        match hva {
            Some(hva) => hva as u32,
            None => {
                self.write_console(format!("{INVALID_GVA}\n").as_bytes());
                0
            }
        }
    }
}
