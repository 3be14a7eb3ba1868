//! Runs the SingleStepTests per-instruction vectors captured from a real
//! Intel 8086 and 80286 (real mode) against ringvisor's interpreter.
//!
//! Each case is one instruction with the complete register state and the
//! touched memory before and after. The vectors come from older chips
//! than the i686 ringvisor models; where the i686 architecture defines a
//! different result, the case is skipped by one of the written
//! [`rules`], each naming the architectural reason, and counted as
//! skipped, never as passed.

pub mod case;
pub mod rules;
pub mod run;

pub use case::{Case, Metadata};
pub use rules::Chip;
pub use run::{FileReport, Report, run_dir, run_file};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SstError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a valid test file: {source}")]
    Json { path: String, source: serde_json::Error },
    #[error("{0} contains no *.json.gz test files")]
    Empty(String),
}
