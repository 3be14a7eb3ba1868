//! The interface every execution engine offers the execution manager.
//!
//! It lives here, beside `Exit` and `Bus`, rather than in the `exec`
//! crate: every engine crate depends on `cpu` already, and `exec` depends
//! on the engine crates to choose between them, so the trait must sit
//! below both.

use crate::bus::Bus;
use crate::exit::Exit;
use crate::state::CpuState;
use memory::GuestMemory;

/// An engine runs guest code from a `CpuState` until something needs the
/// outside world. It may cache anything (decoded instructions, translated
/// code, TLB entries) but never the architectural truth, so the manager
/// can move the guest to another engine at any instruction boundary.
pub trait Engine {
    /// Short name for statistics and logs.
    fn name(&self) -> &'static str;

    /// Run up to `budget` instructions (an engine may stop at a block
    /// boundary a little later, never earlier than it must).
    fn run(&mut self, cpu: &mut CpuState, mem: &mut GuestMemory, bus: &mut dyn Bus, budget: u64) -> Exit;

    /// Forget cached translations of guest state (TLB, mode-dependent
    /// caches): the state was changed behind the engine's back, e.g. by
    /// another engine or a reset. Code caches stay valid: they follow
    /// guest memory through the code-page log.
    fn state_changed(&mut self);

    /// Instructions retired so far.
    fn instructions(&self) -> u64;

    /// Engine-specific counters for `--stats` and benchmarks, one or more
    /// lines.
    fn stats_report(&self) -> String {
        String::new()
    }
}

impl Engine for crate::interp::Interpreter {
    fn name(&self) -> &'static str {
        "interpreter"
    }

    fn run(&mut self, cpu: &mut CpuState, mem: &mut GuestMemory, bus: &mut dyn Bus, budget: u64) -> Exit {
        crate::interp::Interpreter::run(self, cpu, mem, bus, budget)
    }

    fn state_changed(&mut self) {
        self.tlb.flush_all();
    }

    fn instructions(&self) -> u64 {
        self.stats.instructions
    }

    fn stats_report(&self) -> String {
        let s = &self.stats;
        format!(
            "{} instructions; {} blocks decoded, {} instructions decoded without caching (MMIO, page-crossing)",
            s.instructions, s.blocks_decoded, s.uncached
        )
    }
}
