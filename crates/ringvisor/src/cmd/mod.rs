//! Subcommands.

pub mod bench;
pub mod initramfs;
pub mod run;
pub mod sst;
