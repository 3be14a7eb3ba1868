//! The Intel 82441FX PCI and Memory Controller (PMC) of the 440FX chipset,
//! the host bridge at 00:00.0 (8086:1237, class 0600).
//!
//! Its registers are storage for the machine to act on: the PAM registers
//! (0x59-0x5F) say whether each BIOS/option ROM segment between 0xC0000
//! and 0xFFFFF reads and writes RAM or the ROM/PCI side (shadow RAM), and
//! SMRAM (0x72) controls the SMM space at 0xA0000. After the guest changes
//! either, [`I440fx::take_memory_map_changed`] says so and the machine
//! re-reads [`I440fx::pam_regions`] / [`I440fx::smram`].
//!
//! Reset values follow the 82441FX datasheet: command 0x0006 (memory and
//! bus master hardwired on), status 0x0280 (fast back-to-back, medium
//! DEVSEL), revision 02, PMCCFG/DETURBO/... as listed in `new`, PAM all
//! zero (everything to ROM), SMRAM 0x02 (SMM space at A0000, C_BASE_SEG
//! read-only). SMRAM's D_LCK is honoured: once set, D_OPEN reads 0 and only
//! D_CLS stays writable until reset. The DRAM row boundaries (0x60-0x67)
//! and the other configuration registers are writable storage with no
//! effect.

use super::{ConfigSpace, PciFunction};

/// First PAM register (PAM0: 0xF0000-0xFFFFF in its high nibble).
pub const PAM0: u8 = 0x59;
/// SMRAM control register.
pub const SMRAM: u8 = 0x72;

const SMRAM_D_OPEN: u8 = 0x40;
const SMRAM_D_CLS: u8 = 0x20;
const SMRAM_D_LCK: u8 = 0x10;
const SMRAM_G_SMRAME: u8 = 0x08;
const SMRAM_C_BASE_SEG: u8 = 0x02;

/// One shadowable segment and where its accesses go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PamRegion {
    pub start: u32,
    pub size: u32,
    /// Reads go to DRAM (otherwise to ROM / PCI).
    pub read_ram: bool,
    /// Writes go to DRAM (otherwise to ROM / PCI, i.e. dropped for ROM).
    pub write_ram: bool,
}

/// The 440FX host bridge.
#[derive(Debug)]
pub struct I440fx {
    config: ConfigSpace,
    memory_map_changed: bool,
}

impl Default for I440fx {
    fn default() -> Self {
        Self::new()
    }
}

impl I440fx {
    /// (device, function) on bus 0.
    pub const DEVFN: (u8, u8) = (0, 0);

    pub fn new() -> Self {
        let mut c = ConfigSpace::new(0x8086, 0x1237, 0x06_00_00, 0x02, 0x00);
        // MAE and BME are hardwired on; PERR/SERR enables are writable.
        c.set_u16(0x04, 0x0006);
        c.set_writable_u16(0x04, 0x0140);
        c.set_u16(0x06, 0x0280);
        c.set_w1c_u16(0x06, 0x3000 | 0x8000 | 0x0100);
        // No cache line size / interrupt line registers on the PMC; the
        // latency timer has its low 3 bits hardwired to 0.
        c.set_writable_u8(0x0C, 0);
        c.set_writable_u8(0x3C, 0);
        c.set_writable_u8(0x0D, 0xF8);
        // PMCCFG, DETURBO, DBC, AXC, DRAMR, DRAMC, DRAMT.
        c.set_storage(0x50, 9);
        c.set_u8(0x51, 0x01);
        c.set_u8(0x53, 0x80);
        c.set_u8(0x57, 0x01);
        c.set_u8(0x58, 0x10);
        // PAM0 only has the F0000 segment; PAM1-6 two segments each.
        c.set_writable_u8(PAM0, 0x30);
        for reg in PAM0 + 1..=PAM0 + 6 {
            c.set_writable_u8(reg, 0x33);
        }
        // DRB0-7, FDHC, MTT, CLT.
        c.set_storage(0x60, 9);
        c.set_storage(0x70, 2);
        c.set_u8(SMRAM, SMRAM_C_BASE_SEG);
        // QEMU's subsystem IDs (Red Hat, "QEMU"): SeaBIOS's qemu_detect
        // checks them on 00:00.0 to know it runs on a QEMU-like machine
        // whose fw_cfg it may read.
        c.set_u16(0x2C, 0x1AF4);
        c.set_u16(0x2E, 0x1100);
        // ERRCMD, ERRSTS (write-1-to-clear), TRC.
        c.set_storage(0x90, 1);
        c.set_w1c_u8(0x91, 0xFF);
        c.set_storage(0x93, 1);
        Self {
            config: c,
            memory_map_changed: false,
        }
    }

    /// The configuration space (read-only view).
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }

    /// PAM0-PAM6 (0x59-0x5F).
    pub fn pam(&self) -> [u8; 7] {
        std::array::from_fn(|i| self.config.u8(PAM0 + i as u8))
    }

    /// The SMRAM control register (0x72).
    pub fn smram(&self) -> u8 {
        self.config.u8(SMRAM)
    }

    /// The 13 shadowable segments with their current attributes:
    /// 0xF0000 (64 KiB), then 0xC0000-0xEFFFF in 16 KiB pieces.
    pub fn pam_regions(&self) -> [PamRegion; 13] {
        let pam = self.pam();
        let attrs = |nibble: u8| (nibble & 1 != 0, nibble & 2 != 0);
        std::array::from_fn(|i| {
            if i == 0 {
                let (read_ram, write_ram) = attrs(pam[0] >> 4);
                PamRegion {
                    start: 0xF_0000,
                    size: 0x1_0000,
                    read_ram,
                    write_ram,
                }
            } else {
                let k = i - 1;
                let reg = pam[1 + k / 2];
                let nibble = if k % 2 == 0 { reg & 0xF } else { reg >> 4 };
                let (read_ram, write_ram) = attrs(nibble);
                PamRegion {
                    start: 0xC_0000 + 0x4000 * k as u32,
                    size: 0x4000,
                    read_ram,
                    write_ram,
                }
            }
        })
    }

    /// Whether PAM or SMRAM changed since the last call.
    pub fn take_memory_map_changed(&mut self) -> bool {
        std::mem::take(&mut self.memory_map_changed)
    }

    fn write_smram(&mut self, value: u8) {
        let old = self.config.u8(SMRAM);
        let new = if old & SMRAM_D_LCK != 0 {
            // Locked: only D_CLS may change; D_OPEN is forced off.
            (old & !(SMRAM_D_CLS | SMRAM_D_OPEN)) | (value & SMRAM_D_CLS)
        } else {
            let mut v = (value & (SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME)) | SMRAM_C_BASE_SEG;
            if v & SMRAM_D_LCK != 0 {
                v &= !SMRAM_D_OPEN;
            }
            v
        };
        self.config.set_u8(SMRAM, new);
    }
}

impl PciFunction for I440fx {
    fn reset(&mut self) {
        *self = Self::new();
        // PAM back to zero: the machine must remap.
        self.memory_map_changed = true;
    }
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }

    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        let len = crate::access_len(size);
        let end = u16::from(offset) + u16::from(len);
        let covers = |reg: u8| (u16::from(offset)..end).contains(&u16::from(reg));
        let smram_value = covers(SMRAM).then(|| (value >> (8 * (SMRAM - offset))) as u8);
        let pam_before = self.pam();
        self.config.write(offset, size, value);
        if let Some(v) = smram_value {
            self.write_smram(v);
            self.memory_map_changed = true;
        }
        if self.pam() != pam_before {
            self.memory_map_changed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_values() {
        let mut h = I440fx::new();
        assert_eq!(h.config_read(0x00, 4), 0x1237_8086);
        assert_eq!(h.config_read(0x04, 4), 0x0280_0006);
        assert_eq!(h.config_read(0x08, 4), 0x0600_0002);
        assert_eq!(h.config_read(0x50, 4), 0x8000_0100);
        assert_eq!(h.config_read(0x58, 1), 0x10);
        assert_eq!(h.pam(), [0; 7]);
        assert_eq!(h.smram(), 0x02);
        assert!(h.pam_regions().iter().all(|r| !r.read_ram && !r.write_ram));
    }

    #[test]
    fn pam_masks_and_regions() {
        let mut h = I440fx::new();
        h.config_write(PAM0, 1, 0xFF);
        assert_eq!(h.pam()[0], 0x30);
        h.config_write(0x5C, 4, 0x1132_FFFF); // PAM3..PAM6
        assert_eq!(h.pam(), [0x30, 0, 0, 0x33, 0x33, 0x32, 0x11]);
        let r = h.pam_regions();
        assert_eq!(
            r[0],
            PamRegion {
                start: 0xF_0000,
                size: 0x1_0000,
                read_ram: true,
                write_ram: true
            }
        );
        assert_eq!(r[5].start, 0xD_0000);
        assert!(r[5].read_ram && r[5].write_ram);
        assert_eq!(r[9].start, 0xE_0000);
        assert!(!r[9].read_ram && r[9].write_ram);
        assert_eq!(
            r[12],
            PamRegion {
                start: 0xE_C000,
                size: 0x4000,
                read_ram: true,
                write_ram: false
            }
        );
        assert!(h.take_memory_map_changed());
        // Writing the same values is not a change.
        h.config_write(0x5C, 4, 0x1132_3333);
        assert!(!h.take_memory_map_changed());
    }

    #[test]
    fn smram_lock() {
        let mut h = I440fx::new();
        h.config_write(SMRAM, 1, 0xFF);
        assert_eq!(h.smram(), SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME | 0x02);
        let mut h = I440fx::new();
        h.config_write(0x70, 4, 0x0048_0000); // D_OPEN | G_SMRAME via a dword
        assert_eq!(h.smram(), 0x4A);
        h.config_write(SMRAM, 1, 0x1A); // lock
        assert_eq!(h.smram(), 0x1A);
        h.config_write(SMRAM, 1, 0x62); // try to reopen; D_CLS allowed
        assert_eq!(h.smram(), 0x3A);
        assert!(h.take_memory_map_changed());
    }

    #[test]
    fn status_write_one_to_clear() {
        let mut h = I440fx::new();
        h.config.set_u16(0x06, 0x0280 | 0x3000);
        h.config_write(0x06, 2, 0x1000);
        assert_eq!(h.config_read(0x06, 2), 0x2280);
    }
}
