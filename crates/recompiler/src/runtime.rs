//! Everything translated code calls, and the trampoline that enters it.
//!
//! This module and `dispatch.rs` hold the crate's `unsafe`: generated code
//! receives raw pointers to the frame, and helpers turn them back into the
//! references they were made from. The rule that makes this sound: while
//! translated code runs, the dispatcher does not touch the `Ctx` it
//! handed over, and every access to guest state goes through the frame's
//! pointers (by generated code) or through the `Ctx` re-borrowed from the
//! frame (by helpers), one at a time, on one thread.

use crate::deferred;
use crate::frame::{FRAME_SIZE, Frame, fr, off, stack};
use cpu::Ctx;
use cpu::flags::{W8, W16, W32};
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
    let (c, insn) = unsafe { (ctx(frame), &*insn) };
    // SAFETY: `fallbacks` is null or points at `fallback_len` counters
    // owned by the recompiler, which outlive the call; the index is
    // checked.
    unsafe {
        let f = &*frame;
        if !f.fallbacks.is_null() && (insn.code as usize) < f.fallback_len {
            *f.fallbacks.add(insn.code as usize) += 1;
        }
    }
    finish(c, insn, true)
}

/// Execute `insn` with EIP already at the next instruction: the common
/// tail of `rt_exec` and `rt_uncached`. A jump ends the block only if
/// `jump_ends` (the caller's code goes on at the next instruction).
fn finish(c: &mut Ctx, insn: &Insn, jump_ends: bool) -> u32 {
    let next = c.s.eip;
    let start = next.wrapping_sub(insn.len as u32);
    c.s.eflags_rest &= !x86::flags::RF;
    let tlb_flushes = c.tlb.flushes;
    if let Err(e) = (insn.exec)(c, insn) {
        c.s.eip = start;
        c.raise(e);
        return exec::FAULTED;
    }
    if let Some(t) = c.pending_trap.take() {
        c.raise(t);
        return exec::END;
    }
    // A TLB flush (CR3, INVLPG, paging changes) ends the block: the
    // dispatcher must drop the jump cache before the next lookup.
    if c.end_block || (jump_ends && c.s.eip != next) || c.tlb.flushes != tlb_flushes {
        c.end_block = false;
        return exec::END;
    }
    exec::NEXT
}

/// Fetch, decode and execute the instruction at CS:EIP as the
/// interpreter does for code it cannot cache (one that runs into the next
/// page: see `block::Read::Crossing`). Returns as `rt_exec`, except that
/// a jump is `NEXT` too: the caller leaves for CS:EIP either way.
///
/// # Safety
/// As `rt_exec`.
pub unsafe extern "sysv64" fn rt_uncached(frame: *mut Frame) -> u32 {
    // SAFETY: per the function's contract, the frame and its context are
    // valid and unaliased for the duration of this call.
    let c = unsafe { ctx(frame) };
    match cpu::interp::fetch_uncached(c) {
        Ok(insn) => {
            c.s.eip = c.s.eip.wrapping_add(insn.len as u32);
            finish(c, &insn, false)
        }
        Err(e) => {
            c.raise(e);
            exec::FAULTED
        }
    }
}

/// Bit 32 of a load helper's result: the access faulted (and the fault
/// was delivered).
pub const LOAD_FAULT: u64 = 1 << 32;

/// Reborrow the context of a frame, with the flags a block left in
/// operand form settled into `CpuState` (see `deferred::settle`): every
/// helper enters through here, so Rust never sees them unsettled.
///
/// # Safety
/// As for [`rt_exec`].
unsafe fn ctx<'a>(frame: *mut Frame) -> &'a mut Ctx<'a> {
    // SAFETY: the caller guarantees `frame` and its `ctx` are live and not
    // otherwise in use while the helper runs.
    let c = unsafe { &mut *((*frame).ctx as *mut Ctx<'a>) };
    // SAFETY: as above; the frame is a different object from the context.
    deferred::settle(unsafe { &mut *frame }, c.s);
    c
}

/// Settle the flags a block left in operand form, for generated code
/// about to read the lazy flags (through the `resolve` thunk).
///
/// # Safety
/// As for [`rt_exec`].
pub unsafe extern "sysv64" fn rt_resolve(frame: *mut Frame) {
    // SAFETY: per the contract.
    unsafe { ctx(frame) };
}

/// Slow path of an inline load of `size` bytes at linear `lin` (TLB miss,
/// page crossing, MMIO): the value, or [`LOAD_FAULT`] after the fault was
/// delivered (the caller set EIP to the instruction). With `for_write`, the
/// page must also be writable (the first half of a read-modify-write).
///
/// # Safety
/// As for [`rt_exec`].
pub unsafe extern "sysv64" fn rt_load(frame: *mut Frame, lin: u32, size_seg: u32, for_write: u32) -> u64 {
    // SAFETY: per the contract.
    let c = unsafe { ctx(frame) };
    let user = c.user();
    let (size, seg) = (size_seg & 0xFF, (size_seg >> 8) as usize);
    let r = (|| {
        wrap_check(c, lin, size, seg)?;
        if for_write != 0 {
            c.probe_write_lin(lin, size, user)?;
        }
        match size {
            1 => c.read_lin::<W8>(lin, user),
            2 => c.read_lin::<W16>(lin, user),
            _ => c.read_lin::<W32>(lin, user),
        }
    })();
    match r {
        Ok(v) => v as u64,
        Err(e) => {
            // SAFETY: per the contract, `frame` is live.
            unsafe { pending_flags(frame, c) };
            c.raise(e);
            LOAD_FAULT
        }
    }
}

/// Slow path of an inline store: 0 when done, [`exec::FAULTED`] after the
/// fault was delivered. A store into a page holding code sets the frame's
/// `end` flag.
///
/// # Safety
/// As for [`rt_exec`].
pub unsafe extern "sysv64" fn rt_store(frame: *mut Frame, lin: u32, value: u32, size_seg: u32) -> u32 {
    // SAFETY: per the contract.
    let c = unsafe { ctx(frame) };
    let user = c.user();
    let (size, seg) = (size_seg & 0xFF, (size_seg >> 8) as usize);
    let r = wrap_check(c, lin, size, seg).and_then(|()| match size {
        1 => c.write_lin::<W8>(lin, value, user),
        2 => c.write_lin::<W16>(lin, value, user),
        _ => c.write_lin::<W32>(lin, value, user),
    });
    match r {
        Ok(()) => {
            if std::mem::take(&mut c.end_block) {
                // SAFETY: per the contract, `frame` is live.
                unsafe { (*frame).end = 1 };
            }
            0
        }
        Err(e) => {
            // SAFETY: per the contract, `frame` is live.
            unsafe { pending_flags(frame, c) };
            c.raise(e);
            exec::FAULTED
        }
    }
}

/// Compute the flags of the deferred operation the slow path's `arg`
/// names (see `deferred`), before a fault is delivered. Only then: an
/// access that succeeds may belong to an instruction that already stored
/// its own flags (a read-modify-write's store), which these would undo.
///
/// # Safety
/// `frame` must be live (as for the helpers that call this).
unsafe fn pending_flags(frame: *mut Frame, c: &mut Ctx) {
    // SAFETY: per the contract.
    let f = unsafe { &*frame };
    let code = f.deferred;
    if code != 0 {
        deferred::materialize(f, c.s, code);
    }
}

/// The code-write exit of a block with a deferred flag operation pending:
/// compute its flags (`code`, see `deferred`).
///
/// # Safety
/// As for [`rt_exec`].
pub unsafe extern "sysv64" fn rt_flags(frame: *mut Frame, code: u32) {
    // SAFETY: per the contract.
    let c = unsafe { ctx(frame) };
    // SAFETY: per the contract, `frame` is live; only its slots are read.
    deferred::materialize(unsafe { &*frame }, c.s, code);
}

/// Inline accesses are made only through segments that admit every
/// offset (flat DS/ES/SS; FS and GS with any base), where the one limit
/// violation left is an access running past offset 0xFFFFFFFF: #GP(0),
/// or #SS(0) through SS.
fn wrap_check(c: &Ctx, lin: u32, size: u32, seg: usize) -> cpu::Res {
    let offset = lin.wrapping_sub(c.s.seg.get(seg).map_or(0, |s| s.base()));
    if offset as u64 + size as u64 > 1 << 32 {
        return Err(Ctx::seg_fault(seg));
    }
    Ok(())
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
        ; sub rsp, stack::SIZE
        ; mov [rsp + stack::ORIG], rdi
    );
    for q in (0..FRAME_SIZE as i32).step_by(8) {
        dynasm!(ops ; .arch x64 ; mov rax, [rdi + q] ; mov [rsp + stack::FRAME + q], rax);
    }
    dynasm!(ops
        ; .arch x64
        ; mov rbx, [rdi + off::STATE]
        ; mov r13, [rdi + off::RAM]
        ; mov r14, [rdi + off::TLB]
        ; mov rax, [rdi + off::BUDGET]
        ; mov [rsp + stack::BUDGET], rax
        ; mov [rsp + stack::START], rax
        ; jmp rsi
    );
    let leave = ops.offset().0;
    // EAX holds the exit code.
    dynasm!(ops
        ; .arch x64
        ; mov rcx, [rsp + stack::BUDGET]
        ; mov [rsp + fr(off::BUDGET)], rcx
        ; mov rdx, [rsp + stack::START]
        ; sub rdx, rcx
        ; add [rsp + fr(off::RETIRED)], rdx
        ; mov rdi, [rsp + stack::ORIG]
    );
    for q in (0..FRAME_SIZE as i32).step_by(8) {
        dynasm!(ops ; .arch x64 ; mov rcx, [rsp + stack::FRAME + q] ; mov [rdi + q], rcx);
    }
    dynasm!(ops
        ; .arch x64
        ; add rsp, stack::SIZE
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
