//! Guest memory accesses: physical, linear (through the TLB) and
//! segmented (with limit and type checks).

use super::tlb::{NO_TAG, Tlb, flag};
use super::walk::Intent;
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::Width;
use crate::state::sreg;
use memory::{Access, Target};
use x86::exception as vec;

/// Marker type so `mmu::Mmu` can be named in docs; the accessors are
/// methods of [`Ctx`].
#[derive(Debug)]
pub struct Mmu;

#[inline(always)]
fn load(bytes: &[u8], p: usize, n: u32) -> u32 {
    match n {
        1 => bytes[p] as u32,
        2 => u16::from_le_bytes([bytes[p], bytes[p + 1]]) as u32,
        _ => u32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]),
    }
}

#[inline(always)]
fn store(bytes: &mut [u8], p: usize, n: u32, v: u32) {
    match n {
        1 => bytes[p] = v as u8,
        2 => bytes[p..p + 2].copy_from_slice(&(v as u16).to_le_bytes()),
        _ => bytes[p..p + 4].copy_from_slice(&v.to_le_bytes()),
    }
}

impl Ctx<'_> {
    // ---- physical ----------------------------------------------------

    /// Read `n` (1, 2 or 4) bytes at a physical address (A20 applied), not
    /// crossing a page.
    pub fn phys_read(&mut self, paddr: u32, n: u32) -> u32 {
        let paddr = paddr & self.s.a20_mask;
        match self.mem.map.lookup(paddr as u64, Access::Read).target {
            Target::Ram(off) => {
                let ram = self.mem.ram.bytes();
                let p = off as usize;
                if p + n as usize <= ram.len() { load(ram, p, n) } else { ones(n) }
            }
            Target::Rom { rom, offset } => {
                let img = self.mem.map.rom(rom);
                let p = offset as usize;
                if p + n as usize <= img.len() { load(img, p, n) } else { ones(n) }
            }
            Target::Mmio { id, offset } => {
                self.io_done = true;
                self.bus.mmio_read(id, offset, n as u8) as u32 & ones(n)
            }
            Target::None => ones(n),
        }
    }

    /// Write `n` bytes at a physical address, not crossing a page. A write
    /// into a page holding cached code is recorded and ends the block.
    pub fn phys_write(&mut self, paddr: u32, n: u32, v: u32) {
        let paddr = paddr & self.s.a20_mask;
        match self.mem.map.lookup(paddr as u64, Access::Write).target {
            Target::Ram(off) => {
                let p = off as usize;
                let ram = self.mem.ram.bytes_mut();
                if p + n as usize <= ram.len() {
                    store(ram, p, n, v);
                    if self.mem.code.is_code(off) {
                        self.mem.code.note_write(off, n as u64);
                        self.end_block = true;
                    }
                }
            }
            Target::Mmio { id, offset } => {
                self.io_done = true;
                self.end_block = true;
                self.bus.mmio_write(id, offset, n as u8, v as u64)
            }
            Target::Rom { .. } | Target::None => {}
        }
    }

    pub fn phys_read_u32(&mut self, paddr: u32) -> u32 {
        self.phys_read(paddr, 4)
    }

    pub fn phys_write_u32(&mut self, paddr: u32, v: u32) {
        self.phys_write(paddr, 4, v)
    }

    // ---- linear ------------------------------------------------------

    /// Translate a linear address, filling the TLB. `user` selects CPL-3
    /// rights.
    pub fn translate(&mut self, lin: u32, intent: Intent, user: bool) -> Res<u32> {
        let page = lin & !0xFFF;
        let set = user as usize;
        if intent == Intent::Fetch {
            let ci = Tlb::code_index(lin);
            let e = self.tlb.code[set][ci];
            if e.lin == page {
                return Ok(e.phys | (lin & 0xFFF));
            }
            let phys = self.translate_data(lin, Intent::Fetch, user)?;
            self.tlb.code[set][ci] = self.tlb.sets[set][Tlb::index(lin)];
            return Ok(phys);
        }
        self.translate_data(lin, intent, user)
    }

    fn translate_data(&mut self, lin: u32, intent: Intent, user: bool) -> Res<u32> {
        let page = lin & !0xFFF;
        let set = user as usize;
        let idx = Tlb::index(lin);
        let e = self.tlb.sets[set][idx];
        if e.lin == page && (intent != Intent::Write || e.flags & flag::WRITE_OK != 0) {
            return Ok(e.phys | (lin & 0xFFF));
        }
        let (phys, write_ok, global) = if self.s.paging() {
            let t = self.walk(lin, intent, user)?;
            (t.phys & self.s.a20_mask, t.write_ok, t.global)
        } else {
            (page & self.s.a20_mask, true, false)
        };
        let mut entry = super::TlbEntry {
            lin: page,
            phys,
            read_tag: NO_TAG,
            write_tag: NO_TAG,
            read_addend: 0,
            write_addend: 0,
            flags: if write_ok { flag::WRITE_OK } else { 0 } | if global { flag::GLOBAL } else { 0 },
        };
        self.fill_fast_tags(&mut entry);
        self.tlb.sets[set][idx] = entry;
        Ok(phys | (lin & 0xFFF))
    }

    /// Decide whether an entry's page may be read or written straight in
    /// RAM.
    fn fill_fast_tags(&self, e: &mut super::TlbEntry) {
        if self.page_has_data_breakpoint(e.lin) {
            return;
        }
        let r = self.mem.map.lookup(e.phys as u64, Access::Read);
        if let Target::Ram(off) = r.target
            && r.run >= 4096
            && off + 4096 <= self.mem.ram.size()
        {
            e.read_tag = e.lin;
            e.read_addend = (off as u32).wrapping_sub(e.lin);
        }
        if e.flags & flag::WRITE_OK != 0 {
            let w = self.mem.map.lookup(e.phys as u64, Access::Write);
            if let Target::Ram(off) = w.target
                && w.run >= 4096
                && off + 4096 <= self.mem.ram.size()
                && !self.mem.code.is_code(off)
            {
                e.write_tag = e.lin;
                e.write_addend = (off as u32).wrapping_sub(e.lin);
            }
        }
    }

    /// Read `W` at a linear address.
    #[inline(always)]
    pub fn read_lin<W: Width>(&mut self, lin: u32, user: bool) -> Res<u32> {
        let e = &self.tlb.sets[user as usize][Tlb::index(lin)];
        let off = lin & 0xFFF;
        if e.read_tag == lin & !0xFFF && off <= 0x1000 - W::BYTES {
            let p = lin.wrapping_add(e.read_addend) as usize;
            return Ok(load(self.mem.ram.bytes(), p, W::BYTES));
        }
        self.read_lin_slow(lin, W::BYTES, user)
    }

    /// Write `W` at a linear address.
    #[inline(always)]
    pub fn write_lin<W: Width>(&mut self, lin: u32, v: u32, user: bool) -> Res {
        let e = &self.tlb.sets[user as usize][Tlb::index(lin)];
        let off = lin & 0xFFF;
        if e.write_tag == lin & !0xFFF && off <= 0x1000 - W::BYTES {
            let p = lin.wrapping_add(e.write_addend) as usize;
            store(self.mem.ram.bytes_mut(), p, W::BYTES, v);
            return Ok(());
        }
        self.write_lin_slow(lin, W::BYTES, v, user)
    }

    /// The RAM offset of `n` bytes at linear `lin` when the TLB's fast
    /// path covers all of them (one page, RAM, the access allowed, no
    /// breakpoint, and for a write no cached code on the page), for bulk
    /// string instructions; `None` sends them the one-at-a-time way.
    pub fn ram_run(&self, lin: u32, n: u32, write: bool, user: bool) -> Option<usize> {
        let e = &self.tlb.sets[user as usize][Tlb::index(lin)];
        let (tag, addend) = if write {
            (e.write_tag, e.write_addend)
        } else {
            (e.read_tag, e.read_addend)
        };
        (tag == lin & !0xFFF && (lin & 0xFFF) + n <= 0x1000).then(|| lin.wrapping_add(addend) as usize)
    }

    #[inline(never)]
    pub fn read_lin_slow(&mut self, lin: u32, n: u32, user: bool) -> Res<u32> {
        self.note_data_access(lin, n, false);
        let off = lin & 0xFFF;
        if off + n <= 0x1000 {
            let p = self.translate(lin, Intent::Read, user)?;
            return Ok(self.phys_read(p, n));
        }
        // Crosses into the next page: translate both before reading.
        let first = 0x1000 - off;
        let p0 = self.translate(lin, Intent::Read, user)?;
        let p1 = self.translate(lin.wrapping_add(first), Intent::Read, user)?;
        let mut v = 0u32;
        for i in 0..n {
            let b = if i < first {
                self.phys_read(p0 + i, 1)
            } else {
                self.phys_read(p1 + (i - first), 1)
            };
            v |= b << (8 * i);
        }
        Ok(v)
    }

    #[inline(never)]
    pub fn write_lin_slow(&mut self, lin: u32, n: u32, v: u32, user: bool) -> Res {
        self.note_data_access(lin, n, true);
        let off = lin & 0xFFF;
        if off + n <= 0x1000 {
            let p = self.translate(lin, Intent::Write, user)?;
            self.phys_write(p, n, v);
            self.refresh_write_tag(lin, user);
            return Ok(());
        }
        let first = 0x1000 - off;
        let p0 = self.translate(lin, Intent::Write, user)?;
        let p1 = self.translate(lin.wrapping_add(first), Intent::Write, user)?;
        for i in 0..n {
            let b = (v >> (8 * i)) & 0xFF;
            if i < first {
                self.phys_write(p0 + i, 1, b);
            } else {
                self.phys_write(p1 + (i - first), 1, b);
            }
        }
        Ok(())
    }

    /// After a slow write, let later writes to the page take the fast path
    /// again if nothing forbids it any more (its code was invalidated).
    fn refresh_write_tag(&mut self, lin: u32, user: bool) {
        let idx = Tlb::index(lin);
        let mut e = self.tlb.sets[user as usize][idx];
        if e.lin == lin & !0xFFF && e.write_tag == NO_TAG && e.flags & flag::WRITE_OK != 0 {
            self.fill_fast_tags(&mut e);
            self.tlb.sets[user as usize][idx] = e;
        }
    }

    /// Check that `n` bytes at `lin` may be written, without writing
    /// (instructions that must fault before changing any state). When the
    /// bytes cross into the next page, that page is checked at its first
    /// byte, so a page fault there reports that address in CR2 (as the
    /// hardware does).
    pub fn probe_write_lin(&mut self, lin: u32, n: u32, user: bool) -> Res {
        self.translate(lin, Intent::Write, user)?;
        let last = lin.wrapping_add(n.max(1) - 1);
        if last & !0xFFF != lin & !0xFFF {
            self.translate(last & !0xFFF, Intent::Write, user)?;
        }
        Ok(())
    }

    /// Check that `n` bytes at `lin` may be read (CR2 as for
    /// [`Self::probe_write_lin`]).
    pub fn probe_read_lin(&mut self, lin: u32, n: u32, user: bool) -> Res {
        self.translate(lin, Intent::Read, user)?;
        let last = lin.wrapping_add(n.max(1) - 1);
        if last & !0xFFF != lin & !0xFFF {
            self.translate(last & !0xFFF, Intent::Read, user)?;
        }
        Ok(())
    }

    // ---- segmented ---------------------------------------------------

    /// Whether the current access is a user-mode (CPL 3) access.
    #[inline(always)]
    pub fn user(&self) -> bool {
        self.s.cpl == 3
    }

    /// The exception for a segment-limit or type violation through `seg`.
    #[inline]
    pub fn seg_fault(seg: usize) -> Exception {
        if seg == sreg::SS { Exception::ss(0) } else { Exception::gp0() }
    }

    /// Linear address of a read of `n` bytes at `seg:off`, after the
    /// segment and alignment checks.
    #[inline(always)]
    pub fn lin_read(&self, seg: usize, off: u32, n: u32) -> Res<u32> {
        let s = &self.s.seg[seg];
        if !s.can_read(off, n) {
            return Err(Self::seg_fault(seg));
        }
        let lin = s.base().wrapping_add(off);
        self.check_align(lin, n)?;
        Ok(lin)
    }

    /// Linear address of a write of `n` bytes at `seg:off`.
    #[inline(always)]
    pub fn lin_write(&self, seg: usize, off: u32, n: u32) -> Res<u32> {
        let s = &self.s.seg[seg];
        if !s.can_write(off, n) {
            return Err(Self::seg_fault(seg));
        }
        let lin = s.base().wrapping_add(off);
        self.check_align(lin, n)?;
        Ok(lin)
    }

    /// Alignment check (#AC): CR0.AM, EFLAGS.AC and CPL 3.
    #[inline(always)]
    fn check_align(&self, lin: u32, n: u32) -> Res {
        if n > 1 && lin & (n - 1) != 0 && self.alignment_checking() {
            return Err(Exception::with_error(vec::AC, 0));
        }
        Ok(())
    }

    #[inline]
    pub fn alignment_checking(&self) -> bool {
        self.s.cpl == 3 && self.s.cr0 & x86::cr::cr0::AM != 0 && self.s.eflags_rest & x86::flags::AC != 0
    }

    /// Read `W` at `seg:off`.
    #[inline(always)]
    pub fn read<W: Width>(&mut self, seg: usize, off: u32) -> Res<u32> {
        let lin = self.lin_read(seg, off, W::BYTES)?;
        let user = self.user();
        self.read_lin::<W>(lin, user)
    }

    /// Write `W` at `seg:off`.
    #[inline(always)]
    pub fn write<W: Width>(&mut self, seg: usize, off: u32, v: u32) -> Res {
        let lin = self.lin_write(seg, off, W::BYTES)?;
        let user = self.user();
        self.write_lin::<W>(lin, v, user)
    }

    /// Read `W` at `seg:off` for a read-modify-write: both read and write
    /// rights are checked before anything is read, so the later write
    /// cannot fault.
    #[inline(always)]
    pub fn read_rmw<W: Width>(&mut self, seg: usize, off: u32) -> Res<u32> {
        let lin = self.lin_write(seg, off, W::BYTES)?;
        if !self.s.seg[seg].can_read(off, W::BYTES) {
            return Err(Self::seg_fault(seg));
        }
        let user = self.user();
        let e = &self.tlb.sets[user as usize][Tlb::index(lin)];
        let o = lin & 0xFFF;
        if e.write_tag == lin & !0xFFF && e.read_tag == e.write_tag && e.read_addend == e.write_addend && o <= 0x1000 - W::BYTES {
            let p = lin.wrapping_add(e.read_addend) as usize;
            return Ok(load(self.mem.ram.bytes(), p, W::BYTES));
        }
        self.probe_write_lin(lin, W::BYTES, user)?;
        self.read_lin::<W>(lin, user)
    }

    // ---- supervisor (implicit) accesses ------------------------------

    /// Read at a linear address with supervisor rights (descriptor
    /// tables, TSS), whatever the CPL.
    pub fn read_sys<W: Width>(&mut self, lin: u32) -> Res<u32> {
        self.read_lin::<W>(lin, false)
    }

    pub fn write_sys<W: Width>(&mut self, lin: u32, v: u32) -> Res {
        self.write_lin::<W>(lin, v, false)
    }
}

#[inline]
fn ones(n: u32) -> u32 {
    if n >= 4 { u32::MAX } else { (1 << (8 * n)) - 1 }
}
