//! IRET in every mode: real mode, virtual-8086 mode (IOPL 3 and VME),
//! nested-task return, return to virtual-8086 mode, and protected-mode
//! returns to the same or an outer privilege level (SDM vol. 2, IRET).

use super::insn::Insn;
use super::task::Reason;
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32, Width};
use crate::state::{reg, sreg};
use x86::flags as fl;

/// Flags IRET may change, by the privilege it executes at.
fn iret_flags_mask(c: &Ctx, big: bool) -> u32 {
    let mut m = fl::ARITH | fl::TF | fl::DF | fl::NT | fl::RF | fl::AC | fl::ID;
    if c.s.cpl == 0 {
        m |= fl::IOPL | fl::VIF | fl::VIP;
    }
    if c.s.cpl <= c.s.iopl() {
        m |= fl::IF;
    }
    if !big {
        m &= 0xFFFF;
    }
    m
}

pub(super) fn iret<W: Width>(c: &mut Ctx, _: &Insn) -> Res {
    let big = W::BITS == 32;
    c.end_block = true;
    c.s.nmi_blocked = false;
    if !c.s.protected_mode() {
        let eip = c.peek::<W>(0)?;
        let cs = c.peek::<W>(W::BYTES)? as u16;
        let flags = c.peek::<W>(2 * W::BYTES)?;
        if !c.s.seg[sreg::CS].within_limit(eip, 1) {
            return Err(Exception::gp0());
        }
        c.set_sp(c.s.gpr[reg::ESP].wrapping_add(3 * W::BYTES));
        c.s.seg[sreg::CS].load_real(cs);
        c.s.eip = eip;
        let keep = if big { fl::VM | fl::VIF | fl::VIP } else { 0xFFFF_0000 };
        let v = (c.s.eflags() & keep) | (flags & !keep);
        c.s.set_eflags(v);
        return Ok(());
    }
    if c.s.v86_mode() {
        return iret_v86::<W>(c);
    }
    if c.s.flag(fl::NT) {
        let back = c.read_sys::<W16>(c.s.tr.base())? as u16;
        return c.task_switch_via(back, Reason::Iret, None, 0);
    }
    let eip = c.peek::<W>(0)?;
    let cs = c.peek::<W>(W::BYTES)? as u16;
    let flags = c.peek::<W>(2 * W::BYTES)?;
    if big && flags & fl::VM != 0 && c.s.cpl == 0 {
        return iret_to_v86(c, eip, cs, flags);
    }
    let (cs_cache, cs_desc) = c.check_return_cs(cs)?;
    let rpl = (cs & 3) as u8;
    if !cs_cache.within_limit(eip, 1) {
        return Err(Exception::gp0());
    }
    let mask = iret_flags_mask(c, big);
    if rpl > c.s.cpl {
        let esp = c.peek::<W>(3 * W::BYTES)?;
        let ss = c.peek::<W>(4 * W::BYTES)? as u16;
        let (ss_cache, ss_desc) = c.check_return_ss(ss, rpl)?;
        c.mark_accessed(cs, cs_desc)?;
        c.mark_accessed(ss, ss_desc)?;
        let v = (c.s.eflags() & !mask) | (flags & mask);
        c.s.set_eflags(v);
        c.s.seg[sreg::CS] = cs_cache;
        c.s.eip = eip;
        c.s.cpl = rpl;
        c.s.seg[sreg::SS] = ss_cache;
        if ss_cache.db() {
            c.s.gpr[reg::ESP] = if big { esp } else { esp & 0xFFFF };
        } else {
            // A 16-bit stack segment loads only SP, even from a 32-bit
            // IRET: the high word of ESP keeps the inner level's value
            // (what Linux's ESPFIX works around), as RETF does.
            c.s.gpr[reg::ESP] = (c.s.gpr[reg::ESP] & 0xFFFF_0000) | (esp & 0xFFFF);
        }
        c.invalidate_data_segments();
    } else {
        c.mark_accessed(cs, cs_desc)?;
        c.set_sp(c.s.gpr[reg::ESP].wrapping_add(3 * W::BYTES));
        let v = (c.s.eflags() & !mask) | (flags & mask);
        c.s.set_eflags(v);
        c.s.seg[sreg::CS] = cs_cache;
        c.s.eip = eip;
    }
    Ok(())
}

/// IRET executed in virtual-8086 mode.
fn iret_v86<W: Width>(c: &mut Ctx) -> Res {
    let big = W::BITS == 32;
    let eip = c.peek::<W>(0)?;
    let cs = c.peek::<W>(W::BYTES)? as u16;
    let flags = c.peek::<W>(2 * W::BYTES)?;
    if c.s.iopl() == 3 {
        if eip > 0xFFFF {
            return Err(Exception::gp0());
        }
        c.set_sp(c.s.gpr[reg::ESP].wrapping_add(3 * W::BYTES));
        c.s.seg[sreg::CS].load_v86(cs, true);
        c.s.eip = eip;
        let keep = fl::VM | fl::IOPL | fl::VIF | fl::VIP | if big { 0 } else { 0xFFFF_0000 };
        let v = (c.s.eflags() & keep) | (flags & !keep);
        c.s.set_eflags(v);
        return Ok(());
    }
    if c.vme() && !big {
        // VME virtual IRET: IF of the image goes to VIF.
        if (flags & fl::IF != 0 && c.s.flag(fl::VIP)) || flags & fl::TF != 0 {
            return Err(Exception::gp0());
        }
        c.set_sp(c.s.gpr[reg::ESP].wrapping_add(6));
        c.s.seg[sreg::CS].load_v86(cs, true);
        c.s.eip = eip;
        let keep = 0xFFFF_0000 | fl::IF | fl::IOPL;
        let mut v = (c.s.eflags() & keep) | (flags & !keep);
        v = (v & !fl::VIF) | if flags & fl::IF != 0 { fl::VIF } else { 0 };
        c.s.set_eflags(v);
        return Ok(());
    }
    Err(Exception::gp0())
}

/// IRET from CPL 0 to virtual-8086 mode (EFLAGS image with VM set).
fn iret_to_v86(c: &mut Ctx, eip: u32, cs: u16, flags: u32) -> Res {
    let esp = c.peek::<W32>(12)?;
    let ss = c.peek::<W32>(16)? as u16;
    let es = c.peek::<W32>(20)? as u16;
    let ds = c.peek::<W32>(24)? as u16;
    let fs = c.peek::<W32>(28)? as u16;
    let gs = c.peek::<W32>(32)? as u16;
    c.s.set_eflags(flags);
    c.s.cpl = 3;
    c.s.seg[sreg::CS].load_v86(cs, true);
    for (idx, sel) in [(sreg::SS, ss), (sreg::ES, es), (sreg::DS, ds), (sreg::FS, fs), (sreg::GS, gs)] {
        c.s.seg[idx].load_v86(sel, false);
    }
    c.s.eip = eip & 0xFFFF;
    c.s.gpr[reg::ESP] = esp;
    Ok(())
}
