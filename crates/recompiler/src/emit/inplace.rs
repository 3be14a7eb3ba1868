//! In-place forms of the commonest register instructions, for when their
//! flags need not be computed (`liveness::Need::Dead`) or are deferred
//! (`Need::Rare`).
//!
//! The general templates move operands into EAX/ECX and the result into
//! EDX because the flag code works on those; six host instructions for an
//! `AND ESI,EAX`. Without flags to compute, the operation can work on the
//! destination's host copy (`regcache`) directly, and then store it: three.
//! A deferred flag operation still gets its operands in EAX and ECX, for
//! `Gen::settle` to keep.

use super::classify::{AluOp, Opnd, ShiftOp};
use super::templates::{Gen, RCX};
use crate::frame::state;
use dynasmrt::{DynasmApi, dynasm};

impl Gen {
    /// `op dst, src` on 32-bit registers (`src` a register or an
    /// immediate), flags not computed. False when it cannot be done in
    /// place (no copy of `dst` can be had here); the caller then emits the
    /// general template.
    pub fn alu_in_place(&mut self, op: AluOp, dst: u8, src: Opnd) -> bool {
        if self.flags || matches!(src, Opnd::Mem) || matches!(op, AluOp::Adc | AluOp::Sbb) {
            return false;
        }
        // The source first: taking a copy of it may give up the
        // destination's, never the other way round once the value is in ECX.
        match src {
            Opnd::Reg(s) => self.ld_reg(4, s, RCX),
            Opnd::Imm(v) => {
                let a = &mut self.a;
                dynasm!(a ; .arch x64 ; mov ecx, v as i32);
            }
            Opnd::Mem => unreachable!(),
        }
        let Some(d) = self.held(dst) else { return false };
        let a = &mut self.a;
        if self.spill != 0 {
            dynasm!(a ; .arch x64 ; mov eax, Rd(d));
        }
        match op {
            AluOp::Add => dynasm!(a ; .arch x64 ; add Rd(d), ecx),
            AluOp::Sub => dynasm!(a ; .arch x64 ; sub Rd(d), ecx),
            AluOp::And => dynasm!(a ; .arch x64 ; and Rd(d), ecx),
            AluOp::Or => dynasm!(a ; .arch x64 ; or Rd(d), ecx),
            AluOp::Xor => dynasm!(a ; .arch x64 ; xor Rd(d), ecx),
            // Nothing to write.
            AluOp::Cmp | AluOp::Test | AluOp::Adc | AluOp::Sbb => return true,
        }
        dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(dst)], Rd(d));
        true
    }

    /// INC/DEC of a 32-bit register, flags not computed (see
    /// `alu_in_place`).
    pub fn incdec_in_place(&mut self, dst: u8, dec: bool) -> bool {
        if self.flags {
            return false;
        }
        let Some(d) = self.held(dst) else { return false };
        let a = &mut self.a;
        if self.spill != 0 {
            dynasm!(a ; .arch x64 ; mov eax, Rd(d));
        }
        if dec {
            dynasm!(a ; .arch x64 ; sub Rd(d), 1);
        } else {
            dynasm!(a ; .arch x64 ; add Rd(d), 1);
        }
        dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(dst)], Rd(d));
        true
    }

    /// A shift or rotate of a 32-bit register by a constant (1-31), flags
    /// dead or deferred.
    pub fn shift_in_place(&mut self, op: ShiftOp, dst: u8, count: u8) -> bool {
        if self.flags {
            return false;
        }
        let Some(d) = self.held(dst) else { return false };
        let (a, c) = (&mut self.a, count as i8);
        if self.spill != 0 {
            // Deferred flags (SHL, SHR, SAR): operand and count to the slots.
            dynasm!(a ; .arch x64 ; mov eax, Rd(d) ; mov ecx, count as i32);
        }
        match op {
            ShiftOp::Shl => dynasm!(a ; .arch x64 ; shl Rd(d), c),
            ShiftOp::Shr => dynasm!(a ; .arch x64 ; shr Rd(d), c),
            ShiftOp::Sar => dynasm!(a ; .arch x64 ; sar Rd(d), c),
            ShiftOp::Rol => dynasm!(a ; .arch x64 ; rol Rd(d), c),
            ShiftOp::Ror => dynasm!(a ; .arch x64 ; ror Rd(d), c),
        }
        dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(dst)], Rd(d));
        true
    }
}
