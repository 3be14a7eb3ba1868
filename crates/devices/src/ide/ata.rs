//! The ATA command set of a hard disk, and the IDENTIFY data of both
//! kinds of device.
//!
//! The disk is an ATA/ATAPI-7 device with LBA28, LBA48, READ/WRITE
//! MULTIPLE (up to [`MAX_MULT`] sectors per block), multiword DMA 0-2 and
//! UDMA 0-5, a write cache (on by default; FLUSH CACHE reaches the host
//! with a real sync; with the cache switched off by SET FEATURES every
//! write is synced before it completes) and CHS translation for old
//! software (INITIALIZE DEVICE PARAMETERS).

use crate::block::{BlockBackend, SECTOR_SIZE};
use crate::rate_limited;

use super::drive::{DmaDone, DmaSource, DmaXfer, Drive, Kind, Pio, error, status};

/// Largest READ/WRITE MULTIPLE block, in sectors (IDENTIFY word 47).
pub const MAX_MULT: u8 = 16;

/// Largest capacity an LBA28 command can reach (IDENTIFY words 60-61).
const LBA28_MAX: u64 = 0x0FFF_FFFF;

/// A hard disk's medium and geometry.
#[derive(Debug)]
pub(crate) struct Disk {
    pub backend: Box<dyn BlockBackend>,
    /// Capacity in sectors (the image size rounded down).
    pub sectors: u64,
    /// Default CHS geometry (IDENTIFY words 1, 3, 6).
    pub cyls: u16,
    pub heads: u8,
    pub spt: u8,
    /// Current CHS translation (words 54-56), set by INITIALIZE DEVICE
    /// PARAMETERS.
    pub cur_heads: u8,
    pub cur_spt: u8,
    pub write_cache: bool,
}

impl Disk {
    pub fn new(backend: Box<dyn BlockBackend>) -> Self {
        let sectors = backend.size() / SECTOR_SIZE;
        let (heads, spt) = (16u8, 63u8);
        let cyls = (sectors / (u64::from(heads) * u64::from(spt))).clamp(1, 16383) as u16;
        Self {
            backend,
            sectors,
            cyls,
            heads,
            spt,
            cur_heads: heads,
            cur_spt: spt,
            write_cache: true,
        }
    }

    pub fn power_on_reset(&mut self) {
        self.cur_heads = self.heads;
        self.cur_spt = self.spt;
        self.write_cache = true;
    }

    /// Cylinders of the current translation (word 54).
    fn cur_cyls(&self) -> u16 {
        let per_cyl = u64::from(self.cur_heads) * u64::from(self.cur_spt);
        if per_cyl == 0 {
            return 0;
        }
        (self.sectors / per_cyl).min(65535) as u16
    }
}

/// Store an ATA string: two characters per word, the first in the high
/// byte, padded with spaces.
fn put_string(words: &mut [u16], text: &str) {
    let mut bytes = text.bytes().filter(|b| b.is_ascii_graphic() || *b == b' ');
    for w in words.iter_mut() {
        let hi = bytes.next().unwrap_or(b' ');
        let lo = bytes.next().unwrap_or(b' ');
        *w = u16::from(hi) << 8 | u16::from(lo);
    }
}

/// Firmware revision in IDENTIFY and INQUIRY.
pub(crate) const FIRMWARE: &str = "1.0";

/// Words 63 and 88 for the transfer mode SET FEATURES selected: the
/// supported modes plus the selected one.
fn dma_mode_words(xfer_mode: u8) -> (u16, u16) {
    let mut mwdma = 0x0007;
    let mut udma = 0x003F;
    match xfer_mode {
        0x20..=0x22 => mwdma |= 0x100 << (xfer_mode & 7),
        0x40..=0x45 => udma |= 0x100 << (xfer_mode & 7),
        _ => {}
    }
    (mwdma, udma)
}

impl Drive {
    /// The 256 IDENTIFY (PACKET) DEVICE words.
    pub fn identify_words(&self) -> [u16; 256] {
        let mut w = [0u16; 256];
        put_string(&mut w[10..20], &self.serial);
        put_string(&mut w[23..27], FIRMWARE);
        put_string(&mut w[27..47], &self.model);
        let (mwdma, udma) = dma_mode_words(self.xfer_mode);
        match &self.kind {
            Some(Kind::Disk(d)) => {
                w[0] = 0x0040; // fixed device
                w[1] = d.cyls;
                w[3] = u16::from(d.heads);
                w[4] = 512 * u16::from(d.spt); // obsolete: bytes per track
                w[5] = 512; // obsolete: bytes per sector
                w[6] = u16::from(d.spt);
                w[20] = 3; // obsolete: buffer type
                w[21] = 512; // obsolete: buffer size
                w[22] = 4; // obsolete: ECC bytes
                w[47] = 0x8000 | u16::from(MAX_MULT);
                w[48] = 1; // ATA-1: doubleword I/O
                w[49] = 0x0B00; // IORDY, LBA, DMA
                w[50] = 0x4000;
                w[51] = 0x0200; // PIO timing mode 2 (obsolete)
                w[52] = 0x0200;
                w[53] = 0x0007; // words 54-58, 64-70 and 88 valid
                let cur_cyls = d.cur_cyls();
                w[54] = cur_cyls;
                w[55] = u16::from(d.cur_heads);
                w[56] = u16::from(d.cur_spt);
                let chs = u32::from(cur_cyls) * u32::from(d.cur_heads) * u32::from(d.cur_spt);
                w[57] = chs as u16;
                w[58] = (chs >> 16) as u16;
                if self.mult != 0 {
                    w[59] = 0x0100 | u16::from(self.mult);
                }
                let lba28 = d.sectors.min(LBA28_MAX) as u32;
                w[60] = lba28 as u16;
                w[61] = (lba28 >> 16) as u16;
                w[63] = mwdma;
                w[64] = 0x0003; // PIO 3 and 4
                w[65] = 120;
                w[66] = 120;
                w[67] = 120;
                w[68] = 120;
                w[80] = 0x00F0; // ATA/ATAPI-4 to -7
                w[82] = 0x0028; // write cache, power management
                w[83] = 0x7400; // FLUSH CACHE EXT, FLUSH CACHE, LBA48
                w[84] = 0x4000;
                w[85] = 0x0008 | if d.write_cache { 0x0020 } else { 0 };
                w[86] = 0x3400;
                w[87] = 0x4000;
                w[88] = udma;
                w[93] = self.reset_result;
                for (i, word) in w[100..104].iter_mut().enumerate() {
                    *word = (d.sectors >> (16 * i)) as u16;
                }
            }
            Some(Kind::Cdrom(_)) => {
                // ATAPI, CD-ROM, removable, DRQ within 50 us of PACKET
                // (no interrupt for the packet), 12-byte packets.
                w[0] = 0x85C0;
                w[49] = 0x0B00; // IORDY, LBA, DMA
                w[53] = 0x0006; // words 64-70 and 88 valid
                w[63] = mwdma;
                w[64] = 0x0003;
                w[65] = 120;
                w[66] = 120;
                w[67] = 120;
                w[68] = 120;
                w[71] = 30; // ns from PACKET to bus release
                w[72] = 30; // ns from SERVICE to BSY clear
                w[80] = 0x00F0;
                w[82] = 0x0018; // PACKET, power management
                w[83] = 0x4000;
                w[84] = 0x4000;
                w[85] = 0x0018;
                w[86] = 0x0000;
                w[87] = 0x4000;
                w[88] = udma;
                w[93] = self.reset_result;
            }
            None => {}
        }
        // Integrity word: signature A5 and a checksum that makes all 512
        // bytes sum to zero.
        w[255] = 0x00A5;
        let sum = w[..255]
            .iter()
            .fold(0u8, |s, &x| s.wrapping_add(x as u8).wrapping_add((x >> 8) as u8))
            .wrapping_add(0xA5);
        w[255] |= u16::from(sum.wrapping_neg()) << 8;
        w
    }

    /// IDENTIFY (PACKET) DEVICE: one block of data-in.
    pub fn identify(&mut self) {
        let words = self.identify_words();
        for (i, w) in words.iter().enumerate() {
            self.buf[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
        self.start_data_in(512, Pio::Once);
    }

    // --- addressing ---

    fn disk(&self) -> Option<&Disk> {
        match &self.kind {
            Some(Kind::Disk(d)) => Some(d),
            _ => None,
        }
    }

    fn disk_mut(&mut self) -> Option<&mut Disk> {
        match &mut self.kind {
            Some(Kind::Disk(d)) => Some(d),
            _ => None,
        }
    }

    /// The address of an LBA28 or CHS command, `None` for a CHS address
    /// outside the current translation.
    fn address28(&self) -> Option<u64> {
        if self.select & 0x40 != 0 {
            return Some(
                u64::from(self.select & 0x0F) << 24 | u64::from(self.lbah) << 16 | u64::from(self.lbam) << 8 | u64::from(self.lbal),
            );
        }
        let d = self.disk()?;
        let cyl = u64::from(self.lbah) << 8 | u64::from(self.lbam);
        let head = u64::from(self.select & 0x0F);
        let sector = u64::from(self.lbal);
        let (heads, spt) = (u64::from(d.cur_heads), u64::from(d.cur_spt));
        if sector == 0 || sector > spt || head >= heads {
            return None;
        }
        Some((cyl * heads + head) * spt + sector - 1)
    }

    fn address48(&self) -> u64 {
        u64::from(self.hob_lbah) << 40
            | u64::from(self.hob_lbam) << 32
            | u64::from(self.hob_lbal) << 24
            | u64::from(self.lbah) << 16
            | u64::from(self.lbam) << 8
            | u64::from(self.lbal)
    }

    fn count28(&self) -> u64 {
        match self.nsector {
            0 => 256,
            n => u64::from(n),
        }
    }

    fn count48(&self) -> u64 {
        match u64::from(self.hob_nsector) << 8 | u64::from(self.nsector) {
            0 => 65536,
            n => n,
        }
    }

    /// Put `lba` in the address registers the way the command addressed
    /// the disk (LBA48, LBA28 or CHS).
    pub fn set_lba(&mut self, lba: u64, lba48: bool) {
        if lba48 {
            self.lbal = lba as u8;
            self.lbam = (lba >> 8) as u8;
            self.lbah = (lba >> 16) as u8;
            self.hob_lbal = (lba >> 24) as u8;
            self.hob_lbam = (lba >> 32) as u8;
            self.hob_lbah = (lba >> 40) as u8;
        } else if self.select & 0x40 != 0 {
            self.lbal = lba as u8;
            self.lbam = (lba >> 8) as u8;
            self.lbah = (lba >> 16) as u8;
            self.select = (self.select & 0xF0) | ((lba >> 24) as u8 & 0x0F);
        } else if let Some(d) = self.disk() {
            let (heads, spt) = (u64::from(d.cur_heads).max(1), u64::from(d.cur_spt).max(1));
            let cyl = lba / (heads * spt);
            let rest = lba % (heads * spt);
            self.lbam = cyl as u8;
            self.lbah = (cyl >> 8) as u8;
            self.select = (self.select & 0xF0) | (rest / spt) as u8 & 0x0F;
            self.lbal = (rest % spt + 1) as u8;
        }
    }

    /// Put a sector count in the count register(s).
    pub fn set_count(&mut self, count: u64, lba48: bool) {
        self.nsector = count as u8;
        if lba48 {
            self.hob_nsector = (count >> 8) as u8;
        }
    }

    /// Whether each write must reach the host's storage before it
    /// completes (write cache disabled).
    pub fn write_through(&self) -> bool {
        self.disk().is_some_and(|d| !d.write_cache)
    }

    /// The address and count of a read/write command, checked against
    /// the capacity; `None` after failing the command with IDNF.
    fn checked_range(&mut self, lba48: bool) -> Option<(u64, u64)> {
        let sectors = self.disk().map_or(0, |d| d.sectors);
        let (lba, count) = if lba48 {
            (Some(self.address48()), self.count48())
        } else {
            (self.address28(), self.count28())
        };
        match lba {
            Some(lba) if lba.checked_add(count).is_some_and(|end| end <= sectors) => Some((lba, count)),
            _ => {
                self.fail(error::IDNF);
                None
            }
        }
    }

    // --- the command set ---

    /// Execute ATA command `cmd` on a disk.
    pub fn ata_command(&mut self, cmd: u8) {
        match cmd {
            0xEC => self.identify(),
            0x20 | 0x21 => self.pio_read(false, 1),
            0x24 => self.pio_read(true, 1),
            0xC4 | 0x29 => {
                if self.mult == 0 {
                    return self.abort();
                }
                self.pio_read(cmd == 0x29, u32::from(self.mult));
            }
            0x30 | 0x31 => self.pio_write(false, 1),
            0x34 => self.pio_write(true, 1),
            0xC5 | 0x39 => {
                if self.mult == 0 {
                    return self.abort();
                }
                self.pio_write(cmd == 0x39, u32::from(self.mult));
            }
            0xC8 | 0xC9 => self.dma_rw(false, true),
            0x25 => self.dma_rw(true, true),
            0xCA | 0xCB => self.dma_rw(false, false),
            0x35 => self.dma_rw(true, false),
            0x40..=0x42 => {
                // READ VERIFY: read the sectors, transfer nothing.
                let lba48 = cmd == 0x42;
                let Some((lba, count)) = self.checked_range(lba48) else {
                    return;
                };
                self.set_lba(lba + count - 1, lba48);
                self.complete();
            }
            0x70..=0x7F => {
                // SEEK: only the address is checked.
                if self.address28().is_some_and(|l| l < self.disk().map_or(0, |d| d.sectors)) {
                    self.complete();
                } else {
                    self.fail(error::IDNF);
                }
            }
            0x10..=0x1F => {
                // RECALIBRATE (obsolete, still used by old BIOSes).
                self.complete();
            }
            0x91 => {
                // INITIALIZE DEVICE PARAMETERS: the CHS translation.
                let heads = (self.select & 0x0F) + 1;
                let spt = self.nsector;
                match self.disk_mut() {
                    Some(d) if spt != 0 => {
                        d.cur_heads = heads;
                        d.cur_spt = spt;
                        self.complete();
                    }
                    _ => self.abort(),
                }
            }
            0xC6 => {
                // SET MULTIPLE MODE: 0 disables, else a power of two up
                // to MAX_MULT.
                let n = self.nsector;
                if n == 0 || (n.is_power_of_two() && n <= MAX_MULT) {
                    self.mult = n;
                    self.complete();
                } else {
                    self.abort();
                }
            }
            0xE7 | 0xEA => {
                // FLUSH CACHE (EXT): make every write durable on the host.
                match self.backend_flush() {
                    Ok(()) => self.complete(),
                    Err(()) => self.abort(),
                }
            }
            0xEF => self.set_features(),
            0xE5 | 0x98 => {
                // CHECK POWER MODE: always active or idle.
                self.complete();
                self.nsector = 0xFF;
            }
            // STANDBY/IDLE (IMMEDIATE), SLEEP, old and new opcodes: no
            // power states here, so they complete at once.
            0xE0..=0xE3 | 0xE6 | 0x94..=0x97 | 0x99 => self.complete(),
            0xF8 | 0x27 => {
                // READ NATIVE MAX ADDRESS (EXT): no host protected area.
                let lba48 = cmd == 0x27;
                let max = self.disk().map_or(0, |d| d.sectors.saturating_sub(1));
                let max = if lba48 { max } else { max.min(LBA28_MAX) };
                self.complete();
                self.set_lba(max, lba48);
            }
            _ => {
                rate_limited!(info, cmd, "unsupported ATA command aborted");
                self.abort();
            }
        }
    }

    /// SET FEATURES, for both kinds of device.
    pub fn set_features(&mut self) {
        match self.feature {
            0x03 => {
                // Transfer mode: PIO default/0-4, MWDMA 0-2, UDMA 0-5.
                let mode = self.nsector;
                if matches!(mode, 0x00 | 0x01 | 0x08..=0x0C | 0x20..=0x22 | 0x40..=0x45) {
                    self.xfer_mode = mode;
                    self.complete();
                } else {
                    self.abort();
                }
            }
            f @ (0x02 | 0x82) => match self.disk_mut() {
                Some(d) => {
                    d.write_cache = f == 0x02;
                    self.complete();
                }
                None => self.abort(),
            },
            // Read look-ahead, reverting to power-on defaults, APM, AAM,
            // 8-bit PIO off: accepted, nothing to change.
            0x55 | 0xAA | 0x66 | 0xCC | 0x05 | 0x85 | 0x42 | 0xC2 | 0x81 => self.complete(),
            f => {
                rate_limited!(info, feature = f, "unsupported SET FEATURES aborted");
                self.abort();
            }
        }
    }

    fn pio_read(&mut self, lba48: bool, block: u32) {
        let Some((lba, count)) = self.checked_range(lba48) else {
            return;
        };
        self.pio = Pio::AtaRead {
            next_lba: lba,
            remaining: count,
            block,
            lba48,
        };
        self.ata_read_next_block();
    }

    /// Load the next block of an ATA read into the buffer and offer it.
    fn ata_read_next_block(&mut self) {
        let Pio::AtaRead {
            next_lba,
            remaining,
            block,
            lba48,
        } = self.pio
        else {
            return;
        };
        let n = remaining.min(u64::from(block));
        let len = (n * SECTOR_SIZE) as usize;
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.backend_read(next_lba * SECTOR_SIZE, &mut buf[..len]);
        self.buf = buf;
        if result.is_err() {
            self.set_lba(next_lba, lba48);
            return self.fail(error::UNC);
        }
        self.set_lba(next_lba + n, lba48);
        self.set_count(remaining - n, lba48);
        self.start_data_in(
            len,
            Pio::AtaRead {
                next_lba: next_lba + n,
                remaining: remaining - n,
                block,
                lba48,
            },
        );
    }

    pub fn ata_read_block_done(&mut self) {
        let Pio::AtaRead { remaining, .. } = self.pio else {
            return;
        };
        if remaining > 0 {
            self.ata_read_next_block();
        } else {
            // The last block of a PIO read ends without an interrupt.
            self.stop_transfer();
            self.status = status::DRDY | status::DSC;
        }
    }

    fn pio_write(&mut self, lba48: bool, block: u32) {
        if self.read_only() {
            return self.abort();
        }
        let Some((lba, count)) = self.checked_range(lba48) else {
            return;
        };
        let n = count.min(u64::from(block));
        self.start_data_out(
            (n * SECTOR_SIZE) as usize,
            Pio::AtaWrite {
                lba,
                count: n as u32,
                remaining: count - n,
                block,
                lba48,
            },
        );
    }

    pub fn ata_write_block_done(&mut self) {
        let Pio::AtaWrite {
            lba,
            count,
            remaining,
            block,
            lba48,
        } = self.pio
        else {
            return;
        };
        let len = count as usize * SECTOR_SIZE as usize;
        let buf = std::mem::take(&mut self.buf);
        let mut result = self.backend_write(lba * SECTOR_SIZE, &buf[..len]);
        self.buf = buf;
        if result.is_ok() && self.write_through() {
            result = self.backend_flush();
        }
        if result.is_err() {
            self.set_lba(lba, lba48);
            return self.fail(error::ABRT);
        }
        let next = lba + u64::from(count);
        self.set_lba(next, lba48);
        self.set_count(remaining, lba48);
        if remaining == 0 {
            return self.complete();
        }
        let n = remaining.min(u64::from(block));
        self.start_data_out(
            (n * SECTOR_SIZE) as usize,
            Pio::AtaWrite {
                lba: next,
                count: n as u32,
                remaining: remaining - n,
                block,
                lba48,
            },
        );
        // Every block after the first is announced by an interrupt.
        self.irq = true;
    }

    fn read_only(&self) -> bool {
        self.disk().is_none_or(|d| d.backend.is_read_only())
    }

    fn dma_rw(&mut self, lba48: bool, read: bool) {
        if !read && self.read_only() {
            return self.abort();
        }
        let Some((lba, count)) = self.checked_range(lba48) else {
            return;
        };
        self.start_dma(DmaXfer {
            to_memory: read,
            source: DmaSource::Backend { offset: lba * SECTOR_SIZE },
            remaining: count * SECTOR_SIZE,
            done: DmaDone::Ata { lba, count, lba48 },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ata_strings_are_byte_swapped_and_padded() {
        let mut w = [0u16; 3];
        put_string(&mut w, "ABC");
        assert_eq!(w, [0x4142, 0x4320, 0x2020]);
    }

    #[test]
    fn dma_mode_words_mark_the_selected_mode() {
        assert_eq!(dma_mode_words(0), (0x0007, 0x003F));
        assert_eq!(dma_mode_words(0x22), (0x0407, 0x003F));
        assert_eq!(dma_mode_words(0x45), (0x0007, 0x203F));
    }
}
