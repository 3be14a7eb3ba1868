//! The execution manager: which engine runs the guest next, and why.
//!
//! The engine-choice policy, in one place:
//!
//! | situation | engine | why |
//! | --- | --- | --- |
//! | `--engine interpreter` | interpreter | the reference engine, exact by construction |
//! | `--engine recompiler` | recompiler, translating every block the first time it runs | exercises the recompiler on all code |
//! | `--engine auto` (default), hot blocks (run [`AUTO_THRESHOLD`] times) | recompiler | translation pays for itself only on code that runs again |
//! | `auto`, cold blocks | interpreter (inside the recompiler's loop) | translating code that runs once costs more than interpreting it |
//! | any engine: TF, RF, interrupt shadow, DR7 breakpoints, the last instructions of a budget | interpreter, one instruction at a time | these rules act per instruction |
//! | any engine: code in MMIO, instructions crossing the CS limit | interpreter | such code cannot be cached safely |
//! | recompiler: a block whose first instruction crosses into the next page | a translation calling the interpreter's uncached fetch and execute | its bytes may change without its first page changing; a hot loop through it still stays out of the dispatcher |
//! | `--switch-every N` | alternate interpreter and recompiler every N instructions | stress test of moving the CPU between engines |
//!
//! Every engine shares `CpuState` and guest memory, so a switch is free:
//! the engine that takes over only forgets its cached view of the state
//! (`Engine::state_changed`), while code caches follow memory through the
//! code-page invalidation log.

use cpu::{Bus, CpuState, Engine, Exit, Interpreter};
use memory::GuestMemory;
use recompiler::Recompiler;

/// Runs of a block before `auto` translates it.
pub const AUTO_THRESHOLD: u32 = 8;

/// The user's choice of engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Interpreter,
    Recompiler,
}

impl std::str::FromStr for Choice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Choice::Auto),
            "interpreter" => Ok(Choice::Interpreter),
            "recompiler" => Ok(Choice::Recompiler),
            _ => Err(format!("unknown engine '{s}' (auto, interpreter, recompiler)")),
        }
    }
}

/// Counters for `--stats`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub switches: u64,
}

pub struct ExecManager {
    pub interpreter: Interpreter,
    pub recompiler: Option<Recompiler>,
    choice: Choice,
    switch_every: Option<u64>,
    /// Which engine runs now: false = interpreter, true = recompiler.
    on_recompiler: bool,
    /// Instructions run on the current engine since the last switch.
    since_switch: u64,
    pub stats: Stats,
}

impl ExecManager {
    pub fn new(choice: Choice, switch_every: Option<u64>) -> std::io::Result<Self> {
        let recompiler = match (choice, switch_every) {
            (Choice::Interpreter, None) => None,
            (Choice::Recompiler, _) | (Choice::Interpreter, Some(_)) => Some(Recompiler::new(1)?),
            (Choice::Auto, _) => Some(Recompiler::new(AUTO_THRESHOLD)?),
        };
        let on_recompiler = recompiler.is_some() && choice != Choice::Interpreter;
        Ok(Self {
            interpreter: Interpreter::new(),
            recompiler,
            choice,
            switch_every: switch_every.filter(|&n| n > 0),
            on_recompiler,
            since_switch: 0,
            stats: Stats::default(),
        })
    }

    pub fn choice(&self) -> Choice {
        self.choice
    }

    fn current(&mut self) -> &mut dyn Engine {
        match (&mut self.recompiler, self.on_recompiler) {
            (Some(r), true) => r,
            _ => &mut self.interpreter,
        }
    }

    /// Run the guest for up to `budget` instructions on the engine the
    /// policy picks.
    pub fn run(&mut self, cpu: &mut CpuState, mem: &mut GuestMemory, bus: &mut dyn Bus, budget: u64) -> Exit {
        let Some(every) = self.switch_every else {
            return self.current().run(cpu, mem, bus, budget);
        };
        let chunk = budget.min(every - self.since_switch.min(every - 1));
        let before = self.current().instructions();
        let exit = self.current().run(cpu, mem, bus, chunk);
        self.since_switch += self.current().instructions() - before;
        if self.since_switch >= every {
            self.since_switch = 0;
            self.on_recompiler = !self.on_recompiler && self.recompiler.is_some();
            self.current().state_changed();
            self.stats.switches += 1;
        }
        exit
    }

    /// Instructions retired by all engines.
    pub fn instructions(&self) -> u64 {
        self.interpreter.stats.instructions + self.recompiler.as_ref().map_or(0, |r| r.instructions())
    }

    /// Forget cached views of the CPU state in every engine (reset, A20).
    pub fn state_changed(&mut self) {
        self.interpreter.state_changed();
        if let Some(r) = &mut self.recompiler {
            r.state_changed();
        }
    }

    /// Count what only `--stats` needs (the recompiler's fallbacks by
    /// instruction).
    pub fn enable_stats(&mut self) {
        if let Some(r) = &mut self.recompiler {
            r.enable_stats();
        }
    }

    /// Each engine's statistics: name and report lines.
    pub fn stats_reports(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![(self.interpreter.name(), self.interpreter.stats_report())];
        if let Some(r) = &self.recompiler {
            v.push((r.name(), r.stats_report()));
        }
        v
    }

    /// Drop all caches (machine reset).
    pub fn flush(&mut self) {
        self.interpreter.flush();
        if let Some(r) = &mut self.recompiler {
            r.flush();
        }
    }
}
