//! System Control Port A at 0x92 (PS/2 and PIIX "port 92"): fast A20 gate
//! and fast CPU reset, the quick alternative to going through the 8042.
//!
//! Bit 1 enables A20 (the machine ORs it with the 8042's A20 output, as the
//! PIIX3 does), bit 0 going from 0 to 1 asks for a CPU reset (INIT: memory
//! is kept). Bit 3 (password lock) and the other bits read back as
//! written. The machine reads [`SystemControlA::a20_enabled`] and polls
//! [`SystemControlA::take_reset_request`], the same API as the 8042.

use crate::{Nanos, PortIo, rate_limited, read_bytewise, write_bytewise};

/// The port.
pub const PORT: u16 = 0x92;

const FAST_RESET: u8 = 0x01;
const FAST_A20: u8 = 0x02;

/// Port 0x92.
#[derive(Debug, Default)]
pub struct SystemControlA {
    value: u8,
    reset_request: bool,
}

impl SystemControlA {
    /// The port at power-on: A20 off here (the 8042 may still enable it).
    pub fn new() -> Self {
        Self::default()
    }

    /// Back to power-on state (system reset).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Whether bit 1 (fast A20) is set.
    pub fn a20_enabled(&self) -> bool {
        self.value & FAST_A20 != 0
    }

    /// Whether the guest asked for a CPU reset since the last call.
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    fn write_u8(&mut self, port: u16, value: u8) {
        if port != PORT {
            rate_limited!(debug, port, "port 0x92 device: write to a port it does not own");
            return;
        }
        if value & FAST_RESET != 0 && self.value & FAST_RESET == 0 {
            self.reset_request = true;
        }
        self.value = value;
    }
}

impl PortIo for SystemControlA {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        read_bytewise(port, size, |p| if p == PORT { self.value } else { 0xFF })
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, _now: Nanos) {
        write_bytewise(port, size, value, |p, v| self.write_u8(p, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    #[test]
    fn fast_a20_and_reset() {
        let mut p = SystemControlA::new();
        assert!(!p.a20_enabled());
        p.port_write(PORT, 1, 0x02, 0);
        assert!(p.a20_enabled());
        assert_eq!(p.port_read(PORT, 1, 0), 0x02);
        assert!(!p.take_reset_request());
        // Linux's "reboot=p" style: set bit 0.
        p.port_write(PORT, 1, 0x03, 0);
        assert!(p.take_reset_request());
        assert!(!p.take_reset_request());
        // Only a 0 -> 1 transition resets.
        p.port_write(PORT, 1, 0x03, 0);
        assert!(!p.take_reset_request());
        p.port_write(PORT, 1, 0x02, 0);
        p.port_write(PORT, 1, 0x01, 0);
        assert!(p.take_reset_request());
        assert!(!p.a20_enabled());
        p.reset();
        assert_eq!(p.port_read(PORT, 1, 0), 0);
    }

    #[test]
    fn fuzz_random_port_traffic() {
        let mut p = SystemControlA::new();
        let mut rng = XorShift::new(0x92);
        for _ in 0..10_000 {
            let port = rng.pick(&[0x91, 0x92, 0x93]);
            if rng.below(2) == 0 {
                p.port_read(port, rng.size(), 0);
            } else {
                p.port_write(port, rng.size(), rng.next_u64() as u32, 0);
            }
            p.take_reset_request();
        }
    }
}
