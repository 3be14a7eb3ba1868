//! Operand access for handlers: registers by width, effective addresses,
//! and the r/m operand in register or memory form.

use super::insn::Insn;
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::flags::Width;

impl Ctx<'_> {
    /// Effective address (offset within the segment) of the memory operand.
    #[inline(always)]
    pub fn ea(&self, i: &Insn) -> u32 {
        let g = &self.s.gpr;
        g[i.base as usize].wrapping_add(g[i.index as usize] << i.scale).wrapping_add(i.disp) & i.amask
    }

    /// Register `n` read at width `W` (8-bit numbers 4-7 are AH..BH).
    #[inline(always)]
    pub fn reg<W: Width>(&self, n: u8) -> u32 {
        let n = n as usize & 7;
        match W::BITS {
            8 => {
                if n < 4 {
                    self.s.gpr[n] & 0xFF
                } else {
                    (self.s.gpr[n - 4] >> 8) & 0xFF
                }
            }
            16 => self.s.gpr[n] & 0xFFFF,
            _ => self.s.gpr[n],
        }
    }

    /// Write register `n` at width `W`, preserving the other bits.
    #[inline(always)]
    pub fn set_reg<W: Width>(&mut self, n: u8, v: u32) {
        let n = n as usize & 7;
        match W::BITS {
            8 => {
                if n < 4 {
                    self.s.gpr[n] = (self.s.gpr[n] & !0xFF) | (v & 0xFF);
                } else {
                    self.s.gpr[n - 4] = (self.s.gpr[n - 4] & !0xFF00) | ((v & 0xFF) << 8);
                }
            }
            16 => self.s.gpr[n] = (self.s.gpr[n] & !0xFFFF) | (v & 0xFFFF),
            _ => self.s.gpr[n] = v,
        }
    }

    /// Operand 0 when it is r/m.
    #[inline(always)]
    pub fn rm0<W: Width>(&mut self, i: &Insn) -> Res<u32> {
        if i.is_mem() {
            self.read::<W>(i.seg(), self.ea(i))
        } else {
            Ok(self.reg::<W>(i.r0))
        }
    }

    /// Operand 1 when it is r/m.
    #[inline(always)]
    pub fn rm1<W: Width>(&mut self, i: &Insn) -> Res<u32> {
        if i.is_mem() {
            self.read::<W>(i.seg(), self.ea(i))
        } else {
            Ok(self.reg::<W>(i.r1))
        }
    }

    /// Write operand 0 when it is r/m.
    #[inline(always)]
    pub fn set_rm0<W: Width>(&mut self, i: &Insn, v: u32) -> Res {
        if i.is_mem() {
            self.write::<W>(i.seg(), self.ea(i), v)
        } else {
            self.set_reg::<W>(i.r0, v);
            Ok(())
        }
    }

    /// Read-modify-write of operand 0: `f` maps the old value to the new
    /// one (and sets flags); both rights are checked before the read.
    #[inline(always)]
    pub fn modify_rm0<W: Width>(&mut self, i: &Insn, f: impl FnOnce(&mut Self, u32) -> u32) -> Res {
        if i.is_mem() {
            let off = self.ea(i);
            let a = self.read_rmw::<W>(i.seg(), off)?;
            let r = f(self, a);
            self.write::<W>(i.seg(), off, r)
        } else {
            let a = self.reg::<W>(i.r0);
            let r = f(self, a);
            self.set_reg::<W>(i.r0, r);
            Ok(())
        }
    }
}
