//! The Bochs/QEMU debug console: a byte written to its port (0xE9 by
//! convention) is output; a read returns 0xE9, which is how SeaBIOS and
//! other firmware detect that the port is there.
//!
//! Output collects in a bounded buffer the machine drains with
//! [`DebugCon::take_output`]; past [`OUTPUT_LIMIT`] bytes, new bytes are
//! dropped and counted.

use crate::{Nanos, PortIo, rate_limited, read_bytewise, write_bytewise};

/// The conventional port.
pub const DEFAULT_PORT: u16 = 0xE9;
/// What a read returns: the Bochs/QEMU detection value.
pub const READBACK: u8 = 0xE9;
/// Bytes kept until the machine drains them.
pub const OUTPUT_LIMIT: usize = 1 << 20;

/// The debug console.
#[derive(Debug)]
pub struct DebugCon {
    port: u16,
    output: Vec<u8>,
    dropped: u64,
}

impl DebugCon {
    /// A debug console at `port` (usually [`DEFAULT_PORT`]).
    pub fn new(port: u16) -> Self {
        Self {
            port,
            output: Vec::new(),
            dropped: 0,
        }
    }

    /// Bytes written since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Bytes dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn write_u8(&mut self, port: u16, value: u8) {
        if port != self.port {
            return;
        }
        if self.output.len() < OUTPUT_LIMIT {
            self.output.push(value);
        } else {
            self.dropped += 1;
            rate_limited!(warn, "debug console buffer full, dropping output");
        }
    }
}

impl PortIo for DebugCon {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        read_bytewise(port, size, |p| if p == self.port { READBACK } else { 0xFF })
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
    fn writes_are_output_reads_detect() {
        let mut d = DebugCon::new(DEFAULT_PORT);
        assert_eq!(d.port_read(DEFAULT_PORT, 1, 0), 0xE9);
        for b in b"hello\n" {
            d.port_write(DEFAULT_PORT, 1, u32::from(*b), 0);
        }
        assert_eq!(d.take_output(), b"hello\n");
        assert!(d.take_output().is_empty());
        // A word access: only the byte on our port counts.
        d.port_write(DEFAULT_PORT, 2, 0x4241, 0);
        assert_eq!(d.take_output(), b"A");
        assert_eq!(d.port_read(DEFAULT_PORT, 2, 0), 0xFFE9);
    }

    #[test]
    fn fuzz_buffer_stays_bounded() {
        let mut d = DebugCon::new(0x402);
        let mut rng = XorShift::new(0xE9);
        for _ in 0..20_000 {
            let port = rng.pick(&[0x402, 0x403, 0xE9]);
            d.port_write(port, rng.size(), rng.next_u64() as u32, 0);
            d.port_read(port, rng.size(), 0);
            assert!(d.output.len() <= OUTPUT_LIMIT);
        }
        assert!(!d.take_output().is_empty());
    }
}
