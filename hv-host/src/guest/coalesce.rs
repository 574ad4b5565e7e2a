//! KVM's coalesced ring: port and MMIO writes the guest makes without exiting, queued by KVM
//! and drained by the host at the guest's next exit and at its end.
//!
//! Two users today: the console port (0xE9), coalesced once a guest has shown it prints byte by
//! byte with raw `out`s, and the disk's sector and address registers in the MMIO window, once
//! the guest has set its disk up. [`Coalescer`] owns when each zone is registered and the one
//! drain that hands every queued write, in order, to the service that would have handled its
//! exit.

use hv_core::proto::CONSOLE_PORT;
use hv_core::proto::devices::DeviceReg;
use kvm_ioctls::{Cap, IoEventAddress, Kvm, VcpuFd, VmFd};

use crate::services::{Flow, Services};

/// Byte-wise console exits after which a guest's console port is coalesced.
///
/// Why not at once: registering a coalesced zone makes the VM's teardown wait for an SRCU
/// grace period, ~13 ms on our machines, while a guest that prints with `print!` (one exit per
/// call) never needs the ring. 256 exits cost ~5 ms; a guest that `putchar`s more than that
/// gets the ring (100 000 `putchar`s: ~590 exits instead of 100 000).
const COALESCE_AFTER: u32 = 256;

/// The coalesced-PIO zone of the console port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Console {
    /// KVM cannot coalesce port I/O: every console `out` exits.
    Unavailable,
    /// Possible; the port is not registered (yet, or any more).
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
struct Caps {
    pio: bool,
    mmio: bool,
}

/// What KVM offers, asked once per process (the answer cannot change) instead of per guest.
fn caps(kvm: &Kvm) -> Caps {
    static CAPS: std::sync::OnceLock<Caps> = std::sync::OnceLock::new();
    *CAPS.get_or_init(|| Caps {
        pio: kvm.check_extension(Cap::CoalescedPio),
        mmio: kvm.check_extension(Cap::CoalescedMmio),
    })
}

/// One guest's coalesced zones and the state of KVM's ring for them.
#[derive(Debug)]
pub(crate) struct Coalescer {
    console: Console,
    /// Console `out`s that exited so far (to decide when to start coalescing).
    console_out_exits: u32,
    disk_zones: DiskZones,
    /// Whether KVM's coalesced ring is mapped (see [`Coalescer::map_ring`]).
    ring_mapped: bool,
}

impl Coalescer {
    /// Nothing registered yet. KVM's ring is mapped only when a zone is first registered: most
    /// guests never need it.
    pub(crate) fn new(kvm: &Kvm, has_mmio_window: bool) -> Self {
        let caps = caps(kvm);
        Coalescer {
            console: if caps.pio { Console::Ready } else { Console::Unavailable },
            console_out_exits: 0,
            disk_zones: if caps.mmio && has_mmio_window {
                DiskZones::Pending
            } else {
                DiskZones::Unavailable
            },
            ring_mapped: false,
        }
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
    pub(crate) fn drain(&mut self, vcpu: &mut VcpuFd, dev: &mut Services<'_>) -> Flow {
        if self.console != Console::Active && self.disk_zones != DiskZones::Active {
            return Flow::Continue;
        }
        let mut bytes = [0u8; 256];
        let mut n = 0;
        let mut flow = Flow::Continue;
        while let Ok(Some(entry)) = vcpu.coalesced_mmio_read() {
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
                    dev.write_console(&bytes);
                    n = 0;
                }
                continue;
            }
            if n > 0 {
                dev.write_console(&bytes[..n]);
                n = 0;
            }
            let data = &entry.data[..len];
            flow = match u16::try_from(entry.phys_addr) {
                Ok(port) if pio => dev.device_port_out(port, data),
                _ => dev.mmio_write(entry.phys_addr, data),
            };
        }
        if n > 0 {
            dev.write_console(&bytes[..n]);
        }
        flow
    }

    /// A console `out` exited: after [`COALESCE_AFTER`] of them, and only while the guest has
    /// not used its console ring (`ring_used`, see [`Coalescer::stop_console`]), the port is
    /// coalesced.
    pub(crate) fn console_out_exited(&mut self, vm: &VmFd, vcpu: &mut VcpuFd, ring_used: bool) {
        self.console_out_exits += 1;
        if self.console_out_exits != COALESCE_AFTER || self.console != Console::Ready || ring_used {
            return;
        }
        let zone = IoEventAddress::Pio(u64::from(CONSOLE_PORT));
        self.console = match self.map_ring(vcpu).and_then(|()| vm.register_coalesced_mmio(zone, 1))
        {
            Ok(()) => Console::Active,
            Err(_) => Console::Unavailable,
        };
    }

    /// Makes console `out`s exit again, for good, once the guest has used its console ring
    /// (`ring_used`); called at every exit, after the drains.
    ///
    /// Note (ordering across the two queues): bytes in the coalesced-PIO queue and in the
    /// console ring carry no order between them, and the host drains the PIO queue first. That
    /// is right as long as no coalesced `out` follows a ring write between two exits, so the
    /// port is coalesced only while the ring is unused (seed-style guests, which never touch
    /// it), and stops being coalesced at the first exit after the ring was used. Only `out`s
    /// made between a guest's first ring write and its next exit can come out early.
    pub(crate) fn stop_console(&mut self, vm: &VmFd, ring_used: bool, id: u32) {
        if self.console != Console::Active || !ring_used {
            return;
        }
        let zone = IoEventAddress::Pio(u64::from(CONSOLE_PORT));
        if let Err(e) = vm.unregister_coalesced_mmio(zone, 1) {
            log::warn!("guest {id}: unregistering the coalesced console port: {e}");
        }
        self.console = Console::Ready;
    }

    /// Queues the disk's sector and address register writes (`--mmio`) in the coalesced ring
    /// instead of exiting on each, so a sector costs one exit: the command's. Called after every
    /// handled exit; acts once, when the guest has set its disk up.
    ///
    /// Only then: a registered zone makes the VM's teardown wait for an SRCU grace period (see
    /// [`COALESCE_AFTER`]), which guests that never use the disk should not pay. Port mode
    /// cannot do the same: the 4-byte sector register at port 0x20 spans ports 0x20-0x23, and
    /// KVM queues every write that lies inside a zone, so any zone that holds it would swallow
    /// the command byte at port 0x22 as well.
    pub(crate) fn disk_set_up(&mut self, vm: &VmFd, vcpu: &mut VcpuFd, dev: &Services<'_>) {
        if self.disk_zones != DiskZones::Pending || !dev.disk.is_set_up() {
            return;
        }
        let Some(window) = dev.ram.layout().mmio_window() else {
            self.disk_zones = DiskZones::Unavailable;
            return;
        };
        if let Err(e) = self.map_ring(vcpu) {
            log::warn!("guest {}: mapping the coalesced ring: {e}", dev.id);
            self.disk_zones = DiskZones::Unavailable;
            return;
        }
        self.disk_zones = DiskZones::Active;
        for reg in [DeviceReg::DiskSector, DeviceReg::DiskAddr] {
            let zone = IoEventAddress::Mmio(window.as_u64() + reg.mmio_offset());
            if let Err(e) = vm.register_coalesced_mmio(zone, reg.width() as u32) {
                log::warn!("guest {}: coalescing the disk registers: {e}", dev.id);
            }
        }
    }

    /// Maps KVM's coalesced ring into the host, once, before the first zone is registered.
    fn map_ring(&mut self, vcpu: &mut VcpuFd) -> Result<(), kvm_ioctls::Error> {
        if !self.ring_mapped {
            vcpu.map_coalesced_mmio_ring()?;
            self.ring_mapped = true;
        }
        Ok(())
    }
}
