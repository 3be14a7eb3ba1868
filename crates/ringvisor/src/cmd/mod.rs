//! Subcommands.

pub mod initramfs;
pub mod run;
pub mod sst;
