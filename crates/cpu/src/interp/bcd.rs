//! Decimal adjustment: DAA, DAS, AAA, AAS, AAM, AAD, and the undocumented
//! SALC.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W8, W16};
use iced_x86::Code;

fn daa(c: &mut Ctx, _: &Insn) -> Res {
    let old_al = c.reg::<W8>(0);
    let old_cf = c.s.lazy.cf();
    let mut al = old_al;
    let af = if (al & 0xF) > 9 || c.s.lazy.af() {
        al = (al + 6) & 0xFF;
        true
    } else {
        false
    };
    // The SDM's second step decides CF alone (the carry of the first
    // step only matters when old AL > 0x99, where CF is set anyway).
    let cf = old_al > 0x99 || old_cf;
    if cf {
        al = (al + 0x60) & 0xFF;
    }
    c.set_reg::<W8>(0, al);
    let of = (old_al ^ al) & al & 0x80 != 0;
    c.s.lazy.from_result::<W8>(al, cf, of, af);
    Ok(())
}

fn das(c: &mut Ctx, _: &Insn) -> Res {
    let old_al = c.reg::<W8>(0);
    let old_cf = c.s.lazy.cf();
    let mut al = old_al;
    let mut cf = old_al > 0x99 || old_cf;
    let af = if (al & 0xF) > 9 || c.s.lazy.af() {
        // The borrow of the low adjustment reaches CF (80286 and later;
        // the SDM pseudo-code and the 8086 drop it).
        cf |= al < 6;
        al = al.wrapping_sub(6) & 0xFF;
        true
    } else {
        false
    };
    if old_al > 0x99 || old_cf {
        al = al.wrapping_sub(0x60) & 0xFF;
    }
    c.set_reg::<W8>(0, al);
    let of = (old_al ^ al) & old_al & 0x80 != 0;
    c.s.lazy.from_result::<W8>(al, cf, of, af);
    Ok(())
}

/// AAA. OF, SF, ZF and PF are undefined; ringvisor gives those of the
/// 16-bit addition AX + 0x106 when adjusting (of AX itself, with OF = 0,
/// otherwise), as the AMD Zen host does (see `docs/undefined.md`).
fn aaa(c: &mut Ctx, _: &Insn) -> Res {
    let ax = c.reg::<W16>(0);
    let adjust = (ax & 0xF) > 9 || c.s.lazy.af();
    let sum = if adjust { ax.wrapping_add(0x106) & 0xFFFF } else { ax };
    c.set_reg::<W16>(0, sum & 0xFF0F);
    let of = adjust && !ax & sum & 0x8000 != 0;
    c.s.lazy.from_result::<W16>(sum, adjust, of, adjust);
    Ok(())
}

/// AAS. Undefined flags as for AAA, from the subtraction AX - 0x106.
fn aas(c: &mut Ctx, _: &Insn) -> Res {
    let ax = c.reg::<W16>(0);
    let adjust = (ax & 0xF) > 9 || c.s.lazy.af();
    let diff = if adjust { ax.wrapping_sub(0x106) & 0xFFFF } else { ax };
    c.set_reg::<W16>(0, diff & 0xFF0F);
    let of = adjust && ax & !diff & 0x8000 != 0;
    c.s.lazy.from_result::<W16>(diff, adjust, of, adjust);
    Ok(())
}

fn aam(c: &mut Ctx, i: &Insn) -> Res {
    let base = i.imm & 0xFF;
    if base == 0 {
        return Err(Exception::de());
    }
    let al = c.reg::<W8>(0);
    let v = ((al / base) << 8) | (al % base);
    c.set_reg::<W16>(0, v);
    c.s.lazy.logic::<W8>(v & 0xFF);
    Ok(())
}

fn aad(c: &mut Ctx, i: &Insn) -> Res {
    let base = i.imm & 0xFF;
    let al = c.reg::<W8>(0);
    let ah = c.reg::<W8>(4);
    let prod = (ah * base) & 0xFF;
    let r = (al + prod) & 0xFF;
    c.set_reg::<W16>(0, r);
    // The flags come from the addition AL + AH*base.
    c.s.lazy.add::<W8>(al, prod, r);
    Ok(())
}

fn salc(c: &mut Ctx, _: &Insn) -> Res {
    let v = if c.s.lazy.cf() { 0xFF } else { 0 };
    c.set_reg::<W8>(0, v);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    Some(match code {
        Code::Daa => daa,
        Code::Das => das,
        Code::Aaa => aaa,
        Code::Aas => aas,
        Code::Aam_imm8 => aam,
        Code::Aad_imm8 => aad,
        Code::Salc => salc,
        _ => return None,
    })
}
