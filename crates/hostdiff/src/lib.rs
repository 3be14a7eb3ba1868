//! # hostdiff: the interpreter against the real CPU
//!
//! A differential test: random sequences of user-level integer
//! instructions run **natively** on the host CPU (through [`native32`],
//! 32-bit compatibility mode in a forked child) and in ringvisor's
//! **interpreter** from the same state, and the two results are compared:
//! registers, EFLAGS, selectors, memory, and for exceptions the vector,
//! error code, faulting EIP and CR2.
//!
//! - [`machine`]: the interpreter side — a guest in 32-bit protected mode
//!   with paging at CPL 3 that reproduces native32's address space and
//!   Linux's IDT privilege rules, with ring-0 handlers that catch every
//!   exception. Every program runs twice, one instruction per call and
//!   block by block ([`machine::Mode`]), so both execution paths of the
//!   interpreter are compared.
//! - [`program`]: the seeded program generator.
//! - [`compare`]: what is compared and how.
//! - [`undefined`]: where undefined results would be masked (nowhere
//!   today: the interpreter follows the AMD Zen host for all of them, see
//!   `docs/undefined.md`).
//!
//! [`run_random`] runs `count` programs from a seed and returns a
//! [`Report`]; the same seed gives the same programs on every build (a
//! divergence prints its program's own seed, which [`run_one`] replays).
//! [`run_case`] compares one hand-written case. The integration test
//! `tests/random.rs` runs 50,000 programs (`HOSTDIFF_SEED`,
//! `HOSTDIFF_COUNT` change that); `tests/regressions.rs` pins each
//! interpreter bug and undefined-result rule the test found.

#![forbid(unsafe_code)]

pub mod compare;
pub mod machine;
pub mod program;
pub mod rng;
pub mod undefined;

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use native32::{Case, Outcome};

/// Programs sent to native32 in one batch (one child process).
const BATCH: usize = 500;

/// One program on which host and interpreter disagreed.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The program's own seed ([`program::generate`] with it reproduces it).
    pub seed: u64,
    /// The case that was run.
    pub case: Case,
    /// Disassembly of the code.
    pub listing: String,
    /// What the host did.
    pub host: String,
    /// The host's registers at the end (or at the exception).
    pub host_regs: String,
    /// What the interpreter did.
    pub interp: String,
    /// The differences.
    pub diffs: Vec<String>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "program seed {:#018x}", self.seed)?;
        let s = &self.case.state;
        writeln!(
            f,
            "initial: eax={:08x} ecx={:08x} edx={:08x} ebx={:08x} esp={:08x} ebp={:08x} esi={:08x} edi={:08x} eflags={:08x}",
            s.gpr[0], s.gpr[1], s.gpr[2], s.gpr[3], s.gpr[4], s.gpr[5], s.gpr[6], s.gpr[7], s.eflags
        )?;
        write!(f, "{}", self.listing)?;
        writeln!(f, "host:        {}", self.host)?;
        writeln!(f, "host final:  {}", self.host_regs)?;
        writeln!(f, "interpreter: {}", self.interp)?;
        for d in &self.diffs {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// Totals of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Programs compared.
    pub sequences: usize,
    /// Instructions under test in them (static count, set-up excluded).
    pub tested: usize,
    /// Instructions the interpreter executed (set-up included).
    pub executed: u64,
    /// Programs that ended with an exception (on the host).
    pub exceptions: usize,
    /// Those exceptions by vector.
    pub by_vector: std::collections::BTreeMap<u8, usize>,
    /// The programs on which host and interpreter disagreed.
    pub divergences: Vec<Divergence>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sequences, {} instructions under test, {} executed by the interpreter, {} ended in an exception, {} divergences",
            self.sequences,
            self.tested,
            self.executed,
            self.exceptions,
            self.divergences.len()
        )?;
        let v: Vec<String> = self.by_vector.iter().map(|(v, n)| format!("#{v}: {n}")).collect();
        write!(f, " (exceptions by vector: {})", v.join(", "))
    }
}

/// Disassembly of `code` at [`native32::CODE_BASE`], one instruction per
/// line.
pub fn listing(code: &[u8]) -> String {
    let mut d = Decoder::with_ip(32, code, u64::from(native32::CODE_BASE), DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    for i in &mut d {
        text.clear();
        fmt.format(&i, &mut text);
        let start = (i.ip() - u64::from(native32::CODE_BASE)) as usize;
        let bytes: String = code[start..start + i.len()].iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("  {:08x}  {bytes:<24} {text}\n", i.ip()));
    }
    out
}

/// The seed of program `index` of a run seeded with `seed`.
pub fn program_seed(seed: u64, index: u64) -> u64 {
    let mut r = rng::Rng::new(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
    r.next_u64()
}

/// Compares one program, run in the interpreter both one instruction at a
/// time and block by block ([`machine::Mode`]); `None` when host and
/// interpreter agree.
pub fn check(seed: u64, prog: &program::Program, host: &Outcome, report: &mut Report) -> Option<Divergence> {
    report.sequences += 1;
    report.tested += prog.tested;
    if let Outcome::Exception { fault, .. } = host {
        report.exceptions += 1;
        *report.by_vector.entry(fault.vector).or_default() += 1;
    }
    let mask = prog.undefined_flags | compare::vendor_flag_mask(&prog.case, host);
    let mut run = None;
    let mut diffs = Vec::new();
    for mode in [machine::Mode::Step, machine::Mode::Block] {
        let r = machine::run_interp_mode(&prog.case, machine::DEFAULT_STEP_BUDGET, mode);
        if mode == machine::Mode::Step {
            report.executed += r.steps;
        }
        let d = compare::compare(host, &r.outcome, mask);
        if !d.is_empty() {
            diffs = d.into_iter().map(|x| format!("[{mode:?}] {x}")).collect();
            run = Some(r);
            break;
        }
    }
    let run = run?;
    Some(Divergence {
        seed,
        case: prog.case.clone(),
        listing: listing(&prog.case.code),
        host: compare::describe(host),
        host_regs: host
            .snapshot()
            .map(|s| {
                let g = &s.state.gpr;
                format!(
                    "eax={:08x} ecx={:08x} edx={:08x} ebx={:08x} esp={:08x} ebp={:08x} esi={:08x} edi={:08x} eflags={:08x}",
                    g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], s.state.eflags
                )
            })
            .unwrap_or_default(),
        interp: compare::describe(&run.outcome),
        diffs,
    })
}

/// Runs `count` random programs of 1..=`max_items` items each, from
/// `seed`, on the host and in the interpreter, and compares them.
pub fn run_random(seed: u64, count: usize, max_items: u32) -> Result<Report, native32::Error> {
    let mut report = Report::default();
    let mut index = 0u64;
    while (index as usize) < count {
        let n = BATCH.min(count - index as usize);
        let seeds: Vec<u64> = (0..n as u64).map(|k| program_seed(seed, index + k)).collect();
        let progs: Vec<program::Program> = seeds.iter().map(|&s| program::generate(s, max_items)).collect();
        let cases: Vec<Case> = progs.iter().map(|p| p.case.clone()).collect();
        let host = native32::run_batch(&cases)?;
        for ((s, p), h) in seeds.iter().zip(&progs).zip(&host) {
            if let Some(d) = check(*s, p, h, &mut report) {
                report.divergences.push(d);
            }
        }
        index += n as u64;
    }
    Ok(report)
}

/// Runs one case on the host and in the interpreter; returns both
/// outcomes and their differences (empty when they agree), masking only
/// the vendor differences of [`compare::vendor_flag_mask`].
pub fn run_case(case: &Case) -> Result<(Outcome, Outcome, Vec<String>), native32::Error> {
    let host = native32::run_batch(std::slice::from_ref(case))?.remove(0);
    let mask = compare::vendor_flag_mask(case, &host);
    let interp = machine::run_interp(case, machine::DEFAULT_STEP_BUDGET).outcome;
    let mut diffs = compare::compare(&host, &interp, mask);
    if diffs.is_empty() {
        let blocks = machine::run_interp_mode(case, machine::DEFAULT_STEP_BUDGET, machine::Mode::Block);
        diffs = compare::compare(&host, &blocks.outcome, mask)
            .into_iter()
            .map(|x| format!("[Block] {x}"))
            .collect();
    }
    Ok((host, interp, diffs))
}

/// Runs one program (by its own seed) and returns the divergence, if any.
pub fn run_one(program_seed: u64, max_items: u32) -> Result<Option<Divergence>, native32::Error> {
    let prog = program::generate(program_seed, max_items);
    let host = native32::run_batch(std::slice::from_ref(&prog.case))?;
    let mut report = Report::default();
    Ok(check(program_seed, &prog, &host[0], &mut report))
}
