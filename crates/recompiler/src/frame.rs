//! The frame that translated code runs with: pointers to the state it
//! works on and the counters it maintains. Generated code addresses these
//! fields at fixed offsets (`#[repr(C)]`).

use cpu::CpuState;
use cpu::mmu::TlbEntry;
use std::mem::offset_of;

#[repr(C)]
pub struct Frame {
    /// The guest CPU state (kept in RBX by generated code).
    pub state: *mut CpuState,
    /// Host address of guest RAM byte 0 (R13).
    pub ram: *mut u8,
    /// The data TLB set for the current privilege (R14).
    pub tlb: *const TlbEntry,
    /// The execution context (`*mut Ctx`), for runtime helpers.
    pub ctx: *mut u8,
    /// Instructions the blocks may still start; a block subtracts its
    /// length on entry and exits at once when this would go negative
    /// (from the trampoline's copy, see `stack`).
    pub budget: i64,
    /// Instructions retired by translated code (the trampoline adds the
    /// run's count at the end, see `stack::START`).
    pub retired: u64,
    /// Set by a store helper when the store hit a page holding code: the
    /// block ends after the current instruction.
    pub end: u32,
    /// The chain slot through which the last block left (to be patched to
    /// the next block), or `NO_SLOT`.
    pub last_slot: u32,
    /// Parameters of a slow-path thunk call (see `thunks`).
    pub arg: u32,
    /// The deferred flag operation pending at a slow-path thunk call
    /// (see `deferred`; 0: none).
    pub deferred: u32,
    /// The operands of the pending deferred flag operation, and the
    /// carry into it for ADC and SBB.
    pub flag_a: u32,
    pub flag_b: u32,
    pub flag_c: u32,
    /// Flags left in operand form by the last block that ran (see
    /// `deferred::settle`): the operation's code (0: none, the lazy
    /// flags in `CpuState` are current) and its operands.
    pub pend: u32,
    pub pend_a: u32,
    pub pend_b: u32,
    /// The jump cache's epoch (see `jumpcache::Inline`).
    pub epoch: u32,
    /// The load-site memos' tokens (see `memo`): valid for memos of
    /// global pages, and for all others.
    pub memo_global: u32,
    pub memo_local: u32,
    /// Counters of handler calls by iced `Code` (`fallback_len` of them),
    /// or null when statistics are off.
    pub fallbacks: *mut u64,
    pub fallback_len: usize,
}

/// No chain slot.
pub const NO_SLOT: u32 = u32::MAX;

pub mod off {
    use super::*;
    pub const STATE: i32 = offset_of!(Frame, state) as i32;
    pub const RAM: i32 = offset_of!(Frame, ram) as i32;
    pub const TLB: i32 = offset_of!(Frame, tlb) as i32;
    pub const BUDGET: i32 = offset_of!(Frame, budget) as i32;
    pub const RETIRED: i32 = offset_of!(Frame, retired) as i32;
    pub const END: i32 = offset_of!(Frame, end) as i32;
    pub const LAST_SLOT: i32 = offset_of!(Frame, last_slot) as i32;
    pub const ARG: i32 = offset_of!(Frame, arg) as i32;
    pub const DEFERRED: i32 = offset_of!(Frame, deferred) as i32;
    pub const FLAG_A: i32 = offset_of!(Frame, flag_a) as i32;
    pub const FLAG_B: i32 = offset_of!(Frame, flag_b) as i32;
    pub const FLAG_C: i32 = offset_of!(Frame, flag_c) as i32;
    pub const PEND: i32 = offset_of!(Frame, pend) as i32;
    pub const PEND_A: i32 = offset_of!(Frame, pend_a) as i32;
    pub const PEND_B: i32 = offset_of!(Frame, pend_b) as i32;
    pub const EPOCH: i32 = offset_of!(Frame, epoch) as i32;
    pub const MEMO_GLOBAL: i32 = offset_of!(Frame, memo_global) as i32;
    pub const MEMO_LOCAL: i32 = offset_of!(Frame, memo_local) as i32;
}

/// The counter translated code updates at every block, kept in the
/// trampoline's stack frame while it runs (addressed from RSP, which is
/// the same everywhere at block level) and copied from and back to the
/// `Frame` by the trampoline. A chain of read-modify-writes through any
/// other base register waits for store-to-load forwarding at every block
/// (2 ns a step on this EPYC); through RSP the CPU renames the memory
/// operand (0.25 ns).
pub mod stack {
    /// `Frame::budget`'s working copy.
    pub const BUDGET: i32 = 0;
    /// The budget at entry. Every instruction retired took one from the
    /// budget, and every instruction that did not run gave it back, so
    /// what the budget lost is what retired: the trampoline adds that to
    /// `Frame::retired` when it leaves, and blocks count nothing else.
    pub const START: i32 = 8;
    /// The slots of the memory-access groups (`emit::groups`), 8 bytes
    /// each.
    pub const GROUP: i32 = 16;
    /// The trampoline's copy of the `Frame` that generated code works
    /// on (`[rsp + FRAME + off::X]` at block level): addressing it from
    /// RSP leaves R12 free for a guest register (`emit::regcache`). The
    /// trampoline copies it back when it leaves, and helpers get its
    /// address.
    pub const FRAME: i32 = 40;
    /// The `Frame` pointer the trampoline was given.
    pub const ORIG: i32 = FRAME + super::FRAME_SIZE as i32;
    /// Bytes reserved; with the six saved registers and the return
    /// address this keeps RSP 16-byte aligned for helper calls.
    pub const SIZE: i32 = (ORIG + 8) | 8;
    const _: () = assert!(SIZE % 16 == 8 && SIZE >= ORIG + 8);
}

/// Bytes of a `Frame`, copied in quadwords.
pub const FRAME_SIZE: usize = std::mem::size_of::<Frame>();
const _: () = assert!(FRAME_SIZE.is_multiple_of(8));

/// The operand for frame field `field` (an `off` constant) at block level.
pub const fn fr(field: i32) -> i32 {
    stack::FRAME + field
}

/// Offsets into `CpuState` used by generated code.
pub mod state {
    use cpu::CpuState;
    use std::mem::offset_of;
    pub const GPR: i32 = offset_of!(CpuState, gpr) as i32;
    pub const EIP: i32 = offset_of!(CpuState, eip) as i32;
    pub const RESULT: i32 = (offset_of!(CpuState, lazy) + offset_of!(cpu::flags::LazyFlags, result)) as i32;
    pub const AUX: i32 = (offset_of!(CpuState, lazy) + offset_of!(cpu::flags::LazyFlags, aux)) as i32;

    const SEG: usize = offset_of!(CpuState, seg);

    /// Offset of general register `n`.
    pub const fn gpr(n: u8) -> i32 {
        GPR + 4 * (n as i32 & 7)
    }

    /// Offset of field `field` (see `cpu::segment::layout`) of segment
    /// register `n`.
    pub const fn seg(n: usize, field: usize) -> i32 {
        (SEG + n * cpu::segment::layout::SIZE + field) as i32
    }
}

/// TLB entry layout.
pub mod tlb {
    use cpu::mmu::TlbEntry;
    use std::mem::offset_of;
    pub const READ_TAG: i32 = offset_of!(TlbEntry, read_tag) as i32;
    pub const WRITE_TAG: i32 = offset_of!(TlbEntry, write_tag) as i32;
    pub const READ_ADDEND: i32 = offset_of!(TlbEntry, read_addend) as i32;
    pub const WRITE_ADDEND: i32 = offset_of!(TlbEntry, write_addend) as i32;
    pub const FLAGS: i32 = offset_of!(TlbEntry, flags) as i32;
    pub const SHIFT: u8 = 5;
    const _: () = assert!(std::mem::size_of::<TlbEntry>() == 1 << SHIFT);
    pub const SETS: u32 = cpu::mmu::TLB_SETS as u32;
}
