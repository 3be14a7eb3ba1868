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
    pub fn run(
        &mut self,
        s: &mut CpuState,
        mem: &mut GuestMemory,
        bus: &mut dyn Bus,
        budget: u64,
    ) -> Exit {
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

fn run_loop(
    c: &mut Ctx,
    cache: &mut DecodeCache,
    map_generation: &mut u64,
    stats: &mut Stats,
    budget: u64,
) -> Exit {
    {
        let mut left = budget;
        loop {
            if c.mem.code.has_invalidated() {
                for p in c.mem.code.take_invalidated() {
                    cache.invalidate_page(p);
                }
            }
            if c.mem.map.generation() != *map_generation {
                *map_generation = c.mem.map.generation();
                cache.flush();
                c.tlb.flush_all();
            }
            if c.shutdown {
                return Exit::Shutdown;
            }
            if !c.s.interrupt_shadow && c.s.flag(fl::IF) && c.bus.interrupt_pending() {
                let v = c.bus.acknowledge_interrupt();
                c.raise_external(v);
                continue;
            }
            if c.s.halted {
                return Exit::Halted;
            }
            if left == 0 {
                return Exit::Budget;
            }
            if c.bus.stop_requested() {
                return Exit::Stopped;
            }
            let single = c.s.interrupt_shadow || c.s.eflags_rest & fl::TF != 0;
            c.s.interrupt_shadow = false;
            let max = if single { 1 } else { left };
            let n = step(c, cache, stats, max);
            left = left.saturating_sub(n.max(1));
            stats.instructions += n;
        }
    }
}

/// Execute up to `max` instructions from the current EIP; returns how many
/// completed (a faulting instruction does not count).
fn step(c: &mut Ctx, cache: &mut DecodeCache, stats: &mut Stats, max: u64) -> u64 {
    c.end_block = false;
    let cs = c.s.seg[sreg::CS];
    let eip = c.s.eip;
    if !cs.within_limit(eip, 1) {
        c.raise(Exception::gp0());
        return 0;
    }
    let lin = cs.base().wrapping_add(eip);
    let user = c.user();
    let phys = match c.translate(lin, Intent::Fetch, user) {
        Ok(p) => p,
        Err(e) => {
            c.raise(e);
            return 0;
        }
    };
    let key = cache::key(phys, cs.db());
    let slot = match cache.find(key) {
        Some(s) => Some(s),
        None => decode_block(c, cache, stats, phys, eip, cs.db()),
    };
    match slot {
        Some(s) if cs.within_limit(eip, cache.block(s).bytes) => run_block(c, cache.block(s), max),
        _ => run_uncached(c, stats),
    }
}

/// Run the instructions of a block.
#[inline(always)]
fn run_block(c: &mut Ctx, block: &Block, max: u64) -> u64 {
    let tf = c.s.eflags_rest & fl::TF != 0;
    let mut done = 0;
    for insn in block.insns.iter() {
        if done == max {
            break;
        }
        if !exec_one(c, insn, tf) {
            break;
        }
        done += 1;
        if c.end_block || c.s.eflags_rest & fl::RF != 0 {
            break;
        }
    }
    done
}

/// Execute one decoded instruction at the current EIP. Returns false when
/// the block must end (fault, control transfer, state change).
#[inline(always)]
fn exec_one(c: &mut Ctx, insn: &Insn, tf: bool) -> bool {
    let start = c.s.eip;
    let next = start.wrapping_add(insn.len as u32);
    c.s.eip = next;
    if let Err(e) = (insn.exec)(c, insn) {
        c.s.eip = start;
        c.raise(e);
        return false;
    }
    c.s.eflags_rest &= !fl::RF;
    if tf {
        c.s.dr[6] |= x86::cr::dr6::BS;
        c.pending_trap = Some(Exception::new(x86::exception::DB));
    }
    if let Some(t) = c.pending_trap.take() {
        c.raise(t);
        return false;
    }
    c.s.eip == next && !c.end_block
}

/// Decode and cache the block at physical `phys` (code from RAM or ROM);
/// `None` if the code cannot be cached (MMIO, an instruction crossing the
/// page end or the CS limit).
fn decode_block(
    c: &mut Ctx,
    cache: &mut DecodeCache,
    stats: &mut Stats,
    phys: u32,
    eip: u32,
    code32: bool,
) -> Option<u32> {
    let page_off = (phys & 0xFFF) as usize;
    let avail = 0x1000 - page_off;
    let lookup = c.mem.map.lookup(phys as u64, Access::Read);
    let (bytes, ram_off): (&[u8], Option<u64>) = match lookup.target {
        Target::Ram(off) => {
            let ram = c.mem.ram.bytes();
            let end = (off as usize + avail).min(ram.len());
            (ram.get(off as usize..end)?, Some(off))
        }
        Target::Rom { rom, offset } => {
            let img = c.mem.map.rom(rom);
            let end = (offset as usize + avail.min(lookup.run as usize)).min(img.len());
            (img.get(offset as usize..end)?, None)
        }
        _ => return None,
    };
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
    let tf = c.s.eflags_rest & fl::TF != 0;
    let before = c.s.eip;
    let ok = exec_one(c, &insn, tf);
    // exec_one returns false for faults and for transfers; count the
    // instruction unless it faulted (EIP back on it without a delivery).
    if ok || c.s.eip != before || c.end_block {
        1
    } else {
        0
    }
}

fn fetch_uncached(c: &mut Ctx) -> Res<Insn> {
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
