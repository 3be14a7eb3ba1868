//! EFLAGS bits (SDM vol. 1, 3.4.3).

pub const CF: u32 = 1 << 0;
/// Bit 1 reads as one on every x86.
pub const FIXED1: u32 = 1 << 1;
pub const PF: u32 = 1 << 2;
pub const AF: u32 = 1 << 4;
pub const ZF: u32 = 1 << 6;
pub const SF: u32 = 1 << 7;
pub const TF: u32 = 1 << 8;
pub const IF: u32 = 1 << 9;
pub const DF: u32 = 1 << 10;
pub const OF: u32 = 1 << 11;
pub const IOPL_SHIFT: u32 = 12;
pub const IOPL: u32 = 3 << IOPL_SHIFT;
pub const NT: u32 = 1 << 14;
pub const RF: u32 = 1 << 16;
pub const VM: u32 = 1 << 17;
pub const AC: u32 = 1 << 18;
pub const VIF: u32 = 1 << 19;
pub const VIP: u32 = 1 << 20;
pub const ID: u32 = 1 << 21;

/// The six arithmetic status flags, kept lazily by the engines.
pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
/// Every bit an i686 (with VME, without PVI-only quirks) can hold.
pub const IMPLEMENTED: u32 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

/// Extract IOPL from an EFLAGS value.
#[inline]
pub const fn iopl(eflags: u32) -> u8 {
    ((eflags >> IOPL_SHIFT) & 3) as u8
}
