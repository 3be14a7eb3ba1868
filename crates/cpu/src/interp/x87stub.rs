//! Placeholder until the x87 unit lands: WAIT only.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use iced_x86::Code;
use x86::cr::cr0;

/// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set.
fn wait(c: &mut Ctx, _: &Insn) -> Res {
    if c.s.cr0 & (cr0::MP | cr0::TS) == (cr0::MP | cr0::TS) {
        return Err(Exception::nm());
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    Some(match code {
        Code::Wait => wait,
        _ => return None,
    })
}
