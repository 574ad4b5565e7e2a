//! Port dispatch: which service answers a port access, after the access's size is checked.
//!
//! hv's own ports (console, hypercall, file) take 1-byte accesses; the exception port is the
//! ring-0 stubs' report (see `exception`); seed 002's ports and the seed 003 devices check their
//! own sizes. The services themselves live in `services`; what is here needs the vCPU as well
//! (the guest's CR3 for address translation) or the guest's mode. Writes KVM queued without an
//! exit reach the same services through `coalesce`'s drain instead.

use hv_core::proto::hypercall::HcOp;
use hv_core::proto::seed::Seed002Port;
use hv_core::proto::{CONSOLE_PORT, EXCEPTION_PORT, FILE_PORT, HYPERCALL_PORT};

use super::Vm;
use crate::outcome::{GuestError, Outcome};
use crate::services::Flow;

impl Vm<'_> {
    /// A port write.
    pub(super) fn io_out(&mut self, port: u16, data: &[u8]) -> Flow {
        let bad_size = |expected| {
            Flow::Stop(Outcome::Error(GuestError::BadAccessSize {
                port,
                dir: "out",
                size: data.len(),
                expected,
            }))
        };
        match (port, data) {
            (CONSOLE_PORT, [byte]) => {
                self.dev.write_console(&[*byte]);
                Flow::Continue
            }
            (HYPERCALL_PORT, [op]) if *op == HcOp::GvaToHva as u8 => self.gva_to_hva(),
            (HYPERCALL_PORT, [op]) => self.dev.hypercall(*op),
            (FILE_PORT, [byte]) => self.dev.file_port_out(*byte),
            (CONSOLE_PORT | HYPERCALL_PORT | FILE_PORT, _) => bad_size("1 byte"),
            (EXCEPTION_PORT, _) => self.exception(),
            _ if Seed002Port::from_port(port).is_some() => self.dev.seed002_out(port, data),
            _ => self.dev.device_port_out(port, data),
        }
    }

    /// A port read; the reply is in `data` when the flow is [`Flow::Continue`].
    pub(super) fn io_in(&mut self, port: u16, data: &mut [u8]) -> Flow {
        match Seed002Port::from_port(port) {
            Some(p) => self.seed002_in(p, port, data),
            None => self.dev.io_in(port, data),
        }
    }

    /// The guest's CR3, for walking its own page tables.
    pub(super) fn cr3(&self) -> Result<u64, Flow> {
        self.vcpu
            .get_sregs()
            .map(|s| s.cr3)
            .map_err(|e| Flow::Stop(Outcome::Error(GuestError::Run(e.to_string()))))
    }

    /// An `in` from a seed-002 port; 0xEF needs the guest's CR3, or its mode has no paging.
    fn seed002_in(&mut self, p: Seed002Port, port: u16, data: &mut [u8]) -> Flow {
        if p == Seed002Port::HvaOut && !self.mode.paging() {
            return self.seed_hva_without_paging(port, data);
        }
        let cr3 = match p {
            Seed002Port::HvaOut => match self.cr3() {
                Ok(cr3) => cr3,
                Err(stop) => return stop,
            },
            _ => 0,
        };
        self.dev.seed002_in(p, port, cr3, data)
    }

    /// `HC_gvaToHva`: walks the guest's own page tables, from its CR3, with the same walker
    /// the page-table builder is tested against; no identity shortcut (without paging, in the
    /// 16- and 32-bit modes, the address is its own physical one; see `CpuMode::translate`).
    fn gva_to_hva(&mut self) -> Flow {
        let gva = self.dev.ram.read_mailbox()[0];
        let gpa = match self.linear_to_gpa(gva) {
            Ok(gpa) => gpa,
            Err(stop) => return stop,
        };
        let ram = &self.dev.ram;
        let (hva, gpa) = gpa
            .and_then(|gpa| Some((ram.host_address(gpa.as_u64())?, gpa.as_u64())))
            .unwrap_or((0, 0));
        ram.write_result(hva as i64, gpa);
        Flow::Continue
    }
}
