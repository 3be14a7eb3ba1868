//! QEMU's "stdvga" as a PCI function (1234:1111, class 0300 VGA
//! controller): how SeaBIOS finds the VGA, the linear framebuffer's
//! address (BAR0) and the VGA BIOS (expansion ROM).
//!
//! This is only the configuration space; the [`super::Vga`] itself is a
//! separate device the machine owns. The machine maps the framebuffer
//! where the guest puts BAR0 ([`StdVgaPci::lfb_address`]) onto
//! [`super::Vga::lfb_read`] / [`super::Vga::lfb_write`], and the VGA BIOS
//! image where it puts the expansion ROM ([`StdVgaPci::rom_address`]) —
//! or copies the image to 0xC0000 itself, as SeaBIOS on QEMU expects when
//! it gets the ROM through fw_cfg instead.
//!
//! Left out: QEMU's BAR2 (its MMIO copy of the dispi and VGA registers);
//! SeaBIOS uses the I/O ports when BAR2 reads as absent.

use crate::pci::{Bar, BarKind, ConfigSpace, PciError, PciFunction};

/// Offset of the expansion ROM base address register.
pub const ROM_BAR: u8 = 0x30;

/// The stdvga PCI function.
#[derive(Debug)]
pub struct StdVgaPci {
    config: ConfigSpace,
    rom_size: u64,
}

impl StdVgaPci {
    pub const VENDOR_ID: u16 = 0x1234;
    pub const DEVICE_ID: u16 = 0x1111;
    /// Display controller, VGA compatible.
    pub const CLASS: u32 = 0x03_00_00;
    /// (device, function) QEMU gives the VGA on the i440FX machine.
    pub const DEVFN: (u8, u8) = (2, 0);

    pub fn devfn() -> crate::pci::DevFn {
        crate::pci::DevFn::new(Self::DEVFN.0, Self::DEVFN.1).expect("fixed, valid address")
    }

    /// The function for a VGA with `vram_size` bytes of video memory (a
    /// power of two: BAR0, prefetchable) and a VGA BIOS of `rom_size`
    /// bytes (rounded up to a power of two of at least 2 KiB; 0 for no
    /// expansion ROM).
    pub fn new(vram_size: u64, rom_size: u64) -> Result<Self, PciError> {
        let mut c = ConfigSpace::new(Self::VENDOR_ID, Self::DEVICE_ID, Self::CLASS, 0x02, 0x00);
        // QEMU's subsystem IDs.
        c.set_u16(0x2C, 0x1AF4);
        c.set_u16(0x2E, 0x1100);
        c.add_bar(
            0,
            Bar {
                kind: BarKind::Memory32 { prefetchable: true },
                size: vram_size,
            },
        )?;
        let rom_size = if rom_size == 0 {
            0
        } else {
            rom_size.clamp(2048, 1 << 24).next_power_of_two()
        };
        if rom_size != 0 {
            let mask = (!(rom_size - 1) as u32 & 0xFFFF_F800) | 0x01;
            c.set_writable_u16(ROM_BAR, mask as u16);
            c.set_writable_u16(ROM_BAR + 2, (mask >> 16) as u16);
        }
        Ok(Self { config: c, rom_size })
    }

    /// The configuration space (read-only view).
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }

    fn memory_enabled(&self) -> bool {
        self.config.command() & 0x02 != 0
    }

    /// Where the guest put the linear framebuffer, while memory decoding
    /// is on and the BAR has been assigned.
    pub fn lfb_address(&self) -> Option<u64> {
        let a = self.config.bar_address(0)?;
        (self.memory_enabled() && a != 0).then_some(a)
    }

    /// Size of the expansion ROM window (0: none).
    pub fn rom_size(&self) -> u64 {
        self.rom_size
    }

    /// Where the guest put the expansion ROM, while it is enabled (ROM BAR
    /// bit 0 and memory decoding).
    pub fn rom_address(&self) -> Option<u64> {
        let v = self.config.u32(ROM_BAR);
        let a = u64::from(v & 0xFFFF_F800);
        (self.rom_size != 0 && v & 1 != 0 && self.memory_enabled() && a != 0).then_some(a)
    }
}

impl PciFunction for StdVgaPci {
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }

    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.config.write(offset, size, value);
    }

    fn reset(&mut self) {
        let vram = self.config.bar(0).map_or(16 << 20, |b| b.size);
        if let Ok(fresh) = Self::new(vram, self.rom_size) {
            *self = fresh;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_bars() {
        let mut f = StdVgaPci::new(16 << 20, 40 * 1024).unwrap();
        assert_eq!(f.config_read(0x00, 4), 0x1111_1234);
        assert_eq!(f.config_read(0x08, 4), 0x0300_0002);
        assert_eq!(f.config_read(0x2C, 4), 0x1100_1AF4);
        // BAR0: 16 MiB, prefetchable memory.
        f.config_write(0x10, 4, 0xFFFF_FFFF);
        assert_eq!(f.config_read(0x10, 4), 0xFF00_0008);
        f.config_write(0x10, 4, 0xFD00_0000);
        assert_eq!(f.lfb_address(), None, "memory decoding is off");
        f.config_write(0x04, 2, 0x0003);
        assert_eq!(f.lfb_address(), Some(0xFD00_0000));
        // Expansion ROM: 64 KiB (40 KiB rounded up), enable bit.
        f.config_write(ROM_BAR, 4, 0xFFFF_FFFE);
        assert_eq!(f.config_read(ROM_BAR, 4), 0xFFFF_0000);
        assert_eq!(f.rom_address(), None);
        f.config_write(ROM_BAR, 4, 0xFEB0_0001);
        assert_eq!(f.rom_address(), Some(0xFEB0_0000));
        assert_eq!(f.rom_size(), 64 * 1024);
    }

    #[test]
    fn no_rom() {
        let mut f = StdVgaPci::new(16 << 20, 0).unwrap();
        f.config_write(ROM_BAR, 4, 0xFFFF_FFFF);
        assert_eq!(f.config_read(ROM_BAR, 4), 0);
        assert_eq!(f.rom_address(), None);
        assert!(StdVgaPci::new(3 << 20, 0).is_err());
    }
}
