//! Boot paths: how a machine gets from power-on to running guest code.
//!
//! - [`linux`]: the Linux boot protocol's 32-bit entry (bzImage).
//! - [`multiboot`]: Multiboot v1 kernels (ELF or a.out kludge).
//! - [`bios`]: a firmware ROM at the top of the 4 GiB space.
//! - [`seabios`]: the fw_cfg contents SeaBIOS reads.

pub mod bios;
pub mod flat;
pub mod linux;
pub mod multiboot;
pub mod seabios;

/// Guest physical addresses the direct-kernel loaders use below 1 MiB.
pub mod layout {
    /// GDT with the boot code and data segments.
    pub const GDT: u32 = 0x1000;
    /// Multiboot information structure and its tables.
    pub const MULTIBOOT_INFO: u32 = 0x9000;
    /// Linux `boot_params` ("zero page").
    pub const BOOT_PARAMS: u32 = 0x1_0000;
    /// Kernel command line.
    pub const CMDLINE: u32 = 0x2_0000;
    /// Room for the command line (up to the EBDA).
    pub const CMDLINE_MAX: u32 = 0x7_0000;
    /// Where 32-bit kernels are loaded.
    pub const KERNEL: u32 = 0x10_0000;
}
