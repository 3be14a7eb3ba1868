//! Flag instructions: CLC STC CMC CLD STD CLI STI (with the IOPL, VME and
//! PVI rules for IF).

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use iced_x86::Code;
use x86::cr::cr4;
use x86::flags as fl;

fn clc(c: &mut Ctx, _: &Insn) -> Res {
    c.s.lazy.set_cf(false);
    Ok(())
}

fn stc(c: &mut Ctx, _: &Insn) -> Res {
    c.s.lazy.set_cf(true);
    Ok(())
}

fn cmc(c: &mut Ctx, _: &Insn) -> Res {
    let cf = c.s.lazy.cf();
    c.s.lazy.set_cf(!cf);
    Ok(())
}

fn cld(c: &mut Ctx, _: &Insn) -> Res {
    c.s.eflags_rest &= !fl::DF;
    Ok(())
}

fn std_(c: &mut Ctx, _: &Insn) -> Res {
    c.s.eflags_rest |= fl::DF;
    Ok(())
}

/// How CLI/STI may act: on IF, on VIF (VME/PVI), or not at all.
enum IfAccess {
    Real,
    Virtual,
}

fn if_access(c: &Ctx) -> Res<IfAccess> {
    let s = &c.s;
    if !s.protected_mode() {
        return Ok(IfAccess::Real);
    }
    let iopl = s.iopl();
    if s.v86_mode() {
        if iopl == 3 {
            return Ok(IfAccess::Real);
        }
        if s.cr4 & cr4::VME != 0 {
            return Ok(IfAccess::Virtual);
        }
        return Err(Exception::gp0());
    }
    if s.cpl <= iopl {
        return Ok(IfAccess::Real);
    }
    if s.cpl == 3 && s.cr4 & cr4::PVI != 0 {
        return Ok(IfAccess::Virtual);
    }
    Err(Exception::gp0())
}

fn cli(c: &mut Ctx, _: &Insn) -> Res {
    match if_access(c)? {
        IfAccess::Real => c.s.eflags_rest &= !fl::IF,
        IfAccess::Virtual => c.s.eflags_rest &= !fl::VIF,
    }
    Ok(())
}

fn sti(c: &mut Ctx, _: &Insn) -> Res {
    match if_access(c)? {
        IfAccess::Real => {
            if !c.s.flag(fl::IF) {
                c.s.eflags_rest |= fl::IF;
                c.s.interrupt_shadow = true;
                c.end_block = true;
            }
        }
        IfAccess::Virtual => {
            if c.s.flag(fl::VIP) {
                return Err(Exception::gp0());
            }
            c.s.eflags_rest |= fl::VIF;
        }
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    Some(match code {
        Code::Clc => clc,
        Code::Stc => stc,
        Code::Cmc => cmc,
        Code::Cld => cld,
        Code::Std => std_,
        Code::Cli => cli,
        Code::Sti => sti,
        _ => return None,
    })
}
