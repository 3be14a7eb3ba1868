//! The host mapping that holds guest RAM.

use crate::{MemoryError, PAGE_SIZE};
use memmap2::MmapMut;

/// Guest RAM: one anonymous host mapping, zero-filled lazily by the host
/// kernel, so a 4 GiB guest costs only what it touches.
#[derive(Debug)]
pub struct Ram {
    map: MmapMut,
}

/// RAM may fill the physical space below the PCI/firmware hole.
pub const MAX_RAM: u64 = 0xE000_0000;

impl Ram {
    pub fn new(size: u64) -> Result<Self, MemoryError> {
        if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
            return Err(MemoryError::BadSize(size));
        }
        if size > MAX_RAM {
            return Err(MemoryError::TooLarge { size, max: MAX_RAM });
        }
        let map = MmapMut::map_anon(size as usize).map_err(|source| MemoryError::Host { size, source })?;
        Ok(Self { map })
    }

    pub fn size(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}
