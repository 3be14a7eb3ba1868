//! The x87 FPU of the P6: every instruction of the 8087, 287 and 387
//! instruction sets plus the P6's FCMOVcc and FCOMI family, on top of the
//! `f80` soft-float library (which owns the numerics: results, the six
//! exception flags and C1). This module owns what the library leaves to
//! the emulator: the register stack and its tags, stack faults, the
//! condition codes, the exception-pointer registers, and when an
//! instruction waits, faults with #NM or #MF, or asserts FERR#.
//!
//! | file | instructions |
//! | --- | --- |
//! | `stack.rs` | register-stack primitives: ST(i), push/pop, stack faults, flags |
//! | `arith.rs` | FADD FSUB FSUBR FMUL FDIV FDIVR (all forms), FSQRT FRNDINT FSCALE FXTRACT FPREM FPREM1 FABS FCHS |
//! | `load_store.rs` | FLD FST FSTP FILD FIST FISTP FBLD FBSTP, constants, FXCH, FCMOVcc, FFREE(P), FINCSTP, FDECSTP |
//! | `compare.rs` | FCOM FCOMP FCOMPP FUCOM FUCOMP FUCOMPP FICOM FICOMP FCOMI FCOMIP FUCOMI FUCOMIP FTST FXAM |
//! | `transcend.rs` | FSIN FCOS FSINCOS FPTAN FPATAN F2XM1 FYL2X FYL2XP1 |
//! | `control.rs` | FNINIT FNCLEX FLDCW FNSTCW FNSTSW FNOP WAIT, the 8087/287 no-ops |
//! | `env.rs` | FNSTENV FLDENV FNSAVE FRSTOR in their four layouts |
//!
//! The waiting forms FINIT, FCLEX, FSTCW, FSTSW, FSTENV and FSAVE are
//! decoded as a WAIT followed by the no-wait instruction (see
//! `decode.rs`), which is what they are on the processor.
//!
//! # When an instruction runs
//!
//! Every ESC (D8-DF) opcode first raises #NM when CR0.EM or CR0.TS is set
//! (SDM vol. 3, table 2-2). A *waiting* instruction (all but FNINIT,
//! FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE and the inert FNENI, FNDISI,
//! FNSETPM) then looks for a pending unmasked exception (FSW.ES): with
//! CR0.NE set it raises #MF; with NE clear it asserts FERR# (once; the PC
//! routes it to IRQ 13) and goes on as if IGNNE# were asserted, which is
//! what DOS-era software on a PC sees. Memory faults come next, and only
//! then does the instruction change FPU state, so a faulting instruction
//! leaves the FPU and memory as they were.

mod arith;
mod compare;
mod control;
mod env;
mod load_store;
mod memop;
mod stack;
mod transcend;

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use iced_x86::Code;
use x86::cr::cr0;

pub(super) fn lookup(code: Code) -> Option<Handler> {
    arith::lookup(code)
        .or_else(|| load_store::lookup(code))
        .or_else(|| compare::lookup(code))
        .or_else(|| transcend::lookup(code))
        .or_else(|| control::lookup(code))
        .or_else(|| env::lookup(code))
}

/// Alignment (for #AC) of the x87 memory operands that are not plain
/// 2- or 4-byte words (SDM vol. 3, table 6-7): m64 and m80 values are
/// checked at 8 bytes, environments and save areas at 4 (32-bit operand
/// size) or 2 (16-bit).
pub(crate) mod align {
    pub const M16: u32 = 2;
    pub const M32: u32 = 4;
    pub const M64: u32 = 8;
    pub const M80: u32 = 8;
    pub fn env(o32: bool) -> u32 {
        if o32 { 4 } else { 2 }
    }
}

impl Ctx<'_> {
    /// #NM for an ESC opcode: CR0.EM or CR0.TS.
    #[inline]
    pub(crate) fn x87_available(&self) -> Res {
        if self.s.cr0 & (cr0::EM | cr0::TS) != 0 {
            return Err(Exception::nm());
        }
        Ok(())
    }

    /// The check a waiting instruction makes for a pending unmasked
    /// exception: #MF with CR0.NE, FERR# without.
    #[inline]
    pub(crate) fn x87_wait_check(&mut self) -> Res {
        if self.s.fpu.error_pending() {
            if self.s.cr0 & cr0::NE != 0 {
                return Err(Exception::new(x86::exception::MF));
            }
            self.set_ferr(true);
        }
        Ok(())
    }

    /// Drive FERR#, telling the bus only about changes.
    pub(crate) fn set_ferr(&mut self, asserted: bool) {
        if self.s.fpu.ferr != asserted {
            self.s.fpu.ferr = asserted;
            self.bus.fpu_error(asserted);
        }
    }

    /// Prologue of a waiting x87 instruction: #NM, then #MF/FERR#.
    #[inline]
    pub(crate) fn x87_begin(&mut self) -> Res {
        self.x87_available()?;
        self.x87_wait_check()
    }

    /// Record the instruction in FIP/FCS/FOP (and, for a memory operand,
    /// FDP/FDS), as every non-control x87 instruction does once it is
    /// past its faults. Register forms leave FDP/FDS alone (P6).
    pub(crate) fn x87_record(&mut self, i: &Insn) {
        let fip = self.s.eip.wrapping_sub(i.len as u32);
        let ea = self.ea(i);
        let s = &mut *self.s;
        s.fpu.fip = fip;
        s.fpu.fcs = s.seg[crate::state::sreg::CS].selector;
        s.fpu.fop = (i.imm2 & 0x7FF) as u16;
        if i.is_mem() {
            s.fpu.fdp = ea;
            s.fpu.fds = s.seg.get(i.seg()).map_or(0, |g| g.selector);
        }
    }
}

/// ST(i) named by the low three bits of the ModRM byte.
#[inline]
pub(crate) fn sti(i: &Insn) -> usize {
    (i.imm2 & 7) as usize
}
