//! Guest physical memory.
//!
//! One host mapping holds all guest RAM (so a later shadow address space or
//! a sandboxed process can map the very same pages). On top of it sits a
//! small physical map of regions — RAM, ROM, MMIO — each with its own
//! target for reads and for writes, which is what the i440FX's PAM
//! registers need for the shadow area at 0xC0000-0xFFFFF.
//!
//! The map also tracks which RAM pages hold code that an engine decoded or
//! translated: a write to such a page, whether by a guest instruction or a
//! device's DMA, is recorded so that engines can drop exactly the stale
//! code (self-modifying code).

mod code;
mod map;
mod ram;

pub use code::{CodePages, Cursor, Invalidations};
pub use map::{Access, Lookup, PhysMap, Region, RegionKind, Target};
pub use ram::Ram;

use thiserror::Error;

/// Errors building guest memory (bad sizes from the user, host refusal).
#[derive(Debug, Error)]
pub enum MemoryError {
    #[error("guest RAM size {0} bytes is not a positive multiple of 4 KiB")]
    BadSize(u64),
    #[error("guest RAM size {size} bytes is larger than the {max}-byte physical space below the PCI hole")]
    TooLarge { size: u64, max: u64 },
    #[error("cannot reserve {size} bytes of host memory for guest RAM: {source}")]
    Host { size: u64, source: std::io::Error },
    #[error("region at {base:#x} (+{size:#x}) overlaps region at {other:#x}")]
    Overlap { base: u64, size: u64, other: u64 },
}

/// Page size of the physical map's granularity and of code tracking.
pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// The guest's physical address space: RAM, ROMs, MMIO holes and the
/// bookkeeping of code pages.
#[derive(Debug)]
pub struct GuestMemory {
    pub ram: Ram,
    pub map: PhysMap,
    pub code: CodePages,
}

impl GuestMemory {
    /// Guest memory of `ram_size` bytes with RAM mapped from physical
    /// address 0 up to its size (the caller overlays ROM and MMIO).
    pub fn new(ram_size: u64) -> Result<Self, MemoryError> {
        let ram = Ram::new(ram_size)?;
        let mut map = PhysMap::new();
        map.add(Region::ram(0, ram_size, 0))?;
        let code = CodePages::new(ram_size);
        Ok(Self { ram, map, code })
    }

    /// Read bytes at a physical address as a bus master (DMA, firmware
    /// loaders) does: RAM and ROM are read, MMIO and holes read as ones.
    pub fn read_phys(&self, addr: u64, buf: &mut [u8]) {
        for (done, n, target) in runs(&self.map, addr, buf.len(), Access::Read) {
            let dst = &mut buf[done..done + n];
            let src = match target {
                Target::Ram(off) => self.ram.bytes().get(off as usize..off as usize + n),
                Target::Rom { rom, offset } => self.map.rom(rom).get(offset as usize..offset as usize + n),
                Target::Mmio { .. } | Target::None => None,
            };
            match src {
                Some(s) => dst.copy_from_slice(s),
                // Past the end of the backing data, or a device: ones, as
                // a master abort reads.
                None => dst.fill(0xFF),
            }
        }
    }

    /// Write bytes at a physical address as a bus master does: RAM takes the
    /// data (and code pages hit are recorded), ROM and holes drop it.
    pub fn write_phys(&mut self, addr: u64, data: &[u8]) {
        for (done, n, target) in runs(&self.map, addr, data.len(), Access::Write) {
            if let Target::Ram(off) = target {
                let off = off as usize;
                if let Some(dst) = self.ram.bytes_mut().get_mut(off..off + n) {
                    dst.copy_from_slice(&data[done..done + n]);
                    self.code.note_write(off as u64, n as u64);
                }
            }
        }
    }

    /// One byte read as a bus master.
    pub fn read_u8(&self, addr: u64) -> u8 {
        match self.map.lookup(addr, Access::Read).target {
            Target::Ram(off) => self.ram.bytes().get(off as usize).copied().unwrap_or(0xFF),
            Target::Rom { rom, offset } => self.map.rom(rom).get(offset as usize).copied().unwrap_or(0xFF),
            Target::Mmio { .. } | Target::None => 0xFF,
        }
    }
}

/// An access of `len` bytes at `addr` (wrapping) split into runs that stay
/// within one page and one region: (offset into the buffer, length, target).
fn runs(map: &PhysMap, addr: u64, len: usize, access: Access) -> impl Iterator<Item = (usize, usize, Target)> + '_ {
    let mut done = 0;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let a = addr.wrapping_add(done as u64);
        let l = map.lookup(a, access);
        let in_page = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(l.run.max(1)) as usize;
        let n = in_page.min(len - done);
        let run = (done, n, l.target);
        done += n;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_write_into_code_page_is_recorded() {
        let mut m = GuestMemory::new(1 << 20).unwrap();
        let mut cursor = m.code.cursor();
        m.code.mark(0x3000);
        m.write_phys(0x3FFE, &[1, 2, 3, 4]);
        assert_eq!(m.code.read(&mut cursor), Invalidations::Pages(&[3]));
        assert_eq!(m.read_u8(0x4001), 4);
        // The page is no longer a code page after invalidation.
        m.write_phys(0x3000, &[9]);
        assert!(!m.code.has_news(&cursor));
    }

    #[test]
    fn rom_ignores_writes_and_holes_read_ones() {
        let mut m = GuestMemory::new(1 << 20).unwrap();
        let rom = m.map.add_rom_data(vec![0xAB; 0x1000]);
        m.map.add(Region::rom(0xFFFF_F000, 0x1000, rom, 0)).unwrap();
        m.write_phys(0xFFFF_F000, &[0]);
        assert_eq!(m.read_u8(0xFFFF_F000), 0xAB);
        assert_eq!(m.read_u8(0x8000_0000), 0xFF);
    }
}
