//! A small 128-bit-significand float used only inside the transcendental
//! functions. Every operation truncates to 128 bits, so a chain of a few
//! dozen operations keeps ~120 correct bits: far more than the 66 needed to
//! round to the 64-bit significand correctly in all but ~2^-55 of cases.

use crate::round::Unp;

/// value = sig * 2^(exp - 127); `sig` has bit 127 set, or is 0 for zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct W {
    pub neg: bool,
    pub exp: i32,
    pub sig: u128,
}

impl W {
    pub const ZERO: W = W {
        neg: false,
        exp: 0,
        sig: 0,
    };
    pub const ONE: W = W::c(1 << 127, 0);

    /// A positive constant (sig already normalized).
    pub const fn c(sig: u128, exp: i32) -> W {
        W { neg: false, exp, sig }
    }

    /// Normalizes an arbitrary (sign, exponent of bit 127, significand).
    pub fn new(neg: bool, exp: i32, sig: u128) -> W {
        if sig == 0 {
            return W::ZERO;
        }
        let lz = sig.leading_zeros();
        W {
            neg,
            exp: exp - lz as i32,
            sig: sig << lz,
        }
    }

    pub fn from_unp(u: Unp) -> W {
        W {
            neg: u.sign,
            exp: u.exp,
            sig: (u.sig as u128) << 64,
        }
    }

    pub fn from_i64(v: i64) -> W {
        W::new(v < 0, 127, v.unsigned_abs() as u128)
    }

    pub fn is_zero(self) -> bool {
        self.sig == 0
    }

    pub fn neg(self) -> W {
        W { neg: !self.neg, ..self }
    }

    /// Multiplies by 2^n.
    pub fn scale(self, n: i32) -> W {
        if self.is_zero() { self } else { W { exp: self.exp + n, ..self } }
    }

    pub fn add(self, o: W) -> W {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (big, small) = if (self.exp, self.sig) >= (o.exp, o.sig) {
            (self, o)
        } else {
            (o, self)
        };
        let d = (big.exp - small.exp) as u32;
        if d >= 130 {
            // `small` is far below the last bit: only its sign matters. Step
            // one unit down when it reduces the magnitude, so the final
            // rounding (which forces a sticky bit) sees the true value on
            // the correct side.
            if big.neg == small.neg {
                return big;
            }
            return big.step_down();
        }
        // Two guard bits: work with both shifted right by 2 (the big one
        // loses nothing that matters: its 2 low bits go to a separate word).
        let b_hi = big.sig >> 2;
        let b_lo = (big.sig & 3) << 126;
        let (s_hi, s_lo) = shr256(small.sig >> 2, (small.sig & 3) << 126, d);
        if big.neg == small.neg {
            let (lo, c) = b_lo.overflowing_add(s_lo);
            let hi = b_hi + s_hi + c as u128;
            norm256(big.neg, big.exp + 2, hi, lo)
        } else {
            let (lo, b) = b_lo.overflowing_sub(s_lo);
            let hi = b_hi - s_hi - b as u128;
            norm256(big.neg, big.exp + 2, hi, lo)
        }
    }

    /// The magnitude one unit of the 128th bit smaller.
    pub fn step_down(self) -> W {
        if self.sig == 1 << 127 {
            W {
                exp: self.exp - 1,
                sig: u128::MAX,
                ..self
            }
        } else {
            W { sig: self.sig - 1, ..self }
        }
    }

    pub fn sub(self, o: W) -> W {
        self.add(o.neg())
    }

    pub fn mul(self, o: W) -> W {
        if self.is_zero() || o.is_zero() {
            return W::ZERO;
        }
        let (hi, lo) = mul128(self.sig, o.sig);
        norm256(self.neg ^ o.neg, self.exp + o.exp + 1, hi, lo)
    }

    pub fn div(self, o: W) -> W {
        debug_assert!(!o.is_zero());
        if self.is_zero() {
            return W::ZERO;
        }
        // Long division, one quotient bit at a time. `carry` is the 129th
        // bit of the running remainder.
        let d = o.sig;
        let mut exp = self.exp - o.exp;
        let (mut rem, mut carry) = if self.sig >= d {
            (self.sig, false)
        } else {
            exp -= 1;
            (self.sig << 1, true)
        };
        let mut q: u128 = 0;
        for _ in 0..128 {
            q <<= 1;
            if carry || rem >= d {
                rem = rem.wrapping_sub(d);
                q |= 1;
            }
            carry = rem >> 127 != 0;
            rem <<= 1;
        }
        W {
            neg: self.neg ^ o.neg,
            exp,
            sig: q,
        }
    }

    /// Division by a small positive integer.
    pub fn div_u64(self, d: u64) -> W {
        if self.is_zero() {
            return self;
        }
        let d = d as u128;
        let q1 = self.sig / d;
        let r1 = self.sig % d;
        // next 64 bits of quotient
        let q2 = (r1 << 64) / d;
        let lz = q1.leading_zeros();
        let sig = if lz == 0 { q1 } else { (q1 << lz) | (q2 >> (64 - lz.min(64))) };
        W {
            neg: self.neg,
            exp: self.exp - lz as i32,
            sig,
        }
    }

    /// Significand rounded to 128 bits with a sticky bit forced in bit 0,
    /// for handing to the final rounding: the true value is irrational, so
    /// it must never be mistaken for an exact or half-way case.
    pub fn inexact_sig(self) -> u128 {
        self.sig | 1
    }
}

/// 128x128 -> 256-bit product (hi, lo).
pub(crate) fn mul128(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// (hi, lo) >> n, with n < 256, sticky into bit 0 of lo.
fn shr256(hi: u128, lo: u128, n: u32) -> (u128, u128) {
    if n == 0 {
        (hi, lo)
    } else if n < 128 {
        let sticky = lo & ((1u128 << n) - 1) != 0;
        ((hi >> n), (lo >> n) | (hi << (128 - n)) | sticky as u128)
    } else if n == 128 {
        (0, hi | (lo != 0) as u128)
    } else if n < 256 {
        let m = n - 128;
        let sticky = (hi & ((1u128 << m) - 1)) != 0 || lo != 0;
        (0, (hi >> m) | sticky as u128)
    } else {
        (0, (hi != 0 || lo != 0) as u128)
    }
}

/// Normalizes a 256-bit magnitude whose bit 255 has weight 2^exp (so bit
/// 127 of `hi` has weight 2^exp), truncating to 128 bits.
fn norm256(neg: bool, exp: i32, hi: u128, lo: u128) -> W {
    if hi == 0 {
        if lo == 0 {
            return W::ZERO;
        }
        let lz = lo.leading_zeros();
        return W {
            neg,
            exp: exp - 128 - lz as i32,
            sig: lo << lz,
        };
    }
    let lz = hi.leading_zeros();
    let sig = if lz == 0 { hi } else { (hi << lz) | (lo >> (128 - lz)) };
    W {
        neg,
        exp: exp - lz as i32,
        sig,
    }
}
