//! The state of the seed's devices: the DMA disk (the serial port has none).
//!
//! The registers through which guests reach them, on ports or in the MMIO device window, are
//! decoded by `services::device_regs`; the protocol is specified once, in
//! [`hv_core::proto::devices`]. Which way is served is the layout's `DeviceIo`: in port mode the
//! window is not even mapped, and in MMIO mode the device ports are unknown ports, so a guest
//! cannot mix the two.

mod disk;

pub(crate) use disk::{Disk, DiskImage};
