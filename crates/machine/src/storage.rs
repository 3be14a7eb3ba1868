//! The PC's drives: hard-disk images and the CD-ROM drive on the PIIX3
//! IDE controller, placed as QEMU places `-hda`/`-hdb`/`-cdrom`/`-hdd`,
//! and the CMOS boot-order bytes the BIOS reads.

use crate::MachineError;
use crate::board::Board;
use crate::config::{BootDevice, Config};
use devices::block::open_image;
use devices::ide::{IdeChannel, IdeDevice, IdeUnit, Piix3Ide};

/// Where the n-th `--disk` goes; the CD-ROM drive is the secondary master.
const DISK_PLACES: [(IdeChannel, IdeUnit); 3] = [
    (IdeChannel::Primary, IdeUnit::Master),
    (IdeChannel::Primary, IdeUnit::Slave),
    (IdeChannel::Secondary, IdeUnit::Slave),
];
/// The CD-ROM drive's place.
pub const CDROM_PLACE: (IdeChannel, IdeUnit) = (IdeChannel::Secondary, IdeUnit::Master);

/// CMOS bytes SeaBIOS (and Bochs BIOS) read for the boot order on an
/// emulator: 0x3D holds the first two devices (low nibble first), 0x38's
/// high nibble the third; bit 0 of 0x38 skips the floppy signature check.
const CMOS_BOOT_FLAG1: u8 = 0x38;
const CMOS_BOOT_FLAG2: u8 = 0x3D;
const BOOT_HDD: u8 = 2;
const BOOT_CDROM: u8 = 3;

/// Open the images and put the controller on the PCI bus at 00:01.1.
pub fn attach(board: &mut Board, config: &Config) -> Result<(), MachineError> {
    if config.disks.len() > DISK_PLACES.len() {
        return Err(MachineError::Config(format!(
            "at most {} disks fit beside the CD-ROM drive on the IDE controller; {} were given",
            DISK_PLACES.len(),
            config.disks.len()
        )));
    }
    let mut ide = Piix3Ide::new(board.lines.line(14), board.lines.line(15));
    for (d, &(channel, unit)) in config.disks.iter().zip(DISK_PLACES.iter()) {
        let backend = open_image(&d.path, d.format, d.read_only)?;
        ide.attach(channel, unit, IdeDevice::Disk(backend))
            .map_err(|e| MachineError::BadImage {
                path: d.path.display().to_string(),
                reason: e.to_string(),
            })?;
    }
    let medium = match &config.cdrom {
        Some(p) => {
            let m = open_image(p, Some(devices::block::ImageFormat::Raw), true)?;
            if m.size() < devices::ide::CD_BLOCK {
                return Err(MachineError::BadImage {
                    path: p.display().to_string(),
                    reason: "too small for a CD image (not one 2048-byte block)".into(),
                });
            }
            Some(m)
        }
        None => None,
    };
    let (channel, unit) = CDROM_PLACE;
    ide.attach(channel, unit, IdeDevice::Cdrom(medium))
        .map_err(|e| MachineError::Config(e.to_string()))?;
    board
        .pci
        .add(Piix3Ide::devfn(), Box::new(ide))
        .map_err(|e| MachineError::Config(e.to_string()))?;
    set_boot_order(board, boot_order(config));
    Ok(())
}

/// The devices to try, first to last.
pub fn boot_order(config: &Config) -> Vec<BootDevice> {
    let first = config.boot.unwrap_or(if config.disks.is_empty() && config.cdrom.is_some() {
        BootDevice::Cdrom
    } else {
        BootDevice::Disk
    });
    match first {
        BootDevice::Disk => vec![BootDevice::Disk, BootDevice::Cdrom],
        BootDevice::Cdrom => vec![BootDevice::Cdrom, BootDevice::Disk],
    }
}

fn set_boot_order(board: &mut Board, order: Vec<BootDevice>) {
    let code = |d: &BootDevice| match d {
        BootDevice::Disk => BOOT_HDD,
        BootDevice::Cdrom => BOOT_CDROM,
    };
    let first = order.first().map_or(0, code);
    let second = order.get(1).map_or(0, code);
    board.rtc.set_nvram(CMOS_BOOT_FLAG2, first | second << 4);
    // No third device; no floppy to check the boot signature of.
    board.rtc.set_nvram(CMOS_BOOT_FLAG1, 0x01);
    board.rtc.update_checksum();
}
