//! Everything translated code calls, and the trampoline that enters it.
//!
//! This module and `dispatch.rs` hold the crate's `unsafe`: generated code
//! receives raw pointers to the frame, and helpers turn them back into the
//! references they were made from. The rule that makes this sound: while
//! translated code runs, the dispatcher does not touch the `Ctx` it
//! handed over, and every access to guest state goes through the frame's
//! pointers (by generated code) or through the `Ctx` re-borrowed from the
//! frame (by helpers), one at a time, on one thread.

use crate::frame::{Frame, off};
use cpu::Ctx;
use cpu::interp::insn::Insn;
use dynasmrt::{DynasmApi, dynasm};

/// Exit codes of translated code (in EAX at the `leave` stub).
pub mod exit {
    /// Normal: EIP holds where to go on.
    pub const CONTINUE: u32 = 0;
    /// The block did not start: its budget would go negative.
    pub const BUDGET: u32 = 2;
}

/// Results of `rt_exec`.
pub mod exec {
    /// Go on with the next instruction of the block.
    pub const NEXT: u32 = 0;
    /// The instruction faulted; the exception is delivered. Not retired.
    pub const FAULTED: u32 = 1;
    /// Retired, but the block must end (control transfer, state change).
    pub const END: u32 = 2;
}

/// Execute one instruction with the interpreter's handler (instructions
/// without an inline translation). EIP already holds the next
/// instruction's address.
///
/// # Safety
/// `frame` must be the frame the dispatcher entered translated code with
/// (its `ctx` a live `Ctx` nothing else is using), `insn` an instruction
/// of a live translation.
pub unsafe extern "sysv64" fn rt_exec(frame: *mut Frame, insn: *const Insn) -> u32 {
    // SAFETY: per the function's contract, both pointers are valid and
    // unaliased for the duration of this call.
    let (c, insn) = unsafe { (&mut *((*frame).ctx as *mut Ctx), &*insn) };
    let next = c.s.eip;
    let start = next.wrapping_sub(insn.len as u32);
    c.s.eflags_rest &= !x86::flags::RF;
    if let Err(e) = (insn.exec)(c, insn) {
        c.s.eip = start;
        c.raise(e);
        return exec::FAULTED;
    }
    if let Some(t) = c.pending_trap.take() {
        c.raise(t);
        return exec::END;
    }
    if c.end_block || c.s.eip != next {
        c.end_block = false;
        return exec::END;
    }
    exec::NEXT
}

/// The entry trampoline: `enter(frame, code) -> exit code`.
pub type Enter = unsafe extern "sysv64" fn(*mut Frame, usize) -> u32;

/// Assemble the trampoline and the leave stub for `base`; returns the code
/// and the offset of `leave` within it.
pub fn trampoline(base: usize) -> (Vec<u8>, usize) {
    let mut ops = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(base);
    dynasm!(ops
        ; .arch x64
        ; push rbp
        ; push rbx
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 8
        ; mov r12, rdi
        ; mov rbx, [r12 + off::STATE]
        ; mov r13, [r12 + off::RAM]
        ; mov r14, [r12 + off::TLB]
        ; jmp rsi
    );
    let leave = ops.offset().0;
    dynasm!(ops
        ; .arch x64
        ; add rsp, 8
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbx
        ; pop rbp
        ; ret
    );
    (ops.finalize().unwrap_or_default(), leave)
}
