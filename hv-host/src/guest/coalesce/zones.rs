//! The coalesced zones: where each is, how wide, which service its queued writes go to, while
//! it is sound and when it is registered. [`ZONES`] is the one table; `coalesce` registers,
//! gives up and drains them.

use hv_core::layout::DeviceIo;
use hv_core::proto::devices::{DeviceReg, MMIO_SERIAL};
use hv_core::proto::seed::Seed002Port;
use hv_core::proto::{CONSOLE_PORT, FILE_PORT};

/// Where a zone is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// A port (coalesced PIO).
    Port(u16),
    /// An offset in the device window (coalesced MMIO; `--mmio` only).
    Window(u64),
}

/// The service a zone's queued writes go to: the handler its exits would have gone to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    /// The console port's bytes, to the guest's line buffer (batched).
    Console,
    /// The seed's device registers: the serial data byte, the disk's sector and address.
    Devices,
    /// Seed 002's `out` ports.
    Seed002,
    /// Seed 000's request bytes on the file port.
    SeedFile,
}

/// While a zone stays sound; at the first exit after it no longer is, the zone is given up
/// for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule {
    /// Its writes are console output: only while the guest has not used its console ring.
    ///
    /// Note (ordering across the two queues): bytes in KVM's ring and in the console ring carry
    /// no order between them, and the host drains KVM's first. That is right as long as no
    /// queued write follows a console-ring write between two exits, so these zones are kept
    /// only while the ring is unused (seed-style guests never touch it) and given up at the
    /// first exit after it was used. Only writes made between a guest's first ring write and
    /// its next exit can come out early.
    WhileRingUnused,
    /// The file port, which also carries hv's own file calls, whose result the guest reads
    /// from its mailbox right after the `out`: a queued call would read a stale result. So the
    /// zone is kept only while the guest has never used hv's own ABI (no ABI announcement, no
    /// console ring, no hypercall, no hv file call) and has sent seed 000's bytes. A guest that
    /// makes hv's file call while the zone is registered is ended (see
    /// `Services::file_port_queued`); one that announces its ABI version never gets the zone.
    WhileSeedOnly,
    /// Data that needs no answer and is no console output: always sound.
    Always,
}

/// When a zone is registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Start {
    /// At an exit it would have queued, once the guest has made
    /// [`COALESCE_AFTER`](super::COALESCE_AFTER) of those.
    AfterExits,
    /// Once the guest has set its disk up (the registers are useless before).
    DiskSetUp,
}

/// One coalesced zone: writes wholly inside `[place, place + width)` are queued by KVM.
#[derive(Clone, Copy, Debug)]
pub(super) struct Zone {
    pub(super) place: Place,
    pub(super) width: u8,
    pub(super) service: Service,
    pub(super) rule: Rule,
    pub(super) start: Start,
}

impl Zone {
    const fn new(place: Place, width: u8, service: Service, rule: Rule, start: Start) -> Zone {
        Zone { place, width, service, rule, start }
    }

    /// Whether this guest's layout has the zone at all: device ports only when the devices are
    /// on ports, window zones only when the window is mapped.
    pub(super) fn exists(&self, devices: DeviceIo) -> bool {
        match self.place {
            Place::Window(_) => devices == DeviceIo::Mmio,
            Place::Port(port) if DeviceReg::from_port(port).is_some() => devices == DeviceIo::Ports,
            Place::Port(_) => true,
        }
    }

    /// Whether a write of `len` bytes at `at` (a port, or an offset in the window) lies wholly
    /// inside the zone, as KVM decides what to queue.
    pub(super) fn holds(&self, place: Place, len: u64) -> bool {
        let (start, at) = match (self.place, place) {
            (Place::Port(zone), Place::Port(port)) => (u64::from(zone), u64::from(port)),
            (Place::Window(zone), Place::Window(offset)) => (zone, offset),
            _ => return false,
        };
        let end = start + u64::from(self.width);
        len > 0 && at >= start && at.checked_add(len).is_some_and(|e| e <= end)
    }
}

/// Every coalesced zone. A write that needs no answer and is its own data is queued; the rest
/// exit:
///
/// - `HC_printStr` (0xEA) passes the guest address of its string, not the string: queued, the
///   host would read it at the next exit, after the guest may have rewritten the buffer
///   (`sprintf(buf, ..); HC_printStr(buf); sprintf(buf, ..); HC_printStr(buf)` would print the
///   second text twice). The host cannot read the guest's memory as it was at the `out`, so
///   0xEA keeps exiting.
/// - The serial port's 2- and 4-byte writes, and the disk registers on ports: the sector
///   register's 4 bytes at 0x20 span ports 0x20-0x23, so any zone that held it would swallow
///   the command byte at 0x22 too; the disk's command always exits, as it must answer.
/// - Seed 002's zones overlap (0xEB's 4 bytes reach 0xEE): a write inside both is queued once,
///   and every service checks its own port and width, as on an exit.
pub(super) static ZONES: [Zone; 8] = {
    use {Place::*, Rule::*, Service::*, Start::*};
    let print32 = Seed002Port::Print32.port();
    let gva = Seed002Port::GvaIn.port();
    let sector = DeviceReg::DiskSector;
    let addr = DeviceReg::DiskAddr;
    [
        Zone::new(Port(CONSOLE_PORT), 1, Console, WhileRingUnused, AfterExits),
        Zone::new(Port(DeviceReg::SerialData.port()), 1, Devices, WhileRingUnused, AfterExits),
        Zone::new(Window(MMIO_SERIAL), 1, Devices, WhileRingUnused, AfterExits),
        Zone::new(Port(print32), 4, Seed002, WhileRingUnused, AfterExits),
        Zone::new(Port(gva), 4, Seed002, Always, AfterExits),
        Zone::new(Port(FILE_PORT), 1, SeedFile, WhileSeedOnly, AfterExits),
        Zone::new(Window(sector.mmio_offset()), sector.width() as u8, Devices, Always, DiskSetUp),
        Zone::new(Window(addr.mmio_offset()), addr.width() as u8, Devices, Always, DiskSetUp),
    ]
};

/// The zone that holds a write of `len` bytes at `place`, if any (the first, where two do).
pub(super) fn zone_of(place: Place, len: u64) -> Option<&'static Zone> {
    Some(&ZONES[zone_index(place, len)?])
}

/// The index in [`ZONES`] of the zone that holds a write of `len` bytes at `place`, if any.
pub(super) fn zone_index(place: Place, len: u64) -> Option<usize> {
    ZONES.iter().position(|z| z.holds(place, len))
}

#[cfg(test)]
mod tests {
    use hv_core::proto::HYPERCALL_PORT;
    use hv_core::proto::devices::{MMIO_DISK_ADDR, MMIO_DISK_CMD, MMIO_DISK_SECTOR};

    use super::*;

    #[test]
    fn zones_hold_what_kvm_would_queue() {
        let port = |p: u16, len| zone_of(Place::Port(p), len).map(|z| z.service);
        let window = |o: u64, len| zone_of(Place::Window(o), len).map(|z| z.service);
        assert_eq!(port(0xE9, 1), Some(Service::Console));
        // A 4-byte `out` at 0xE9 reaches 0xEC: no zone holds it whole, so it exits.
        assert_eq!(port(0xE9, 4), None);
        // HC_printStr passes an address: it always exits.
        assert_eq!(port(0xEA, 4), None);
        assert_eq!(port(0xEA, 1), None);
        assert_eq!(port(0xEB, 4), Some(Service::Seed002));
        assert_eq!(port(0xEE, 4), Some(Service::Seed002));
        // Inside 0xEB's four bytes, a write of the wrong width is queued, and refused at the drain
        // exactly as on an exit.
        assert_eq!(port(0xEC, 1), Some(Service::Seed002));
        assert_eq!(port(0xEF, 4), None);
        assert_eq!(port(0x10, 1), Some(Service::Devices));
        // The serial port's wider writes, and every disk port, exit.
        assert_eq!(port(0x10, 2), None);
        assert_eq!(port(0x10, 4), None);
        assert_eq!(port(0x11, 1), None);
        assert_eq!(port(0x20, 4), None);
        assert_eq!(port(0x22, 1), None);
        assert_eq!(port(FILE_PORT, 1), Some(Service::SeedFile));
        assert_eq!(port(HYPERCALL_PORT, 1), None);
        assert_eq!(port(0xFFFF, 1), None);
        assert_eq!(window(MMIO_SERIAL, 1), Some(Service::Devices));
        assert_eq!(window(MMIO_SERIAL, 2), None);
        assert_eq!(window(MMIO_DISK_SECTOR, 4), Some(Service::Devices));
        assert_eq!(window(MMIO_DISK_ADDR, 4), Some(Service::Devices));
        assert_eq!(window(MMIO_DISK_CMD, 1), None);
        assert_eq!(window(u64::MAX, 1), None);
        // Device ports exist only on ports, the window only with --mmio.
        let serial_port = &ZONES[1];
        let serial_window = &ZONES[2];
        assert!(serial_port.exists(DeviceIo::Ports) && !serial_port.exists(DeviceIo::Mmio));
        assert!(serial_window.exists(DeviceIo::Mmio) && !serial_window.exists(DeviceIo::Ports));
        assert!(ZONES[0].exists(DeviceIo::Mmio) && ZONES[0].exists(DeviceIo::Ports));
    }
}
