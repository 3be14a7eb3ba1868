//! One device on an IDE channel: its task file, status, PIO data buffer
//! and the state of the command it is executing. The command sets live
//! in [`super::ata`] (disks) and [`super::atapi`] (CD-ROMs); this file has
//! what both share.
//!
//! A command executes completely inside the port write that issues it (or
//! the data-port access that completes a block): there is no BSY phase
//! the guest could observe, only DRQ while the host moves data. This is
//! what drivers poll for anyway; they cannot tell a fast device from an
//! instant one.

use crate::block::BlockBackend;

use super::atapi::Cdrom;

/// Status register bits.
pub(crate) mod status {
    pub const BSY: u8 = 0x80;
    pub const DRDY: u8 = 0x40;
    pub const DSC: u8 = 0x10;
    pub const DRQ: u8 = 0x08;
    pub const ERR: u8 = 0x01;
}

/// Error register bits.
pub(crate) mod error {
    pub const UNC: u8 = 0x40;
    pub const IDNF: u8 = 0x10;
    pub const ABRT: u8 = 0x04;
}

/// ATAPI interrupt reason bits (in the sector count register).
pub(crate) mod ireason {
    /// Command (packet or status), not data.
    pub const COD: u8 = 0x01;
    /// Transfer to the host.
    pub const IO: u8 = 0x02;
}

/// Size of a drive's PIO buffer: one ATAPI DRQ block (byte count limit
/// at most 0xFFFE) and, much less, one READ MULTIPLE block.
pub(crate) const IO_BUF_SIZE: usize = 64 * 1024;

/// What a drive is.
#[derive(Debug)]
pub(crate) enum Kind {
    Disk(super::ata::Disk),
    Cdrom(Cdrom),
}

/// What the data port is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pio {
    /// No transfer: the data port reads 0 and ignores writes.
    Idle,
    /// A single data-in block (IDENTIFY); the command ends when it is read.
    Once,
    /// Data-in blocks of an ATA read. The buffer holds the block before
    /// `next_lba`; `remaining` sectors follow it.
    AtaRead {
        next_lba: u64,
        remaining: u64,
        block: u32,
        lba48: bool,
    },
    /// Data-out blocks of an ATA write: the buffer collects `count`
    /// sectors for `lba`; `remaining` sectors follow them.
    AtaWrite {
        lba: u64,
        count: u32,
        remaining: u64,
        block: u32,
        lba48: bool,
    },
    /// The 12-byte ATAPI command packet.
    Packet,
    /// ATAPI data-in: `remaining` bytes follow the chunk in the buffer.
    AtapiIn { source: AtapiSource, remaining: u64 },
}

/// Where ATAPI data-in comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AtapiSource {
    /// The medium, from this byte offset on.
    Medium { offset: u64 },
    /// The reply buffer (`Drive::reply`), from this index on.
    Reply { index: usize },
}

/// A DMA transfer the device is ready for; the bus master moves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DmaXfer {
    /// Device to memory (a read command).
    pub to_memory: bool,
    pub source: DmaSource,
    /// Bytes still to move.
    pub remaining: u64,
    /// What the command reports when the transfer completes.
    pub done: DmaDone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DmaSource {
    /// The disk or medium, at this byte offset.
    Backend { offset: u64 },
    /// The ATAPI reply buffer, at this index.
    Reply { index: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DmaDone {
    /// An ATA read/write of `count` sectors from `lba`.
    Ata { lba: u64, count: u64, lba48: bool },
    /// An ATAPI packet command.
    Atapi,
}

/// One IDE device (or the empty place of one).
#[derive(Debug)]
pub(crate) struct Drive {
    pub kind: Option<Kind>,
    pub model: String,
    pub serial: String,
    // The task file. The `hob_` registers hold the previous value written
    // (the high-order byte of a 48-bit command).
    pub feature: u8,
    pub hob_feature: u8,
    pub nsector: u8,
    pub hob_nsector: u8,
    pub lbal: u8,
    pub hob_lbal: u8,
    pub lbam: u8,
    pub hob_lbam: u8,
    pub lbah: u8,
    pub hob_lbah: u8,
    pub select: u8,
    pub status: u8,
    pub error: u8,
    // PIO.
    pub buf: Vec<u8>,
    pub pos: usize,
    pub end: usize,
    pub pio: Pio,
    /// An ATAPI reply (small: the largest is a few hundred bytes).
    pub reply: Vec<u8>,
    pub dma: Option<DmaXfer>,
    /// Set when the device asserts INTRQ; the channel takes it.
    pub irq: bool,
    /// Sectors per block of READ/WRITE MULTIPLE (0: disabled).
    pub mult: u8,
    /// Transfer mode set by SET FEATURES (the sector count value).
    pub xfer_mode: u8,
    /// IDENTIFY word 93, the hardware reset result (depends on the
    /// other device).
    pub reset_result: u16,
    /// The current ATAPI packet asked for DMA.
    pub atapi_dma: bool,
    /// The byte count limit the host gave with the current PACKET.
    pub bcl: u16,
}

impl Drive {
    pub fn empty() -> Self {
        Self {
            kind: None,
            model: String::new(),
            serial: String::new(),
            feature: 0,
            hob_feature: 0,
            nsector: 0,
            hob_nsector: 0,
            lbal: 0,
            hob_lbal: 0,
            lbam: 0,
            hob_lbam: 0,
            lbah: 0,
            hob_lbah: 0,
            select: 0xA0,
            status: 0,
            error: 0,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            pio: Pio::Idle,
            reply: Vec::new(),
            dma: None,
            irq: false,
            mult: 0,
            xfer_mode: 0,
            reset_result: 0,
            atapi_dma: false,
            bcl: 0,
        }
    }

    pub fn new(kind: Kind, model: String, serial: String) -> Self {
        let mut d = Self::empty();
        d.kind = Some(kind);
        d.model = model;
        d.serial = serial;
        d.buf = vec![0; IO_BUF_SIZE];
        d.power_on_reset();
        d
    }

    pub fn present(&self) -> bool {
        self.kind.is_some()
    }

    pub fn is_atapi(&self) -> bool {
        matches!(self.kind, Some(Kind::Cdrom(_)))
    }

    /// Hardware reset (power on, RESET-): settings back to defaults, then
    /// what every reset does.
    pub fn power_on_reset(&mut self) {
        self.mult = 0;
        self.xfer_mode = 0;
        match &mut self.kind {
            Some(Kind::Disk(d)) => d.power_on_reset(),
            Some(Kind::Cdrom(c)) => c.power_on_reset(),
            None => {}
        }
        self.soft_reset();
        self.select = 0xA0;
    }

    /// Software reset (SRST, DEVICE RESET): stop what was going on, put
    /// the signature in the registers and report diagnostics passed.
    pub fn soft_reset(&mut self) {
        self.stop_transfer();
        self.dma = None;
        self.irq = false;
        self.feature = 0;
        self.hob_feature = 0;
        self.hob_nsector = 0;
        self.hob_lbal = 0;
        self.hob_lbam = 0;
        self.hob_lbah = 0;
        self.set_signature();
        self.error = 0x01;
        self.status = match &self.kind {
            Some(Kind::Disk(_)) => status::DRDY | status::DSC,
            _ => 0,
        };
    }

    /// The reset signature: 1/1 in sector count and LBA low, and in LBA
    /// mid/high 00/00 for ATA, 14/EB for ATAPI (FF/FF where nothing is
    /// attached).
    pub fn set_signature(&mut self) {
        self.nsector = 1;
        self.lbal = 1;
        let (mid, high) = match &self.kind {
            Some(Kind::Disk(_)) => (0x00, 0x00),
            Some(Kind::Cdrom(_)) => (0x14, 0xEB),
            None => (0xFF, 0xFF),
        };
        self.lbam = mid;
        self.lbah = high;
        self.select &= 0xF0;
    }

    pub fn stop_transfer(&mut self) {
        self.pio = Pio::Idle;
        self.pos = 0;
        self.end = 0;
        self.status &= !status::DRQ;
    }

    // --- completion helpers ---

    /// The command finished without error.
    pub fn complete(&mut self) {
        self.stop_transfer();
        self.error = 0;
        self.status = status::DRDY | status::DSC;
        self.irq = true;
    }

    /// The command failed with `err` in the error register.
    pub fn fail(&mut self, err: u8) {
        self.stop_transfer();
        self.dma = None;
        self.error = err;
        self.status = status::DRDY | status::DSC | status::ERR;
        self.irq = true;
    }

    /// ABRT: the command is not supported or its parameters are invalid.
    pub fn abort(&mut self) {
        self.fail(error::ABRT);
    }

    /// Offer `len` bytes of the buffer to the host (data-in) and raise
    /// the interrupt that says so.
    pub fn start_data_in(&mut self, len: usize, pio: Pio) {
        self.pos = 0;
        self.end = len.min(self.buf.len());
        self.pio = pio;
        self.error = 0;
        self.status = status::DRDY | status::DSC | status::DRQ;
        self.irq = true;
    }

    /// Ask the host for `len` bytes (data-out). No interrupt: the host
    /// polls DRQ for the first block of a PIO write and for the packet.
    pub fn start_data_out(&mut self, len: usize, pio: Pio) {
        self.pos = 0;
        self.end = len.min(self.buf.len());
        self.pio = pio;
        self.error = 0;
        self.status = status::DRDY | status::DSC | status::DRQ;
    }

    /// Wait for the bus master: the transfer is described by `xfer`.
    pub fn start_dma(&mut self, xfer: DmaXfer) {
        self.stop_transfer();
        self.error = 0;
        self.dma = Some(xfer);
        self.status = status::DRDY | status::DSC | status::DRQ;
    }

    // --- the data port ---

    /// Read `len` (2 or 4) bytes from the data port.
    pub fn data_read(&mut self, len: usize) -> u32 {
        let reading = matches!(self.pio, Pio::Once | Pio::AtaRead { .. } | Pio::AtapiIn { .. });
        if !reading || self.status & status::DRQ == 0 {
            return 0;
        }
        let mut value = 0u32;
        for i in 0..len {
            if self.pos < self.end {
                value |= u32::from(self.buf[self.pos]) << (8 * i);
                self.pos += 1;
            }
        }
        if self.pos >= self.end {
            self.end_of_block();
        }
        value
    }

    /// Write `len` (2 or 4) bytes to the data port.
    pub fn data_write(&mut self, len: usize, value: u32) {
        let writing = matches!(self.pio, Pio::AtaWrite { .. } | Pio::Packet);
        if !writing || self.status & status::DRQ == 0 {
            return;
        }
        for i in 0..len {
            if self.pos < self.end {
                self.buf[self.pos] = (value >> (8 * i)) as u8;
                self.pos += 1;
            }
        }
        if self.pos >= self.end {
            self.end_of_block();
        }
    }

    /// The host has moved the whole buffer: go on with the command.
    fn end_of_block(&mut self) {
        match self.pio {
            Pio::Idle => {}
            Pio::Once => {
                // Data-in ends without an interrupt: the host saw the one
                // for the block and now polls for DRQ to clear.
                self.stop_transfer();
                self.status = status::DRDY | status::DSC;
            }
            Pio::AtaRead { .. } => self.ata_read_block_done(),
            Pio::AtaWrite { .. } => self.ata_write_block_done(),
            Pio::Packet => {
                let mut cdb = [0u8; 12];
                cdb.copy_from_slice(&self.buf[..12]);
                self.stop_transfer();
                self.atapi_packet(&cdb);
            }
            Pio::AtapiIn { .. } => self.atapi_chunk_done(),
        }
    }

    // --- DMA, driven by the bus master ---

    /// Bytes the pending DMA transfer still wants.
    pub fn dma_remaining(&self) -> u64 {
        self.dma.map_or(0, |x| x.remaining)
    }

    /// Produce the next `buf.len()` bytes of a device-to-memory transfer.
    /// `Err` when the medium failed; the command has then ended in error.
    pub fn dma_produce(&mut self, out: &mut [u8]) -> Result<(), ()> {
        let Some(mut x) = self.dma else {
            return Err(());
        };
        let len = out.len() as u64;
        let result = match x.source {
            DmaSource::Backend { offset } => {
                let r = self.backend_read(offset, out);
                x.source = DmaSource::Backend { offset: offset + len };
                r
            }
            DmaSource::Reply { index } => {
                for (i, b) in out.iter_mut().enumerate() {
                    *b = self.reply.get(index + i).copied().unwrap_or(0);
                }
                x.source = DmaSource::Reply { index: index + out.len() };
                Ok(())
            }
        };
        x.remaining = x.remaining.saturating_sub(len);
        self.dma = Some(x);
        if result.is_err() {
            self.dma_failed(x);
        }
        result
    }

    /// Take the next `data.len()` bytes of a memory-to-device transfer.
    pub fn dma_consume(&mut self, data: &[u8]) -> Result<(), ()> {
        let Some(mut x) = self.dma else {
            return Err(());
        };
        let DmaSource::Backend { offset } = x.source else {
            return Err(());
        };
        let result = self.backend_write(offset, data);
        x.source = DmaSource::Backend {
            offset: offset + data.len() as u64,
        };
        x.remaining = x.remaining.saturating_sub(data.len() as u64);
        self.dma = Some(x);
        if result.is_err() {
            self.dma_failed(x);
        }
        result
    }

    fn dma_failed(&mut self, x: DmaXfer) {
        match x.done {
            DmaDone::Ata { lba, count, .. } => {
                // Report the first sector not transferred.
                let DmaSource::Backend { offset } = x.source else {
                    return self.abort();
                };
                let failed = offset / 512;
                self.set_lba(failed.clamp(lba, lba + count.max(1) - 1), true);
                self.fail(if x.to_memory { error::UNC } else { error::ABRT });
            }
            DmaDone::Atapi => self.atapi_medium_error(),
        }
    }

    /// The bus master moved everything: end the command.
    pub fn dma_complete(&mut self) {
        let Some(x) = self.dma.take() else {
            return;
        };
        match x.done {
            DmaDone::Ata { lba, count, lba48 } => {
                self.set_lba(lba + count, lba48);
                self.set_count(0, lba48);
                if !x.to_memory && self.write_through() && self.backend_flush().is_err() {
                    return self.fail(error::ABRT);
                }
                self.complete();
            }
            DmaDone::Atapi => self.atapi_complete(),
        }
    }

    // --- backend access with error logging ---

    pub fn backend(&mut self) -> Option<&mut Box<dyn BlockBackend>> {
        match &mut self.kind {
            Some(Kind::Disk(d)) => Some(&mut d.backend),
            Some(Kind::Cdrom(c)) => c.medium.as_mut(),
            None => None,
        }
    }

    pub fn backend_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ()> {
        let Some(b) = self.backend() else {
            return Err(());
        };
        b.read_at(offset, buf).map_err(|e| {
            crate::rate_limited!(warn, offset, len = buf.len(), "IDE read failed: {e}");
        })
    }

    pub fn backend_write(&mut self, offset: u64, data: &[u8]) -> Result<(), ()> {
        let Some(b) = self.backend() else {
            return Err(());
        };
        b.write_at(offset, data).map_err(|e| {
            crate::rate_limited!(warn, offset, len = data.len(), "IDE write failed: {e}");
        })
    }

    pub fn backend_flush(&mut self) -> Result<(), ()> {
        let Some(b) = self.backend() else {
            return Ok(());
        };
        b.flush().map_err(|e| {
            crate::rate_limited!(warn, "IDE flush failed: {e}");
        })
    }
}
