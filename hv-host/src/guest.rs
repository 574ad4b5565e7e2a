//! One guest: its VM, its vCPU, and the loop that runs it until it ends.
//!
//! The loop follows one rule: **run, decode, handle**. `KVM_RUN` returns an exit; the exit is
//! turned into an owned [`Exit`] (copying the at most 8 bytes of port data), which ends the
//! borrow of the vCPU's shared `kvm_run` page; then one handler per port or exit kind runs and
//! answers with a [`Flow`]. Port reads are the exception: their reply must be written into
//! `kvm_run` before the next `KVM_RUN`, so they are answered while decoding.

use std::path::Path;
use std::time::Instant;

use hv_core::Gpa;
use hv_core::boot;
use hv_core::idt::{Exception, ExceptionFrame};
use hv_core::layout::Layout;
use hv_core::paging::{self, PhysMem};
use hv_core::proto::console::{EOF, EOF_BYTE};
use hv_core::proto::{CONSOLE_PORT, EXCEPTION_PORT, FILE_PORT, HYPERCALL_PORT};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use crate::console::{Console, LineBuffer};
use crate::devices::Disk;
use crate::files::FileTable;
use crate::memory::GuestRam;
use crate::outcome::{Fault, GuestError, GuestReport, GuestStats, Outcome};

/// What the run loop does after an exit.
#[derive(Debug)]
pub(crate) enum Flow {
    /// Re-enter the guest.
    Continue,
    /// The guest has ended.
    Stop(Outcome),
}

/// An exit, decoded and owned.
#[derive(Debug)]
enum Exit {
    /// A port write of `size` bytes (little-endian in `data`).
    Out {
        port: u16,
        data: [u8; 8],
        size: usize,
    },
    /// A port read, already answered; `Stop` if the read itself ended the guest.
    In(Flow),
    Hlt,
    Shutdown,
    InternalError,
    FailEntry(u64),
    /// An MMIO read of `size` bytes. Never answered: no device has a readable register, so it
    /// ends the guest.
    MmioRead {
        addr: u64,
        size: usize,
    },
    /// An MMIO write of `size` bytes (little-endian in `data`).
    MmioWrite {
        addr: u64,
        data: [u8; 8],
        size: usize,
    },
    /// Interrupted by a signal: just re-enter.
    Interrupted,
    Other(String),
}

/// Everything a guest's exits are handled with, apart from the vCPU itself.
pub(crate) struct Devices<'c> {
    pub(crate) id: u32,
    pub(crate) ram: GuestRam,
    pub(crate) console: &'c Console,
    pub(crate) line: LineBuffer,
    pub(crate) stats: GuestStats,
    /// Reused buffer for data copied out of the guest, so no call allocates once warm.
    pub(crate) scratch: Vec<u8>,
    pub(crate) files: FileTable,
    /// The seed's disk (the serial port has no state of its own).
    pub(crate) disk: Disk,
}

impl Devices<'_> {
    /// Sends guest bytes to its console line buffer.
    pub(crate) fn write_console(&mut self, bytes: &[u8]) {
        self.stats.console_bytes_out += bytes.len() as u64;
        self.line.push(self.console, bytes);
    }

    fn io_in(&mut self, port: u16, data: &mut [u8]) -> Flow {
        match (port, data.len()) {
            (CONSOLE_PORT, 1 | 4) => {
                // What was printed so far must be visible before the guest waits for input.
                self.line.flush(self.console);
                let byte = self.console.read_byte();
                if byte.is_some() {
                    self.stats.console_bytes_in += 1;
                }
                if data.len() == 1 {
                    data[0] = byte.unwrap_or(EOF_BYTE);
                } else {
                    let value = byte.map_or(EOF, i32::from);
                    data.copy_from_slice(&value.to_le_bytes());
                }
                Flow::Continue
            }
            (CONSOLE_PORT, size) => Flow::Stop(Outcome::Error(GuestError::BadAccessSize {
                port,
                dir: "in",
                size,
                expected: "1 or 4 bytes",
            })),
            (port, size) => self.device_port_in(port, size),
        }
    }
}

/// A guest's VM, ready to run.
pub(crate) struct Vm<'c> {
    // Field order is drop order: the vCPU goes before the VM it belongs to.
    vcpu: VcpuFd,
    _vm: VmFd,
    dev: Devices<'c>,
}

impl<'c> Vm<'c> {
    /// Creates the VM, loads `image` at 0, writes the reserved region and the entry state.
    pub(crate) fn new(
        kvm: &Kvm,
        id: u32,
        layout: Layout,
        image: &[u8],
        console: &'c Console,
        files: FileTable,
        disk: Disk,
    ) -> Result<Self, GuestError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| GuestError::Setup(format!("{what}: {e}"));
        let vm = kvm.create_vm().map_err(|e| setup("KVM_CREATE_VM", &e))?;
        let mut ram = GuestRam::new(layout).map_err(|e| setup("guest RAM", &e))?;
        ram.load_image(image)
            .map_err(|e| setup("loading the image", &e))?;
        if !boot::install(&mut ram, layout, id) {
            return Err(GuestError::Setup(
                "the reserved region does not fit guest RAM".into(),
            ));
        }
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: layout.ram_size(),
            userspace_addr: ram.host_base(),
        };
        // SAFETY: the region is exactly the mapping `ram` owns, which lives as long as the VM:
        // both are fields of this `Vm`, and `ram` (in `dev`) is dropped after the VM fd.
        unsafe { vm.set_user_memory_region(region) }
            .map_err(|e| setup("KVM_SET_USER_MEMORY_REGION", &e))?;
        let vcpu = vm
            .create_vcpu(0)
            .map_err(|e| setup("KVM_CREATE_VCPU", &e))?;
        crate::vcpu::load_entry_state(&vcpu, layout).map_err(|e| setup("vCPU state", &e))?;
        let dev = Devices {
            id,
            ram,
            console,
            line: LineBuffer::new(id),
            stats: GuestStats::default(),
            scratch: Vec::new(),
            files,
            disk,
        };
        Ok(Vm { vcpu, _vm: vm, dev })
    }

    /// Runs the guest until it ends, and reports how.
    pub(crate) fn run(mut self, image: &Path) -> GuestReport {
        let start = Instant::now();
        let outcome = loop {
            let exit = self.next_exit();
            self.dev.stats.exits += 1;
            let flow = match exit {
                Exit::Out { port, data, size } => self.io_out(port, &data[..size]),
                Exit::In(flow) => flow,
                Exit::Interrupted => Flow::Continue,
                Exit::Hlt => Flow::Stop(Outcome::Halted),
                Exit::Shutdown => Flow::Stop(Outcome::Error(GuestError::TripleFault)),
                Exit::InternalError => Flow::Stop(Outcome::Error(GuestError::InternalError {
                    suberror: self.internal_suberror(),
                })),
                Exit::FailEntry(reason) => {
                    Flow::Stop(Outcome::Error(GuestError::FailedEntry { reason }))
                }
                Exit::MmioRead { addr, size } => self.dev.mmio_read(addr, size),
                Exit::MmioWrite { addr, data, size } => self.dev.mmio_write(addr, &data[..size]),
                Exit::Other(what) => Flow::Stop(Outcome::Error(GuestError::UnexpectedExit(what))),
            };
            if let Flow::Stop(outcome) = flow {
                break outcome;
            }
        };
        self.dev.line.flush(self.dev.console);
        if !outcome.is_success() {
            self.log_registers();
        }
        GuestReport {
            id: self.dev.id,
            image: image.to_path_buf(),
            outcome,
            run_time: start.elapsed(),
            stats: self.dev.stats,
        }
    }

    /// `KVM_RUN` once, decoded.
    fn next_exit(&mut self) -> Exit {
        let dev = &mut self.dev;
        match self.vcpu.run() {
            Ok(VcpuExit::IoOut(port, bytes)) => {
                let mut data = [0; 8];
                let size = bytes.len().min(8);
                data[..size].copy_from_slice(&bytes[..size]);
                Exit::Out { port, data, size }
            }
            Ok(VcpuExit::IoIn(port, data)) => Exit::In(dev.io_in(port, data)),
            Ok(VcpuExit::Hlt) => Exit::Hlt,
            Ok(VcpuExit::Shutdown) => Exit::Shutdown,
            Ok(VcpuExit::InternalError) => Exit::InternalError,
            Ok(VcpuExit::FailEntry(reason, _cpu)) => Exit::FailEntry(reason),
            Ok(VcpuExit::MmioRead(addr, data)) => Exit::MmioRead {
                addr,
                size: data.len(),
            },
            Ok(VcpuExit::MmioWrite(addr, bytes)) => {
                let mut data = [0; 8];
                let size = bytes.len().min(8);
                data[..size].copy_from_slice(&bytes[..size]);
                Exit::MmioWrite { addr, data, size }
            }
            Ok(VcpuExit::Intr) => Exit::Interrupted,
            Ok(other) => Exit::Other(format!("{other:?}")),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Exit::Interrupted,
            Err(e) => Exit::Other(format!("KVM_RUN: {e}")),
        }
    }

    fn io_out(&mut self, port: u16, data: &[u8]) -> Flow {
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
            (HYPERCALL_PORT, [op]) => self.dev.hypercall(*op),
            (FILE_PORT, [op]) => self.dev.file_call(*op),
            (CONSOLE_PORT | HYPERCALL_PORT | FILE_PORT, _) => bad_size("1 byte"),
            (EXCEPTION_PORT, _) => self.exception(),
            _ => self.dev.device_port_out(port, data),
        }
    }

    /// A ring-0 stub reported an exception: read its frame and decide what it means.
    fn exception(&mut self) -> Flow {
        let (regs, sregs) = match (self.vcpu.get_regs(), self.vcpu.get_sregs()) {
            (Ok(r), Ok(s)) => (r, s),
            (Err(e), _) | (_, Err(e)) => {
                return Flow::Stop(Outcome::Error(GuestError::Run(e.to_string())));
            }
        };
        let cpl = sregs.cs.dpl;
        if cpl != 0 {
            return Flow::Stop(Outcome::Error(GuestError::ForgedException { cpl }));
        }
        let ram = &self.dev.ram;
        let word = |i: u64| ram.read_u64(Gpa::new(regs.rsp.wrapping_add(i * 8)));
        let frame = (0..7)
            .map(word)
            .collect::<Option<Vec<u64>>>()
            .map(|w| ExceptionFrame {
                vector: w[0],
                error_code: w[1],
                rip: w[2],
                cs: w[3],
                rflags: w[4],
                rsp: w[5],
                ss: w[6],
            });
        let Some(frame) = frame else {
            return Flow::Stop(Outcome::Error(GuestError::UnexpectedExit(
                "exception report with its frame outside guest RAM".into(),
            )));
        };
        log::debug!("guest {}: exception frame {frame:x?}", self.dev.id);
        let vector = u8::try_from(frame.vector).unwrap_or(u8::MAX);
        let from_ring3 = frame.cs & 3 == 3;
        // The seed's guests end with `hlt`, which faults with #GP in ring 3: that is a halt.
        if vector == Exception::GeneralProtection as u8 && from_ring3 {
            let at_rip = paging::translate(ram, sregs.cr3, frame.rip)
                .and_then(|t| ram.read_u8(t.gpa.as_u64()));
            if at_rip == Some(0xF4) {
                return Flow::Stop(Outcome::Halted);
            }
        }
        Flow::Stop(Outcome::Fault(Fault {
            vector,
            error_code: frame.error_code,
            rip: frame.rip,
            address: sregs.cr2,
            cpl: (frame.cs & 3) as u8,
        }))
    }

    fn internal_suberror(&mut self) -> u32 {
        let run = self.vcpu.get_kvm_run();
        // SAFETY: KVM filled the `internal` member of the exit union: the exit reason was
        // KVM_EXIT_INTERNAL_ERROR, which is how we got here.
        unsafe { run.__bindgen_anon_1.internal.suberror }
    }

    fn log_registers(&self) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        if let (Ok(r), Ok(s)) = (self.vcpu.get_regs(), self.vcpu.get_sregs()) {
            log::debug!(
                "guest {} registers: rip={:#x} rsp={:#x} rflags={:#x} rax={:#x} rbx={:#x} rcx={:#x} \
                 rdx={:#x} rsi={:#x} rdi={:#x} rbp={:#x} r8={:#x} r9={:#x} r10={:#x} r11={:#x} \
                 r12={:#x} r13={:#x} r14={:#x} r15={:#x} cr2={:#x} cr3={:#x} cs={:#x}",
                self.dev.id,
                r.rip,
                r.rsp,
                r.rflags,
                r.rax,
                r.rbx,
                r.rcx,
                r.rdx,
                r.rsi,
                r.rdi,
                r.rbp,
                r.r8,
                r.r9,
                r.r10,
                r.r11,
                r.r12,
                r.r13,
                r.r14,
                r.r15,
                s.cr2,
                s.cr3,
                s.cs.selector
            );
        }
    }
}
