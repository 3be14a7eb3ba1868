//! Control instructions: WAIT/FWAIT, FNINIT, FNCLEX, FLDCW, FNSTCW,
//! FNSTSW (m16 and AX), FNOP, and the 8087/287 leftovers FNENI, FNDISI
//! and FNSETPM, which the 387 and later execute as no-ops.
//!
//! Control instructions do not update FIP/FOP/FDP. Only FLDCW and FNOP
//! among them (and WAIT itself) wait for pending exceptions.

use super::super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::W16;
use crate::fpu::sw;
use iced_x86::Code;
use x86::cr::cr0;

/// WAIT/FWAIT: #NM only when CR0.MP and CR0.TS are both set (EM does not
/// matter), then the pending-exception check.
fn wait(c: &mut Ctx, _: &Insn) -> Res {
    if c.s.cr0 & (cr0::MP | cr0::TS) == (cr0::MP | cr0::TS) {
        return Err(Exception::nm());
    }
    c.x87_wait_check()
}

/// FNINIT: the initial control/status/tag words, pointers cleared,
/// FERR# deasserted.
fn fninit(c: &mut Ctx, _: &Insn) -> Res {
    c.x87_available()?;
    c.s.fpu.finit();
    c.set_ferr(false);
    Ok(())
}

/// FNCLEX: clear the exception flags, SF, ES and B; deassert FERR#.
fn fnclex(c: &mut Ctx, _: &Insn) -> Res {
    c.x87_available()?;
    c.s.fpu.fsw &= !(sw::FLAGS | sw::SF | sw::ES | sw::B);
    c.set_ferr(false);
    Ok(())
}

/// FLDCW m16: a waiting instruction; unmasking a set flag makes it
/// pending (ES) for the next waiting instruction.
fn fldcw(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let v = c.read_m16(i)?;
    c.s.fpu.load_control_word(v);
    Ok(())
}

fn fnstcw(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_available()?;
    let v = c.s.fpu.fcw as u32;
    c.write::<W16>(i.seg(), c.ea(i), v)
}

fn fnstsw_m16(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_available()?;
    let v = c.s.fpu.fsw as u32;
    c.write::<W16>(i.seg(), c.ea(i), v)
}

fn fnstsw_ax(c: &mut Ctx, _: &Insn) -> Res {
    c.x87_available()?;
    let v = c.s.fpu.fsw as u32;
    c.set_reg::<W16>(0, v);
    Ok(())
}

/// FNOP: waits, and counts as a non-control instruction (FIP/FOP).
fn fnop(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    c.x87_record(i);
    Ok(())
}

/// FNENI, FNDISI, FNSETPM: no-ops since the 387 (only #NM applies).
fn inert(c: &mut Ctx, _: &Insn) -> Res {
    c.x87_available()
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code::*;
    Some(match code {
        Wait => wait,
        Fninit => fninit,
        Fnclex => fnclex,
        Fldcw_m2byte => fldcw,
        Fnstcw_m2byte => fnstcw,
        Fnstsw_m2byte => fnstsw_m16,
        Fnstsw_AX => fnstsw_ax,
        Fnop => fnop,
        Fneni | Fndisi | Fnsetpm => inert,
        _ => return None,
    })
}
