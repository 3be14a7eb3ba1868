//! Lazily evaluated arithmetic flags.
//!
//! The last flag-setting operation is kept as two words instead of six
//! flags: its result, sign-extended to 32 bits, and an auxiliary word that
//! holds the operation's carry-out vector bits that CF, OF and AF derive
//! from, plus small deltas that let any combination of flags be encoded.
//! An ADD or SUB therefore costs two stores, and a flag is computed only
//! when something reads it. (This is the representation Bochs documents
//! for its lazy flags; the recompiler shares it.)
//!
//! Decoding of the pair:
//! - ZF = `result == 0`
//! - SF = bit 31 of `result` XOR bit [`SFD`] of `aux`
//! - PF = even parity of `(result ^ (aux >> 8)) & 0xFF` (bits 8-15 of `aux`
//!   are the parity delta byte)
//! - CF = bit 31 of `aux`; OF = bit 31 XOR bit 30 of `aux` (bit 30 is the
//!   carry out of the bit below the sign bit)
//! - AF = bit 3 of `aux` (the carry out of bit 3)

use x86::flags as fl;

const SFD: u32 = 1 << 0;
const AF_BIT: u32 = 1 << 3;
const PDB_SHIFT: u32 = 8;
const PO_BIT: u32 = 1 << 30;
const CF_BIT: u32 = 1 << 31;

/// The lazy flags pair.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LazyFlags {
    pub result: u32,
    pub aux: u32,
}

impl Default for LazyFlags {
    /// All six flags clear (result non-zero, even parity compensated).
    fn default() -> Self {
        let mut f = Self { result: 0, aux: 0 };
        f.set(0);
        f
    }
}

/// Operand width, for sign extension and the carry-out positions.
pub trait Width: Copy + 'static {
    const BITS: u32;
    const BYTES: u32 = Self::BITS / 8;
    const MASK: u32;
    const SIGN: u32 = 1 << (Self::BITS - 1);
    /// Sign-extend the low `BITS` of `v` to 32 bits.
    #[inline]
    fn sext(v: u32) -> u32 {
        (((v << (32 - Self::BITS)) as i32) >> (32 - Self::BITS)) as u32
    }
}

#[derive(Clone, Copy, Debug)]
pub struct W8;
#[derive(Clone, Copy, Debug)]
pub struct W16;
#[derive(Clone, Copy, Debug)]
pub struct W32;

impl Width for W8 {
    const BITS: u32 = 8;
    const MASK: u32 = 0xFF;
}
impl Width for W16 {
    const BITS: u32 = 16;
    const MASK: u32 = 0xFFFF;
}
impl Width for W32 {
    const BITS: u32 = 32;
    const MASK: u32 = 0xFFFF_FFFF;
}

#[inline]
fn even_parity(b: u32) -> bool {
    (b as u8).count_ones().is_multiple_of(2)
}

/// Aux word from a carry/borrow-out vector of a `W`-wide operation.
#[inline]
fn aux_from_carries<W: Width>(cout: u32) -> u32 {
    ((cout << (32 - W::BITS)) & (CF_BIT | PO_BIT)) | (cout & AF_BIT)
}

impl LazyFlags {
    #[inline]
    pub fn cf(&self) -> bool {
        self.aux & CF_BIT != 0
    }
    #[inline]
    pub fn of(&self) -> bool {
        ((self.aux ^ (self.aux << 1)) & CF_BIT) != 0
    }
    #[inline]
    pub fn af(&self) -> bool {
        self.aux & AF_BIT != 0
    }
    #[inline]
    pub fn zf(&self) -> bool {
        self.result == 0
    }
    #[inline]
    pub fn sf(&self) -> bool {
        ((self.result >> 31) ^ (self.aux & SFD)) != 0
    }
    #[inline]
    pub fn pf(&self) -> bool {
        even_parity(self.result ^ (self.aux >> PDB_SHIFT))
    }

    /// The six flags in their EFLAGS positions.
    #[inline]
    pub fn get(&self) -> u32 {
        (self.cf() as u32)
            | (self.pf() as u32) << 2
            | (self.af() as u32) << 4
            | (self.zf() as u32) << 6
            | (self.sf() as u32) << 7
            | (self.of() as u32) << 11
    }

    /// Encode arbitrary flags (the arithmetic bits of `v`; others ignored).
    #[inline]
    pub fn set(&mut self, v: u32) {
        let cf = v & fl::CF != 0;
        let of = v & fl::OF != 0;
        // A non-zero result whose sign bit and low byte are clear, so that
        // SF and PF come only from the deltas.
        self.result = if v & fl::ZF != 0 { 0 } else { 1 << 8 };
        self.aux = ((cf as u32) << 31)
            | (((cf ^ of) as u32) << 30)
            | (v & fl::AF) >> 1 // AF is bit 4 of EFLAGS, bit 3 here
            | (((v & fl::PF) == 0) as u32) << PDB_SHIFT
            | ((v & fl::SF) != 0) as u32;
    }

    /// Replace only the flags in `mask` with those of `v`.
    #[inline]
    pub fn set_masked(&mut self, v: u32, mask: u32) {
        let cur = self.get();
        self.set((cur & !mask) | (v & mask));
    }

    #[inline]
    pub fn set_cf(&mut self, cf: bool) {
        let of = self.of();
        self.aux = (self.aux & !(CF_BIT | PO_BIT)) | ((cf as u32) << 31) | (((cf ^ of) as u32) << 30);
    }

    /// Flags of a logic operation (CF = OF = AF = 0).
    #[inline]
    pub fn logic<W: Width>(&mut self, res: u32) {
        self.result = W::sext(res);
        self.aux = 0;
    }

    /// Flags of `a + b (+ carry)`, where `res` is the truncated sum.
    #[inline]
    pub fn add<W: Width>(&mut self, a: u32, b: u32, res: u32) {
        let cout = (a & b) | ((a | b) & !res);
        self.result = W::sext(res);
        self.aux = aux_from_carries::<W>(cout);
    }

    /// Flags of `a - b (- borrow)`, where `res` is the truncated difference.
    #[inline]
    pub fn sub<W: Width>(&mut self, a: u32, b: u32, res: u32) {
        let bout = (!a & b) | ((!a | b) & res);
        self.result = W::sext(res);
        self.aux = aux_from_carries::<W>(bout);
    }

    /// INC/DEC: like ADD/SUB of 1 but CF keeps its old value.
    #[inline]
    pub fn incdec<W: Width>(&mut self, a: u32, res: u32, dec: bool) {
        let cf = self.cf();
        if dec {
            self.sub::<W>(a, 1, res);
        } else {
            self.add::<W>(a, 1, res);
        }
        let of = self.of();
        self.aux = (self.aux & !(CF_BIT | PO_BIT)) | ((cf as u32) << 31) | (((cf ^ of) as u32) << 30);
    }

    /// Flags given individually, with ZF/SF/PF taken from `res` (shifts,
    /// multiplies and the like).
    #[inline]
    pub fn from_result<W: Width>(&mut self, res: u32, cf: bool, of: bool, af: bool) {
        self.result = W::sext(res);
        self.aux = ((cf as u32) << 31) | (((cf ^ of) as u32) << 30) | ((af as u32) << 3);
    }
}

impl LazyFlags {
    /// Evaluate condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc).
    #[inline(always)]
    pub fn cond(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r ^ (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct_add8(a: u32, b: u32, c: u32) -> u32 {
        let r = (a + b + c) & 0xFF;
        let mut f = 0;
        if a + b + c > 0xFF {
            f |= fl::CF;
        }
        if r == 0 {
            f |= fl::ZF;
        }
        if r & 0x80 != 0 {
            f |= fl::SF;
        }
        if (r as u8).count_ones().is_multiple_of(2) {
            f |= fl::PF;
        }
        if ((a & 0xF) + (b & 0xF) + c) > 0xF {
            f |= fl::AF;
        }
        if ((a ^ r) & (b ^ r) & 0x80) != 0 {
            f |= fl::OF;
        }
        f
    }

    fn direct_sub8(a: u32, b: u32, c: u32) -> u32 {
        let r = a.wrapping_sub(b).wrapping_sub(c) & 0xFF;
        let mut f = 0;
        if b + c > a {
            f |= fl::CF;
        }
        if r == 0 {
            f |= fl::ZF;
        }
        if r & 0x80 != 0 {
            f |= fl::SF;
        }
        if (r as u8).count_ones().is_multiple_of(2) {
            f |= fl::PF;
        }
        if (b & 0xF) + c > (a & 0xF) {
            f |= fl::AF;
        }
        if ((a ^ b) & (a ^ r) & 0x80) != 0 {
            f |= fl::OF;
        }
        f
    }

    #[test]
    fn exhaustive_8bit_add_sub_with_carry() {
        let mut lf = LazyFlags::default();
        for a in 0..256 {
            for b in 0..256 {
                for c in 0..2 {
                    lf.add::<W8>(a, b, (a + b + c) & 0xFF);
                    assert_eq!(lf.get(), direct_add8(a, b, c), "add {a} {b} {c}");
                    lf.sub::<W8>(a, b, a.wrapping_sub(b).wrapping_sub(c) & 0xFF);
                    assert_eq!(lf.get(), direct_sub8(a, b, c), "sub {a} {b} {c}");
                }
            }
        }
    }

    #[test]
    fn set_get_roundtrip_all_combinations() {
        let mut lf = LazyFlags::default();
        for bits in 0..64u32 {
            let v = [fl::CF, fl::PF, fl::AF, fl::ZF, fl::SF, fl::OF]
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(0, |acc, (_, f)| acc | f);
            lf.set(v | 0xFFFF_0000);
            assert_eq!(lf.get(), v);
            lf.set_cf(true);
            assert_eq!(lf.get(), v | fl::CF);
            lf.set_cf(false);
            assert_eq!(lf.get(), v & !fl::CF);
        }
        assert_eq!(LazyFlags::default().get(), 0);
    }

    #[test]
    fn incdec_keeps_cf() {
        let mut lf = LazyFlags::default();
        lf.set(fl::CF);
        lf.incdec::<W16>(0x7FFF, 0x8000, false);
        assert_eq!(lf.get(), fl::CF | fl::OF | fl::SF | fl::AF | fl::PF);
        lf.set(0);
        lf.incdec::<W32>(0, 0xFFFF_FFFF, true);
        assert_eq!(lf.get(), fl::SF | fl::AF | fl::PF);
    }
}
