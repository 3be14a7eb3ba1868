//! The recompiler's run loop: find or make the translation for CS:EIP and
//! run it; interpret cold blocks and the instructions that must run alone.

use crate::block;
use crate::codebuf::CodeBuf;
use crate::deferred;
use crate::emit::{self, Slots, Targets};
use crate::frame::{Frame, NO_SLOT};
use crate::jumpcache::{self, JumpCache};
use crate::mode;
use crate::runtime::{self, Enter, exit};
use crate::thunks::{self, Thunks};
use cpu::interp::insn::Insn;
use cpu::interp::{Events, events, needs_single_step};
use cpu::mmu::{Intent, Tlb};
use cpu::state::sreg;
use cpu::{Bus, CpuState, Ctx, Engine, Exit, Interpreter};
use memory::GuestMemory;
use std::collections::HashMap;

/// Size of the code buffer; when full, every translation is dropped.
const CODE_SIZE: usize = 64 << 20;
/// Chain slots (one word each); when all are used, everything is dropped.
const SLOTS: usize = 1 << 18;
/// Inline caches of exits through the jump cache (16 bytes each); when
/// all are used, new exits go without one until the next flush.
const INLINES: usize = 1 << 17;

/// How far past its budget a run may go: a block never retires more than
/// this, so with this slack every block that starts with budget left can
/// run whole.
const OVERSHOOT: i64 = block::MAX_INSNS as i64;

/// What identifies a translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    phys: u32,
    eip: u32,
    mode: u32,
}

struct Translation {
    key: Key,
    /// Address of the code, and its length.
    code: usize,
    code_len: usize,
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
    /// Instructions translated inline / as handler calls (static counts).
    pub inline_instructions: u64,
    pub fallback_instructions: u64,
    pub code_bytes: u64,
    pub cache_flushes: u64,
    /// Times translated code was entered from the dispatcher, and chain
    /// slots patched to go straight to the next block.
    pub entries: u64,
    pub chains: u64,
    pub invalidated_pages: u64,
    /// Host time spent translating.
    pub translate_ns: u64,
}

pub struct Recompiler {
    /// Boxed so that a run can lend it to the `Ctx` by moving a pointer
    /// (`None` meanwhile): the TLB is tens of KiB, and moving it in and
    /// out at every run cost several percent of the guest's time.
    pub tlb: Option<Box<Tlb>>,
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
    /// Chain slots: the executable address of each chainable exit's jump
    /// displacement (see `emit::Slots`).
    slots: Box<[usize]>,
    /// The exits' inline caches (see `jumpcache::Inline`), read and
    /// filled by generated code (hence cells), and the next free one (0
    /// is a sink).
    inline: Box<[std::cell::Cell<jumpcache::Inline>]>,
    next_inline: u32,
    /// The load sites' page memos (see `memo`), and the guest RAM (host
    /// address, size) they were filled from.
    memos: crate::memo::Memos,
    ram: (usize, u64),
    /// CS base and limit when translated code last ran: inline caches
    /// compare only the EIP, so a change starts a new epoch.
    last_cs: (u32, u32),
    /// For each slot, the page and mode of the block it belongs to and the
    /// EIP it leaves for: only a block with the same page, mode and EIP may
    /// be chained to it (whatever ran in between, e.g. an interrupt).
    slot_owner: Vec<(u32, u32, u32)>,
    next_slot: u32,
    /// The slot the last block left through, to patch once the next block
    /// is known.
    pending_chain: Option<u32>,
    /// Lockstep mode: return after every block (translated or
    /// interpreted), and never chain blocks.
    pub single_block: bool,
    /// The translation run last (for diagnostics).
    last_translation: Option<usize>,
    /// Vector of the first event delivered in the last run.
    pub first_vector: Option<u8>,
    pub stats: Stats,
    /// Handler calls from translated code by iced `Code`; empty unless
    /// [`Recompiler::enable_stats`].
    fallbacks: Vec<u64>,
    /// `/tmp/perf-PID.map`, when `RINGVISOR_PERF_MAP` is set: names every
    /// translation after its guest block, so `perf report` on the host
    /// shows which guest code the time goes to.
    perf_map: Option<std::io::LineWriter<std::fs::File>>,
    /// `RINGVISOR_DUMP_EIP`: print the host code of translations of the
    /// block at this EIP (for studying generated code).
    dump_eip: Option<u32>,
    jc: JumpCache,
    /// Address of the jump-cache lookup stub.
    lookup: usize,
    thunks: Thunks,
}

impl Recompiler {
    /// A recompiler that translates blocks once they ran `threshold` times
    /// (0 or 1: at once).
    pub fn new(threshold: u32) -> std::io::Result<Self> {
        let mut code = CodeBuf::new(CODE_SIZE)?;
        let base = code.next_addr();
        let (tramp, leave_off) = runtime::trampoline(base);
        let at = code.push(&tramp).ok_or_else(|| std::io::Error::other("code buffer too small"))?;
        // SAFETY: `at` is the start of the trampoline just written, which
        // follows the `Enter` signature (System V: frame in RDI, code
        // address in RSI, exit code returned in EAX, callee-saved registers
        // preserved).
        let enter: Enter = unsafe { std::mem::transmute::<usize, Enter>(at) };
        let leave = at + leave_off;
        let jc = JumpCache::new();
        let lookup = code.next_addr();
        let stub = jumpcache::stub(lookup, jc.addr(), leave);
        code.push(&stub).ok_or_else(|| std::io::Error::other("code buffer too small"))?;
        let (thunk_code, thunks) = thunks::assemble(code.next_addr());
        code.push(&thunk_code)
            .ok_or_else(|| std::io::Error::other("code buffer too small"))?;
        let fixed_len = code.used();
        let mut perf_map = std::env::var_os("RINGVISOR_PERF_MAP").and_then(|_| {
            let path = format!("/tmp/perf-{}.map", std::process::id());
            std::fs::File::create(&path)
                .map_err(|e| tracing::warn!("cannot create {path}: {e}"))
                .ok()
                .map(std::io::LineWriter::new)
        });
        if let Some(f) = &mut perf_map {
            use std::io::Write;
            let thunks_at = lookup + stub.len();
            for (name, start, len) in [
                ("trampoline", at, lookup - at),
                ("jump-cache lookup", lookup, stub.len()),
                ("slow-path thunks", thunks_at, thunk_code.len()),
            ] {
                let _ = writeln!(f, "{start:x} {len:x} {name}");
            }
        }
        Ok(Self {
            tlb: Some(Box::default()),
            interp: Interpreter::new(),
            trampoline_len: fixed_len,
            code,
            enter,
            leave,
            trans: Vec::new(),
            index: HashMap::new(),
            by_page: HashMap::new(),
            hot: HashMap::new(),
            threshold,
            cursor: memory::Cursor::default(),
            map_generation: 0,
            slots: vec![0usize; SLOTS].into_boxed_slice(),
            inline: (0..INLINES).map(|_| std::cell::Cell::new(jumpcache::Inline::EMPTY)).collect(),
            next_inline: 1,
            memos: crate::memo::Memos::new(),
            ram: (0, 0),
            last_cs: (0, 0),
            slot_owner: vec![(0, 0, 0); SLOTS],
            next_slot: 0,
            pending_chain: None,
            single_block: false,
            last_translation: None,
            first_vector: None,
            stats: Stats::default(),
            fallbacks: Vec::new(),
            perf_map,
            dump_eip: std::env::var("RINGVISOR_DUMP_EIP")
                .ok()
                .and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok()),
            jc,
            lookup,
            thunks,
        })
    }

    /// Count the instructions translated code hands to interpreter
    /// handlers, by instruction (for `--stats`).
    pub fn enable_stats(&mut self) {
        self.fallbacks = vec![0; iced_x86::Code::values().len()];
    }

    /// Drop every translation and every cached address translation.
    pub fn flush(&mut self) {
        if let Some(t) = &mut self.tlb {
            t.flush_all();
        }
        self.interp.flush();
        self.trans.clear();
        self.index.clear();
        self.by_page.clear();
        self.hot.clear();
        // Everything after the trampoline, which stays in place.
        self.code.truncate(self.trampoline_len);
        self.next_slot = 0;
        self.pending_chain = None;
        self.jc.clear();
        // The code the inline caches point to is gone.
        self.jc.new_epoch();
        self.clear_inline_caches();
        self.next_inline = 1;
        self.memos.reset();
        self.stats.cache_flushes += 1;
    }

    fn clear_inline_caches(&mut self) {
        for c in self.inline.iter() {
            c.set(jumpcache::Inline::EMPTY);
        }
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
            self.jc.clear();
            self.stats.invalidated_pages += 1;
        }
    }

    fn sync(&mut self, c: &mut Ctx) {
        if c.tlb.flushes != self.jc.tlb_flushes {
            let log = c.tlb.log.take();
            // Memos cache TLB entries (see `memo`): a CR3 load with PGE
            // keeps global pages, everything else may not.
            self.memos.flushed(log.everything || !log.pages().is_empty() || !log.non_global);
            self.jc.forget(&log);
            self.jc.tlb_flushes = c.tlb.flushes;
        }
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
        let t0 = std::time::Instant::now();
        let r = self.translate_inner(c, key);
        let ns = t0.elapsed().as_nanos() as u64;
        self.stats.translate_ns += ns;
        c.bus.stall(ns);
        r
    }

    fn translate_inner(&mut self, c: &mut Ctx, key: Key) -> Option<usize> {
        let code32 = key.mode & mode::CODE32 != 0;
        let block = match block::read(c, key.phys, key.eip, code32)? {
            block::Read::Block(b) => b,
            // No instructions: `translate_crossing` below.
            block::Read::Crossing => block::GuestBlock {
                insns: Vec::new(),
                eip: key.eip,
                bytes: 1,
            },
        };
        let insns: Box<[Insn]> = block.insns.iter().map(|(i, _)| *i).collect();
        let targets = Targets {
            leave: self.leave,
            lookup: self.lookup,
            thunks: self.thunks,
            direct: mode::direct(key.mode, c.mem.map.fast_range(), c.mem.ram.size()),
            loops: !self.single_block,
        };
        // Room for a block's exits, or start over.
        if self.next_slot as usize + 4 > SLOTS || self.code.remaining() < 64 << 10 {
            self.flush();
        }
        let mut slots = Slots {
            next: &mut self.next_slot,
            cap: SLOTS as u32,
            used: Vec::new(),
            inline_base: self.inline.as_ptr() as usize,
            inline_next: &mut self.next_inline,
            inline_cap: INLINES as u32,
            memos: self.memos.alloc(),
            memo_sites: Vec::new(),
        };
        let (code, made) = if block.insns.is_empty() {
            (
                emit::translate_crossing(key.eip, key.mode, self.code.next_addr(), &targets, &mut slots),
                emit::Made::default(),
            )
        } else {
            emit::translate(&block, &insns, key.mode, self.code.next_addr(), &targets, &mut slots)
        };
        let used = std::mem::take(&mut slots.used);
        self.memos.commit(slots.memos, &slots.memo_sites);
        self.stats.inline_instructions += made.inline as u64;
        self.stats.fallback_instructions += made.fallback as u64;
        let at = self.code.push(&code)?;
        for (slot, target, miss) in used {
            // The jump's displacement: the 4 bytes before its miss stub.
            self.slots[slot as usize] = at + miss - 4;
            self.slot_owner[slot as usize] = (key.phys >> 12, key.mode, target);
        }
        self.stats.blocks_translated += 1;
        self.stats.code_bytes += code.len() as u64;
        if let Some(f) = &mut self.perf_map {
            use iced_x86::Formatter;
            use std::io::Write;
            let mut fmt = iced_x86::IntelFormatter::new();
            let mut text = String::from(if block.insns.is_empty() { "(crosses the page end)" } else { "" });
            for (_, ins) in &block.insns {
                fmt.format(ins, &mut text);
                text.push_str(" | ");
            }
            let _ = writeln!(
                f,
                "{at:x} {:x} eip {:08x} phys {:08x} mode {:x}: {text}",
                code.len(),
                key.eip,
                key.phys,
                key.mode
            );
        }
        let i = self.trans.len();
        self.trans.push(Translation {
            key,
            code: at,
            code_len: code.len(),
            bytes: block.bytes,
            _insns: insns,
        });
        self.index.insert(key, i);
        if self.dump_eip == Some(key.eip) {
            let saved = self.last_translation.replace(i);
            if let Some(d) = self.describe_last() {
                eprintln!("{d}");
            }
            self.last_translation = saved;
        }
        self.by_page.entry(key.phys >> 12).or_default().push(key);
        Some(i)
    }

    /// Run translation `i`; returns the exit code and instructions retired.
    fn execute(&mut self, c: &mut Ctx, i: usize, budget: i64) -> (u32, u64, i64) {
        if self.code.executable().is_err() {
            return (exit::BUDGET, 0, budget);
        }
        let user = c.user() as usize;
        let cs = &c.s.seg[sreg::CS];
        if (cs.base(), cs.limit()) != self.last_cs {
            self.last_cs = (cs.base(), cs.limit());
            self.jc.new_epoch();
        }
        if std::mem::take(&mut self.jc.wrapped) {
            self.clear_inline_caches();
        }
        let mut frame = Frame {
            state: &mut *c.s as *mut CpuState,
            ram: c.mem.ram.bytes_mut().as_mut_ptr(),
            tlb: c.tlb.sets[user].as_ptr(),
            ctx: c as *mut Ctx as *mut u8,
            budget,
            retired: 0,
            end: 0,
            last_slot: NO_SLOT,
            arg: 0,
            deferred: 0,
            flag_a: 0,
            flag_b: 0,
            flag_c: 0,
            pend: 0,
            pend_a: 0,
            pend_b: 0,
            epoch: self.jc.epoch,
            memo_global: self.memos.tokens().0,
            memo_local: self.memos.tokens().1,
            fallbacks: if self.fallbacks.is_empty() {
                std::ptr::null_mut()
            } else {
                self.fallbacks.as_mut_ptr()
            },
            fallback_len: self.fallbacks.len(),
        };
        let code = self.trans[i].code;
        self.stats.entries += 1;
        self.last_translation = Some(i);
        // SAFETY: `code` is the entry of a live translation in the code
        // buffer, made executable above; the frame's pointers come from
        // the `Ctx` that is not used again until the call returns (see the
        // `runtime` module for the rule).
        let r = unsafe { (self.enter)(&mut frame, code) };
        deferred::settle(&mut frame, c.s);
        self.pending_chain = (frame.last_slot != NO_SLOT).then_some(frame.last_slot);
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
            if needs_single_step(c) {
                let n = self.interp.step_in(c, true);
                self.stats.interpreted_instructions += n;
                left -= n.max(1) as i64;
                if self.single_block {
                    return single_block_exit(c);
                }
                continue;
            }
            let Some(i) = self.find(c) else {
                let n = self.interp.step_in(c, false);
                self.stats.interpreted_instructions += n;
                left -= n.max(1) as i64;
                if self.single_block {
                    return single_block_exit(c);
                }
                continue;
            };
            // Blocks start while any budget is left and then run whole:
            // stopping exactly at the budget would end most runs inside a
            // block, and the next run would start there, making a
            // translation for every instruction boundary that a deadline
            // ever fell on (about 3,000 of a Linux boot's 75,000). Chained
            // blocks go on until the lent slack is used too, so a run may
            // end up to OVERSHOOT instructions late (a few blocks), which
            // the `Engine` contract allows; the slack is taken back after.
            let (code, retired, rest) = self.execute(c, i, left + OVERSHOOT);
            self.stats.translated_instructions += retired;
            left = rest - OVERSHOOT;
            if code == exit::BUDGET && retired == 0 {
                // Nothing could run (the code buffer could not be made
                // executable): go on in the interpreter.
                let n = self.interp.step_in(c, true);
                self.stats.interpreted_instructions += n;
                left -= n.max(1) as i64;
            }
            if self.single_block {
                self.pending_chain = None;
                return single_block_exit(c);
            }
        }
    }

    /// The translation for CS:EIP, making it if the block is hot; `None`
    /// to interpret this block (cold, untranslatable, or a fetch fault the
    /// interpreter will raise).
    fn find(&mut self, c: &mut Ctx) -> Option<usize> {
        let cs = &c.s.seg[sreg::CS];
        let eip = c.s.eip;
        let (cs_base, cs_limit) = (cs.base(), cs.limit());
        let mode = mode::current(c.s);
        let i = match self.jc.get(eip, mode, cs_base, cs_limit) {
            Some(i) => i,
            None => {
                if !cs.within_limit(eip, 1) {
                    return None;
                }
                let lin = cs_base.wrapping_add(eip);
                let user = c.user();
                let phys = c.translate(lin, Intent::Fetch, user).ok()?;
                let key = Key { phys, eip, mode };
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
                if !c.s.seg[sreg::CS].within_limit(eip, self.trans[i].bytes) {
                    return None;
                }
                // Lockstep runs one block at a time: no block may go on
                // to the next by itself.
                if !self.single_block {
                    // The fetch above left the page's translation in the
                    // code TLB.
                    let e = c.tlb.code[user as usize][Tlb::code_index(lin)];
                    let global = e.lin == lin & !0xFFF && e.global();
                    self.jc.insert(eip, mode, cs_base, cs_limit, self.trans[i].code, i, global);
                }
                i
            }
        };
        let key = self.trans[i].key;
        if let Some(slot) = self.pending_chain.take()
            && self.slot_owner[slot as usize] == (key.phys >> 12, key.mode, key.eip)
        {
            let at = self.slots[slot as usize];
            let rel = (self.trans[i].code as i64 - (at as i64 + 4)) as i32;
            self.code.patch_u32(at, rel as u32);
            self.stats.chains += 1;
        }
        Some(i)
    }
}

/// How a single-block run ends: as the run loop would see it next.
fn single_block_exit(c: &Ctx) -> Exit {
    if c.shutdown { Exit::Shutdown } else { Exit::Budget }
}

impl Recompiler {
    /// The guest block and the host code of the translation that ran last,
    /// disassembled (for lockstep divergence reports); `None` when the last
    /// step was interpreted.
    pub fn describe_last(&mut self) -> Option<String> {
        let i = self.last_translation?;
        let t = self.trans.get(i)?;
        use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
        let mut out = format!(
            "translation of phys {:#x} EIP {:#x} mode {:#x}\nhost code:\n",
            t.key.phys, t.key.eip, t.key.mode
        );
        let host = self.code.bytes(t.code, t.code_len);
        let mut d = Decoder::with_ip(64, host, t.code as u64, DecoderOptions::NONE);
        let mut f = IntelFormatter::new();
        let mut text = String::new();
        for ins in d.iter().take(400) {
            text.clear();
            f.format(&ins, &mut text);
            out += &format!("  {:x}: {text}\n", ins.ip());
        }
        Some(out)
    }

    /// Whether the last step ran translated code.
    pub fn last_was_translated(&self) -> bool {
        self.last_translation.is_some()
    }
}

impl Engine for Recompiler {
    fn name(&self) -> &'static str {
        "recompiler"
    }

    fn run(&mut self, cpu: &mut CpuState, mem: &mut GuestMemory, bus: &mut dyn Bus, budget: u64) -> Exit {
        // Memos hold host addresses in guest RAM: RAM that is not the
        // one they were filled from makes them all stale.
        let ram = (mem.ram.bytes().as_ptr() as usize, mem.ram.size());
        if ram != self.ram {
            self.ram = ram;
            self.memos.reset();
        }
        let mut tlb = self.tlb.take().unwrap_or_default();
        self.last_translation = None;
        let exit = {
            let mut c = Ctx::new(cpu, mem, bus, &mut tlb);
            let e = self.run_loop(&mut c, budget);
            self.first_vector = c.first_vector;
            e
        };
        self.tlb = Some(tlb);
        self.stats.instructions = self.stats.translated_instructions + self.stats.interpreted_instructions;
        exit
    }

    fn state_changed(&mut self) {
        if let Some(t) = &mut self.tlb {
            t.flush_all();
        }
    }

    fn instructions(&self) -> u64 {
        self.stats.translated_instructions + self.stats.interpreted_instructions
    }

    fn stats_report(&self) -> String {
        let s = &self.stats;
        let mut out = format!(
            "instructions retired: {} in translated code, {} interpreted (cold blocks, single steps, untranslatable code)\n\
             blocks translated {} in {} ms (static instructions: {} inline, {} handler calls), code {} KiB\n\
             translated code entered {} times from the dispatcher, {} chains patched\n\
             cache flushes {}, pages invalidated by writes to code (SMC, DMA) {}\n\
             load-site memos {} (of {}), misses {}, memo token changes (TLB flushes) {}",
            s.translated_instructions,
            s.interpreted_instructions,
            s.blocks_translated,
            s.translate_ns / 1_000_000,
            s.inline_instructions,
            s.fallback_instructions,
            s.code_bytes >> 10,
            s.entries,
            s.chains,
            s.cache_flushes,
            s.invalidated_pages,
            self.memos.next,
            crate::memo::COUNT,
            self.memos.report(0).0,
            self.memos.epochs
        );
        let (_, top) = self.memos.report(10);
        if top.first().is_some_and(|t| t.1 > 0) {
            out += "\nloads whose memos missed most (EIP, misses):";
            for (eip, n) in top {
                out += &format!("\n  {eip:08x} {n:>12}");
            }
        }
        let mut top: Vec<(usize, u64)> = self.fallbacks.iter().copied().enumerate().filter(|&(_, n)| n > 0).collect();
        if !top.is_empty() {
            top.sort_by_key(|t| std::cmp::Reverse(t.1));
            let total: u64 = top.iter().map(|t| t.1).sum();
            out += &format!("\nhandler calls from translated code: {total}, by instruction (top 25):");
            let codes: Vec<iced_x86::Code> = iced_x86::Code::values().collect();
            for (code, n) in top.into_iter().take(25) {
                out += &format!("\n  {:<28} {n:>12}", format!("{:?}", codes[code]));
            }
        }
        out
    }
}
