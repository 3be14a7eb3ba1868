//! Placeholder until the x87 unit lands: WAIT and the control instructions
//! that early boot code uses to detect the FPU.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::W16;
use iced_x86::Code;
use x86::cr::cr0;

/// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set.
fn wait(c: &mut Ctx, _: &Insn) -> Res {
    if c.s.cr0 & (cr0::MP | cr0::TS) == (cr0::MP | cr0::TS) {
        return Err(Exception::nm());
    }
    Ok(())
}

fn check_nm(c: &Ctx) -> Res {
    if c.s.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Exception::nm());
    }
    Ok(())
}

fn fninit(c: &mut Ctx, _: &Insn) -> Res {
    check_nm(c)?;
    c.s.fpu.finit();
    Ok(())
}

fn fnstsw(c: &mut Ctx, i: &Insn) -> Res {
    check_nm(c)?;
    let v = c.s.fpu.fsw as u32;
    if i.is_mem() {
        c.write::<W16>(i.seg(), c.ea(i), v)
    } else {
        c.set_reg::<W16>(0, v);
        Ok(())
    }
}

fn fnstcw(c: &mut Ctx, i: &Insn) -> Res {
    check_nm(c)?;
    c.write::<W16>(i.seg(), c.ea(i), c.s.fpu.fcw as u32)
}

fn fldcw(c: &mut Ctx, i: &Insn) -> Res {
    check_nm(c)?;
    let v = c.read::<W16>(i.seg(), c.ea(i))?;
    c.s.fpu.fcw = (v as u16 & 0x1F3F) | 0x40;
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    Some(match code {
        Code::Wait => wait,
        Code::Fninit => fninit,
        Code::Fnstsw_m2byte | Code::Fnstsw_AX => fnstsw,
        Code::Fnstcw_m2byte => fnstcw,
        Code::Fldcw_m2byte => fldcw,
        _ => return None,
    })
}
