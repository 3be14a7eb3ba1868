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
    /// aliased below 1 MiB; the CPU starts at the reset vector.
    Bios { rom: PathBuf },
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
}

impl Config {
    pub const DEFAULT_MEMORY: u64 = 256 << 20;
}
