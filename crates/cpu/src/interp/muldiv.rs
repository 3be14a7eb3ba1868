//! Multiplication and division: MUL, IMUL (one, two and three operands),
//! DIV, IDIV (#DE on a zero divisor or a quotient that does not fit).
//!
//! SF, ZF, AF and PF after MUL/IMUL, and all six flags after DIV/IDIV, are
//! undefined in the SDM; ringvisor produces what the AMD Zen host does
//! (measured by `hostdiff`, see `docs/undefined.md`): MUL/IMUL leave SF,
//! ZF, AF and PF unchanged; DIV/IDIV leave CF and OF unchanged, set AF and
//! clear SF, ZF and PF.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W8, W16, W32, Width};
use crate::state::reg;
use iced_x86::Code;
use x86::flags as fl;

/// Read the accumulator pair as a double-width value (AX, DX:AX, EDX:EAX).
#[inline(always)]
fn acc_wide<W: Width>(c: &Ctx) -> u64 {
    match W::BITS {
        8 => c.s.gpr[reg::EAX] as u64 & 0xFFFF,
        16 => ((c.s.gpr[reg::EDX] as u64 & 0xFFFF) << 16) | (c.s.gpr[reg::EAX] as u64 & 0xFFFF),
        _ => ((c.s.gpr[reg::EDX] as u64) << 32) | c.s.gpr[reg::EAX] as u64,
    }
}

#[inline(always)]
fn set_acc_wide<W: Width>(c: &mut Ctx, v: u64) {
    match W::BITS {
        8 => c.set_reg::<W16>(0, v as u32),
        16 => {
            c.set_reg::<W16>(0, v as u32);
            c.set_reg::<W16>(2, (v >> 16) as u32);
        }
        _ => {
            c.s.gpr[reg::EAX] = v as u32;
            c.s.gpr[reg::EDX] = (v >> 32) as u32;
        }
    }
}

/// Set the result and quotient/remainder pair of a division.
#[inline(always)]
fn set_quot_rem<W: Width>(c: &mut Ctx, q: u32, r: u32) {
    match W::BITS {
        8 => c.set_reg::<W16>(0, (q & 0xFF) | ((r & 0xFF) << 8)),
        _ => {
            c.set_reg::<W>(0, q);
            c.set_reg::<W>(2, r);
        }
    }
}

/// Flags after a multiplication: CF = OF = `wide` (the product does not
/// fit the destination); SF, ZF, AF, PF unchanged (undefined; AMD Zen).
#[inline(always)]
fn set_mul_flags(c: &mut Ctx, wide: bool) {
    let v = if wide { fl::CF | fl::OF } else { 0 };
    c.s.lazy.set_masked(v, fl::CF | fl::OF);
}

/// Flags after a division that did not fault (all undefined): CF and OF
/// unchanged, AF = 1, SF = ZF = PF = 0 (AMD Zen).
#[inline(always)]
fn set_div_flags(c: &mut Ctx) {
    let keep = c.s.lazy.get() & (fl::CF | fl::OF);
    c.s.lazy.set(keep | fl::AF);
}

fn mul<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let src = c.rm0::<W>(i)? as u64;
    let a = c.reg::<W>(0) as u64;
    let p = a * src;
    set_acc_wide::<W>(c, p);
    let hi = p >> W::BITS != 0;
    set_mul_flags(c, hi);
    Ok(())
}

fn imul1<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let src = W::sext(c.rm0::<W>(i)?) as i32 as i64;
    let a = W::sext(c.reg::<W>(0)) as i32 as i64;
    let p = a * src;
    set_acc_wide::<W>(c, p as u64);
    let lo = p as u32 & W::MASK;
    let ovf = W::sext(lo) as i32 as i64 != p;
    set_mul_flags(c, ovf);
    Ok(())
}

/// IMUL r, r/m and IMUL r, r/m, imm (`IMM` selects the form).
fn imul_r<W: Width, const IMM: bool>(c: &mut Ctx, i: &Insn) -> Res {
    let src = W::sext(c.rm1::<W>(i)?) as i32 as i64;
    let other = if IMM { W::sext(i.imm & W::MASK) } else { W::sext(c.reg::<W>(i.r0)) } as i32 as i64;
    let p = other * src;
    let lo = p as u32 & W::MASK;
    let ovf = W::sext(lo) as i32 as i64 != p;
    c.set_reg::<W>(i.r0, lo);
    set_mul_flags(c, ovf);
    Ok(())
}

fn div<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let d = c.rm0::<W>(i)? as u64;
    if d == 0 {
        return Err(Exception::de());
    }
    let n = acc_wide::<W>(c);
    let q = n / d;
    if q > W::MASK as u64 {
        return Err(Exception::de());
    }
    set_quot_rem::<W>(c, q as u32, (n % d) as u32);
    set_div_flags(c);
    Ok(())
}

fn idiv<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let d = W::sext(c.rm0::<W>(i)?) as i32 as i64;
    if d == 0 {
        return Err(Exception::de());
    }
    let raw = acc_wide::<W>(c);
    // Sign-extend the double-width dividend.
    let n = ((raw << (64 - 2 * W::BITS)) as i64) >> (64 - 2 * W::BITS);
    // i64::MIN / -1 cannot occur: the dividend has at most 64 bits of
    // which the top ones are sign copies only for 32-bit operands.
    let (q, r) = if n == i64::MIN && d == -1 {
        return Err(Exception::de());
    } else {
        (n / d, n % d)
    };
    let min = -(1i64 << (W::BITS - 1));
    let max = (1i64 << (W::BITS - 1)) - 1;
    if q < min || q > max {
        return Err(Exception::de());
    }
    set_quot_rem::<W>(c, q as u32 & W::MASK, r as u32 & W::MASK);
    set_div_flags(c);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Mul_rm8 => mul::<W8>,
        C::Mul_rm16 => mul::<W16>,
        C::Mul_rm32 => mul::<W32>,
        C::Imul_rm8 => imul1::<W8>,
        C::Imul_rm16 => imul1::<W16>,
        C::Imul_rm32 => imul1::<W32>,
        C::Imul_r16_rm16 => imul_r::<W16, false>,
        C::Imul_r32_rm32 => imul_r::<W32, false>,
        C::Imul_r16_rm16_imm16 | C::Imul_r16_rm16_imm8 => imul_r::<W16, true>,
        C::Imul_r32_rm32_imm32 | C::Imul_r32_rm32_imm8 => imul_r::<W32, true>,
        C::Div_rm8 => div::<W8>,
        C::Div_rm16 => div::<W16>,
        C::Div_rm32 => div::<W32>,
        C::Idiv_rm8 => idiv::<W8>,
        C::Idiv_rm16 => idiv::<W16>,
        C::Idiv_rm32 => idiv::<W32>,
        _ => return None,
    })
}
