//! Lockstep checking of the recompiler against the interpreter.
//!
//! The same guest state runs in both engines side by side. The recompiler
//! runs one block (translated, or interpreted when cold); the interpreter
//! then runs exactly as many instructions (and the event the block ended
//! with, if any); the whole architectural state and all of guest memory
//! are compared. The first difference stops the run with both states, the
//! guest block, the host code of the translation and the recent history.
//!
//! [`programs`] generates the guests: random user-level programs (the
//! host-diff generator: every integer instruction family, faults,
//! 16-bit prefixes, memory edge cases) and random machines running random
//! bytes in every mode (real, 16/32-bit protected at every CPL, paging on
//! and off, virtual-8086) over random descriptor tables and page tables,
//! where code writes into its own pages.

pub mod compare;
pub mod looped;
pub mod programs;

use cpu::{CpuState, Engine, Exit, Interpreter, NullBus};
use memory::GuestMemory;
use recompiler::Recompiler;
use std::collections::VecDeque;

/// How far back the history in a divergence report goes.
const HISTORY: usize = 16;
/// Guest memory is compared every this many steps (and at the end);
/// registers after every step.
const MEMORY_EVERY: u64 = 32;

/// The first difference between the engines.
#[derive(Debug)]
pub struct Divergence {
    /// Instructions both engines had retired in agreement before it.
    pub instructions: u64,
    pub differences: Vec<String>,
    /// Everything needed to understand it: both states, the guest block,
    /// the host code, the history.
    pub report: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "divergence after {} instructions:", self.instructions)?;
        for d in &self.differences {
            writeln!(f, "  {d}")?;
        }
        write!(f, "{}", self.report)
    }
}

/// Totals of a lockstep run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub instructions: u64,
    pub steps: u64,
    /// Steps the recompiler ran as translated code.
    pub translated_steps: u64,
}

/// The two engines.
pub struct Lockstep {
    pub interp: Interpreter,
    pub recomp: Recompiler,
    history: VecDeque<Step>,
}

/// One block of the history, kept raw: it is formatted only for a report.
struct Step {
    cs: u16,
    eip: u32,
    instructions: u64,
    translated: bool,
    event: Option<u8>,
}

impl Lockstep {
    /// Engines for a lockstep run; blocks are translated after `threshold`
    /// runs (1: at once).
    pub fn new(threshold: u32) -> std::io::Result<Self> {
        let mut recomp = Recompiler::new(threshold)?;
        recomp.single_block = true;
        Ok(Self {
            interp: Interpreter::new(),
            recomp,
            history: VecDeque::new(),
        })
    }

    /// Run `a` on the interpreter and `b` on the recompiler (identical at
    /// the start) for up to `max` instructions, until both halt or shut
    /// down, or until they differ.
    pub fn run(
        &mut self,
        a: (&mut CpuState, &mut GuestMemory),
        b: (&mut CpuState, &mut GuestMemory),
        max: u64,
    ) -> Result<Totals, Box<Divergence>> {
        let (sa, ma) = a;
        let (sb, mb) = b;
        let mut t = Totals::default();
        self.history.clear();
        let (mut bus_a, mut bus_b) = (NullBus::default(), NullBus::default());
        self.interp.flush();
        self.recomp.flush();
        if let Some(d) = self.check(sa, ma, sb, mb, &t, None, true) {
            return Err(d);
        }
        // Events (faults delivered) retire no instruction: a guest whose
        // handler faults again forever must still end, so steps are
        // bounded too.
        while t.instructions < max && t.steps < max {
            let before = sb.clone();
            let n0 = self.recomp.instructions();
            let exit_b = self.recomp.run(sb, mb, &mut bus_b, u64::MAX >> 2);
            let k = self.recomp.instructions() - n0;
            let event_b = self.recomp.first_vector;
            let translated = self.recomp.last_was_translated();
            let mut exit_a = Exit::Budget;
            if k > 0 {
                exit_a = self.interp.run(sa, ma, &mut bus_a, k);
            }
            let delivered_a = k > 0 && self.interp.stats.first_vector.is_some();
            if (event_b.is_some() && !delivered_a) || (k == 0 && exit_b != Exit::Budget) {
                // The block ended with an event (or the CPU stopped) that
                // the interpreter meets in one more step.
                exit_a = self.interp.run(sa, ma, &mut bus_a, 1);
            }
            t.steps += 1;
            t.instructions += k;
            t.translated_steps += translated as u64;
            self.history.push_back(Step {
                cs: before.seg[cpu::state::sreg::CS].selector,
                eip: before.eip,
                instructions: k,
                translated,
                event: event_b,
            });
            if self.history.len() > HISTORY {
                self.history.pop_front();
            }
            // HLT shows in the state (`halted`); only a triple fault is an
            // exit of its own to compare.
            let shutdown = (exit_a == Exit::Shutdown, exit_b == Exit::Shutdown);
            let exits = (shutdown.0 != shutdown.1).then(|| format!("exit: interpreter {exit_a:?}, recompiler {exit_b:?}"));
            let last = exit_b == Exit::Shutdown || sb.halted || t.instructions >= max || t.steps >= max;
            let memory = last || t.steps % MEMORY_EVERY == 0;
            if let Some(d) = self.check_step(sa, ma, sb, mb, &t, exits, &before, memory) {
                return Err(d);
            }
            if exit_b == Exit::Shutdown || sb.halted {
                break;
            }
        }
        Ok(t)
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        sa: &CpuState,
        ma: &GuestMemory,
        sb: &CpuState,
        mb: &GuestMemory,
        t: &Totals,
        extra: Option<String>,
        memory: bool,
    ) -> Option<Box<Divergence>> {
        let mut diffs = compare::states(sa, sb);
        if memory {
            let m = compare::memory(ma, mb);
            if !m.is_empty() {
                diffs.push(format!("guest memory differs (it is compared every {MEMORY_EVERY} steps: the write was in the last {MEMORY_EVERY} blocks of the history)"));
            }
            diffs.extend(m);
        }
        diffs.extend(extra);
        (!diffs.is_empty()).then(|| {
            Box::new(Divergence {
                instructions: t.instructions,
                differences: diffs,
                report: String::new(),
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn check_step(
        &mut self,
        sa: &CpuState,
        ma: &GuestMemory,
        sb: &CpuState,
        mb: &GuestMemory,
        t: &Totals,
        extra: Option<String>,
        before: &CpuState,
        memory: bool,
    ) -> Option<Box<Divergence>> {
        let mut d = self.check(sa, ma, sb, mb, t, extra, memory)?;
        let mut r = String::new();
        r += "state before the block:\n";
        r += &compare::dump(before);
        r += "interpreter after:\n";
        r += &compare::dump(sa);
        r += "recompiler after:\n";
        r += &compare::dump(sb);
        r += "guest block:\n";
        r += &compare::disassemble(before, mb);
        r += &self
            .recomp
            .describe_last()
            .unwrap_or_else(|| "(the block was interpreted)\n".into());
        r += "history (oldest first):\n";
        for h in &self.history {
            r += &format!(
                "  {:04x}:{:08x} {} instructions{}{}\n",
                h.cs,
                h.eip,
                h.instructions,
                if h.translated { " (translated)" } else { "" },
                h.event.map(|v| format!(", event {v}")).unwrap_or_default()
            );
        }
        d.report = r;
        Some(d)
    }
}

/// A lockstep campaign over generated guests.
#[derive(Clone, Copy, Debug)]
pub struct Campaign {
    pub seed: u64,
    /// Random user-level programs, and their length in instructions.
    pub programs: u64,
    pub program_items: u32,
    /// Random machines, and the instructions each may run.
    pub machines: u64,
    pub machine_instructions: u64,
    /// Translate blocks after this many runs (1: at once).
    pub threshold: u32,
}

impl Campaign {
    /// The campaign CI runs (`cargo test -p lockstep`, and `ringvisor
    /// lockstep` without options): more than a million instructions in
    /// about 20 seconds.
    pub const CI: Campaign = Campaign {
        seed: 20261123,
        programs: 3000,
        program_items: 48,
        machines: 3000,
        machine_instructions: 2000,
        threshold: 1,
    };
}

/// What a campaign compared.
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    pub guests: u64,
    pub totals: Totals,
    /// Instructions of the user programs (the rest ran on random machines).
    pub program_instructions: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} guests, {} instructions compared ({} in user programs, {} on random machines) in {} steps ({} translated blocks), 0 divergences",
            self.guests,
            self.totals.instructions,
            self.program_instructions,
            self.totals.instructions - self.program_instructions,
            self.totals.steps,
            self.totals.translated_steps
        )
    }
}

/// Run a campaign; the first divergence ends it, with the guest that
/// showed it (replayable from its description).
pub fn campaign(c: &Campaign) -> Result<Report, (String, Box<Divergence>)> {
    let mut r = Report::default();
    let mut ls = Lockstep::new(c.threshold).map_err(|e| (format!("engine set-up: {e}"), no_divergence()))?;
    let add = |t: Totals, r: &mut Report| {
        r.guests += 1;
        r.totals.instructions += t.instructions;
        r.totals.steps += t.steps;
        r.totals.translated_steps += t.translated_steps;
    };
    for i in 0..c.programs {
        let seed = c.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i);
        let (mut sa, mut ma) = programs::user_program(seed, c.program_items);
        let (mut sb, mut mb) = programs::user_program(seed, c.program_items);
        let t = ls
            .run((&mut sa, &mut ma), (&mut sb, &mut mb), 100_000)
            .map_err(|d| (format!("user program, seed {seed}"), d))?;
        add(t, &mut r);
        r.program_instructions += t.instructions;
    }
    for i in 0..c.machines {
        let seed = c.seed.wrapping_mul(0xD1B5_4A32_D192_ED03).wrapping_add(i);
        let (mut sa, mut ma) = programs::random_machine(seed);
        let (mut sb, mut mb) = programs::random_machine(seed);
        let t = ls
            .run((&mut sa, &mut ma), (&mut sb, &mut mb), c.machine_instructions)
            .map_err(|d| (format!("random machine, seed {seed}"), d))?;
        add(t, &mut r);
    }
    Ok(r)
}

fn no_divergence() -> Box<Divergence> {
    Box::new(Divergence {
        instructions: 0,
        differences: Vec::new(),
        report: String::new(),
    })
}
