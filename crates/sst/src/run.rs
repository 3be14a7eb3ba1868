//! Running cases and comparing the results.

use crate::SstError;
use crate::case::{self, Case, Metadata, OpInfo, Regs};
use crate::rules::{self, Chip, Verdict};
use cpu::state::{reg, sreg};
use cpu::{CpuState, Exit, Interpreter, NullBus};
use memory::GuestMemory;
use std::path::Path;

/// Result of one file.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The first few failures, described.
    pub failures: Vec<String>,
    /// Skip counts per rule.
    pub skips: Vec<(&'static str, usize)>,
}

/// Result of a directory.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.files.iter().map(|f| f.passed).sum()
    }
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failed).sum()
    }
    pub fn skipped(&self) -> usize {
        self.files.iter().map(|f| f.skipped).sum()
    }
    /// Skip counts per rule over all files.
    pub fn skips_by_rule(&self) -> Vec<(&'static str, usize)> {
        let mut v: Vec<(&'static str, usize)> = Vec::new();
        for f in &self.files {
            for (r, n) in &f.skips {
                match v.iter_mut().find(|(x, _)| x == r) {
                    Some(e) => e.1 += n,
                    None => v.push((r, *n)),
                }
            }
        }
        v
    }
}

/// Run every `*.json.gz` of `dir` (sorted by name) whose stem starts with
/// `filter` (empty: all).
pub fn run_dir(dir: &Path, chip: Chip, filter: &str) -> Result<Report, SstError> {
    let meta = Metadata::load(dir)?;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| SstError::Io {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(SstError::Empty(dir.display().to_string()));
    }
    let mut rig = Rig::new(chip);
    let mut report = Report::default();
    for path in names {
        let stem = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".json.gz").to_string())
            .unwrap_or_default();
        if !stem.starts_with(filter) {
            continue;
        }
        report.files.push(run_file_with(&mut rig, &path, &stem, &meta)?);
    }
    Ok(report)
}

/// Run one file with the metadata of its directory.
pub fn run_file(path: &Path, chip: Chip) -> Result<FileReport, SstError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let meta = Metadata::load(dir)?;
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".json.gz").to_string())
        .unwrap_or_default();
    run_file_with(&mut Rig::new(chip), path, &stem, &meta)
}

fn run_file_with(rig: &mut Rig, path: &Path, stem: &str, meta: &Metadata) -> Result<FileReport, SstError> {
    let cases = case::load(path)?;
    let mut fr = FileReport {
        name: stem.to_string(),
        ..FileReport::default()
    };
    let file_info = meta.info(stem);
    for c in &cases {
        let info = &case_info(&file_info, c);
        match rules::before(rig.chip, stem, info, c) {
            Verdict::Skip(rule) => {
                fr.skip(rule);
                continue;
            }
            Verdict::Run => {}
        }
        let got = rig.run(c);
        let diffs = compare(rig.chip, info, c, &got);
        if diffs.is_empty() {
            fr.passed += 1;
        } else if let Some(rule) = rules::after(rig.chip, stem, c, &got, &diffs) {
            fr.skip(rule);
        } else {
            fr.failed += 1;
            if fr.failures.len() < 5 {
                fr.failures.push(format!(
                    "{} [{}] ({}): {}",
                    c.name,
                    hex(&c.bytes),
                    &c.hash[..c.hash.len().min(12)],
                    diffs.join(", ")
                ));
            }
        }
    }
    Ok(fr)
}

impl FileReport {
    fn skip(&mut self, rule: &'static str) {
        self.skipped += 1;
        match self.skips.iter_mut().find(|(r, _)| *r == rule) {
            Some(e) => e.1 += 1,
            None => self.skips.push((rule, 1)),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect::<Vec<_>>().join(" ")
}

/// Metadata for a case: a file holding a whole group opcode (no `.N` in
/// its name) takes the entry of the case's ModRM reg field.
fn case_info(file: &OpInfo, c: &Case) -> OpInfo {
    if file.reg.is_empty() {
        return file.clone();
    }
    let op_at = c
        .bytes
        .iter()
        .position(|b| !matches!(b, 0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF2 | 0xF3))
        .unwrap_or(0);
    let reg = c.bytes.get(op_at + 1).map(|m| ((m >> 3) & 7).to_string()).unwrap_or_default();
    file.reg.get(&reg).cloned().unwrap_or_else(|| file.clone())
}

/// What the interpreter produced for a case.
pub struct Got {
    pub regs: [u16; 14],
    pub ram: Vec<(u32, u8)>,
    pub exit: Exit,
    /// Vector of the last exception or interrupt the interpreter delivered.
    pub vector: Option<u8>,
}

/// Register order used by `Got::regs`.
pub const NAMES: [&str; 14] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];

fn reg_list(r: &Regs) -> [Option<u16>; 14] {
    [
        r.ax, r.bx, r.cx, r.dx, r.cs, r.ss, r.ds, r.es, r.sp, r.bp, r.si, r.di, r.ip, r.flags,
    ]
}

/// A reusable machine: 2 MiB of RAM and an interpreter.
struct Rig {
    chip: Chip,
    mem: GuestMemory,
    interp: Interpreter,
    dirty: Vec<u32>,
}

impl Rig {
    fn new(chip: Chip) -> Self {
        // Two MiB hold every address the vectors use (up to 0x10FFEF).
        let mem = GuestMemory::new(2 << 20).expect("2 MiB of guest RAM");
        Self {
            chip,
            mem,
            interp: Interpreter::new(),
            dirty: Vec::new(),
        }
    }

    fn run(&mut self, c: &Case) -> Got {
        for a in self.dirty.drain(..) {
            self.mem.write_phys(a as u64, &[0]);
        }
        for &(a, b) in &c.initial.ram {
            self.mem.write_phys(a as u64, &[b]);
            self.dirty.push(a);
        }
        for &(a, _) in &c.fin.ram {
            self.dirty.push(a);
        }
        let mut s = CpuState::reset();
        let init = reg_list(&c.initial.regs);
        let v = |i: usize| init[i].unwrap_or(0);
        s.gpr[reg::EAX] = v(0) as u32;
        s.gpr[reg::EBX] = v(1) as u32;
        s.gpr[reg::ECX] = v(2) as u32;
        s.gpr[reg::EDX] = v(3) as u32;
        s.gpr[reg::ESP] = v(8) as u32;
        s.gpr[reg::EBP] = v(9) as u32;
        s.gpr[reg::ESI] = v(10) as u32;
        s.gpr[reg::EDI] = v(11) as u32;
        for (idx, i) in [(sreg::CS, 4), (sreg::SS, 5), (sreg::DS, 6), (sreg::ES, 7)] {
            s.seg[idx].load_real(v(i));
        }
        s.eip = v(12) as u32;
        s.set_eflags(rules::initial_flags(self.chip, v(13)) as u32);
        s.set_a20(self.chip != Chip::I8086);
        self.interp.flush();
        let mut bus = NullBus::default();
        // 80286 vectors end with a HLT (after the instruction, or at the
        // jump target or handler) and record the state after it; 8086
        // vectors record the state after the one instruction.
        let exit = if self.chip == Chip::I80286 {
            self.interp.run(&mut s, &mut self.mem, &mut bus, 64)
        } else {
            // A repeated string instruction re-executes itself in chunks;
            // run it until EIP leaves it.
            let start = (s.seg[sreg::CS].selector, s.eip);
            let rep_string = c.bytes.iter().any(|b| matches!(b, 0xF2 | 0xF3));
            let mut exit = Exit::Budget;
            for _ in 0..if rep_string { 256 } else { 1 } {
                exit = self.interp.run(&mut s, &mut self.mem, &mut bus, 1);
                if (s.seg[sreg::CS].selector, s.eip) != start || exit != Exit::Budget {
                    break;
                }
            }
            exit
        };
        let regs = [
            s.gpr[reg::EAX] as u16,
            s.gpr[reg::EBX] as u16,
            s.gpr[reg::ECX] as u16,
            s.gpr[reg::EDX] as u16,
            s.seg[sreg::CS].selector,
            s.seg[sreg::SS].selector,
            s.seg[sreg::DS].selector,
            s.seg[sreg::ES].selector,
            s.gpr[reg::ESP] as u16,
            s.gpr[reg::EBP] as u16,
            s.gpr[reg::ESI] as u16,
            s.gpr[reg::EDI] as u16,
            s.eip as u16,
            s.eflags() as u16,
        ];
        let ram = c.fin.ram.iter().map(|&(a, _)| (a, self.mem.read_u8(a as u64))).collect();
        Got {
            regs,
            ram,
            exit,
            vector: self.interp.stats.first_vector,
        }
    }
}

/// Differences between what the chip did and what the interpreter did,
/// after the masks of the rules.
fn compare(chip: Chip, info: &OpInfo, c: &Case, got: &Got) -> Vec<String> {
    let mut diffs = Vec::new();
    let init = reg_list(&c.initial.regs);
    let fin = reg_list(&c.fin.regs);
    for i in 0..14 {
        let Some(expected) = fin[i].or(init[i]) else {
            continue;
        };
        let (e, g) = if i == 13 {
            let m = rules::flags_compare_mask(chip, info);
            (expected & m, got.regs[i] & m)
        } else {
            (expected, got.regs[i])
        };
        if e != g {
            diffs.push(format!("{} {:04X} != {:04X}", NAMES[i], g, e));
        }
    }
    let masks = rules::ram_masks(chip, info, c);
    for (k, &(a, e)) in c.fin.ram.iter().enumerate() {
        let g = got.ram[k].1;
        let m = masks.iter().find(|(addr, _)| *addr == a).map(|x| x.1).unwrap_or(0xFF);
        if g & m != e & m {
            diffs.push(format!("[{a:05X}] {g:02X} != {e:02X}"));
        }
    }
    if got.exit == Exit::Shutdown {
        diffs.push("shutdown".into());
    }
    diffs
}
