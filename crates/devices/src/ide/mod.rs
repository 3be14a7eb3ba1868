//! The PIIX3 IDE controller (PCI 00:01.1, 8086:7010) with ATA disks and
//! ATAPI CD-ROMs.
//!
//! The function is in legacy (compatibility) mode, class 0101 prog-if
//! 0x80: the primary channel at 0x1F0-0x1F7 / 0x3F6 on IRQ 14, the
//! secondary at 0x170-0x177 / 0x376 on IRQ 15, each with a master and a
//! slave place, and SFF-8038i bus-master DMA registers (16 bytes, both
//! channels) at BAR4. Each place holds an ATA disk ([`IdeDevice::Disk`]),
//! an ATAPI CD-ROM drive ([`IdeDevice::Cdrom`]) or nothing.
//!
//! # How the machine uses it
//!
//! ```text
//! let mut ide = Piix3Ide::new(lines.line(14), lines.line(15));
//! ide.attach(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(open_image(..)?))?;
//! ide.attach(IdeChannel::Secondary, IdeUnit::Master, IdeDevice::Cdrom(Some(iso)))?;
//! pci.add(Piix3Ide::devfn(), Box::new(ide))?;
//! // port I/O: ports for which pci.ide().claims_port(p) -> pci.ide_mut().port_read/write
//! // after each port write (or in Bus::stop_requested): if ide.dma_pending(),
//! // end the run and call ide.run_dma(&mut guest_ram, now)
//! // at exit: ide.flush_all()
//! ```
//!
//! The legacy ports are decoded whether or not the guest enabled I/O in
//! the PCI command register (as on QEMU): a kernel booted directly,
//! without firmware to set the function up, still finds its disks. The
//! bus-master block answers only where the guest put BAR4, with I/O
//! enabled, and moves data only with bus mastering enabled. IDETIM
//! (0x40-0x43) starts with both channels' decode enable bits set, as the
//! BIOS leaves them, because Linux's ata_piix skips channels whose bit is
//! clear.
//!
//! # DMA
//!
//! A device cannot touch guest memory from a port access (the CPU engine
//! holds it), so the machine drives DMA: once the guest has both issued a
//! DMA command and started the engine, [`Piix3Ide::dma_pending`] is true;
//! the machine then calls [`Piix3Ide::run_dma`] with a [`DmaMemory`] over
//! guest RAM, which walks the PRD table, moves all the data and raises the
//! completion interrupt. The guest sees the transfer take until the next
//! time the machine looks, which is at most one run of the engine (the
//! board should ask for the run to stop, via `Bus::stop_requested`, when a
//! DMA becomes pending, so the latency is one instruction).

mod ata;
mod atapi;
mod channel;
mod drive;

#[cfg(test)]
mod tests;

use crate::block::{BlockBackend, BlockError};
use crate::dma::DmaMemory;
use crate::pci::config::offset;
use crate::pci::{Bar, BarKind, ConfigSpace, DevFn, PciFunction};
use crate::{IrqLine, Nanos, PortIo, access_len, read_bytewise, size_mask, write_bytewise};

use atapi::Cdrom;
use channel::Channel;
use drive::{Drive, Kind};

pub use ata::MAX_MULT;
pub use atapi::CD_BLOCK;
pub use channel::MAX_PRD_ENTRIES;

/// Primary channel: command block, control block, IRQ.
pub const PRIMARY: (u16, u16, u8) = (0x1F0, 0x3F6, 14);
/// Secondary channel.
pub const SECONDARY: (u16, u16, u8) = (0x170, 0x376, 15);

/// Size of the bus-master register block (BAR4).
pub const BUS_MASTER_SIZE: u16 = 16;

/// IDE timing registers (IDETIM primary/secondary): decode enable.
const IDETIM: u8 = 0x40;
const IDETIM_DECODE_ENABLE: u16 = 0x8000;

/// The PCI command register bits of this function: I/O space and bus
/// master enable are the only writable ones.
const CMD_IO: u16 = 0x0001;
const CMD_BUS_MASTER: u16 = 0x0004;

/// A channel of the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdeChannel {
    Primary,
    Secondary,
}

/// A device place on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdeUnit {
    Master,
    Slave,
}

/// What to attach at a place.
#[derive(Debug)]
pub enum IdeDevice {
    /// An ATA hard disk on this image. A read-only image makes a disk
    /// whose writes fail with ABRT.
    Disk(Box<dyn BlockBackend>),
    /// An ATAPI CD/DVD-ROM drive, with or without a medium (read as
    /// 2048-byte blocks; writes are never attempted).
    Cdrom(Option<Box<dyn BlockBackend>>),
}

/// Why the machine's request about a device failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdeError {
    #[error("IDE {0:?} {1:?} is already occupied")]
    Occupied(IdeChannel, IdeUnit),
    #[error("no CD-ROM drive at IDE {0:?} {1:?}")]
    NotCdrom(IdeChannel, IdeUnit),
    #[error("the guest has locked the CD-ROM tray at IDE {0:?} {1:?}")]
    Locked(IdeChannel, IdeUnit),
    #[error("disk image too small: {0} bytes (at least one 512-byte sector)")]
    TooSmall(u64),
}

/// The PIIX3 IDE function.
#[derive(Debug)]
pub struct Piix3Ide {
    config: ConfigSpace,
    channels: [Channel; 2],
}

fn index(channel: IdeChannel, unit: IdeUnit) -> (usize, usize) {
    (channel as usize, unit as usize)
}

impl Piix3Ide {
    /// (device, function) on bus 0.
    pub const DEVFN: (u8, u8) = (1, 1);

    /// The function's place on the bus.
    pub fn devfn() -> DevFn {
        DevFn::new(Self::DEVFN.0, Self::DEVFN.1).expect("fixed, valid address")
    }

    /// A controller with nothing attached; `primary_irq` and
    /// `secondary_irq` are ISA IRQ 14 and 15.
    pub fn new(primary_irq: IrqLine, secondary_irq: IrqLine) -> Self {
        Self {
            config: Self::initial_config(),
            channels: [Channel::new(primary_irq), Channel::new(secondary_irq)],
        }
    }

    fn initial_config() -> ConfigSpace {
        let mut c = ConfigSpace::new(0x8086, 0x7010, 0x01_01_80, 0x00, 0x00);
        c.set_u16(offset::COMMAND, 0x0000);
        c.set_writable_u16(offset::COMMAND, CMD_IO | CMD_BUS_MASTER);
        c.set_u16(offset::STATUS, 0x0280);
        c.set_writable_u8(offset::CACHE_LINE_SIZE, 0);
        c.add_bar(
            4,
            Bar {
                kind: BarKind::Io,
                size: u64::from(BUS_MASTER_SIZE),
            },
        )
        .expect("BAR4 is free and well-formed");
        // IDETIM, SIDETIM and the rest of the timing registers: storage
        // (timings mean nothing here).
        c.set_storage(IDETIM, 16);
        c.set_u16(IDETIM, IDETIM_DECODE_ENABLE);
        c.set_u16(IDETIM + 2, IDETIM_DECODE_ENABLE);
        c
    }

    /// Attach `device` at a free place.
    pub fn attach(&mut self, channel: IdeChannel, unit: IdeUnit, device: IdeDevice) -> Result<(), IdeError> {
        let (c, u) = index(channel, unit);
        if self.channels[c].drives[u].present() {
            return Err(IdeError::Occupied(channel, unit));
        }
        let number = c * 2 + u + 1;
        let drive = match device {
            IdeDevice::Disk(backend) => {
                let size = backend.size();
                if size < crate::block::SECTOR_SIZE {
                    return Err(IdeError::TooSmall(size));
                }
                Drive::new(
                    Kind::Disk(ata::Disk::new(backend)),
                    "RINGVISOR HARDDISK".into(),
                    format!("RV{number:08}"),
                )
            }
            IdeDevice::Cdrom(medium) => Drive::new(
                Kind::Cdrom(Cdrom::new(medium)),
                "RINGVISOR DVD-ROM".into(),
                format!("RV{number:08}"),
            ),
        };
        let ch = &mut self.channels[c];
        ch.drives[u] = drive;
        ch.update_reset_results();
        // The absent neighbour's registers read as after a reset, too.
        let other = &mut ch.drives[1 - u];
        if !other.present() {
            other.soft_reset();
        }
        Ok(())
    }

    /// Back to power-on state (a PC reset): registers, settings and the
    /// PCI configuration; attached devices and media stay.
    pub fn reset(&mut self) {
        self.config = Self::initial_config();
        for ch in &mut self.channels {
            ch.reset();
        }
    }

    /// The PCI configuration space (read-only view).
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }

    /// Where the bus-master block is decoded: BAR4's address when the
    /// guest assigned it and enabled I/O space.
    pub fn bus_master_base(&self) -> Option<u16> {
        if self.config.command() & CMD_IO == 0 {
            return None;
        }
        let base = self.config.bar_address(4)?;
        if base == 0 || base > u64::from(u16::MAX - BUS_MASTER_SIZE + 1) {
            return None;
        }
        Some(base as u16)
    }

    /// Whether `port` belongs to this controller (the machine routes it
    /// here if so).
    pub fn claims_port(&self, port: u16) -> bool {
        legacy_port(port).is_some() || self.bus_master_base().is_some_and(|b| (b..b + BUS_MASTER_SIZE).contains(&port))
    }

    /// Whether a started bus master has a device waiting for it: the
    /// machine should call [`Piix3Ide::run_dma`] soon.
    pub fn dma_pending(&self) -> bool {
        self.config.command() & CMD_BUS_MASTER != 0 && self.channels.iter().any(Channel::dma_pending)
    }

    /// Perform the pending DMA transfers through `mem` (guest RAM),
    /// completing their commands and raising their interrupts.
    pub fn run_dma(&mut self, mem: &mut dyn DmaMemory, _now: Nanos) {
        if self.config.command() & CMD_BUS_MASTER == 0 {
            return;
        }
        for ch in &mut self.channels {
            ch.run_dma(mem);
        }
    }

    fn cdrom_mut(&mut self, channel: IdeChannel, unit: IdeUnit) -> Result<&mut Cdrom, IdeError> {
        let (c, u) = index(channel, unit);
        match &mut self.channels[c].drives[u].kind {
            Some(Kind::Cdrom(cd)) => Ok(cd),
            _ => Err(IdeError::NotCdrom(channel, unit)),
        }
    }

    /// Put a medium in a CD-ROM drive, replacing (forcibly) any there.
    /// The guest sees a media change.
    pub fn insert_medium(&mut self, channel: IdeChannel, unit: IdeUnit, medium: Box<dyn BlockBackend>) -> Result<(), IdeError> {
        self.cdrom_mut(channel, unit)?.insert(medium);
        Ok(())
    }

    /// Take the medium out of a CD-ROM drive and give it back. If the
    /// guest locked the tray, this fails (and the guest is told someone
    /// pressed eject) unless `force`.
    pub fn eject_medium(&mut self, channel: IdeChannel, unit: IdeUnit, force: bool) -> Result<Option<Box<dyn BlockBackend>>, IdeError> {
        self.cdrom_mut(channel, unit)?
            .eject(force)
            .map_err(|()| IdeError::Locked(channel, unit))
    }

    /// Make every write durable (at power-off or exit; the backends also
    /// flush when dropped, but errors are only seen here).
    pub fn flush_all(&mut self) -> Result<(), BlockError> {
        let mut first_error = None;
        for ch in &mut self.channels {
            for d in &mut ch.drives {
                if let Some(b) = d.backend()
                    && let Err(e) = b.flush()
                {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn read_u8(&mut self, port: u16) -> u8 {
        if let Some((c, reg)) = legacy_port(port) {
            let ch = &mut self.channels[c];
            return match reg {
                Reg::Command(r) => ch.read_reg(r),
                Reg::Control => ch.alt_status(),
            };
        }
        match self.bus_master_base() {
            Some(b) if (b..b + BUS_MASTER_SIZE).contains(&port) => {
                let off = port - b;
                self.channels[usize::from(off / 8)].bm_read(off % 8)
            }
            _ => 0xFF,
        }
    }

    fn write_u8(&mut self, port: u16, value: u8) {
        if let Some((c, reg)) = legacy_port(port) {
            let ch = &mut self.channels[c];
            match reg {
                Reg::Command(r) => ch.write_reg(r, value),
                Reg::Control => ch.write_control(value),
            }
            return;
        }
        if let Some(b) = self.bus_master_base()
            && (b..b + BUS_MASTER_SIZE).contains(&port)
        {
            let off = port - b;
            self.channels[usize::from(off / 8)].bm_write(off % 8, value);
        }
    }
}

/// A legacy register.
#[derive(Clone, Copy, Debug)]
enum Reg {
    /// Command block register 0-7 (0 is the data port).
    Command(u16),
    /// Alternate status / device control.
    Control,
}

fn legacy_port(port: u16) -> Option<(usize, Reg)> {
    match port {
        0x1F0..=0x1F7 => Some((0, Reg::Command(port - 0x1F0))),
        0x3F6 => Some((0, Reg::Control)),
        0x170..=0x177 => Some((1, Reg::Command(port - 0x170))),
        0x376 => Some((1, Reg::Control)),
        _ => None,
    }
}

impl PortIo for Piix3Ide {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        if let Some((c, Reg::Command(0))) = legacy_port(port) {
            let len = access_len(size);
            if len == 1 {
                // The data port is 16 bits wide; a byte read gets nothing.
                return 0xFF;
            }
            return self.channels[c].data_read(usize::from(len)) & size_mask(size);
        }
        read_bytewise(port, size, |p| self.read_u8(p))
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, _now: Nanos) {
        if let Some((c, Reg::Command(0))) = legacy_port(port) {
            let len = access_len(size);
            if len > 1 {
                self.channels[c].data_write(usize::from(len), value);
            }
            return;
        }
        write_bytewise(port, size, value, |p, v| self.write_u8(p, v));
    }
}

impl PciFunction for Piix3Ide {
    fn reset(&mut self) {
        Piix3Ide::reset(self);
    }
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config.read(offset, size)
    }

    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.config.write(offset, size, value);
    }
}
