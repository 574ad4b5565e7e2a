//! One guest: its VM, its vCPU, and the step that runs it to its next handled exit.
//!
//! [`Vm::step`] is the only place exits are dispatched; both ways of running guests (a thread
//! per guest, or all on one thread: see `sched`) call it in a loop and differ only in what
//! they do between steps.
//!
//! A step follows one rule: **run, decode, handle**. `KVM_RUN` returns an exit; the exit is
//! turned into an owned [`Exit`] (copying the at most 8 bytes of port data), which ends the
//! borrow of the vCPU's shared `kvm_run` page; then one handler per port or exit kind runs and
//! answers with a [`Flow`]. Port reads are the exception: their reply must be written into
//! `kvm_run` before the next `KVM_RUN`, so they are answered while decoding.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hv_core::Gpa;
use hv_core::boot;
use hv_core::idt::{Exception, ExceptionFrame, FRAME_WORDS};
use hv_core::layout::Layout;
use hv_core::paging::{self, PhysMem};
use hv_core::proto::hypercall::HcOp;
use hv_core::proto::seed::Seed002Port;
use hv_core::proto::{CONSOLE_PORT, EXCEPTION_PORT, FILE_PORT, HYPERCALL_PORT};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Cap, IoEventAddress, Kvm, VcpuExit, VcpuFd, VmFd};

use crate::console::{Console, LineBuffer};
use crate::console_ring::ConsoleRing;
use crate::devices::Disk;
use crate::files::FileTable;
use crate::image::{Image, Symbols};
use crate::kick::KickFlag;
use crate::memory::GuestRam;
use crate::outcome::{Fault, GuestError, GuestReport, GuestStats, Outcome};
use crate::services::{Flow, Services};
use crate::stats::ExitKind;

/// What one [`Vm::step`] came to.
#[derive(Debug)]
pub(crate) enum Step {
    /// An exit was handled; the guest can be resumed.
    Continue,
    /// `KVM_RUN` returned `EINTR`: a kick (see `kick`), or another signal, interrupted it before
    /// the guest exited by itself. The caller decides from the clock what that means. The
    /// guest's state is untouched: resumed, it goes on exactly where it was.
    Preempted,
    /// The guest has ended; [`Vm::finish`] makes its report.
    Ended(Outcome),
    /// The guest waits for console input and was not run; step it again once
    /// [`Vm::input_ready`] says so (or to find that out).
    Waiting,
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
    /// A port read of `size` bytes, answered by [`Vm::answer_in`] once handled.
    In {
        port: u16,
        size: usize,
    },
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
    /// Interrupted by a signal.
    Interrupted,
    Other(String),
}

impl Exit {
    /// How the exit is counted in the statistics.
    fn kind(&self) -> ExitKind {
        match self {
            Exit::Out { port, .. } => ExitKind::IoOut(*port),
            Exit::In { port, .. } => ExitKind::IoIn(*port),
            Exit::Hlt => ExitKind::Hlt,
            Exit::MmioRead { .. } | Exit::MmioWrite { .. } => ExitKind::Mmio,
            Exit::Interrupted => ExitKind::Interrupted,
            Exit::Shutdown | Exit::InternalError | Exit::FailEntry(_) | Exit::Other(_) => {
                ExitKind::Other
            }
        }
    }
}

/// Byte-wise console exits after which a guest's console port is coalesced.
///
/// Why not at once: registering a coalesced zone makes the VM's teardown wait for an SRCU
/// grace period, ~13 ms on our machines, while a guest that prints with `print!` (one exit per
/// call) never needs the ring. 256 exits cost ~5 ms; a guest that `putchar`s more than that
/// gets the ring (100 000 `putchar`s: ~590 exits instead of 100 000).
const COALESCE_AFTER: u32 = 256;

/// The coalesced-PIO ring of the console port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coalesce {
    /// KVM cannot coalesce port I/O: every console `out` exits.
    Unavailable,
    /// The ring is mapped; the port is not registered yet.
    Ready,
    /// Console `out`s are queued in the ring, drained on every exit.
    Active,
}

/// Coalesced MMIO zones over the disk's sector and address registers (`--mmio`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DiskZones {
    /// Not possible: no MMIO window, or KVM cannot coalesce MMIO.
    Unavailable,
    /// To be registered once the guest sets its disk up.
    Pending,
    /// Registered: writes to the two registers are queued, drained at the next exit.
    Active,
}

/// Which kinds of coalesced zone KVM offers.
#[derive(Clone, Copy, Debug)]
struct CoalescingCaps {
    pio: bool,
    mmio: bool,
}

/// What KVM offers, asked once per process (the answer cannot change) instead of per guest.
fn coalescing_caps(kvm: &Kvm) -> CoalescingCaps {
    static CAPS: std::sync::OnceLock<CoalescingCaps> = std::sync::OnceLock::new();
    *CAPS.get_or_init(|| CoalescingCaps {
        pio: kvm.check_extension(Cap::CoalescedPio),
        mmio: kvm.check_extension(Cap::CoalescedMmio),
    })
}

/// A guest's VM, ready to run.
pub(crate) struct Vm<'c> {
    // Field order is drop order: the vCPU goes before the VM it belongs to.
    vcpu: VcpuFd,
    /// The vCPU's `immediate_exit` byte; valid as long as `vcpu`.
    kick: KickFlag,
    vm: VmFd,
    dev: Services<'c>,
    /// Whether console `out`s are queued in the coalesced-PIO ring instead of exiting.
    coalesce: Coalesce,
    /// Console `out`s that exited so far (to decide when to start coalescing).
    console_out_exits: u32,
    /// The size of the console `in` the guest is parked in, not answered yet.
    waiting_in: Option<usize>,
    /// The frame of the exception that ended the guest, for the register dump.
    fault_frame: Option<ExceptionFrame>,
    /// The image's function symbols, to name the code a fault happened in.
    symbols: Arc<Symbols>,
    /// The console ring and exit counts in the hv page (see `console_ring`).
    ring: ConsoleRing,
    /// Whether the disk's sector and address registers are coalesced.
    disk_zones: DiskZones,
    /// Whether KVM's coalesced ring is mapped (see `map_coalesced_ring`).
    ring_mapped: bool,
    /// Whether the guest's ABI announcement was found (and matched).
    abi_checked: bool,
    /// Whether [`Vm::finish`] leaves the VM for the process exit to tear down.
    teardown_at_exit: bool,
}

impl<'c> Vm<'c> {
    /// Creates the VM, loads `image`'s segments, writes the reserved region and the entry state.
    pub(crate) fn new(
        kvm: &Kvm,
        id: u32,
        layout: Layout,
        image: &Image,
        console: &'c Console,
        files: FileTable,
        disk: Disk,
    ) -> Result<Self, GuestError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| GuestError::Setup(format!("{what}: {e}"));
        let vm = kvm.create_vm().map_err(|e| setup("KVM_CREATE_VM", &e))?;
        let mut ram = GuestRam::new(layout).map_err(|e| setup("guest RAM", &e))?;
        for segment in &image.segments {
            ram.load_image(segment.addr, &segment.bytes)
                .map_err(|e| setup("loading the image", &e))?;
        }
        if !boot::install(&mut ram, layout, id) {
            return Err(GuestError::Setup("the reserved region does not fit guest RAM".into()));
        }
        ram.seal();
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
        let mut vcpu = vm.create_vcpu(0).map_err(|e| setup("KVM_CREATE_VCPU", &e))?;
        crate::vcpu::load_entry_state_at(&vcpu, layout, image.entry)
            .map_err(|e| setup("vCPU state", &e))?;
        // Console output without an exit per byte, where KVM offers it (KVM_CAP_COALESCED_PIO):
        // the ring is mapped now, the port is registered once the guest shows it needs it.
        // KVM's ring for them is mapped only when a zone is first registered: most guests
        // never need it.
        let caps = coalescing_caps(kvm);
        let coalesce = if caps.pio { Coalesce::Ready } else { Coalesce::Unavailable };
        let disk_zones = if caps.mmio && layout.mmio_window().is_some() {
            DiskZones::Pending
        } else {
            DiskZones::Unavailable
        };
        let ring = ConsoleRing::new(&ram, layout);
        let dev = Services {
            id,
            ram,
            console,
            line: LineBuffer::new(id, console),
            stats: GuestStats::default(),
            scratch: Vec::new(),
            files,
            disk,
            seed: Default::default(),
        };
        let kick = KickFlag::of(&mut vcpu);
        let symbols = image.symbols.clone();
        Ok(Vm {
            vcpu,
            kick,
            vm,
            dev,
            coalesce,
            console_out_exits: 0,
            waiting_in: None,
            fault_frame: None,
            symbols,
            ring,
            disk_zones,
            ring_mapped: false,
            abi_checked: false,
            teardown_at_exit: false,
        })
    }

    /// From now on, [`Vm::finish`] leaves the vCPU and the VM for the process's exit to tear
    /// down (see `Builder::teardown_at_exit`).
    pub(crate) fn leave_teardown_to_exit(&mut self) {
        self.teardown_at_exit = true;
    }

    /// The flag a kick sets to stop this guest's `KVM_RUN`; valid as long as this `Vm`.
    pub(crate) fn kick_flag(&self) -> KickFlag {
        self.kick
    }

    /// True: console output may always be queued without exits (in the console ring of the hv
    /// pages, and in the coalesced-PIO ring once that is active), so the runner must make sure
    /// exits happen (see `sched::run_alone`'s periodic drain) from the start.
    ///
    /// Why from the start: a guest prints into the ring without exiting (`println!` included),
    /// so one that prints a line and then computes, without ever having exited, would otherwise
    /// show nothing until its ring fills or it ends. The price is the drain's signal: its frame
    /// costs the guest's host thread a few KiB of stack the first time it fires, which only a
    /// guest that computes for longer than the drain period pays (64 `spin` guests: about
    /// 4 KiB more each).
    pub(crate) fn console_coalesced(&self) -> bool {
        true
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> &GuestStats {
        &self.dev.stats
    }

    /// Counters so far, for the scheduler to add to.
    pub(crate) fn stats_mut(&mut self) -> &mut GuestStats {
        &mut self.dev.stats
    }

    /// True if a guest parked in a console read can go on (input or end of input is there for
    /// it), or is not parked at all.
    pub(crate) fn input_ready(&self) -> bool {
        self.waiting_in.is_none() || self.dev.console.input.ready_for(self.dev.id)
    }

    /// The stopper of this guest's run.
    pub(crate) fn stopper(&self) -> &crate::stop::Stopper {
        self.dev.console.stopper()
    }

    /// Runs the guest to its next exit and handles it: one `KVM_RUN`, decoded and dispatched.
    /// A guest parked in a console read is first given its byte, or stays parked
    /// ([`Step::Waiting`]) without running.
    pub(crate) fn step(&mut self) -> Step {
        if let Some(size) = self.waiting_in {
            let mut data = [0u8; 8];
            match self.dev.io_in(CONSOLE_PORT, &mut data[..size]) {
                Flow::Wait => return Step::Waiting,
                Flow::Continue => {
                    self.waiting_in = None;
                    self.answer_in(&data[..size]);
                }
                Flow::Stop(outcome) => return Step::Ended(outcome),
            }
        }
        let exit = self.next_exit();
        self.dev.stats.exits.count(exit.kind());
        // A guest built for another ABI must not have its ring or its calls read our way.
        if !self.abi_checked {
            match self.ring.announced_abi() {
                0 => {}
                v if v == u64::from(hv_core::ABI_VERSION) => self.abi_checked = true,
                guest => {
                    let host = hv_core::ABI_VERSION;
                    return Step::Ended(Outcome::Error(GuestError::AbiMismatch { guest, host }));
                }
            }
        }
        self.ring.publish(&self.dev.stats.exits.counts());
        // Console bytes and register writes the guest made without exiting come before whatever
        // this exit does.
        if let Flow::Stop(outcome) = self.drain_console_ring() {
            return Step::Ended(outcome);
        }
        if let Err(e) = self.drain_memory_ring() {
            return Step::Ended(Outcome::Error(GuestError::from(e)));
        }
        if self.coalesce == Coalesce::Active && self.ring.used() {
            self.stop_coalescing();
        }
        let flow = match exit {
            Exit::Out { port, data, size } => self.io_out(port, &data[..size]),
            Exit::In { port, size } => {
                let mut data = [0u8; 8];
                let flow = match Seed002Port::from_port(port) {
                    Some(p) => self.seed002_in(p, port, &mut data[..size]),
                    None => self.dev.io_in(port, &mut data[..size]),
                };
                if let Flow::Wait = flow {
                    // Answered when input comes (the `kvm_run` page keeps this exit until the
                    // next KVM_RUN, which only happens after the answer).
                    self.waiting_in = Some(size);
                    return Step::Waiting;
                }
                self.answer_in(&data[..size]);
                flow
            }
            Exit::Interrupted => return Step::Preempted,
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
        if self.disk_zones == DiskZones::Pending && self.dev.disk.is_set_up() {
            self.register_disk_zones();
        }
        match flow {
            Flow::Continue => Step::Continue,
            Flow::Stop(outcome) => Step::Ended(outcome),
            // Only console reads wait, and those are handled above.
            Flow::Wait => Step::Waiting,
        }
    }

    /// Ends the guest with `outcome` (from [`Step::Ended`], or the caller's own, such as a
    /// timeout): writes out its last console output and reports. `run_time` is the wall time
    /// since the host started running it.
    pub(crate) fn finish(
        mut self,
        outcome: Outcome,
        image: &Path,
        run_time: Duration,
    ) -> GuestReport {
        let outcome = match (self.drain_console_ring(), outcome) {
            (Flow::Stop(failed), ended) if ended.is_success() => failed,
            (_, ended) => ended,
        };
        let outcome = match self.drain_memory_ring() {
            Err(e) if outcome.is_success() => Outcome::Error(GuestError::from(e)),
            _ => outcome,
        };
        self.dev.line.finish(self.dev.console);
        if self.waiting_in.is_some() {
            self.dev.console.input.cancel(self.dev.id);
        }
        if !outcome.is_success() {
            self.log_registers();
        }
        let Services { id, mut stats, files, mut disk, ram, .. } = self.dev;
        disk.finish();
        files.report(&mut stats);
        if self.teardown_at_exit {
            // The vCPU and the VM are left for the process's exit, with no handle left to
            // either, so neither runs or is asked anything again; the RAM their memory slot
            // maps is freed now all the same (KVM touches a slot's memory only for a vCPU or
            // an ioctl), which keeps many guests' peak memory where it was.
            std::mem::forget((self.vcpu, self.vm));
            drop(ram);
        } else {
            // A tuple drops its fields in order: the vCPU, then its VM, then the RAM the VM's
            // memory slot maps.
            drop((self.vcpu, self.vm, ram));
        }
        GuestReport { id, image: image.to_path_buf(), outcome, run_time, stats }
    }

    /// `KVM_RUN` once, decoded.
    fn next_exit(&mut self) -> Exit {
        let entered = Instant::now();
        let result = self.vcpu.run();
        self.dev.stats.cpu_time += entered.elapsed();
        match result {
            Ok(VcpuExit::IoOut(port, bytes)) => {
                let mut data = [0; 8];
                let size = bytes.len().min(8);
                data[..size].copy_from_slice(&bytes[..size]);
                Exit::Out { port, data, size }
            }
            Ok(VcpuExit::IoIn(port, data)) => Exit::In { port, size: data.len().min(8) },
            Ok(VcpuExit::Hlt) => Exit::Hlt,
            Ok(VcpuExit::Shutdown) => Exit::Shutdown,
            Ok(VcpuExit::InternalError) => Exit::InternalError,
            Ok(VcpuExit::FailEntry(reason, _cpu)) => Exit::FailEntry(reason),
            Ok(VcpuExit::MmioRead(addr, data)) => Exit::MmioRead { addr, size: data.len() },
            Ok(VcpuExit::MmioWrite(addr, bytes)) => {
                let mut data = [0; 8];
                let size = bytes.len().min(8);
                data[..size].copy_from_slice(&bytes[..size]);
                Exit::MmioWrite { addr, data, size }
            }
            Ok(VcpuExit::Intr) => {
                self.kick.clear();
                Exit::Interrupted
            }
            Ok(other) => Exit::Other(format!("{other:?}")),
            // Note: the kick flag is cleared here, after an interrupted KVM_RUN, and nowhere
            // else; the caller then reads the clock. See the race analysis in `kick`.
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                self.kick.clear();
                Exit::Interrupted
            }
            Err(e) => Exit::Other(format!("KVM_RUN: {e}")),
        }
    }

    /// Writes the reply to a port read into `kvm_run`, where KVM takes it on the next entry.
    fn answer_in(&mut self, data: &[u8]) {
        let run = self.vcpu.get_kvm_run();
        // SAFETY: the last exit was KVM_EXIT_IO (we decoded it as `Exit::In`), so `io` is the
        // union member KVM filled in.
        let io = unsafe { run.__bindgen_anon_1.io };
        let len = data.len().min(usize::from(io.size) * io.count as usize);
        let base = (run as *mut kvm_bindings::kvm_run).cast::<u8>();
        // SAFETY: KVM places the data `data_offset` bytes into the kvm_run mapping, which
        // kvm-ioctls maps whole for the life of the vCPU; `len` is at most the size KVM gave.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), base.add(io.data_offset as usize), len)
        };
    }

    /// Hands the console bytes in the coalesced ring to the guest's line buffer, and the queued
    /// disk register writes to the disk, in the order the guest made them.
    ///
    /// Note (ordering): `out` to the console port and writes to the coalesced disk registers do
    /// not exit while the ring has room; KVM queues them, all in one ring, in program order.
    /// Draining on every exit, before the exit is handled, and when the guest ends, keeps them
    /// in order with everything else the guest does: in particular the disk command, which
    /// exits, sees the sector and address written before it. A queued write that is an error
    /// (a register written with the wrong width) ends the guest as it would have had it
    /// exited; what the guest queued after it is dropped, as it would never have run.
    fn drain_console_ring(&mut self) -> Flow {
        if self.coalesce != Coalesce::Active && self.disk_zones != DiskZones::Active {
            return Flow::Continue;
        }
        let mut bytes = [0u8; 256];
        let mut n = 0;
        let mut flow = Flow::Continue;
        while let Ok(Some(entry)) = self.vcpu.coalesced_mmio_read() {
            if matches!(flow, Flow::Stop(_)) {
                continue; // drain the rest, which the guest would never have reached
            }
            // SAFETY: both members of the union are a plain u32; KVM sets `pio` to 1 for a
            // port write and 0 for MMIO.
            let pio = unsafe { entry.__bindgen_anon_1.pio } != 0;
            let len = (entry.len as usize).min(entry.data.len());
            if pio && entry.phys_addr == u64::from(CONSOLE_PORT) && len == 1 {
                bytes[n] = entry.data[0];
                n += 1;
                if n == bytes.len() {
                    self.dev.write_console(&bytes);
                    n = 0;
                }
                continue;
            }
            if n > 0 {
                self.dev.write_console(&bytes[..n]);
                n = 0;
            }
            let data = &entry.data[..len];
            flow = match u16::try_from(entry.phys_addr) {
                Ok(port) if pio => self.dev.device_port_out(port, data),
                _ => self.dev.mmio_write(entry.phys_addr, data),
            };
        }
        if n > 0 {
            self.dev.write_console(&bytes[..n]);
        }
        flow
    }

    /// Maps KVM's coalesced ring into the host, once, before the first zone is registered.
    fn map_coalesced_ring(&mut self) -> Result<(), kvm_ioctls::Error> {
        if !self.ring_mapped {
            self.vcpu.map_coalesced_mmio_ring()?;
            self.ring_mapped = true;
        }
        Ok(())
    }

    /// Queues the disk's sector and address register writes (`--mmio`) in the coalesced ring
    /// instead of exiting on each, so a sector costs one exit: the command's.
    ///
    /// Only once the guest has set its disk up: a registered zone makes the VM's teardown wait
    /// for an SRCU grace period (see [`COALESCE_AFTER`]), which guests that never use the disk
    /// should not pay. Port mode cannot do the same: the 4-byte sector register at port 0x20
    /// spans ports 0x20-0x23, and KVM queues every write that lies inside a zone, so any zone
    /// that holds it would swallow the command byte at port 0x22 as well.
    fn register_disk_zones(&mut self) {
        use hv_core::proto::devices::DeviceReg;
        let Some(window) = self.dev.ram.layout().mmio_window() else {
            self.disk_zones = DiskZones::Unavailable;
            return;
        };
        if let Err(e) = self.map_coalesced_ring() {
            log::warn!("guest {}: mapping the coalesced ring: {e}", self.dev.id);
            self.disk_zones = DiskZones::Unavailable;
            return;
        }
        self.disk_zones = DiskZones::Active;
        for reg in [DeviceReg::DiskSector, DeviceReg::DiskAddr] {
            let zone = IoEventAddress::Mmio(window.as_u64() + reg.mmio_offset());
            if let Err(e) = self.vm.register_coalesced_mmio(zone, reg.width() as u32) {
                log::warn!("guest {}: coalescing the disk registers: {e}", self.dev.id);
            }
        }
    }

    /// Makes console `out`s exit again, for good: the guest also writes to the console ring.
    ///
    /// Note (ordering across the two queues): bytes in the coalesced-PIO queue and in the
    /// console ring carry no order between them, and the host drains the PIO queue first. That
    /// is right as long as no coalesced `out` follows a ring write between two exits, so the
    /// port is coalesced only while the ring is unused (seed-style guests, which never touch
    /// it), and stops being coalesced at the first exit after the ring was used. Only `out`s
    /// made between a guest's first ring write and its next exit can come out early.
    fn stop_coalescing(&mut self) {
        let zone = IoEventAddress::Pio(u64::from(CONSOLE_PORT));
        if let Err(e) = self.vm.unregister_coalesced_mmio(zone, 1) {
            log::warn!("guest {}: unregistering the coalesced console port: {e}", self.dev.id);
        }
        self.coalesce = Coalesce::Ready;
    }

    /// Hands the bytes the guest put in its console ring (hv page) to its line buffer; see
    /// `console_ring` and the ordering Note above, which applies alike.
    fn drain_memory_ring(&mut self) -> Result<(), crate::console_ring::BadHead> {
        let Vm { ring, dev, .. } = self;
        ring.drain(|bytes| dev.write_console(bytes))
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
                self.console_out_exits += 1;
                if self.console_out_exits == COALESCE_AFTER
                    && self.coalesce == Coalesce::Ready
                    && !self.ring.used()
                {
                    let zone = IoEventAddress::Pio(u64::from(CONSOLE_PORT));
                    self.coalesce = match self.map_coalesced_ring() {
                        Ok(()) => match self.vm.register_coalesced_mmio(zone, 1) {
                            Ok(()) => Coalesce::Active,
                            Err(_) => Coalesce::Unavailable,
                        },
                        Err(_) => Coalesce::Unavailable,
                    };
                }
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

    /// An `in` from a seed-002 port; 0xEF needs the guest's CR3.
    fn seed002_in(&mut self, p: Seed002Port, port: u16, data: &mut [u8]) -> Flow {
        let cr3 = match p {
            Seed002Port::HvaOut => match self.vcpu.get_sregs() {
                Ok(s) => s.cr3,
                Err(e) => return Flow::Stop(Outcome::Error(GuestError::Run(e.to_string()))),
            },
            _ => 0,
        };
        self.dev.seed002_in(p, port, cr3, data)
    }

    /// `HC_gvaToHva`: walks the guest's own page tables, from its CR3, with the same walker
    /// the page-table builder is tested against; no identity shortcut.
    fn gva_to_hva(&mut self) -> Flow {
        let cr3 = match self.vcpu.get_sregs() {
            Ok(s) => s.cr3,
            Err(e) => return Flow::Stop(Outcome::Error(GuestError::Run(e.to_string()))),
        };
        let gva = self.dev.ram.read_mailbox()[0];
        let ram = &self.dev.ram;
        let (hva, gpa) = paging::translate(ram, cr3, gva)
            .and_then(|t| Some((ram.host_address(t.gpa.as_u64())?, t.gpa.as_u64())))
            .unwrap_or((0, 0));
        ram.write_result(hva as i64, gpa);
        Flow::Continue
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
        let mut words = [0u64; FRAME_WORDS as usize];
        let mut complete = true;
        for (i, w) in words.iter_mut().enumerate() {
            match word(i as u64) {
                Some(v) => *w = v,
                None => complete = false,
            }
        }
        if !complete {
            return Flow::Stop(Outcome::Error(GuestError::UnexpectedExit(
                "exception report with its frame outside guest RAM".into(),
            )));
        }
        let frame = ExceptionFrame::from_words(words);
        log::debug!("guest {}: exception frame {frame:x?}", self.dev.id);
        self.fault_frame = Some(frame);
        let vector = u8::try_from(frame.vector).unwrap_or(u8::MAX);
        let from_ring3 = frame.cs & 3 == 3;
        // The seed's guests end with `hlt`, which faults with #GP in ring 3: that is a halt.
        if vector == Exception::GeneralProtection as u8 && from_ring3 {
            let at_rip = paging::translate(ram, sregs.cr3, frame.rip)
                .and_then(|t| ram.read_u8(t.gpa.as_u64()));
            if at_rip == Some(0xF4) {
                return Flow::Stop(Outcome::Halted);
            }
            if let Some(flow) = self.emulate_privileged(&frame, regs, &sregs) {
                return flow;
            }
        }
        Flow::Stop(Outcome::Fault(Fault {
            vector,
            error_code: frame.error_code,
            rip: frame.rip,
            address: sregs.cr2,
            cpl: (frame.cs & 3) as u8,
            symbol: self.symbols.describe(frame.rip),
        }))
    }

    /// A ring-3 #GP on a harmless privileged instruction (see `privileged`): emulates it and
    /// resumes the guest past it, with the registers the stub saved and the CPU pushed restored
    /// exactly. `None` if it is not one.
    fn emulate_privileged(
        &mut self,
        frame: &ExceptionFrame,
        mut regs: kvm_bindings::kvm_regs,
        sregs: &kvm_bindings::kvm_sregs,
    ) -> Option<Flow> {
        use crate::privileged::{ControlRegs, apply, decode, fetch};
        let code = fetch(&self.dev.ram, sregs.cr3, frame.rip);
        let emulation = decode(&code, frame.rip, ControlRegs::of(sregs.cr2, sregs.cr3))?;
        regs.rip = frame.rip;
        regs.rsp = frame.rsp;
        regs.rflags = frame.rflags;
        regs.rdx = frame.rdx;
        apply(&mut regs, emulation);
        let mut sregs = *sregs;
        crate::vcpu::set_ring3_segments(&mut sregs, self.dev.ram.layout());
        if let Err(e) = self.vcpu.set_sregs(&sregs).and_then(|()| self.vcpu.set_regs(&regs)) {
            return Some(Flow::Stop(Outcome::Error(GuestError::Run(e.to_string()))));
        }
        log::debug!("guest {}: emulated {:?} at rip {:#x}", self.dev.id, emulation, frame.rip);
        Some(Flow::Continue)
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
                "{}",
                crate::registers::dump(self.dev.id, &r, &s, self.fault_frame.as_ref())
            );
        }
    }
}
