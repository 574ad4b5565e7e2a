//! The seed's devices, a serial port and a DMA disk, on ports or in the MMIO device window.
//!
//! Both ways in decode to the same [`DeviceReg`] and value and then share one handler, so the
//! two modes cannot behave differently past decoding. The protocol is specified once, in
//! [`hv_core::proto::devices`]. Which way is served is the layout's
//! [`DeviceIo`]: in port mode the window is not even mapped, and in MMIO mode the device ports
//! are unknown ports, so a guest cannot mix the two.

mod disk;

pub(crate) use disk::{Disk, DiskImage};
