//! Hardware task switching through TSS descriptors and task gates, for
//! JMP, CALL, IRET with NT, and interrupts through task gates (SDM vol. 3,
//! 8.3), with 16- and 32-bit TSS formats.

use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32};
use crate::segment::Segment;
use crate::state::{reg, sreg};
use x86::cr::cr0;
use x86::descriptor::{Descriptor, sys};
use x86::exception as vec;
use x86::flags as fl;

/// Why a task switch happens: decides busy bits, the back link and NT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Jmp,
    Call,
    Iret,
    Interrupt,
}

/// Offsets of the 32-bit TSS.
mod t32 {
    pub const LINK: u32 = 0x00;
    pub const CR3: u32 = 0x1C;
    pub const EIP: u32 = 0x20;
    pub const EFLAGS: u32 = 0x24;
    pub const GPR: u32 = 0x28;
    pub const SEG: u32 = 0x48;
    pub const LDT: u32 = 0x60;
    pub const TRAP: u32 = 0x64;
}

/// Offsets of the 16-bit TSS.
mod t16 {
    pub const IP: u32 = 0x0E;
    pub const FLAGS: u32 = 0x10;
    pub const GPR: u32 = 0x12;
    pub const SEG: u32 = 0x22;
    pub const LDT: u32 = 0x2A;
}

impl Ctx<'_> {
    /// Task switch to the TSS named by a task gate's selector.
    pub fn task_switch_via(&mut self, tss_sel: u16, reason: Reason, error: Option<u32>, ext: u32) -> Res {
        if tss_sel & 4 != 0 {
            return Err(Exception::ts(Exception::sel_error(tss_sel) + ext));
        }
        let d = self.read_descriptor(tss_sel, Exception::ts).map_err(|e| {
            if e.vector == vec::TS {
                Exception::ts(Exception::sel_error(tss_sel) + ext)
            } else {
                e
            }
        })?;
        self.task_switch(tss_sel, d, reason, error, ext)
    }

    /// Switch to the task whose TSS descriptor is `d`.
    pub fn task_switch(&mut self, sel: u16, d: Descriptor, reason: Reason, error: Option<u32>, ext: u32) -> Res {
        self.end_block = true;
        let err = Exception::sel_error(sel) + ext;
        let typ = d.typ();
        let busy = matches!(typ, sys::TSS16_BUSY | sys::TSS32_BUSY);
        let is_tss = !d.s() && matches!(typ, sys::TSS16_AVAIL | sys::TSS32_AVAIL | sys::TSS16_BUSY | sys::TSS32_BUSY);
        if !is_tss || sel & 4 != 0 {
            return Err(if reason == Reason::Iret {
                Exception::ts(err)
            } else {
                Exception::gp(err)
            });
        }
        if reason == Reason::Iret && !busy {
            return Err(Exception::ts(err));
        }
        if reason != Reason::Iret && busy {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        let new32 = typ & 8 != 0;
        let min = if new32 { 0x67 } else { 0x2B };
        if d.limit() < min {
            return Err(Exception::ts(err));
        }
        let new_base = d.base();
        // Read the whole new state first (faults here leave the old task).
        let nst = self.read_tss(new_base, new32)?;
        // Save the outgoing state into the current TSS.
        let old = self.s.tr;
        let old32 = old.typ() & 8 != 0;
        let mut eflags = self.s.eflags();
        if reason == Reason::Iret {
            eflags &= !fl::NT;
        }
        self.save_tss(old.base(), old32, eflags)?;
        if matches!(reason, Reason::Jmp | Reason::Iret) {
            self.set_tss_busy(old.selector, false)?;
        }
        if matches!(reason, Reason::Call | Reason::Interrupt) {
            self.write_sys::<W16>(new_base.wrapping_add(t32::LINK), old.selector as u32)?;
        }
        if reason != Reason::Iret {
            self.set_tss_busy(sel, true)?;
        }
        // Commit: from here on, faults belong to the new task and are
        // delivered in it, with its EIP.
        let busy_d = Descriptor::new(d.raw | (2 << 40));
        self.s.tr = Segment::from_descriptor(sel, busy_d);
        self.s.cr0 |= cr0::TS;
        if new32 && self.s.paging() {
            self.s.cr3 = nst.cr3;
            self.tlb.flush(self.s.cr4 & x86::cr::cr4::PGE != 0);
        }
        let mut flags = nst.eflags;
        if matches!(reason, Reason::Call | Reason::Interrupt) {
            flags |= fl::NT;
        }
        if !new32 {
            flags = (self.s.eflags() & 0xFFFF_0000 & !(fl::VM | fl::RF)) | (flags & 0xFFFF);
        }
        self.s.set_eflags(flags);
        self.s.eip = nst.eip;
        for (r, v) in nst.gpr.iter().enumerate() {
            self.s.gpr[r] = *v;
        }
        if let Err(e) = self.finish_task_switch(&nst, new32, error, ext) {
            self.raise(e);
        }
        Ok(())
    }

    /// Load the new task's segments and push the error code; faults here
    /// are the new task's.
    fn finish_task_switch(&mut self, nst: &TssState, new32: bool, error: Option<u32>, ext: u32) -> Res {
        // Selectors first, with caches not usable until validated.
        let v86 = self.s.v86_mode();
        for (idx, sel) in nst.seg.iter().enumerate() {
            if v86 {
                self.s.seg[idx].load_v86(*sel, idx == sreg::CS);
            } else {
                self.s.seg[idx] = Segment::null(*sel);
            }
        }
        self.s.ldtr = Segment::null(nst.ldt);
        self.load_task_ldt(nst.ldt, ext)?;
        if v86 {
            self.s.cpl = 3;
        } else {
            self.load_task_segments(&nst.seg, ext)?;
        }
        if let Some(code) = error {
            if new32 { self.push::<W32>(code)? } else { self.push::<W16>(code)? }
        }
        if nst.trap {
            // The T bit raises #DB once the new task is running (a trap).
            self.s.dr[6] |= x86::cr::dr6::BT;
            self.pending_trap = Some(Exception::new(vec::DB));
        }
        Ok(())
    }

    fn read_tss(&mut self, base: u32, big: bool) -> Res<TssState> {
        let r16 = |c: &mut Self, off: u32| c.read_sys::<W16>(base.wrapping_add(off));
        let r32 = |c: &mut Self, off: u32| c.read_sys::<W32>(base.wrapping_add(off));
        let mut st = TssState::default();
        if big {
            st.cr3 = r32(self, t32::CR3)?;
            st.eip = r32(self, t32::EIP)?;
            st.eflags = r32(self, t32::EFLAGS)?;
            for k in 0..8 {
                st.gpr[k] = r32(self, t32::GPR + 4 * k as u32)?;
            }
            for k in 0..6 {
                st.seg[k] = r16(self, t32::SEG + 4 * k as u32)? as u16;
            }
            st.ldt = r16(self, t32::LDT)? as u16;
            st.trap = r16(self, t32::TRAP)? & 1 != 0;
        } else {
            st.eip = r16(self, t16::IP)?;
            st.eflags = r16(self, t16::FLAGS)?;
            for k in 0..8 {
                st.gpr[k] = (self.s.gpr[k] & 0xFFFF_0000) | r16(self, t16::GPR + 2 * k as u32)?;
            }
            for k in 0..4 {
                st.seg[k] = r16(self, t16::SEG + 2 * k as u32)? as u16;
            }
            st.seg[sreg::FS] = 0;
            st.seg[sreg::GS] = 0;
            st.ldt = r16(self, t16::LDT)? as u16;
        }
        Ok(st)
    }

    fn save_tss(&mut self, base: u32, big: bool, eflags: u32) -> Res {
        if big {
            self.write_sys::<W32>(base.wrapping_add(t32::EIP), self.s.eip)?;
            self.write_sys::<W32>(base.wrapping_add(t32::EFLAGS), eflags)?;
            for k in 0..8 {
                self.write_sys::<W32>(base.wrapping_add(t32::GPR + 4 * k as u32), self.s.gpr[k])?;
            }
            for k in 0..6 {
                self.write_sys::<W16>(base.wrapping_add(t32::SEG + 4 * k as u32), self.s.seg[k].selector as u32)?;
            }
        } else {
            self.write_sys::<W16>(base.wrapping_add(t16::IP), self.s.eip)?;
            self.write_sys::<W16>(base.wrapping_add(t16::FLAGS), eflags)?;
            for k in 0..8 {
                self.write_sys::<W16>(base.wrapping_add(t16::GPR + 2 * k as u32), self.s.gpr[k])?;
            }
            for k in 0..4 {
                self.write_sys::<W16>(base.wrapping_add(t16::SEG + 2 * k as u32), self.s.seg[k].selector as u32)?;
            }
        }
        Ok(())
    }

    fn load_task_ldt(&mut self, sel: u16, ext: u32) -> Res {
        if sel & !3 == 0 {
            return Ok(());
        }
        let err = Exception::ts(Exception::sel_error(sel) + ext);
        if sel & 4 != 0 {
            return Err(err);
        }
        let d = self.read_descriptor(sel, Exception::ts).map_err(|_| err)?;
        if d.s() || d.typ() != sys::LDT {
            return Err(err);
        }
        if !d.present() {
            return Err(err);
        }
        self.s.ldtr = Segment::from_descriptor(sel, d);
        Ok(())
    }

    fn load_task_segments(&mut self, seg: &[u16; 6], ext: u32) -> Res {
        let cs = seg[sreg::CS];
        let ts = |s: u16| Exception::ts(Exception::sel_error(s) + ext);
        if cs & !3 == 0 {
            return Err(ts(cs));
        }
        let d = self.read_descriptor(cs, Exception::ts).map_err(|_| ts(cs))?;
        let rpl = (cs & 3) as u8;
        if !d.is_code() || (d.is_conforming_code() && d.dpl() > rpl) || (!d.is_conforming_code() && d.dpl() != rpl) {
            return Err(ts(cs));
        }
        if !d.present() {
            return Err(Exception::np(Exception::sel_error(cs) + ext));
        }
        self.s.seg[sreg::CS] = Segment::from_descriptor(cs, super::segload::with_accessed(d));
        self.s.cpl = rpl;
        self.mark_accessed(cs, d)?;
        let ss = seg[sreg::SS];
        if ss & !3 == 0 {
            return Err(ts(ss));
        }
        let d = self.read_descriptor(ss, Exception::ts).map_err(|_| ts(ss))?;
        if (ss & 3) as u8 != rpl || d.dpl() != rpl || !d.is_writable_data() {
            return Err(ts(ss));
        }
        if !d.present() {
            return Err(Exception::ss(Exception::sel_error(ss) + ext));
        }
        self.s.seg[sreg::SS] = Segment::from_descriptor(ss, super::segload::with_accessed(d));
        self.mark_accessed(ss, d)?;
        for idx in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
            let sel = seg[idx];
            match self.check_data_seg(idx, sel) {
                Ok((cache, desc)) => {
                    if let Some(desc) = desc {
                        self.mark_accessed(sel, desc)?;
                    }
                    self.s.seg[idx] = cache;
                }
                Err(e) if e.vector == vec::GP => return Err(ts(sel)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct TssState {
    cr3: u32,
    eip: u32,
    eflags: u32,
    gpr: [u32; 8],
    seg: [u16; 6],
    ldt: u16,
    trap: bool,
}

/// EAX..EDI indices match the TSS order.
const _: () = assert!(reg::EAX == 0 && reg::EDI == 7);
