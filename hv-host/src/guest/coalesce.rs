//! KVM's coalesced ring: port and MMIO writes the guest makes without exiting, queued by KVM
//! and drained by the host at the guest's next exit and at its end.
//!
//! One mechanism for every write that needs no answer: [`ZONES`] lists each zone (its port or
//! place in the device window, its width, the service its queued writes go to, and when it may
//! be registered), [`Coalescer`] registers them as the guest shows it needs them, and one
//! drain hands every queued write, in order, to the service that would have handled its exit,
//! counting it as the exit it would have been (see `stats`).
//!
//! What is never queued: an `in` (KVM never coalesces one: it needs its answer), seed 002's
//! `HC_printStr` (0xEA: see [`ZONES`]) and hv's own calls (their result is read from memory
//! right after the `out`).

mod zones;

use hv_core::layout::DeviceIo;
use hv_core::proto::HYPERCALL_PORT;
use kvm_bindings::{kvm_coalesced_mmio, kvm_coalesced_mmio_ring};
use kvm_ioctls::{Cap, IoEventAddress, Kvm, VcpuFd, VmFd};

use crate::console_ring::ConsoleRing;
use crate::outcome::{GuestError, Outcome};
use crate::services::{Flow, Services};
use crate::stats::ExitKind;
use zones::{Place, Rule, Service, Start, ZONES, Zone, zone_index, zone_of};

/// Exits that a zone would have queued, after which a guest's zones are registered (each at
/// the next exit its own writes make).
///
/// Why not at once: registering a zone leaves an SRCU grace period pending in KVM, and a VM
/// torn down before it has passed waits for it (measured in C on a bare VM run to `hlt`:
/// closed at once, 14-20 ms against 0.4 ms without a zone; closed 30 ms after registering,
/// 0.5 ms; unregistering instead costs an expedited grace period, 5-6 ms). A guest that makes
/// few such writes (seed 002's graded guest makes 16) would pay that at its end for a few exits
/// saved. Measured paired (whole processes, medians of 30, on a busy machine): the graded
/// guest took 18 ms with its zones registered at its first `out` against 10 ms with this
/// threshold, and 17 ms against 6 ms with the zones registered when the VM is created; one
/// `hello` (an SDK guest, which never needs a zone) 18 ms against 6 ms with zones at creation,
/// eight of them 31 ms against 24 ms. 256 ring-3 exits cost about one grace period (256 x
/// ~45 us), so a guest pays for a zone only once it has shown it needs one, and one that keeps
/// writing soon outruns the grace period (100 kB to the serial port: 858 exits, not 100 000).
pub(crate) const COALESCE_AFTER: u32 = 256;

/// Where a zone stands for one guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Never: KVM cannot coalesce this kind, the guest's layout lacks the zone, or it was
    /// given up.
    Off,
    /// Not registered yet.
    Idle,
    /// Registered: KVM queues its writes.
    Active,
}

/// What KVM offers, asked once per process (the answer cannot change) instead of per guest.
#[derive(Clone, Copy, Debug)]
struct Caps {
    pio: bool,
    mmio: bool,
    /// Entries in KVM's ring: what one page holds after its two indices.
    ring_entries: usize,
}

fn caps(kvm: &Kvm) -> Caps {
    static CAPS: std::sync::OnceLock<Caps> = std::sync::OnceLock::new();
    *CAPS.get_or_init(|| {
        // SAFETY: sysconf has no memory effects.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        Caps {
            pio: kvm.check_extension(Cap::CoalescedPio),
            mmio: kvm.check_extension(Cap::CoalescedMmio),
            ring_entries: page.saturating_sub(size_of::<kvm_coalesced_mmio_ring>())
                / size_of::<kvm_coalesced_mmio>(),
        }
    })
}

/// A write the guest's exit made, as far as the zones care: `len` bytes at `place`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    place: Place,
    len: u64,
}

impl Write {
    /// An `out` of `len` bytes to `port`.
    pub(crate) fn port(port: u16, len: usize) -> Write {
        Write { place: Place::Port(port), len: len as u64 }
    }

    /// An MMIO write of `len` bytes at `addr`, if `addr` is in the device window at `window`.
    pub(crate) fn mmio(window: Option<u64>, addr: u64, len: usize) -> Option<Write> {
        let offset = addr.checked_sub(window?)?;
        Some(Write { place: Place::Window(offset), len: len as u64 })
    }
}

/// One guest's coalesced zones and the state of KVM's ring for them.
#[derive(Debug)]
pub(crate) struct Coalescer {
    /// The state of each of [`ZONES`], by index.
    states: [State; ZONES.len()],
    /// Exits that a zone would have queued, so far (up to [`COALESCE_AFTER`]).
    queueable_exits: u32,
    /// Whether KVM's coalesced ring is mapped (see [`Coalescer::map_ring`]).
    ring_mapped: bool,
    /// Entries in KVM's ring: the bound of every drain.
    ring_entries: usize,
}

impl Coalescer {
    /// Nothing registered yet. KVM's ring is mapped only when a zone is first registered: most
    /// guests never need it.
    pub(crate) fn new(kvm: &Kvm, devices: DeviceIo) -> Self {
        let caps = caps(kvm);
        let states = ZONES.map(|z| {
            let offered = match z.place {
                Place::Port(_) => caps.pio,
                Place::Window(_) => caps.mmio,
            };
            if offered && z.exists(devices) { State::Idle } else { State::Off }
        });
        Coalescer {
            states,
            queueable_exits: 0,
            ring_mapped: false,
            ring_entries: caps.ring_entries,
        }
    }

    /// Hands every write queued in KVM's ring to the service its exit would have gone to, in
    /// the order the guest made them, each counted as that exit.
    ///
    /// Note (ordering): KVM queues the writes of every zone in one ring, in program order, and
    /// the host drains it on every exit, before the exit is handled, and when the guest ends.
    /// So they keep their order with everything else the guest does: the disk command, which
    /// exits, sees the sector and address written before it; seed 000's `in` sees its request
    /// complete; `HC_numExits` counts them. A queued write that is an error (a register written
    /// with the wrong width) ends the guest as its exit would have; what the guest queued after
    /// it is dropped, as it would never have run.
    pub(crate) fn drain(&mut self, vcpu: &mut VcpuFd, dev: &mut Services<'_>) -> Flow {
        if !self.ring_mapped {
            return Flow::Continue;
        }
        // The vCPU is stopped, so the ring cannot grow while it is drained: it holds fewer
        // than `ring_entries`, and the bound only guards against a ring that lies.
        let entries =
            (0..self.ring_entries).map_while(|_| vcpu.coalesced_mmio_read().ok().flatten());
        drain_entries(entries, dev)
    }

    /// Gives up, for good, the zones no longer sound (see [`Rule`]): at every exit, right after
    /// the drains, interruptions included. `ring` tells whether the guest used its console ring
    /// or announced an ABI version.
    pub(crate) fn give_up_unsound(&mut self, vm: &VmFd, dev: &Services<'_>, ring: &ConsoleRing) {
        let window = dev.ram.layout().mmio_window().map(|w| w.as_u64());
        for (i, zone) in ZONES.iter().enumerate() {
            if self.states[i] == State::Active && !sound(zone.rule, dev, ring) {
                self.states[i] = State::Off;
                if let Err(e) = vm.unregister_coalesced_mmio(address(zone, window), width(zone)) {
                    log::warn!("guest {}: giving up a coalesced zone: {e}", dev.id);
                }
            }
        }
    }

    /// After an exit was handled: gives up what it made unsound, counts `write` (the write the
    /// exit made, if it was one) towards [`COALESCE_AFTER`] and registers the zones the guest
    /// now needs.
    pub(crate) fn after_exit(
        &mut self,
        vm: &VmFd,
        vcpu: &mut VcpuFd,
        dev: &Services<'_>,
        ring: &ConsoleRing,
        write: Option<Write>,
    ) {
        // The exit itself may have made a zone unsound (one of hv's file calls, say).
        self.give_up_unsound(vm, dev, ring);
        let window = dev.ram.layout().mmio_window().map(|w| w.as_u64());
        let exited = write.and_then(|w| zone_index(w.place, w.len));
        if exited.is_some() && self.queueable_exits < COALESCE_AFTER {
            self.queueable_exits += 1;
        }
        for (i, zone) in ZONES.iter().enumerate() {
            let wanted = match zone.start {
                Start::AfterExits => self.queueable_exits >= COALESCE_AFTER && exited == Some(i),
                Start::DiskSetUp => dev.disk.is_set_up(),
            };
            if self.states[i] != State::Idle || !wanted || !sound(zone.rule, dev, ring) {
                continue;
            }
            self.states[i] = State::Off;
            if let Err(e) = self.map_ring(vcpu) {
                log::warn!("guest {}: mapping the coalesced ring: {e}", dev.id);
                continue;
            }
            match vm.register_coalesced_mmio(address(zone, window), width(zone)) {
                Ok(()) => self.states[i] = State::Active,
                Err(e) => log::warn!("guest {}: registering a coalesced zone: {e}", dev.id),
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

/// Whether a zone under `rule` is sound for this guest now.
fn sound(rule: Rule, dev: &Services<'_>, ring: &ConsoleRing) -> bool {
    match rule {
        Rule::WhileRingUnused => !ring.used(),
        Rule::WhileSeedOnly => {
            ring.announced_abi() == 0
                && !ring.used()
                && !dev.stats.exits.io_out.contains_key(&HYPERCALL_PORT)
                && !dev.seed.hv_file_calls
        }
        Rule::Always => true,
    }
}

/// The zone's address as KVM takes it. A window zone exists only with a window (see
/// [`Zone::exists`]), so `window` is then `Some`.
fn address(zone: &Zone, window: Option<u64>) -> IoEventAddress {
    match zone.place {
        Place::Port(port) => IoEventAddress::Pio(u64::from(port)),
        Place::Window(offset) => IoEventAddress::Mmio(window.unwrap_or(0) + offset),
    }
}

fn width(zone: &Zone) -> u32 {
    u32::from(zone.width)
}

/// The drain itself, over the entries read from KVM's ring (a plain function of them, so
/// hostile entries are unit-tested without KVM).
fn drain_entries(
    entries: impl Iterator<Item = kvm_coalesced_mmio>,
    dev: &mut Services<'_>,
) -> Flow {
    let window = dev.ram.layout().mmio_window().map(|w| w.as_u64());
    let mut bytes = [0u8; 256];
    let mut n = 0;
    let mut flow = Flow::Continue;
    for entry in entries {
        if matches!(flow, Flow::Stop(_)) {
            continue; // drain the rest, which the guest would never have reached
        }
        // SAFETY: both members of the union are a plain u32; KVM sets `pio` to 1 for a port
        // write and 0 for MMIO.
        let pio = unsafe { entry.__bindgen_anon_1.pio } != 0;
        let target = queued_target(pio, entry.phys_addr, entry.len, window);
        let Some((place, zone)) = target.filter(|_| entry.len as usize <= entry.data.len()) else {
            let what = if pio { "port" } else { "MMIO" };
            let len = entry.len;
            let at = entry.phys_addr;
            let e = format!("a queued {what} write of {len} byte(s) at {at:#x}, in no zone");
            flow = Flow::Stop(Outcome::Error(GuestError::UnexpectedExit(e)));
            continue;
        };
        let data = &entry.data[..entry.len as usize];
        let kind = match place {
            Place::Port(port) => ExitKind::IoOut(port),
            Place::Window(_) => ExitKind::Mmio,
        };
        dev.stats.exits.count_queued(kind);
        if let (Service::Console, [byte]) = (zone.service, data) {
            bytes[n] = *byte;
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
        flow = match (zone.service, place) {
            (Service::Console, Place::Port(port)) => bad_size(port, data.len(), "1 byte"),
            (Service::Devices, Place::Port(port)) => dev.device_port_out(port, data),
            (Service::Seed002, Place::Port(port)) => dev.seed002_out(port, data),
            (Service::SeedFile, Place::Port(_)) => dev.file_port_queued(data),
            (_, Place::Window(_)) => dev.mmio_write(entry.phys_addr, data),
        };
    }
    if n > 0 {
        dev.write_console(&bytes[..n]);
    }
    flow
}

/// Where a queued write lands and the zone that holds it; `None` for an entry no zone can
/// have made (only a KVM that lies makes one).
fn queued_target(
    pio: bool,
    addr: u64,
    len: u32,
    window: Option<u64>,
) -> Option<(Place, &'static Zone)> {
    let place = if pio {
        Place::Port(u16::try_from(addr).ok()?)
    } else {
        Place::Window(addr.checked_sub(window?)?)
    };
    Some((place, zone_of(place, u64::from(len))?))
}

fn bad_size(port: u16, size: usize, expected: &'static str) -> Flow {
    Flow::Stop(Outcome::Error(GuestError::BadAccessSize { port, dir: "out", size, expected }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hv_core::proto::FILE_PORT;
    use hv_core::proto::devices::{MMIO_DISK_SECTOR, MMIO_SERIAL};
    use kvm_bindings::kvm_coalesced_mmio__bindgen_ty_1;

    use super::*;
    use crate::services::fixture::with_devices;

    /// Where the window is with 2 MiB of RAM (the fixture's).
    const WINDOW: u64 = 0x20_0000;

    fn entry(pio: bool, phys_addr: u64, bytes: &[u8]) -> kvm_coalesced_mmio {
        let mut data = [0; 8];
        data[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
        kvm_coalesced_mmio {
            phys_addr,
            len: bytes.len() as u32,
            __bindgen_anon_1: kvm_coalesced_mmio__bindgen_ty_1 { pio: u32::from(pio) },
            data,
        }
    }

    fn out(port: u16, bytes: &[u8]) -> kvm_coalesced_mmio {
        entry(true, u64::from(port), bytes)
    }

    fn error(flow: Flow) -> Option<GuestError> {
        match flow {
            Flow::Continue => None,
            Flow::Stop(Outcome::Error(e)) => Some(e),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn queued_writes_reach_their_services_in_order_and_count_as_exits() {
        let mut counts = None;
        let printed = with_devices(DeviceIo::Ports, |dev| {
            let entries = [
                out(0xE9, b"a"),
                out(0x10, b"b"),
                out(0xEB, &7u32.to_le_bytes()),
                out(0xE9, b"c"),
                out(0xEE, &0x400u32.to_le_bytes()),
                out(0xE9, b"\n"),
            ];
            assert_eq!(error(drain_entries(entries.into_iter(), dev)), None);
            assert_eq!(dev.seed.gva, Some(0x400));
            counts = Some(dev.stats.exits.clone());
        });
        assert_eq!(printed, "ab7\nc\n");
        let s = counts.unwrap();
        assert_eq!((s.total(), s.queued(), s.exits()), (6, 6, 0));
        assert_eq!(s.io_out.get(&0xE9), Some(&3));
        assert_eq!(s.queued_out.get(&0xEB), Some(&1));
        let c = s.counts();
        assert_eq!((c.io_out, c.io_in, c.total), (6, 0, 6));
    }

    #[test]
    fn a_long_console_run_is_printed_whole() {
        let text: Vec<u8> = (0..1000u32).map(|i| if i % 50 == 49 { b'\n' } else { b'x' }).collect();
        let printed = with_devices(DeviceIo::Ports, |dev| {
            let entries = text.iter().map(|b| out(0xE9, &[*b]));
            assert_eq!(error(drain_entries(entries, dev)), None);
        });
        assert_eq!(printed.as_bytes(), text.as_slice());
    }

    #[test]
    fn seed000_bytes_run_as_if_they_had_exited() {
        with_devices(DeviceIo::Ports, |dev| {
            // A read of fd 9, never opened: the reply waits for the guest's `in`.
            let entries = [4u8, 0, 0, 0, 9].map(|b| out(FILE_PORT, &[b]));
            assert_eq!(error(drain_entries(entries.into_iter(), dev)), None);
            assert_eq!(dev.seed_file_in(), 0xFF);
            // Inside a request a byte with the top bit set is data (an fd byte), not a call.
            let entries = [3u8, 0x81, 0, 0, 0].map(|b| out(FILE_PORT, &[b]));
            assert_eq!(error(drain_entries(entries.into_iter(), dev)), None);
            assert_eq!(dev.seed_file_in(), 0xFF);
            assert_eq!(dev.stats.exits.queued_out.get(&FILE_PORT), Some(&10));
        });
    }

    #[test]
    fn hostile_entries_end_only_this_guest_and_nothing_after_them_runs() {
        let cases: [(kvm_coalesced_mmio, &str); 6] = [
            // More bytes than an entry holds.
            (
                kvm_coalesced_mmio { len: 12, ..out(0xE9, b"x") },
                "a queued port write of 12 byte(s) at 0xe9, in no zone",
            ),
            // In no zone: 0xEA (HC_printStr) is never registered.
            (out(0xEA, &[0; 4]), "a queued port write of 4 byte(s) at 0xea, in no zone"),
            // A port write at an address no port has.
            (
                entry(true, 0x1_0000, b"x"),
                "a queued port write of 1 byte(s) at 0x10000, in no zone",
            ),
            // MMIO without a window (port mode).
            (
                entry(false, WINDOW + MMIO_SERIAL, b"x"),
                "a queued MMIO write of 1 byte(s) at 0x200080, in no zone",
            ),
            // The wrong width inside a zone: the error its exit would have been.
            (out(0xEC, b"x"), "out of 1 byte(s) on port 0x00ec, which takes 4-byte in"),
            // One of hv's own file calls, queued: its result was read before it ran.
            (out(FILE_PORT, &[0x81]), "out of 1 byte(s) on port 0x0278, which takes"),
        ];
        for (bad, message) in cases {
            let mut counts = None;
            let printed = with_devices(DeviceIo::Ports, |dev| {
                let entries = [out(0xE9, b"a"), bad, out(0xE9, b"b"), out(0x10, b"c")];
                let e = error(drain_entries(entries.into_iter(), dev)).expect(message);
                assert!(e.to_string().contains(message), "{e}");
                counts = Some(dev.stats.exits.clone());
            });
            assert_eq!(printed, "a", "{message}");
            let s = counts.unwrap();
            assert_eq!(s.queued_out.get(&0x10), None, "{message}");
        }
    }

    #[test]
    fn window_writes_go_to_the_devices() {
        let printed = with_devices(DeviceIo::Mmio, |dev| {
            let entries = [
                entry(false, WINDOW + MMIO_SERIAL, b"o"),
                entry(false, WINDOW + MMIO_DISK_SECTOR, &[1, 0, 0, 0]),
                entry(false, WINDOW + MMIO_SERIAL, b"k"),
            ];
            assert_eq!(error(drain_entries(entries.into_iter(), dev)), None);
            assert_eq!(dev.stats.exits.queued_mmio, 3);
            assert_eq!(dev.stats.exits.mmio, 3);
            // The serial port is unknown in MMIO mode, whatever KVM says.
            let e = error(drain_entries([out(0x10, b"x")].into_iter(), dev)).unwrap();
            assert_eq!(e, GuestError::UnknownPort { port: 0x10, dir: "out", size: 1 });
        });
        assert_eq!(printed, "ok");
    }
}
