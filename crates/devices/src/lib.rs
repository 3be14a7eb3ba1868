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
//!
//! The legacy PC devices, one module each:
//!
//! | module | device | ports | IRQ |
//! | --- | --- | --- | --- |
//! | [`pic`] | 8259A pair + ELCR | 0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1 | (the controller) |
//! | [`pit`] | 8254 PIT + port 0x61 | 0x40-0x43, 0x61 | 0 |
//! | [`rtc`] | MC146818 RTC / CMOS | 0x70-0x71 | 8 |
//! | [`uart`] | 16550A | COM1-4 | 4 / 3 |
//! | [`i8042`] | keyboard controller + keyboard | 0x60, 0x64 | 1, 12 |
//! | [`sysctl`] | System Control Port A | 0x92 | - |
//! | [`post`] | POST code latch | 0x80 | - |
//! | [`debugcon`] | Bochs/QEMU debug console | 0xE9 | - |
//! | [`pci`] | configuration mechanism #1, i440FX, PIIX3 | 0xCF8-0xCFF | - |
//! | [`ide`] | PIIX3 IDE (PCI 00:01.1): ATA disks, ATAPI CD-ROMs, bus-master DMA | 0x1F0-0x1F7, 0x3F6, 0x170-0x177, 0x376, BAR4 | 14, 15 |
//! | [`vga`] | VGA with Bochs VBE (dispi), QEMU stdvga PCI function | 0x3B0-0x3DF, 0x1CE-0x1D0, 0xA0000-0xBFFFF, LFB BAR | - |
//!
//! Disk images behind the storage devices are [`block`] backends (raw
//! files, qcow2); bus-master DMA reaches guest memory through [`DmaMemory`],
//! driven by the machine (see [`dma`]).
//!
//! Host-side helpers: [`termkeys`] turns host terminal input into scan
//! codes for the i8042; [`vga::terminal`] draws VGA text screens in a host
//! terminal.
//!
//! Guest input is hostile: no port access may panic, loop without bound or
//! grow a buffer without bound. What a device does not implement is logged
//! (rate-limited, see [`rate_limited!`]) and behaves as the hardware does
//! when nothing answers.

#![forbid(unsafe_code)]

pub mod irq;

pub mod block;
pub mod debugcon;
pub mod dma;
pub mod fw_cfg;
pub mod i8042;
pub mod ide;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod post;
pub mod rtc;
pub mod sysctl;
pub mod termkeys;
pub mod uart;
pub mod vga;

#[cfg(test)]
mod testutil;

pub use dma::DmaMemory;
pub use irq::{IrqLine, IrqLines};

/// For [`rate_limited!`] expanded outside this crate.
#[doc(hidden)]
pub use tracing as __tracing;

/// Nanoseconds of virtual time since the machine started.
pub type Nanos = u64;

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A device behind I/O ports.
///
/// `size` is 1, 2 or 4 bytes. The machine routes each access to the device
/// that claimed the port; a device that does not back a port or width reads
/// as all ones (what an ISA bus returns when nothing drives it) and ignores
/// writes, logging them rate-limited.
///
/// Byte-wide devices (all the ISA ones here) serve a wider access as the
/// ISA bus does: as consecutive byte accesses at `port`, `port + 1`, ...,
/// least significant byte first (see [`read_bytewise`]). A byte that falls on
/// a port the device does not own reads as 0xFF and is dropped on write; the
/// machine may split accesses that straddle two devices itself if it cares.
pub trait PortIo {
    fn port_read(&mut self, port: u16, size: u8, now: Nanos) -> u32;
    fn port_write(&mut self, port: u16, size: u8, value: u32, now: Nanos);
}

/// A device that has work to do at a later point of virtual time.
///
/// Contract the machine can rely on: after `advance(now)`,
/// `next_deadline()` is either `None` or strictly later than `now`, so a
/// run loop that calls `advance` whenever the deadline has passed always
/// makes progress, however late it is.
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

/// Number of bytes an access of `size` covers: 1, 2 or 4 (anything else is
/// treated as 4, as [`size_mask`] does).
#[inline]
pub const fn access_len(size: u8) -> u8 {
    match size {
        1 => 1,
        2 => 2,
        _ => 4,
    }
}

/// Serve a read of `size` bytes at `port` as byte reads of consecutive
/// ports, least significant byte first: what the ISA bus does when a 16- or
/// 32-bit access reaches an 8-bit device.
pub fn read_bytewise(port: u16, size: u8, mut read: impl FnMut(u16) -> u8) -> u32 {
    let mut value = 0u32;
    for i in 0..access_len(size) {
        value |= u32::from(read(port.wrapping_add(u16::from(i)))) << (8 * i);
    }
    value
}

/// Serve a write of `size` bytes at `port` as byte writes of consecutive
/// ports, least significant byte first (see [`read_bytewise`]).
pub fn write_bytewise(port: u16, size: u8, value: u32, mut write: impl FnMut(u16, u8)) {
    for i in 0..access_len(size) {
        write(port.wrapping_add(u16::from(i)), (value >> (8 * i)) as u8);
    }
}

/// Log through `tracing` at most a few times per call site: the first 8
/// occurrences, then only at occurrence counts that are powers of two. A
/// guest that hammers an unimplemented register cannot flood the log, and
/// the count in the message still says how often it happened.
///
/// `rate_limited!(warn, "format", args...)`; the level is any `tracing`
/// level macro name.
#[macro_export]
macro_rules! rate_limited {
    ($level:ident, $($arg:tt)+) => {{
        static SEEN: ::std::sync::atomic::AtomicU32 = ::std::sync::atomic::AtomicU32::new(0);
        let n = SEEN.fetch_add(1, ::std::sync::atomic::Ordering::Relaxed);
        if n < 8 || n.is_power_of_two() {
            $crate::__tracing::$level!(occurrence = u64::from(n) + 1, $($arg)+);
        }
    }};
}

/// Binary to packed BCD (values above 99 wrap modulo 100).
#[inline]
pub(crate) const fn to_bcd(v: u8) -> u8 {
    let v = v % 100;
    ((v / 10) << 4) | (v % 10)
}

/// Packed BCD to binary; invalid digits (A-F) are taken at face value, so
/// the result may exceed 99 (callers clamp).
#[inline]
pub(crate) const fn from_bcd(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0x0F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytewise_splits_little_endian() {
        let mut seen = Vec::new();
        write_bytewise(0x3F8, 2, 0xBEEF, |p, v| seen.push((p, v)));
        assert_eq!(seen, vec![(0x3F8, 0xEF), (0x3F9, 0xBE)]);
        let v = read_bytewise(0x70, 4, |p| (p & 0xFF) as u8);
        assert_eq!(v, 0x7372_7170);
        assert_eq!(read_bytewise(0xFFFF, 2, |p| (p & 0xFF) as u8), 0x00FF);
    }

    #[test]
    fn bcd_round_trip() {
        for v in 0..100u8 {
            assert_eq!(from_bcd(to_bcd(v)), v);
        }
        assert_eq!(to_bcd(59), 0x59);
        assert_eq!(from_bcd(0xFF), 165);
    }
}
