//! Building a stack frame on a stack that is not loaded yet (privilege
//! changes in interrupts, calls through gates, task switches): every push
//! is checked and written before any register changes, so a fault leaves
//! the old state intact.

use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W16, W32};
use crate::segment::Segment;

/// A stack being filled.
pub struct Frame {
    pub seg: Segment,
    pub esp: u32,
    /// The error to raise when a push falls outside the segment.
    pub fault: Exception,
    /// Accesses are made with user rights (the new CPL is 3).
    pub user: bool,
}

impl Frame {
    pub fn new(seg: Segment, esp: u32, fault: Exception, user: bool) -> Self {
        Self { seg, esp, fault, user }
    }

    fn mask(&self) -> u32 {
        if self.seg.db() { 0xFFFF_FFFF } else { 0xFFFF }
    }

    /// Push a word (`big` false) or dword.
    pub fn push(&mut self, c: &mut Ctx, v: u32, big: bool) -> Res {
        let n = if big { 4 } else { 2 };
        let m = self.mask();
        let sp = self.esp.wrapping_sub(n) & m;
        if !self.seg.can_write(sp, n) {
            return Err(self.fault);
        }
        let lin = self.seg.base().wrapping_add(sp);
        if big {
            c.write_lin::<W32>(lin, v, self.user)?;
        } else {
            c.write_lin::<W16>(lin, v, self.user)?;
        }
        self.esp = (self.esp & !m) | sp;
        Ok(())
    }

    /// Check that `count` more pushes of a word (`big` false) or dword
    /// fit (before pushing any, so no memory changes either when the frame
    /// does not fit). Each push is checked as the processor's own sequence
    /// of pushes would check it, top first: a 16-bit stack pointer wraps
    /// within the segment, and a page fault reports the address of the
    /// first push that would fault.
    pub fn check_room(&self, c: &mut Ctx, count: u32, big: bool) -> Res {
        let n = if big { 4 } else { 2 };
        let m = self.mask();
        let mut sp = self.esp;
        let mut probed = None;
        for _ in 0..count {
            sp = sp.wrapping_sub(n) & m;
            if !self.seg.can_write(sp, n) {
                return Err(self.fault);
            }
            let lin = self.seg.base().wrapping_add(sp);
            // Pushes at CPL 3 (far CALL) are alignment-checked like any
            // other user access (#AC before #PF, as on the host).
            if self.user && lin & (n - 1) != 0 && c.alignment_checking() {
                return Err(Exception::with_error(x86::exception::AC, 0));
            }
            let pages = (lin >> 12, lin.wrapping_add(n - 1) >> 12);
            if probed != Some(pages) {
                c.probe_write_lin(lin, n, self.user)?;
                probed = Some(pages);
            }
        }
        Ok(())
    }
}
