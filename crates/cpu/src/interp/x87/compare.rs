//! Comparisons and classification: FCOM, FCOMP, FCOMPP (and the aliases
//! DC D0+i, DC D8+i, DE D0+i), FUCOM, FUCOMP, FUCOMPP, FICOM, FICOMP,
//! FTST, FCOMI, FCOMIP, FUCOMI, FUCOMIP and FXAM.
//!
//! FCOM-style instructions report in C3/C2/C0 (C1 = 0); the FCOMI family
//! in ZF/PF/CF with OF, SF and AF cleared (C0-C3 unchanged, C1 too unless
//! the stack underflows). An empty operand is a stack underflow reported as
//! "unordered", as is any invalid operation, masked or not (host
//! behaviour); an unmasked exception (IE or DE) only stops the pop.

use super::super::insn::{Handler, Insn};
use super::memop::{widen_f32, widen_f64};
use super::sti;
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::fpu::{FpuState, sw};
use f80::{CmpResult, Exceptions, F80};
use iced_x86::Code;

/// The second operand.
#[derive(Clone, Copy)]
enum Src {
    Reg(usize),
    /// A converted memory operand and whether it was a denormal.
    Mem(F80, bool),
}

/// Compare ST(0) with `src`: the result to report, and whether an
/// unmasked exception (IE, including a stack underflow, or DE) stops the
/// pop. The host reports even then: "unordered" for an invalid operation
/// or an empty operand, the true order for an unmasked denormal.
fn compare(f: &mut FpuState, src: Src, quiet: bool) -> (CmpResult, bool) {
    if f.is_empty(0) || matches!(src, Src::Reg(j) if f.is_empty(j)) {
        let masked = f.stack_fault(false);
        return (CmpResult::Unordered, !masked);
    }
    let (b, den) = match src {
        Src::Reg(j) => (f.st(j), false),
        Src::Mem(v, d) => (v, d),
    };
    let mut k = f.fctx();
    let r = if quiet {
        k.compare_quiet(f.st(0), b)
    } else {
        k.compare(f.st(0), b)
    };
    // A denormal single/double source raises DE like a denormal register
    // would: only for an ordered comparison.
    if den && matches!(r, Some(x) if x != CmpResult::Unordered) {
        k.flags |= Exceptions::DE;
        k.raised |= Exceptions::DE;
    }
    f.commit_flags(&k);
    let stop = k.raised.intersects(!k.masks);
    (r.unwrap_or(CmpResult::Unordered), stop)
}

/// Report in C3/C2/C0 (C1 = 0) and pop `pops` times unless stopped.
fn fcom_report(f: &mut FpuState, (r, stop): (CmpResult, bool), pops: u8) {
    f.set_c320(r.condition_codes());
    f.set_cc(sw::C1, false);
    if !stop {
        for _ in 0..pops {
            f.fpop();
        }
    }
}

/// FCOM/FCOMP/FUCOM/FUCOMP ST(i) (POPS 0 or 1).
fn fcom_sti<const QUIET: bool, const POPS: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let r = compare(f, Src::Reg(sti(i)), QUIET);
    fcom_report(f, r, POPS);
    Ok(())
}

/// FCOMPP / FUCOMPP: compare with ST(1), pop twice.
fn fcompp<const QUIET: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let r = compare(f, Src::Reg(1), QUIET);
    fcom_report(f, r, 2);
    Ok(())
}

/// Memory forms: `KIND` 0 m32fp, 1 m64fp, 2 m16int, 3 m32int.
fn fcom_m<const KIND: u8, const POPS: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let src = match KIND {
        0 => {
            let (v, d) = widen_f32(c.read_m32(i)?);
            Src::Mem(v, d)
        }
        1 => {
            let (v, d) = widen_f64(c.read_m64(i)?);
            Src::Mem(v, d)
        }
        2 => Src::Mem(F80::from_i16(c.read_m16(i)? as i16), false),
        _ => Src::Mem(F80::from_i32(c.read_m32(i)? as i32), false),
    };
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let r = compare(f, src, false);
    fcom_report(f, r, POPS);
    Ok(())
}

/// FTST: compare ST(0) with +0.0.
fn ftst(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let r = compare(f, Src::Mem(F80::ZERO, false), false);
    fcom_report(f, r, 0);
    Ok(())
}

/// FCOMI/FCOMIP/FUCOMI/FUCOMIP ST(0), ST(i): the result in ZF/PF/CF.
fn fcomi<const QUIET: bool, const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let (r, stop) = compare(&mut c.s.fpu, Src::Reg(sti(i)), QUIET);
    c.s.lazy.set(r.eflags());
    if POP && !stop {
        c.s.fpu.fpop();
    }
    Ok(())
}

/// FXAM: classify ST(0) into C3/C2/C0 with its sign in C1; an empty
/// register is a class of its own (no exception), its sign still shown.
fn fxam(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let v = f.st(0);
    let class = if f.is_empty(0) { f80::FxamClass::Empty } else { v.fxam() };
    f.fsw = (f.fsw & !sw::CC) | (class.condition_codes(v.sign()) & sw::CC);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code::*;
    Some(match code {
        Fcom_st0_sti | Fcom_st0_sti_DCD0 => fcom_sti::<false, 0>,
        Fcomp_st0_sti | Fcomp_st0_sti_DCD8 | Fcomp_st0_sti_DED0 => fcom_sti::<false, 1>,
        Fucom_st0_sti => fcom_sti::<true, 0>,
        Fucomp_st0_sti => fcom_sti::<true, 1>,
        Fcompp => fcompp::<false>,
        Fucompp => fcompp::<true>,
        Fcom_m32fp => fcom_m::<0, 0>,
        Fcomp_m32fp => fcom_m::<0, 1>,
        Fcom_m64fp => fcom_m::<1, 0>,
        Fcomp_m64fp => fcom_m::<1, 1>,
        Ficom_m16int => fcom_m::<2, 0>,
        Ficomp_m16int => fcom_m::<2, 1>,
        Ficom_m32int => fcom_m::<3, 0>,
        Ficomp_m32int => fcom_m::<3, 1>,
        Ftst => ftst,
        Fcomi_st0_sti => fcomi::<false, false>,
        Fcomip_st0_sti => fcomi::<false, true>,
        Fucomi_st0_sti => fcomi::<true, false>,
        Fucomip_st0_sti => fcomi::<true, true>,
        Fxam => fxam,
        _ => return None,
    })
}
