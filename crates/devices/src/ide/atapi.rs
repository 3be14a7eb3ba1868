//! ATAPI: a CD/DVD-ROM drive behind the PACKET command (MMC command set,
//! read-only media of 2048-byte blocks, e.g. an ISO file).
//!
//! The protocol: PACKET puts DRQ up for the 12-byte command (no
//! interrupt: IDENTIFY PACKET DEVICE word 0 says "DRQ within 50 us");
//! the host writes it; data-in then comes in chunks of at most the byte
//! count limit the host put in LBA mid/high, each announced by an
//! interrupt with the interrupt reason (sector count) IO=1 CoD=0 and the
//! chunk size in LBA mid/high; the end is an interrupt with IO=1 CoD=1
//! and DRQ clear. Errors end the command with ERR, the sense key in the
//! error register's high nibble, and the details for REQUEST SENSE. With
//! the DMA bit in the features register, data goes through the bus
//! master instead.
//!
//! Media: the machine inserts and ejects images ([`super::Piix3Ide::insert_medium`]);
//! an insertion raises UNIT ATTENTION (MEDIUM MAY HAVE CHANGED) for the
//! next command that is not INQUIRY, REQUEST SENSE, GET CONFIGURATION or
//! GET EVENT STATUS NOTIFICATION, and a "new media" event for GET EVENT
//! STATUS NOTIFICATION (how Linux polls). Without a medium (or with the
//! tray open), commands that need one fail with NOT READY, MEDIUM NOT
//! PRESENT. The guest can lock the tray (PREVENT ALLOW MEDIUM REMOVAL)
//! and open or close it (START STOP UNIT).

use crate::block::BlockBackend;
use crate::rate_limited;

use super::drive::{AtapiSource, DmaDone, DmaSource, DmaXfer, Drive, Kind, Pio, ireason};

/// Bytes per CD block.
pub const CD_BLOCK: u64 = 2048;

/// Above this many blocks a disc is a DVD (a 90-minute CD's capacity).
const CD_MAX_BLOCKS: u64 = 90 * 60 * 75;

/// Sense keys.
pub(crate) mod sense {
    pub const NOT_READY: u8 = 0x2;
    pub const MEDIUM_ERROR: u8 = 0x3;
    pub const ILLEGAL_REQUEST: u8 = 0x5;
    pub const UNIT_ATTENTION: u8 = 0x6;
    pub const DATA_PROTECT: u8 = 0x7;
}

/// Additional sense codes.
mod asc {
    pub const UNRECOVERED_READ_ERROR: u8 = 0x11;
    pub const INVALID_OPCODE: u8 = 0x20;
    pub const LBA_OUT_OF_RANGE: u8 = 0x21;
    pub const INVALID_FIELD_IN_CDB: u8 = 0x24;
    pub const WRITE_PROTECTED: u8 = 0x27;
    pub const MEDIUM_MAY_HAVE_CHANGED: u8 = 0x28;
    pub const SAVING_PARAMETERS_NOT_SUPPORTED: u8 = 0x39;
    pub const MEDIUM_NOT_PRESENT: u8 = 0x3A;
    pub const MEDIUM_REMOVAL_PREVENTED: u8 = 0x53;
}

/// Sense data: what REQUEST SENSE reports about the last command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

impl Sense {
    const fn new(key: u8, asc: u8, ascq: u8) -> Self {
        Self { key, asc, ascq }
    }
}

/// Media events for GET EVENT STATUS NOTIFICATION (media class).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum MediaEvent {
    #[default]
    None = 0,
    EjectRequest = 1,
    NewMedia = 2,
    MediaRemoval = 3,
}

/// The drive's mechanism and medium.
#[derive(Debug, Default)]
pub(crate) struct Cdrom {
    pub medium: Option<Box<dyn BlockBackend>>,
    pub tray_open: bool,
    pub locked: bool,
    pub sense: Sense,
    /// A medium arrived; the next ordinary command reports it.
    pub unit_attention: bool,
    pub event: MediaEvent,
}

impl Cdrom {
    pub fn new(medium: Option<Box<dyn BlockBackend>>) -> Self {
        Self { medium, ..Self::default() }
    }

    pub fn power_on_reset(&mut self) {
        self.locked = false;
        self.sense = Sense::default();
    }

    /// Whether a medium is in the closed tray.
    pub fn ready(&self) -> bool {
        self.medium.is_some() && !self.tray_open
    }

    /// Capacity in blocks (0 without a medium). Capped so that block
    /// numbers fit READ CAPACITY's 32 bits.
    pub fn blocks(&self) -> u64 {
        match &self.medium {
            Some(m) if !self.tray_open => (m.size() / CD_BLOCK).min(u64::from(u32::MAX)),
            _ => 0,
        }
    }

    /// Put `medium` in (closing the tray): the guest is told through
    /// UNIT ATTENTION and a new-media event.
    pub fn insert(&mut self, medium: Box<dyn BlockBackend>) {
        self.medium = Some(medium);
        self.tray_open = false;
        self.unit_attention = true;
        self.event = MediaEvent::NewMedia;
    }

    /// Take the medium out, if the tray is not locked (or `force`).
    pub fn eject(&mut self, force: bool) -> Result<Option<Box<dyn BlockBackend>>, ()> {
        if self.locked && !force {
            self.event = MediaEvent::EjectRequest;
            return Err(());
        }
        let medium = self.medium.take();
        if medium.is_some() {
            self.event = MediaEvent::MediaRemoval;
        }
        self.unit_attention = false;
        Ok(medium)
    }
}

/// What a packet command produced.
enum Outcome {
    /// Nothing to transfer: complete.
    Done,
    /// `Drive::reply` holds the data (already cut to the allocation
    /// length).
    Reply,
    /// Read `len` bytes of the medium from byte `offset`.
    Read { offset: u64, len: u64 },
}

/// Commands that run (and do not clear) a pending UNIT ATTENTION.
fn allowed_under_unit_attention(op: u8) -> bool {
    matches!(op, 0x03 | 0x12 | 0x46 | 0x4A)
}

/// Commands that need a medium.
fn needs_medium(op: u8) -> bool {
    matches!(op, 0x00 | 0x25 | 0x28 | 0xA8 | 0x2B | 0x43 | 0x51 | 0xBE)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// LBA to the MSF address of a TOC entry (2 seconds of lead-in), as the
/// four bytes 0, M, S, F.
fn msf(lba: u64) -> [u8; 4] {
    let frames = lba + 150;
    let m = (frames / 75 / 60).min(255) as u8;
    [0, m, (frames / 75 % 60) as u8, (frames % 75) as u8]
}

impl Drive {
    fn cdrom(&mut self) -> Option<&mut Cdrom> {
        match &mut self.kind {
            Some(Kind::Cdrom(c)) => Some(c),
            _ => None,
        }
    }

    /// Execute ATA command `cmd` on an ATAPI device.
    pub fn atapi_ata_command(&mut self, cmd: u8) {
        match cmd {
            0xA1 => self.identify(),
            0xA0 => {
                // PACKET: DMA bit in the features, byte count limit in
                // LBA mid/high; first the 12 command bytes.
                self.atapi_dma = self.feature & 0x01 != 0;
                self.bcl = u16::from(self.lbah) << 8 | u16::from(self.lbam);
                self.nsector = (self.nsector & !0x07) | ireason::COD;
                self.start_data_out(12, Pio::Packet);
            }
            0x08 => {
                // DEVICE RESET: no interrupt.
                self.soft_reset();
            }
            0xEC | 0x20 | 0x21 => {
                // An ATAPI device answers ATA reads and IDENTIFY DEVICE
                // with its signature and an abort, so drivers find out
                // what it is.
                self.set_signature();
                self.abort();
            }
            0xEF => self.set_features(),
            0xE5 | 0x98 => {
                self.complete();
                self.nsector = 0xFF;
            }
            0xE0..=0xE3 | 0xE6 | 0x94..=0x97 | 0x99 | 0xE7 => self.complete(),
            _ => {
                rate_limited!(info, cmd, "unsupported ATA command to ATAPI device aborted");
                self.abort();
            }
        }
    }

    /// The packet arrived: run it.
    pub fn atapi_packet(&mut self, cdb: &[u8; 12]) {
        let op = cdb[0];
        let Some(cd) = self.cdrom() else {
            return;
        };
        if op != 0x03 {
            if cd.unit_attention && !allowed_under_unit_attention(op) {
                cd.unit_attention = false;
                return self.atapi_error(Sense::new(sense::UNIT_ATTENTION, asc::MEDIUM_MAY_HAVE_CHANGED, 0));
            }
            cd.sense = Sense::default();
            if needs_medium(op) && !cd.ready() {
                let ascq = if cd.tray_open { 2 } else { 1 };
                return self.atapi_error(Sense::new(sense::NOT_READY, asc::MEDIUM_NOT_PRESENT, ascq));
            }
        }
        match self.atapi_run(cdb) {
            Ok(Outcome::Done) => self.atapi_complete(),
            Ok(Outcome::Reply) if self.reply.is_empty() => self.atapi_complete(),
            Ok(Outcome::Reply) => {
                let len = self.reply.len() as u64;
                self.atapi_start_data(AtapiSource::Reply { index: 0 }, len);
            }
            Ok(Outcome::Read { len: 0, .. }) => self.atapi_complete(),
            Ok(Outcome::Read { offset, len }) => {
                self.atapi_start_data(AtapiSource::Medium { offset }, len);
            }
            Err(s) => self.atapi_error(s),
        }
    }

    /// Start the data-in phase of `len` bytes from `source`, by DMA or
    /// PIO as the packet asked.
    fn atapi_start_data(&mut self, source: AtapiSource, len: u64) {
        if self.atapi_dma {
            self.nsector = (self.nsector & !0x07) | ireason::IO;
            let source = match source {
                AtapiSource::Medium { offset } => DmaSource::Backend { offset },
                AtapiSource::Reply { index } => DmaSource::Reply { index },
            };
            self.start_dma(DmaXfer {
                to_memory: true,
                source,
                remaining: len,
                done: DmaDone::Atapi,
            });
        } else {
            self.pio = Pio::AtapiIn { source, remaining: len };
            self.atapi_next_chunk();
        }
    }

    /// The size of the next PIO chunk: at most the byte count limit the
    /// host gave with PACKET (0 and 0xFFFF read as 0xFFFE, the largest
    /// even count), rounded down to even when more data follows (so the
    /// next chunk starts on a word).
    fn chunk_size(&self, remaining: u64) -> u64 {
        let limit = match self.bcl {
            0 | 0xFFFF => 0xFFFE,
            n => u64::from(n),
        };
        if remaining > limit {
            // At least one word, so a limit of 1 still makes progress.
            (limit & !1).max(2)
        } else {
            remaining
        }
    }

    /// Offer the next PIO chunk (the interrupt says it is there).
    fn atapi_next_chunk(&mut self) {
        let Pio::AtapiIn { source, remaining } = self.pio else {
            return;
        };
        let n = self.chunk_size(remaining).min(self.buf.len() as u64) as usize;
        let next = match source {
            AtapiSource::Medium { offset } => {
                let mut buf = std::mem::take(&mut self.buf);
                let result = self.backend_read(offset, &mut buf[..n]);
                self.buf = buf;
                if result.is_err() {
                    return self.atapi_medium_error();
                }
                AtapiSource::Medium { offset: offset + n as u64 }
            }
            AtapiSource::Reply { index } => {
                for (i, b) in self.buf[..n].iter_mut().enumerate() {
                    *b = self.reply.get(index + i).copied().unwrap_or(0);
                }
                AtapiSource::Reply { index: index + n }
            }
        };
        self.lbam = n as u8;
        self.lbah = (n >> 8) as u8;
        self.nsector = (self.nsector & !0x07) | ireason::IO;
        self.start_data_in(
            n,
            Pio::AtapiIn {
                source: next,
                remaining: remaining - n as u64,
            },
        );
    }

    /// The host read a whole chunk.
    pub fn atapi_chunk_done(&mut self) {
        match self.pio {
            Pio::AtapiIn { remaining: 0, .. } => self.atapi_complete(),
            Pio::AtapiIn { .. } => self.atapi_next_chunk(),
            _ => {}
        }
    }

    /// The command ended well: status phase.
    pub fn atapi_complete(&mut self) {
        self.complete();
        self.nsector = (self.nsector & !0x07) | ireason::IO | ireason::COD;
    }

    /// The command ended with CHECK CONDITION: `s` becomes the sense
    /// data and its key shows in the error register.
    fn atapi_error(&mut self, s: Sense) {
        if let Some(cd) = self.cdrom() {
            cd.sense = s;
        }
        self.fail(s.key << 4);
        self.nsector = (self.nsector & !0x07) | ireason::IO | ireason::COD;
    }

    /// The medium could not be read.
    pub fn atapi_medium_error(&mut self) {
        self.atapi_error(Sense::new(sense::MEDIUM_ERROR, asc::UNRECOVERED_READ_ERROR, 0));
    }

    /// Put `data`, cut to `alloc` bytes, in the reply buffer.
    fn reply_with(&mut self, data: &[u8], alloc: usize) -> Outcome {
        self.reply.clear();
        self.reply.extend_from_slice(&data[..data.len().min(alloc)]);
        Outcome::Reply
    }

    fn atapi_run(&mut self, cdb: &[u8; 12]) -> Result<Outcome, Sense> {
        let invalid_field = Sense::new(sense::ILLEGAL_REQUEST, asc::INVALID_FIELD_IN_CDB, 0);
        let Some(cd) = self.cdrom() else {
            return Ok(Outcome::Done);
        };
        let blocks = cd.blocks();
        let ready = cd.ready();
        let tray_open = cd.tray_open;
        let locked = cd.locked;
        match cdb[0] {
            // TEST UNIT READY (readiness checked above).
            0x00 => Ok(Outcome::Done),
            0x03 => {
                // REQUEST SENSE: a pending unit attention first, then the
                // last command's sense; reading it clears it.
                let s = if cd.unit_attention {
                    cd.unit_attention = false;
                    Sense::new(sense::UNIT_ATTENTION, asc::MEDIUM_MAY_HAVE_CHANGED, 0)
                } else {
                    std::mem::take(&mut cd.sense)
                };
                let mut d = [0u8; 18];
                d[0] = 0x70; // current error, fixed format
                d[2] = s.key;
                d[7] = 10; // additional length
                d[12] = s.asc;
                d[13] = s.ascq;
                Ok(self.reply_with(&d, usize::from(cdb[4])))
            }
            0x12 => {
                // INQUIRY (standard data only; no vital product pages).
                if cdb[1] & 0x01 != 0 {
                    return Err(invalid_field);
                }
                let mut d = [0u8; 36];
                d[0] = 0x05; // CD/DVD device
                d[1] = 0x80; // removable
                d[2] = 0x00;
                d[3] = 0x21; // ATAPI, response data format 1
                d[4] = 31; // additional length
                fill_ascii(&mut d[8..16], "RINGVISR");
                fill_ascii(&mut d[16..32], "DVD-ROM");
                fill_ascii(&mut d[32..36], super::ata::FIRMWARE);
                Ok(self.reply_with(&d, usize::from(be16(&cdb[3..5]))))
            }
            0x1B => {
                // START STOP UNIT: with LoEj, open (start = 0) or close
                // the tray; power conditions are accepted and ignored.
                let start = cdb[4] & 0x01 != 0;
                let load_eject = cdb[4] & 0x02 != 0;
                if cdb[4] & 0xF0 == 0 && load_eject {
                    if !start && locked && !tray_open {
                        let key = if ready { sense::NOT_READY } else { sense::ILLEGAL_REQUEST };
                        return Err(Sense::new(key, asc::MEDIUM_REMOVAL_PREVENTED, 2));
                    }
                    if start && tray_open {
                        cd.tray_open = false;
                        if cd.medium.is_some() {
                            cd.unit_attention = true;
                            cd.event = MediaEvent::NewMedia;
                        }
                    } else if !start && !tray_open {
                        cd.tray_open = true;
                        if cd.medium.is_some() {
                            cd.event = MediaEvent::MediaRemoval;
                        }
                    }
                }
                Ok(Outcome::Done)
            }
            0x1E => {
                // PREVENT ALLOW MEDIUM REMOVAL.
                cd.locked = cdb[4] & 0x01 != 0;
                Ok(Outcome::Done)
            }
            0x25 => {
                // READ CAPACITY: last block and block size.
                let mut d = [0u8; 8];
                d[..4].copy_from_slice(&(blocks.saturating_sub(1) as u32).to_be_bytes());
                d[4..].copy_from_slice(&(CD_BLOCK as u32).to_be_bytes());
                Ok(self.reply_with(&d, 8))
            }
            op @ (0x28 | 0xA8) => {
                // READ (10) / READ (12).
                let lba = u64::from(be32(&cdb[2..6]));
                let count = if op == 0x28 {
                    u64::from(be16(&cdb[7..9]))
                } else {
                    u64::from(be32(&cdb[6..10]))
                };
                if lba + count > blocks {
                    return Err(Sense::new(sense::ILLEGAL_REQUEST, asc::LBA_OUT_OF_RANGE, 0));
                }
                Ok(Outcome::Read {
                    offset: lba * CD_BLOCK,
                    len: count * CD_BLOCK,
                })
            }
            0xBE => {
                // READ CD: only plain user data (2048-byte sectors).
                let lba = u64::from(be32(&cdb[2..6]));
                let count = u64::from(cdb[6]) << 16 | u64::from(cdb[7]) << 8 | u64::from(cdb[8]);
                match cdb[9] & 0xF8 {
                    0x00 => Ok(Outcome::Done),
                    0x10 => {
                        if lba + count > blocks {
                            return Err(Sense::new(sense::ILLEGAL_REQUEST, asc::LBA_OUT_OF_RANGE, 0));
                        }
                        Ok(Outcome::Read {
                            offset: lba * CD_BLOCK,
                            len: count * CD_BLOCK,
                        })
                    }
                    _ => Err(invalid_field),
                }
            }
            0x2B => {
                // SEEK (10).
                if u64::from(be32(&cdb[2..6])) >= blocks {
                    return Err(Sense::new(sense::ILLEGAL_REQUEST, asc::LBA_OUT_OF_RANGE, 0));
                }
                Ok(Outcome::Done)
            }
            0x43 => {
                let d = read_toc(cdb, blocks).ok_or(invalid_field)?;
                Ok(self.reply_with(&d, usize::from(be16(&cdb[7..9]))))
            }
            0x46 => {
                let d = get_configuration(cdb, blocks, cd).ok_or(invalid_field)?;
                Ok(self.reply_with(&d, usize::from(be16(&cdb[7..9]))))
            }
            0x4A => {
                // GET EVENT STATUS NOTIFICATION, polled only, media class.
                if cdb[1] & 0x01 == 0 {
                    return Err(invalid_field);
                }
                let mut d = Vec::with_capacity(8);
                if cdb[4] & 0x10 != 0 {
                    let event = std::mem::take(&mut cd.event);
                    let media = u8::from(cd.tray_open) | u8::from(cd.ready()) << 1;
                    d.extend_from_slice(&[0, 6, 0x04, 0x10, event as u8, media, 0, 0]);
                } else {
                    d.extend_from_slice(&[0, 2, 0x80, 0x10]);
                }
                Ok(self.reply_with(&d, usize::from(be16(&cdb[7..9]))))
            }
            0x51 => {
                // READ DISC INFORMATION (standard disc information only).
                if cdb[1] & 0x07 != 0 {
                    return Err(invalid_field);
                }
                let mut d = [0u8; 34];
                d[1] = 32; // length
                d[2] = 0x0E; // last session complete, disc finalized
                d[3] = 1; // first track
                d[4] = 1; // sessions
                d[5] = 1; // first track of last session
                d[6] = 1; // last track of last session
                d[7] = 0x20; // unrestricted use
                Ok(self.reply_with(&d, usize::from(be16(&cdb[7..9]))))
            }
            op @ (0x5A | 0x1A) => {
                let ten = op == 0x5A;
                let alloc = if ten { usize::from(be16(&cdb[7..9])) } else { usize::from(cdb[4]) };
                let d = mode_sense(cdb[2], ten, ready, tray_open, locked)?;
                Ok(self.reply_with(&d, alloc))
            }
            0xBD => {
                // MECHANISM STATUS: no changer, idle, tray state.
                let d = [0, u8::from(tray_open) << 4, 0, 0, 0, 1, 0, 0];
                Ok(self.reply_with(&d, usize::from(be16(&cdb[8..10]))))
            }
            // SET CD SPEED, SET STREAMING: nothing to change.
            0xBB | 0xB6 => Ok(Outcome::Done),
            // WRITE (10)/(12), WRITE AND VERIFY: read-only media.
            0x2A | 0xAA | 0x2E => Err(Sense::new(sense::DATA_PROTECT, asc::WRITE_PROTECTED, 0)),
            op => {
                rate_limited!(info, op, "unsupported ATAPI command");
                Err(Sense::new(sense::ILLEGAL_REQUEST, asc::INVALID_OPCODE, 0))
            }
        }
    }
}

/// `text` in `out`, padded with spaces (SCSI strings are not swapped).
fn fill_ascii(out: &mut [u8], text: &str) {
    let mut bytes = text.bytes();
    for b in out {
        *b = bytes.next().unwrap_or(b' ');
    }
}

/// READ TOC/PMA/ATIP formats 0 (TOC) and 1 (session information) of a
/// single-track data disc; `None` for what the command may not ask.
fn read_toc(cdb: &[u8; 12], blocks: u64) -> Option<Vec<u8>> {
    let msf_form = cdb[1] & 0x02 != 0;
    // MMC puts the format in byte 2; older (SFF-8020) drives took it from
    // the top bits of byte 9.
    let format = match cdb[2] & 0x0F {
        0 => cdb[9] >> 6,
        f => f,
    };
    let address = |lba: u64| -> [u8; 4] { if msf_form { msf(lba) } else { (lba as u32).to_be_bytes() } };
    let mut d = vec![0, 0, 1, 1];
    match format {
        0 => {
            let start = cdb[6];
            if start > 1 && start != 0xAA {
                return None;
            }
            if start <= 1 {
                // Track 1: data track (ADR 1, control 4) at block 0.
                d.extend_from_slice(&[0, 0x14, 1, 0]);
                d.extend_from_slice(&address(0));
            }
            // The lead-out.
            d.extend_from_slice(&[0, 0x14, 0xAA, 0]);
            d.extend_from_slice(&address(blocks));
        }
        1 => {
            // First and last session 1; first track of the last session
            // is track 1, at block 0.
            d.extend_from_slice(&[0, 0x14, 1, 0]);
            d.extend_from_slice(&address(0));
        }
        _ => return None,
    }
    let len = (d.len() - 2) as u16;
    d[..2].copy_from_slice(&len.to_be_bytes());
    Some(d)
}

/// GET CONFIGURATION: the feature descriptors this drive has.
fn get_configuration(cdb: &[u8; 12], blocks: u64, cd: &Cdrom) -> Option<Vec<u8>> {
    const PROFILE_CD_ROM: u16 = 0x0008;
    const PROFILE_DVD_ROM: u16 = 0x0010;
    let request_type = cdb[1] & 0x03;
    let start = be16(&cdb[2..4]);
    if request_type == 3 {
        return None;
    }
    let medium = cd.ready();
    let is_dvd = medium && blocks > CD_MAX_BLOCKS;
    let current = match (medium, is_dvd) {
        (false, _) => 0,
        (true, true) => PROFILE_DVD_ROM,
        (true, false) => PROFILE_CD_ROM,
    };
    // (feature code, current, data after the 4-byte feature header)
    let mut features: Vec<(u16, bool, Vec<u8>)> = Vec::new();
    let mut profiles = Vec::new();
    for p in [PROFILE_DVD_ROM, PROFILE_CD_ROM] {
        profiles.extend_from_slice(&p.to_be_bytes());
        profiles.extend_from_slice(&[u8::from(p == current), 0]);
    }
    features.push((0x0000, true, profiles));
    // Core: ATAPI interface.
    features.push((0x0001, true, vec![0, 0, 0, 2, 0, 0, 0, 0]));
    // Removable medium: tray, eject, lock (and whether it is locked).
    features.push((0x0003, true, vec![0x29 | u8::from(cd.locked) << 2, 0, 0, 0]));
    // Random readable: 2048-byte blocks.
    features.push((0x0010, medium, vec![0, 0, 0x08, 0x00, 0, 1, 0, 0]));
    // CD read / DVD read.
    features.push((0x001E, medium && !is_dvd, vec![0, 0, 0, 0]));
    features.push((0x001F, medium && is_dvd, vec![0, 0, 0, 0]));
    let mut d = vec![0u8; 8];
    d[6..8].copy_from_slice(&current.to_be_bytes());
    for (code, is_current, data) in features {
        let wanted = match request_type {
            0 => code >= start,
            1 => code >= start && is_current,
            _ => code == start,
        };
        if !wanted {
            continue;
        }
        d.extend_from_slice(&code.to_be_bytes());
        // Version 0 (1 for the core feature), persistent for the fixed
        // ones, current flag.
        let version: u8 = if code == 0x0001 { 1 << 2 } else { 0 };
        let persistent = if code <= 0x0003 { 0x02 } else { 0 };
        d.push(version | persistent | u8::from(is_current));
        d.push(data.len() as u8);
        d.extend_from_slice(&data);
    }
    let len = (d.len() - 4) as u32;
    d[..4].copy_from_slice(&len.to_be_bytes());
    Some(d)
}

/// MODE SENSE (6 or 10): pages 0x01 (error recovery), 0x0E (audio
/// control), 0x2A (capabilities) and 0x3F (all of them).
fn mode_sense(page_byte: u8, ten: bool, ready: bool, tray_open: bool, locked: bool) -> Result<Vec<u8>, Sense> {
    let control = page_byte >> 6;
    let page = page_byte & 0x3F;
    if control == 3 {
        return Err(Sense::new(sense::ILLEGAL_REQUEST, asc::SAVING_PARAMETERS_NOT_SUPPORTED, 0));
    }
    // Changeable values (control 1): nothing is changeable, all zero.
    let changeable = control == 1;
    let error_recovery = || -> Vec<u8> {
        let mut p = vec![0x01, 0x06, 0, 5, 0, 0, 0, 0];
        if changeable {
            p[2..].fill(0);
        }
        p
    };
    let audio = || -> Vec<u8> {
        let mut p = vec![0u8; 16];
        p[0] = 0x0E;
        p[1] = 0x0E;
        if !changeable {
            p[2] = 0x04; // immediate
            p[8] = 0x01; // port 0: channel 0
            p[9] = 0xFF; // volume
            p[10] = 0x02; // port 1: channel 1
            p[11] = 0xFF;
        }
        p
    };
    let capabilities = || -> Vec<u8> {
        let mut p = vec![0u8; 22];
        p[0] = 0x2A;
        p[1] = 0x14;
        if !changeable {
            p[2] = 0x3B; // reads CD-R, CD-RW, DVD-ROM, DVD-R, DVD-RAM
            p[4] = 0x71; // audio play, mode 2 form 1/2, multisession
            p[5] = 0x60; // ISRC, UPC
            p[6] = 0x29 | u8::from(locked) << 1; // tray, eject, lock
            p[8..10].copy_from_slice(&704u16.to_be_bytes()); // max speed (KB/s)
            p[10..12].copy_from_slice(&2u16.to_be_bytes()); // volume levels
            p[12..14].copy_from_slice(&512u16.to_be_bytes()); // buffer (KB)
            p[14..16].copy_from_slice(&704u16.to_be_bytes()); // current speed
        }
        p
    };
    let body: Vec<u8> = match page {
        0x01 => error_recovery(),
        0x0E => audio(),
        0x2A => capabilities(),
        0x3F => [error_recovery(), audio(), capabilities()].concat(),
        _ => {
            return Err(Sense::new(sense::ILLEGAL_REQUEST, asc::INVALID_FIELD_IN_CDB, 0));
        }
    };
    // Medium type: 120 mm data CD, or door closed/open without a disc.
    let medium_type = match (ready, tray_open) {
        (true, _) => 0x01,
        (false, false) => 0x70,
        (false, true) => 0x71,
    };
    let mut d = if ten {
        let len = (6 + body.len()) as u16;
        let mut h = vec![0u8; 8];
        h[..2].copy_from_slice(&len.to_be_bytes());
        h[2] = medium_type;
        h
    } else {
        vec![(3 + body.len()) as u8, medium_type, 0, 0]
    };
    d.extend_from_slice(&body);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msf_counts_the_lead_in() {
        assert_eq!(msf(0), [0, 0, 2, 0]);
        assert_eq!(msf(16 * 75 - 150 + 3), [0, 0, 16, 3]);
        assert_eq!(msf(60 * 75 * 10), [0, 10, 2, 0]);
    }

    #[test]
    fn toc_formats() {
        let mut cdb = [0u8; 12];
        cdb[0] = 0x43;
        let d = read_toc(&cdb, 1000).unwrap();
        assert_eq!(d.len(), 20);
        assert_eq!(&d[..4], &[0, 18, 1, 1]);
        assert_eq!(&d[4..8], &[0, 0x14, 1, 0]);
        assert_eq!(&d[12..16], &[0, 0x14, 0xAA, 0]);
        assert_eq!(&d[16..20], &1000u32.to_be_bytes());
        cdb[1] = 0x02; // MSF
        let d = read_toc(&cdb, 1000).unwrap();
        assert_eq!(&d[8..12], &[0, 0, 2, 0]);
        assert_eq!(&d[16..20], &msf(1000));
        cdb[6] = 0xAA; // lead-out only
        assert_eq!(read_toc(&cdb, 1000).unwrap().len(), 12);
        cdb[6] = 2;
        assert!(read_toc(&cdb, 1000).is_none());
        cdb[6] = 0;
        cdb[1] = 0;
        cdb[9] = 0x40; // format 1 the old way
        let d = read_toc(&cdb, 1000).unwrap();
        assert_eq!(d, vec![0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0]);
        cdb[9] = 0;
        cdb[2] = 5;
        assert!(read_toc(&cdb, 1000).is_none());
    }

    #[test]
    fn mode_sense_capabilities_page() {
        let d = mode_sense(0x2A, true, true, false, true).unwrap();
        assert_eq!(d.len(), 30);
        assert_eq!(u16::from_be_bytes([d[0], d[1]]), 28);
        assert_eq!(d[8], 0x2A);
        assert_eq!(d[9], 0x14);
        assert_eq!(d[14] & 0x02, 0x02, "lock state");
        let all = mode_sense(0x3F, true, false, false, false).unwrap();
        assert_eq!(all.len(), 8 + 8 + 16 + 22);
        assert_eq!(all[2], 0x70);
        let six = mode_sense(0x01, false, true, false, false).unwrap();
        assert_eq!(six.len(), 12);
        assert_eq!(six[0], 11);
        assert!(mode_sense(0xEA, true, true, false, false).is_err());
        assert!(mode_sense(0x05, true, true, false, false).is_err());
    }
}
