//! What SeaBIOS reads through fw_cfg when it runs on a QEMU-like PC: the
//! memory map, the boot order, and the VGA BIOS as the VGA's option ROM.
//!
//! SeaBIOS only looks at fw_cfg after recognising the machine (the host
//! bridge's QEMU subsystem IDs, set by the i440FX model). Without ACPI
//! tables from fw_cfg and without a PIIX4 power-management function it
//! builds no ACPI tables; the MP table and SMBIOS come from its defaults.

use crate::MachineError;
use crate::config::{BootDevice, Config};
use crate::storage::{self, CDROM_PLACE};
use devices::fw_cfg::{E820_RAM, FwCfg};
use devices::ide::{IdeChannel, IdeUnit};

/// The fw_cfg file SeaBIOS deploys as the option ROM of PCI device
/// 1234:1111 (the stdvga), with that device's address.
const VGA_ROM_FILE: &str = "pci1234,1111.rom";

/// Build the fw_cfg contents for a machine booting SeaBIOS.
pub fn fw_cfg(config: &Config, vga_bios: Option<Vec<u8>>) -> Result<FwCfg, MachineError> {
    let err = |e: devices::fw_cfg::FwCfgError| MachineError::Config(format!("firmware configuration: {e}"));
    let mut f = FwCfg::new(config.memory, 1);
    f.set_e820(&[(0, config.memory, E820_RAM)]).map_err(err)?;
    if let Some(rom) = vga_bios {
        f.add_file(VGA_ROM_FILE, rom).map_err(err)?;
    }
    let cd = FwCfg::ide_boot_path(CDROM_PLACE.0, CDROM_PLACE.1);
    let disk = FwCfg::ide_boot_path(IdeChannel::Primary, IdeUnit::Master);
    let paths: Vec<&str> = storage::boot_order(config)
        .iter()
        .map(|d| match d {
            BootDevice::Disk => disk.as_str(),
            BootDevice::Cdrom => cd.as_str(),
        })
        .collect();
    f.set_bootorder(&paths).map_err(err)?;
    Ok(f)
}
