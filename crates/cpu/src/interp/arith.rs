//! Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP, TEST,
//! INC DEC NEG NOT, CMPXCHG, XADD.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::flags::{W8, W16, W32, Width};
use iced_x86::Code;

const ADD: u8 = 0;
const OR: u8 = 1;
const ADC: u8 = 2;
const SBB: u8 = 3;
const AND: u8 = 4;
const SUB: u8 = 5;
const XOR: u8 = 6;
const CMP: u8 = 7;

/// Compute `a OP b`, set the flags, return the (masked) result.
#[inline(always)]
fn alu<W: Width, const OP: u8>(c: &mut Ctx, a: u32, b: u32) -> u32 {
    let f = &mut c.s.lazy;
    match OP {
        ADD => {
            let r = a.wrapping_add(b) & W::MASK;
            f.add::<W>(a, b, r);
            r
        }
        ADC => {
            let r = a.wrapping_add(b).wrapping_add(f.cf() as u32) & W::MASK;
            f.add::<W>(a, b, r);
            r
        }
        SUB | CMP => {
            let r = a.wrapping_sub(b) & W::MASK;
            f.sub::<W>(a, b, r);
            r
        }
        SBB => {
            let r = a.wrapping_sub(b).wrapping_sub(f.cf() as u32) & W::MASK;
            f.sub::<W>(a, b, r);
            r
        }
        OR => {
            let r = a | b;
            f.logic::<W>(r);
            r
        }
        AND => {
            let r = a & b;
            f.logic::<W>(r);
            r
        }
        _ => {
            let r = a ^ b;
            f.logic::<W>(r);
            r
        }
    }
}

/// Operand 0 (r/m or register) OP= `b`.
#[inline(always)]
fn alu_dst0<W: Width, const OP: u8>(c: &mut Ctx, i: &Insn, b: u32) -> Res {
    if OP == CMP {
        let a = c.rm0::<W>(i)?;
        alu::<W, OP>(c, a, b);
        Ok(())
    } else {
        c.modify_rm0::<W>(i, |c, a| alu::<W, OP>(c, a, b))
    }
}

fn alu_rm_r<W: Width, const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let b = c.reg::<W>(i.r1);
    alu_dst0::<W, OP>(c, i, b)
}

fn alu_r_rm<W: Width, const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let b = c.rm1::<W>(i)?;
    let a = c.reg::<W>(i.r0);
    let r = alu::<W, OP>(c, a, b);
    if OP != CMP {
        c.set_reg::<W>(i.r0, r);
    }
    Ok(())
}

fn alu_rm_imm<W: Width, const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    alu_dst0::<W, OP>(c, i, i.imm & W::MASK)
}

fn test_rm_r<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let a = c.rm0::<W>(i)?;
    let b = c.reg::<W>(i.r1);
    c.s.lazy.logic::<W>(a & b);
    Ok(())
}

fn test_rm_imm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let a = c.rm0::<W>(i)?;
    c.s.lazy.logic::<W>(a & i.imm & W::MASK);
    Ok(())
}

fn inc<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.modify_rm0::<W>(i, |c, a| {
        let r = a.wrapping_add(1) & W::MASK;
        c.s.lazy.incdec::<W>(a, r, false);
        r
    })
}

fn dec<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.modify_rm0::<W>(i, |c, a| {
        let r = a.wrapping_sub(1) & W::MASK;
        c.s.lazy.incdec::<W>(a, r, true);
        r
    })
}

fn neg<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.modify_rm0::<W>(i, |c, a| {
        let r = 0u32.wrapping_sub(a) & W::MASK;
        c.s.lazy.sub::<W>(0, a, r);
        r
    })
}

fn not<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.modify_rm0::<W>(i, |_, a| !a & W::MASK)
}

/// CMPXCHG r/m, r: compare the accumulator with r/m; equal: r/m = r, else
/// accumulator = r/m. The destination is written in both cases (the
/// processor always writes back, so a read-only destination faults even
/// when the comparison fails).
fn cmpxchg<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let src = c.reg::<W>(i.r1);
    let acc = c.reg::<W>(0);
    if i.is_mem() {
        let off = c.ea(i);
        let dst = c.read_rmw::<W>(i.seg(), off)?;
        alu::<W, CMP>(c, acc, dst);
        if acc == dst {
            c.write::<W>(i.seg(), off, src)?;
        } else {
            c.write::<W>(i.seg(), off, dst)?;
            c.set_reg::<W>(0, dst);
        }
    } else {
        let dst = c.reg::<W>(i.r0);
        alu::<W, CMP>(c, acc, dst);
        if acc == dst {
            c.set_reg::<W>(i.r0, src);
        } else {
            c.set_reg::<W>(0, dst);
        }
    }
    Ok(())
}

/// XADD r/m, r: r/m = r/m + r, r = old r/m.
fn xadd<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let src = c.reg::<W>(i.r1);
    if i.is_mem() {
        let off = c.ea(i);
        let dst = c.read_rmw::<W>(i.seg(), off)?;
        let sum = dst.wrapping_add(src) & W::MASK;
        c.write::<W>(i.seg(), off, sum)?;
        c.s.lazy.add::<W>(dst, src, sum);
        c.set_reg::<W>(i.r1, dst);
    } else {
        let dst = c.reg::<W>(i.r0);
        let sum = dst.wrapping_add(src) & W::MASK;
        c.s.lazy.add::<W>(dst, src, sum);
        // Source first, then destination: with the same register the sum wins.
        c.set_reg::<W>(i.r1, dst);
        c.set_reg::<W>(i.r0, sum);
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Add_rm8_r8 => alu_rm_r::<W8, ADD>,
        C::Add_rm16_r16 => alu_rm_r::<W16, ADD>,
        C::Add_rm32_r32 => alu_rm_r::<W32, ADD>,
        C::Add_r8_rm8 => alu_r_rm::<W8, ADD>,
        C::Add_r16_rm16 => alu_r_rm::<W16, ADD>,
        C::Add_r32_rm32 => alu_r_rm::<W32, ADD>,
        C::Add_AL_imm8 | C::Add_rm8_imm8 | C::Add_rm8_imm8_82 => alu_rm_imm::<W8, ADD>,
        C::Add_AX_imm16 | C::Add_rm16_imm16 | C::Add_rm16_imm8 => alu_rm_imm::<W16, ADD>,
        C::Add_EAX_imm32 | C::Add_rm32_imm32 | C::Add_rm32_imm8 => alu_rm_imm::<W32, ADD>,
        C::Or_rm8_r8 => alu_rm_r::<W8, OR>,
        C::Or_rm16_r16 => alu_rm_r::<W16, OR>,
        C::Or_rm32_r32 => alu_rm_r::<W32, OR>,
        C::Or_r8_rm8 => alu_r_rm::<W8, OR>,
        C::Or_r16_rm16 => alu_r_rm::<W16, OR>,
        C::Or_r32_rm32 => alu_r_rm::<W32, OR>,
        C::Or_AL_imm8 | C::Or_rm8_imm8 | C::Or_rm8_imm8_82 => alu_rm_imm::<W8, OR>,
        C::Or_AX_imm16 | C::Or_rm16_imm16 | C::Or_rm16_imm8 => alu_rm_imm::<W16, OR>,
        C::Or_EAX_imm32 | C::Or_rm32_imm32 | C::Or_rm32_imm8 => alu_rm_imm::<W32, OR>,
        C::Adc_rm8_r8 => alu_rm_r::<W8, ADC>,
        C::Adc_rm16_r16 => alu_rm_r::<W16, ADC>,
        C::Adc_rm32_r32 => alu_rm_r::<W32, ADC>,
        C::Adc_r8_rm8 => alu_r_rm::<W8, ADC>,
        C::Adc_r16_rm16 => alu_r_rm::<W16, ADC>,
        C::Adc_r32_rm32 => alu_r_rm::<W32, ADC>,
        C::Adc_AL_imm8 | C::Adc_rm8_imm8 | C::Adc_rm8_imm8_82 => alu_rm_imm::<W8, ADC>,
        C::Adc_AX_imm16 | C::Adc_rm16_imm16 | C::Adc_rm16_imm8 => alu_rm_imm::<W16, ADC>,
        C::Adc_EAX_imm32 | C::Adc_rm32_imm32 | C::Adc_rm32_imm8 => alu_rm_imm::<W32, ADC>,
        C::Sbb_rm8_r8 => alu_rm_r::<W8, SBB>,
        C::Sbb_rm16_r16 => alu_rm_r::<W16, SBB>,
        C::Sbb_rm32_r32 => alu_rm_r::<W32, SBB>,
        C::Sbb_r8_rm8 => alu_r_rm::<W8, SBB>,
        C::Sbb_r16_rm16 => alu_r_rm::<W16, SBB>,
        C::Sbb_r32_rm32 => alu_r_rm::<W32, SBB>,
        C::Sbb_AL_imm8 | C::Sbb_rm8_imm8 | C::Sbb_rm8_imm8_82 => alu_rm_imm::<W8, SBB>,
        C::Sbb_AX_imm16 | C::Sbb_rm16_imm16 | C::Sbb_rm16_imm8 => alu_rm_imm::<W16, SBB>,
        C::Sbb_EAX_imm32 | C::Sbb_rm32_imm32 | C::Sbb_rm32_imm8 => alu_rm_imm::<W32, SBB>,
        C::And_rm8_r8 => alu_rm_r::<W8, AND>,
        C::And_rm16_r16 => alu_rm_r::<W16, AND>,
        C::And_rm32_r32 => alu_rm_r::<W32, AND>,
        C::And_r8_rm8 => alu_r_rm::<W8, AND>,
        C::And_r16_rm16 => alu_r_rm::<W16, AND>,
        C::And_r32_rm32 => alu_r_rm::<W32, AND>,
        C::And_AL_imm8 | C::And_rm8_imm8 | C::And_rm8_imm8_82 => alu_rm_imm::<W8, AND>,
        C::And_AX_imm16 | C::And_rm16_imm16 | C::And_rm16_imm8 => alu_rm_imm::<W16, AND>,
        C::And_EAX_imm32 | C::And_rm32_imm32 | C::And_rm32_imm8 => alu_rm_imm::<W32, AND>,
        C::Sub_rm8_r8 => alu_rm_r::<W8, SUB>,
        C::Sub_rm16_r16 => alu_rm_r::<W16, SUB>,
        C::Sub_rm32_r32 => alu_rm_r::<W32, SUB>,
        C::Sub_r8_rm8 => alu_r_rm::<W8, SUB>,
        C::Sub_r16_rm16 => alu_r_rm::<W16, SUB>,
        C::Sub_r32_rm32 => alu_r_rm::<W32, SUB>,
        C::Sub_AL_imm8 | C::Sub_rm8_imm8 | C::Sub_rm8_imm8_82 => alu_rm_imm::<W8, SUB>,
        C::Sub_AX_imm16 | C::Sub_rm16_imm16 | C::Sub_rm16_imm8 => alu_rm_imm::<W16, SUB>,
        C::Sub_EAX_imm32 | C::Sub_rm32_imm32 | C::Sub_rm32_imm8 => alu_rm_imm::<W32, SUB>,
        C::Xor_rm8_r8 => alu_rm_r::<W8, XOR>,
        C::Xor_rm16_r16 => alu_rm_r::<W16, XOR>,
        C::Xor_rm32_r32 => alu_rm_r::<W32, XOR>,
        C::Xor_r8_rm8 => alu_r_rm::<W8, XOR>,
        C::Xor_r16_rm16 => alu_r_rm::<W16, XOR>,
        C::Xor_r32_rm32 => alu_r_rm::<W32, XOR>,
        C::Xor_AL_imm8 | C::Xor_rm8_imm8 | C::Xor_rm8_imm8_82 => alu_rm_imm::<W8, XOR>,
        C::Xor_AX_imm16 | C::Xor_rm16_imm16 | C::Xor_rm16_imm8 => alu_rm_imm::<W16, XOR>,
        C::Xor_EAX_imm32 | C::Xor_rm32_imm32 | C::Xor_rm32_imm8 => alu_rm_imm::<W32, XOR>,
        C::Cmp_rm8_r8 => alu_rm_r::<W8, CMP>,
        C::Cmp_rm16_r16 => alu_rm_r::<W16, CMP>,
        C::Cmp_rm32_r32 => alu_rm_r::<W32, CMP>,
        C::Cmp_r8_rm8 => alu_r_rm::<W8, CMP>,
        C::Cmp_r16_rm16 => alu_r_rm::<W16, CMP>,
        C::Cmp_r32_rm32 => alu_r_rm::<W32, CMP>,
        C::Cmp_AL_imm8 | C::Cmp_rm8_imm8 | C::Cmp_rm8_imm8_82 => alu_rm_imm::<W8, CMP>,
        C::Cmp_AX_imm16 | C::Cmp_rm16_imm16 | C::Cmp_rm16_imm8 => alu_rm_imm::<W16, CMP>,
        C::Cmp_EAX_imm32 | C::Cmp_rm32_imm32 | C::Cmp_rm32_imm8 => alu_rm_imm::<W32, CMP>,
        C::Test_rm8_r8 => test_rm_r::<W8>,
        C::Test_rm16_r16 => test_rm_r::<W16>,
        C::Test_rm32_r32 => test_rm_r::<W32>,
        C::Test_AL_imm8 | C::Test_rm8_imm8 | C::Test_rm8_imm8_F6r1 => test_rm_imm::<W8>,
        C::Test_AX_imm16 | C::Test_rm16_imm16 | C::Test_rm16_imm16_F7r1 => test_rm_imm::<W16>,
        C::Test_EAX_imm32 | C::Test_rm32_imm32 | C::Test_rm32_imm32_F7r1 => test_rm_imm::<W32>,
        C::Inc_rm8 => inc::<W8>,
        C::Inc_rm16 | C::Inc_r16 => inc::<W16>,
        C::Inc_rm32 | C::Inc_r32 => inc::<W32>,
        C::Dec_rm8 => dec::<W8>,
        C::Dec_rm16 | C::Dec_r16 => dec::<W16>,
        C::Dec_rm32 | C::Dec_r32 => dec::<W32>,
        C::Neg_rm8 => neg::<W8>,
        C::Neg_rm16 => neg::<W16>,
        C::Neg_rm32 => neg::<W32>,
        C::Not_rm8 => not::<W8>,
        C::Not_rm16 => not::<W16>,
        C::Not_rm32 => not::<W32>,
        C::Cmpxchg_rm8_r8 => cmpxchg::<W8>,
        C::Cmpxchg_rm16_r16 => cmpxchg::<W16>,
        C::Cmpxchg_rm32_r32 => cmpxchg::<W32>,
        C::Xadd_rm8_r8 => xadd::<W8>,
        C::Xadd_rm16_r16 => xadd::<W16>,
        C::Xadd_rm32_r32 => xadd::<W32>,
        _ => return None,
    })
}
