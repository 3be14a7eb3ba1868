//! The POST code port 0x80: BIOSes write their progress codes here (a
//! "POST card" shows them), and Linux writes it for I/O delays.
//!
//! Each write is recorded with its virtual time in a bounded log that the
//! machine drains (for a `--post-log`); when the log is full the oldest
//! codes are dropped and counted, so a guest that writes in a loop (Linux's
//! `outb_p` does, thousands of times) costs bounded memory. Reads return
//! 0xFF: nothing drives the bus on a read of port 0x80.

use std::collections::VecDeque;

use crate::{Nanos, PortIo, read_bytewise, write_bytewise};

/// The port.
pub const PORT: u16 = 0x80;
/// Codes kept until the machine drains them.
pub const LOG_LIMIT: usize = 4096;

/// Port 0x80.
#[derive(Debug, Default)]
pub struct PostCodes {
    log: VecDeque<(Nanos, u8)>,
    last: Option<u8>,
    dropped: u64,
}

impl PostCodes {
    pub fn new() -> Self {
        Self::default()
    }

    /// The codes written since the last call, oldest first, with the
    /// virtual time of each write.
    pub fn take_codes(&mut self) -> Vec<(Nanos, u8)> {
        self.log.drain(..).collect()
    }

    /// The last code written, if any (what a POST card displays).
    pub fn last_code(&self) -> Option<u8> {
        self.last
    }

    /// Codes dropped from a full log.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn record(&mut self, port: u16, value: u8, now: Nanos) {
        if port != PORT {
            return;
        }
        if self.log.len() >= LOG_LIMIT {
            self.log.pop_front();
            self.dropped += 1;
        }
        self.log.push_back((now, value));
        self.last = Some(value);
    }
}

impl PortIo for PostCodes {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        read_bytewise(port, size, |_| 0xFF)
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, now: Nanos) {
        write_bytewise(port, size, value, |p, v| self.record(p, v, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    #[test]
    fn records_codes_with_time() {
        let mut p = PostCodes::new();
        p.port_write(PORT, 1, 0x11, 5);
        p.port_write(PORT, 1, 0x22, 9);
        assert_eq!(p.last_code(), Some(0x22));
        assert_eq!(p.take_codes(), vec![(5, 0x11), (9, 0x22)]);
        assert!(p.take_codes().is_empty());
        assert_eq!(p.port_read(PORT, 1, 0), 0xFF);
        // A word write: the low byte is the code, the high byte goes to 0x81.
        p.port_write(PORT, 2, 0x3344, 10);
        assert_eq!(p.take_codes(), vec![(10, 0x44)]);
    }

    #[test]
    fn fuzz_log_stays_bounded() {
        let mut p = PostCodes::new();
        let mut rng = XorShift::new(0x80);
        for i in 0..20_000 {
            p.port_write(PORT, rng.size(), rng.next_u64() as u32, i);
            p.port_read(rng.pick(&[0x80, 0x81]), rng.size(), i);
            assert!(p.log.len() <= LOG_LIMIT);
        }
        assert!(p.dropped() > 0);
        assert_eq!(p.take_codes().len(), LOG_LIMIT);
    }
}
