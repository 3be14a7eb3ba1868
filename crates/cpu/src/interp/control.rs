//! Near control transfers: JMP, Jcc, CALL, RET, LOOPcc, JCXZ.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32, Width};
use crate::state::{reg, sreg};
use iced_x86::Code;

impl Ctx<'_> {
    /// Jump to `target` within CS, after the limit check every near
    /// transfer makes (#GP(0) beyond the limit).
    #[inline(always)]
    pub fn jump_near(&mut self, target: u32) -> Res {
        if !self.s.seg[sreg::CS].within_limit(target, 1) {
            return Err(Exception::gp0());
        }
        self.s.eip = target;
        Ok(())
    }
}

/// Relative jump: operand size `W` truncates the new EIP.
#[inline(always)]
fn rel_target<W: Width>(c: &Ctx, i: &Insn) -> u32 {
    c.s.eip.wrapping_add(i.imm) & W::MASK
}

fn jmp_rel<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let t = rel_target::<W>(c, i);
    c.jump_near(t)
}

fn jcc<W: Width, const CC: u8>(c: &mut Ctx, i: &Insn) -> Res {
    if c.s.lazy.cond(CC) {
        let t = rel_target::<W>(c, i);
        c.jump_near(t)?;
    }
    Ok(())
}

fn jmp_rm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let t = c.rm0::<W>(i)?;
    c.jump_near(t)
}

fn call_rel<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let t = rel_target::<W>(c, i);
    call_to::<W>(c, t)
}

fn call_rm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let t = c.rm0::<W>(i)?;
    call_to::<W>(c, t)
}

#[inline(always)]
fn call_to<W: Width>(c: &mut Ctx, t: u32) -> Res {
    if !c.s.seg[sreg::CS].within_limit(t, 1) {
        return Err(Exception::gp0());
    }
    let ret = c.s.eip & W::MASK;
    c.push::<W>(ret)?;
    c.s.eip = t;
    Ok(())
}

fn ret_near<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let t = c.peek::<W>(0)?;
    if !c.s.seg[sreg::CS].within_limit(t, 1) {
        return Err(Exception::gp0());
    }
    let m = c.sp_mask();
    let sp = c.s.gpr[reg::ESP];
    c.set_sp(sp.wrapping_add(W::BYTES).wrapping_add(i.imm & 0xFFFF) & m);
    c.s.eip = t;
    Ok(())
}

/// LOOP/LOOPE/LOOPNE (KIND 0/1/2): the counter is CX or ECX by address
/// size `A`, the target truncated by operand size `W`.
fn loop_<W: Width, A: Width, const KIND: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let count = c.reg::<A>(reg::ECX as u8).wrapping_sub(1) & A::MASK;
    let go = count != 0
        && match KIND {
            1 => c.s.lazy.zf(),
            2 => !c.s.lazy.zf(),
            _ => true,
        };
    if go {
        let t = rel_target::<W>(c, i);
        c.jump_near(t)?;
    }
    c.set_reg::<A>(reg::ECX as u8, count);
    Ok(())
}

fn jcxz<W: Width, A: Width>(c: &mut Ctx, i: &Insn) -> Res {
    if c.reg::<A>(reg::ECX as u8) == 0 {
        let t = rel_target::<W>(c, i);
        c.jump_near(t)?;
    }
    Ok(())
}

macro_rules! jcc_codes {
    ($code:expr, $($cc:literal: $a:ident $b:ident $c:ident $d:ident;)*) => {
        match $code {
            $(Code::$a | Code::$c => Some(jcc::<W16, $cc> as Handler),
              Code::$b | Code::$d => Some(jcc::<W32, $cc> as Handler),)*
            _ => None,
        }
    };
}

fn jcc_lookup(code: Code) -> Option<Handler> {
    jcc_codes!(code,
        0: Jo_rel8_16 Jo_rel8_32 Jo_rel16 Jo_rel32_32;
        1: Jno_rel8_16 Jno_rel8_32 Jno_rel16 Jno_rel32_32;
        2: Jb_rel8_16 Jb_rel8_32 Jb_rel16 Jb_rel32_32;
        3: Jae_rel8_16 Jae_rel8_32 Jae_rel16 Jae_rel32_32;
        4: Je_rel8_16 Je_rel8_32 Je_rel16 Je_rel32_32;
        5: Jne_rel8_16 Jne_rel8_32 Jne_rel16 Jne_rel32_32;
        6: Jbe_rel8_16 Jbe_rel8_32 Jbe_rel16 Jbe_rel32_32;
        7: Ja_rel8_16 Ja_rel8_32 Ja_rel16 Ja_rel32_32;
        8: Js_rel8_16 Js_rel8_32 Js_rel16 Js_rel32_32;
        9: Jns_rel8_16 Jns_rel8_32 Jns_rel16 Jns_rel32_32;
        10: Jp_rel8_16 Jp_rel8_32 Jp_rel16 Jp_rel32_32;
        11: Jnp_rel8_16 Jnp_rel8_32 Jnp_rel16 Jnp_rel32_32;
        12: Jl_rel8_16 Jl_rel8_32 Jl_rel16 Jl_rel32_32;
        13: Jge_rel8_16 Jge_rel8_32 Jge_rel16 Jge_rel32_32;
        14: Jle_rel8_16 Jle_rel8_32 Jle_rel16 Jle_rel32_32;
        15: Jg_rel8_16 Jg_rel8_32 Jg_rel16 Jg_rel32_32;
    )
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    if let Some(h) = jcc_lookup(code) {
        return Some(h);
    }
    Some(match code {
        C::Jmp_rel8_16 | C::Jmp_rel16 => jmp_rel::<W16>,
        C::Jmp_rel8_32 | C::Jmp_rel32_32 => jmp_rel::<W32>,
        C::Jmp_rm16 => jmp_rm::<W16>,
        C::Jmp_rm32 => jmp_rm::<W32>,
        C::Call_rel16 => call_rel::<W16>,
        C::Call_rel32_32 => call_rel::<W32>,
        C::Call_rm16 => call_rm::<W16>,
        C::Call_rm32 => call_rm::<W32>,
        C::Retnw | C::Retnw_imm16 => ret_near::<W16>,
        C::Retnd | C::Retnd_imm16 => ret_near::<W32>,
        C::Loop_rel8_16_CX => loop_::<W16, W16, 0>,
        C::Loop_rel8_32_CX => loop_::<W32, W16, 0>,
        C::Loop_rel8_16_ECX => loop_::<W16, W32, 0>,
        C::Loop_rel8_32_ECX => loop_::<W32, W32, 0>,
        C::Loope_rel8_16_CX => loop_::<W16, W16, 1>,
        C::Loope_rel8_32_CX => loop_::<W32, W16, 1>,
        C::Loope_rel8_16_ECX => loop_::<W16, W32, 1>,
        C::Loope_rel8_32_ECX => loop_::<W32, W32, 1>,
        C::Loopne_rel8_16_CX => loop_::<W16, W16, 2>,
        C::Loopne_rel8_32_CX => loop_::<W32, W16, 2>,
        C::Loopne_rel8_16_ECX => loop_::<W16, W32, 2>,
        C::Loopne_rel8_32_ECX => loop_::<W32, W32, 2>,
        C::Jcxz_rel8_16 => jcxz::<W16, W16>,
        C::Jcxz_rel8_32 => jcxz::<W32, W16>,
        C::Jecxz_rel8_16 => jcxz::<W16, W32>,
        C::Jecxz_rel8_32 => jcxz::<W32, W32>,
        _ => return None,
    })
}
