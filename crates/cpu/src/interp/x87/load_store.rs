//! Data transfer: FLD, FST, FSTP (m32fp, m64fp, m80fp, ST(i) and the
//! FSTP aliases D9 D8+i, DF D0+i, DF D8+i), FILD, FIST, FISTP, FBLD,
//! FBSTP, the seven constants, FXCH (with its DD C8+i and DF C8+i
//! aliases), FCMOVcc, FFREE, FFREEP, FINCSTP and FDECSTP.
//!
//! Loads push: a full ST(7) is a stack overflow (masked: the indefinite
//! is pushed). Stores read ST(0): an empty one is a stack underflow
//! (masked: the indefinite of the destination format is stored). A store
//! first checks its whole destination, so a page or segment fault leaves
//! FPU and memory unchanged; an unmasked exception that stops the store
//! leaves them unchanged too, and a popping store does not pop then.

use super::super::insn::{Handler, Insn};
use super::stack::INDEFINITE;
use super::sti;
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::fpu::{FpuState, sw};
use f80::{Bcd, Constant, F80};
use iced_x86::Code;

/// Push a value produced by `make` (which sees the f80 context and may
/// return `None` for an unmasked exception: nothing is pushed), after the
/// overflow check. C1 = 0 unless the stack overflows.
fn push_with(f: &mut FpuState, make: impl FnOnce(&mut f80::Ctx) -> Option<F80>) {
    if f.push_would_overflow() {
        if f.stack_fault(true) {
            f.fpush(INDEFINITE);
        }
        return;
    }
    let mut k = f.fctx();
    let r = make(&mut k);
    f.commit_flags(&k);
    f.set_cc(sw::C1, false);
    if let Some(v) = r {
        f.fpush(v);
    }
}

fn fld_m32(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let bits = c.read_m32(i)?;
    c.x87_record(i);
    push_with(&mut c.s.fpu, |k| k.from_f32_bits(bits));
    Ok(())
}

fn fld_m64(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let bits = c.read_m64(i)?;
    c.x87_record(i);
    push_with(&mut c.s.fpu, |k| k.from_f64_bits(bits));
    Ok(())
}

/// FLD m80fp: the bits as they are, no exception even for an SNaN.
fn fld_m80(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let b = c.read_m80(i)?;
    c.x87_record(i);
    push_with(&mut c.s.fpu, |_| Some(F80::from_bytes(b)));
    Ok(())
}

fn fild_m16(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let v = c.read_m16(i)? as i16;
    c.x87_record(i);
    push_with(&mut c.s.fpu, |_| Some(F80::from_i16(v)));
    Ok(())
}

fn fild_m32(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let v = c.read_m32(i)? as i32;
    c.x87_record(i);
    push_with(&mut c.s.fpu, |_| Some(F80::from_i32(v)));
    Ok(())
}

fn fild_m64(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let v = c.read_m64(i)? as i64;
    c.x87_record(i);
    push_with(&mut c.s.fpu, |_| Some(F80::from_i64(v)));
    Ok(())
}

fn fbld(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let b = c.read_m80(i)?;
    c.x87_record(i);
    push_with(&mut c.s.fpu, |k| Some(k.from_bcd(Bcd(b))));
    Ok(())
}

/// FLD ST(i): an empty ST(i) is an underflow, checked before the
/// overflow of a full ST(7) (host order); the masked response of either
/// pushes the indefinite.
fn fld_sti(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let j = sti(i);
    let under = f.is_empty(j);
    if under || f.push_would_overflow() {
        if f.stack_fault(!under) {
            f.fpush(INDEFINITE);
        }
        return Ok(());
    }
    let v = f.st(j);
    f.set_cc(sw::C1, false);
    f.fpush(v);
    Ok(())
}

fn fld_const<const K: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let k = match K {
        0 => Constant::One,
        1 => Constant::L2T,
        2 => Constant::L2E,
        3 => Constant::Pi,
        4 => Constant::Lg2,
        5 => Constant::Ln2,
        _ => Constant::Zero,
    };
    push_with(&mut c.s.fpu, |x| Some(x.load_const(k)));
    Ok(())
}

/// The value a store of ST(0) writes: `Ok(Some(bytes))` to store,
/// `Ok(None)` when an unmasked exception stops it. `conv` converts a
/// non-empty ST(0); `indefinite` is the masked underflow response.
fn store_value<const N: usize>(
    f: &mut FpuState,
    indefinite: [u8; N],
    conv: impl FnOnce(&mut f80::Ctx, F80) -> Option<[u8; N]>,
) -> Option<[u8; N]> {
    if f.is_empty(0) {
        return f.stack_fault(false).then_some(indefinite);
    }
    let mut k = f.fctx();
    let r = conv(&mut k, f.st(0));
    f.commit(&k);
    r
}

/// Common body of the memory stores: check the destination, compute,
/// store, pop when asked and something was stored.
fn store<const N: usize, const POP: bool>(
    c: &mut Ctx,
    i: &Insn,
    indefinite: [u8; N],
    conv: impl FnOnce(&mut f80::Ctx, F80) -> Option<[u8; N]>,
) -> Res {
    c.x87_begin()?;
    let t = c.x87_store_target(i, N as u32)?;
    c.x87_record(i);
    if let Some(b) = store_value(&mut c.s.fpu, indefinite, conv) {
        c.store_bytes(t, &b)?;
        if POP {
            c.s.fpu.fpop();
        }
    }
    Ok(())
}

const F32_INDEFINITE: u32 = 0xFFC0_0000;
const F64_INDEFINITE: u64 = 0xFFF8_0000_0000_0000;

fn fst_m32<const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    store::<4, POP>(c, i, F32_INDEFINITE.to_le_bytes(), |k, v| k.to_f32_bits(v).map(u32::to_le_bytes))
}

fn fst_m64<const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    store::<8, POP>(c, i, F64_INDEFINITE.to_le_bytes(), |k, v| k.to_f64_bits(v).map(u64::to_le_bytes))
}

/// FSTP m80fp: the register bits as they are.
fn fstp_m80(c: &mut Ctx, i: &Insn) -> Res {
    store::<10, true>(c, i, INDEFINITE.to_bytes(), |k, v| {
        k.c1 = false;
        Some(v.to_bytes())
    })
}

fn fist_m16<const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    store::<2, POP>(c, i, 0x8000u16.to_le_bytes(), |k, v| k.to_i16(v).map(i16::to_le_bytes))
}

fn fist_m32<const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    store::<4, POP>(c, i, 0x8000_0000u32.to_le_bytes(), |k, v| k.to_i32(v).map(i32::to_le_bytes))
}

fn fistp_m64(c: &mut Ctx, i: &Insn) -> Res {
    store::<8, true>(c, i, (1u64 << 63).to_le_bytes(), |k, v| k.to_i64(v).map(i64::to_le_bytes))
}

fn fbstp(c: &mut Ctx, i: &Insn) -> Res {
    store::<10, true>(c, i, Bcd::INDEFINITE.0, |k, v| k.to_bcd(v).map(|b| b.0))
}

/// FST ST(i) / FSTP ST(i): a raw copy (no exception even for an SNaN).
fn fst_sti<const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let j = sti(i);
    let v = if f.is_empty(0) {
        if !f.stack_fault(false) {
            return Ok(());
        }
        INDEFINITE
    } else {
        f.set_cc(sw::C1, false);
        f.st(0)
    };
    f.set_st(j, v);
    if POP {
        f.fpop();
    }
    Ok(())
}

/// FSTP1 (D9 D8+i, iced-x86's FSTPNCE, "no check for empty"): like FSTP
/// ST(i), except that an empty ST(0) is no stack fault: nothing is
/// written, ST(0) is popped and C1 cleared (host behaviour for this
/// undocumented alias; the DF D0+i and DF D8+i aliases do check).
fn fstp1(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    if !f.is_empty(0) {
        let v = f.st(0);
        f.set_st(sti(i), v);
    }
    f.set_cc(sw::C1, false);
    f.fpop();
    Ok(())
}

/// FXCH ST(i). An empty operand is an underflow; masked, the empty
/// register(s) count as the indefinite and the exchange happens.
fn fxch(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let j = sti(i);
    let (e0, ej) = (f.is_empty(0), f.is_empty(j));
    if (e0 || ej) && !f.stack_fault(false) {
        return Ok(());
    }
    if !(e0 || ej) {
        f.set_cc(sw::C1, false);
    }
    let a = if e0 { INDEFINITE } else { f.st(0) };
    let b = if ej { INDEFINITE } else { f.st(j) };
    f.set_st(0, b);
    f.set_st(j, a);
    Ok(())
}

/// FCMOVcc ST(0), ST(i): `CC` is the Jcc condition nibble. An empty
/// operand is an underflow whose masked response loads the indefinite
/// into ST(0) whatever the condition.
fn fcmov<const CC: u8>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let cond = c.s.lazy.cond(CC);
    let f = &mut c.s.fpu;
    let j = sti(i);
    if f.is_empty(0) || f.is_empty(j) {
        if f.stack_fault(false) {
            f.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    if cond {
        let v = f.st(j);
        f.set_st(0, v);
    }
    Ok(())
}

/// FFREE ST(i) and FFREEP ST(i) (DF C0+i: free, then pop); C1 = 0.
fn ffree<const POP: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let p = f.phys(sti(i));
    f.set_tag(p, crate::fpu::tag::EMPTY);
    f.set_cc(sw::C1, false);
    if POP {
        f.fpop();
    }
    Ok(())
}

/// FINCSTP / FDECSTP: move TOP without touching tags; C1 = 0.
fn fstp_move<const INC: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    let f = &mut c.s.fpu;
    let t = f.top();
    f.set_top(if INC { t + 1 } else { t + 7 });
    f.set_cc(sw::C1, false);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code::*;
    Some(match code {
        Fld_m32fp => fld_m32,
        Fld_m64fp => fld_m64,
        Fld_m80fp => fld_m80,
        Fild_m16int => fild_m16,
        Fild_m32int => fild_m32,
        Fild_m64int => fild_m64,
        Fbld_m80bcd => fbld,
        Fld_sti => fld_sti,
        Fld1 => fld_const::<0>,
        Fldl2t => fld_const::<1>,
        Fldl2e => fld_const::<2>,
        Fldpi => fld_const::<3>,
        Fldlg2 => fld_const::<4>,
        Fldln2 => fld_const::<5>,
        Fldz => fld_const::<6>,
        Fst_m32fp => fst_m32::<false>,
        Fstp_m32fp => fst_m32::<true>,
        Fst_m64fp => fst_m64::<false>,
        Fstp_m64fp => fst_m64::<true>,
        Fstp_m80fp => fstp_m80,
        Fist_m16int => fist_m16::<false>,
        Fistp_m16int => fist_m16::<true>,
        Fist_m32int => fist_m32::<false>,
        Fistp_m32int => fist_m32::<true>,
        Fistp_m64int => fistp_m64,
        Fbstp_m80bcd => fbstp,
        Fst_sti => fst_sti::<false>,
        Fstp_sti | Fstp_sti_DFD0 | Fstp_sti_DFD8 => fst_sti::<true>,
        Fstpnce_sti => fstp1,
        Fxch_st0_sti | Fxch_st0_sti_DDC8 | Fxch_st0_sti_DFC8 => fxch,
        Fcmovb_st0_sti => fcmov::<0x2>,
        Fcmove_st0_sti => fcmov::<0x4>,
        Fcmovbe_st0_sti => fcmov::<0x6>,
        Fcmovu_st0_sti => fcmov::<0xA>,
        Fcmovnb_st0_sti => fcmov::<0x3>,
        Fcmovne_st0_sti => fcmov::<0x5>,
        Fcmovnbe_st0_sti => fcmov::<0x7>,
        Fcmovnu_st0_sti => fcmov::<0xB>,
        Ffree_sti => ffree::<false>,
        Ffreep_sti => ffree::<true>,
        Fincstp => fstp_move::<true>,
        Fdecstp => fstp_move::<false>,
        _ => return None,
    })
}
