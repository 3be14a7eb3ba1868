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
use super::templates::{Asm, Gen, RCX};
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
        // Both operands in copies, and no operand to keep for deferred
        // flags: the operation on the copies, two host instructions.
        if let (Opnd::Reg(s), 0, false) = (src, self.spill, matches!(op, AluOp::Cmp | AluOp::Test))
            && s != dst
            && let Some(c) = self.cache.find(s)
            && let Some(d) = self.held(dst)
            // (Taking a copy of `dst` gives up the copy used longest ago,
            // never one this instruction uses; checked all the same.)
            && self.cache.find(s) == Some(c)
        {
            let a = &mut self.a;
            alu_hosts(a, op, d, c);
            dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(dst)], Rd(d));
            return true;
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
        if matches!(op, AluOp::Cmp | AluOp::Test) {
            // Nothing to write: only deferred flags need the operand.
            let Some(d) = self.held(dst) else { return false };
            if self.spill != 0 {
                let a = &mut self.a;
                dynasm!(a ; .arch x64 ; mov eax, Rd(d));
            }
            return true;
        }
        self.on_copy(dst, None, |a, d| alu_hosts(a, op, d, RCX))
    }

    /// INC/DEC of a 32-bit register, flags not computed (see
    /// `alu_in_place`).
    pub fn incdec_in_place(&mut self, dst: u8, dec: bool) -> bool {
        if self.flags {
            return false;
        }
        self.on_copy(dst, None, |a, d| {
            if dec {
                dynasm!(a ; .arch x64 ; sub Rd(d), 1);
            } else {
                dynasm!(a ; .arch x64 ; add Rd(d), 1);
            }
        })
    }

    /// A shift or rotate of a 32-bit register by a constant (1-31), flags
    /// dead or deferred.
    pub fn shift_in_place(&mut self, op: ShiftOp, dst: u8, count: u8) -> bool {
        if self.flags {
            return false;
        }
        let c = count as i8;
        self.on_copy(dst, Some(count), |a, d| match op {
            ShiftOp::Shl => dynasm!(a ; .arch x64 ; shl Rd(d), c),
            ShiftOp::Shr => dynasm!(a ; .arch x64 ; shr Rd(d), c),
            ShiftOp::Sar => dynasm!(a ; .arch x64 ; sar Rd(d), c),
            ShiftOp::Rol => dynasm!(a ; .arch x64 ; rol Rd(d), c),
            ShiftOp::Ror => dynasm!(a ; .arch x64 ; ror Rd(d), c),
        })
    }

    /// Apply `op` to the host copy of 32-bit register `dst` and store the
    /// register. With deferred flags, the operand goes to EAX first, and a
    /// shift's `count` to ECX (see `Gen::settle`). False when no copy can
    /// be had here.
    fn on_copy(&mut self, dst: u8, count: Option<u8>, op: impl FnOnce(&mut Asm, u8)) -> bool {
        let Some(d) = self.held(dst) else { return false };
        let a = &mut self.a;
        if self.spill != 0 {
            dynasm!(a ; .arch x64 ; mov eax, Rd(d));
            if let Some(c) = count {
                dynasm!(a ; .arch x64 ; mov ecx, c as i32);
            }
        }
        op(a, d);
        dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(dst)], Rd(d));
        true
    }
}

/// `op` (ADD, SUB, AND, OR, XOR) on 32-bit host registers `d` and `s`,
/// into `d`.
fn alu_hosts(a: &mut Asm, op: AluOp, d: u8, s: u8) {
    match op {
        AluOp::Add => dynasm!(a ; .arch x64 ; add Rd(d), Rd(s)),
        AluOp::Sub => dynasm!(a ; .arch x64 ; sub Rd(d), Rd(s)),
        AluOp::And => dynasm!(a ; .arch x64 ; and Rd(d), Rd(s)),
        AluOp::Or => dynasm!(a ; .arch x64 ; or Rd(d), Rd(s)),
        AluOp::Xor => dynasm!(a ; .arch x64 ; xor Rd(d), Rd(s)),
        AluOp::Cmp | AluOp::Test | AluOp::Adc | AluOp::Sbb => unreachable!("not in place"),
    }
}
