//! A PCI function's 256-byte configuration space with the access rules of
//! real hardware: each bit is read-only, writable, or write-1-to-clear,
//! according to per-byte masks. Base address registers fall out of the
//! same rules: the address bits below the BAR's size are read-only zero, so
//! writing all ones and reading back gives the size, which is how firmware
//! and operating systems size BARs.

use super::PciError;

/// Standard header offsets.
pub mod offset {
    pub const VENDOR_ID: u8 = 0x00;
    pub const DEVICE_ID: u8 = 0x02;
    pub const COMMAND: u8 = 0x04;
    pub const STATUS: u8 = 0x06;
    pub const REVISION: u8 = 0x08;
    pub const CLASS: u8 = 0x09;
    pub const CACHE_LINE_SIZE: u8 = 0x0C;
    pub const LATENCY_TIMER: u8 = 0x0D;
    pub const HEADER_TYPE: u8 = 0x0E;
    pub const BAR0: u8 = 0x10;
    pub const SUBSYSTEM_VENDOR_ID: u8 = 0x2C;
    pub const SUBSYSTEM_ID: u8 = 0x2E;
    pub const INTERRUPT_LINE: u8 = 0x3C;
    pub const INTERRUPT_PIN: u8 = 0x3D;
}

/// Command register bits a generic function lets software change: I/O
/// space, memory space, bus master, parity error response, SERR# enable,
/// interrupt disable.
pub const COMMAND_WRITABLE: u16 = 0x0547;
/// Status register bits that are write-1-to-clear: master data parity
/// error, signaled target abort, received target/master abort, signaled
/// system error, detected parity error.
pub const STATUS_W1C: u16 = 0xF900;

/// What a base address register maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// I/O ports.
    Io,
    /// Memory below 4 GiB.
    Memory32 { prefetchable: bool },
    /// Memory anywhere (takes two BAR slots).
    Memory64 { prefetchable: bool },
}

/// A base address register: its kind and size in bytes (a power of two:
/// at least 4 for I/O, 16 for memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    pub kind: BarKind,
    pub size: u64,
}

/// What occupies a BAR slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Empty,
    Bar(Bar),
    /// The upper dword of the 64-bit BAR in the slot below.
    UpperHalf,
}

/// 256 bytes of configuration space with write masks.
#[derive(Clone)]
pub struct ConfigSpace {
    data: [u8; 256],
    writable: [u8; 256],
    write_1_to_clear: [u8; 256],
    bars: [Slot; 6],
}

impl std::fmt::Debug for ConfigSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSpace")
            .field("vendor", &format_args!("{:#06x}", self.u16(offset::VENDOR_ID)))
            .field("device", &format_args!("{:#06x}", self.u16(offset::DEVICE_ID)))
            .field("bars", &self.bars)
            .finish()
    }
}

impl ConfigSpace {
    /// A type-0 header: `class` is base class << 16 | subclass << 8 |
    /// programming interface; `header_type` bit 7 marks a multi-function
    /// device. Command (I/O, memory, bus master, ...), cache line size,
    /// latency timer and interrupt line are writable; the status error
    /// bits are write-1-to-clear; everything else is read-only until the
    /// device says otherwise.
    pub fn new(vendor: u16, device: u16, class: u32, revision: u8, header_type: u8) -> Self {
        let mut c = Self {
            data: [0; 256],
            writable: [0; 256],
            write_1_to_clear: [0; 256],
            bars: [Slot::Empty; 6],
        };
        c.set_u16(offset::VENDOR_ID, vendor);
        c.set_u16(offset::DEVICE_ID, device);
        c.set_u8(offset::REVISION, revision);
        c.set_u8(offset::CLASS, class as u8);
        c.set_u16(offset::CLASS + 1, (class >> 8) as u16);
        c.set_u8(offset::HEADER_TYPE, header_type);
        c.set_writable_u16(offset::COMMAND, COMMAND_WRITABLE);
        c.set_w1c_u16(offset::STATUS, STATUS_W1C);
        c.set_writable_u8(offset::CACHE_LINE_SIZE, 0xFF);
        c.set_writable_u8(offset::LATENCY_TIMER, 0xFF);
        c.set_writable_u8(offset::INTERRUPT_LINE, 0xFF);
        c
    }

    /// Read `size` (1, 2 or 4) bytes at `offset`, little-endian. Bytes past
    /// the end of the space read as 0xFF.
    pub fn read(&self, offset: u8, size: u8) -> u32 {
        let mut value = 0;
        for i in 0..crate::access_len(size) {
            let byte = self.data.get(usize::from(offset) + usize::from(i)).copied().unwrap_or(0xFF);
            value |= u32::from(byte) << (8 * i);
        }
        value
    }

    /// A guest write of `size` bytes at `offset`, through the masks.
    pub fn write(&mut self, offset: u8, size: u8, value: u32) {
        for i in 0..crate::access_len(size) {
            let at = usize::from(offset) + usize::from(i);
            if at >= 256 {
                break;
            }
            let byte = (value >> (8 * i)) as u8;
            let w = self.writable[at];
            let mut new = (self.data[at] & !w) | (byte & w);
            new &= !(byte & self.write_1_to_clear[at]);
            self.data[at] = new;
        }
    }

    pub fn u8(&self, offset: u8) -> u8 {
        self.data[usize::from(offset)]
    }

    pub fn u16(&self, offset: u8) -> u16 {
        self.read(offset, 2) as u16
    }

    pub fn u32(&self, offset: u8) -> u32 {
        self.read(offset, 4)
    }

    /// Device-side store, bypassing the masks.
    pub fn set_u8(&mut self, offset: u8, value: u8) {
        self.data[usize::from(offset)] = value;
    }

    pub fn set_u16(&mut self, offset: u8, value: u16) {
        for (i, b) in value.to_le_bytes().into_iter().enumerate() {
            if let Some(slot) = self.data.get_mut(usize::from(offset) + i) {
                *slot = b;
            }
        }
    }

    pub fn set_u32(&mut self, offset: u8, value: u32) {
        for (i, b) in value.to_le_bytes().into_iter().enumerate() {
            if let Some(slot) = self.data.get_mut(usize::from(offset) + i) {
                *slot = b;
            }
        }
    }

    /// Which bits of the byte at `offset` a guest write may change.
    pub fn set_writable_u8(&mut self, offset: u8, mask: u8) {
        self.writable[usize::from(offset)] = mask;
    }

    pub fn set_writable_u16(&mut self, offset: u8, mask: u16) {
        for (i, b) in mask.to_le_bytes().into_iter().enumerate() {
            if let Some(slot) = self.writable.get_mut(usize::from(offset) + i) {
                *slot = b;
            }
        }
    }

    /// Make `len` bytes from `offset` fully writable (plain storage).
    pub fn set_storage(&mut self, offset: u8, len: usize) {
        let start = usize::from(offset);
        let end = (start + len).min(256);
        self.writable[start..end].fill(0xFF);
    }

    /// Which bits of the byte at `offset` a guest clears by writing 1.
    pub fn set_w1c_u8(&mut self, offset: u8, mask: u8) {
        self.write_1_to_clear[usize::from(offset)] = mask;
    }

    pub fn set_w1c_u16(&mut self, offset: u8, mask: u16) {
        for (i, b) in mask.to_le_bytes().into_iter().enumerate() {
            if let Some(slot) = self.write_1_to_clear.get_mut(usize::from(offset) + i) {
                *slot = b;
            }
        }
    }

    /// Install BAR `index` (0-5; a 64-bit BAR also uses `index + 1`).
    pub fn add_bar(&mut self, index: usize, bar: Bar) -> Result<(), PciError> {
        let min = if bar.kind == BarKind::Io { 4 } else { 16 };
        let max: u64 = match bar.kind {
            BarKind::Io => 1 << 16,
            BarKind::Memory32 { .. } => 1 << 31,
            BarKind::Memory64 { .. } => 1 << 63,
        };
        let wide = matches!(bar.kind, BarKind::Memory64 { .. });
        if index >= 6 || (wide && index >= 5) {
            return Err(PciError::BadBar {
                index,
                reason: "no such BAR slot",
            });
        }
        if !bar.size.is_power_of_two() || bar.size < min || bar.size > max {
            return Err(PciError::BadBar {
                index,
                reason: "size must be a power of two in range",
            });
        }
        if self.bars[index] != Slot::Empty || (wide && self.bars[index + 1] != Slot::Empty) {
            return Err(PciError::BadBar {
                index,
                reason: "slot already used",
            });
        }
        let at = offset::BAR0 + 4 * index as u8;
        let address_mask = !(bar.size - 1);
        let (low_bits, low_mask) = match bar.kind {
            BarKind::Io => (0x1, address_mask as u32 & 0xFFFF_FFFC),
            BarKind::Memory32 { prefetchable } => (u32::from(prefetchable) << 3, address_mask as u32 & 0xFFFF_FFF0),
            BarKind::Memory64 { prefetchable } => (0x4 | u32::from(prefetchable) << 3, address_mask as u32 & 0xFFFF_FFF0),
        };
        self.set_u32(at, low_bits);
        self.set_writable_u16(at, low_mask as u16);
        self.set_writable_u16(at + 2, (low_mask >> 16) as u16);
        self.bars[index] = Slot::Bar(bar);
        if wide {
            let high_mask = (address_mask >> 32) as u32;
            self.set_u32(at + 4, 0);
            self.set_writable_u16(at + 4, high_mask as u16);
            self.set_writable_u16(at + 6, (high_mask >> 16) as u16);
            self.bars[index + 1] = Slot::UpperHalf;
        }
        Ok(())
    }

    /// The BAR installed at `index`, if it starts there.
    pub fn bar(&self, index: usize) -> Option<Bar> {
        match self.bars.get(index)? {
            Slot::Bar(bar) => Some(*bar),
            _ => None,
        }
    }

    /// The address BAR `index` is programmed with.
    pub fn bar_address(&self, index: usize) -> Option<u64> {
        let bar = self.bar(index)?;
        let at = offset::BAR0 + 4 * index as u8;
        let low = self.u32(at);
        Some(match bar.kind {
            BarKind::Io => u64::from(low & 0xFFFF_FFFC),
            BarKind::Memory32 { .. } => u64::from(low & 0xFFFF_FFF0),
            BarKind::Memory64 { .. } => u64::from(low & 0xFFFF_FFF0) | (u64::from(self.u32(at + 4)) << 32),
        })
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.u16(offset::COMMAND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_readonly_writable_w1c() {
        let mut c = ConfigSpace::new(0x1234, 0x5678, 0x02_00_00, 1, 0);
        c.write(offset::VENDOR_ID, 4, 0xFFFF_FFFF);
        assert_eq!(c.u32(0), 0x5678_1234);
        c.write(offset::COMMAND, 2, 0xFFFF);
        assert_eq!(c.command(), COMMAND_WRITABLE);
        c.set_u16(offset::STATUS, 0x0290 | 0x2000);
        c.write(offset::STATUS, 2, 0x2000 | 0x0010);
        assert_eq!(c.u16(offset::STATUS), 0x0290);
        assert_eq!(c.read(offset::CLASS, 4) >> 8 & 0xFF, 0);
        assert_eq!(c.read(0xFE, 4), 0xFFFF_0000);
    }

    #[test]
    fn bar_sizing() {
        let mut c = ConfigSpace::new(0x1234, 0x5678, 0, 0, 0);
        c.add_bar(
            0,
            Bar {
                kind: BarKind::Memory32 { prefetchable: true },
                size: 0x1000,
            },
        )
        .unwrap();
        c.add_bar(
            1,
            Bar {
                kind: BarKind::Io,
                size: 0x20,
            },
        )
        .unwrap();
        c.add_bar(
            2,
            Bar {
                kind: BarKind::Memory64 { prefetchable: false },
                size: 1 << 33,
            },
        )
        .unwrap();
        assert!(
            c.add_bar(
                3,
                Bar {
                    kind: BarKind::Io,
                    size: 8
                }
            )
            .is_err()
        );
        assert!(
            c.add_bar(
                4,
                Bar {
                    kind: BarKind::Io,
                    size: 6
                }
            )
            .is_err()
        );
        assert!(
            c.add_bar(
                5,
                Bar {
                    kind: BarKind::Memory64 { prefetchable: false },
                    size: 16
                }
            )
            .is_err()
        );
        for i in 0..6u8 {
            c.write(0x10 + 4 * i, 4, 0xFFFF_FFFF);
        }
        assert_eq!(c.u32(0x10), 0xFFFF_F008);
        assert_eq!(c.u32(0x14), 0xFFFF_FFE1);
        assert_eq!(c.u32(0x18), 0x0000_0004);
        assert_eq!(c.u32(0x1C), 0xFFFF_FFFE);
        assert_eq!(c.u32(0x20), 0);
        c.write(0x10, 4, 0xFEB0_1234);
        assert_eq!(c.bar_address(0), Some(0xFEB0_1000));
        c.write(0x14, 4, 0xC001);
        assert_eq!(c.bar_address(1), Some(0xC000));
        c.write(0x18, 4, 0);
        c.write(0x1C, 4, 0x4);
        assert_eq!(c.bar_address(2), Some(0x4_0000_0000));
        assert_eq!(c.bar(3), None);
        assert_eq!(c.bar_address(4), None);
    }
}
