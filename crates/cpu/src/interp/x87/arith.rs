//! Arithmetic: FADD, FSUB, FSUBR, FMUL, FDIV, FDIVR in their register,
//! popping, m32fp/m64fp and integer forms; FSQRT, FRNDINT, FABS, FCHS,
//! FSCALE, FXTRACT, FPREM and FPREM1.
//!
//! Condition codes: C1 is the "rounded up" bit of the result (0 after a
//! stack underflow or an unmasked exception that stops the operation);
//! C0, C2 and C3 are left as they were (the SDM calls them undefined; the
//! host leaves them), except for FPREM/FPREM1, which report the quotient
//! bits and C2 = incomplete reduction.

use super::super::insn::{Handler, Insn};
use super::memop::{widen_f32, widen_f64};
use super::stack::INDEFINITE;
use super::sti;
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::fpu::{FpuState, sw};
use f80::{Exceptions, F80};
use iced_x86::Code;

const ADD: u8 = 0;
const MUL: u8 = 1;
const SUB: u8 = 2;
const SUBR: u8 = 3;
const DIV: u8 = 4;
const DIVR: u8 = 5;

/// `a OP b`; the reversed forms compute `b OP a`.
fn apply(k: &mut f80::Ctx, op: u8, a: F80, b: F80) -> Option<F80> {
    match op {
        ADD => k.add(a, b),
        MUL => k.mul(a, b),
        SUB => k.sub(a, b),
        SUBR => k.sub(b, a),
        DIV => k.div(a, b),
        _ => k.div(b, a),
    }
}

/// The operation with `b` possibly a denormal single/double that was
/// widened to a normal extended value (`den_b`). Its denormal-operand
/// exception is raised as the x87 raises DE: only when the operation is
/// neither invalid, nor a zero divide, nor a NaN propagation; unmasked,
/// it stops the operation.
pub(crate) fn compute(k: &mut f80::Ctx, op: u8, a: F80, b: F80, den_b: bool) -> Option<F80> {
    if !den_b {
        return apply(k, op, a, b);
    }
    let mut probe = *k;
    let r = apply(&mut probe, op, a, b);
    if a.is_nan() || probe.raised.intersects(Exceptions::IE | Exceptions::ZE) {
        *k = probe;
        return r;
    }
    if !k.masks.contains(Exceptions::DE) {
        k.flags |= Exceptions::DE;
        k.raised = Exceptions::DE;
        k.c1 = false;
        return None;
    }
    let r = apply(k, op, a, b);
    k.flags |= Exceptions::DE;
    k.raised |= Exceptions::DE;
    r
}

/// Where the second operand comes from.
#[derive(Clone, Copy)]
enum Src {
    /// ST(i)
    Reg(usize),
    /// A converted memory operand and whether it was denormal.
    Mem(F80, bool),
}

/// `ST(dst) = ST(a) OP src`, then pop if asked. `dst` is also the first
/// operand.
fn binop(f: &mut FpuState, op: u8, dst: usize, src: Src, pop: bool) {
    let empty = f.is_empty(dst) || matches!(src, Src::Reg(j) if f.is_empty(j));
    if empty {
        if f.stack_fault(false) {
            f.set_st(dst, INDEFINITE);
            if pop {
                f.fpop();
            }
        }
        return;
    }
    let a = f.st(dst);
    let (b, den) = match src {
        Src::Reg(j) => (f.st(j), false),
        Src::Mem(v, d) => (v, d),
    };
    let mut k = f.fctx();
    let r = compute(&mut k, op, a, b, den);
    f.commit(&k);
    if let Some(v) = r {
        f.set_st(dst, v);
        if pop {
            f.fpop();
        }
    }
}

/// FOP ST(0), ST(i)
fn st0_sti<const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    binop(&mut c.s.fpu, OP, 0, Src::Reg(sti(i)), false);
    Ok(())
}

/// FOP ST(i), ST(0) and FOPP ST(i), ST(0)
fn sti_st0<const OP: u8, const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    binop(&mut c.s.fpu, OP, sti(i), Src::Reg(0), POP);
    Ok(())
}

/// FOP m32fp
fn m32<const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let (v, den) = widen_f32(c.read_m32(i)?);
    c.x87_record(i);
    binop(&mut c.s.fpu, OP, 0, Src::Mem(v, den), false);
    Ok(())
}

/// FOP m64fp
fn m64<const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let (v, den) = widen_f64(c.read_m64(i)?);
    c.x87_record(i);
    binop(&mut c.s.fpu, OP, 0, Src::Mem(v, den), false);
    Ok(())
}

/// FIOP m16int
fn mi16<const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let v = F80::from_i16(c.read_m16(i)? as i16);
    c.x87_record(i);
    binop(&mut c.s.fpu, OP, 0, Src::Mem(v, false), false);
    Ok(())
}

/// FIOP m32int
fn mi32<const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let v = F80::from_i32(c.read_m32(i)? as i32);
    c.x87_record(i);
    binop(&mut c.s.fpu, OP, 0, Src::Mem(v, false), false);
    Ok(())
}

/// A one-operand instruction on ST(0) computed by `f80`.
fn unary(c: &mut Ctx, i: &Insn, op: fn(&mut f80::Ctx, F80) -> Option<F80>) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    if f.is_empty(0) {
        if f.stack_fault(false) {
            f.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let mut k = f.fctx();
    let r = op(&mut k, f.st(0));
    f.commit(&k);
    if let Some(v) = r {
        f.set_st(0, v);
    }
    Ok(())
}

fn fsqrt(c: &mut Ctx, i: &Insn) -> Res {
    unary(c, i, f80::Ctx::sqrt)
}

fn frndint(c: &mut Ctx, i: &Insn) -> Res {
    unary(c, i, f80::Ctx::rndint)
}

/// FABS/FCHS: sign-bit operations that raise nothing (not even for
/// SNaNs) and clear C1.
fn sign_op<const CHS: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    if f.is_empty(0) {
        if f.stack_fault(false) {
            f.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let v = f.st(0);
    f.set_st(0, if CHS { v.chs() } else { v.abs() });
    f.set_cc(sw::C1, false);
    Ok(())
}

/// FSCALE: ST(0) = ST(0) * 2^trunc(ST(1)).
fn fscale(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    if f.is_empty(0) || f.is_empty(1) {
        if f.stack_fault(false) {
            f.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let mut k = f.fctx();
    let r = k.scale(f.st(0), f.st(1));
    f.commit(&k);
    if let Some(v) = r {
        f.set_st(0, v);
    }
    Ok(())
}

/// FXTRACT: ST(0) becomes the exponent, the significand is pushed.
/// Underflow (empty ST(0)) is checked before overflow (full ST(7)); the
/// masked response of either leaves the indefinite in both places.
fn fxtract(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let under = f.is_empty(0);
    if under || f.push_would_overflow() {
        if f.stack_fault(!under) {
            f.set_st(0, INDEFINITE);
            f.fpush(INDEFINITE);
        }
        return Ok(());
    }
    let mut k = f.fctx();
    let r = k.xtract(f.st(0));
    f.commit(&k);
    if let Some(e) = r {
        f.set_st(0, e.exponent);
        f.fpush(e.significand);
    }
    Ok(())
}

/// FPREM/FPREM1: ST(0) = partial remainder of ST(0) / ST(1), with the
/// quotient's low bits in C0, C3, C1 and C2 = incomplete.
fn fprem<const IEEE: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    if f.is_empty(0) || f.is_empty(1) {
        f.set_cc(sw::C2, false);
        if f.stack_fault(false) {
            f.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let mut k = f.fctx();
    let r = if IEEE {
        k.prem1(f.st(0), f.st(1))
    } else {
        k.prem(f.st(0), f.st(1))
    };
    f.commit_flags(&k);
    // A NaN result (NaN operand or invalid operation) and an unmasked
    // stop leave C0 and C3 alone and clear C1 and C2 (host behaviour);
    // a computed remainder, even a trivial one, reports all four.
    let nan = r.value.is_none_or(|v| v.is_nan()) || k.raised.contains(Exceptions::IE);
    let cc = if nan {
        f.fsw & (sw::C0 | sw::C3)
    } else {
        r.condition_codes() & sw::CC
    };
    f.fsw = (f.fsw & !sw::CC) | cc;
    if let Some(v) = r.value {
        f.set_st(0, v);
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code::*;
    Some(match code {
        Fadd_st0_sti => st0_sti::<ADD>,
        Fmul_st0_sti => st0_sti::<MUL>,
        Fsub_st0_sti => st0_sti::<SUB>,
        Fsubr_st0_sti => st0_sti::<SUBR>,
        Fdiv_st0_sti => st0_sti::<DIV>,
        Fdivr_st0_sti => st0_sti::<DIVR>,
        Fadd_sti_st0 => sti_st0::<ADD, false>,
        Fmul_sti_st0 => sti_st0::<MUL, false>,
        Fsub_sti_st0 => sti_st0::<SUB, false>,
        Fsubr_sti_st0 => sti_st0::<SUBR, false>,
        Fdiv_sti_st0 => sti_st0::<DIV, false>,
        Fdivr_sti_st0 => sti_st0::<DIVR, false>,
        Faddp_sti_st0 => sti_st0::<ADD, true>,
        Fmulp_sti_st0 => sti_st0::<MUL, true>,
        Fsubp_sti_st0 => sti_st0::<SUB, true>,
        Fsubrp_sti_st0 => sti_st0::<SUBR, true>,
        Fdivp_sti_st0 => sti_st0::<DIV, true>,
        Fdivrp_sti_st0 => sti_st0::<DIVR, true>,
        Fadd_m32fp => m32::<ADD>,
        Fmul_m32fp => m32::<MUL>,
        Fsub_m32fp => m32::<SUB>,
        Fsubr_m32fp => m32::<SUBR>,
        Fdiv_m32fp => m32::<DIV>,
        Fdivr_m32fp => m32::<DIVR>,
        Fadd_m64fp => m64::<ADD>,
        Fmul_m64fp => m64::<MUL>,
        Fsub_m64fp => m64::<SUB>,
        Fsubr_m64fp => m64::<SUBR>,
        Fdiv_m64fp => m64::<DIV>,
        Fdivr_m64fp => m64::<DIVR>,
        Fiadd_m16int => mi16::<ADD>,
        Fimul_m16int => mi16::<MUL>,
        Fisub_m16int => mi16::<SUB>,
        Fisubr_m16int => mi16::<SUBR>,
        Fidiv_m16int => mi16::<DIV>,
        Fidivr_m16int => mi16::<DIVR>,
        Fiadd_m32int => mi32::<ADD>,
        Fimul_m32int => mi32::<MUL>,
        Fisub_m32int => mi32::<SUB>,
        Fisubr_m32int => mi32::<SUBR>,
        Fidiv_m32int => mi32::<DIV>,
        Fidivr_m32int => mi32::<DIVR>,
        Fsqrt => fsqrt,
        Frndint => frndint,
        Fabs => sign_op::<false>,
        Fchs => sign_op::<true>,
        Fscale => fscale,
        Fxtract => fxtract,
        Fprem => fprem::<false>,
        Fprem1 => fprem::<true>,
        _ => return None,
    })
}
