//! What the chipset and the PCI devices put into the physical address
//! space, kept in step with the guest's register writes, and the bus
//! master view of memory that DMA uses.
//!
//! The board's devices only hold registers (they cannot reach guest
//! memory while an engine runs); when the guest writes PCI configuration
//! space the board asks the run loop to stop (`Requests::remap`), and
//! [`Chipset::sync`] compares what the registers say with what is mapped
//! and changes only the difference. Each change bumps the map's
//! generation, which makes every engine drop its TLB and translations: the
//! next instruction sees the new map, as on hardware.
//!
//! - The VGA's legacy window 0xA0000-0xBFFFF is MMIO from the start.
//! - The VGA's linear framebuffer (PCI BAR0) is MMIO where the guest put
//!   it, while memory decoding is on.
//! - Shadow RAM (i440FX PAM registers, SeaBIOS boots only): each of the 13
//!   segments between 0xC0000 and 0xFFFFF reads and writes RAM or the
//!   "PCI side", which is the BIOS image for 0xE0000-0xFFFFF and nothing
//!   for 0xC0000-0xDFFFF (option ROMs are copied into shadow RAM by the
//!   BIOS). A kernel booted directly has no firmware to manage shadowing,
//!   so there the segments stay RAM, as the loaders expect.
//!
//! Left out: SMRAM (the register is storage; ringvisor has no SMM), the
//! VGA expansion ROM BAR (SeaBIOS gets the VGA BIOS through fw_cfg).

use crate::board::{Board, mmio};
use devices::DmaMemory;
use devices::pci::i440fx::PamRegion;
use memory::{GuestMemory, Region, RegionKind};

/// Start and size of the VGA's legacy window.
pub const VGA_WINDOW: (u64, u64) = (0xA_0000, 0x2_0000);

/// Where the BIOS image shows below 1 MiB when shadowing is off.
#[derive(Clone, Copy, Debug)]
pub struct BiosWindow {
    /// The ROM's index in the physical map.
    pub rom: u32,
    /// The ROM's length (its last 128 KiB are at 0xE0000).
    pub len: u64,
}

/// The chipset's view of what is mapped.
#[derive(Debug)]
pub struct Chipset {
    bios: Option<BiosWindow>,
    pam: Option<[PamRegion; 13]>,
    /// (base, size) of the framebuffer as mapped.
    lfb: Option<(u64, u64)>,
}

impl Chipset {
    /// Map the fixed regions. `bios`: the firmware ROM when the machine
    /// boots through a BIOS (enables shadow-RAM control).
    pub fn new(mem: &mut GuestMemory, bios: Option<BiosWindow>) -> Result<Self, memory::MemoryError> {
        mem.map.add(Region::mmio(VGA_WINDOW.0, VGA_WINDOW.1, mmio::VGA_WINDOW))?;
        Ok(Self {
            bios,
            pam: None,
            lfb: None,
        })
    }

    /// Hand shadow-RAM control the BIOS image (a firmware boot).
    pub fn set_bios(&mut self, bios: BiosWindow) {
        self.bios = Some(bios);
        self.pam = None;
    }

    /// Bring the map in line with the registers.
    pub fn sync(&mut self, board: &mut Board, mem: &mut GuestMemory) {
        if let Some(bios) = self.bios
            && let Some(hb) = board.pci.host_bridge_mut()
        {
            hb.take_memory_map_changed();
            let now = hb.pam_regions();
            for (i, r) in now.iter().enumerate() {
                if self.pam.is_none_or(|old| old[i] != *r) {
                    mem.map.set(shadow_region(r, bios));
                }
            }
            self.pam = Some(now);
        }
        let lfb = board
            .pci
            .vga()
            .and_then(|f| Some((f.lfb_address()?, f.config().bar(0)?.size)))
            // A BAR the guest put over RAM or below 1 MiB is not mapped
            // (on hardware the decode would conflict; here RAM wins).
            .filter(|&(base, size)| base >= mem.ram.size() && base >= 0x10_0000 && base.checked_add(size).is_some_and(|e| e <= 1 << 32));
        if lfb != self.lfb {
            if let Some((base, size)) = self.lfb {
                mem.map.remove(base, size);
            }
            if let Some((base, size)) = lfb {
                mem.map.set(Region::mmio(base, size, mmio::VGA_LFB));
            }
            self.lfb = lfb;
        }
    }
}

/// The region a shadow segment maps to.
fn shadow_region(r: &PamRegion, bios: BiosWindow) -> Region {
    let base = u64::from(r.start);
    let size = u64::from(r.size);
    let ram = RegionKind::Ram { offset: base };
    // The BIOS image's last 128 KiB are at 0xE0000; below that nothing.
    let low_start = 0x10_0000 - bios.len.min(0x2_0000);
    let pci_side = if base >= low_start {
        RegionKind::Rom {
            rom: bios.rom,
            offset: bios.len - (0x10_0000 - base),
        }
    } else {
        RegionKind::None
    };
    Region {
        base,
        size,
        read: if r.read_ram { ram } else { pci_side },
        write: if r.write_ram { ram } else { RegionKind::None },
    }
}

/// Guest memory as a bus master sees it (IDE, fw_cfg DMA): RAM and ROM
/// by the physical map, code pages written are recorded so engines drop
/// stale translations.
pub struct BusMaster<'a>(pub &'a mut GuestMemory);

impl DmaMemory for BusMaster<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) {
        self.0.read_phys(addr, buf);
    }

    fn write(&mut self, addr: u64, data: &[u8]) {
        self.0.write_phys(addr, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memory::{Access, Target};

    fn region(read_ram: bool, write_ram: bool, start: u32) -> PamRegion {
        PamRegion {
            start,
            size: if start == 0xF_0000 { 0x1_0000 } else { 0x4000 },
            read_ram,
            write_ram,
        }
    }

    #[test]
    fn shadow_segments_read_rom_or_ram() {
        let bios = BiosWindow { rom: 3, len: 256 << 10 };
        let r = shadow_region(&region(false, true, 0xF_0000), bios);
        assert_eq!(
            r.read,
            RegionKind::Rom {
                rom: 3,
                offset: (256 << 10) - 0x1_0000
            }
        );
        assert_eq!(r.write, RegionKind::Ram { offset: 0xF_0000 });
        let r = shadow_region(&region(false, false, 0xC_4000), bios);
        assert_eq!((r.read, r.write), (RegionKind::None, RegionKind::None));
        let r = shadow_region(&region(true, false, 0xE_4000), bios);
        assert_eq!(r.read, RegionKind::Ram { offset: 0xE_4000 });
        assert_eq!(r.write, RegionKind::None);
    }

    #[test]
    fn pam_writes_remap_and_bump_generation() {
        let mut mem = GuestMemory::new(16 << 20).unwrap();
        let rom = mem.map.add_rom_data(vec![0x5A; 128 << 10]);
        let mut cs = Chipset::new(&mut mem, Some(BiosWindow { rom, len: 128 << 10 })).unwrap();
        let mut board = Board::new(crate::clock::Clock::new(), None, 0xE9);
        cs.sync(&mut board, &mut mem);
        assert_eq!(mem.read_u8(0xF_1234), 0x5A, "PAM 0: reads go to the ROM");
        mem.write_phys(0xF_1234, &[1]);
        assert_eq!(mem.read_u8(0xF_1234), 0x5A, "and writes are dropped");
        let g = mem.map.generation();
        // PAM0 = 0x30: F0000 reads and writes RAM.
        let hb = devices::pci::DevFn::new(0, 0).unwrap();
        board.pci.config_write(hb, 0x59, 1, 0x30);
        cs.sync(&mut board, &mut mem);
        assert!(mem.map.generation() > g);
        mem.write_phys(0xF_1234, &[7]);
        assert_eq!(mem.read_u8(0xF_1234), 7);
        assert_eq!(mem.map.lookup(0xE_0000, Access::Read).target, Target::Rom { rom, offset: 0 });
        // Nothing changed: no new generation.
        let g = mem.map.generation();
        cs.sync(&mut board, &mut mem);
        assert_eq!(mem.map.generation(), g);
    }
}
