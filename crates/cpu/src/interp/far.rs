//! Far control transfers: JMP/CALL ptr and m16:16/32, RETF, through code
//! segments, call gates, task gates and TSS descriptors (SDM vol. 3, 5.8
//! and vol. 2 JMP/CALL/RET).

use super::frame::Frame;
use super::insn::{Handler, Insn};
use super::segload::with_accessed;
use super::task::Reason;
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32, Width};
use crate::segment::Segment;
use crate::state::{reg, sreg};
use iced_x86::Code;
use x86::descriptor::{Descriptor, sys};

impl Ctx<'_> {
    /// Checks on the CS selector a RETF/IRET returns to; returns the new
    /// cache with the selector's RPL as the new CPL.
    pub fn check_return_cs(&mut self, sel: u16) -> Res<(Segment, Descriptor)> {
        if sel & !3 == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(sel, Exception::gp)?;
        let err = Exception::sel_error(sel);
        let rpl = (sel & 3) as u8;
        if !d.is_code() || rpl < self.s.cpl {
            return Err(Exception::gp(err));
        }
        if d.is_conforming_code() {
            if d.dpl() > rpl {
                return Err(Exception::gp(err));
            }
        } else if d.dpl() != rpl {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        Ok((Segment::from_descriptor(sel, with_accessed(d)), d))
    }

    /// Checks on the SS selector of a return to an outer level.
    pub fn check_return_ss(&mut self, sel: u16, rpl: u8) -> Res<(Segment, Descriptor)> {
        if sel & !3 == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(sel, Exception::gp)?;
        let err = Exception::sel_error(sel);
        if (sel & 3) as u8 != rpl || d.dpl() != rpl || !d.is_writable_data() {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::ss(err));
        }
        Ok((Segment::from_descriptor(sel, with_accessed(d)), d))
    }

    /// After a return to an outer privilege level: data segment registers
    /// the new CPL may not use become null.
    pub fn invalidate_data_segments(&mut self) {
        let cpl = self.s.cpl;
        for idx in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
            let s = &self.s.seg[idx];
            let conforming = s.is_code() && s.typ() & 4 != 0;
            if s.present() && !conforming && s.dpl() < cpl {
                self.s.seg[idx] = Segment::null(0);
            }
        }
    }

    /// Far JMP or CALL to `sel:off` (`call` pushes the return address with
    /// operand size `big`).
    pub fn far_transfer(&mut self, sel: u16, off: u32, call: bool, big: bool) -> Res {
        self.end_block = true;
        let omask = if big { 0xFFFF_FFFF } else { 0xFFFF };
        if !self.s.protected_mode() || self.s.v86_mode() {
            let off = off & omask;
            let mut cs = self.s.seg[sreg::CS];
            if self.s.v86_mode() {
                cs.load_v86(sel, true)
            } else {
                cs.load_real(sel)
            }
            if !cs.within_limit(off, 1) {
                return Err(Exception::gp0());
            }
            if call {
                let old_sp = self.s.gpr[reg::ESP];
                let ret_cs = self.s.seg[sreg::CS].selector as u32;
                let ret = self.s.eip;
                let r = self.push_sized(big, ret_cs).and_then(|_| self.push_sized(big, ret & omask));
                if let Err(e) = r {
                    self.s.gpr[reg::ESP] = old_sp;
                    return Err(e);
                }
            }
            self.s.seg[sreg::CS] = cs;
            self.s.eip = off;
            return Ok(());
        }
        if sel & !3 == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(sel, Exception::gp)?;
        let err = Exception::sel_error(sel);
        let cpl = self.s.cpl;
        let rpl = (sel & 3) as u8;
        if d.is_code() {
            if d.is_conforming_code() {
                if d.dpl() > cpl {
                    return Err(Exception::gp(err));
                }
            } else if rpl > cpl || d.dpl() != cpl {
                return Err(Exception::gp(err));
            }
            if !d.present() {
                return Err(Exception::np(err));
            }
            let off = off & omask;
            let cs = Segment::from_descriptor((sel & !3) | cpl as u16, with_accessed(d));
            if call {
                let ss = self.s.seg[sreg::SS];
                let mut frame = Frame::new(ss, self.s.gpr[reg::ESP], Exception::ss(0), cpl == 3);
                // Only the first push is checked up front: when the second
                // one faults, the CS slot has been written (ESP is not
                // updated), as on the AMD host.
                frame.check_room(self, 1, big)?;
                if !cs.within_limit(off, 1) {
                    return Err(Exception::gp0());
                }
                frame.push(self, self.s.seg[sreg::CS].selector as u32, big)?;
                frame.push(self, self.s.eip, big)?;
                self.s.gpr[reg::ESP] = frame.esp;
            } else if !cs.within_limit(off, 1) {
                return Err(Exception::gp0());
            }
            self.mark_accessed(sel, d)?;
            self.s.seg[sreg::CS] = cs;
            self.s.eip = off;
            return Ok(());
        }
        match d.typ() {
            sys::CALL_GATE16 | sys::CALL_GATE32 if !d.s() => self.through_call_gate(sel, d, call),
            sys::TASK_GATE if !d.s() => {
                if d.dpl() < cpl || d.dpl() < rpl {
                    return Err(Exception::gp(err));
                }
                if !d.present() {
                    return Err(Exception::np(err));
                }
                let reason = if call { Reason::Call } else { Reason::Jmp };
                self.task_switch_via(d.gate_selector(), reason, None, 0)
            }
            sys::TSS16_AVAIL | sys::TSS32_AVAIL | sys::TSS16_BUSY | sys::TSS32_BUSY if !d.s() => {
                if d.dpl() < cpl || d.dpl() < rpl {
                    return Err(Exception::gp(err));
                }
                let reason = if call { Reason::Call } else { Reason::Jmp };
                self.task_switch(sel, d, reason, None, 0)
            }
            _ => Err(Exception::gp(err)),
        }
    }

    fn through_call_gate(&mut self, gate_sel: u16, gate: Descriptor, call: bool) -> Res {
        let cpl = self.s.cpl;
        let err = Exception::sel_error(gate_sel);
        if gate.dpl() < cpl || gate.dpl() < (gate_sel & 3) as u8 {
            return Err(Exception::gp(err));
        }
        if !gate.present() {
            return Err(Exception::np(err));
        }
        let sel = gate.gate_selector();
        if sel & !3 == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(sel, Exception::gp)?;
        let cerr = Exception::sel_error(sel);
        if !d.is_code() || d.dpl() > cpl {
            return Err(Exception::gp(cerr));
        }
        if !call && !d.is_conforming_code() && d.dpl() != cpl {
            return Err(Exception::gp(cerr));
        }
        if !d.present() {
            return Err(Exception::np(cerr));
        }
        let big = gate.typ() == sys::CALL_GATE32;
        let off = if big { gate.gate_offset() } else { gate.gate_offset() & 0xFFFF };
        if !call {
            let cs = Segment::from_descriptor((sel & !3) | cpl as u16, with_accessed(d));
            if !cs.within_limit(off, 1) {
                return Err(Exception::gp0());
            }
            self.mark_accessed(sel, d)?;
            self.s.seg[sreg::CS] = cs;
            self.s.eip = off;
            return Ok(());
        }
        if !d.is_conforming_code() && d.dpl() < cpl {
            // More privilege: new stack, copy parameters.
            let dpl = d.dpl();
            let (ss_sel, esp) = self.tss_stack(dpl, 0)?;
            let (ss_cache, ss_desc) = self.check_tss_ss(ss_sel, dpl, 0)?;
            let count = gate.gate_param_count() as u32;
            let n = if big { 4 } else { 2 };
            let mut frame = Frame::new(ss_cache, esp, Exception::ss(Exception::sel_error(ss_sel)), dpl == 3);
            frame.check_room(self, 4 + count, big)?;
            let cs = Segment::from_descriptor((sel & !3) | dpl as u16, with_accessed(d));
            if !cs.within_limit(off, 1) {
                return Err(Exception::gp0());
            }
            // Parameters from the old stack, read before anything changes.
            let mut params = [0u32; 31];
            for (k, p) in params.iter_mut().enumerate().take(count as usize) {
                let depth = (count - 1 - k as u32) * n;
                *p = if big { self.peek::<W32>(depth)? } else { self.peek::<W16>(depth)? };
            }
            frame.push(self, self.s.seg[sreg::SS].selector as u32, big)?;
            frame.push(self, self.s.gpr[reg::ESP], big)?;
            for p in params.iter().take(count as usize) {
                frame.push(self, *p, big)?;
            }
            frame.push(self, self.s.seg[sreg::CS].selector as u32, big)?;
            frame.push(self, self.s.eip, big)?;
            self.mark_accessed(ss_sel, ss_desc)?;
            self.mark_accessed(sel, d)?;
            self.s.seg[sreg::SS] = frame.seg;
            self.s.gpr[reg::ESP] = frame.esp;
            self.s.seg[sreg::CS] = cs;
            self.s.cpl = dpl;
            self.s.eip = off;
            return Ok(());
        }
        let ss = self.s.seg[sreg::SS];
        let mut frame = Frame::new(ss, self.s.gpr[reg::ESP], Exception::ss(0), cpl == 3);
        // As for a direct far CALL: a fault on the second push leaves the
        // first one written.
        frame.check_room(self, 1, big)?;
        let cs = Segment::from_descriptor((sel & !3) | cpl as u16, with_accessed(d));
        if !cs.within_limit(off, 1) {
            return Err(Exception::gp0());
        }
        frame.push(self, self.s.seg[sreg::CS].selector as u32, big)?;
        frame.push(self, self.s.eip, big)?;
        self.mark_accessed(sel, d)?;
        self.s.gpr[reg::ESP] = frame.esp;
        self.s.seg[sreg::CS] = cs;
        self.s.eip = off;
        Ok(())
    }
}

fn jmp_ptr<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.far_transfer(i.imm2 as u16, i.imm, false, W::BITS == 32)
}

fn call_ptr<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.far_transfer(i.imm2 as u16, i.imm, true, W::BITS == 32)
}

/// JMP/CALL m16:16 or m16:32.
fn far_mem<W: Width, const CALL: bool>(c: &mut Ctx, i: &Insn) -> Res {
    if !i.is_mem() {
        return Err(Exception::ud());
    }
    let off = c.ea(i);
    let target = c.read::<W>(i.seg(), off)?;
    let sel = c.read::<W16>(i.seg(), off.wrapping_add(W::BYTES) & i.amask)? as u16;
    c.far_transfer(sel, target, CALL, W::BITS == 32)
}

fn retf<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.end_block = true;
    let imm = i.imm & 0xFFFF;
    let eip = c.peek::<W>(0)?;
    let sel = c.peek::<W>(W::BYTES)? as u16;
    if !c.s.protected_mode() || c.s.v86_mode() {
        let mut cs = c.s.seg[sreg::CS];
        if c.s.v86_mode() {
            cs.load_v86(sel, true)
        } else {
            cs.load_real(sel)
        }
        if !cs.within_limit(eip, 1) {
            return Err(Exception::gp0());
        }
        c.set_sp(c.s.gpr[reg::ESP].wrapping_add(2 * W::BYTES + imm));
        c.s.seg[sreg::CS] = cs;
        c.s.eip = eip;
        return Ok(());
    }
    let (cs, d) = c.check_return_cs(sel)?;
    let rpl = (sel & 3) as u8;
    if rpl > c.s.cpl {
        let esp = c.peek::<W>(2 * W::BYTES + imm)?;
        let ss = c.peek::<W>(3 * W::BYTES + imm)? as u16;
        let (ss_cache, ss_desc) = c.check_return_ss(ss, rpl)?;
        if !cs.within_limit(eip, 1) {
            return Err(Exception::gp0());
        }
        c.mark_accessed(sel, d)?;
        c.mark_accessed(ss, ss_desc)?;
        c.s.seg[sreg::CS] = cs;
        c.s.eip = eip;
        c.s.cpl = rpl;
        c.s.seg[sreg::SS] = ss_cache;
        let new_sp = esp.wrapping_add(imm);
        if ss_cache.db() {
            c.s.gpr[reg::ESP] = if W::BITS == 32 { new_sp } else { new_sp & 0xFFFF };
        } else {
            c.s.gpr[reg::ESP] = (c.s.gpr[reg::ESP] & 0xFFFF_0000) | (new_sp & 0xFFFF);
        }
        c.invalidate_data_segments();
        return Ok(());
    }
    if !cs.within_limit(eip, 1) {
        return Err(Exception::gp0());
    }
    c.mark_accessed(sel, d)?;
    c.set_sp(c.s.gpr[reg::ESP].wrapping_add(2 * W::BYTES + imm));
    c.s.seg[sreg::CS] = cs;
    c.s.eip = eip;
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Jmp_ptr1616 => jmp_ptr::<W16>,
        C::Jmp_ptr1632 => jmp_ptr::<W32>,
        C::Call_ptr1616 => call_ptr::<W16>,
        C::Call_ptr1632 => call_ptr::<W32>,
        C::Jmp_m1616 => far_mem::<W16, false>,
        C::Jmp_m1632 => far_mem::<W32, false>,
        C::Call_m1616 => far_mem::<W16, true>,
        C::Call_m1632 => far_mem::<W32, true>,
        C::Retfw | C::Retfw_imm16 => retf::<W16>,
        C::Retfd | C::Retfd_imm16 => retf::<W32>,
        _ => return None,
    })
}
