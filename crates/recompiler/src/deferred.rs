//! Arithmetic flags deferred to the rare exits that need them.
//!
//! In memory-heavy blocks most flag results are overwritten before any
//! instruction reads them, yet must still be exact in `CpuState` at every
//! point where the block *might* leave: a load or store that faults, a
//! store that hits a page holding code. Those exits are rare. So an
//! instruction whose flags only such exits need (`liveness::Need::Rare`)
//! stores its operands in two frame slots (two host stores) instead of
//! computing the lazy flags (about ten host instructions), and the exits
//! compute the flags from the slots: the memory slow paths (the thunk's
//! Rust helper, before it can deliver a fault) and the code-write exit.
//!
//! Which operation is pending at each such point is known while emitting,
//! so it travels as a constant: in `Frame::deferred` for the slow paths,
//! as an argument of `rt_flags` on the code-write exit. The flags are
//! computed by the interpreter's own functions, so they are exact by
//! construction.
//!
//! Often the operands need no slots at all: after `ADD EDI,ECX` the sum
//! is in EDI and the addend in ECX, and while neither is written again
//! before the flags are replaced, the exit can take them from there
//! (`reg_code`): the first operand is EDI less ECX. Such an instruction
//! stores nothing for its flags, and works on the destination's host copy
//! in place (`emit::inplace`): two host instructions where the slots took
//! six.
//!
//! Computing them early is harmless: the slots hold the pending
//! operation's operands until a later instruction replaces them, and
//! instructions that read the lazy flags from `CpuState` never follow a
//! deferred one directly (liveness makes their producers compute in full).

use crate::frame::Frame;
use cpu::CpuState;
use cpu::flags::{W8, W16, W32};

/// A deferred operation: what the slots hold and how to make the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `flag_a + flag_b`.
    Add,
    /// `flag_a - flag_b` (SUB, CMP; NEG with `flag_a` = 0).
    Sub,
    /// INC of `flag_a` (CF kept).
    Inc,
    /// DEC of `flag_a` (CF kept).
    Dec,
    /// SHL, SHR, SAR of `flag_a` by `flag_b` (1-31).
    Shl,
    Shr,
    Sar,
    /// `flag_a + flag_b + flag_c` and `flag_a - flag_b - flag_c`, the
    /// carry `flag_c` being 0 or 1 (never in the `pend` slots, which
    /// have no third operand).
    Adc,
    Sbb,
}

/// The constant that names a deferred operation at width `w` (1, 2 or 4
/// bytes); never 0, which means "nothing pending".
pub const fn code(op: Op, w: u8) -> u8 {
    let op = number(op) as u8;
    let w = match w {
        1 => 0,
        2 => 1,
        _ => 2,
    };
    op | w << 4
}

/// The number of `op` in a code (bits 0-3).
pub const fn number(op: Op) -> u32 {
    match op {
        Op::Add => 1,
        Op::Sub => 2,
        Op::Inc => 3,
        Op::Dec => 4,
        Op::Shl => 5,
        Op::Shr => 6,
        Op::Sar => 7,
        Op::Adc => 8,
        Op::Sbb => 9,
    }
}

const ADD: u32 = number(Op::Add);
const SUB: u32 = number(Op::Sub);
const INC: u32 = number(Op::Inc);
const DEC: u32 = number(Op::Dec);
const SHL: u32 = number(Op::Shl);
const SAR: u32 = number(Op::Sar);
const ADC: u32 = number(Op::Adc);
const SBB: u32 = number(Op::Sbb);

/// The operation of `code`, as numbered by [`number`].
pub const fn op_of(code: u32) -> u32 {
    code & 15
}

/// The width of `code`: 0, 1, 2 for 1, 2, 4 bytes.
pub const fn width_of(code: u32) -> u32 {
    (code >> 4) & 3
}

/// Marks a code whose operands are in guest registers (`reg_code`).
pub const REG_FORM: u32 = 1 << 31;
const REG_IMM: u32 = 1 << 14;

/// Where a register-form operation's second operand is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    Reg(u8),
    /// A constant, sign-extended from 16 bits.
    Imm(i16),
}

/// The code of a 32-bit ADD or SUB (`op`) whose result is in guest
/// register `x` and its second operand in `src`, or INC/DEC of `x`
/// (`src` unused): the exit works the first operand out from them
/// (`x - src`, `x + src`, `x - 1`, `x + 1`). The caller guarantees that
/// neither register changes while the code is pending, and that `src` is
/// not `x` (a sum of a register with itself loses its top bit).
pub fn reg_code(op: Op, x: u8, src: Src) -> u32 {
    debug_assert!(matches!(op, Op::Add | Op::Sub | Op::Inc | Op::Dec));
    let src = match src {
        Src::Reg(y) => {
            debug_assert!(y != x);
            (y as u32 & 7) << 11
        }
        Src::Imm(v) => REG_IMM | (v as u16 as u32) << 15,
    };
    REG_FORM | code(op, 4) as u32 | (x as u32 & 7) << 8 | src
}

/// Flags of a register-form code (see `reg_code`) from the guest
/// registers.
fn compute_regs(s: &mut CpuState, code: u32) {
    let r = s.gpr[(code >> 8) as usize & 7];
    let b = if code & REG_IMM != 0 {
        (code >> 15) as u16 as i16 as i32 as u32
    } else {
        s.gpr[(code >> 11) as usize & 7]
    };
    match op_of(code) {
        ADD => s.lazy.add::<W32>(r.wrapping_sub(b), b, r),
        SUB => s.lazy.sub::<W32>(r.wrapping_add(b), b, r),
        INC => s.lazy.incdec::<W32>(r.wrapping_sub(1), r, false),
        DEC => s.lazy.incdec::<W32>(r.wrapping_add(1), r, true),
        _ => debug_assert!(false, "register form of {code:#x}"),
    }
}

/// Compute the lazy flags of the pending operation `code` (0: none) from
/// the frame's slots into `s`.
pub fn materialize(frame: &Frame, s: &mut CpuState, code: u32) {
    if code & REG_FORM != 0 {
        compute_regs(s, code);
    } else {
        compute(frame.flag_a, frame.flag_b, frame.flag_c, s, code);
    }
}

/// Flags a block left in operand form (`Frame::pend`): the last flag
/// operation of a block whose flags only the blocks after it can read is
/// stored as its code and operands (three stores) instead of as lazy
/// flags (about twelve host instructions for a SUB), as QEMU keeps its
/// condition codes. Generated code reading the lazy flags checks for
/// them first (`rt_resolve`), and every way out of generated code into
/// Rust settles them here before anything else can look at `CpuState`:
/// the dispatcher when translated code returns, and every helper on
/// entry. Settling early is always right: while `pend` is set the lazy
/// flags are stale and the operation is the truth.
pub fn settle(frame: &mut Frame, s: &mut CpuState) {
    let code = std::mem::take(&mut frame.pend);
    if code != 0 {
        debug_assert!(!matches!(op_of(code), ADC | SBB), "ADC/SBB left in operand form");
        compute(frame.pend_a, frame.pend_b, 0, s, code);
    }
}

fn compute(a: u32, b: u32, c: u32, s: &mut CpuState, code: u32) {
    macro_rules! at {
        ($w:ty, $mask:expr) => {{
            let (a, b, c) = (a & $mask, b & $mask, c & 1);
            match op_of(code) {
                ADD => s.lazy.add::<$w>(a, b, a.wrapping_add(b) & $mask),
                SUB => s.lazy.sub::<$w>(a, b, a.wrapping_sub(b) & $mask),
                ADC => s.lazy.add::<$w>(a, b, a.wrapping_add(b).wrapping_add(c) & $mask),
                SBB => s.lazy.sub::<$w>(a, b, a.wrapping_sub(b).wrapping_sub(c) & $mask),
                INC => s.lazy.incdec::<$w>(a, a.wrapping_add(1) & $mask, false),
                DEC => s.lazy.incdec::<$w>(a, a.wrapping_sub(1) & $mask, true),
                SHL..=SAR => {
                    let bytes = (<$w as cpu::flags::Width>::BITS / 8) as u8;
                    cpu::interp::shift_flags(&mut s.lazy, op_of(code) == SHL, op_of(code) == SAR, bytes, a, b & 31);
                }
                _ => {}
            }
        }};
    }
    match width_of(code) {
        0 => at!(W8, 0xFF),
        1 => at!(W16, 0xFFFF),
        _ => at!(W32, 0xFFFF_FFFF),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(a: u32, b: u32) -> Frame {
        Frame {
            state: std::ptr::null_mut(),
            ram: std::ptr::null_mut(),
            tlb: std::ptr::null(),
            ctx: std::ptr::null_mut(),
            budget: 0,
            retired: 0,
            end: 0,
            last_slot: 0,
            arg: 0,
            deferred: 0,
            flag_a: a,
            flag_b: b,
            flag_c: 0,
            pend: 0,
            pend_a: 0,
            pend_b: 0,
            epoch: 0,
            memo_global: 0,
            memo_local: 0,
            fallbacks: std::ptr::null_mut(),
            fallback_len: 0,
        }
    }

    #[test]
    fn the_flags_are_the_interpreters() {
        let mut s = CpuState::reset();
        let mut want = s.lazy;
        materialize(&frame(0xFF, 1), &mut s, code(Op::Add, 1) as u32);
        want.add::<W8>(0xFF, 1, 0);
        assert_eq!(s.lazy, want);
        assert!(s.lazy.cf() && s.lazy.zf());
        materialize(&frame(0, 0x8000), &mut s, code(Op::Sub, 2) as u32);
        want.sub::<W16>(0, 0x8000, 0x8000);
        assert_eq!(s.lazy, want);
        // INC keeps the CF the SUB left (a borrow).
        materialize(&frame(0x7FFF_FFFF, 0), &mut s, code(Op::Inc, 4) as u32);
        assert!(s.lazy.cf() && s.lazy.of() && s.lazy.sf());
        // SHR by 3 of 0x0F: CF is bit 2 of the operand.
        materialize(&frame(0x0F, 3), &mut s, code(Op::Shr, 1) as u32);
        want.from_result::<W8>(1, true, false, true);
        assert_eq!(s.lazy, want);
        // ADC and SBB take their carry from the third slot.
        let mut f = frame(0xFFFF_FFFF, 0);
        f.flag_c = 1;
        materialize(&f, &mut s, code(Op::Adc, 4) as u32);
        want.add::<W32>(0xFFFF_FFFF, 0, 0);
        assert_eq!(s.lazy, want);
        assert!(s.lazy.cf() && s.lazy.zf());
        let mut f = frame(0x80, 0x7F);
        f.flag_c = 1;
        materialize(&f, &mut s, code(Op::Sbb, 1) as u32);
        want.sub::<W8>(0x80, 0x7F, 0);
        assert_eq!(s.lazy, want);
        assert!(s.lazy.of() && s.lazy.zf() && !s.lazy.cf());
        // Nothing pending: nothing changes.
        let before = s.lazy;
        materialize(&frame(1, 2), &mut s, 0);
        assert_eq!(s.lazy, before);
    }

    #[test]
    fn settling_computes_the_pending_operation_once() {
        let mut s = CpuState::reset();
        let mut f = frame(0, 0);
        (f.pend, f.pend_a, f.pend_b) = (code(Op::Sub, 4) as u32, 1, 2);
        settle(&mut f, &mut s);
        let mut want = CpuState::reset().lazy;
        want.sub::<W32>(1, 2, 0xFFFF_FFFF);
        assert_eq!(s.lazy, want);
        assert_eq!(f.pend, 0);
        // Settled: a second call changes nothing.
        s.lazy.set(0);
        settle(&mut f, &mut s);
        assert_eq!(s.lazy.get(), 0);
    }
}
