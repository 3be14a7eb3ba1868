//! `ringvisor lockstep`: the recompiler against the interpreter, block by
//! block, on generated guests (the campaign CI runs, or a longer one).

use anyhow::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Campaign seed.
    #[arg(long, default_value_t = lockstep::Campaign::CI.seed)]
    seed: u64,
    /// Random user-level programs to run.
    #[arg(long, default_value_t = lockstep::Campaign::CI.programs)]
    programs: u64,
    /// Maximum items (instructions under test) per program.
    #[arg(long, default_value_t = lockstep::Campaign::CI.program_items)]
    program_items: u32,
    /// Random machines (random code in every mode) to run.
    #[arg(long, default_value_t = lockstep::Campaign::CI.machines)]
    machines: u64,
    /// Instructions each random machine may run.
    #[arg(long, default_value_t = lockstep::Campaign::CI.machine_instructions)]
    machine_instructions: u64,
    /// Translate a block after this many runs (1: at once, the most
    /// translated code compared).
    #[arg(long, default_value_t = lockstep::Campaign::CI.threshold, value_parser = clap::value_parser!(u32).range(1..))]
    threshold: u32,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let c = lockstep::Campaign {
        seed: a.seed,
        programs: a.programs,
        program_items: a.program_items,
        machines: a.machines,
        machine_instructions: a.machine_instructions,
        threshold: a.threshold,
    };
    let t0 = std::time::Instant::now();
    match lockstep::campaign(&c) {
        Ok(r) => {
            println!("lockstep (seed {}): {r} in {:.1} s", a.seed, t0.elapsed().as_secs_f64());
            Ok(ExitCode::SUCCESS)
        }
        Err((what, d)) => {
            println!("lockstep (seed {}): {what}:\n{d}", a.seed);
            Ok(ExitCode::from(1))
        }
    }
}
