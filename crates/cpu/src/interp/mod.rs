//! The interpreter: ringvisor's reference engine.
//!
//! Instructions are decoded once (by iced-x86) into a compact form and
//! cached per physical page; each instruction is then a call through its
//! handler. Everything architectural lives in `CpuState` and guest memory,
//! so the interpreter can hand the CPU to another engine at any
//! instruction boundary.

mod arith;
mod bcd;
mod bit;
pub mod cache;
mod control;
mod data;
pub mod decode;
mod descriptor;
mod far;
mod flagops;
mod frame;
mod fxsave;
pub mod insn;
mod interrupt;
mod io;
mod iret;
mod mmx;
mod muldiv;
mod operand;
mod segload;
mod shift;
mod stack;
mod string;
mod system;
pub mod table;
mod task;
mod x87;

pub use interrupt::Event;
pub use shift::shift_flags;
pub use task::Reason;

use crate::bus::Bus;
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::exit::Exit;
use crate::mmu::{Intent, Tlb};
use crate::state::{CpuState, sreg};
use cache::{Block, DecodeCache};
use decode::{DecodeError, MAX_LEN, decode};
use insn::Insn;
use memory::{Access, GuestMemory, Target};
use x86::flags as fl;

/// Instructions in a block at most.
const MAX_BLOCK: usize = 64;

/// Counters the interpreter keeps (for `--stats` and benchmarks).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub instructions: u64,
    /// Vectors of the first and last events delivered during the last run.
    pub first_vector: Option<u8>,
    pub last_vector: Option<u8>,
    pub blocks_decoded: u64,
    pub uncached: u64,
}

/// The interpreter engine: its caches (TLB, decoded blocks); the truth is
/// in the `CpuState` and memory passed to [`Interpreter::run`].
#[derive(Default)]
pub struct Interpreter {
    pub tlb: Tlb,
    cache: DecodeCache,
    map_generation: u64,
    pub stats: Stats,
}

impl Interpreter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drop every cached translation and decoded block (state imported
    /// from another engine, or a machine reset).
    pub fn flush(&mut self) {
        self.tlb.flush_all();
        self.cache.flush();
    }

    /// Run until `budget` instructions have retired or something needs
    /// the outside world.
    pub fn run(&mut self, s: &mut CpuState, mem: &mut GuestMemory, bus: &mut dyn Bus, budget: u64) -> Exit {
        let Self {
            tlb,
            cache,
            map_generation,
            stats,
        } = self;
        let mut c = Ctx::new(s, mem, bus, tlb);
        let exit = run_loop(&mut c, cache, map_generation, stats, budget);
        stats.last_vector = c.last_vector;
        stats.first_vector = c.first_vector;
        exit
    }
}

fn run_loop(c: &mut Ctx, cache: &mut DecodeCache, map_generation: &mut u64, stats: &mut Stats, budget: u64) -> Exit {
    let mut left = budget as i64;
    loop {
        sync_cache(c, cache, map_generation);
        match events(c) {
            Events::Exit(e) => return e,
            Events::Delivered => continue,
            Events::None => {}
        }
        if left <= 0 {
            return Exit::Budget;
        }
        // Near the end of the budget, single steps make the count exact.
        let n = if needs_single_step(c) || left < MAX_BLOCK as i64 {
            step_single(c, cache, stats)
        } else {
            step_block(c, cache, stats)
        };
        left -= n.max(1) as i64;
        stats.instructions += n;
    }
}

/// Drop decoded code that guest memory writes or a physical-map change made
/// stale.
fn sync_cache(c: &mut Ctx, cache: &mut DecodeCache, map_generation: &mut u64) {
    if c.mem.code.has_news(&cache.cursor) {
        match c.mem.code.read(&mut cache.cursor) {
            memory::Invalidations::Pages(pages) => {
                for &p in pages {
                    cache.invalidate_page(p);
                }
            }
            memory::Invalidations::All => cache.flush(),
        }
    }
    if c.mem.map.generation() != *map_generation {
        *map_generation = c.mem.map.generation();
        cache.flush();
        c.tlb.flush_all();
    }
}

/// What the run loop must do before the next instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Events {
    /// Nothing: go on executing.
    None,
    /// An external interrupt was delivered (look again).
    Delivered,
    /// The run ends.
    Exit(Exit),
}

/// The checks every engine's loop makes between blocks: triple fault,
/// device stop requests, the interrupt line, HLT.
pub fn events(c: &mut Ctx) -> Events {
    if c.shutdown {
        return Events::Exit(Exit::Shutdown);
    }
    if std::mem::take(&mut c.io_done) && c.bus.stop_requested() {
        return Events::Exit(Exit::Stopped);
    }
    if c.s.eflags_rest & fl::IF != 0 && !c.s.interrupt_shadow && c.bus.interrupt_pending() {
        let v = c.bus.acknowledge_interrupt();
        c.raise_external(v);
        return Events::Delivered;
    }
    if c.s.halted {
        return Events::Exit(Exit::Halted);
    }
    Events::None
}

/// Whether the next instruction must run alone (single-step trap, resume
/// flag, interrupt shadow, debug breakpoints).
#[inline(always)]
pub fn needs_single_step(c: &Ctx) -> bool {
    c.s.interrupt_shadow || c.s.eflags_rest & (fl::TF | fl::RF) != 0 || c.breakpoints_enabled()
}

impl Interpreter {
    /// Execute one instruction (`single`) or one block for another engine
    /// that owns the run loop and the `Ctx`: the interpreter's decode cache
    /// is brought up to date first. Returns the instructions retired.
    pub fn step_in(&mut self, c: &mut Ctx, single: bool) -> u64 {
        let Self {
            cache,
            map_generation,
            stats,
            ..
        } = self;
        sync_cache(c, cache, map_generation);
        let n = if single {
            step_single(c, cache, stats)
        } else {
            step_block(c, cache, stats)
        };
        stats.instructions += n;
        n
    }
}

/// The block at the current CS:EIP, decoded if need be; `None` when the
/// code cannot come from the cache (a fault was raised, or the
/// instruction must be fetched uncached).
#[inline(always)]
fn current_block(c: &mut Ctx, cache: &mut DecodeCache, stats: &mut Stats) -> Result<Option<u32>, ()> {
    let cs = &c.s.seg[sreg::CS];
    let eip = c.s.eip;
    if !cs.within_limit(eip, 1) {
        c.raise(Exception::gp0());
        return Err(());
    }
    let lin = cs.base().wrapping_add(eip);
    let code32 = cs.db();
    let user = c.user();
    let phys = match c.translate(lin, Intent::Fetch, user) {
        Ok(p) => p,
        Err(e) => {
            c.raise(e);
            return Err(());
        }
    };
    let key = cache::key(phys, code32);
    let slot = match cache.find(key) {
        Some(s) => Some(s),
        None => decode_block(c, cache, stats, phys, eip, code32),
    };
    Ok(slot.filter(|&s| c.s.seg[sreg::CS].within_limit(eip, cache.block(s).bytes)))
}

/// Run the block at CS:EIP; returns the instructions completed.
#[inline(always)]
fn step_block(c: &mut Ctx, cache: &mut DecodeCache, stats: &mut Stats) -> u64 {
    c.end_block = false;
    let slot = match current_block(c, cache, stats) {
        Ok(Some(s)) => s,
        Ok(None) => return run_uncached(c, stats),
        Err(()) => return 0,
    };
    let mut done = 0;
    for insn in cache.block(slot).insns.iter() {
        let start = c.s.eip;
        let next = start.wrapping_add(insn.len as u32);
        c.s.eip = next;
        if let Err(e) = (insn.exec)(c, insn) {
            c.s.eip = start;
            c.raise(e);
            break;
        }
        done += 1;
        if c.end_block || c.s.eip != next {
            break;
        }
    }
    if let Some(t) = c.pending_trap.take() {
        c.raise(t);
    }
    done
}

/// Run exactly one instruction, with the single-step (TF), resume (RF)
/// and interrupt-shadow rules.
fn step_single(c: &mut Ctx, cache: &mut DecodeCache, stats: &mut Stats) -> u64 {
    c.end_block = false;
    let tf = c.s.eflags_rest & fl::TF != 0;
    c.s.interrupt_shadow = false;
    let insn = match current_block(c, cache, stats) {
        Ok(Some(s)) => cache.block(s).insns[0],
        Ok(None) => match fetch_uncached(c) {
            Ok(i) => {
                stats.uncached += 1;
                i
            }
            Err(e) => {
                c.raise(e);
                return 0;
            }
        },
        Err(()) => return 0,
    };
    let start = c.s.eip;
    if c.breakpoints_enabled() && c.s.eflags_rest & fl::RF == 0 {
        let hit = c.instruction_breakpoint(c.s.seg[sreg::CS].base().wrapping_add(start));
        if hit != 0 {
            // An instruction breakpoint is a fault: before the instruction
            // (its #DB pushes RF = 0; the handler sets RF to go on).
            c.s.dr[6] = (c.s.dr[6] & !0xF) | hit;
            c.raise(Exception::new(x86::exception::DB));
            return 0;
        }
    }
    c.data_breakpoints = 0;
    c.s.eip = start.wrapping_add(insn.len as u32);
    // Whether the instruction itself delivers an interrupt (INT n, INT3,
    // INTO, INT1): `last_vector` is set by every delivery.
    let before = if tf { c.last_vector.take() } else { None };
    // RF is cleared at the start of the instruction (SDM vol. 3,
    // 17.3.1.1), so an RF loaded by IRET or a task switch lasts until the
    // next instruction starts, and the RF a repeated string instruction
    // sets while unfinished reaches the frame of an event taken between
    // its iterations.
    c.s.eflags_rest &= !fl::RF;
    if let Err(e) = (insn.exec)(c, &insn) {
        c.s.eip = start;
        c.raise(e);
        return 0;
    }
    if c.data_breakpoints != 0 {
        // Data breakpoints are traps: after the instruction.
        c.s.dr[6] = (c.s.dr[6] & !0xF) | c.data_breakpoints;
        c.pending_trap.get_or_insert(Exception::new(x86::exception::DB));
    }
    // MOV SS and POP SS inhibit the single-step trap as well as
    // interrupts until the next instruction has run (SDM vol. 3, 6.8.3).
    if tf && c.last_vector.is_none() && !loads_ss(&insn) {
        // The single-step trap after the instruction (SDM vol. 3, 17.3.1.4);
        // not after one that delivered an interrupt, whose gate cleared
        // TF (the AMD host reports the #BP of INT3, no #DB).
        c.last_vector = before;
        c.s.dr[6] |= x86::cr::dr6::BS;
        c.pending_trap.get_or_insert(Exception::new(x86::exception::DB));
    } else if c.last_vector.is_none() {
        c.last_vector = before;
    }
    if let Some(t) = c.pending_trap.take() {
        c.raise(t);
    }
    1
}

/// MOV SS or POP SS: the instructions whose interrupt shadow also holds
/// back debug exceptions.
fn loads_ss(insn: &Insn) -> bool {
    use iced_x86::Code as C;
    match insn.iced_code() {
        C::Popw_SS | C::Popd_SS => true,
        C::Mov_Sreg_rm16 | C::Mov_Sreg_r32m16 => insn.r0 as usize == sreg::SS,
        _ => false,
    }
}

/// The code bytes from physical `phys` to the end of its page (or of the
/// ROM region), and their RAM offset when they are RAM; `None` for MMIO
/// and holes, which are never cached or translated.
pub fn code_window(mem: &memory::GuestMemory, phys: u32) -> Option<(&[u8], Option<u64>)> {
    let avail = 0x1000 - (phys & 0xFFF) as usize;
    let lookup = mem.map.lookup(phys as u64, Access::Read);
    match lookup.target {
        Target::Ram(off) => {
            let ram = mem.ram.bytes();
            let end = (off as usize + avail).min(ram.len());
            Some((ram.get(off as usize..end)?, Some(off)))
        }
        Target::Rom { rom, offset } => {
            let img = mem.map.rom(rom);
            let end = (offset as usize + avail.min(lookup.run as usize)).min(img.len());
            Some((img.get(offset as usize..end)?, None))
        }
        _ => None,
    }
}

/// Decode and cache the block at physical `phys` (code from RAM or ROM);
/// `None` if the code cannot be cached (MMIO, an instruction crossing the
/// page end or the CS limit).
fn decode_block(c: &mut Ctx, cache: &mut DecodeCache, stats: &mut Stats, phys: u32, eip: u32, code32: bool) -> Option<u32> {
    let (bytes, ram_off) = code_window(c.mem, phys)?;
    let cs = c.s.seg[sreg::CS];
    let mut insns = Vec::new();
    let mut off = 0usize;
    while insns.len() < MAX_BLOCK && off < bytes.len() {
        let ip = eip.wrapping_add(off as u32);
        let window = &bytes[off..(off + 32).min(bytes.len())];
        match decode(window, ip, code32) {
            Ok((insn, ends)) => {
                if !cs.within_limit(ip, insn.len as u32) {
                    break;
                }
                off += insn.len as usize;
                insns.push(insn);
                if ends {
                    break;
                }
            }
            Err(DecodeError::NeedMore) => break,
            Err(e) => {
                if !cs.within_limit(ip, 1) {
                    break;
                }
                insns.push(fault_insn(e));
                off += 1;
                break;
            }
        }
    }
    if insns.is_empty() {
        return None;
    }
    if let Some(r) = ram_off {
        c.mem.code.mark(r);
        c.tlb.protect_ram_page((r & !0xFFF) as u32);
    }
    stats.blocks_decoded += 1;
    Some(cache.insert(Block {
        key: cache::key(phys, code32),
        insns: insns.into_boxed_slice(),
        bytes: off as u32,
    }))
}

/// An instruction that raises the decoding error when (if) executed.
fn fault_insn(e: DecodeError) -> Insn {
    let (exec, _) = decode(&[0x0F, 0x0B], 0, false).unwrap_or_else(|_| unreachable_ud());
    let mut i = exec;
    i.len = 1;
    if e == DecodeError::TooLong {
        i.exec = gp0_handler;
    }
    i
}

fn unreachable_ud() -> (Insn, bool) {
    // UD2 always decodes; keep a total function anyway.
    (
        Insn {
            exec: gp0_handler,
            imm: 0,
            imm2: 0,
            disp: 0,
            amask: 0xFFFF,
            len: 1,
            r0: 0,
            r1: 0,
            base: 8,
            index: 8,
            scale: 0,
            seg: 3,
            flags: 0,
            code: 0,
        },
        true,
    )
}

fn gp0_handler(_: &mut Ctx, _: &Insn) -> Res {
    Err(Exception::gp0())
}

/// Fetch, decode and execute one instruction without the cache (code in
/// MMIO, crossing a page, or at the CS limit).
fn run_uncached(c: &mut Ctx, stats: &mut Stats) -> u64 {
    stats.uncached += 1;
    let insn = match fetch_uncached(c) {
        Ok(i) => i,
        Err(e) => {
            c.raise(e);
            return 0;
        }
    };
    let start = c.s.eip;
    c.s.eip = start.wrapping_add(insn.len as u32);
    if let Err(e) = (insn.exec)(c, &insn) {
        c.s.eip = start;
        c.raise(e);
        return 0;
    }
    if let Some(t) = c.pending_trap.take() {
        c.raise(t);
    }
    1
}

/// Fetch and decode the instruction at CS:EIP through the MMU, byte by
/// byte and across a page end, without the decode cache: for code the
/// cache cannot hold (and the recompiler's translations of such code).
pub fn fetch_uncached(c: &mut Ctx) -> Res<Insn> {
    let cs = c.s.seg[sreg::CS];
    let eip = c.s.eip;
    let code32 = cs.db();
    let user = c.user();
    let mut buf = [0u8; MAX_LEN + 1];
    let lin = cs.base().wrapping_add(eip);
    let first = (0x1000 - (lin & 0xFFF) as usize).min(buf.len());
    let p0 = c.translate(lin, Intent::Fetch, user)?;
    for (k, b) in buf.iter_mut().enumerate().take(first) {
        *b = c.phys_read(p0 + k as u32, 1) as u8;
    }
    let mut have = first;
    loop {
        match decode(&buf[..have], eip, code32) {
            Ok((insn, _)) => {
                if !cs.within_limit(eip, insn.len as u32) {
                    return Err(Exception::gp0());
                }
                return Ok(insn);
            }
            Err(DecodeError::NeedMore) if have < buf.len() => {
                // Continue into the next page (which may fault).
                let lin2 = lin.wrapping_add(have as u32);
                if !cs.within_limit(eip, have as u32 + 1) {
                    return Err(Exception::gp0());
                }
                let p1 = c.translate(lin2, Intent::Fetch, user)?;
                let more = buf.len() - have;
                for k in 0..more {
                    buf[have + k] = c.phys_read(p1 + k as u32, 1) as u8;
                }
                have = buf.len();
            }
            Err(DecodeError::TooLong) | Err(DecodeError::NeedMore) => return Err(Exception::gp0()),
            Err(DecodeError::Invalid) => return Err(Exception::ud()),
        }
    }
}
