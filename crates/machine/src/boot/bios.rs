//! A firmware ROM image at the top of the 4 GiB space, with its last
//! 128 KiB also visible below 1 MiB (0xE0000-0xFFFFF), where real-mode
//! code expects the BIOS; the CPU's reset vector lands in it.

use memory::{GuestMemory, Region};

/// The largest ROM accepted (the flash window of a PC chipset).
pub const MAX_ROM: usize = 16 << 20;
/// How much of the ROM appears below 1 MiB.
pub const LOW_WINDOW: usize = 128 << 10;

/// Map `rom`. Errors describe a size that cannot be a PC firmware image.
pub fn map(mem: &mut GuestMemory, rom: Vec<u8>) -> Result<crate::chipset::BiosWindow, String> {
    let len = rom.len();
    if len == 0 || !len.is_multiple_of(4096) || len > MAX_ROM {
        return Err(format!(
            "a firmware image must be a non-empty multiple of 4 KiB up to {} MiB; this one has {len} bytes",
            MAX_ROM >> 20
        ));
    }
    let id = mem.map.add_rom_data(rom);
    let high = (1u64 << 32) - len as u64;
    mem.map.add(Region::rom(high, len as u64, id, 0)).map_err(|e| e.to_string())?;
    let low = LOW_WINDOW.min(len);
    mem.map
        .add(Region::rom(0x10_0000 - low as u64, low as u64, id, (len - low) as u64))
        .map_err(|e| e.to_string())?;
    Ok(crate::chipset::BiosWindow { rom: id, len: len as u64 })
}
