//! The register stack: ST(i) addressing, push and pop with their tags,
//! stack overflow and underflow, and the bridge between the status word
//! and an `f80::Ctx`.
//!
//! Stack faults are invalid-operation exceptions with SF set; C1 tells
//! overflow (1) from underflow (0). Masked, the instruction goes on with
//! the QNaN indefinite in place of the missing operand or result; unmasked,
//! it changes nothing but the status word (SDM vol. 1, 8.5.1.1).

use crate::fpu::{FpuState, Reg80, sw};
use f80::{Exceptions, F80};

/// The QNaN "real indefinite" every masked invalid operation produces.
pub(crate) const INDEFINITE: F80 = F80::INDEFINITE;

impl FpuState {
    /// ST(i) as a value (whatever its tag).
    #[inline]
    pub(crate) fn st(&self, i: usize) -> F80 {
        let r = self.regs[self.phys(i)];
        F80 {
            signif: r.signif,
            sign_exp: r.sign_exp,
        }
    }

    /// Write ST(i) and tag it from its new contents.
    #[inline]
    pub(crate) fn set_st(&mut self, i: usize, v: F80) {
        let p = self.phys(i);
        self.regs[p] = Reg80 {
            signif: v.signif,
            sign_exp: v.sign_exp,
        };
        self.retag(p);
    }

    /// Whether the next push would overflow (ST(7) is in use).
    #[inline]
    pub(crate) fn push_would_overflow(&self) -> bool {
        !self.is_empty(7)
    }

    /// Decrement TOP and write the new ST(0).
    #[inline]
    pub(crate) fn fpush(&mut self, v: F80) {
        let top = (self.top() + 7) & 7;
        self.set_top(top);
        self.set_st(0, v);
    }

    /// Tag ST(0) empty and increment TOP.
    #[inline]
    pub(crate) fn fpop(&mut self) {
        let p = self.top();
        self.set_tag(p, crate::fpu::tag::EMPTY);
        self.set_top(p + 1);
    }

    /// Set or clear one condition-code bit.
    #[inline]
    pub(crate) fn set_cc(&mut self, bit: u16, on: bool) {
        if on {
            self.fsw |= bit;
        } else {
            self.fsw &= !bit;
        }
    }

    /// Replace C0, C2 and C3 (bits given in status-word positions).
    #[inline]
    pub(crate) fn set_c320(&mut self, codes: u16) {
        let m = sw::C0 | sw::C2 | sw::C3;
        self.fsw = (self.fsw & !m) | (codes & m);
    }

    /// Raise a stack fault (IE and SF; C1 = `overflow`). Returns true when
    /// IE is masked, i.e. the caller applies the masked response.
    pub(crate) fn stack_fault(&mut self, overflow: bool) -> bool {
        self.fsw |= Exceptions::IE.0 as u16 | sw::SF;
        self.set_cc(sw::C1, overflow);
        self.update_es();
        self.fcw & Exceptions::IE.0 as u16 != 0
    }

    /// An `f80` environment for one operation: RC, PC and masks from the
    /// control word, the sticky flags from the status word.
    #[inline]
    pub(crate) fn fctx(&self) -> f80::Ctx {
        let mut k = f80::Ctx::from_control_word(self.fcw);
        k.flags = Exceptions((self.fsw & sw::FLAGS) as u8);
        k
    }

    /// Take the flags an operation left (and the error summary they imply)
    /// back into the status word.
    #[inline]
    pub(crate) fn commit_flags(&mut self, k: &f80::Ctx) {
        self.fsw = (self.fsw & !sw::FLAGS) | (k.flags.0 as u16 & sw::FLAGS);
        self.update_es();
    }

    /// [`FpuState::commit_flags`] and C1 = the operation's "rounded up".
    #[inline]
    pub(crate) fn commit(&mut self, k: &f80::Ctx) {
        self.commit_flags(k);
        self.set_cc(sw::C1, k.c1);
    }
}
