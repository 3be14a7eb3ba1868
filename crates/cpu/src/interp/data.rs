//! Data movement: MOV, MOVZX/MOVSX, XCHG, LEA, CBW/CWD family, LAHF/SAHF,
//! CMOVcc, XLAT, BSWAP, NOP.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W8, W16, W32, Width};
use iced_x86::Code;
use x86::flags as fl;

fn mov_rm_r<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.reg::<W>(i.r1);
    c.set_rm0::<W>(i, v)
}

fn mov_r_rm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.rm1::<W>(i)?;
    c.set_reg::<W>(i.r0, v);
    Ok(())
}

fn mov_rm_imm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.set_rm0::<W>(i, i.imm & W::MASK)
}

/// MOV AL/AX/EAX, moffs: the memory operand is operand 1.
fn mov_acc_moffs<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.read::<W>(i.seg(), c.ea(i))?;
    c.set_reg::<W>(0, v);
    Ok(())
}

fn mov_moffs_acc<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.reg::<W>(0);
    c.write::<W>(i.seg(), c.ea(i), v)
}

/// MOVZX/MOVSX r, r/m (source width S, destination width D).
fn movzx<D: Width, S: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.rm1::<S>(i)?;
    c.set_reg::<D>(i.r0, v);
    Ok(())
}

fn movsx<D: Width, S: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.rm1::<S>(i)?;
    c.set_reg::<D>(i.r0, S::sext(v) & D::MASK);
    Ok(())
}

fn xchg_rm_r<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let r = c.reg::<W>(i.r1);
    if i.is_mem() {
        let off = c.ea(i);
        let m = c.read_rmw::<W>(i.seg(), off)?;
        c.write::<W>(i.seg(), off, r)?;
        c.set_reg::<W>(i.r1, m);
    } else {
        let m = c.reg::<W>(i.r0);
        c.set_reg::<W>(i.r0, r);
        c.set_reg::<W>(i.r1, m);
    }
    Ok(())
}

fn lea<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let ea = c.ea(i);
    c.set_reg::<W>(i.r0, ea);
    Ok(())
}

fn cbw(c: &mut Ctx, _: &Insn) -> Res {
    let v = W8::sext(c.s.gpr[0]) & 0xFFFF;
    c.set_reg::<W16>(0, v);
    Ok(())
}

fn cwde(c: &mut Ctx, _: &Insn) -> Res {
    c.s.gpr[0] = W16::sext(c.s.gpr[0]);
    Ok(())
}

fn cwd(c: &mut Ctx, _: &Insn) -> Res {
    let hi = if c.s.gpr[0] & 0x8000 != 0 { 0xFFFF } else { 0 };
    c.set_reg::<W16>(2, hi);
    Ok(())
}

fn cdq(c: &mut Ctx, _: &Insn) -> Res {
    c.s.gpr[2] = ((c.s.gpr[0] as i32) >> 31) as u32;
    Ok(())
}

fn lahf(c: &mut Ctx, _: &Insn) -> Res {
    // SF ZF 0 AF 0 PF 1 CF.
    let v = (c.s.lazy.get() & (fl::SF | fl::ZF | fl::AF | fl::PF | fl::CF)) | fl::FIXED1;
    c.set_reg::<W8>(4, v);
    Ok(())
}

fn sahf(c: &mut Ctx, _: &Insn) -> Res {
    let ah = c.reg::<W8>(4);
    c.s.lazy.set_masked(ah, fl::SF | fl::ZF | fl::AF | fl::PF | fl::CF);
    Ok(())
}

/// CMOVcc: the source is read (and may fault) whatever the condition.
fn cmov<W: Width, const CC: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.rm1::<W>(i)?;
    if c.s.lazy.cond(CC) {
        c.set_reg::<W>(i.r0, v);
    }
    Ok(())
}

fn xlat(c: &mut Ctx, i: &Insn) -> Res {
    let off = c.s.gpr[3].wrapping_add(c.s.gpr[0] & 0xFF) & i.amask;
    let v = c.read::<W8>(i.seg(), off)?;
    c.set_reg::<W8>(0, v);
    Ok(())
}

fn bswap32(c: &mut Ctx, i: &Insn) -> Res {
    let r = i.r0 as usize & 7;
    c.s.gpr[r] = c.s.gpr[r].swap_bytes();
    Ok(())
}

/// BSWAP with a 16-bit operand is undefined; P6-family processors and the
/// AMD host both clear the register's low word.
fn bswap16(c: &mut Ctx, i: &Insn) -> Res {
    c.set_reg::<W16>(i.r0, 0);
    Ok(())
}

fn nop(_: &mut Ctx, _: &Insn) -> Res {
    Ok(())
}

/// NOP r/m: no access is made, but the operand must be well formed.
fn nop_rm(_: &mut Ctx, _: &Insn) -> Res {
    Ok(())
}

/// UD2 and the other instructions defined to raise #UD.
pub(super) fn ud(_: &mut Ctx, _: &Insn) -> Res {
    Err(Exception::ud())
}

macro_rules! cmov_codes {
    ($code:expr, $($cc:literal: $n16:ident, $n32:ident;)*) => {
        match $code {
            $(Code::$n16 => Some(cmov::<W16, $cc> as Handler),
              Code::$n32 => Some(cmov::<W32, $cc> as Handler),)*
            _ => None,
        }
    };
}

fn cmov_lookup(code: Code) -> Option<Handler> {
    cmov_codes!(code,
        0: Cmovo_r16_rm16, Cmovo_r32_rm32;
        1: Cmovno_r16_rm16, Cmovno_r32_rm32;
        2: Cmovb_r16_rm16, Cmovb_r32_rm32;
        3: Cmovae_r16_rm16, Cmovae_r32_rm32;
        4: Cmove_r16_rm16, Cmove_r32_rm32;
        5: Cmovne_r16_rm16, Cmovne_r32_rm32;
        6: Cmovbe_r16_rm16, Cmovbe_r32_rm32;
        7: Cmova_r16_rm16, Cmova_r32_rm32;
        8: Cmovs_r16_rm16, Cmovs_r32_rm32;
        9: Cmovns_r16_rm16, Cmovns_r32_rm32;
        10: Cmovp_r16_rm16, Cmovp_r32_rm32;
        11: Cmovnp_r16_rm16, Cmovnp_r32_rm32;
        12: Cmovl_r16_rm16, Cmovl_r32_rm32;
        13: Cmovge_r16_rm16, Cmovge_r32_rm32;
        14: Cmovle_r16_rm16, Cmovle_r32_rm32;
        15: Cmovg_r16_rm16, Cmovg_r32_rm32;
    )
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    if let Some(h) = cmov_lookup(code) {
        return Some(h);
    }
    Some(match code {
        C::Mov_rm8_r8 => mov_rm_r::<W8>,
        C::Mov_rm16_r16 => mov_rm_r::<W16>,
        C::Mov_rm32_r32 => mov_rm_r::<W32>,
        C::Mov_r8_rm8 => mov_r_rm::<W8>,
        C::Mov_r16_rm16 => mov_r_rm::<W16>,
        C::Mov_r32_rm32 => mov_r_rm::<W32>,
        C::Mov_r8_imm8 | C::Mov_rm8_imm8 => mov_rm_imm::<W8>,
        C::Mov_r16_imm16 | C::Mov_rm16_imm16 => mov_rm_imm::<W16>,
        C::Mov_r32_imm32 | C::Mov_rm32_imm32 => mov_rm_imm::<W32>,
        C::Mov_AL_moffs8 => mov_acc_moffs::<W8>,
        C::Mov_AX_moffs16 => mov_acc_moffs::<W16>,
        C::Mov_EAX_moffs32 => mov_acc_moffs::<W32>,
        C::Mov_moffs8_AL => mov_moffs_acc::<W8>,
        C::Mov_moffs16_AX => mov_moffs_acc::<W16>,
        C::Mov_moffs32_EAX => mov_moffs_acc::<W32>,
        C::Movzx_r16_rm8 => movzx::<W16, W8>,
        C::Movzx_r32_rm8 => movzx::<W32, W8>,
        C::Movzx_r16_rm16 => movzx::<W16, W16>,
        C::Movzx_r32_rm16 => movzx::<W32, W16>,
        C::Movsx_r16_rm8 => movsx::<W16, W8>,
        C::Movsx_r32_rm8 => movsx::<W32, W8>,
        C::Movsx_r16_rm16 => movsx::<W16, W16>,
        C::Movsx_r32_rm16 => movsx::<W32, W16>,
        C::Xchg_rm8_r8 => xchg_rm_r::<W8>,
        C::Xchg_rm16_r16 | C::Xchg_r16_AX => xchg_rm_r::<W16>,
        C::Xchg_rm32_r32 | C::Xchg_r32_EAX => xchg_rm_r::<W32>,
        C::Lea_r16_m => lea::<W16>,
        C::Lea_r32_m => lea::<W32>,
        C::Cbw => cbw,
        C::Cwde => cwde,
        C::Cwd => cwd,
        C::Cdq => cdq,
        C::Lahf => lahf,
        C::Sahf => sahf,
        C::Xlat_m8 => xlat,
        C::Bswap_r32 => bswap32,
        C::Bswap_r16 => bswap16,
        C::Nopw | C::Nopd | C::Pause => nop,
        C::Nop_rm16 | C::Nop_rm32 => nop_rm,
        C::Ud2 => ud,
        _ => {
            let name = format!("{code:?}");
            if name.starts_with("Reservednop_") || name.starts_with("Endbr") {
                nop_rm
            } else {
                return None;
            }
        }
    })
}
