//! What a machine is built from.

use std::path::PathBuf;

/// How the machine starts.
#[derive(Clone, Debug)]
pub enum Firmware {
    /// Load a kernel directly (Linux bzImage or Multiboot, detected from
    /// the file), as QEMU's `-kernel` does.
    Kernel {
        kernel: PathBuf,
        initrd: Option<PathBuf>,
        cmdline: String,
    },
    /// A ROM image mapped at the top of the 4 GiB space, its last 128 KiB
    /// aliased below 1 MiB; the CPU starts at the reset vector. With
    /// `vga_bios`, the machine also offers SeaBIOS what it reads on QEMU
    /// (fw_cfg with that VGA BIOS, e820, boot order).
    Bios { rom: PathBuf, vga_bios: Option<PathBuf> },
}

/// A hard-disk image on the IDE controller.
#[derive(Clone, Debug)]
pub struct DiskConfig {
    pub path: PathBuf,
    /// `None`: detected from the file.
    pub format: Option<devices::block::ImageFormat>,
    pub read_only: bool,
}

/// Which device the BIOS tries first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootDevice {
    Disk,
    Cdrom,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Guest RAM in bytes.
    pub memory: u64,
    pub firmware: Firmware,
    /// A write of v to this port ends the machine with status (v << 1) | 1
    /// (QEMU's isa-debug-exit).
    pub debug_exit: Option<u16>,
    /// Port of the debug console (Bochs/QEMU 0xE9).
    pub debugcon_port: u16,
    /// A guest reset ends the machine instead of restarting it.
    pub no_reboot: bool,
    /// Which engine runs the guest.
    pub engine: exec::Choice,
    /// Switch engines every this many instructions (stress test).
    pub switch_every: Option<u64>,
    /// Collect statistics (exits, I/O, engine counters) for
    /// [`crate::Machine::stats_report`].
    pub stats: bool,
    /// Hard disks, in IDE order: primary master, primary slave, then
    /// secondary slave (the secondary master is the CD-ROM drive's).
    pub disks: Vec<DiskConfig>,
    /// The CD-ROM drive's medium (the drive is there even without one).
    pub cdrom: Option<PathBuf>,
    /// First boot device (`None`: the disk if there is one, else the CD).
    pub boot: Option<BootDevice>,
}

impl Config {
    pub const DEFAULT_MEMORY: u64 = 256 << 20;
}
