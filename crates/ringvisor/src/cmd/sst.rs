//! `ringvisor sst`: run real-chip test vectors.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The chip the vectors were captured from: 8086 or 80286.
    #[arg(long = "cpu", value_name = "8086|80286")]
    chip: sst::Chip,
    /// Directory holding `*.json.gz` test files (and `metadata.json`).
    dir: PathBuf,
    /// Only files whose name starts with this (e.g. `F6` or `80.3`).
    #[arg(long, default_value = "")]
    only: String,
    /// Print the first failures of each failing file.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let report = sst::run_dir(&a.dir, a.chip, &a.only)?;
    for f in &report.files {
        println!(
            "{:<8} {:>5} passed {:>5} failed {:>5} skipped",
            f.name, f.passed, f.failed, f.skipped
        );
        if a.verbose {
            for d in &f.failures {
                println!("    {d}");
            }
        }
    }
    for (rule, n) in report.skips_by_rule() {
        println!("skipped by {rule}: {n}");
    }
    println!(
        "{} passed, {} failed, {} skipped",
        report.passed(),
        report.failed(),
        report.skipped()
    );
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
