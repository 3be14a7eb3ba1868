//! Reading descriptors from the GDT and LDT, and marking them accessed.

use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::W32;
use x86::descriptor::selector::TI;
use x86::descriptor::{Descriptor, seg as segtype};

impl Ctx<'_> {
    /// Linear address of the descriptor `sel` names, or `None` if it lies
    /// beyond the table's limit (or the LDT is unusable).
    pub fn descriptor_addr(&self, sel: u16) -> Option<u32> {
        let index = (sel & !7) as u32;
        let (base, limit) = if sel & TI != 0 {
            if !self.s.ldtr.present() || self.s.ldtr.selector & !3 == 0 {
                return None;
            }
            (self.s.ldtr.base(), self.s.ldtr.limit())
        } else {
            (self.s.gdtr.base, self.s.gdtr.limit)
        };
        if index + 7 > limit {
            return None;
        }
        Some(base.wrapping_add(index))
    }

    /// Read the descriptor of `sel`; beyond the table limit raises
    /// `fault(selector error code)`.
    pub fn read_descriptor(&mut self, sel: u16, fault: fn(u32) -> Exception) -> Res<Descriptor> {
        let Some(addr) = self.descriptor_addr(sel) else {
            return Err(fault(Exception::sel_error(sel)));
        };
        let lo = self.read_sys::<W32>(addr)?;
        let hi = self.read_sys::<W32>(addr.wrapping_add(4))?;
        Ok(Descriptor::from_words(lo, hi))
    }

    /// Set the accessed bit of a code or data descriptor in memory, as the
    /// processor does when it loads it.
    pub fn mark_accessed(&mut self, sel: u16, d: Descriptor) -> Res {
        if d.s()
            && d.typ() & segtype::ACCESSED == 0
            && let Some(addr) = self.descriptor_addr(sel)
        {
            self.write_sys::<W32>(addr.wrapping_add(4), d.hi() | (1 << 8))?;
        }
        Ok(())
    }

    /// Set the busy bit of a TSS descriptor (or clear it).
    pub fn set_tss_busy(&mut self, sel: u16, busy: bool) -> Res {
        let d = self.read_descriptor(sel, Exception::ts)?;
        if let Some(addr) = self.descriptor_addr(sel) {
            let hi = if busy { d.hi() | (2 << 8) } else { d.hi() & !(2 << 8) };
            self.write_sys::<W32>(addr.wrapping_add(4), hi)?;
        }
        Ok(())
    }
}
