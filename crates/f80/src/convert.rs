//! Conversions between the register format and the x87's memory formats:
//! integers (FILD/FIST/FISTTP), single/double (FLD/FST m32/m64) and packed
//! BCD (FBLD/FBSTP).

use crate::arith::{i64_to_f80, int_to_f80};
use crate::round::{Delivered, Fmt, round_at};
use crate::{Class, Ctx, Exceptions, F80, Rounding};

/// A 10-byte packed BCD integer (`m80bcd`): bytes 0..=8 hold 18 digits, two
/// per byte, least significant first (low nibble first); bit 7 of byte 9 is
/// the sign, bits 6..0 of byte 9 are ignored on load and written as 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Bcd(pub [u8; 10]);

impl Bcd {
    /// The "packed BCD integer indefinite" a masked invalid FBSTP stores.
    pub const INDEFINITE: Bcd = Bcd([0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF]);
}

/// The largest magnitude FBSTP can store.
const BCD_MAX: u128 = 999_999_999_999_999_999;

impl F80 {
    /// FILD m16: exact.
    pub fn from_i16(v: i16) -> F80 {
        i64_to_f80(v as i64)
    }
    /// FILD m32: exact.
    pub fn from_i32(v: i32) -> F80 {
        i64_to_f80(v as i64)
    }
    /// FILD m64: exact.
    pub fn from_i64(v: i64) -> F80 {
        i64_to_f80(v)
    }
}

impl Ctx {
    /// FIST/FISTP m16: rounds per RC. Out of range, NaN, infinity or an
    /// unsupported encoding is an invalid operation whose masked response
    /// is the integer indefinite (0x8000).
    pub fn to_i16(&mut self, a: F80) -> Option<i16> {
        self.begin();
        self.int_store(a, 16, false).map(|v| v as i16)
    }
    /// FIST/FISTP m32 (integer indefinite 0x8000_0000).
    pub fn to_i32(&mut self, a: F80) -> Option<i32> {
        self.begin();
        self.int_store(a, 32, false).map(|v| v as i32)
    }
    /// FISTP m64 (integer indefinite 0x8000_0000_0000_0000).
    pub fn to_i64(&mut self, a: F80) -> Option<i64> {
        self.begin();
        self.int_store(a, 64, false)
    }
    /// FISTTP m16: like [`Ctx::to_i16`] but always truncating (SSE3).
    pub fn to_i16_trunc(&mut self, a: F80) -> Option<i16> {
        self.begin();
        self.int_store(a, 16, true).map(|v| v as i16)
    }
    /// FISTTP m32.
    pub fn to_i32_trunc(&mut self, a: F80) -> Option<i32> {
        self.begin();
        self.int_store(a, 32, true).map(|v| v as i32)
    }
    /// FISTTP m64.
    pub fn to_i64_trunc(&mut self, a: F80) -> Option<i64> {
        self.begin();
        self.int_store(a, 64, true)
    }

    fn int_store(&mut self, a: F80, bits: u32, trunc: bool) -> Option<i64> {
        let indefinite = i64::MIN >> (64 - bits);
        let rc = if trunc { Rounding::Zero } else { self.rc };
        let (k, inexact, up) = match self.round_to_integer(a, rc) {
            Ok(v) => v,
            Err(()) => return self.invalid(indefinite),
        };
        // `None`: unmasked denormal operand, nothing stored.
        let k = k?;
        let sign = a.sign();
        let limit = if sign { 1u128 << (bits - 1) } else { (1u128 << (bits - 1)) - 1 };
        if k > limit {
            return self.invalid(indefinite);
        }
        if inexact {
            self.raise(Exceptions::PE);
        }
        self.c1 = up;
        Some(if sign { (k as i128).wrapping_neg() as i64 } else { k as i64 })
    }

    /// Rounds `a` to an integer magnitude. `Err` for operands that can never
    /// convert (NaN, infinity, unsupported, magnitude >= 2^64);
    /// `Ok((None, ..))` for an unmasked denormal operand.
    fn round_to_integer(&mut self, a: F80, rc: Rounding) -> Result<(Option<u128>, bool, bool), ()> {
        let c = a.class();
        match c {
            Class::Zero => return Ok((Some(0), false, false)),
            // Storing a denormal register value is not a "denormal
            // operand" event: the host raises no DE for FIST/FISTTP/FBSTP
            // (and Intel lists no #D for them).
            Class::Denormal | Class::PseudoDenormal | Class::Normal => {}
            _ => return Err(()),
        }
        let u = match crate::round::unpack(a) {
            crate::round::Val::Fin(u) => u,
            _ => unreachable!(),
        };
        if u.exp >= 64 {
            return Err(());
        }
        let (k, inexact, up) = round_at((u.sig as u128) << 64, (127 - u.exp) as u32, rc, u.sign);
        Ok((Some(k), inexact, up))
    }

    /// FLD m32: exact widening. A denormal raises DE (and is normalized,
    /// loaded even when DE is unmasked), an SNaN raises IE and is quieted.
    /// `None` when an unmasked IE prevents the load.
    pub fn from_f32_bits(&mut self, bits: u32) -> Option<F80> {
        self.begin();
        self.ieee_load(bits as u64, 8, 23)
    }

    /// FLD m64: exact widening, as [`Ctx::from_f32_bits`].
    pub fn from_f64_bits(&mut self, bits: u64) -> Option<F80> {
        self.begin();
        self.ieee_load(bits, 11, 52)
    }

    fn ieee_load(&mut self, bits: u64, ebits: u32, mbits: u32) -> Option<F80> {
        let sign = (bits >> (ebits + mbits)) & 1 != 0;
        let emax_field = (1u64 << ebits) - 1;
        let e = (bits >> mbits) & emax_field;
        let m = bits & ((1u64 << mbits) - 1);
        let bias = (1i32 << (ebits - 1)) - 1;
        let frac = m << (63 - mbits);
        if e == emax_field {
            if m == 0 {
                return Some(crate::arith::inf(sign));
            }
            let nan = F80::from_parts(sign, 0x7FFF, (1 << 63) | frac);
            if m >> (mbits - 1) == 0 {
                return self.invalid(nan.quieted());
            }
            return Some(nan);
        }
        if e == 0 {
            if m == 0 {
                return Some(crate::arith::zero(sign));
            }
            // DE is raised, but even when it is unmasked the value is
            // loaded (observed on the host; the SDM's "operands unchanged"
            // describes arithmetic instructions).
            self.raise(Exceptions::DE);
            let lz = frac.leading_zeros() as i32;
            let exp = 1 - bias - lz;
            return Some(F80::from_parts(sign, (exp + crate::BIAS) as u16, frac << lz));
        }
        Some(F80::from_parts(sign, (e as i32 - bias + crate::BIAS) as u16, (1 << 63) | frac))
    }

    /// FST m32: rounds to single precision per RC (precision control does
    /// not apply). `None` when nothing is stored (unmasked IE/DE, or
    /// unmasked OE/UE, which leave memory and the stack unchanged).
    pub fn to_f32_bits(&mut self, a: F80) -> Option<u32> {
        self.begin();
        self.ieee_store(a, Fmt::F32, 8, 23).map(|v| v as u32)
    }

    /// FST m64: as [`Ctx::to_f32_bits`], to double precision.
    pub fn to_f64_bits(&mut self, a: F80) -> Option<u64> {
        self.begin();
        self.ieee_store(a, Fmt::F64, 11, 52)
    }

    fn ieee_store(&mut self, a: F80, f: Fmt, ebits: u32, mbits: u32) -> Option<u64> {
        let sign_bit = (a.sign() as u64) << (ebits + mbits);
        let exp_all = ((1u64 << ebits) - 1) << mbits;
        let c = a.class();
        match c {
            _ if c.is_unsupported() => {
                // real indefinite in the destination format
                return self.invalid((1u64 << (ebits + mbits)) | exp_all | (1 << (mbits - 1)));
            }
            Class::SNan | Class::QNan => {
                let payload = ((a.signif << 1) >> (64 - mbits)) | (1 << (mbits - 1));
                let v = sign_bit | exp_all | payload;
                if c == Class::SNan {
                    return self.invalid(v);
                }
                return Some(v);
            }
            Class::Infinity => return Some(sign_bit | exp_all),
            Class::Zero => return Some(sign_bit),
            // No DE for a denormal source of FST m32/m64 either (host
            // behaviour; Intel lists no #D for FST).
            _ => {}
        }
        let u = match crate::round::unpack(a) {
            crate::round::Val::Fin(u) => u,
            _ => unreachable!(),
        };
        let bias = (1i32 << (ebits - 1)) - 1;
        match self.finish_mem(u.sign, u.exp, (u.sig as u128) << 64, f) {
            Delivered::Nothing => None,
            Delivered::Inf => Some(sign_bit | exp_all),
            Delivered::Value(e, sig) => {
                if sig == 0 {
                    return Some(sign_bit);
                }
                let m = (sig >> (128 - f.p)) as u64;
                let mant = m & ((1u64 << mbits) - 1);
                if m >> mbits == 0 {
                    Some(sign_bit | mant)
                } else {
                    Some(sign_bit | (((e + bias) as u64) << mbits) | mant)
                }
            }
        }
    }

    /// FBLD: loads a packed BCD integer exactly. Digits above 9 are not
    /// checked (the result is undefined on hardware); they are weighted as
    /// their binary value.
    pub fn from_bcd(&mut self, b: Bcd) -> F80 {
        self.begin();
        let mut v: u128 = 0;
        for i in (0..9).rev() {
            let hi = (b.0[i] >> 4) as u128;
            let lo = (b.0[i] & 15) as u128;
            v = v * 100 + hi * 10 + lo;
        }
        int_to_f80(b.0[9] & 0x80 != 0, v)
    }

    /// FBSTP: rounds per RC to an integer and stores it as packed BCD.
    /// Magnitudes above 10^18 - 1, NaNs, infinities and unsupported
    /// encodings are invalid (masked response: [`Bcd::INDEFINITE`]).
    pub fn to_bcd(&mut self, a: F80) -> Option<Bcd> {
        self.begin();
        let rc = self.rc;
        let (k, inexact, up) = match self.round_to_integer(a, rc) {
            Ok(v) => v,
            Err(()) => return self.invalid(Bcd::INDEFINITE),
        };
        let mut k = k?;
        if k > BCD_MAX {
            return self.invalid(Bcd::INDEFINITE);
        }
        if inexact {
            self.raise(Exceptions::PE);
        }
        self.c1 = up;
        let mut out = [0u8; 10];
        for byte in out.iter_mut().take(9) {
            let lo = (k % 10) as u8;
            k /= 10;
            let hi = (k % 10) as u8;
            k /= 10;
            *byte = (hi << 4) | lo;
        }
        out[9] = if a.sign() { 0x80 } else { 0 };
        Some(Bcd(out))
    }
}
