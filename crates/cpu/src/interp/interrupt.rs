//! Interrupt and exception delivery in every mode (SDM vol. 3, 6.12 and
//! 20.1.4), the double- and triple-fault rules (6.15, table 6-5), and the
//! instructions INT n, INT3, INTO, INT1, BOUND and IRET.

use super::frame::Frame;
use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32, Width};
use crate::segment::Segment;
use crate::state::{reg, sreg};
use iced_x86::Code;
use x86::descriptor::{Descriptor, sys};
use x86::exception::{self as vec, Class};
use x86::flags as fl;

/// What is being delivered, which decides privilege checks, the pushed
/// return address and RF, and the EXT bit of error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// INTR or NMI from outside.
    External,
    /// An exception detected by the processor: a fault (`fault` true:
    /// pushed EIP is the faulting instruction, RF set in the pushed flags)
    /// or a trap.
    Exception { fault: bool },
    /// INT n, INT3, INTO: the gate DPL is checked against CPL.
    Software,
    /// INT1 (ICEBP): a #DB with no gate DPL check.
    Icebp,
}

/// Vectors delivered as faults (EIP of the faulting instruction). #DB is
/// a trap here; instruction breakpoints are raised as faults by the loop.
pub fn is_fault_vector(v: u8) -> bool {
    matches!(
        v,
        vec::DE | vec::BR | vec::UD | vec::NM | vec::TS | vec::NP | vec::SS | vec::GP | vec::PF | vec::MF | vec::AC | vec::XM
    )
}

impl Ctx<'_> {
    /// Deliver an exception raised by an instruction (EIP already points
    /// at the instruction for faults, after it for traps), applying the
    /// double-fault rules to anything that goes wrong on the way; a fault
    /// while delivering #DF shuts the processor down.
    pub fn raise(&mut self, e: Exception) {
        let fault = is_fault_vector(e.vector);
        self.raise_event(e.vector, Event::Exception { fault }, e.error());
    }

    /// Deliver an external interrupt (the vector came from INTA).
    pub fn raise_external(&mut self, vector: u8) {
        self.raise_event(vector, Event::External, None);
    }

    /// Deliver `vector`; nested failures follow table 6-5.
    pub fn raise_event(&mut self, vector: u8, event: Event, error: Option<u32>) {
        let mut cur = (vector, event, error);
        // Class of the event being delivered: external and software
        // interrupts count as benign.
        for _ in 0..4 {
            let (v, ev, err) = cur;
            tracing::trace!(
                vector = v,
                ?ev,
                ?err,
                eip = format_args!("{:#x}", self.s.eip),
                cr2 = format_args!("{:#x}", self.s.cr2),
                "event"
            );
            match self.deliver(v, ev, err) {
                Ok(()) => return,
                Err(e2) => {
                    if v == vec::DF && matches!(ev, Event::Exception { .. }) {
                        self.shutdown = true;
                        return;
                    }
                    let c1 = if matches!(ev, Event::Exception { .. }) {
                        vec::class(v)
                    } else {
                        Class::Benign
                    };
                    let c2 = vec::class(e2.vector);
                    cur = if vec::is_double_fault(c1, c2) {
                        (vec::DF, Event::Exception { fault: false }, Some(0))
                    } else {
                        (
                            e2.vector,
                            Event::Exception {
                                fault: is_fault_vector(e2.vector),
                            },
                            e2.error(),
                        )
                    };
                }
            }
        }
        self.shutdown = true;
    }

    /// One delivery attempt. No register changes unless it succeeds.
    pub fn deliver(&mut self, vector: u8, event: Event, error: Option<u32>) -> Res {
        self.end_block = true;
        self.last_vector = Some(vector);
        self.first_vector.get_or_insert(vector);
        self.s.halted = false;
        if !self.s.protected_mode() {
            return self.deliver_real(vector);
        }
        self.deliver_protected(vector, event, error)
    }

    /// Real mode: push FLAGS, CS, IP and jump through the IVT.
    fn deliver_real(&mut self, vector: u8) -> Res {
        let entry = vector as u32 * 4;
        if entry + 3 > self.s.idtr.limit {
            return Err(Exception::gp(entry + 2));
        }
        let base = self.s.idtr.base;
        let ip = self.read_sys::<W16>(base.wrapping_add(entry))?;
        let cs = self.read_sys::<W16>(base.wrapping_add(entry + 2))?;
        let flags = self.s.eflags();
        let old_sp = self.s.gpr[reg::ESP];
        let old_cs = self.s.seg[sreg::CS].selector as u32;
        let r = (|| {
            self.push::<W16>(flags & 0xFFFF)?;
            self.push::<W16>(old_cs)?;
            self.push::<W16>(self.s.eip & 0xFFFF)
        })();
        if let Err(e) = r {
            self.s.gpr[reg::ESP] = old_sp;
            return Err(e);
        }
        self.s.eflags_rest &= !(fl::IF | fl::TF | fl::AC | fl::RF);
        self.s.seg[sreg::CS].load_real(cs as u16);
        self.s.eip = ip;
        Ok(())
    }

    fn deliver_protected(&mut self, vector: u8, event: Event, error: Option<u32>) -> Res {
        let ext = if matches!(event, Event::Software) { 0 } else { 1 };
        let idt_err = vector as u32 * 8 + 2 + ext;
        if vector as u32 * 8 + 7 > self.s.idtr.limit {
            return Err(Exception::gp(idt_err));
        }
        let gaddr = self.s.idtr.base.wrapping_add(vector as u32 * 8);
        let lo = self.read_sys::<W32>(gaddr)?;
        let hi = self.read_sys::<W32>(gaddr.wrapping_add(4))?;
        let gate = Descriptor::from_words(lo, hi);
        let typ = gate.typ();
        if gate.s()
            || !matches!(
                typ,
                sys::TASK_GATE | sys::INT_GATE16 | sys::TRAP_GATE16 | sys::INT_GATE32 | sys::TRAP_GATE32
            )
        {
            return Err(Exception::gp(idt_err));
        }
        if event == Event::Software && gate.dpl() < self.s.cpl {
            return Err(Exception::gp(vector as u32 * 8 + 2));
        }
        if !gate.present() {
            return Err(Exception::np(idt_err));
        }
        // Return address: after the instruction for software interrupts and
        // traps; the loop has already set EIP accordingly.
        let eflags_img = if matches!(event, Event::Exception { fault: true }) {
            self.s.eflags() | fl::RF
        } else {
            self.s.eflags()
        };
        if typ == sys::TASK_GATE {
            let tss = gate.gate_selector();
            return self.task_switch_via(tss, super::task::Reason::Interrupt, error, ext);
        }
        let big = typ & 8 != 0;
        let trap = typ & 1 != 0;
        let sel = gate.gate_selector();
        if sel & !3 == 0 {
            return Err(Exception::gp(ext));
        }
        let d = self.read_descriptor(sel, Exception::gp)?;
        let sel_err = Exception::sel_error(sel) + ext;
        if !d.is_code() || d.dpl() > self.s.cpl {
            return Err(Exception::gp(sel_err));
        }
        if !d.present() {
            return Err(Exception::np(sel_err));
        }
        let offset = if big { gate.gate_offset() } else { gate.gate_offset() & 0xFFFF };
        let v86 = self.s.v86_mode();
        let cpl = self.s.cpl;
        let new_cs_cache = Segment::from_descriptor((sel & !3) | d.dpl() as u16, super::segload::with_accessed(d));
        if !d.is_conforming_code() && d.dpl() < cpl {
            // Inter-privilege: switch to the stack for the new CPL.
            let dpl = d.dpl();
            if v86 && dpl != 0 {
                return Err(Exception::gp(sel_err));
            }
            let (ss_sel, esp) = self.tss_stack(dpl, ext)?;
            let (ss_cache, ss_desc) = self.check_tss_ss(ss_sel, dpl, ext)?;
            let mut frame = Frame::new(ss_cache, esp, Exception::ss(Exception::sel_error(ss_sel) + ext), false);
            let words = if v86 { 9 } else { 5 } + error.is_some() as u32;
            frame.check_room(self, words, big)?;
            if !new_cs_cache.within_limit(offset, 1) {
                return Err(Exception::gp(ext));
            }
            if v86 {
                for s in [sreg::GS, sreg::FS, sreg::DS, sreg::ES] {
                    frame.push(self, self.s.seg[s].selector as u32, big)?;
                }
            }
            frame.push(self, self.s.seg[sreg::SS].selector as u32, big)?;
            frame.push(self, self.s.gpr[reg::ESP], big)?;
            frame.push(self, eflags_img, big)?;
            frame.push(self, self.s.seg[sreg::CS].selector as u32, big)?;
            frame.push(self, self.s.eip, big)?;
            if let Some(code) = error {
                frame.push(self, code, big)?;
            }
            self.mark_accessed(ss_sel, ss_desc)?;
            self.mark_accessed(sel, d)?;
            if v86 {
                for s in [sreg::GS, sreg::FS, sreg::DS, sreg::ES] {
                    self.s.seg[s] = Segment::null(0);
                }
            }
            self.s.seg[sreg::SS] = frame.seg;
            self.s.gpr[reg::ESP] = frame.esp;
            self.s.cpl = dpl;
        } else if !v86 && (d.is_conforming_code() || d.dpl() == cpl) {
            // Same privilege: frame on the current stack.
            let ss = self.s.seg[sreg::SS];
            let mut frame = Frame::new(ss, self.s.gpr[reg::ESP], Exception::ss(ext), cpl == 3);
            frame.check_room(self, 3 + error.is_some() as u32, big)?;
            let cs_cache = Segment::from_descriptor((sel & !3) | cpl as u16, super::segload::with_accessed(d));
            if !cs_cache.within_limit(offset, 1) {
                return Err(Exception::gp(ext));
            }
            frame.push(self, eflags_img, big)?;
            frame.push(self, self.s.seg[sreg::CS].selector as u32, big)?;
            frame.push(self, self.s.eip, big)?;
            if let Some(code) = error {
                frame.push(self, code, big)?;
            }
            self.mark_accessed(sel, d)?;
            self.s.gpr[reg::ESP] = frame.esp;
            self.s.seg[sreg::CS] = cs_cache;
            self.s.eip = offset;
            self.finish_gate(trap);
            return Ok(());
        } else {
            return Err(Exception::gp(sel_err));
        }
        self.s.seg[sreg::CS] = new_cs_cache;
        self.s.eip = offset;
        self.finish_gate(trap);
        Ok(())
    }

    /// Flag changes common to interrupt and trap gates.
    fn finish_gate(&mut self, trap: bool) {
        let mut clear = fl::TF | fl::NT | fl::VM | fl::RF;
        if !trap {
            clear |= fl::IF;
        }
        self.s.eflags_rest &= !clear;
    }

    /// SS:ESP for privilege level `dpl` from the current TSS.
    pub fn tss_stack(&mut self, dpl: u8, ext: u32) -> Res<(u16, u32)> {
        let tr = self.s.tr;
        let big = tr.typ() & 8 != 0;
        let (off, n) = if big { (4 + dpl as u32 * 8, 8) } else { (2 + dpl as u32 * 4, 4) };
        if off + n - 1 > tr.limit() {
            return Err(Exception::ts(Exception::sel_error(tr.selector) + ext));
        }
        let base = tr.base();
        if big {
            let esp = self.read_sys::<W32>(base.wrapping_add(off))?;
            let ss = self.read_sys::<W16>(base.wrapping_add(off + 4))? as u16;
            Ok((ss, esp))
        } else {
            let sp = self.read_sys::<W16>(base.wrapping_add(off))?;
            let ss = self.read_sys::<W16>(base.wrapping_add(off + 2))? as u16;
            Ok((ss, sp))
        }
    }

    /// Checks on the stack segment taken from the TSS for CPL `dpl`
    /// (#TS on a bad selector, #SS when not present).
    pub fn check_tss_ss(&mut self, ss: u16, dpl: u8, ext: u32) -> Res<(Segment, Descriptor)> {
        let err = Exception::sel_error(ss) + ext;
        if ss & !3 == 0 {
            return Err(Exception::ts(ext));
        }
        let d = self
            .read_descriptor(ss, |_| Exception::ts(0))
            .map_err(|e| if e.vector == vec::TS { Exception::ts(err) } else { e })?;
        if (ss & 3) as u8 != dpl || d.dpl() != dpl || !d.is_writable_data() {
            return Err(Exception::ts(err));
        }
        if !d.present() {
            return Err(Exception::ss(err));
        }
        Ok((Segment::from_descriptor(ss, super::segload::with_accessed(d)), d))
    }
}

fn int_n(c: &mut Ctx, i: &Insn) -> Res {
    // In virtual-8086 mode INT n (only INT n: not INT3, INTO or INT1) is
    // IOPL-sensitive (SDM vol. 3, 20.2.7; vol. 2, INT n "Operation").
    if c.s.v86_mode() && c.s.iopl() < 3 {
        return Err(Exception::gp0());
    }
    c.deliver(i.imm as u8, Event::Software, None)
}

fn int3(c: &mut Ctx, _: &Insn) -> Res {
    c.deliver(vec::BP, Event::Software, None)
}

fn into(c: &mut Ctx, _: &Insn) -> Res {
    if c.s.lazy.of() {
        return c.deliver(vec::OF, Event::Software, None);
    }
    Ok(())
}

fn int1(c: &mut Ctx, _: &Insn) -> Res {
    c.deliver(vec::DB, Event::Icebp, None)
}

/// BOUND r, m: #BR when the signed index is outside [lower, upper].
fn bound<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    if !i.is_mem() {
        return Err(Exception::ud());
    }
    let off = c.ea(i);
    let lo = W::sext(c.read::<W>(i.seg(), off)?) as i32;
    let hi = W::sext(c.read::<W>(i.seg(), off.wrapping_add(W::BYTES) & i.amask)?) as i32;
    let idx = W::sext(c.reg::<W>(i.r0)) as i32;
    if idx < lo || idx > hi {
        return Err(Exception::new(vec::BR));
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Int_imm8 => int_n,
        C::Int3 => int3,
        C::Into => into,
        C::Int1 => int1,
        C::Bound_r16_m1616 => bound::<W16>,
        C::Bound_r32_m3232 => bound::<W32>,
        C::Iretw => super::iret::iret::<W16>,
        C::Iretd => super::iret::iret::<W32>,
        _ => return None,
    })
}
