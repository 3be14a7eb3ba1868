//! The PC ringvisor emulates: guest RAM with its physical map, the legacy
//! devices behind their ports, the boot paths (Linux boot protocol,
//! Multiboot, a BIOS ROM at the reset vector), and the run loop that lets
//! an engine execute the guest, serves timers and consoles between runs,
//! and sleeps while the guest idles in HLT.

pub mod board;
pub mod boot;
pub mod chipset;
pub mod clock;
pub mod config;
pub mod display;
pub mod e820;
pub mod machine;
pub mod stats;
pub mod storage;

pub use config::{BootDevice, Config, DiskConfig, Firmware};
pub use machine::{Machine, Outcome};

use thiserror::Error;

/// Errors of building or booting a machine: all are the user's input
/// (files, sizes, options), reported as one clear line.
#[derive(Debug, Error)]
pub enum MachineError {
    #[error(transparent)]
    Memory(#[from] memory::MemoryError),
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a bootable kernel: {reason}")]
    BadKernel { path: String, reason: String },
    #[error("{path}: {reason}")]
    BadImage { path: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Image(#[from] devices::block::OpenError),
}
