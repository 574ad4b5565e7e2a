//! The seed's serial port: every byte written to its data register is guest console output,
//! cut into lines exactly like the bytes written to port 0xE9.

use crate::guest::{Devices, Flow};

impl Devices<'_> {
    /// A byte written to the serial data register.
    pub(crate) fn serial_write(&mut self, byte: u8) -> Flow {
        self.write_console(&[byte]);
        Flow::Continue
    }
}
