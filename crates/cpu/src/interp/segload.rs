//! Loading segment registers: MOV Sreg, POP Sreg, PUSH Sreg, LDS/LES/LSS/
//! LFS/LGS, and the protected-mode checks behind them (SDM vol. 3, 5.4-5.6).

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32, Width};
use crate::segment::Segment;
use crate::state::sreg;
use iced_x86::Code;
use x86::descriptor::Descriptor;

impl Ctx<'_> {
    /// Load data or stack segment register `idx` with `sel` as MOV/POP/LxS
    /// do, in whatever mode the CPU is in.
    pub fn load_seg(&mut self, idx: usize, sel: u16) -> Res {
        // Code after a segment load may depend on the new segment (an
        // engine specialises on flat segments and stack size): end the
        // block here.
        self.end_block = true;
        if !self.s.protected_mode() {
            self.s.seg[idx].load_real(sel);
            return Ok(());
        }
        if self.s.v86_mode() {
            self.s.seg[idx].load_v86(sel, idx == sreg::CS);
            return Ok(());
        }
        let (seg, d) = self.check_data_seg(idx, sel)?;
        if let Some(d) = d {
            self.mark_accessed(sel, d)?;
        }
        self.s.seg[idx] = seg;
        Ok(())
    }

    /// The protected-mode checks for loading `sel` into data/stack segment
    /// register `idx`; returns the new cache (and descriptor, to mark
    /// accessed) without changing any state.
    pub fn check_data_seg(&mut self, idx: usize, sel: u16) -> Res<(Segment, Option<Descriptor>)> {
        let cpl = self.s.cpl;
        let rpl = (sel & 3) as u8;
        if sel & !3 == 0 {
            if idx == sreg::SS {
                return Err(Exception::gp0());
            }
            return Ok((Segment::null(sel), None));
        }
        let d = self.read_descriptor(sel, Exception::gp)?;
        let err = Exception::sel_error(sel);
        if idx == sreg::SS {
            if rpl != cpl || !d.is_writable_data() || d.dpl() != cpl {
                return Err(Exception::gp(err));
            }
            if !d.present() {
                return Err(Exception::ss(err));
            }
        } else {
            if !d.is_readable() {
                return Err(Exception::gp(err));
            }
            if (d.is_data() || !d.is_conforming_code()) && (d.dpl() < cpl || d.dpl() < rpl) {
                return Err(Exception::gp(err));
            }
            if !d.present() {
                return Err(Exception::np(err));
            }
        }
        Ok((Segment::from_descriptor(sel, with_accessed(d)), Some(d)))
    }
}

/// The descriptor as it reads after the processor set its accessed bit.
pub fn with_accessed(d: Descriptor) -> Descriptor {
    if d.s() { Descriptor::new(d.raw | (1 << 40)) } else { d }
}

fn mov_sreg_rm(c: &mut Ctx, i: &Insn) -> Res {
    let idx = i.r0 as usize;
    if idx == sreg::CS || idx > sreg::GS {
        return Err(Exception::ud());
    }
    let sel = c.rm1::<W16>(i)? as u16;
    c.load_seg(idx, sel)?;
    if idx == sreg::SS {
        c.s.interrupt_shadow = true;
        c.end_block = true;
    }
    Ok(())
}

/// MOV r/m, Sreg: a memory destination is always 16 bits; a 32-bit
/// register destination gets the selector zero-extended (P6 and later).
fn mov_rm_sreg(c: &mut Ctx, i: &Insn) -> Res {
    let sel = c.s.seg[i.r1 as usize % 6].selector as u32;
    if i.is_mem() {
        c.set_rm0::<W16>(i, sel)
    } else if i.o32() {
        c.set_reg::<W32>(i.r0, sel);
        Ok(())
    } else {
        c.set_reg::<W16>(i.r0, sel);
        Ok(())
    }
}

/// PUSH Sreg. With a 32-bit operand size the SDM allows either a
/// zero-extended doubleword or a 16-bit store into the slot; ringvisor
/// pushes the zero-extended selector, as the AMD Zen host does (recent
/// Intel cores store 16 bits; see `docs/undefined.md`).
fn push_sreg<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let sel = c.s.seg[i.r0 as usize % 6].selector as u32;
    c.push::<W>(sel)
}

fn pop_sreg<W: Width>(c: &mut Ctx, i: &Insn) -> Res {
    let idx = i.r0 as usize;
    let sel = c.peek::<W>(0)? as u16;
    c.load_seg(idx, sel)?;
    c.pop::<W>()?;
    if idx == sreg::SS {
        c.s.interrupt_shadow = true;
        c.end_block = true;
    }
    Ok(())
}

/// LDS/LES/LSS/LFS/LGS r, m16:16/32.
fn load_far_ptr<W: Width, const SEG: usize>(c: &mut Ctx, i: &Insn) -> Res {
    if !i.is_mem() {
        return Err(Exception::ud());
    }
    let off = c.ea(i);
    let v = c.read::<W>(i.seg(), off)?;
    let sel = c.read::<W16>(i.seg(), off.wrapping_add(W::BYTES) & i.amask)? as u16;
    c.load_seg(SEG, sel)?;
    c.set_reg::<W>(i.r0, v);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Mov_Sreg_rm16 | C::Mov_Sreg_r32m16 => mov_sreg_rm,
        C::Mov_rm16_Sreg | C::Mov_r32m16_Sreg => mov_rm_sreg,
        C::Pushw_ES | C::Pushw_CS | C::Pushw_SS | C::Pushw_DS | C::Pushw_FS | C::Pushw_GS => push_sreg::<W16>,
        C::Pushd_ES | C::Pushd_CS | C::Pushd_SS | C::Pushd_DS | C::Pushd_FS | C::Pushd_GS => push_sreg::<W32>,
        C::Popw_ES | C::Popw_SS | C::Popw_DS | C::Popw_FS | C::Popw_GS => pop_sreg::<W16>,
        C::Popd_ES | C::Popd_SS | C::Popd_DS | C::Popd_FS | C::Popd_GS => pop_sreg::<W32>,
        C::Lds_r16_m1616 => load_far_ptr::<W16, { sreg::DS }>,
        C::Lds_r32_m1632 => load_far_ptr::<W32, { sreg::DS }>,
        C::Les_r16_m1616 => load_far_ptr::<W16, { sreg::ES }>,
        C::Les_r32_m1632 => load_far_ptr::<W32, { sreg::ES }>,
        C::Lss_r16_m1616 => load_far_ptr::<W16, { sreg::SS }>,
        C::Lss_r32_m1632 => load_far_ptr::<W32, { sreg::SS }>,
        C::Lfs_r16_m1616 => load_far_ptr::<W16, { sreg::FS }>,
        C::Lfs_r32_m1632 => load_far_ptr::<W32, { sreg::FS }>,
        C::Lgs_r16_m1616 => load_far_ptr::<W16, { sreg::GS }>,
        C::Lgs_r32_m1632 => load_far_ptr::<W32, { sreg::GS }>,
        _ => return None,
    })
}
