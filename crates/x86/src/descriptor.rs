//! Segment and gate descriptors (SDM vol. 3, 3.4.5 and 6.11).

/// Descriptor type field values for system descriptors (S = 0).
pub mod sys {
    pub const TSS16_AVAIL: u8 = 1;
    pub const LDT: u8 = 2;
    pub const TSS16_BUSY: u8 = 3;
    pub const CALL_GATE16: u8 = 4;
    pub const TASK_GATE: u8 = 5;
    pub const INT_GATE16: u8 = 6;
    pub const TRAP_GATE16: u8 = 7;
    pub const TSS32_AVAIL: u8 = 9;
    pub const TSS32_BUSY: u8 = 11;
    pub const CALL_GATE32: u8 = 12;
    pub const INT_GATE32: u8 = 14;
    pub const TRAP_GATE32: u8 = 15;
}

/// Type-field bits of code and data descriptors (S = 1).
pub mod seg {
    pub const ACCESSED: u8 = 1;
    /// Data: writable. Code: readable.
    pub const WRITABLE: u8 = 2;
    pub const READABLE: u8 = 2;
    /// Data: expand-down. Code: conforming.
    pub const EXPAND_DOWN: u8 = 4;
    pub const CONFORMING: u8 = 4;
    pub const CODE: u8 = 8;
}

/// A decoded 8-byte descriptor of any kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub raw: u64,
}

impl Descriptor {
    pub const fn new(raw: u64) -> Self {
        Self { raw }
    }
    pub const fn from_words(lo: u32, hi: u32) -> Self {
        Self {
            raw: (lo as u64) | ((hi as u64) << 32),
        }
    }
    pub const fn lo(self) -> u32 {
        self.raw as u32
    }
    pub const fn hi(self) -> u32 {
        (self.raw >> 32) as u32
    }
    /// Segment base (bits 16-39 and 56-63).
    pub const fn base(self) -> u32 {
        (self.lo() >> 16) | ((self.hi() & 0xFF) << 16) | (self.hi() & 0xFF00_0000)
    }
    /// The raw 20-bit limit field.
    pub const fn raw_limit(self) -> u32 {
        (self.lo() & 0xFFFF) | (self.hi() & 0x000F_0000)
    }
    /// Byte-granular limit after applying the granularity bit.
    pub const fn limit(self) -> u32 {
        let l = self.raw_limit();
        if self.g() { (l << 12) | 0xFFF } else { l }
    }
    /// The 4-bit type field.
    pub const fn typ(self) -> u8 {
        ((self.hi() >> 8) & 0xF) as u8
    }
    /// S: code/data (true) or system (false).
    pub const fn s(self) -> bool {
        self.hi() & (1 << 12) != 0
    }
    pub const fn dpl(self) -> u8 {
        ((self.hi() >> 13) & 3) as u8
    }
    pub const fn present(self) -> bool {
        self.hi() & (1 << 15) != 0
    }
    pub const fn avl(self) -> bool {
        self.hi() & (1 << 20) != 0
    }
    /// D/B: default operand size / stack size / expand-down upper bound.
    pub const fn db(self) -> bool {
        self.hi() & (1 << 22) != 0
    }
    pub const fn g(self) -> bool {
        self.hi() & (1 << 23) != 0
    }
    pub const fn is_code(self) -> bool {
        self.s() && self.typ() & seg::CODE != 0
    }
    pub const fn is_data(self) -> bool {
        self.s() && self.typ() & seg::CODE == 0
    }
    pub const fn is_conforming_code(self) -> bool {
        self.is_code() && self.typ() & seg::CONFORMING != 0
    }
    /// Code segment that may be read, or any data segment.
    pub const fn is_readable(self) -> bool {
        self.is_data() || (self.is_code() && self.typ() & seg::READABLE != 0)
    }
    pub const fn is_writable_data(self) -> bool {
        self.is_data() && self.typ() & seg::WRITABLE != 0
    }
    /// Attribute word in the layout of descriptor bits 40-55 (type, S, DPL,
    /// P, AVL, D/B, G), the layout `SegmentCache::attr` keeps.
    pub const fn attr(self) -> u16 {
        ((self.hi() >> 8) & 0xF0FF) as u16
    }
    /// Gate: target selector.
    pub const fn gate_selector(self) -> u16 {
        (self.lo() >> 16) as u16
    }
    /// Gate: target offset (16-bit gates use only the low half).
    pub const fn gate_offset(self) -> u32 {
        (self.lo() & 0xFFFF) | (self.hi() & 0xFFFF_0000)
    }
    /// Call gate: parameter count (dwords or words to copy).
    pub const fn gate_param_count(self) -> u8 {
        (self.hi() & 0x1F) as u8
    }
}

/// Attribute word bits (descriptor bits 40-55 shifted down by 40).
pub mod attr {
    pub const TYPE_MASK: u16 = 0xF;
    pub const S: u16 = 1 << 4;
    pub const DPL_SHIFT: u16 = 5;
    pub const P: u16 = 1 << 7;
    pub const AVL: u16 = 1 << 12;
    pub const DB: u16 = 1 << 14;
    pub const G: u16 = 1 << 15;
}

/// Selector fields.
pub mod selector {
    pub const RPL_MASK: u16 = 3;
    pub const TI: u16 = 4;
    pub const INDEX_MASK: u16 = !7;
}
