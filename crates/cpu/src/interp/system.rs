//! System instructions: descriptor-table registers, control and debug
//! registers, TLB and cache control, CPUID, RDTSC, MSRs, SYSENTER/SYSEXIT,
//! HLT, and the protection queries LAR/LSL/VERR/VERW/ARPL.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32, Width};
use crate::segment::Segment;
use crate::state::{reg, sreg};
use iced_x86::Code;
use x86::cr::{cr0, cr4, dr6, dr7};
use x86::descriptor::{Descriptor, attr, sys};
use x86::exception as vec;
use x86::flags as fl;
use x86::msr;

impl Ctx<'_> {
    /// #GP(0) unless at CPL 0 (real mode counts as CPL 0).
    #[inline]
    pub fn require_cpl0(&self) -> Res {
        if self.s.protected_mode() && (self.s.cpl != 0 || self.s.v86_mode()) {
            return Err(Exception::gp0());
        }
        Ok(())
    }

    /// #UD in real and virtual-8086 mode (instructions that only exist in
    /// protected mode).
    #[inline]
    pub fn require_protected(&self) -> Res {
        if !self.s.protected_mode() || self.s.v86_mode() {
            return Err(Exception::ud());
        }
        Ok(())
    }

    /// Write CR0 with its rules; flushes what the change makes stale.
    pub fn write_cr0(&mut self, v: u32) -> Res {
        if v & cr0::PG != 0 && v & cr0::PE == 0 {
            return Err(Exception::gp0());
        }
        if v & cr0::NW != 0 && v & cr0::CD == 0 {
            return Err(Exception::gp0());
        }
        let old = self.s.cr0;
        let new = (v & cr0::WRITABLE) | cr0::ET;
        self.s.cr0 = new;
        if (old ^ new) & (cr0::PG | cr0::WP | cr0::PE) != 0 {
            self.tlb.flush_all();
        }
        if (old ^ new) & cr0::PE != 0 {
            self.rederive_segments();
            if new & cr0::PE == 0 {
                self.s.cpl = 0;
            }
        }
        self.end_block = true;
        Ok(())
    }

    /// Recompute every segment's access ranges for the current mode (type
    /// checks apply only in protected mode).
    pub fn rederive_segments(&mut self) {
        let prot = self.s.protected_mode() && !self.s.v86_mode();
        for s in self.s.seg.iter_mut() {
            s.derive(prot);
        }
    }

    pub fn write_cr4(&mut self, v: u32) -> Res {
        let allowed = cr4::TSD | cr4::PSE | cr4::PGE | cr4::PCE | cr4::OSFXSR | cr4::OSXMMEXCPT;
        if v & !allowed != 0 {
            return Err(Exception::gp0());
        }
        let old = self.s.cr4;
        self.s.cr4 = v;
        if (old ^ v) & (cr4::PSE | cr4::PGE) != 0 {
            self.tlb.flush_all();
        }
        self.end_block = true;
        Ok(())
    }

    pub fn write_cr3(&mut self, v: u32) {
        self.s.cr3 = v & 0xFFFF_F018;
        let keep_global = self.s.cr4 & cr4::PGE != 0;
        self.tlb.flush(keep_global);
        self.end_block = true;
    }

    /// DR7.GD: any debug register access raises #DB first.
    fn check_debug_access(&mut self) -> Res {
        if self.s.dr[7] & dr7::GD != 0 {
            self.s.dr[7] &= !dr7::GD;
            self.s.dr[6] |= dr6::BD;
            return Err(Exception::new(vec::DB));
        }
        Ok(())
    }

    /// The time-stamp counter.
    pub fn tsc(&mut self) -> u64 {
        let ns = self.bus.now();
        (ns.wrapping_mul(crate::cpuid::TSC_MHZ) / 1000).wrapping_add(self.s.msr.tsc_offset)
    }

    pub fn rdmsr(&mut self, index: u32) -> Res<u64> {
        let m = &self.s.msr;
        Ok(match index {
            msr::IA32_TSC => return Ok(self.tsc()),
            msr::IA32_P5_MC_ADDR | msr::IA32_P5_MC_TYPE => 0,
            msr::IA32_PLATFORM_ID => 0,
            msr::IA32_BIOS_SIGN_ID => m.bios_sign_id,
            msr::IA32_MTRRCAP => 0x508, // 8 variable ranges, fixed ranges, write-combining
            msr::IA32_SYSENTER_CS => m.sysenter_cs as u64,
            msr::IA32_SYSENTER_ESP => m.sysenter_esp as u64,
            msr::IA32_SYSENTER_EIP => m.sysenter_eip as u64,
            msr::IA32_MCG_CAP => 0,
            msr::IA32_MCG_STATUS => m.mcg_status,
            msr::IA32_DEBUGCTL => m.debugctl,
            msr::IA32_PAT => m.pat,
            msr::IA32_MTRR_DEF_TYPE => m.mtrr_def_type,
            msr::IA32_MTRR_PHYSBASE0..=msr::IA32_MTRR_PHYSMASK7 => m.mtrr_var[(index - msr::IA32_MTRR_PHYSBASE0) as usize],
            msr::IA32_MTRR_FIX64K_00000 => m.mtrr_fixed[0],
            msr::IA32_MTRR_FIX16K_80000 => m.mtrr_fixed[1],
            msr::IA32_MTRR_FIX16K_A0000 => m.mtrr_fixed[2],
            msr::IA32_MTRR_FIX4K_C0000..=msr::IA32_MTRR_FIX4K_F8000 => m.mtrr_fixed[3 + (index - msr::IA32_MTRR_FIX4K_C0000) as usize],
            _ => return Err(Exception::gp0()),
        })
    }

    pub fn wrmsr(&mut self, index: u32, v: u64) -> Res {
        let m = &mut self.s.msr;
        match index {
            msr::IA32_TSC => {
                let now = self.tsc().wrapping_sub(self.s.msr.tsc_offset);
                self.s.msr.tsc_offset = v.wrapping_sub(now);
            }
            msr::IA32_BIOS_UPDT_TRIG => {}
            msr::IA32_BIOS_SIGN_ID => m.bios_sign_id = v,
            msr::IA32_SYSENTER_CS => m.sysenter_cs = v as u32 & 0xFFFF,
            msr::IA32_SYSENTER_ESP => m.sysenter_esp = v as u32,
            msr::IA32_SYSENTER_EIP => m.sysenter_eip = v as u32,
            msr::IA32_MCG_STATUS => m.mcg_status = v,
            msr::IA32_DEBUGCTL => m.debugctl = v & 0x3,
            msr::IA32_PAT => {
                // Each entry must be a valid memory type (0,1,4,5,6,7).
                if (0..8).any(|k| matches!((v >> (8 * k)) & 0xFF, 2 | 3 | 8..=0xFF)) {
                    return Err(Exception::gp0());
                }
                m.pat = v;
            }
            msr::IA32_MTRR_DEF_TYPE => m.mtrr_def_type = v & 0xCFF,
            msr::IA32_MTRR_PHYSBASE0..=msr::IA32_MTRR_PHYSMASK7 => {
                m.mtrr_var[(index - msr::IA32_MTRR_PHYSBASE0) as usize] = v & 0xF_FFFF_FFFF
            }
            msr::IA32_MTRR_FIX64K_00000 => m.mtrr_fixed[0] = v,
            msr::IA32_MTRR_FIX16K_80000 => m.mtrr_fixed[1] = v,
            msr::IA32_MTRR_FIX16K_A0000 => m.mtrr_fixed[2] = v,
            msr::IA32_MTRR_FIX4K_C0000..=msr::IA32_MTRR_FIX4K_F8000 => m.mtrr_fixed[3 + (index - msr::IA32_MTRR_FIX4K_C0000) as usize] = v,
            _ => return Err(Exception::gp0()),
        }
        Ok(())
    }
}

fn hlt(c: &mut Ctx, _: &Insn) -> Res {
    c.require_cpl0()?;
    c.s.halted = true;
    c.end_block = true;
    Ok(())
}

/// LGDT/LIDT m16&32: with a 16-bit operand only 24 bits of base load.
fn load_dt<const IDT: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.require_cpl0()?;
    if !i.is_mem() {
        return Err(Exception::ud());
    }
    let off = c.ea(i);
    let limit = c.read::<W16>(i.seg(), off)?;
    let mut base = c.read::<W32>(i.seg(), off.wrapping_add(2) & i.amask)?;
    if !i.o32() {
        base &= 0x00FF_FFFF;
    }
    let t = if IDT { &mut c.s.idtr } else { &mut c.s.gdtr };
    t.base = base;
    t.limit = limit;
    Ok(())
}

/// SGDT/SIDT m: the sixth byte is zero with a 16-bit operand.
fn store_dt<const IDT: bool>(c: &mut Ctx, i: &Insn) -> Res {
    if !i.is_mem() {
        return Err(Exception::ud());
    }
    let t = if IDT { c.s.idtr } else { c.s.gdtr };
    let off = c.ea(i);
    let base = if i.o32() { t.base } else { t.base & 0x00FF_FFFF };
    c.lin_write(i.seg(), off, 6)?;
    c.write::<W16>(i.seg(), off, t.limit)?;
    c.write::<W32>(i.seg(), off.wrapping_add(2) & i.amask, base)
}

fn lldt(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    c.require_cpl0()?;
    let sel = c.rm0::<W16>(i)? as u16;
    if sel & !3 == 0 {
        c.s.ldtr = Segment::null(sel);
        return Ok(());
    }
    let err = Exception::sel_error(sel);
    if sel & 4 != 0 {
        return Err(Exception::gp(err));
    }
    let d = c.read_descriptor(sel, Exception::gp)?;
    if d.s() || d.typ() != sys::LDT {
        return Err(Exception::gp(err));
    }
    if !d.present() {
        return Err(Exception::np(err));
    }
    c.s.ldtr = Segment::from_descriptor(sel, d);
    Ok(())
}

fn ltr(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    c.require_cpl0()?;
    let sel = c.rm0::<W16>(i)? as u16;
    let err = Exception::sel_error(sel);
    if sel & !3 == 0 {
        return Err(Exception::gp0());
    }
    if sel & 4 != 0 {
        return Err(Exception::gp(err));
    }
    let d = c.read_descriptor(sel, Exception::gp)?;
    if d.s() || !matches!(d.typ(), sys::TSS16_AVAIL | sys::TSS32_AVAIL) {
        return Err(Exception::gp(err));
    }
    if !d.present() {
        return Err(Exception::np(err));
    }
    c.set_tss_busy(sel, true)?;
    c.s.tr = Segment::from_descriptor(sel, Descriptor::new(d.raw | (2 << 40)));
    Ok(())
}

/// SLDT/STR/SMSW r/m: a register destination takes the full operand size
/// (upper bits zero), memory always 16 bits.
fn store_sys16(c: &mut Ctx, i: &Insn, v: u32) -> Res {
    if i.is_mem() {
        c.set_rm0::<W16>(i, v & 0xFFFF)
    } else if i.o32() {
        c.set_reg::<W32>(i.r0, v);
        Ok(())
    } else {
        c.set_reg::<W16>(i.r0, v);
        Ok(())
    }
}

fn sldt(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    store_sys16(c, i, c.s.ldtr.selector as u32)
}

fn str_(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    store_sys16(c, i, c.s.tr.selector as u32)
}

fn smsw(c: &mut Ctx, i: &Insn) -> Res {
    let v = if i.is_mem() { c.s.cr0 & 0xFFFF } else { c.s.cr0 };
    store_sys16(c, i, v)
}

/// LMSW: loads PE, MP, EM, TS; cannot clear PE.
fn lmsw(c: &mut Ctx, i: &Insn) -> Res {
    c.require_cpl0()?;
    let v = c.rm0::<W16>(i)?;
    let m = cr0::PE | cr0::MP | cr0::EM | cr0::TS;
    let new = (c.s.cr0 & !(m & !cr0::PE)) | (v & m);
    c.write_cr0(new)
}

fn clts(c: &mut Ctx, _: &Insn) -> Res {
    c.require_cpl0()?;
    c.s.cr0 &= !cr0::TS;
    Ok(())
}

fn mov_r_cr(c: &mut Ctx, i: &Insn) -> Res {
    c.require_cpl0()?;
    let v = match i.r1 {
        0 => c.s.cr0,
        2 => c.s.cr2,
        3 => c.s.cr3,
        4 => c.s.cr4,
        _ => return Err(Exception::ud()),
    };
    c.s.gpr[i.r0 as usize & 7] = v;
    Ok(())
}

fn mov_cr_r(c: &mut Ctx, i: &Insn) -> Res {
    c.require_cpl0()?;
    let v = c.s.gpr[i.r1 as usize & 7];
    match i.r0 {
        0 => c.write_cr0(v),
        2 => {
            c.s.cr2 = v;
            Ok(())
        }
        3 => {
            c.write_cr3(v);
            Ok(())
        }
        4 => c.write_cr4(v),
        _ => Err(Exception::ud()),
    }
}

/// DR4/DR5 alias DR6/DR7 (CR4.DE is never set on this model).
fn dr_index(n: u8) -> usize {
    match n {
        4 => 6,
        5 => 7,
        n => n as usize & 7,
    }
}

fn mov_r_dr(c: &mut Ctx, i: &Insn) -> Res {
    c.require_cpl0()?;
    c.check_debug_access()?;
    let v = c.s.dr[dr_index(i.r1)];
    c.s.gpr[i.r0 as usize & 7] = v;
    Ok(())
}

fn mov_dr_r(c: &mut Ctx, i: &Insn) -> Res {
    c.require_cpl0()?;
    c.check_debug_access()?;
    let v = c.s.gpr[i.r1 as usize & 7];
    let n = dr_index(i.r0);
    c.s.dr[n] = match n {
        6 => (v & 0xE00F) | dr6::FIXED1,
        7 => (v & 0xFFFF_2FFF) | dr7::FIXED1,
        _ => v,
    };
    // Data breakpoints keep their pages off the TLB's fast path.
    c.tlb.flush_all();
    c.end_block = true;
    Ok(())
}

fn invlpg(c: &mut Ctx, i: &Insn) -> Res {
    c.require_cpl0()?;
    if !i.is_mem() {
        return Err(Exception::ud());
    }
    let lin = c.s.seg[i.seg()].base().wrapping_add(c.ea(i));
    c.tlb.flush_page(lin);
    c.end_block = true;
    Ok(())
}

fn wbinvd(c: &mut Ctx, _: &Insn) -> Res {
    c.require_cpl0()
}

fn cpuid(c: &mut Ctx, _: &Insn) -> Res {
    let (a, b, cx, d) = crate::cpuid::cpuid(c.s.gpr[reg::EAX], c.s.gpr[reg::ECX]);
    c.s.gpr[reg::EAX] = a;
    c.s.gpr[reg::EBX] = b;
    c.s.gpr[reg::ECX] = cx;
    c.s.gpr[reg::EDX] = d;
    Ok(())
}

fn rdtsc(c: &mut Ctx, _: &Insn) -> Res {
    if c.s.cr4 & cr4::TSD != 0 {
        c.require_cpl0()?;
    }
    let t = c.tsc();
    c.s.gpr[reg::EAX] = t as u32;
    c.s.gpr[reg::EDX] = (t >> 32) as u32;
    Ok(())
}

/// RDPMC: the P6's two counters exist but count nothing.
fn rdpmc(c: &mut Ctx, _: &Insn) -> Res {
    if c.s.cr4 & cr4::PCE == 0 {
        c.require_cpl0()?;
    }
    if c.s.gpr[reg::ECX] > 1 {
        return Err(Exception::gp0());
    }
    c.s.gpr[reg::EAX] = 0;
    c.s.gpr[reg::EDX] = 0;
    Ok(())
}

fn rdmsr(c: &mut Ctx, _: &Insn) -> Res {
    c.require_cpl0()?;
    let v = c.rdmsr(c.s.gpr[reg::ECX])?;
    c.s.gpr[reg::EAX] = v as u32;
    c.s.gpr[reg::EDX] = (v >> 32) as u32;
    Ok(())
}

fn wrmsr(c: &mut Ctx, _: &Insn) -> Res {
    c.require_cpl0()?;
    let v = ((c.s.gpr[reg::EDX] as u64) << 32) | c.s.gpr[reg::EAX] as u64;
    c.wrmsr(c.s.gpr[reg::ECX], v)?;
    c.end_block = true;
    Ok(())
}

/// Flat segment caches that SYSENTER/SYSEXIT load without reading the GDT.
fn flat(sel: u16, code: bool, dpl: u8) -> Segment {
    let typ = if code { 0xB } else { 0x3 };
    let a = typ | attr::S | ((dpl as u16) << attr::DPL_SHIFT) | attr::P | attr::DB | attr::G;
    Segment::from_parts(sel, 0, 0xFFFF_FFFF, a, true)
}

fn sysenter(c: &mut Ctx, _: &Insn) -> Res {
    let cs = c.s.msr.sysenter_cs as u16;
    if !c.s.protected_mode() || cs & !3 == 0 {
        return Err(Exception::gp0());
    }
    c.s.eflags_rest &= !(fl::VM | fl::IF | fl::RF);
    c.s.seg[sreg::CS] = flat(cs & !3, true, 0);
    c.s.seg[sreg::SS] = flat((cs & !3).wrapping_add(8), false, 0);
    c.s.cpl = 0;
    c.s.gpr[reg::ESP] = c.s.msr.sysenter_esp;
    c.s.eip = c.s.msr.sysenter_eip;
    c.end_block = true;
    Ok(())
}

fn sysexit(c: &mut Ctx, _: &Insn) -> Res {
    let cs = c.s.msr.sysenter_cs as u16;
    if !c.s.protected_mode() || c.s.v86_mode() || c.s.cpl != 0 || cs & !3 == 0 {
        return Err(Exception::gp0());
    }
    c.s.seg[sreg::CS] = flat((cs & !3).wrapping_add(16) | 3, true, 3);
    c.s.seg[sreg::SS] = flat((cs & !3).wrapping_add(24) | 3, false, 3);
    c.s.cpl = 3;
    c.s.gpr[reg::ESP] = c.s.gpr[reg::ECX];
    c.s.eip = c.s.gpr[reg::EDX];
    c.end_block = true;
    Ok(())
}

/// Which descriptor types LAR (`lsl` false) or LSL accept.
fn lar_lsl_valid(d: Descriptor, lsl: bool) -> bool {
    if d.s() {
        return true;
    }
    match d.typ() {
        sys::TSS16_AVAIL | sys::LDT | sys::TSS16_BUSY | sys::TSS32_AVAIL | sys::TSS32_BUSY => true,
        sys::CALL_GATE16 | sys::TASK_GATE | sys::CALL_GATE32 => !lsl,
        _ => false,
    }
}

/// Common checks of LAR/LSL/VERR/VERW: the descriptor if visible at the
/// current CPL and selector RPL.
fn query_descriptor(c: &mut Ctx, sel: u16) -> Res<Option<Descriptor>> {
    if sel & !3 == 0 {
        return Ok(None);
    }
    let Some(addr) = c.descriptor_addr(sel) else {
        return Ok(None);
    };
    let lo = c.read_sys::<W32>(addr)?;
    let hi = c.read_sys::<W32>(addr.wrapping_add(4))?;
    let d = Descriptor::from_words(lo, hi);
    let rpl = (sel & 3) as u8;
    let conforming = d.is_conforming_code();
    if !conforming && (d.dpl() < c.s.cpl || d.dpl() < rpl) {
        return Ok(None);
    }
    Ok(Some(d))
}

fn lar<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    let sel = c.rm1::<W16>(i)? as u16;
    match query_descriptor(c, sel)? {
        Some(d) if lar_lsl_valid(d, false) => {
            c.set_reg::<W>(i.r0, d.hi() & 0x00FF_FF00 & W::MASK);
            c.s.lazy.set_masked(fl::ZF, fl::ZF);
        }
        _ => c.s.lazy.set_masked(0, fl::ZF),
    }
    Ok(())
}

fn lsl<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    let sel = c.rm1::<W16>(i)? as u16;
    match query_descriptor(c, sel)? {
        Some(d) if lar_lsl_valid(d, true) => {
            c.set_reg::<W>(i.r0, d.limit() & W::MASK);
            c.s.lazy.set_masked(fl::ZF, fl::ZF);
        }
        _ => c.s.lazy.set_masked(0, fl::ZF),
    }
    Ok(())
}

fn verx<const WRITE: bool>(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    let sel = c.rm0::<W16>(i)? as u16;
    let ok = match query_descriptor(c, sel)? {
        Some(d) if d.s() => {
            if WRITE {
                d.is_writable_data()
            } else {
                d.is_readable()
            }
        }
        _ => false,
    };
    c.s.lazy.set_masked(if ok { fl::ZF } else { 0 }, fl::ZF);
    Ok(())
}

/// ARPL r/m16, r16: raise the destination's RPL to the source's.
fn arpl(c: &mut Ctx, i: &Insn) -> Res {
    c.require_protected()?;
    let src = c.reg::<W16>(i.r1);
    let mut adjusted = false;
    c.modify_rm0::<W16>(i, |_, d| {
        if d & 3 < src & 3 {
            adjusted = true;
            (d & !3) | (src & 3)
        } else {
            d
        }
    })?;
    c.s.lazy.set_masked(if adjusted { fl::ZF } else { 0 }, fl::ZF);
    Ok(())
}

/// CMPXCHG8B m64.
fn cmpxchg8b(c: &mut Ctx, i: &Insn) -> Res {
    if !i.is_mem() {
        return Err(Exception::ud());
    }
    let off = c.ea(i);
    let seg = i.seg();
    let lin = c.lin_write(seg, off, 8)?;
    let user = c.user();
    c.probe_write_lin(lin, 8, user)?;
    let lo = c.read::<W32>(seg, off)?;
    let hi = c.read::<W32>(seg, off.wrapping_add(4))?;
    let (eax, edx) = (c.s.gpr[reg::EAX], c.s.gpr[reg::EDX]);
    if lo == eax && hi == edx {
        let (ebx, ecx) = (c.s.gpr[reg::EBX], c.s.gpr[reg::ECX]);
        c.write::<W32>(seg, off, ebx)?;
        c.write::<W32>(seg, off.wrapping_add(4), ecx)?;
        c.s.lazy.set_masked(fl::ZF, fl::ZF);
    } else {
        c.write::<W32>(seg, off, lo)?;
        c.write::<W32>(seg, off.wrapping_add(4), hi)?;
        c.s.gpr[reg::EAX] = lo;
        c.s.gpr[reg::EDX] = hi;
        c.s.lazy.set_masked(0, fl::ZF);
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Hlt => hlt,
        C::Lgdt_m1632_16 | C::Lgdt_m1632 => load_dt::<false>,
        C::Lidt_m1632_16 | C::Lidt_m1632 => load_dt::<true>,
        C::Sgdt_m1632_16 | C::Sgdt_m1632 => store_dt::<false>,
        C::Sidt_m1632_16 | C::Sidt_m1632 => store_dt::<true>,
        C::Lldt_rm16 | C::Lldt_r32m16 => lldt,
        C::Ltr_rm16 | C::Ltr_r32m16 => ltr,
        C::Sldt_rm16 | C::Sldt_r32m16 => sldt,
        C::Str_rm16 | C::Str_r32m16 => str_,
        C::Smsw_rm16 | C::Smsw_r32m16 => smsw,
        C::Lmsw_rm16 | C::Lmsw_r32m16 => lmsw,
        C::Clts => clts,
        C::Mov_r32_cr => mov_r_cr,
        C::Mov_cr_r32 => mov_cr_r,
        C::Mov_r32_dr => mov_r_dr,
        C::Mov_dr_r32 => mov_dr_r,
        C::Invlpg_m => invlpg,
        C::Invd | C::Wbinvd => wbinvd,
        C::Cpuid => cpuid,
        C::Rdtsc => rdtsc,
        C::Rdpmc => rdpmc,
        C::Rdmsr => rdmsr,
        C::Wrmsr => wrmsr,
        C::Sysenter => sysenter,
        C::Sysexitd => sysexit,
        C::Lar_r16_rm16 => lar::<W16>,
        C::Lar_r32_r32m16 => lar::<W32>,
        C::Lsl_r16_rm16 => lsl::<W16>,
        C::Lsl_r32_r32m16 => lsl::<W32>,
        C::Verr_rm16 | C::Verr_r32m16 => verx::<false>,
        C::Verw_rm16 | C::Verw_r32m16 => verx::<true>,
        C::Arpl_rm16_r16 | C::Arpl_r32m16_r32 => arpl,
        C::Cmpxchg8b_m64 => cmpxchg8b,
        _ => return None,
    })
}
