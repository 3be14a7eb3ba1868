//! The Intel 82371SB PIIX3 function 0: the PCI-to-ISA bridge at 00:01.0
//! (8086:7000, class 0601, header type 0x80 because the IDE and USB
//! functions share the device).
//!
//! Its registers are storage the machine reads when it needs them: above
//! all the PIRQ route control registers 0x60-0x63 ([`Piix3::pirq_route`]),
//! which say which ISA IRQ each PCI interrupt line A-D drives (bit 7 set:
//! not routed; reset value 0x80). Reset values follow the PIIX3 datasheet:
//! command 0x0007, status 0x0200, IORT 0x4D, XBCS 0x03, TOM 0x02, MBIRQ0
//! 0x80, MBDMA 0x0C, PCSC 0x0002, SMICNTL 0x08, FTMR 0x0F. The ELCRs live
//! with the PIC ([`crate::pic`]) and the reset control register at 0xCF9
//! with the bus ([`super::PciBus`]), since both are I/O ports.

use super::{ConfigSpace, PciFunction};

/// First PIRQ route control register (PIRQA).
pub const PIRQRC: u8 = 0x60;

/// The PIIX3 ISA bridge function.
#[derive(Debug)]
pub struct Piix3 {
    config: ConfigSpace,
}

impl Default for Piix3 {
    fn default() -> Self {
        Self::new()
    }
}

impl Piix3 {
    /// (device, function) on bus 0.
    pub const DEVFN: (u8, u8) = (1, 0);

    pub fn new() -> Self {
        let mut c = ConfigSpace::new(0x8086, 0x7000, 0x06_01_00, 0x00, 0x80);
        // I/O, memory and bus master are always on; special cycles and
        // SERR# enable are writable.
        c.set_u16(0x04, 0x0007);
        c.set_writable_u16(0x04, 0x0108);
        c.set_u16(0x06, 0x0200);
        c.set_w1c_u16(0x06, 0x3800 | 0x4000);
        c.set_writable_u8(0x0C, 0);
        c.set_writable_u8(0x0D, 0);
        c.set_writable_u8(0x3C, 0);
        // IORT, XBCS.
        c.set_storage(0x4C, 1);
        c.set_u8(0x4C, 0x4D);
        c.set_storage(0x4E, 2);
        c.set_u8(0x4E, 0x03);
        // PIRQRC[A:D]: bits 6-4 reserved.
        for reg in PIRQRC..PIRQRC + 4 {
            c.set_u8(reg, 0x80);
            c.set_writable_u8(reg, 0x8F);
        }
        // TOM, MSTAT.
        c.set_storage(0x69, 3);
        c.set_u8(0x69, 0x02);
        // MBIRQ0 (and the reserved byte after it), MBDMA0-1, PCSC.
        c.set_storage(0x70, 2);
        c.set_u8(0x70, 0x80);
        c.set_storage(0x76, 4);
        c.set_u8(0x76, 0x0C);
        c.set_u8(0x77, 0x0C);
        c.set_u8(0x78, 0x02);
        // APICBASE, DLC, SMI and power management registers.
        c.set_storage(0x80, 1);
        c.set_storage(0x82, 1);
        c.set_storage(0xA0, 16);
        c.set_u8(0xA0, 0x08);
        c.set_u8(0xA8, 0x0F);
        Self { config: c }
    }

    /// The configuration space (read-only view).
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }

    /// The ISA IRQ PCI interrupt line `pirq` (0-3 for PIRQA-D) is routed
    /// to, or `None` when routing is disabled or names an IRQ the PIIX3
    /// cannot drive (0-2, 8, 13).
    pub fn pirq_route(&self, pirq: usize) -> Option<u8> {
        let value = self.config.u8(PIRQRC + (pirq.min(3) as u8));
        let irq = value & 0x0F;
        let valid = matches!(irq, 3..=7 | 9..=12 | 14 | 15);
        (value & 0x80 == 0 && valid).then_some(irq)
    }
}

impl PciFunction for Piix3 {
    fn reset(&mut self) {
        *self = Self::new();
    }
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }

    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.config.write(offset, size, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_values() {
        let mut p = Piix3::new();
        assert_eq!(p.config_read(0x00, 4), 0x7000_8086);
        assert_eq!(p.config_read(0x04, 4), 0x0200_0007);
        assert_eq!(p.config_read(0x08, 4), 0x0601_0000);
        assert_eq!(p.config_read(0x0C, 4), 0x0080_0000);
        assert_eq!(p.config_read(0x4C, 4), 0x0003_004D);
        assert_eq!(p.config_read(0x60, 4), 0x8080_8080);
        assert_eq!(p.config_read(0x69, 1), 0x02);
        assert_eq!((0..4).map(|i| p.pirq_route(i)).collect::<Vec<_>>(), [None; 4]);
    }

    #[test]
    fn pirq_routing() {
        let mut p = Piix3::new();
        // SeaBIOS's defaults on QEMU: 10, 10, 11, 11.
        p.config_write(PIRQRC, 4, 0x0B0B_0A0A);
        assert_eq!(p.pirq_route(0), Some(10));
        assert_eq!(p.pirq_route(3), Some(11));
        // Reserved bits 6-4 stay clear; IRQ 2 and 13 are not routable.
        p.config_write(PIRQRC + 1, 1, 0x7D);
        assert_eq!(p.config_read(PIRQRC + 1, 1), 0x0D);
        assert_eq!(p.pirq_route(1), None);
        p.config_write(PIRQRC + 2, 1, 0x8B);
        assert_eq!(p.pirq_route(2), None);
        // Header and IDs are read-only.
        p.config_write(0x0C, 4, 0xFFFF_FFFF);
        assert_eq!(p.config_read(0x0C, 4), 0x0080_0000);
    }
}
