//! The PC's virtual devices.
//!
//! Every device here is a plain state machine: it knows nothing of CPUs,
//! engines or the machine that wires it. It is reached through
//! [`PortIo`] (and later MMIO), raises interrupts through an [`IrqLine`],
//! and, when it has something to do at a later time, says so through
//! [`Timed`]; the machine calls it back when virtual time reaches that
//! deadline. Time always arrives as an argument ([`Nanos`] of virtual time),
//! never from the host clock, so that a deterministic clock can replace the
//! real one for tests and record/replay.

pub mod irq;

pub use irq::{IrqLine, IrqLines};

/// Nanoseconds of virtual time since the machine started.
pub type Nanos = u64;

/// A device behind I/O ports.
///
/// `size` is 1, 2 or 4 bytes. The machine routes each access to the device
/// that claimed the port; a device that does not back a port or width reads
/// as all ones (what an ISA bus returns when nothing drives it) and ignores
/// writes, logging them rate-limited.
pub trait PortIo {
    fn port_read(&mut self, port: u16, size: u8, now: Nanos) -> u32;
    fn port_write(&mut self, port: u16, size: u8, value: u32, now: Nanos);
}

/// A device that has work to do at a later point of virtual time.
pub trait Timed {
    /// The earliest virtual time at which [`Timed::advance`] must be called,
    /// if the device is waiting for one.
    fn next_deadline(&self) -> Option<Nanos>;
    /// Bring the device up to `now`: fire what has become due.
    fn advance(&mut self, now: Nanos);
}

/// Mask of the low `size` bytes (1, 2 or 4).
#[inline]
pub const fn size_mask(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}
