//! Subcommands.

pub mod bench;
pub mod initramfs;
pub mod lockstep;
pub mod run;
pub mod sst;
