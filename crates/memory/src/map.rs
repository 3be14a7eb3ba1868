//! The physical map: which RAM, ROM or MMIO region backs an address, for
//! reads and for writes separately.

use crate::MemoryError;
use std::sync::Arc;

/// Where an access goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// RAM at this byte offset of the RAM mapping.
    Ram(u64),
    /// ROM image `rom`, at `offset` within it.
    Rom { rom: u32, offset: u64 },
    /// A device region: `id` chosen by whoever registered it, `offset`
    /// within the region.
    Mmio { id: u32, offset: u64 },
    /// Nothing: reads return all ones, writes are dropped.
    None,
}

/// Read or write, for maps whose two directions differ (PAM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// How a region answers each direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    Ram { offset: u64 },
    Rom { rom: u32, offset: u64 },
    Mmio { id: u32 },
    None,
}

/// A region of the physical map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
    pub read: RegionKind,
    pub write: RegionKind,
}

impl Region {
    pub fn ram(base: u64, size: u64, offset: u64) -> Self {
        let k = RegionKind::Ram { offset };
        Self {
            base,
            size,
            read: k,
            write: k,
        }
    }
    /// ROM: reads from the image, writes dropped.
    pub fn rom(base: u64, size: u64, rom: u32, offset: u64) -> Self {
        Self {
            base,
            size,
            read: RegionKind::Rom { rom, offset },
            write: RegionKind::None,
        }
    }
    pub fn mmio(base: u64, size: u64, id: u32) -> Self {
        let k = RegionKind::Mmio { id };
        Self {
            base,
            size,
            read: k,
            write: k,
        }
    }
    fn end(&self) -> u64 {
        self.base + self.size
    }
    fn target(&self, addr: u64, access: Access) -> Target {
        let rel = addr - self.base;
        match if access == Access::Read { self.read } else { self.write } {
            RegionKind::Ram { offset } => Target::Ram(offset + rel),
            RegionKind::Rom { rom, offset } => Target::Rom { rom, offset: offset + rel },
            RegionKind::Mmio { id } => Target::Mmio { id, offset: rel },
            RegionKind::None => Target::None,
        }
    }
}

/// Result of a lookup: the target and how many bytes from the address on
/// stay within the same region (so callers can copy runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    pub target: Target,
    pub run: u64,
}

/// The map. Later regions win over earlier ones where they overlap ("overlays"),
/// which is how ROM and MMIO holes are punched into the RAM region.
#[derive(Debug, Default)]
pub struct PhysMap {
    regions: Vec<Region>,
    roms: Vec<Arc<[u8]>>,
    /// Bumped on every change, so engines know to drop cached translations.
    generation: u64,
    /// A range of plain RAM mapped at its own offset with nothing on top,
    /// answered without searching the regions (page walks and TLB fills
    /// look up addresses constantly; nearly all are here).
    fast: (u64, u64),
}

impl PhysMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a region on top of the existing ones.
    pub fn add(&mut self, region: Region) -> Result<(), MemoryError> {
        if let Some(o) = self
            .regions
            .iter()
            .find(|o| !matches!(o.read, RegionKind::Ram { .. }) && o.base < region.end() && region.base < o.end())
        {
            return Err(MemoryError::Overlap {
                base: region.base,
                size: region.size,
                other: o.base,
            });
        }
        self.regions.push(region);
        self.changed();
        Ok(())
    }

    /// Recompute the fast range after a change: the largest identity RAM
    /// region's part above the highest overlay below its end.
    fn changed(&mut self) {
        self.generation += 1;
        self.fast = (0, 0);
        for (i, r) in self.regions.iter().enumerate() {
            if r.read != (RegionKind::Ram { offset: r.base }) || r.write != r.read {
                continue;
            }
            let (mut lo, hi) = (r.base, r.end());
            for o in &self.regions[i + 1..] {
                if o.base < hi && o.end() > lo {
                    // Keep the part above the overlay (overlays sit low:
                    // the legacy window below 1 MiB).
                    lo = lo.max(o.end());
                }
            }
            if lo < hi && hi - lo > self.fast.1 - self.fast.0 {
                self.fast = (lo, hi);
            }
        }
    }

    /// Replace the region that starts at `base` exactly (PAM changes), or add it.
    pub fn set(&mut self, region: Region) {
        if let Some(r) = self.regions.iter_mut().find(|r| r.base == region.base && r.size == region.size) {
            *r = region;
        } else {
            self.regions.push(region);
        }
        self.changed();
    }

    /// Take away the region at exactly `base`/`size` (a BAR the guest
    /// moved): what lies below it shows again.
    pub fn remove(&mut self, base: u64, size: u64) {
        let before = self.regions.len();
        self.regions.retain(|r| !(r.base == base && r.size == size));
        if self.regions.len() != before {
            self.changed();
        }
    }

    /// Register a ROM image; returns its index for [`Region::rom`].
    pub fn add_rom_data(&mut self, data: Vec<u8>) -> u32 {
        self.roms.push(data.into());
        (self.roms.len() - 1) as u32
    }

    pub fn rom(&self, rom: u32) -> &[u8] {
        self.roms.get(rom as usize).map(|r| &r[..]).unwrap_or(&[])
    }

    /// The largest range `[start, end)` of plain RAM mapped at its own
    /// offset with nothing on top: translated code may access it without
    /// asking the map (until the generation changes).
    pub fn fast_range(&self) -> (u64, u64) {
        self.fast
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What backs `addr` for `access`, and how far that lasts.
    #[inline]
    pub fn lookup(&self, addr: u64, access: Access) -> Lookup {
        if addr >= self.fast.0 && addr < self.fast.1 {
            return Lookup {
                target: Target::Ram(addr),
                run: self.fast.1 - addr,
            };
        }
        self.lookup_slow(addr, access)
    }

    fn lookup_slow(&self, addr: u64, access: Access) -> Lookup {
        // Topmost region wins: search from the last added.
        let mut end = u64::MAX;
        for r in self.regions.iter().rev() {
            if addr >= r.base && addr < r.end() {
                return Lookup {
                    target: r.target(addr, access),
                    run: r.end().min(end) - addr,
                };
            }
            if r.base > addr {
                end = end.min(r.base);
            }
        }
        Lookup {
            target: Target::None,
            run: end.saturating_sub(addr).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_punches_hole_and_limits_run() {
        let mut m = PhysMap::new();
        m.add(Region::ram(0, 0x10_0000, 0)).unwrap();
        m.add(Region::mmio(0xA0000, 0x20000, 7)).unwrap();
        assert_eq!(
            m.lookup(0x9FFFF, Access::Read),
            Lookup {
                target: Target::Ram(0x9FFFF),
                run: 1
            }
        );
        assert_eq!(m.lookup(0xA0010, Access::Write).target, Target::Mmio { id: 7, offset: 0x10 });
        assert_eq!(m.lookup(0xC0000, Access::Read).target, Target::Ram(0xC0000));
        assert_eq!(m.lookup(0x20_0000, Access::Read).target, Target::None);
    }

    #[test]
    fn fast_range_excludes_overlays() {
        let mut m = PhysMap::new();
        m.add(Region::ram(0, 0x100_0000, 0)).unwrap();
        m.add(Region::mmio(0xA0000, 0x20000, 7)).unwrap();
        assert_eq!(m.fast, (0xC0000, 0x100_0000));
        assert_eq!(m.lookup(0xA0000, Access::Read).target, Target::Mmio { id: 7, offset: 0 });
        assert_eq!(m.lookup(0x50000, Access::Read).target, Target::Ram(0x50000));
    }

    #[test]
    fn pam_like_split_directions() {
        let mut m = PhysMap::new();
        m.add(Region::ram(0, 0x10_0000, 0)).unwrap();
        let rom = m.add_rom_data(vec![1; 0x4000]);
        let r = Region {
            base: 0xF0000,
            size: 0x4000,
            read: RegionKind::Rom { rom, offset: 0 },
            write: RegionKind::Ram { offset: 0xF0000 },
        };
        m.add(r).unwrap();
        assert_eq!(m.lookup(0xF0001, Access::Read).target, Target::Rom { rom, offset: 1 });
        assert_eq!(m.lookup(0xF0001, Access::Write).target, Target::Ram(0xF0001));
    }
}
