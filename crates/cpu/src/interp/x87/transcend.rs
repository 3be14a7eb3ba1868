//! Transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN,
//! F2XM1, FYL2X and FYL2XP1 (the numerics are `f80`'s, correctly rounded
//! where the x87 promises one ulp; see the f80 README for how that compares
//! with the host).
//!
//! C2 = 1 reports an operand out of range (|x| >= 2^63) of the
//! trigonometric instructions, which then leave the stack alone; C1 is the
//! rounded-up bit of the (last) rounding.

use super::super::insn::{Handler, Insn};
use super::stack::INDEFINITE;
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::fpu::sw;
use f80::F80;
use iced_x86::Code;

const SIN: u8 = 0;
const COS: u8 = 1;

/// FSIN / FCOS.
fn trig<const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    f.set_cc(sw::C2, false);
    if f.is_empty(0) {
        if f.stack_fault(false) {
            f.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let mut k = f.fctx();
    let t = if OP == SIN { k.sin(f.st(0)) } else { k.cos(f.st(0)) };
    f.commit(&k);
    f.set_cc(sw::C2, t.out_of_range);
    if let Some(v) = t.value {
        f.set_st(0, v);
    }
    Ok(())
}

/// FSINCOS / FPTAN: replace ST(0), then push. An empty ST(0) (checked
/// first) or a full ST(7) is a stack fault whose masked response leaves
/// the indefinite in both places.
fn pair<const TAN: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    f.set_cc(sw::C2, false);
    let under = f.is_empty(0);
    if under || f.push_would_overflow() {
        if f.stack_fault(!under) {
            f.set_st(0, INDEFINITE);
            f.fpush(INDEFINITE);
        }
        return Ok(());
    }
    let mut k = f.fctx();
    let p = if TAN { k.ptan(f.st(0)) } else { k.sincos(f.st(0)) };
    f.commit(&k);
    f.set_cc(sw::C2, p.out_of_range);
    if let Some((a, b)) = p.value {
        f.set_st(0, a);
        f.fpush(b);
    }
    Ok(())
}

/// FPATAN, FYL2X, FYL2XP1: ST(1) = op(ST(0), ST(1)), then pop.
fn binary_pop(c: &mut Ctx, i: &Insn, op: fn(&mut f80::Ctx, F80, F80) -> Option<F80>) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    if f.is_empty(0) || f.is_empty(1) {
        if f.stack_fault(false) {
            f.set_st(1, INDEFINITE);
            f.fpop();
        }
        return Ok(());
    }
    let mut k = f.fctx();
    let r = op(&mut k, f.st(0), f.st(1));
    f.commit(&k);
    if let Some(v) = r {
        f.set_st(1, v);
        f.fpop();
    }
    Ok(())
}

fn fpatan(c: &mut Ctx, i: &Insn) -> Res {
    binary_pop(c, i, |k, x, y| k.patan(y, x))
}

fn fyl2x(c: &mut Ctx, i: &Insn) -> Res {
    binary_pop(c, i, f80::Ctx::yl2x)
}

fn fyl2xp1(c: &mut Ctx, i: &Insn) -> Res {
    binary_pop(c, i, f80::Ctx::yl2xp1)
}

/// F2XM1: ST(0) = 2^ST(0) - 1.
fn f2xm1(c: &mut Ctx, i: &Insn) -> Res {
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
    let r = k.f2xm1(f.st(0));
    f.commit(&k);
    if let Some(v) = r {
        f.set_st(0, v);
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code::*;
    Some(match code {
        Fsin => trig::<SIN>,
        Fcos => trig::<COS>,
        Fsincos => pair::<false>,
        Fptan => pair::<true>,
        Fpatan => fpatan,
        Fyl2x => fyl2x,
        Fyl2xp1 => fyl2xp1,
        F2xm1 => f2xm1,
        _ => return None,
    })
}
