//! Subcommands.

pub mod sst;
