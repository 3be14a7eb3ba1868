//! Multi-part memory operands: the x87's m64/m80 values, its 14- to
//! 108-byte environments and save areas, MMX quadwords and the 512-byte
//! FXSAVE area.
//!
//! The processor checks such an operand as a whole before it changes
//! anything: the segment limit over every byte, alignment (#AC) with the
//! operand's own alignment requirement (SDM vol. 3, table 6-7, which is
//! not its size for 10-, 14-, 28-, 94- or 108-byte operands), and the
//! pages under both ends. Stores here therefore either fault with memory
//! untouched or write every byte; the bytes themselves move in 4-, 2- and
//! 1-byte pieces through the ordinary linear accessors.

use super::walk::Intent;
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::{W8, W16, W32};
use x86::exception as vec;

/// In which order the processor checks the pages under a multi-part
/// operand, which decides the address a page fault reports in CR2. The
/// orders are the host's (observed for every case of a page boundary
/// inside the operand); the SDM leaves this open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// In address order: CR2 is the operand's first byte, or the first
    /// byte of the second page (plain m64/m80 values, MMX quadwords).
    InOrder,
    /// The first `n`-byte unit in address order, then the operand's last
    /// byte, exactly (x87 environments and save areas: units of 4 bytes
    /// in the 32-bit layouts, 2 in the 16-bit ones).
    FirstUnitThenLast(u32),
    /// The last byte first, then the first (FXSAVE/FXRSTOR).
    LastThenFirst,
}

/// How a multi-part operand is checked: the alignment it requires for
/// #AC (a power of two, 1 for none) and the page order.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub align: u32,
    pub order: Order,
}

impl Shape {
    /// An operand checked in address order with alignment `align`.
    pub const fn aligned(align: u32) -> Self {
        Self {
            align,
            order: Order::InOrder,
        }
    }
}

/// A checked destination: every byte may be written without a fault.
#[derive(Clone, Copy, Debug)]
pub struct StoreTarget {
    lin: u32,
    len: u32,
    user: bool,
}

impl StoreTarget {
    /// The part of the target from byte `off` on (empty past the end), for
    /// operands written in pieces (FXSAVE leaves some fields alone).
    pub fn from_offset(self, off: u32) -> StoreTarget {
        let off = off.min(self.len);
        StoreTarget {
            lin: self.lin.wrapping_add(off),
            len: self.len - off,
            user: self.user,
        }
    }
}

impl Ctx<'_> {
    /// Linear address of `n` bytes at `seg:off` after the segment check
    /// over all of them and the alignment check against `align` (a power
    /// of two; 1 for none).
    pub fn lin_wide(&self, seg: usize, off: u32, n: u32, align: u32, write: bool) -> Res<u32> {
        let s = &self.s.seg[seg];
        let ok = if write { s.can_write(off, n) } else { s.can_read(off, n) };
        if !ok {
            return Err(Self::seg_fault(seg));
        }
        let lin = s.base().wrapping_add(off);
        if align > 1 && lin & (align - 1) != 0 && self.alignment_checking() {
            return Err(Exception::with_error(vec::AC, 0));
        }
        Ok(lin)
    }

    /// Translate the pages under `n` bytes at `lin` in the order `shape`
    /// says, for `intent`.
    fn probe_wide(&mut self, lin: u32, n: u32, shape: Shape, intent: Intent) -> Res {
        let user = self.user();
        let page = |a: u32| a & !0xFFF;
        let last = lin.wrapping_add(n.max(1) - 1);
        let in_order = |c: &mut Self, a: u32, len: u32| -> Res {
            c.translate(a, intent, user)?;
            let end = a.wrapping_add(len.max(1) - 1);
            if page(end) != page(a) {
                c.translate(page(end), intent, user)?;
            }
            Ok(())
        };
        match shape.order {
            Order::InOrder => in_order(self, lin, n),
            Order::FirstUnitThenLast(u) => {
                in_order(self, lin, u.min(n))?;
                self.translate(last, intent, user)?;
                Ok(())
            }
            Order::LastThenFirst => {
                self.translate(last, intent, user)?;
                self.translate(lin, intent, user)?;
                Ok(())
            }
        }
    }

    /// Read `buf.len()` bytes at `seg:off` (checked as one operand).
    pub fn read_bytes(&mut self, seg: usize, off: u32, buf: &mut [u8], shape: Shape) -> Res {
        let n = buf.len() as u32;
        let lin = self.lin_wide(seg, off, n, shape.align, false)?;
        let user = self.user();
        self.probe_wide(lin, n, shape, Intent::Read)?;
        let mut k = 0usize;
        while k < buf.len() {
            let a = lin.wrapping_add(k as u32);
            let left = buf.len() - k;
            if left >= 4 {
                let v = self.read_lin::<W32>(a, user)?;
                buf[k..k + 4].copy_from_slice(&v.to_le_bytes());
                k += 4;
            } else if left >= 2 {
                let v = self.read_lin::<W16>(a, user)? as u16;
                buf[k..k + 2].copy_from_slice(&v.to_le_bytes());
                k += 2;
            } else {
                buf[k] = self.read_lin::<W8>(a, user)? as u8;
                k += 1;
            }
        }
        Ok(())
    }

    /// Check that `n` bytes at `seg:off` may be written, faulting now if
    /// not; the returned target is then written by [`Ctx::store_bytes`].
    pub fn store_target(&mut self, seg: usize, off: u32, n: u32, shape: Shape) -> Res<StoreTarget> {
        let lin = self.lin_wide(seg, off, n, shape.align, true)?;
        self.probe_wide(lin, n, shape, Intent::Write)?;
        let user = self.user();
        Ok(StoreTarget { lin, len: n, user })
    }

    /// Write a checked destination (`data` no longer than it was checked
    /// for; any excess is ignored).
    pub fn store_bytes(&mut self, t: StoreTarget, data: &[u8]) -> Res {
        let data = &data[..data.len().min(t.len as usize)];
        let mut k = 0usize;
        while k < data.len() {
            let a = t.lin.wrapping_add(k as u32);
            let left = data.len() - k;
            if left >= 4 {
                let v = u32::from_le_bytes([data[k], data[k + 1], data[k + 2], data[k + 3]]);
                self.write_lin::<W32>(a, v, t.user)?;
                k += 4;
            } else if left >= 2 {
                let v = u16::from_le_bytes([data[k], data[k + 1]]) as u32;
                self.write_lin::<W16>(a, v, t.user)?;
                k += 2;
            } else {
                self.write_lin::<W8>(a, data[k] as u32, t.user)?;
                k += 1;
            }
        }
        Ok(())
    }

    /// Check and write `data` at `seg:off` as one operand.
    pub fn write_bytes(&mut self, seg: usize, off: u32, data: &[u8], shape: Shape) -> Res {
        let t = self.store_target(seg, off, data.len() as u32, shape)?;
        self.store_bytes(t, data)
    }
}
