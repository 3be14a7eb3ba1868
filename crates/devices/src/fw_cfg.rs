//! QEMU's firmware configuration device ("fw_cfg") at I/O ports
//! 0x510-0x51B: how SeaBIOS (Debian's `bios.bin`, 1.16.x) learns the RAM
//! layout, the CPU count, the boot order and its other settings from the
//! machine, as it does on QEMU's i440FX PC.
//!
//! The device holds numbered *items* (byte strings) and named *files*
//! (items from selector 0x0020 up, listed in a directory item). The guest
//! selects an item and reads it byte by byte, or has the device copy it to
//! guest memory by DMA. Everything here is read-only to the guest: QEMU
//! has ignored data-port writes since 2.4, and no item we provide is
//! writable through DMA either (SeaBIOS writes only for
//! `etc/table-loader`'s write-pointer commands, which we do not provide).
//!
//! # Ports
//!
//! | port | access | meaning |
//! | --- | --- | --- |
//! | 0x510 | 16-bit write | selector: choose an item, data offset back to 0 |
//! | 0x510 | 8-bit write | selector too (the low byte; see below) |
//! | 0x511 | 8-bit read | the next byte of the item; 0 past its end |
//! | 0x514 | 32-bit write | DMA address, high half, big-endian |
//! | 0x518 | 32-bit write | DMA address, low half, big-endian: starts the transfer |
//! | 0x514-0x51B | read | "QEMU CFG", the DMA interface's signature |
//!
//! On QEMU the selector and data registers share one two-byte region: an
//! 8-bit read at 0x510 or 0x511 is a data read, a 16-bit write to either
//! selects, and an 8-bit write is a data write (ignored). We do the same
//! except that an 8-bit write to 0x510 selects the item named by its value
//! (nothing writes bytes there in practice; it makes a byte-wide selector
//! usable). Wider data reads are not valid accesses on QEMU's port
//! interface; here they read as all ones, like every other access the
//! device does not back, and are logged.
//!
//! # DMA
//!
//! The guest writes the guest-physical address of a 16-byte
//! `FWCfgDmaAccess` (big-endian `control: u32`, `length: u32`,
//! `address: u64`) to the address register. `control` asks for, in this
//! priority: read (bit 1: copy `length` bytes of the item, from the data
//! offset, to `address`), write (bit 4; always an error here), skip (bit 2:
//! advance the offset); bit 3 first selects item `control >> 16`. When
//! done, the device stores `control` back as 0, or with only the error bit
//! (bit 0) set. As on QEMU, a read past the item's end (or of an item that
//! does not exist) stores zeros, which SeaBIOS relies on: it reads absent
//! legacy items such as `NUMA` into uninitialised stack variables.
//!
//! A device cannot touch guest memory from a port access (the CPU engine
//! holds it), so the transfer is queued: [`FwCfg::dma_pending`] says so,
//! and the machine ends the run and calls [`FwCfg::run_dma`] with guest
//! RAM, exactly as for the IDE controller's bus mastering. SeaBIOS polls
//! the control word in memory until it reads 0 and touches no fw_cfg port
//! meanwhile, so the transfer completing one instruction later is
//! invisible to it. A guest that triggers again before the machine ran the
//! queue gets its requests done in order; more than [`DMA_QUEUE_LIMIT`]
//! outstanding ones are dropped (logged).
//!
//! Hostile requests cost bounded work: the data copied comes from the
//! item itself (no allocation sized by the guest's `length`), and the zeros
//! stored past an item's end are limited to [`ZERO_FILL_LIMIT`] bytes per
//! request; beyond that the request stops with the error bit.
//!
//! # Items
//!
//! [`FwCfg::new`] provides what QEMU's PC provides and SeaBIOS or Linux
//! read: signature `"QEMU"` (0x00), ID (0x01: bit 0 always, bit 1 when DMA
//! is on), UUID (0x02, zeros unless set), RAM size (0x03, u64), NOGRAPHIC
//! (0x04, u16), NB_CPUS (0x05, u16), MACHINE_ID (0x06, u32 0; QEMU's PC
//! leaves it out, which reads the same), BOOT_MENU (0x0E, u16), MAX_CPUS
//! (0x0F, u16: on QEMU the APIC ID limit, i.e. the CPU count here), the
//! file directory (0x19) and the file `etc/boot-fail-wait` (u32 0xFFFFFFFF,
//! QEMU's default: when nothing boots, SeaBIOS says so and waits instead of
//! rebooting every 60 seconds). All integers are little-endian except in
//! the directory. The kernel, initrd and command-line items (0x07-0x0B,
//! 0x10-0x18) are absent (reading zeros); [`FwCfg::set_item`] can add
//! them.
//!
//! Files are kept sorted by name in byte order (what QEMU does with
//! `strcmp` on all but its oldest, "legacy order" machine types) and
//! numbered from 0x0020 in that order; firmware finds them by name
//! through the directory, never by number. The directory is a big-endian u32 count and then
//! 64 bytes per file: size (BE u32), selector (BE u16), reserved u16 and
//! the NUL-padded name (at most 55 bytes).
//!
//! The machine adds:
//!
//! - `etc/e820` ([`FwCfg::set_e820`]): 20-byte little-endian entries
//!   (`address: u64, length: u64, type: u32`, packed). SeaBIOS's
//!   `qemu_early_e820` takes the RAM (1) and reserved (2) entries, and
//!   RamSize (the top of RAM below 4 GiB) from them, and ignores other
//!   types. Give it the RAM as QEMU does: one RAM entry from 0 to the top
//!   of RAM below 4 GiB (holes included: SeaBIOS reserves the EBDA, the
//!   BIOS and the 0xFFFC0000 flash area itself) and one from 4 GiB for RAM
//!   above it. Without this file SeaBIOS falls back to the CMOS sizes.
//! - `bootorder` ([`FwCfg::set_bootorder`]): OpenFirmware device paths,
//!   one per line, first boots first; [`FwCfg::ide_boot_path`] gives the
//!   path SeaBIOS builds for a drive on our PIIX3 IDE.
//! - optionally the VGA BIOS as `pci1234,1111.rom` (see the machine notes
//!   below), `etc/boot-menu-wait` (u16 ms), or anything else through
//!   [`FwCfg::add_file`].
//!
//! # What SeaBIOS reads that we deliberately leave out
//!
//! Absent files make `romfile_find` fail and absent items read as zeros;
//! SeaBIOS then does the following (src/fw/paravirt.c `qemu_cfg_init`,
//! `qemu_cfg_legacy`, `qemu_platform_setup` and the callers named):
//!
//! - `etc/table-loader`, `etc/acpi/tables`, `etc/acpi/rsdp` (QEMU's ACPI
//!   tables): the loader fails quietly and `acpi_setup` builds SeaBIOS's
//!   own tables, but only when it finds a PIIX4 PM (8086:7113) or ICH9 LPC
//!   function; with our PIIX3 there is none, so the guest gets no ACPI
//!   (no RSDP) and uses the MP table and `$PIR` SeaBIOS always builds.
//!   Also the legacy `ACPI_TABLES` item (0x8000) reads count 0: no
//!   `acpi/tableN` files.
//! - `etc/smbios/smbios-tables` and `-anchor`, legacy `SMBIOS_ENTRIES`
//!   (0x8001, count 0): `smbios_legacy_setup` builds SMBIOS 2.x tables
//!   from SeaBIOS's built-in defaults.
//! - `IRQ0_OVERRIDE` (0x8002, `etc/irq0-override`): 0, so the MP table has
//!   no IRQ0 to INTIN2 override (it only matters with an I/O APIC; QEMU
//!   sets 1; [`FwCfg::set_item`] can too).
//! - `E820_TABLE` (0x8003): not read when `etc/e820` exists.
//! - `NUMA` (0x0D): zero nodes; `etc/numa-cpu-map` and `etc/numa-nodes`
//!   read as zeros and serve only ACPI's SRAT.
//! - `etc/msr_feature_control`: no write of MSR 0x3A.
//! - `etc/reserved-memory-end`, `etc/extra-pci-roots`: the 64-bit PCI
//!   window goes right after RAM; no extra root buses.
//! - `bios-geometry`: SeaBIOS picks disk geometry itself (and the CMOS
//!   translation bits, see below).
//! - `etc/boot-menu-wait`, `-key`, `-message`, `bootsplash.jpg`/`.bmp`:
//!   2.5 s, ESC, the default prompt, no splash.
//! - `genroms/*`, `vgaroms/*`, `pciVVVV,DDDD.rom`: no option ROMs beyond
//!   what the PCI ROM BARs hold (QEMU's `linuxboot_dma.bin` and
//!   `kvmvapic.bin` are for `-kernel` and KVM only).
//! - `etc/sercon-port`: SeaBIOS adds it itself (COM1) when NOGRAPHIC is
//!   set, mirroring its console to the serial port.
//! - `etc/system-states`, `etc/pvpanic-port`, `etc/tpm/log`, `etc/igd-*`,
//!   `etc/optionroms-checksum`, `etc/pci-optionrom-exec`,
//!   `etc/s3-resume-vga-init`, `etc/screen-and-debug`, `etc/threads`,
//!   `etc/usb-time-sigatt`, `etc/ps2-keyboard-spinup`: ACPI/TPM/IGD only,
//!   or SeaBIOS's compiled-in defaults, which suit us.
//!
//! # What the rest of the machine must do for SeaBIOS
//!
//! - 00:00.0 must read 8086:1237 with subsystem 1AF4:1100 (Red Hat,
//!   "QEMU"): `qemu_detect` (paravirt.c) only then sets PF_QEMU, and
//!   without it SeaBIOS never reads fw_cfg. No KVM CPUID signature is
//!   needed (`kvm_detect` only adds kvmclock), but CPUID 0x40000000 must
//!   return EAX below 0x40000000, or its scan does not stop.
//! - The BIOS image stays mapped below 4 GiB; at reset PAM0 = 0, and
//!   `make_bios_writable` (src/fw/shadow.c) runs from that high alias to
//!   set PAM1-6 = 0x33 and PAM0 = 0x30 and copy itself into the RAM below
//!   1 MiB, so PAM writes must take effect at once; `make_bios_readonly`
//!   later sets PAM0 = 0x10 and 0x11/0x31 on the option-ROM segments.
//! - CMOS (only what fw_cfg does not cover): 0x3D and the high nibble of
//!   0x38 give the boot device order (nibbles 1 floppy, 2 disk, 3 CD,
//!   4 network; bit 0 of 0x38 skips the floppy signature check), 0x39 holds
//!   2-bit ATA translations per drive (1 = LBA), 0x10 the floppy types,
//!   0x5F the CPU count - 1, 0x0F the shutdown code; 0x30/0x31, 0x34/0x35
//!   and 0x5B-0x5D (memory sizes) are read only without `etc/e820`.
//! - The VGA BIOS: SeaBIOS first looks for the file `pci1234,1111.rom`
//!   (lowercase hex vendor, device of the VGA function) and deploys it with
//!   the VGA's own PCI address; otherwise it maps the function's expansion
//!   ROM BAR (0x30) at the address it assigned and reads it over MMIO.
//!   `vgaroms/*` files also run, but without a PCI address.
//! - Port 0x402 reading back 0xE9 turns on SeaBIOS's debug output there
//!   (`qemu_debug_preinit`, src/hw/serialio.c).
//!
//! # How the machine uses it
//!
//! ```text
//! let mut fw = FwCfg::new(ram_size, cpus);
//! fw.set_e820(&[(0, ram_below_4g, E820_RAM), (1 << 32, ram_above_4g, E820_RAM)])?;
//! fw.set_bootorder(&[&FwCfg::ide_boot_path(IdeChannel::Secondary, IdeUnit::Master)])?;
//! fw.add_file("pci1234,1111.rom", vga_bios)?;
//! // port I/O: ports for which fw_cfg::owns_port(p) -> fw.port_read/port_write
//! // after each port write: if fw.dma_pending(), end the run and call
//! // fw.run_dma(&mut guest_ram)
//! // at machine reset: fw.reset()
//! ```

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::dma::DmaMemory;
use crate::ide::{IdeChannel, IdeUnit, Piix3Ide};
use crate::{Nanos, PortIo, rate_limited, read_bytewise, size_mask};

/// The selector register (16-bit, write).
pub const SELECTOR_PORT: u16 = 0x510;
/// The data register (8-bit, read).
pub const DATA_PORT: u16 = 0x511;
/// The DMA address register's high half (32-bit, big-endian).
pub const DMA_HIGH_PORT: u16 = 0x514;
/// The DMA address register's low half; writing it starts a transfer.
pub const DMA_LOW_PORT: u16 = 0x518;

/// Whether `port` belongs to the device: 0x510-0x511 and 0x514-0x51B.
pub const fn owns_port(port: u16) -> bool {
    matches!(port, 0x510..=0x511 | 0x514..=0x51B)
}

/// Selector keys of the numbered items.
pub mod key {
    pub const SIGNATURE: u16 = 0x0000;
    pub const ID: u16 = 0x0001;
    pub const UUID: u16 = 0x0002;
    pub const RAM_SIZE: u16 = 0x0003;
    pub const NOGRAPHIC: u16 = 0x0004;
    pub const NB_CPUS: u16 = 0x0005;
    pub const MACHINE_ID: u16 = 0x0006;
    pub const KERNEL_ADDR: u16 = 0x0007;
    pub const KERNEL_SIZE: u16 = 0x0008;
    pub const KERNEL_CMDLINE: u16 = 0x0009;
    pub const INITRD_ADDR: u16 = 0x000A;
    pub const INITRD_SIZE: u16 = 0x000B;
    pub const BOOT_DEVICE: u16 = 0x000C;
    pub const NUMA: u16 = 0x000D;
    pub const BOOT_MENU: u16 = 0x000E;
    pub const MAX_CPUS: u16 = 0x000F;
    pub const KERNEL_ENTRY: u16 = 0x0010;
    pub const KERNEL_DATA: u16 = 0x0011;
    pub const INITRD_DATA: u16 = 0x0012;
    pub const CMDLINE_ADDR: u16 = 0x0013;
    pub const CMDLINE_SIZE: u16 = 0x0014;
    pub const CMDLINE_DATA: u16 = 0x0015;
    pub const SETUP_ADDR: u16 = 0x0016;
    pub const SETUP_SIZE: u16 = 0x0017;
    pub const SETUP_DATA: u16 = 0x0018;
    pub const FILE_DIR: u16 = 0x0019;
    /// The first file's selector.
    pub const FILE_FIRST: u16 = 0x0020;
    /// Bit 14: the old "write channel"; ignored for lookup, as on QEMU.
    pub const WRITE_CHANNEL: u16 = 0x4000;
    /// Bit 15: architecture-specific items.
    pub const ARCH_LOCAL: u16 = 0x8000;
    /// The item index within its (generic or arch) space.
    pub const ENTRY_MASK: u16 = !(WRITE_CHANNEL | ARCH_LOCAL);
    /// x86: legacy ACPI tables (u16 count, then length-prefixed tables).
    pub const ACPI_TABLES: u16 = ARCH_LOCAL;
    /// x86: legacy SMBIOS entries (u16 count, then entries).
    pub const SMBIOS_ENTRIES: u16 = ARCH_LOCAL + 1;
    /// x86: IRQ0 is routed to I/O APIC input 2 (u32).
    pub const IRQ0_OVERRIDE: u16 = ARCH_LOCAL + 2;
    /// x86: legacy e820 reservations (u32 count, then entries).
    pub const E820_TABLE: u16 = ARCH_LOCAL + 3;
    /// x86: HPET configuration.
    pub const HPET: u16 = ARCH_LOCAL + 4;
}

/// Bits of the `control` word of a DMA request.
pub mod dma_control {
    pub const ERROR: u32 = 0x01;
    pub const READ: u32 = 0x02;
    pub const SKIP: u32 = 0x04;
    pub const SELECT: u32 = 0x08;
    pub const WRITE: u32 = 0x10;
}

/// What reads of 0x514-0x51B return when DMA is on.
pub const DMA_SIGNATURE: [u8; 8] = *b"QEMU CFG";
/// ID item bits: the port interface (always) and the DMA interface.
pub const ID_TRADITIONAL: u32 = 0x01;
pub const ID_DMA: u32 = 0x02;

/// Longest file name: 56 bytes in the directory, NUL included.
pub const MAX_FILE_NAME: usize = 55;
/// Files fit the generic selectors from 0x0020 to 0x3FFF.
pub const MAX_FILES: usize = (key::ENTRY_MASK - key::FILE_FIRST) as usize + 1;
/// Outstanding DMA requests kept until the machine runs them.
pub const DMA_QUEUE_LIMIT: usize = 16;
/// Zeros stored past an item's end by one DMA read, at most.
pub const ZERO_FILL_LIMIT: u32 = 1 << 20;

/// e820 type of usable RAM.
pub const E820_RAM: u32 = 1;
/// e820 type of reserved memory.
pub const E820_RESERVED: u32 = 2;

/// Size of one directory entry and of the DMA request structure.
const DIR_ENTRY_SIZE: usize = 64;
const DMA_ACCESS_SIZE: usize = 16;
/// Size of one `etc/e820` entry (packed).
pub const E820_ENTRY_SIZE: usize = 20;

/// Why the machine's request to the device failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FwCfgError {
    #[error("fw_cfg file name {0:?} is empty, contains NUL or is longer than {MAX_FILE_NAME} bytes")]
    BadName(String),
    #[error("fw_cfg file {0:?} already exists")]
    Duplicate(String),
    #[error("fw_cfg item of {0} bytes is too large (an item's size is a u32)")]
    TooLarge(usize),
    #[error("too many fw_cfg files (at most {MAX_FILES})")]
    TooManyFiles,
    #[error("fw_cfg selector {0:#06x} is not a settable numbered item")]
    ReservedKey(u16),
    #[error("boot path {0:?} is empty or contains a newline or NUL")]
    BadBootPath(String),
}

/// A named item.
struct File {
    name: String,
    data: Vec<u8>,
}

/// The fw_cfg device.
pub struct FwCfg {
    /// Numbered items by key with the write-channel bit clear (generic
    /// below 0x20, arch-local with bit 15).
    items: BTreeMap<u16, Vec<u8>>,
    /// Files sorted by name; file `i` has selector `FILE_FIRST + i`.
    files: Vec<File>,
    dma_enabled: bool,
    /// The selector as written; it may name nothing.
    selector: u16,
    /// Data offset in the selected item: never beyond its end.
    offset: u32,
    /// The DMA address register (the high half once written).
    dma_address: u64,
    /// Addresses of DMA requests waiting for [`FwCfg::run_dma`].
    dma_queue: VecDeque<u64>,
}

impl fmt::Debug for FwCfg {
    // The items can be large (a VGA BIOS); show their sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FwCfg")
            .field("items", &self.items.iter().map(|(k, v)| (*k, v.len())).collect::<Vec<_>>())
            .field(
                "files",
                &self.files.iter().map(|x| (x.name.as_str(), x.data.len())).collect::<Vec<_>>(),
            )
            .field("dma_enabled", &self.dma_enabled)
            .field("selector", &self.selector)
            .field("offset", &self.offset)
            .field("dma_queue", &self.dma_queue)
            .finish()
    }
}

impl FwCfg {
    /// A device with the standard items for a PC of `ram_size` bytes and
    /// `cpus` CPUs (also the maximum), DMA on, no boot menu, graphics on,
    /// and no files but `etc/boot-fail-wait`.
    pub fn new(ram_size: u64, cpus: u16) -> Self {
        let mut fw = Self {
            items: BTreeMap::new(),
            files: Vec::new(),
            dma_enabled: true,
            selector: key::SIGNATURE,
            offset: 0,
            dma_address: 0,
            dma_queue: VecDeque::new(),
        };
        fw.items.insert(key::SIGNATURE, b"QEMU".to_vec());
        fw.items.insert(key::UUID, vec![0; 16]);
        fw.items.insert(key::RAM_SIZE, ram_size.to_le_bytes().to_vec());
        fw.items.insert(key::NOGRAPHIC, 0u16.to_le_bytes().to_vec());
        fw.items.insert(key::NB_CPUS, cpus.to_le_bytes().to_vec());
        fw.items.insert(key::MACHINE_ID, 0u32.to_le_bytes().to_vec());
        fw.items.insert(key::BOOT_MENU, 0u16.to_le_bytes().to_vec());
        fw.items.insert(key::MAX_CPUS, cpus.to_le_bytes().to_vec());
        fw.set_id();
        fw.rebuild_directory();
        fw.set_boot_fail_wait(None);
        fw
    }

    fn set_id(&mut self) {
        let id = ID_TRADITIONAL | if self.dma_enabled { ID_DMA } else { 0 };
        self.items.insert(key::ID, id.to_le_bytes().to_vec());
    }

    /// Turn the DMA interface on or off. Off, the ID item says so, the
    /// DMA ports read as all ones and ignore writes, and SeaBIOS reads
    /// everything byte by byte through port 0x511 (slower, but needs no
    /// [`FwCfg::run_dma`] from the machine).
    pub fn set_dma(&mut self, enabled: bool) {
        self.dma_enabled = enabled;
        self.set_id();
        if !enabled {
            self.dma_address = 0;
            self.dma_queue.clear();
        }
    }

    pub fn dma_enabled(&self) -> bool {
        self.dma_enabled
    }

    /// The machine's UUID (SeaBIOS puts it in the SMBIOS system table).
    pub fn set_uuid(&mut self, uuid: [u8; 16]) {
        self.items.insert(key::UUID, uuid.to_vec());
    }

    /// Whether the machine has no display: SeaBIOS then runs its serial
    /// console on COM1 (`etc/sercon-port`).
    pub fn set_nographic(&mut self, nographic: bool) {
        self.items.insert(key::NOGRAPHIC, u16::from(nographic).to_le_bytes().to_vec());
    }

    /// Whether SeaBIOS offers its boot menu ("Press ESC for boot menu",
    /// `etc/show-boot-menu`). Off by default, as on QEMU.
    pub fn set_boot_menu(&mut self, enabled: bool) {
        self.items.insert(key::BOOT_MENU, u16::from(enabled).to_le_bytes().to_vec());
    }

    /// MAX_CPUS (SeaBIOS's `etc/max-cpus`): the APIC ID limit, the CPU
    /// count unless CPUs can be hot-plugged.
    pub fn set_max_cpus(&mut self, max: u16) {
        self.items.insert(key::MAX_CPUS, max.to_le_bytes().to_vec());
    }

    /// How long SeaBIOS waits before rebooting when nothing boots, in
    /// milliseconds; `None` (QEMU's default and ours) waits forever.
    pub fn set_boot_fail_wait(&mut self, ms: Option<u32>) {
        let value = ms.unwrap_or(u32::MAX);
        // The name is valid and the data small: this cannot fail.
        let _ = self.replace_file("etc/boot-fail-wait", value.to_le_bytes().to_vec());
    }

    /// Set a numbered item, e.g. the kernel items or the arch-local
    /// [`key::IRQ0_OVERRIDE`]. The signature, ID and directory are the
    /// device's own, and selectors from 0x0020 (without bit 15) are files.
    pub fn set_item(&mut self, selector: u16, data: Vec<u8>) -> Result<(), FwCfgError> {
        let index = selector & key::ENTRY_MASK;
        let generic = selector & key::ARCH_LOCAL == 0;
        if selector & key::WRITE_CHANNEL != 0
            || (generic && (index >= key::FILE_FIRST || matches!(index, key::SIGNATURE | key::ID | key::FILE_DIR)))
        {
            return Err(FwCfgError::ReservedKey(selector));
        }
        check_size(&data)?;
        self.items.insert(selector, data);
        Ok(())
    }

    /// Add the file `name`. Files are numbered in name order, so adding
    /// one renumbers those after it: add files before the guest runs.
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> Result<(), FwCfgError> {
        check_name(name)?;
        check_size(&data)?;
        match self.files.binary_search_by(|f| f.name.as_str().cmp(name)) {
            Ok(_) => Err(FwCfgError::Duplicate(name.to_owned())),
            Err(_) if self.files.len() >= MAX_FILES => Err(FwCfgError::TooManyFiles),
            Err(at) => {
                self.files.insert(
                    at,
                    File {
                        name: name.to_owned(),
                        data,
                    },
                );
                self.rebuild_directory();
                Ok(())
            }
        }
    }

    /// Add the file `name` or replace its contents.
    pub fn replace_file(&mut self, name: &str, data: Vec<u8>) -> Result<(), FwCfgError> {
        check_size(&data)?;
        match self.files.binary_search_by(|f| f.name.as_str().cmp(name)) {
            Ok(at) => {
                self.files[at].data = data;
                self.rebuild_directory();
                Ok(())
            }
            Err(_) => self.add_file(name, data),
        }
    }

    /// The contents of file `name`.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        let at = self.files.binary_search_by(|f| f.name.as_str().cmp(name)).ok()?;
        Some(&self.files[at].data)
    }

    /// The selector of file `name`.
    pub fn file_selector(&self, name: &str) -> Option<u16> {
        let at = self.files.binary_search_by(|f| f.name.as_str().cmp(name)).ok()?;
        // `at` < MAX_FILES, so this stays within the generic space.
        Some(key::FILE_FIRST + at as u16)
    }

    /// The memory map as `etc/e820`: `(address, length, type)` per
    /// entry, [`E820_RAM`] or [`E820_RESERVED`] (SeaBIOS ignores other
    /// types). Replaces an earlier map.
    pub fn set_e820(&mut self, entries: &[(u64, u64, u32)]) -> Result<(), FwCfgError> {
        let mut data = Vec::with_capacity(entries.len().saturating_mul(E820_ENTRY_SIZE));
        for &(address, length, kind) in entries {
            data.extend_from_slice(&address.to_le_bytes());
            data.extend_from_slice(&length.to_le_bytes());
            data.extend_from_slice(&kind.to_le_bytes());
        }
        self.replace_file("etc/e820", data)
    }

    /// The boot order as the `bootorder` file: OpenFirmware device paths,
    /// highest priority first, as QEMU writes it (lines separated by
    /// `\n`, one terminating NUL). SeaBIOS boots devices it finds on the
    /// list in list order, then the others by the CMOS order; a last
    /// entry `HALT` makes it boot listed devices only. An empty list
    /// makes an empty file, which SeaBIOS treats as no boot order.
    pub fn set_bootorder(&mut self, paths: &[&str]) -> Result<(), FwCfgError> {
        let mut data = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            if path.is_empty() || path.contains(['\n', '\0']) {
                return Err(FwCfgError::BadBootPath((*path).to_owned()));
            }
            if i > 0 {
                data.push(b'\n');
            }
            data.extend_from_slice(path.as_bytes());
        }
        if !data.is_empty() {
            data.push(0);
        }
        self.replace_file("bootorder", data)
    }

    /// The OpenFirmware path SeaBIOS builds for an ATA disk or ATAPI
    /// CD-ROM on the PIIX3 IDE function (`build_ata_path` in src/boot.c):
    /// `/pci@i0cf8/ide@1,1/drive@C/disk@U`, C the channel (0 primary, 1
    /// secondary) and U the unit (0 master, 1 slave), for disks and
    /// CD-ROMs alike. It is also what QEMU puts in `bootorder` for
    /// `bootindex` on an IDE drive. (SeaBIOS matches the PCI device name
    /// with a wildcard and wants the rest exact.)
    pub fn ide_boot_path(channel: IdeChannel, unit: IdeUnit) -> String {
        let (device, function) = Piix3Ide::DEVFN;
        let pci = if function == 0 {
            format!("/pci@i0cf8/ide@{device:x}")
        } else {
            format!("/pci@i0cf8/ide@{device:x},{function:x}")
        };
        let drive = match channel {
            IdeChannel::Primary => 0,
            IdeChannel::Secondary => 1,
        };
        let disk = match unit {
            IdeUnit::Master => 0,
            IdeUnit::Slave => 1,
        };
        format!("{pci}/drive@{drive}/disk@{disk}")
    }

    /// Machine reset: the signature selected, offset 0, the DMA address
    /// register cleared and queued requests dropped (as QEMU's reset,
    /// which selects the signature). The items stay.
    pub fn reset(&mut self) {
        self.selector = key::SIGNATURE;
        self.offset = 0;
        self.dma_address = 0;
        self.dma_queue.clear();
    }

    /// Whether DMA requests wait for [`FwCfg::run_dma`].
    pub fn dma_pending(&self) -> bool {
        !self.dma_queue.is_empty()
    }

    /// Perform the queued DMA requests, in order, through `mem` (guest
    /// RAM), storing each one's completion in its control word.
    pub fn run_dma(&mut self, mem: &mut dyn DmaMemory) {
        while let Some(at) = self.dma_queue.pop_front() {
            self.dma_transfer(mem, at);
        }
    }

    fn rebuild_directory(&mut self) {
        let mut dir = Vec::with_capacity(4 + self.files.len() * DIR_ENTRY_SIZE);
        dir.extend_from_slice(&(self.files.len() as u32).to_be_bytes());
        for (i, f) in self.files.iter().enumerate() {
            // Sizes were checked to fit a u32, indexes to fit the selectors.
            dir.extend_from_slice(&(f.data.len() as u32).to_be_bytes());
            dir.extend_from_slice(&(key::FILE_FIRST + i as u16).to_be_bytes());
            dir.extend_from_slice(&[0, 0]);
            let mut name = [0u8; DIR_ENTRY_SIZE - 8];
            name[..f.name.len()].copy_from_slice(f.name.as_bytes());
            dir.extend_from_slice(&name);
        }
        self.items.insert(key::FILE_DIR, dir);
    }

    /// The item a selector names, if any. As on QEMU, the write-channel
    /// bit is ignored, and bit 15 picks the arch-local space.
    fn item(&self, selector: u16) -> Option<&[u8]> {
        let index = selector & key::ENTRY_MASK;
        if selector & key::ARCH_LOCAL == 0 && index >= key::FILE_FIRST {
            return self.files.get(usize::from(index - key::FILE_FIRST)).map(|f| f.data.as_slice());
        }
        self.items.get(&(selector & !key::WRITE_CHANNEL)).map(Vec::as_slice)
    }

    fn select(&mut self, selector: u16) {
        self.selector = selector;
        self.offset = 0;
    }

    /// The bytes of the selected item from the data offset on.
    fn remaining(&self) -> &[u8] {
        let data = self.item(self.selector).unwrap_or(&[]);
        data.get(self.offset as usize..).unwrap_or(&[])
    }

    fn read_data_byte(&mut self) -> u8 {
        match self.remaining().first().copied() {
            Some(byte) => {
                self.offset += 1;
                byte
            }
            None => 0,
        }
    }

    fn queue_dma(&mut self, at: u64) {
        if self.dma_queue.len() >= DMA_QUEUE_LIMIT {
            rate_limited!(warn, at, "fw_cfg DMA request dropped: too many outstanding");
            return;
        }
        self.dma_queue.push_back(at);
    }

    /// One DMA request at guest-physical `at`, following QEMU's order:
    /// select, then at most one chunk from the item and one chunk past
    /// its end, then the control word.
    fn dma_transfer(&mut self, mem: &mut dyn DmaMemory, at: u64) {
        let mut raw = [0u8; DMA_ACCESS_SIZE];
        mem.read(at, &mut raw);
        let control = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let mut length = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
        // `None` once the transfer has run past the top of the address
        // space: the rest of it falls outside memory, as the DmaMemory
        // contract has it for a single access.
        let mut address = Some(u64::from_be_bytes([
            raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15],
        ]));

        if control & dma_control::SELECT != 0 {
            self.select((control >> 16) as u16);
        }
        #[derive(Clone, Copy)]
        enum Op {
            Read,
            Write,
            Skip,
        }
        let op = if control & dma_control::READ != 0 {
            Op::Read
        } else if control & dma_control::WRITE != 0 {
            Op::Write
        } else if control & dma_control::SKIP != 0 {
            Op::Skip
        } else {
            length = 0;
            Op::Skip
        };

        let mut status = 0u32;
        while length > 0 && status & dma_control::ERROR == 0 {
            let remaining = self.remaining();
            let len = if remaining.is_empty() {
                // Past the end, or nothing selected.
                match op {
                    Op::Read => {
                        let fill = length.min(ZERO_FILL_LIMIT);
                        if let Some(address) = address {
                            zero_fill(mem, address, fill);
                        }
                        if fill < length {
                            rate_limited!(debug, length, "fw_cfg DMA read far past the item's end stopped");
                            status |= dma_control::ERROR;
                        }
                    }
                    Op::Write => status |= dma_control::ERROR,
                    Op::Skip => {}
                }
                length
            } else {
                // `remaining` is shorter than the item, whose size fits a u32.
                let len = length.min(remaining.len() as u32);
                match op {
                    Op::Read => {
                        if let Some(address) = address {
                            mem.write(address, &remaining[..len as usize]);
                        }
                    }
                    Op::Write => {
                        rate_limited!(debug, selector = self.selector, "fw_cfg DMA write to a read-only item");
                        status |= dma_control::ERROR;
                    }
                    Op::Skip => {}
                }
                // QEMU advances the offset even over a refused write.
                self.offset += len;
                len
            };
            address = address.and_then(|a| a.checked_add(u64::from(len)));
            length -= len;
        }
        mem.write(at, &status.to_be_bytes());
    }
}

fn check_name(name: &str) -> Result<(), FwCfgError> {
    if name.is_empty() || name.len() > MAX_FILE_NAME || name.contains('\0') {
        return Err(FwCfgError::BadName(name.to_owned()));
    }
    Ok(())
}

fn check_size(data: &[u8]) -> Result<(), FwCfgError> {
    u32::try_from(data.len()).map(|_| ()).map_err(|_| FwCfgError::TooLarge(data.len()))
}

/// Store `len` zero bytes at `address`, a page at a time, up to the top
/// of the address space.
fn zero_fill(mem: &mut dyn DmaMemory, address: u64, len: u32) {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut done = 0u32;
    while done < len {
        let Some(at) = address.checked_add(u64::from(done)) else {
            break;
        };
        let n = (len - done).min(ZEROS.len() as u32);
        mem.write(at, &ZEROS[..n as usize]);
        done += n;
    }
}

impl PortIo for FwCfg {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        match (port, size) {
            (SELECTOR_PORT | DATA_PORT, 1) => u32::from(self.read_data_byte()),
            (DMA_HIGH_PORT..=0x51B, _) if self.dma_enabled => read_bytewise(port, size, |p| {
                DMA_SIGNATURE
                    .get(usize::from(p.wrapping_sub(DMA_HIGH_PORT)))
                    .copied()
                    .unwrap_or(0xFF)
            }),
            _ => {
                rate_limited!(debug, port, size, "fw_cfg read of an unsupported port or width");
                size_mask(size)
            }
        }
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, _now: Nanos) {
        match (port, size) {
            (SELECTOR_PORT | DATA_PORT, 2) => self.select(value as u16),
            (SELECTOR_PORT, 1) => self.select(value as u8 as u16),
            (DATA_PORT, 1) => rate_limited!(debug, value, "fw_cfg data register write ignored (read-only)"),
            // The register is big-endian: the guest's first byte is the
            // most significant.
            (DMA_HIGH_PORT, 4) if self.dma_enabled => self.dma_address = u64::from(value.swap_bytes()) << 32,
            (DMA_LOW_PORT, 4) if self.dma_enabled => {
                let at = self.dma_address | u64::from(value.swap_bytes());
                self.dma_address = 0;
                self.queue_dma(at);
            }
            _ => rate_limited!(debug, port, size, value, "fw_cfg write of an unsupported port or width ignored"),
        }
    }
}
