//! The stack: PUSH/POP in all forms, PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32, Width};
use crate::state::{reg, sreg};
use iced_x86::Code;
use x86::flags as fl;

impl Ctx<'_> {
    /// Mask of the stack pointer: SP or ESP, by SS.B.
    #[inline(always)]
    pub fn sp_mask(&self) -> u32 {
        if self.s.stack32() { 0xFFFF_FFFF } else { 0xFFFF }
    }

    /// Replace the stack pointer bits that SS.B says are in use.
    #[inline(always)]
    pub fn set_sp(&mut self, v: u32) {
        let m = self.sp_mask();
        self.s.gpr[reg::ESP] = (self.s.gpr[reg::ESP] & !m) | (v & m);
    }

    /// PUSH of a `W`-sized value.
    #[inline(always)]
    pub fn push<W: Width>(&mut self, v: u32) -> Res {
        let m = self.sp_mask();
        let sp = self.s.gpr[reg::ESP].wrapping_sub(W::BYTES) & m;
        self.write::<W>(sreg::SS, sp, v)?;
        self.set_sp(sp);
        Ok(())
    }

    /// POP of a `W`-sized value.
    #[inline(always)]
    pub fn pop<W: Width>(&mut self) -> Res<u32> {
        let m = self.sp_mask();
        let sp = self.s.gpr[reg::ESP] & m;
        let v = self.read::<W>(sreg::SS, sp)?;
        self.set_sp(sp.wrapping_add(W::BYTES));
        Ok(v)
    }

    /// Read the stack at `depth` bytes above the stack pointer, without
    /// popping (for instructions that must check before they commit).
    pub fn peek<W: Width>(&mut self, depth: u32) -> Res<u32> {
        let m = self.sp_mask();
        let sp = self.s.gpr[reg::ESP].wrapping_add(depth) & m;
        self.read::<W>(sreg::SS, sp)
    }

    /// PUSH by operand size.
    pub fn push_sized(&mut self, o32: bool, v: u32) -> Res {
        if o32 { self.push::<W32>(v) } else { self.push::<W16>(v) }
    }

    pub fn pop_sized(&mut self, o32: bool) -> Res<u32> {
        if o32 { self.pop::<W32>() } else { self.pop::<W16>() }
    }
}

fn push_r<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    // PUSH ESP pushes the value before the decrement (80286 and later).
    let v = c.reg::<W>(i.r0);
    c.push::<W>(v)
}

fn push_rm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.rm0::<W>(i)?;
    c.push::<W>(v)
}

fn push_imm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.push::<W>(i.imm & W::MASK)
}

fn pop_r<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let v = c.pop::<W>()?;
    c.set_reg::<W>(i.r0, v);
    Ok(())
}

/// POP r/m: the address is computed with the stack pointer already
/// incremented; if the store faults, the stack pointer is restored.
fn pop_rm<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    if !i.is_mem() {
        return pop_r::<W>(c, i);
    }
    let old = c.s.gpr[reg::ESP];
    let v = c.pop::<W>()?;
    let off = c.ea(i);
    if let Err(e) = c.write::<W>(i.seg(), off, v) {
        c.s.gpr[reg::ESP] = old;
        return Err(e);
    }
    Ok(())
}

fn pusha<W: Width>(c: &mut Ctx, _: &Insn) -> Res {
    let m = c.sp_mask();
    let sp0 = c.s.gpr[reg::ESP];
    let mut sp = sp0;
    // Check the whole frame first: a fault leaves ESP unchanged.
    for r in 0..8 {
        let v = if r == reg::ESP { sp0 } else { c.s.gpr[r] };
        sp = sp.wrapping_sub(W::BYTES);
        c.write::<W>(sreg::SS, sp & m, v & W::MASK)?;
    }
    c.set_sp(sp);
    Ok(())
}

/// POPA: the eight slots are read in order (EDI first; the ESP slot is
/// read and discarded) and each register is loaded as its slot is read.
/// A fault on a later slot leaves the registers already loaded changed and
/// ESP unchanged — what the AMD Zen host does (the SDM does not say; the
/// instruction restarts correctly either way).
fn popa<W: Width>(c: &mut Ctx, _: &Insn) -> Res {
    let m = c.sp_mask();
    let sp0 = c.s.gpr[reg::ESP];
    for r in (0..8).rev() {
        let depth = (7 - r as u32) * W::BYTES;
        let v = c.read::<W>(sreg::SS, sp0.wrapping_add(depth) & m)?;
        if r != reg::ESP {
            c.set_reg::<W>(r as u8, v);
        }
    }
    c.set_sp(sp0.wrapping_add(8 * W::BYTES));
    Ok(())
}

/// The EFLAGS image PUSHF stores: VM and RF read as zero.
fn pushf<W: Width>(c: &mut Ctx, _: &Insn) -> Res {
    let mut v = c.s.eflags() & !(fl::VM | fl::RF);
    if c.s.v86_mode() && c.s.iopl() < 3 {
        if !c.vme() || W::BITS == 32 {
            return Err(Exception::gp0());
        }
        // VME: PUSHF in v8086 mode pushes VIF in place of IF, IOPL as 3.
        v = (v & !fl::IF) | if c.s.flag(fl::VIF) { fl::IF } else { 0 } | fl::IOPL;
    }
    c.push::<W>(v & W::MASK)
}

fn popf<W: Width>(c: &mut Ctx, _: &Insn) -> Res {
    let new = c.peek::<W>(0)?;
    if c.s.v86_mode() && c.s.iopl() < 3 {
        if !c.vme() || W::BITS == 32 {
            return Err(Exception::gp0());
        }
        // VME: IF goes to VIF; #GP if that would enable with VIP set, or TF set.
        if (new & fl::TF != 0) || (new & fl::IF != 0 && c.s.flag(fl::VIP)) {
            return Err(Exception::gp0());
        }
        c.pop::<W>()?;
        let keep = !(fl::ARITH | fl::TF | fl::DF | fl::OF | fl::NT) | fl::IF | fl::IOPL;
        let mut v = (c.s.eflags() & keep) | (new & !keep & 0xFFFF);
        v = (v & !fl::VIF) | if new & fl::IF != 0 { fl::VIF } else { 0 };
        c.s.set_eflags(v);
        c.end_block = true;
        return Ok(());
    }
    c.pop::<W>()?;
    c.load_eflags(new, W::MASK);
    Ok(())
}

impl Ctx<'_> {
    /// CR4.VME is set (virtual-8086 mode extensions).
    #[inline]
    pub fn vme(&self) -> bool {
        self.s.cr4 & x86::cr::cr4::VME != 0
    }

    /// Load EFLAGS as POPF does, under the privilege rules: IOPL only at
    /// CPL 0, IF only when CPL <= IOPL; VM, VIP and VIF never; RF cleared.
    /// `width_mask` limits the change to the low 16 bits for a 16-bit POPF.
    pub fn load_eflags(&mut self, new: u32, width_mask: u32) {
        let old = self.s.eflags();
        let mut changeable = fl::ARITH | fl::TF | fl::DF | fl::NT | fl::AC | fl::ID;
        if !self.s.protected_mode() || self.s.cpl == 0 {
            changeable |= fl::IOPL;
        }
        if !self.s.protected_mode() || self.s.cpl <= self.s.iopl() || (self.s.v86_mode() && self.s.iopl() == 3) {
            changeable |= fl::IF;
        }
        changeable &= width_mask;
        let v = ((old & !changeable) | (new & changeable)) & !fl::RF;
        self.s.set_eflags(v);
        self.end_block = true;
    }
}

/// ENTER imm16, imm8: make a stack frame with `level` nesting levels.
fn enter<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let size = i.imm & 0xFFFF;
    let level = i.imm2 & 0x1F;
    let m = c.sp_mask();
    let bp_mask = if c.s.stack32() { 0xFFFF_FFFF } else { 0xFFFF };
    let mut sp = c.s.gpr[reg::ESP];
    let mut bp = c.s.gpr[reg::EBP];
    let ebp_val = bp & W::MASK;
    // Push old frame pointer.
    sp = sp.wrapping_sub(W::BYTES);
    c.write::<W>(sreg::SS, sp & m, ebp_val)?;
    let frame = sp;
    if level > 0 {
        for _ in 1..level {
            bp = bp.wrapping_sub(W::BYTES);
            let v = c.read::<W>(sreg::SS, bp & bp_mask)?;
            sp = sp.wrapping_sub(W::BYTES);
            c.write::<W>(sreg::SS, sp & m, v)?;
        }
        sp = sp.wrapping_sub(W::BYTES);
        c.write::<W>(sreg::SS, sp & m, frame & W::MASK)?;
    }
    let new_sp = sp.wrapping_sub(size);
    // The final stack pointer must be writable (SDM: ENTER checks it):
    // #SS beyond the segment limit, #PF when its page cannot be written.
    // The probe is an operand-sized write access, so it is also
    // alignment-checked (#AC with EFLAGS.AC at CPL 3, as on the host).
    let sp_end = new_sp & m;
    if !c.s.seg[sreg::SS].can_write(sp_end, W::BYTES) {
        return Err(Exception::ss(0));
    }
    let lin = c.lin_write(sreg::SS, sp_end, W::BYTES)?;
    let user = c.user();
    c.probe_write_lin(lin, W::BYTES, user)?;
    c.set_reg::<W>(reg::EBP as u8, frame);
    c.set_sp(new_sp);
    Ok(())
}

fn leave<W: Width>(c: &mut Ctx, _: &Insn) -> Res {
    let m = c.sp_mask();
    let bp = c.s.gpr[reg::EBP] & m;
    let v = c.read::<W>(sreg::SS, bp)?;
    c.set_sp(bp.wrapping_add(W::BYTES));
    c.set_reg::<W>(reg::EBP as u8, v);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Push_r16 => push_r::<W16>,
        C::Push_r32 => push_r::<W32>,
        C::Push_rm16 => push_rm::<W16>,
        C::Push_rm32 => push_rm::<W32>,
        C::Pushw_imm8 | C::Push_imm16 => push_imm::<W16>,
        C::Pushd_imm8 | C::Pushd_imm32 => push_imm::<W32>,
        C::Pop_r16 => pop_r::<W16>,
        C::Pop_r32 => pop_r::<W32>,
        C::Pop_rm16 => pop_rm::<W16>,
        C::Pop_rm32 => pop_rm::<W32>,
        C::Pushaw => pusha::<W16>,
        C::Pushad => pusha::<W32>,
        C::Popaw => popa::<W16>,
        C::Popad => popa::<W32>,
        C::Pushfw => pushf::<W16>,
        C::Pushfd => pushf::<W32>,
        C::Popfw => popf::<W16>,
        C::Popfd => popf::<W32>,
        C::Enterw_imm16_imm8 => enter::<W16>,
        C::Enterd_imm16_imm8 => enter::<W32>,
        C::Leavew => leave::<W16>,
        C::Leaved => leave::<W32>,
        _ => return None,
    })
}
