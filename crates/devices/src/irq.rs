//! Interrupt request lines shared between devices and the interrupt
//! controller.
//!
//! A device holds an [`IrqLine`] and drives its level; the PIC samples the
//! whole set through [`IrqLines`]. Rising edges are latched so that a pulse
//! (raise then lower before the PIC looks) is never lost: the PIC takes the
//! latched edges for its edge-triggered inputs and the levels for its
//! level-triggered ones. Atomics make a line safe to drive from a helper
//! thread (a console reader, later an I/O thread) without locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Default, Debug)]
struct Shared {
    level: AtomicU32,
    rising: AtomicU32,
}

/// The set of interrupt lines (bit n is line n; 0-15 are the ISA IRQs).
#[derive(Clone, Default, Debug)]
pub struct IrqLines(Arc<Shared>);

impl IrqLines {
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle that drives line `n` (0..32).
    pub fn line(&self, n: u8) -> IrqLine {
        IrqLine {
            lines: self.clone(),
            bit: 1 << (n & 31),
        }
    }

    /// Current levels of all lines.
    pub fn levels(&self) -> u32 {
        self.0.level.load(Ordering::Acquire)
    }

    /// Rising edges seen since the last call, cleared by this call.
    pub fn take_rising_edges(&self) -> u32 {
        self.0.rising.swap(0, Ordering::AcqRel)
    }

    /// Rising edges seen since they were last taken, left in place.
    pub fn peek_rising_edges(&self) -> u32 {
        self.0.rising.load(Ordering::Acquire)
    }
}

/// One interrupt request line, as a device sees it.
#[derive(Clone, Debug)]
pub struct IrqLine {
    lines: IrqLines,
    bit: u32,
}

impl IrqLine {
    /// A line attached to nothing (for devices built without wiring, and
    /// tests).
    pub fn detached() -> Self {
        IrqLines::new().line(0)
    }

    /// Drive the line high or low.
    pub fn set_level(&self, high: bool) {
        let shared = &self.lines.0;
        if high {
            let old = shared.level.fetch_or(self.bit, Ordering::AcqRel);
            if old & self.bit == 0 {
                shared.rising.fetch_or(self.bit, Ordering::AcqRel);
            }
        } else {
            shared.level.fetch_and(!self.bit, Ordering::AcqRel);
        }
    }

    /// Raise and lower the line: one edge for an edge-triggered input.
    pub fn pulse(&self) {
        self.set_level(true);
        self.set_level(false);
    }

    /// The line's current level.
    pub fn is_high(&self) -> bool {
        self.lines.levels() & self.bit != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_latches_one_rising_edge() {
        let lines = IrqLines::new();
        let l = lines.line(3);
        l.pulse();
        assert_eq!(lines.levels(), 0);
        assert_eq!(lines.take_rising_edges(), 1 << 3);
        assert_eq!(lines.take_rising_edges(), 0);
    }

    #[test]
    fn holding_high_gives_one_edge() {
        let lines = IrqLines::new();
        let l = lines.line(4);
        l.set_level(true);
        l.set_level(true);
        assert_eq!(lines.take_rising_edges(), 1 << 4);
        assert!(l.is_high());
        l.set_level(false);
        assert!(!l.is_high());
    }
}
