//! The seed's device registers, a serial port and a DMA disk, on ports or in the MMIO device
//! window: both ways in decode to the same [`DeviceReg`] and value and then share one handler,
//! so the two modes cannot behave differently past decoding. The protocol is specified once, in
//! [`hv_core::proto::devices`]; the disk's state machine is [`crate::devices`]. The serial port
//! has no state: every byte written to its data register is guest console output, cut into
//! lines exactly like the bytes written to port 0xE9.

use hv_core::layout::{DeviceIo, MMIO_SIZE};
use hv_core::proto::devices::DeviceReg;
use hv_core::proto::seed::matrix_value;

use super::{Flow, Services};
use crate::outcome::{GuestError, Outcome};

/// What an access to the device window where no register is "takes", for the message.
const NO_REGISTER: &str = "nothing (no register there)";

fn stop(e: GuestError) -> Flow {
    Flow::Stop(Outcome::Error(e))
}

impl Services<'_> {
    /// A port write no other device took: seed 002's Matrix counter (a 2- or 4-byte `out` to
    /// 0x10 or 0x11, in every device mode), a device register in port mode, or an unknown port.
    pub(crate) fn device_port_out(&mut self, port: u16, data: &[u8]) -> Flow {
        if let Some(value) = matrix_value(port, data) {
            return self.matrix_out(value);
        }
        let size = data.len();
        match self.device_port(port) {
            Some(reg) if size == reg.width() => self.device_write(reg, data),
            Some(reg) => {
                stop(GuestError::BadAccessSize { port, dir: "out", size, expected: reg.takes() })
            }
            None => stop(GuestError::UnknownPort { port, dir: "out", size }),
        }
    }

    /// A port read no other device took: the device registers are write-only.
    pub(crate) fn device_port_in(&mut self, port: u16, size: usize) -> Flow {
        match self.device_port(port) {
            Some(reg) => {
                stop(GuestError::BadAccessSize { port, dir: "in", size, expected: reg.takes() })
            }
            None => stop(GuestError::UnknownPort { port, dir: "in", size }),
        }
    }

    /// An MMIO read: in the window it is an error (the registers are write-only), elsewhere
    /// an access to nothing.
    pub(crate) fn mmio_read(&mut self, addr: u64, size: usize) -> Flow {
        match self.window_offset(addr) {
            Some(offset) => stop(GuestError::BadMmio {
                addr,
                dir: "read",
                size,
                expected: DeviceReg::from_mmio_offset(offset).map_or(NO_REGISTER, DeviceReg::takes),
            }),
            None => stop(GuestError::UnknownMmio { addr, dir: "read", size }),
        }
    }

    /// An MMIO write: a device register in the window, or an access to nothing.
    pub(crate) fn mmio_write(&mut self, addr: u64, data: &[u8]) -> Flow {
        let size = data.len();
        let Some(offset) = self.window_offset(addr) else {
            return stop(GuestError::UnknownMmio { addr, dir: "write", size });
        };
        match DeviceReg::from_mmio_offset(offset) {
            Some(reg) if size == reg.width() => self.device_write(reg, data),
            reg => stop(GuestError::BadMmio {
                addr,
                dir: "write",
                size,
                expected: reg.map_or(NO_REGISTER, DeviceReg::takes),
            }),
        }
    }

    /// The register at `port`, if the devices are on ports.
    fn device_port(&self, port: u16) -> Option<DeviceReg> {
        match self.ram.layout().devices() {
            DeviceIo::Ports => DeviceReg::from_port(port),
            DeviceIo::Mmio => None,
        }
    }

    /// `addr`'s offset in the device window, if the window is mapped and `addr` is in it.
    fn window_offset(&self, addr: u64) -> Option<u64> {
        let base = self.ram.layout().mmio_window()?.as_u64();
        addr.checked_sub(base).filter(|&offset| offset < MMIO_SIZE)
    }

    /// A write of `data` (already checked to be the register's width) to `reg`.
    fn device_write(&mut self, reg: DeviceReg, data: &[u8]) -> Flow {
        let mut word = [0u8; 4];
        let n = data.len().min(4);
        word[..n].copy_from_slice(&data[..n]);
        let value = u32::from_le_bytes(word);
        let [low, ..] = word;
        match reg {
            DeviceReg::SerialData => self.serial_write(low),
            DeviceReg::DiskSector => {
                self.disk.set_sector(value);
                Flow::Continue
            }
            DeviceReg::DiskAddr => {
                self.disk.set_addr(value);
                Flow::Continue
            }
            DeviceReg::DiskCmd => match self.disk.command(&self.ram, low) {
                Ok(()) => Flow::Continue,
                Err(e) => stop(e),
            },
        }
    }
}

impl Services<'_> {
    /// A Matrix guest's value: in decimal, on a line of its own.
    fn matrix_out(&mut self, value: u32) -> Flow {
        use std::io::Write;
        let mut line = [0u8; 11];
        let mut w = &mut line[..];
        // At most 10 digits and a newline: it fits, so the write cannot fail.
        let _ = writeln!(w, "{value}");
        let len = 11 - w.len();
        self.write_console(&line[..len]);
        Flow::Continue
    }

    /// A byte written to the serial data register.
    pub(crate) fn serial_write(&mut self, byte: u8) -> Flow {
        self.write_console(&[byte]);
        Flow::Continue
    }
}

/// A guest's services without a VM, for the unit tests of the handlers that take them.
#[cfg(test)]
pub(crate) mod fixture {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use hv_core::layout::{DeviceIo, Layout, MemSize, PageSize};

    use crate::console::{Console, LineBuffer};
    use crate::devices::Disk;
    use crate::files::{FileTable, SharedFiles};
    use crate::memory::GuestRam;
    use crate::sandbox::Sandbox;
    use crate::services::Services;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `f` on a guest's devices (no disk attached) and returns what it printed.
    pub(crate) fn with_devices(io: DeviceIo, f: impl FnOnce(&mut Services<'_>)) -> String {
        let sink = Sink::default();
        let console = Console::new(Box::new(sink.clone()), Box::new(std::io::empty()), false);
        let sandbox = Arc::new(Sandbox::at(&std::env::temp_dir()).unwrap());
        let quota = Arc::new(crate::quota::Quota::new(1 << 20));
        let diag = Arc::new(crate::diag::Diag::new(0));
        let layout = Layout::new(MemSize::Mib2, PageSize::Kib4).with_devices(io);
        let ram = GuestRam::new(layout).unwrap();
        let mut dev = Services {
            id: 0,
            input_ring: crate::input_ring::InputRing::new(&ram, layout),
            ram,
            console: &console,
            line: LineBuffer::new(0, &console),
            stats: Default::default(),
            scratch: Vec::new(),
            files: FileTable::new(
                0,
                Arc::new(SharedFiles::default()),
                sandbox.clone(),
                quota.clone(),
                diag.clone(),
            ),
            disk: Disk::new(0, None, sandbox, quota, diag),
            seed: Default::default(),
        };
        f(&mut dev);
        dev.line.flush(&console);
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hv_core::proto::devices::{
        DISK_CMD_PORT, DISK_SECTOR_PORT, MMIO_DISK_CMD, MMIO_DISK_SECTOR, MMIO_SERIAL, SERIAL_PORT,
    };

    /// Where the window is with 2 MiB of RAM: right after it, as seed 003's guest expects.
    const WINDOW: u64 = 0x20_0000;

    use super::fixture::with_devices;
    use super::*;

    fn error(flow: Flow) -> Option<GuestError> {
        match flow {
            Flow::Continue => None,
            Flow::Stop(Outcome::Error(e)) => Some(e),
            Flow::Stop(other) => panic!("unexpected outcome {other:?}"),
            Flow::Wait => panic!("unexpected wait"),
        }
    }

    #[test]
    fn port_mode_serves_the_ports_only() {
        let out = with_devices(DeviceIo::Ports, |dev| {
            for b in b"hi\n" {
                assert_eq!(error(dev.device_port_out(SERIAL_PORT, &[*b])), None);
            }
            assert_eq!(
                error(dev.device_port_out(DISK_SECTOR_PORT, &[1])),
                Some(GuestError::BadAccessSize {
                    port: DISK_SECTOR_PORT,
                    dir: "out",
                    size: 1,
                    expected: "4-byte writes (disk sector)"
                })
            );
            assert_eq!(
                error(dev.device_port_in(SERIAL_PORT, 1)),
                Some(GuestError::BadAccessSize {
                    port: SERIAL_PORT,
                    dir: "in",
                    size: 1,
                    expected: "1-byte writes (serial data)"
                })
            );
            assert_eq!(
                error(dev.device_port_out(0x11, &[1])),
                Some(GuestError::UnknownPort { port: 0x11, dir: "out", size: 1 })
            );
            // Seed 002's Matrix: words and dwords on 0x10 and 0x11 are decimal lines.
            assert_eq!(error(dev.device_port_out(SERIAL_PORT, &[0xFF, 0xFF])), None);
            assert_eq!(error(dev.device_port_out(0x11, &[0, 0, 0, 0])), None);
            assert_eq!(error(dev.device_port_out(0x11, &[0xFF, 0xFF, 0xFF, 0xFF])), None);
            assert_eq!(
                error(dev.device_port_out(DISK_CMD_PORT, &[0])),
                Some(GuestError::DiskNotSetUp { cmd: 0 })
            );
            // The window is not mapped in port mode; should an access exit anyway, it hits nothing.
            assert_eq!(
                error(dev.mmio_write(WINDOW + MMIO_SERIAL, b"x")),
                Some(GuestError::UnknownMmio { addr: WINDOW + MMIO_SERIAL, dir: "write", size: 1 })
            );
        });
        assert_eq!(out, "hi\n65535\n0\n4294967295\n");
    }

    #[test]
    fn mmio_mode_serves_the_window_only() {
        let out = with_devices(DeviceIo::Mmio, |dev| {
            for b in b"ok\n" {
                assert_eq!(error(dev.mmio_write(0x20_0080, &[*b])), None);
            }
            assert_eq!(
                error(dev.device_port_out(SERIAL_PORT, b"x")),
                Some(GuestError::UnknownPort { port: SERIAL_PORT, dir: "out", size: 1 })
            );
            // The Matrix's ports are not the devices': they stay with the devices in the window.
            assert_eq!(error(dev.device_port_out(SERIAL_PORT, &[7, 0])), None);
            let bad =
                |addr, dir, size, expected| Some(GuestError::BadMmio { addr, dir, size, expected });
            let sector = WINDOW + MMIO_DISK_SECTOR;
            assert_eq!(error(dev.mmio_write(sector, &[0; 4])), None);
            assert_eq!(
                error(dev.mmio_write(sector, &[0; 8])),
                bad(sector, "write", 8, "4-byte writes (disk sector)")
            );
            assert_eq!(
                error(dev.mmio_read(sector, 4)),
                bad(sector, "read", 4, "4-byte writes (disk sector)")
            );
            assert_eq!(
                error(dev.mmio_write(WINDOW + 0x101, &[0])),
                bad(WINDOW + 0x101, "write", 1, NO_REGISTER)
            );
            let past = WINDOW + MMIO_SIZE;
            assert_eq!(
                error(dev.mmio_write(past, &[0])),
                Some(GuestError::UnknownMmio { addr: past, dir: "write", size: 1 })
            );
            assert_eq!(
                error(dev.mmio_write(WINDOW + MMIO_DISK_CMD, &[1])),
                Some(GuestError::DiskNotSetUp { cmd: 1 })
            );
        });
        assert_eq!(out, "ok\n7\n");
    }
}
