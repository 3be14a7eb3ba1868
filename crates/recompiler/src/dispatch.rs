//! The recompiler's run loop: find or make the translation for CS:EIP and
//! run it; interpret cold blocks and the instructions that must run alone.

use crate::block;
use crate::codebuf::CodeBuf;
use crate::emit::{self, Targets};
use crate::frame::Frame;
use crate::mode;
use crate::runtime::{self, Enter, exit};
use cpu::interp::insn::Insn;
use cpu::interp::{Events, events, needs_single_step};
use cpu::mmu::{Intent, Tlb};
use cpu::state::sreg;
use cpu::{Bus, CpuState, Ctx, Engine, Exit, Interpreter};
use memory::GuestMemory;
use std::collections::HashMap;

/// Size of the code buffer; when full, every translation is dropped.
const CODE_SIZE: usize = 64 << 20;
/// Blocks run this often in the interpreter before they are translated.
pub const DEFAULT_THRESHOLD: u32 = 8;

/// What identifies a translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    phys: u32,
    eip: u32,
    mode: u32,
}

struct Translation {
    key: Key,
    /// Address of the code.
    code: usize,
    /// Length of the guest code in bytes (for the CS limit check).
    bytes: u32,
    /// The instructions helper calls refer to (their addresses are baked
    /// into the code, so they live as long as it does).
    _insns: Box<[Insn]>,
}

/// Counters for statistics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub instructions: u64,
    pub translated_instructions: u64,
    pub interpreted_instructions: u64,
    pub blocks_translated: u64,
    pub code_bytes: u64,
    pub cache_flushes: u64,
    pub invalidated_pages: u64,
}

pub struct Recompiler {
    pub tlb: Tlb,
    interp: Interpreter,
    code: CodeBuf,
    enter: Enter,
    leave: usize,
    trampoline_len: usize,
    trans: Vec<Translation>,
    index: HashMap<Key, usize>,
    by_page: HashMap<u32, Vec<Key>>,
    hot: HashMap<Key, u32>,
    threshold: u32,
    cursor: memory::Cursor,
    map_generation: u64,
    pub stats: Stats,
}

impl Recompiler {
    /// A recompiler that translates blocks once they ran `threshold` times
    /// (0 or 1: at once).
    pub fn new(threshold: u32) -> std::io::Result<Self> {
        let mut code = CodeBuf::new(CODE_SIZE)?;
        let base = code.next_addr();
        let (tramp, leave_off) = runtime::trampoline(base);
        let at = code
            .push(&tramp)
            .ok_or_else(|| std::io::Error::other("code buffer too small"))?;
        // SAFETY: `at` is the start of the trampoline just written, which
        // follows the `Enter` signature (System V: frame in RDI, code
        // address in RSI, exit code returned in EAX, callee-saved registers
        // preserved).
        let enter: Enter = unsafe { std::mem::transmute::<usize, Enter>(at) };
        Ok(Self {
            tlb: Tlb::default(),
            interp: Interpreter::new(),
            trampoline_len: tramp.len(),
            code,
            enter,
            leave: at + leave_off,
            trans: Vec::new(),
            index: HashMap::new(),
            by_page: HashMap::new(),
            hot: HashMap::new(),
            threshold,
            cursor: memory::Cursor::default(),
            map_generation: 0,
            stats: Stats::default(),
        })
    }

    /// Drop every translation.
    pub fn flush(&mut self) {
        self.trans.clear();
        self.index.clear();
        self.by_page.clear();
        self.hot.clear();
        // Everything after the trampoline, which stays in place.
        self.code.truncate(self.trampoline_len);
        self.stats.cache_flushes += 1;
    }

    fn invalidate_page(&mut self, page: u32) {
        if let Some(keys) = self.by_page.remove(&page) {
            for k in keys {
                if let Some(i) = self.index.remove(&k) {
                    // Leave the slot (its code stays in the buffer until
                    // the next flush); mark it dead by an impossible key.
                    self.trans[i].key = Key {
                        phys: u32::MAX,
                        eip: u32::MAX,
                        mode: u32::MAX,
                    };
                }
                self.hot.remove(&k);
            }
            self.stats.invalidated_pages += 1;
        }
    }

    fn sync(&mut self, c: &mut Ctx) {
        if c.mem.code.has_news(&self.cursor) {
            let mut pages = Vec::new();
            let all = match c.mem.code.read(&mut self.cursor) {
                memory::Invalidations::Pages(p) => {
                    pages.extend_from_slice(p);
                    false
                }
                memory::Invalidations::All => true,
            };
            if all {
                self.flush();
            } else {
                for p in pages {
                    self.invalidate_page(p);
                }
            }
        }
        if c.mem.map.generation() != self.map_generation {
            self.map_generation = c.mem.map.generation();
            self.flush();
            c.tlb.flush_all();
        }
    }

    /// Translate the block at `phys` for `key`; its index.
    fn translate(&mut self, c: &mut Ctx, key: Key) -> Option<usize> {
        let code32 = key.mode & mode::CODE32 != 0;
        let block = block::read(c, key.phys, key.eip, code32)?;
        let insns: Box<[Insn]> = block.insns.iter().map(|(i, _)| *i).collect();
        let targets = Targets { leave: self.leave };
        let mut code = emit::translate(&block, &insns, self.code.next_addr(), &targets);
        if code.len() > self.code.remaining() {
            self.flush();
            code = emit::translate(&block, &insns, self.code.next_addr(), &targets);
        }
        let at = self.code.push(&code)?;
        self.stats.blocks_translated += 1;
        self.stats.code_bytes += code.len() as u64;
        let i = self.trans.len();
        self.trans.push(Translation {
            key,
            code: at,
            bytes: block.bytes,
            _insns: insns,
        });
        self.index.insert(key, i);
        self.by_page.entry(key.phys >> 12).or_default().push(key);
        Some(i)
    }

    /// Run translation `i`; returns the exit code and instructions retired.
    fn execute(&mut self, c: &mut Ctx, i: usize, budget: i64) -> (u32, u64, i64) {
        if self.code.executable().is_err() {
            return (exit::BUDGET, 0, budget);
        }
        let user = c.user() as usize;
        let mut frame = Frame {
            state: &mut *c.s as *mut CpuState,
            ram: c.mem.ram.bytes_mut().as_mut_ptr(),
            tlb: c.tlb.sets[user].as_ptr(),
            ctx: c as *mut Ctx as *mut u8,
            budget,
            retired: 0,
        };
        let code = self.trans[i].code;
        // SAFETY: `code` is the entry of a live translation in the code
        // buffer, made executable above; the frame's pointers come from
        // the `Ctx` that is not used again until the call returns (see the
        // `runtime` module for the rule).
        let r = unsafe { (self.enter)(&mut frame, code) };
        (r, frame.retired, frame.budget)
    }

    fn run_loop(&mut self, c: &mut Ctx, budget: u64) -> Exit {
        let mut left = budget as i64;
        loop {
            self.sync(c);
            match events(c) {
                Events::Exit(e) => return e,
                Events::Delivered => continue,
                Events::None => {}
            }
            if left <= 0 {
                return Exit::Budget;
            }
            if needs_single_step(c) || left < block::MAX_INSNS as i64 {
                let n = self.interp.step_in(c, true);
                self.stats.interpreted_instructions += n;
                left -= n.max(1) as i64;
                continue;
            }
            let Some(i) = self.find(c) else {
                let n = self.interp.step_in(c, false);
                self.stats.interpreted_instructions += n;
                left -= n.max(1) as i64;
                continue;
            };
            let (code, retired, rest) = self.execute(c, i, left);
            self.stats.translated_instructions += retired;
            left = rest;
            if code == exit::BUDGET {
                // Not enough budget for the whole block: finish exactly in
                // the interpreter.
                let n = self.interp.step_in(c, true);
                self.stats.interpreted_instructions += n;
                left -= n.max(1) as i64;
            }
        }
    }

    /// The translation for CS:EIP, making it if the block is hot; `None`
    /// to interpret this block (cold, untranslatable, or a fetch fault the
    /// interpreter will raise).
    fn find(&mut self, c: &mut Ctx) -> Option<usize> {
        let cs = &c.s.seg[sreg::CS];
        let eip = c.s.eip;
        if !cs.within_limit(eip, 1) {
            return None;
        }
        let lin = cs.base().wrapping_add(eip);
        let user = c.user();
        let phys = c.translate(lin, Intent::Fetch, user).ok()?;
        let key = Key {
            phys,
            eip,
            mode: mode::current(c.s),
        };
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let n = self.hot.entry(key).or_insert(0);
                *n += 1;
                if *n < self.threshold {
                    return None;
                }
                self.hot.remove(&key);
                self.translate(c, key)?
            }
        };
        c.s.seg[sreg::CS]
            .within_limit(eip, self.trans[i].bytes)
            .then_some(i)
    }
}

impl Engine for Recompiler {
    fn name(&self) -> &'static str {
        "recompiler"
    }

    fn run(
        &mut self,
        cpu: &mut CpuState,
        mem: &mut GuestMemory,
        bus: &mut dyn Bus,
        budget: u64,
    ) -> Exit {
        let mut tlb = std::mem::take(&mut self.tlb);
        let exit = {
            let mut c = Ctx::new(cpu, mem, bus, &mut tlb);
            self.run_loop(&mut c, budget)
        };
        self.tlb = tlb;
        self.stats.instructions =
            self.stats.translated_instructions + self.stats.interpreted_instructions;
        exit
    }

    fn state_changed(&mut self) {
        self.tlb.flush_all();
    }

    fn instructions(&self) -> u64 {
        self.stats.translated_instructions + self.stats.interpreted_instructions
    }
}
