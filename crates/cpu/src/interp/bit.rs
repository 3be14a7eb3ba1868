//! Bit operations: BT, BTS, BTR, BTC, BSF, BSR, SETcc.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::flags::{W8, W16, W32, Width};
use iced_x86::Code;
use x86::flags as fl;

const BT: u8 = 0;
const BTS: u8 = 1;
const BTR: u8 = 2;
const BTC: u8 = 3;

#[inline(always)]
fn apply<const OP: u8>(v: u32, bit: u32) -> u32 {
    match OP {
        BTS => v | (1 << bit),
        BTR => v & !(1 << bit),
        BTC => v ^ (1 << bit),
        _ => v,
    }
}

/// BTx r/m, r (`IMM` false) or BTx r/m, imm8 (`IMM` true). With a memory
/// operand and a register offset, the offset is signed and selects the
/// word or dword beyond the addressed one.
fn btx<W: Width, const OP: u8, const IMM: bool>(c: &mut Ctx, i: &Insn) -> Res {
    let raw = if IMM { i.imm & 0xFF } else { c.reg::<W>(i.r1) };
    let bit = raw & (W::BITS - 1);
    let cf;
    if i.is_mem() {
        let mut off = c.ea(i);
        if !IMM {
            let signed = W::sext(raw) as i32;
            let delta = (signed >> (W::BITS.trailing_zeros())) * W::BYTES as i32;
            off = off.wrapping_add(delta as u32) & i.amask;
        }
        if OP == BT {
            let v = c.read::<W>(i.seg(), off)?;
            cf = (v >> bit) & 1 != 0;
        } else {
            let v = c.read_rmw::<W>(i.seg(), off)?;
            cf = (v >> bit) & 1 != 0;
            c.write::<W>(i.seg(), off, apply::<OP>(v, bit) & W::MASK)?;
        }
    } else {
        let v = c.reg::<W>(i.r0);
        cf = (v >> bit) & 1 != 0;
        if OP != BT {
            c.set_reg::<W>(i.r0, apply::<OP>(v, bit) & W::MASK);
        }
    }
    c.s.lazy.set_cf(cf);
    Ok(())
}

/// BSF/BSR: a zero source sets ZF and leaves the destination unchanged.
fn bsx<W: Width, const REVERSE: bool>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.rm1::<W>(i)?;
    if v == 0 {
        c.s.lazy.set_masked(fl::ZF, fl::ZF);
        return Ok(());
    }
    let idx = if REVERSE { 31 - v.leading_zeros() } else { v.trailing_zeros() };
    c.set_reg::<W>(i.r0, idx);
    c.s.lazy.set_masked(0, fl::ZF);
    Ok(())
}

fn setcc<const CC: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.s.lazy.cond(CC) as u32;
    c.set_rm0::<W8>(i, v)
}

macro_rules! setcc_codes {
    ($code:expr, $($cc:literal: $n:ident;)*) => {
        match $code {
            $(Code::$n => Some(setcc::<$cc> as Handler),)*
            _ => None,
        }
    };
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    if let Some(h) = setcc_codes!(code,
        0: Seto_rm8; 1: Setno_rm8; 2: Setb_rm8; 3: Setae_rm8; 4: Sete_rm8; 5: Setne_rm8; 6: Setbe_rm8; 7: Seta_rm8;
        8: Sets_rm8; 9: Setns_rm8; 10: Setp_rm8; 11: Setnp_rm8; 12: Setl_rm8; 13: Setge_rm8; 14: Setle_rm8; 15: Setg_rm8;)
    {
        return Some(h);
    }
    Some(match code {
        C::Bt_rm16_r16 => btx::<W16, BT, false>,
        C::Bt_rm32_r32 => btx::<W32, BT, false>,
        C::Bt_rm16_imm8 => btx::<W16, BT, true>,
        C::Bt_rm32_imm8 => btx::<W32, BT, true>,
        C::Bts_rm16_r16 => btx::<W16, BTS, false>,
        C::Bts_rm32_r32 => btx::<W32, BTS, false>,
        C::Bts_rm16_imm8 => btx::<W16, BTS, true>,
        C::Bts_rm32_imm8 => btx::<W32, BTS, true>,
        C::Btr_rm16_r16 => btx::<W16, BTR, false>,
        C::Btr_rm32_r32 => btx::<W32, BTR, false>,
        C::Btr_rm16_imm8 => btx::<W16, BTR, true>,
        C::Btr_rm32_imm8 => btx::<W32, BTR, true>,
        C::Btc_rm16_r16 => btx::<W16, BTC, false>,
        C::Btc_rm32_r32 => btx::<W32, BTC, false>,
        C::Btc_rm16_imm8 => btx::<W16, BTC, true>,
        C::Btc_rm32_imm8 => btx::<W32, BTC, true>,
        C::Bsf_r16_rm16 => bsx::<W16, false>,
        C::Bsf_r32_rm32 => bsx::<W32, false>,
        C::Bsr_r16_rm16 => bsx::<W16, true>,
        C::Bsr_r32_rm32 => bsx::<W32, true>,
        _ => return None,
    })
}
