//! Code generation for one block.
//!
//! Register use in generated code: RBX = `&mut CpuState`, RSP = the
//! trampoline's frame (the `Frame` copy at `frame::stack::FRAME`, the
//! budget, the group slots), R13 = guest RAM base, R14 = the data TLB set
//! for the current privilege, RDI/RBP/R15/R12 = copies of guest registers
//! (`regcache`). The rest are scratch (see `templates` for the conventions
//! within an instruction). Guest registers are exact in `CpuState` at
//! every instruction boundary, and so are the flags, or they are pending
//! in the frame in operand form (`deferred`, `forward`), which every way
//! into Rust settles first; EIP is written only where something may look
//! at it (helper calls, block exits).

mod classify;
mod forward;
mod groups;
mod inplace;
mod liveness;
mod regcache;
mod templates;
pub(crate) use templates::wide_aux;

use crate::block::GuestBlock;
use crate::frame::{fr, off, stack, state};
use crate::runtime::{self, exec, exit};
use classify::{AluOp, Count, Kind, Opnd, ShiftOp, Width, classify};
use cpu::interp::insn::Insn;
use liveness::Need;

/// SS, for the stack accesses of PUSH/POP/CALL/RET.
const SS: u8 = cpu::state::sreg::SS as u8;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, dynasm};
use templates::{Asm, Gen, RAX, RCX, RDX, RSI, Site};

/// Where a translated block's exits go.
pub struct Targets {
    /// Address of the `leave` stub.
    pub leave: usize,
    /// Address of the jump-cache lookup stub.
    pub lookup: usize,
    /// The slow-path thunks.
    pub thunks: crate::thunks::Thunks,
    /// The direct-load range for the block's mode (`crate::mode::direct`).
    pub direct: Option<(u32, u32)>,
    /// A block that jumps to its own start may go on within itself (see
    /// `BlockCx::exit_chained`); not when lockstep runs one block at a
    /// time (`Recompiler::single_block`, set before anything is
    /// translated), where every pass must come back to the dispatcher.
    pub loops: bool,
}

/// Chain slots: one per exit to a known EIP, which ends in a `JMP rel32`.
/// At first the jump goes to the exit's own miss stub, right after it
/// (which returns to the dispatcher); the dispatcher patches its
/// displacement to the target block once that exists in the same page and
/// mode. A direct jump is what the CPU predicts best; through a table
/// word it was a load and an indirect jump at every chained exit.
pub struct Slots<'a> {
    /// Next free slot index.
    pub next: &'a mut u32,
    pub cap: u32,
    /// Each chainable exit of this block: (slot index, target EIP, offset
    /// of its miss stub in the block's code, which directly follows the
    /// jump's 4-byte displacement), filled by `translate`.
    pub used: Vec<(u32, u32, usize)>,
    /// Inline caches of exits through the jump cache (see
    /// `jumpcache::Inline`): the array's address, the next free one and
    /// how many there are. Number 0 is a sink for exits made when all are
    /// used: filled, never read.
    pub inline_base: usize,
    pub inline_next: &'a mut u32,
    pub inline_cap: u32,
    /// The load-site memos this block may take (see `memo`), and those
    /// it took, with their loads' EIPs.
    pub memos: crate::memo::Alloc,
    pub memo_sites: Vec<(u32, u32)>,
}

/// Where a block that jumps to its own start goes on (see
/// `BlockCx::exit_chained`).
struct Head {
    /// After the probes hoisted out of the loop (`groups::invariant`).
    head: DynamicLabel,
    /// Before them.
    probes: DynamicLabel,
    /// The group slots they fill.
    slots: Vec<u8>,
    budget_exit: DynamicLabel,
    /// The block's instruction count.
    n: i32,
}

/// What every exit of the block being translated needs.
struct BlockCx<'a, 'b> {
    t: &'a Targets,
    /// EIP of the block's first instruction.
    eip: u32,
    mode: u32,
    slots: &'a mut Slots<'b>,
    /// For a block that jumps to its own start: see `Head`.
    head: Option<Head>,
}

impl BlockCx<'_, '_> {
    /// Leave for the known EIP `target` after all instructions. A jump
    /// back to the block's own start stays in the block: it takes the
    /// budget as an entry does and goes on at the loop head, without the
    /// chain slot's jump and without the probes hoisted above the head.
    ///
    /// A hoisted probe that found its window off the fast path (on the
    /// first pass, often: the loop's first access fills the TLB) is made
    /// again, or every pass would take the slow path.
    fn exit_chained(&mut self, a: &mut Asm, target: u32) {
        if let (Some(h), true) = (&self.head, target == self.eip) {
            dynasm!(a
                ; .arch x64
                ; sub QWORD [rsp + stack::BUDGET], h.n
                ; jl =>h.budget_exit
            );
            for &slot in &h.slots {
                dynasm!(a
                    ; .arch x64
                    ; cmp QWORD [rsp + stack::GROUP + 8 * slot as i32], 0
                    ; je =>h.probes
                );
            }
            dynasm!(a ; .arch x64 ; jmp =>h.head);
            return;
        }
        exit_chained(a, self.eip, target, self.t, self.slots, self.mode);
    }

    /// Leave for the EIP stored in the state after all instructions.
    fn exit_lookup(&mut self, a: &mut Asm) {
        exit_lookup(a, self.mode, self.t, self.slots);
    }
}

/// Counts of what a translation contains (for statistics).
#[derive(Clone, Copy, Debug, Default)]
pub struct Made {
    pub inline: u32,
    pub fallback: u32,
}

/// Translate `block` for address `base` in CPU mode `mode`. `insns` are
/// the block's instructions at their final (stable) addresses, for helper
/// calls.
/// What the host registers hold right after an inline instruction, from
/// which host flags equal to the guest's can be recomputed with one
/// instruction: a following Jcc then branches on host flags instead of
/// evaluating the lazy ones (compare-and-branch fusion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostFlags {
    /// EAX - ECX at this width (SUB, CMP): every condition.
    Sub(Width),
    /// EAX + ECX (ADD): every condition.
    Add(Width),
    /// EDX is the result of a logic operation (CF = OF = 0): every
    /// condition.
    Logic(Width),
    /// EDX is the result of INC/DEC: ZF, SF and PF only (OF differs, CF is
    /// the old one).
    IncDec(Width),
}

impl HostFlags {
    /// Whether a Jcc on condition `cc` can branch on these host flags.
    pub fn fuses(self, cc: u8) -> bool {
        // After INC/DEC: ZF (4/5), SF (8/9), PF (10/11) come from the
        // result alone.
        !matches!(self, Self::IncDec(_)) || matches!(cc >> 1, 2 | 4 | 5)
    }

    fn after(k: &Kind) -> Option<Self> {
        match *k {
            // A memory destination is written through a helper that may
            // not keep the registers: only register destinations (and
            // CMP/TEST, which write nothing).
            Kind::Alu { op, w, dst, .. } if dst != Opnd::Mem || matches!(op, AluOp::Cmp | AluOp::Test) => match op {
                AluOp::Sub | AluOp::Cmp => Some(Self::Sub(w)),
                AluOp::Add => Some(Self::Add(w)),
                AluOp::And | AluOp::Or | AluOp::Xor | AluOp::Test => Some(Self::Logic(w)),
                AluOp::Adc | AluOp::Sbb => None,
            },
            Kind::IncDec { w, dst, .. } if dst != Opnd::Mem => Some(Self::IncDec(w)),
            _ => None,
        }
    }
}

pub fn translate(block: &GuestBlock, insns: &[Insn], mode: u32, base: usize, t: &Targets, slots: &mut Slots) -> (Vec<u8>, Made) {
    let mut g = Gen::new(base, t.thunks);
    g.direct = t.direct;
    let n = insns.len() as i32;
    let budget_exit = g.a.new_dynamic_label();
    dynasm!(g.a
        ; .arch x64
        ; sub QWORD [rsp + stack::BUDGET], n
        ; jl =>budget_exit
    );
    let mut made = Made::default();
    let mut bx = BlockCx {
        t,
        eip: block.eip,
        mode,
        slots,
        head: None,
    };
    let mut outs: Vec<(DynamicLabel, i32)> = Vec::new();
    // Taken conditional branches before the block's end: (label, target,
    // instructions retired by then).
    let mut sides: Vec<(DynamicLabel, u32, i32)> = Vec::new();
    let mut ended = false;
    let kinds: Vec<Kind> = insns
        .iter()
        .zip(&block.insns)
        .map(|(insn, (_, ins))| classify(ins, insn, mode))
        .collect();
    // Memos pay where a site runs again and again in a row, on the same
    // page: in loops. Elsewhere a site often meets a new page, and a miss
    // (a mispredicted branch, then the probe) costs more than the probe.
    let last_back = kinds
        .iter()
        .rposition(|k| matches!(*k, Kind::Jcc { target, .. } | Kind::Jmp { target } if target == block.eip));
    let looping = last_back.is_some();
    let loops = looping && t.loops;
    if looping {
        g.memos = bx.slots.memos;
        g.memo_global = mode & crate::mode::USER == 0;
    }
    let flags_needed = liveness::needed(&kinds);
    // A Jcc that branches on the host flags of the instruction before it.
    let fused = |j: usize| match kinds[j] {
        Kind::Jcc { cc, .. } => j > 0 && HostFlags::after(&kinds[j - 1]).is_some_and(|h| h.fuses(cc)),
        _ => false,
    };
    let forwards = forward::plan(&kinds, &flags_needed, fused, |k| deferred_op(k).0);
    // Whether flags an earlier block left in operand form are settled
    // here (they are, after a handler call: Rust settles them first).
    let mut settled = false;
    g.pending = 0;
    let mut f = iced_x86::InstructionInfoFactory::new();
    let access: Vec<Access> = block.insns.iter().map(|(_, ins)| gprs(&mut f, ins)).collect();
    let (uses, writes): (Vec<u8>, Vec<u8>) = access.iter().map(|a| (a.used, a.written)).unzip();
    let chased = chased(insns, &access);
    let in_regs = in_registers(&kinds, &flags_needed, &writes);
    g.cache.plan(uses);
    let roles = if mode & crate::mode::FLAT != 0 && mode & crate::mode::ALIGN == 0 {
        groups::plan(&kinds, insns, &writes)
    } else {
        vec![groups::Role::default(); insns.len()]
    };
    // A loop's invariant groups probe once, before the loop head (see
    // `groups::invariant`); the cache forgets what the probes loaded, as
    // the loop's back edge does not restore it.
    let hoisted = match last_back {
        Some(back) if loops && !kinds.iter().any(|k| matches!(k, Kind::Fallback)) => groups::invariant(&roles, &writes, back),
        _ => Vec::new(),
    };
    if loops {
        let (probes, head) = (g.a.new_dynamic_label(), g.a.new_dynamic_label());
        dynasm!(g.a ; .arch x64 ; =>probes);
        for p in &hoisted {
            g.group_probe(*p);
        }
        g.cache.clear();
        dynasm!(g.a ; .arch x64 ; =>head);
        bx.head = Some(Head {
            head,
            probes,
            slots: hoisted.iter().map(|p| p.slot).collect(),
            budget_exit,
            n,
        });
    }
    for (k, insn) in insns.iter().enumerate() {
        let ins = &block.insns[k].1;
        let (start, next) = (ins.ip32(), ins.next_ip32());
        let out = g.a.new_dynamic_label();
        outs.push((out, k as i32));
        let kind = kinds[k];
        g.cache.at(k);
        if let Some(p) = roles[k].probe
            && !hoisted.contains(&p)
        {
            g.group_probe(p);
        }
        g.member = roles[k].member;
        g.memo_here = chased[k];
        let mut need = flags_needed[k];
        let deferred = deferred_op(&kind);
        if need == Need::Rare && deferred.0 == 0 {
            debug_assert!(false, "liveness deferred {kind:?}");
            need = Need::Full;
        }
        let pend = forwards[k].produce == forward::Produce::Pend;
        let slots = forwards[k].produce == forward::Produce::Slots;
        g.cond_from = forwards[k].from_slots;
        // Whether it stores lazy flags: a producer handing its operands on
        // stores none.
        let stores_lazy = need == Need::Full && !pend && !slots;
        // It stores all six without reading the lazy ones (ADC and SBB
        // read their carry from a producer's operands here).
        let replaces = stores_lazy && (liveness::replaces_all(&kind) || (g.cond_from.is_some() && forward::carry_reader(&kind)));
        if pend {
            // It replaces every flag: nothing earlier need be settled.
            settled = false;
        } else if settled || slots || g.cond_from.is_some() && !replaces {
            // Settled already, or it touches no lazy flags.
        } else if replaces {
            // Dropped when it stores its own (`Gen::drop_pending`).
            g.unsettled = true;
            settled = true;
        } else if liveness::touches_lazy(&kind, need, fused(k)) {
            g.resolve_pending();
            settled = true;
        }
        g.flags = need == Need::Full && !pend && !slots;
        (g.after, g.spill) = match need {
            _ if pend => (0, deferred.1),
            _ if slots => (deferred.0 as u32, deferred.1),
            Need::Full => (0, 0),
            Need::Dead => (g.pending, 0),
            Need::Rare => in_regs[k].map_or((deferred.0 as u32, deferred.1), |code| (code, 0)),
        };
        g.pend = if pend { deferred.0 } else { 0 };
        g.host_flags = k.checked_sub(1).and_then(|p| HostFlags::after(&kinds[p]));
        let last = k + 1 == insns.len();
        match kind {
            Kind::Fallback => {
                made.fallback += 1;
                fallback(&mut g.a, insn, next, out);
                // The handler may have written any guest register.
                g.cache.clear();
                settled = true;
            }
            Kind::Jcc { cc, target } if !last => {
                // A side exit: the block goes on at the not-taken path.
                made.inline += 1;
                let taken = g.a.new_dynamic_label();
                g.branch(cc, taken);
                sides.push((taken, target, k as i32 + 1));
            }
            _ => {
                made.inline += 1;
                if inline(&mut g, kind, insn, start, next, out, &mut bx) {
                    ended = true;
                    debug_assert!(last);
                }
            }
        }
        g.settle();
        g.pending = g.after;
        if g.unsettled {
            // It stored no flags after all: keep the earlier ones.
            debug_assert!(false, "{kind:?} stored no flags");
            g.resolve_pending();
        }
    }
    if !ended {
        let last = block.insns.last().map(|(_, i)| i.next_ip32()).unwrap_or(block.eip);
        bx.exit_chained(&mut g.a, last);
    }
    // Side exits give back the budget of the instructions they skip.
    for (label, target, retired) in sides {
        dynasm!(g.a ; .arch x64 ; =>label);
        if n > retired {
            dynasm!(g.a ; .arch x64 ; add QWORD [rsp + stack::BUDGET], n - retired);
        }
        bx.exit_chained(&mut g.a, target);
    }
    // Early exits: EAX = FAULTED (k retired, EIP set by the fault) or END
    // (k + 1 retired, EIP set). Each instruction's exit passes k in EDX
    // to one shared tail, which returns the budget taken at entry for the
    // instructions that did not run.
    let tail = g.a.new_dynamic_label();
    for (label, k) in outs {
        dynasm!(g.a
            ; .arch x64
            ; =>label
            ; mov edx, k
            ; jmp =>tail
        );
    }
    dynasm!(g.a
        ; .arch x64
        ; =>tail
        ; mov ecx, eax
        ; shr ecx, 1
        ; add ecx, edx
        ; neg rcx
        ; add rcx, n
        ; add QWORD [rsp + stack::BUDGET], rcx
        ; mov eax, exit::CONTINUE as i32
        ; jmp extern t.leave
    );
    // Out of budget: nothing ran. EIP may be stale when this block was
    // reached through a chain, so it is set here.
    dynasm!(g.a
        ; .arch x64
        ; =>budget_exit
        ; add QWORD [rsp + stack::BUDGET], n
        ; mov DWORD [rbx + state::EIP], block.eip as i32
        ; mov eax, exit::BUDGET as i32
        ; jmp extern t.leave
    );
    g.emit_slow_paths();
    if looping {
        slots.memos = g.memos;
    }
    slots.memo_sites = std::mem::take(&mut g.memo_sites);
    (g.a.finalize().unwrap_or_default(), made)
}

/// Translate a block whose first instruction runs into the next page
/// (`block::Read::Crossing`): the interpreter fetches and executes it at
/// run time, and the block leaves through the jump cache.
pub fn translate_crossing(eip: u32, mode: u32, base: usize, t: &Targets, slots: &mut Slots) -> Vec<u8> {
    let mut a = Asm::new(base);
    let f = runtime::rt_uncached as *const () as i64;
    // EIP first: a chain from the block before does not store it.
    dynasm!(a
        ; .arch x64
        ; mov DWORD [rbx + state::EIP], eip as i32
        ; sub QWORD [rsp + stack::BUDGET], 1
        ; jl >budget
        ; lea rdi, [rsp + stack::FRAME]
        ; mov rax, QWORD f
        ; call rax
        ; cmp eax, exec::NEXT as i32
        ; jne >out
    );
    exit_lookup(&mut a, mode, t, slots);
    // FAULTED: nothing retired; END: one instruction. As the tail of
    // `translate`.
    dynasm!(a
        ; .arch x64
        ; out:
        ; shr eax, 1
        ; neg rax
        ; add rax, 1
        ; add QWORD [rsp + stack::BUDGET], rax
        ; mov eax, exit::CONTINUE as i32
        ; jmp extern t.leave
        ; budget:
        ; add QWORD [rsp + stack::BUDGET], 1
        ; mov eax, exit::BUDGET as i32
        ; jmp extern t.leave
    );
    a.finalize().unwrap_or_default()
}

/// Leave after all the block's instructions for the EIP already stored in the
/// state, through the exit's inline cache (the target it went to last,
/// while the jump cache's epoch lasts), else the jump cache (to the
/// dispatcher on a miss). An exit mostly goes where it went last (a RET
/// to its caller): two compares instead of the lookup's hash, four
/// compares, call and return.
fn exit_lookup(a: &mut Asm, mode: u32, t: &Targets, slots: &mut Slots) {
    let size = std::mem::size_of::<crate::jumpcache::Inline>();
    let n = if *slots.inline_next < slots.inline_cap {
        *slots.inline_next += 1;
        *slots.inline_next - 1
    } else {
        0
    };
    let at = (slots.inline_base + size * n as usize) as i64;
    dynasm!(a ; .arch x64 ; mov r11, QWORD at);
    if n != 0 {
        dynasm!(a
            ; .arch x64
            ; mov eax, [rbx + state::EIP]
            ; cmp eax, [r11]
            ; jne >lookup
            ; mov ecx, [r11 + 4]
            ; cmp ecx, [rsp + fr(off::EPOCH)]
            ; jne >lookup
            ; jmp QWORD [r11 + 8]
            ; lookup:
        );
    }
    dynasm!(a
        ; .arch x64
        ; mov esi, mode as i32
        ; call extern t.lookup
        ; jmp rax
    );
}

/// Leave after all the block's instructions for the known EIP `target`: through a
/// chain slot when the target is in the same linear page as the block
/// (so the same physical page and the same invalidation fate), else
/// through the jump cache.
fn exit_chained(a: &mut Asm, block_eip: u32, target: u32, t: &Targets, slots: &mut Slots, mode: u32) {
    if target >> 12 != block_eip >> 12 || *slots.next >= slots.cap {
        dynasm!(a ; .arch x64 ; mov DWORD [rbx + state::EIP], target as i32);
        exit_lookup(a, mode, t, slots);
        return;
    }
    let slot = *slots.next;
    *slots.next += 1;
    let miss = a.new_dynamic_label();
    dynasm!(a
        ; .arch x64
        ; jmp =>miss
        ; =>miss
    );
    // The miss stub, the jump's first target: the code right after it.
    slots.used.push((slot, target, a.offset().0));
    dynasm!(a
        ; .arch x64
        ; mov DWORD [rbx + state::EIP], target as i32
        ; mov DWORD [rsp + fr(off::LAST_SLOT)], slot as i32
        ; mov eax, exit::CONTINUE as i32
        ; jmp extern t.leave
    );
}

/// An instruction executed by the interpreter's handler.
fn fallback(a: &mut Asm, insn: &Insn, next: u32, out: DynamicLabel) {
    let f = runtime::rt_exec as *const () as i64;
    dynasm!(a
        ; .arch x64
        ; mov DWORD [rbx + state::EIP], next as i32
        ; lea rdi, [rsp + stack::FRAME]
        ; mov rsi, QWORD insn as *const Insn as i64
        ; mov rax, QWORD f
        ; call rax
        ; cmp eax, exec::NEXT as i32
        ; jne =>out
    );
}

/// For each instruction whose flags are deferred (`Need::Rare`): the
/// register-form code (`deferred::reg_code`) when its operands stay in
/// guest registers for as long as its flags can be pending. That lasts
/// until an instruction replaces every flag, including that instruction
/// (its own accesses come before its flags): neither register may be
/// written by the instructions after it up to there.
fn in_registers(kinds: &[Kind], needs: &[Need], writes: &[u8]) -> Vec<Option<u32>> {
    use crate::deferred::{Op, Src, reg_code};
    (0..kinds.len())
        .map(|k| {
            if needs[k] != Need::Rare {
                return None;
            }
            let (code, regs) = match kinds[k] {
                Kind::Alu {
                    op: op @ (AluOp::Add | AluOp::Sub),
                    w: 4,
                    dst: Opnd::Reg(x),
                    src,
                } => {
                    let op = if op == AluOp::Add { Op::Add } else { Op::Sub };
                    match src {
                        Opnd::Reg(y) if y != x => (reg_code(op, x, Src::Reg(y)), 1u8 << x | 1 << y),
                        Opnd::Imm(v) if (v as i32) == (v as i16) as i32 => (reg_code(op, x, Src::Imm(v as i16)), 1 << x),
                        _ => return None,
                    }
                }
                Kind::IncDec {
                    w: 4,
                    dst: Opnd::Reg(x),
                    dec,
                } => (reg_code(if dec { Op::Dec } else { Op::Inc }, x, Src::Imm(0)), 1 << x),
                _ => return None,
            };
            let end = (k + 1..kinds.len())
                .find(|&j| liveness::kills_all(&kinds[j]))
                .unwrap_or(kinds.len() - 1);
            let kept = writes[k + 1..=end.max(k)].iter().all(|w| w & regs == 0);
            kept.then_some(code)
        })
        .collect()
}

/// For each instruction, whether its memory operand's address comes from
/// a value loaded earlier in the block (through any chain of register
/// operations): its load waits for that load, so the address-to-data
/// latency adds up along the chain, which is what load-site memos cut.
/// Addresses from registers the block computes otherwise (loop counters,
/// pointers stepped by constants) are ready early, and there a memo's
/// extra instructions cost more than the latency they save.
fn chased(insns: &[Insn], access: &[Access]) -> Vec<bool> {
    let mut loaded = 0u8;
    let mut out = Vec::with_capacity(insns.len());
    for (i, a) in insns.iter().zip(access) {
        let bit = |r: u8| if r as usize == cpu::state::reg::ZERO { 0 } else { 1u8 << (r & 7) };
        out.push(loaded & (bit(i.base) | bit(i.index)) != 0);
        let from_load = a.reads_memory || a.used & loaded != 0;
        loaded = (loaded & !a.written) | if from_load { a.written } else { 0 };
    }
    out
}

/// What an instruction does with the general registers (bit n: register
/// n, EAX = 0), explicitly or not, and with memory.
struct Access {
    used: u8,
    written: u8,
    reads_memory: bool,
}

/// The general registers `ins` uses and writes, for the register cache's
/// plan and the access groups, and whether it reads memory (`chased`).
/// One factory serves a whole block: each new one allocates.
fn gprs(f: &mut iced_x86::InstructionInfoFactory, ins: &iced_x86::Instruction) -> Access {
    use iced_x86::OpAccess;
    let info = f.info(ins);
    let (mut used, mut written) = (0, 0);
    for u in info.used_registers() {
        let r = u.register().full_register32();
        if !r.is_gpr32() {
            continue;
        }
        let bit = 1u8 << (r.number() & 7);
        used |= bit;
        if matches!(
            u.access(),
            OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
        ) {
            written |= bit;
        }
    }
    let reads_memory = info
        .used_memory()
        .iter()
        .any(|m| matches!(m.access(), OpAccess::Read | OpAccess::ReadWrite | OpAccess::CondRead));
    Access {
        used,
        written,
        reads_memory,
    }
}

/// The deferred flag operation of `k` (see `deferred`; `liveness` defers
/// only these kinds) and how many operand registers it keeps.
fn deferred_op(k: &Kind) -> (u8, u8) {
    use crate::deferred::{Op, code};
    match *k {
        Kind::Alu { op: AluOp::Add, w, .. } => (code(Op::Add, w), 2),
        // The carry in R8D is the third operand.
        Kind::Alu {
            op: AluOp::Adc, w, dst, ..
        } if dst != Opnd::Mem => (code(Op::Adc, w), 3),
        Kind::Alu {
            op: AluOp::Sbb, w, dst, ..
        } if dst != Opnd::Mem => (code(Op::Sbb, w), 3),
        // NEG: EAX = 0, ECX = the operand.
        Kind::Alu {
            op: AluOp::Sub | AluOp::Cmp,
            w,
            ..
        }
        | Kind::Neg { w, .. } => (code(Op::Sub, w), 2),
        Kind::IncDec { w, dec, .. } => (code(if dec { Op::Dec } else { Op::Inc }, w), 1),
        // EAX = the operand, ECX = the count.
        Kind::Shift {
            op,
            w,
            count: Count::Imm(_),
            ..
        } => match op {
            ShiftOp::Shl => (code(Op::Shl, w), 2),
            ShiftOp::Shr => (code(Op::Shr, w), 2),
            ShiftOp::Sar => (code(Op::Sar, w), 2),
            ShiftOp::Rol | ShiftOp::Ror => (0, 0),
        },
        _ => (0, 0),
    }
}

/// After an instruction that stored to memory: if the store hit a page
/// holding code, end the block after this instruction (computing the
/// flags deferred to this exit first).
fn check_end(g: &mut Gen, next: u32, out: DynamicLabel) {
    g.settle();
    let pending = g.after;
    dynasm!(g.a
        ; .arch x64
        ; cmp DWORD [rsp + fr(off::END)], 0
        ; je >go_on
    );
    templates::code_write_exit(&mut g.a, next, out, pending);
    dynasm!(g.a ; .arch x64 ; go_on:);
}

/// Write the result in host `h` to `dst` as the instruction's last action,
/// ending the block after it if a store hit a page holding code: on the
/// store's slow path (see `Gen::ends`) when nothing is left to settle
/// (deferred flags are stored after the store, whose fault must still see
/// the earlier ones), else by `check_end`.
fn write_last(g: &mut Gen, w: Width, dst: Opnd, h: u8, at: Site, next: u32, out: DynamicLabel) {
    if dst != Opnd::Mem {
        g.write(w, dst, h, at);
    } else if g.spill == 0 {
        g.ends = Some((next, out, false));
        g.write(w, dst, h, at);
        g.ends = None;
    } else {
        g.write(w, dst, h, at);
        check_end(g, next, out);
    }
}

/// Emit `kind` inline. Returns true when the instruction ended the block
/// (a control transfer that emitted its own exits).
fn inline(g: &mut Gen, kind: Kind, i: &Insn, start: u32, next: u32, out: DynamicLabel, bx: &mut BlockCx) -> bool {
    let has_mem = |o: Opnd| o == Opnd::Mem;
    let at = Site {
        start,
        seg: i.seg,
        fault: out,
        group: g.member,
    };
    let stack = Site {
        seg: SS,
        group: None,
        ..at
    };
    match kind {
        Kind::Mov {
            w: 4,
            dst: Opnd::Reg(d),
            src: Opnd::Reg(s),
        } if g.cache.find(s & 7).is_some() => {
            // From the source's copy: no temporary.
            let c = g.held(s).unwrap_or(RCX);
            g.st_reg(4, d, c);
        }
        Kind::Mov {
            w: 4,
            dst: Opnd::Reg(d),
            src: Opnd::Imm(v),
        } => g.st_reg_imm(d, v),
        Kind::Mov { w, dst, src } => {
            if has_mem(dst) || has_mem(src) {
                g.ea(i);
            }
            g.read(w, src, RCX, false, at);
            write_last(g, w, dst, RCX, at, next, out);
        }
        Kind::Alu {
            op,
            w: 4,
            dst: Opnd::Reg(d),
            src,
        } if g.alu_in_place(op, d, src) => {}
        Kind::Alu {
            op: AluOp::Xor,
            w,
            dst: Opnd::Reg(d),
            src: Opnd::Reg(s),
        } if d == s => {
            // The zeroing idiom: no operands to load.
            dynasm!(g.a ; .arch x64 ; xor edx, edx);
            g.flags_logic(w);
            write_last(g, w, Opnd::Reg(d), RDX, at, next, out);
        }
        Kind::Alu { op, w, dst, src } => {
            if has_mem(dst) || has_mem(src) {
                g.ea(i);
            }
            let writes = !matches!(op, AluOp::Cmp | AluOp::Test);
            g.read(w, dst, RAX, writes && has_mem(dst), at);
            g.read(w, src, RCX, false, at);
            g.alu(op, w);
            if writes {
                write_last(g, w, dst, RDX, at, next, out);
            }
        }
        Kind::IncDec {
            w: 4,
            dst: Opnd::Reg(d),
            dec,
        } if g.incdec_in_place(d, dec) => {}
        Kind::IncDec { w, dst, dec } => {
            if has_mem(dst) {
                g.ea(i);
            }
            g.read(w, dst, RAX, has_mem(dst), at);
            g.incdec(w, dec);
            write_last(g, w, dst, RDX, at, next, out);
        }
        Kind::Neg { w, dst } => {
            if has_mem(dst) {
                g.ea(i);
            }
            g.read(w, dst, RCX, has_mem(dst), at);
            dynasm!(g.a ; .arch x64 ; xor eax, eax ; mov edx, eax ; sub edx, ecx);
            templates::mask_edx(&mut g.a, w);
            g.flags_wide(w, true);
            write_last(g, w, dst, RDX, at, next, out);
        }
        Kind::Not { w, dst } => {
            if has_mem(dst) {
                g.ea(i);
            }
            g.read(w, dst, RDX, has_mem(dst), at);
            dynasm!(g.a ; .arch x64 ; not edx);
            templates::mask_edx(&mut g.a, w);
            write_last(g, w, dst, RDX, at, next, out);
        }
        Kind::Lea { w, dst } => {
            // LEA ignores the segment.
            g.ea_offset(i);
            g.st_reg(w, dst, 6);
        }
        Kind::Movx { dw, sw, signed, dst, src } => {
            if has_mem(src) {
                g.ea(i);
            }
            g.read(sw, src, RCX, false, at);
            if signed {
                match sw {
                    1 => dynasm!(g.a ; .arch x64 ; movsx ecx, cl),
                    _ => dynasm!(g.a ; .arch x64 ; movsx ecx, cx),
                }
            }
            g.st_reg(dw, dst, RCX);
        }
        Kind::Shift {
            op,
            w: 4,
            dst: Opnd::Reg(d),
            count: Count::Imm(c),
        } if g.shift_in_place(op, d, c) => {}
        Kind::Shift { op, w, dst, count } => {
            if has_mem(dst) {
                g.ea(i);
            }
            g.read(w, dst, RAX, has_mem(dst), at);
            match count {
                Count::Imm(c) => g.shift(op, w, c),
                Count::Cl => {
                    // A zero count changes nothing (a memory operand is
                    // still written back, unchanged).
                    g.ld_reg(4, 1, RCX);
                    dynasm!(g.a
                        ; .arch x64
                        ; mov edx, eax
                        ; and ecx, 0x1F
                        ; jz >zero
                    );
                    g.cache.freeze();
                    g.shift_cl(op, w);
                    g.cache.thaw();
                    dynasm!(g.a ; .arch x64 ; zero:);
                }
            }
            write_last(g, w, dst, RDX, at, next, out);
        }
        Kind::Imul { w, dst, src, imm } => {
            if has_mem(src) {
                g.ea(i);
            }
            g.read(w, src, RCX, false, at);
            match imm {
                Some(v) => dynasm!(g.a ; .arch x64 ; mov eax, v as i32),
                None => g.ld_reg(w, dst, RAX),
            }
            g.imul(w);
            g.st_reg(w, dst, RAX);
        }
        Kind::MulAcc { w, src, signed } => {
            if has_mem(src) {
                g.ea(i);
            }
            g.read(w, src, RCX, false, at);
            g.mul_acc(w, signed);
        }
        Kind::Setcc { cc, dst } => {
            if has_mem(dst) {
                g.ea(i);
            }
            g.eval_cond(cc);
            dynasm!(g.a ; .arch x64 ; mov ecx, r10d);
            write_last(g, 1, dst, RCX, at, next, out);
        }
        Kind::Cmov { cc, w, dst, src } => {
            if has_mem(src) {
                g.ea(i);
            }
            // The source is read (and may fault) whatever the condition.
            g.read(w, src, RCX, false, at);
            // Without a branch: the conditions of CMOVs are often data
            // (the carries of a multi-precision multiply), which a
            // branch would mispredict half the time.
            if let Some((code, pend)) = g.cond_from {
                // Host flags from the producer's operands, right before
                // the host CMOV on the same condition.
                g.ld_reg(w, dst, RDX);
                g.regenerate(code, pend);
                templates::cmov_host(&mut g.a, cc);
            } else {
                g.eval_cond(cc);
                g.ld_reg(w, dst, RDX);
                dynasm!(g.a ; .arch x64 ; test r10d, r10d ; cmovnz edx, ecx);
            }
            g.st_reg(w, dst, RDX);
        }
        Kind::Push { src } => {
            if has_mem(src) {
                g.ea(i);
            }
            g.read(4, src, RCX, false, at);
            g.ld_reg(4, 4, RSI);
            dynasm!(g.a ; .arch x64 ; sub esi, 4);
            // A store into code ends the block on the store's slow path,
            // which stores ESP itself then (see `Gen::ends`).
            g.ends = Some((next, out, true));
            g.store(4, RCX, stack);
            g.ends = None;
            g.st_reg(4, 4, RSI);
        }
        Kind::Pop { dst } => {
            g.ld_reg(4, 4, RSI);
            g.load(4, RCX, false, stack);
            // ESP first: POP ESP leaves the popped value.
            dynasm!(g.a ; .arch x64 ; add esi, 4);
            g.st_reg(4, 4, RSI);
            g.st_reg(4, dst, RCX);
        }
        Kind::Nop => {}
        Kind::Jmp { target } => {
            bx.exit_chained(&mut g.a, target);
            return true;
        }
        Kind::Jcc { cc, target } => {
            let taken = g.a.new_dynamic_label();
            g.branch(cc, taken);
            bx.exit_chained(&mut g.a, next);
            dynasm!(g.a ; .arch x64 ; =>taken);
            bx.exit_chained(&mut g.a, target);
            return true;
        }
        Kind::Call { target } => {
            g.ld_reg(4, 4, RSI);
            dynasm!(g.a ; .arch x64 ; sub esi, 4 ; mov ecx, next as i32);
            // A store into code leaves to the dispatcher (not through a
            // chain) so it sees the invalidation first: from the store's
            // slow path, which stores ESP itself then (see `Gen::ends`).
            g.ends = Some((target, out, true));
            g.store(4, RCX, stack);
            g.ends = None;
            g.st_reg(4, 4, RSI);
            bx.exit_chained(&mut g.a, target);
            return true;
        }
        Kind::JmpInd { src } => {
            if has_mem(src) {
                g.ea(i);
            }
            g.read(4, src, RCX, false, at);
            dynasm!(g.a ; .arch x64 ; mov [rbx + state::EIP], ecx);
            bx.exit_lookup(&mut g.a);
            return true;
        }
        Kind::CallInd { src } => {
            if has_mem(src) {
                g.ea(i);
            }
            // The target is read (and may fault) before the push.
            g.read(4, src, RDX, false, at);
            g.ld_reg(4, 4, RSI);
            dynasm!(g.a ; .arch x64 ; sub esi, 4 ; mov ecx, next as i32);
            g.store(4, RCX, stack);
            g.st_reg(4, 4, RSI);
            dynasm!(g.a
                ; .arch x64
                ; mov [rbx + state::EIP], edx
                ; cmp DWORD [rsp + fr(off::END)], 0
                ; je >go
                ; mov DWORD [rsp + fr(off::END)], 0
                ; mov eax, exit::CONTINUE as i32
                ; jmp extern bx.t.leave
                ; go:
            );
            bx.exit_lookup(&mut g.a);
            return true;
        }
        Kind::Ret { imm } => {
            g.ld_reg(4, 4, RSI);
            g.load(4, RCX, false, stack);
            dynasm!(g.a ; .arch x64 ; add esi, 4 + imm as i32);
            g.st_reg(4, 4, RSI);
            dynasm!(g.a ; .arch x64 ; mov [rbx + state::EIP], ecx);
            bx.exit_lookup(&mut g.a);
            return true;
        }
        Kind::Fallback => unreachable!("fallback handled by the caller"),
    }
    let _ = RDX;
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plan_names_guest_registers_by_number() {
        // PUSH EBP (ESP, EBP); MOV ECX,[EDI+EBX*4] (ECX, EDI, EBX).
        let mut d = iced_x86::Decoder::new(32, &[0x55, 0x8B, 0x0C, 0x9F], 0);
        let push = d.decode();
        let mut f = iced_x86::InstructionInfoFactory::new();
        let mut g = |ins| {
            let a = super::gprs(&mut f, ins);
            (a.used, a.written)
        };
        assert_eq!(g(&push), (1 << 4 | 1 << 5, 1 << 4));
        let mov = d.decode();
        assert_eq!(g(&mov), (1 << 1 | 1 << 7 | 1 << 3, 1 << 1));
    }
}
