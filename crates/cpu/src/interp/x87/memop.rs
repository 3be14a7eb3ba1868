//! Memory operands of the x87: reading and writing the 2- to 10-byte
//! formats, and the exact widening of m32fp/m64fp *source* operands of
//! arithmetic and compares.
//!
//! A single or double operand of FADD/FCOM/... is widened without
//! rounding and without touching its class: an SNaN stays signalling (so
//! the operation itself raises IE and applies the NaN-selection rule to
//! the original operands), and a denormal becomes a normal extended value
//! with a note that it *was* denormal, because the denormal-operand
//! exception belongs to the operation, which raises it only when nothing
//! makes it invalid or a zero divide first (see `arith::compute`).

use super::super::insn::Insn;
use super::align;
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::flags::{W16, W32};
use crate::mmu::{Shape, StoreTarget};
use f80::F80;

/// Widen an IEEE value of `ebits` exponent and `mbits` fraction bits to
/// the extended format exactly; the flag says the source was denormal.
fn widen(bits: u64, ebits: u32, mbits: u32) -> (F80, bool) {
    let sign = (bits >> (ebits + mbits)) & 1 != 0;
    let emax = (1u64 << ebits) - 1;
    let e = (bits >> mbits) & emax;
    let frac = bits & ((1u64 << mbits) - 1);
    let bias = (1i32 << (ebits - 1)) - 1;
    if e == emax {
        let sig = (1u64 << 63) | (frac << (63 - mbits));
        return (F80::from_parts(sign, 0x7FFF, sig), false);
    }
    if e == 0 {
        if frac == 0 {
            return (F80::from_parts(sign, 0, 0), false);
        }
        let lz = frac.leading_zeros() as i32;
        let exp = f80::BIAS + 63 - lz + 1 - bias - mbits as i32;
        return (F80::from_parts(sign, exp as u16, frac << lz), true);
    }
    let exp = e as i32 - bias + f80::BIAS;
    let sig = (1u64 << 63) | (frac << (63 - mbits));
    (F80::from_parts(sign, exp as u16, sig), false)
}

/// An m32fp source operand, widened exactly.
pub(crate) fn widen_f32(bits: u32) -> (F80, bool) {
    widen(bits as u64, 8, 23)
}

/// An m64fp source operand, widened exactly.
pub(crate) fn widen_f64(bits: u64) -> (F80, bool) {
    widen(bits, 11, 52)
}

impl Ctx<'_> {
    /// The 16-bit memory operand.
    pub(crate) fn read_m16(&mut self, i: &Insn) -> Res<u16> {
        Ok(self.read::<W16>(i.seg(), self.ea(i))? as u16)
    }

    /// The 32-bit memory operand.
    pub(crate) fn read_m32(&mut self, i: &Insn) -> Res<u32> {
        self.read::<W32>(i.seg(), self.ea(i))
    }

    /// The 64-bit memory operand (checked whole, 8-byte alignment).
    pub(crate) fn read_m64(&mut self, i: &Insn) -> Res<u64> {
        let mut b = [0u8; 8];
        self.read_bytes(i.seg(), self.ea(i), &mut b, Shape::aligned(align::M64))?;
        Ok(u64::from_le_bytes(b))
    }

    /// The 80-bit memory operand (m80fp, m80bcd).
    pub(crate) fn read_m80(&mut self, i: &Insn) -> Res<[u8; 10]> {
        let mut b = [0u8; 10];
        self.read_bytes(i.seg(), self.ea(i), &mut b, Shape::aligned(align::M80))?;
        Ok(b)
    }

    /// Check the whole `n`-byte destination of a store before the
    /// instruction computes anything.
    pub(crate) fn x87_store_target(&mut self, i: &Insn, n: u32) -> Res<StoreTarget> {
        let a = match n {
            2 => align::M16,
            4 => align::M32,
            8 => align::M64,
            _ => align::M80,
        };
        self.store_target(i.seg(), self.ea(i), n, Shape::aligned(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_is_exact() {
        // 1.0f32, smallest denormal, SNaN, -inf, -0
        assert_eq!(widen_f32(0x3F80_0000), (F80::ONE, false));
        let (d, den) = widen_f32(1);
        assert!(den);
        assert_eq!(d, F80::from_parts(false, (f80::BIAS - 149) as u16, 1 << 63));
        let (s, _) = widen_f32(0x7F80_0001);
        assert!(s.is_snan());
        assert_eq!(s.signif, (1 << 63) | (1 << 40));
        assert_eq!(widen_f32(0xFF80_0000).0, F80::NEG_INFINITY);
        assert_eq!(widen_f64(1 << 63).0, F80::from_parts(true, 0, 0));
        let (d, den) = widen_f64(1);
        assert!(den);
        assert_eq!(d.exp() as i32, f80::BIAS - 1074);
    }
}
