//! Segment registers with their hidden descriptor caches.

use x86::descriptor::{Descriptor, attr, seg as segtype};

/// GDTR/IDTR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DescTable {
    pub base: u32,
    pub limit: u32,
}

/// A segment register: the visible selector and the hidden cache loaded
/// from the descriptor (or synthesised in real and virtual-8086 mode).
///
/// Besides the architectural cache it keeps the offset ranges valid for
/// reads and writes, derived whenever the cache changes, so that every
/// memory access checks limit, type and expand-direction with two
/// comparisons. The fields that hold them are private: only the methods
/// here change a segment, so the ranges cannot go stale.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    /// Descriptor bits 40-55 (see `x86::descriptor::attr`); zero with P
    /// clear means "not usable" (a null selector in protected mode).
    attr: u16,
    base: u32,
    /// Byte-granular limit.
    limit: u32,
    read_lo: u32,
    write_lo: u32,
    /// Inclusive upper bounds, widened to 64 bits so that the last byte
    /// of an access is compared without wrapping: in a 4 GiB segment an
    /// access that would wrap past offset 0xFFFFFFFF is a limit violation
    /// (#GP, or #SS through SS), as on the hardware.
    read_hi: u64,
    write_hi: u64,
}

/// Field offsets for generated code (the fields themselves stay private
/// so that only this module changes them).
pub mod layout {
    use super::Segment;
    pub const SELECTOR: usize = std::mem::offset_of!(Segment, selector);
    pub const BASE: usize = std::mem::offset_of!(Segment, base);
    pub const LIMIT: usize = std::mem::offset_of!(Segment, limit);
    pub const READ_LO: usize = std::mem::offset_of!(Segment, read_lo);
    pub const READ_HI: usize = std::mem::offset_of!(Segment, read_hi);
    pub const WRITE_LO: usize = std::mem::offset_of!(Segment, write_lo);
    pub const WRITE_HI: usize = std::mem::offset_of!(Segment, write_hi);
    pub const SIZE: usize = std::mem::size_of::<Segment>();
}

impl Segment {
    /// A real-mode data segment after reset or a real-mode load.
    pub const fn real_mode_data(selector: u16) -> Self {
        let mut s = Self {
            selector,
            attr: attr::P | attr::S | (segtype::WRITABLE | segtype::ACCESSED) as u16,
            base: (selector as u32) << 4,
            limit: 0xFFFF,
            read_lo: 0,
            write_lo: 0,
            read_hi: 0,
            write_hi: 0,
        };
        s.derive(false);
        s
    }

    /// CS after reset: selector F000, base FFFF0000.
    pub const fn reset_code() -> Self {
        let mut s = Self::real_mode_data(0xF000);
        s.base = 0xFFFF_0000;
        s.attr = attr::P | attr::S | (segtype::CODE | segtype::READABLE | segtype::ACCESSED) as u16;
        s.derive(false);
        s
    }

    /// LDTR/TR after reset: selector 0, base 0, limit FFFF, present, of
    /// the given type byte (0x82 LDT, 0x8B busy 32-bit TSS).
    pub const fn system_reset(type_byte: u16) -> Self {
        let mut s = Self::real_mode_data(0);
        s.attr = type_byte;
        s.derive(true);
        s
    }

    /// Build from a descriptor (protected mode).
    pub fn from_descriptor(selector: u16, d: Descriptor) -> Self {
        let mut s = Self {
            selector,
            attr: d.attr(),
            base: d.base(),
            limit: d.limit(),
            ..Self::default()
        };
        s.derive(true);
        s
    }

    /// A null selector loaded into a data segment register in protected
    /// mode: unusable, every access faults.
    pub fn null(selector: u16) -> Self {
        let mut s = Self {
            selector,
            ..Self::default()
        };
        s.derive(true);
        s
    }

    /// Build from explicit cache contents (state import, tests, RSM-like
    /// loads). `protected` selects whether type checks apply.
    pub fn from_parts(selector: u16, base: u32, limit: u32, attr: u16, protected: bool) -> Self {
        let mut s = Self {
            selector,
            attr,
            base,
            limit,
            ..Self::default()
        };
        s.derive(protected);
        s
    }

    /// Load in real mode: only selector and base change; limit and
    /// attributes stay as they were (the basis of "unreal mode"), but the
    /// segment becomes present and usable.
    pub fn load_real(&mut self, selector: u16) {
        self.selector = selector;
        self.base = (selector as u32) << 4;
        self.attr |= attr::P;
        self.derive(false);
    }

    /// Load in virtual-8086 mode: base = selector * 16, 64 KiB limit,
    /// present read/write data (or code for CS), DPL 3.
    pub fn load_v86(&mut self, selector: u16, code: bool) {
        let typ = if code {
            segtype::CODE | segtype::READABLE | segtype::ACCESSED
        } else {
            segtype::WRITABLE | segtype::ACCESSED
        } as u16;
        *self = Self {
            selector,
            attr: attr::P | attr::S | (3 << attr::DPL_SHIFT) | typ,
            base: (selector as u32) << 4,
            limit: 0xFFFF,
            ..Self::default()
        };
        self.derive(false);
    }

    /// Recompute the access ranges: `protected` applies type checks
    /// (protected mode proper), otherwise only limits count (real and
    /// virtual-8086 mode).
    pub const fn derive(&mut self, protected: bool) {
        let t = (self.attr & attr::TYPE_MASK) as u8;
        let usable = self.attr & attr::P != 0 && (!protected || self.attr & attr::S != 0);
        let code = t & segtype::CODE != 0;
        let readable = usable && (!protected || !code || t & segtype::READABLE != 0);
        let writable = usable && (!protected || (!code && t & segtype::WRITABLE != 0));
        let expand_down = !code && t & segtype::EXPAND_DOWN != 0 && (protected || self.attr & attr::S != 0);
        let (lo, hi) = if expand_down {
            let top = if self.attr & attr::DB != 0 { 0xFFFF_FFFFu64 } else { 0xFFFF };
            (self.limit.wrapping_add(1), top)
        } else {
            (0, self.limit as u64)
        };
        // An empty range: lo > hi for any access.
        let (rlo, rhi) = if readable { (lo, hi) } else { (1, 0) };
        let (wlo, whi) = if writable { (lo, hi) } else { (1, 0) };
        self.read_lo = rlo;
        self.read_hi = rhi;
        self.write_lo = wlo;
        self.write_hi = whi;
    }

    #[inline]
    pub fn base(&self) -> u32 {
        self.base
    }
    #[inline]
    pub fn limit(&self) -> u32 {
        self.limit
    }
    #[inline]
    pub fn attr(&self) -> u16 {
        self.attr
    }
    /// D/B bit: 32-bit code, 32-bit stack, or 4 GiB expand-down bound.
    #[inline]
    pub fn db(&self) -> bool {
        self.attr & attr::DB != 0
    }
    #[inline]
    pub fn dpl(&self) -> u8 {
        ((self.attr >> attr::DPL_SHIFT) & 3) as u8
    }
    #[inline]
    pub fn present(&self) -> bool {
        self.attr & attr::P != 0
    }
    /// Type field.
    #[inline]
    pub fn typ(&self) -> u8 {
        (self.attr & attr::TYPE_MASK) as u8
    }
    #[inline]
    pub fn is_code(&self) -> bool {
        self.attr & attr::S != 0 && self.typ() & segtype::CODE != 0
    }
    #[inline]
    pub fn rpl(&self) -> u8 {
        (self.selector & 3) as u8
    }

    /// Whether `len` bytes at `off` may be read.
    #[inline]
    pub fn can_read(&self, off: u32, len: u32) -> bool {
        off >= self.read_lo && (off as u64 + len as u64 - 1) <= self.read_hi
    }

    /// Whether `len` bytes at `off` may be written.
    #[inline]
    pub fn can_write(&self, off: u32, len: u32) -> bool {
        off >= self.write_lo && (off as u64 + len as u64 - 1) <= self.write_hi
    }

    /// Whether `len` bytes at `off` lie within the limit (code fetch,
    /// where type was checked when CS was loaded).
    #[inline]
    pub fn within_limit(&self, off: u32, len: u32) -> bool {
        (off as u64 + len as u64 - 1) <= self.limit as u64
    }

    /// Set the cache's base (used by SYSENTER-style flat loads and state import).
    pub fn set_base(&mut self, base: u32) {
        self.base = base;
    }
    /// Overwrite the attribute word and rederive.
    pub fn set_attr(&mut self, a: u16, protected: bool) {
        self.attr = a;
        self.derive(protected);
    }
    pub fn set_limit(&mut self, limit: u32, protected: bool) {
        self.limit = limit;
        self.derive(protected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_mode_limit() {
        let s = Segment::real_mode_data(0x1000);
        assert_eq!(s.base(), 0x10000);
        assert!(s.can_read(0xFFFE, 2));
        assert!(!s.can_read(0xFFFF, 2));
        assert!(s.can_write(0xFFFF, 1));
    }

    #[test]
    fn expand_down_16() {
        // type 6 = data, expand-down, writable; limit 0x0FFF; B=0.
        let d = Descriptor::new(0x0000_9600_0000_0FFF);
        let s = Segment::from_descriptor(0x10, d);
        assert!(!s.can_read(0x0FFF, 1));
        assert!(s.can_read(0x1000, 1));
        assert!(s.can_write(0xFFFE, 2));
        assert!(!s.can_write(0xFFFF, 2));
    }

    #[test]
    fn code_not_writable_flat_no_wrap() {
        let d = Descriptor::new(0x00CF_9A00_0000_FFFF);
        let s = Segment::from_descriptor(0x8, d);
        assert!(s.can_read(0xFFFF_FFFC, 4));
        // An access wrapping past 4 GiB exceeds the limit (the AMD host
        // raises #GP; see hostdiff).
        assert!(!s.can_read(0xFFFF_FFFE, 4));
        assert!(!s.within_limit(0xFFFF_FFFF, 2));
        assert!(!s.can_write(0, 1));
        assert!(s.db());
        let n = Segment::null(0);
        assert!(!n.can_read(0, 1));
    }
}
