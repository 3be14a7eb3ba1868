//! Basic arithmetic: FADD/FSUB/FMUL/FDIV/FSQRT (honouring precision control),
//! FPREM/FPREM1, FRNDINT, FSCALE and FXTRACT (always 64-bit precision).

use crate::round::{Unp, Val, unpack};
use crate::{Class, Ctx, Exceptions, F80, Rounding};

/// Result of FPREM / FPREM1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remainder {
    /// The new ST(0), or `None` when an unmasked exception leaves it alone.
    pub value: Option<F80>,
    /// Low three bits of the quotient (Q2 Q1 Q0); meaningful when the
    /// reduction is complete.
    pub quotient: u8,
    /// C2: the reduction is incomplete (exponent difference >= 64); run the
    /// instruction again.
    pub incomplete: bool,
}

impl Remainder {
    /// Condition-code bits of the status word as FPREM/FPREM1 set them
    /// (C0 = Q2, C3 = Q1, C1 = Q0, C2 = incomplete), as a mask over
    /// C0 (0x0100), C1 (0x0200), C2 (0x0400), C3 (0x4000).
    pub fn condition_codes(&self) -> u16 {
        let q = self.quotient;
        let mut cc = 0;
        if q & 4 != 0 {
            cc |= 0x0100;
        }
        if q & 1 != 0 {
            cc |= 0x0200;
        }
        if q & 2 != 0 {
            cc |= 0x4000;
        }
        if self.incomplete {
            cc |= 0x0400;
        }
        cc
    }
}

/// Result of FXTRACT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// The true (unbiased) exponent as a value: it replaces ST(0) and ends
    /// up in ST(1) after the push.
    pub exponent: F80,
    /// The significand with exponent 0 (value in [1, 2)), pushed as ST(0).
    pub significand: F80,
}

/// Shift right, ORing every bit shifted out into bit 0.
pub(crate) fn shr_jam(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n >= 128 {
        (x != 0) as u128
    } else {
        (x >> n) | ((x & ((1u128 << n) - 1)) != 0) as u128
    }
}

/// Picks the NaN an x87 arithmetic instruction returns from two operands of
/// which at least one is a NaN (SDM vol. 1 table 4-7): a QNaN wins over an
/// SNaN, otherwise the larger significand wins, ties go to the positive one.
/// The result is always quiet.
pub(crate) fn pick_nan(a: F80, b: F80) -> F80 {
    let r = match (a.class(), b.class()) {
        (Class::SNan | Class::QNan, Class::SNan | Class::QNan) => {
            let (qa, qb) = (a.class() == Class::QNan, b.class() == Class::QNan);
            if qa != qb {
                if qa { a } else { b }
            } else if a.signif != b.signif {
                if a.signif > b.signif { a } else { b }
            } else if !a.sign() {
                a
            } else {
                b
            }
        }
        (Class::SNan | Class::QNan, _) => a,
        _ => b,
    };
    r.quieted()
}

fn is_denormal_class(c: Class) -> bool {
    matches!(c, Class::Denormal | Class::PseudoDenormal)
}

impl Ctx {
    /// Operand screening for a two-operand instruction, in the x87's order:
    /// unsupported encodings and SNaNs (invalid), NaN propagation, then the
    /// denormal-operand exception. `Err` carries the final answer.
    pub(crate) fn pre2(&mut self, a: F80, b: F80) -> Result<(Val, Val, bool), Option<F80>> {
        let (ca, cb) = (a.class(), b.class());
        if ca.is_unsupported() || cb.is_unsupported() {
            return Err(self.invalid(F80::INDEFINITE));
        }
        let nan = |c| matches!(c, Class::SNan | Class::QNan);
        if nan(ca) || nan(cb) {
            if ca == Class::SNan || cb == Class::SNan {
                return Err(self.invalid(pick_nan(a, b)));
            }
            return Err(Some(pick_nan(a, b)));
        }
        let den = is_denormal_class(ca) || is_denormal_class(cb);
        Ok((unpack(a), unpack(b), den))
    }

    /// Operand screening for a one-operand instruction.
    pub(crate) fn pre1(&mut self, a: F80) -> Result<(Val, bool), Option<F80>> {
        match a.class() {
            c if c.is_unsupported() => Err(self.invalid(F80::INDEFINITE)),
            Class::SNan => Err(self.invalid(a.quieted())),
            Class::QNan => Err(Some(a)),
            c => Ok((unpack(a), is_denormal_class(c))),
        }
    }

    /// Raises the denormal-operand exception if `den`; returns true when it
    /// is unmasked, i.e. the instruction must stop without a result. The x87
    /// checks it only once the operands are known not to make the operation
    /// invalid or a zero-divide (e.g. `sqrt(-denormal)` raises IE alone).
    pub(crate) fn denormal_stops(&mut self, den: bool) -> bool {
        if den {
            self.raise(Exceptions::DE);
            return !self.masked(Exceptions::DE);
        }
        false
    }

    fn pc_bits(&self) -> u32 {
        self.pc.width()
    }

    /// Rounds an exact finite value to a register with precision `p`.
    pub(crate) fn fin(&mut self, u: Unp, p: u32) -> F80 {
        self.finish_reg(u.sign, u.exp, (u.sig as u128) << 64, p)
    }

    /// FADD: `a + b`, rounded per RC and PC.
    pub fn add(&mut self, a: F80, b: F80) -> Option<F80> {
        self.begin();
        self.add_sub(a, b, false)
    }

    /// FSUB: `a - b` (FSUBR is `sub(b, a)`).
    pub fn sub(&mut self, a: F80, b: F80) -> Option<F80> {
        self.begin();
        self.add_sub(a, b, true)
    }

    fn add_sub(&mut self, a: F80, b: F80, negate_b: bool) -> Option<F80> {
        let (va, vb, den) = match self.pre2(a, b) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let vb = match vb {
            Val::Zero(s) => Val::Zero(s ^ negate_b),
            Val::Inf(s) => Val::Inf(s ^ negate_b),
            Val::Fin(u) => Val::Fin(Unp {
                sign: u.sign ^ negate_b,
                ..u
            }),
        };
        let p = self.pc_bits();
        if let (Val::Inf(sa), Val::Inf(sb)) = (va, vb)
            && sa != sb
        {
            return self.invalid(F80::INDEFINITE);
        }
        if self.denormal_stops(den) {
            return None;
        }
        match (va, vb) {
            (Val::Inf(s), _) | (_, Val::Inf(s)) => Some(inf(s)),
            (Val::Zero(sa), Val::Zero(sb)) => Some(zero(if sa == sb { sa } else { self.rc == Rounding::Down })),
            (Val::Zero(_), Val::Fin(u)) | (Val::Fin(u), Val::Zero(_)) => Some(self.fin(u, p)),
            (Val::Fin(x), Val::Fin(y)) => Some(self.add_fin(x, y, p)),
        }
    }

    /// Exact sum of two finite non-zero values, then one rounding.
    pub(crate) fn add_fin(&mut self, x: Unp, y: Unp, p: u32) -> F80 {
        let (big, small) = if (x.exp, x.sig) >= (y.exp, y.sig) { (x, y) } else { (y, x) };
        let d = (big.exp - small.exp) as u32;
        let bs = (big.sig as u128) << 63;
        let ss = shr_jam((small.sig as u128) << 63, d);
        let sum = if big.sign == small.sign { bs + ss } else { bs - ss };
        if sum == 0 {
            return zero(self.rc == Rounding::Down);
        }
        let lz = sum.leading_zeros();
        let exp = big.exp + 1 - lz as i32;
        self.finish_reg(big.sign, exp, sum << lz, p)
    }

    /// FMUL: `a * b`, rounded per RC and PC.
    pub fn mul(&mut self, a: F80, b: F80) -> Option<F80> {
        self.begin();
        let (va, vb, den) = match self.pre2(a, b) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let s = a.sign() ^ b.sign();
        if let (Val::Inf(_), Val::Zero(_)) | (Val::Zero(_), Val::Inf(_)) = (va, vb) {
            return self.invalid(F80::INDEFINITE);
        }
        if self.denormal_stops(den) {
            return None;
        }
        match (va, vb) {
            (Val::Inf(_), Val::Zero(_)) | (Val::Zero(_), Val::Inf(_)) => unreachable!(),
            (Val::Inf(_), _) | (_, Val::Inf(_)) => Some(inf(s)),
            (Val::Zero(_), _) | (_, Val::Zero(_)) => Some(zero(s)),
            (Val::Fin(x), Val::Fin(y)) => {
                let p = self.pc_bits();
                Some(self.mul_fin(x, y, p))
            }
        }
    }

    pub(crate) fn mul_fin(&mut self, x: Unp, y: Unp, p: u32) -> F80 {
        let prod = (x.sig as u128) * (y.sig as u128);
        let s = x.sign ^ y.sign;
        if prod >> 127 == 0 {
            self.finish_reg(s, x.exp + y.exp, prod << 1, p)
        } else {
            self.finish_reg(s, x.exp + y.exp + 1, prod, p)
        }
    }

    /// FDIV: `a / b`, rounded per RC and PC (FDIVR is `div(b, a)`).
    pub fn div(&mut self, a: F80, b: F80) -> Option<F80> {
        self.begin();
        let (va, vb, den) = match self.pre2(a, b) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let s = a.sign() ^ b.sign();
        match (va, vb) {
            (Val::Inf(_), Val::Inf(_)) | (Val::Zero(_), Val::Zero(_)) => {
                return self.invalid(F80::INDEFINITE);
            }
            (Val::Fin(_), Val::Zero(_)) => return self.zero_divide(inf(s)),
            _ => {}
        }
        if self.denormal_stops(den) {
            return None;
        }
        match (va, vb) {
            (Val::Inf(_), Val::Inf(_)) | (Val::Zero(_), Val::Zero(_)) | (Val::Fin(_), Val::Zero(_)) => {
                unreachable!()
            }
            (Val::Inf(_), _) => Some(inf(s)),
            (_, Val::Inf(_)) => Some(zero(s)),
            (Val::Zero(_), _) => Some(zero(s)),
            (Val::Fin(x), Val::Fin(y)) => {
                let p = self.pc_bits();
                let (q, exp) = div_sig(x, y);
                Some(self.finish_reg(s, exp, q, p))
            }
        }
    }

    /// Zero-divide: masked response `value`, unmasked leaves the destination.
    pub(crate) fn zero_divide(&mut self, value: F80) -> Option<F80> {
        self.raise(Exceptions::ZE);
        if self.masked(Exceptions::ZE) { Some(value) } else { None }
    }

    /// FSQRT, rounded per RC and PC.
    pub fn sqrt(&mut self, a: F80) -> Option<F80> {
        self.begin();
        let (v, den) = match self.pre1(a) {
            Ok(v) => v,
            Err(r) => return r,
        };
        if let Val::Inf(true) | Val::Fin(Unp { sign: true, .. }) = v {
            return self.invalid(F80::INDEFINITE);
        }
        if self.denormal_stops(den) {
            return None;
        }
        match v {
            Val::Zero(s) => Some(zero(s)),
            Val::Inf(false) => Some(F80::INFINITY),
            Val::Inf(true) | Val::Fin(Unp { sign: true, .. }) => unreachable!(),
            Val::Fin(u) => {
                let (r, exp) = sqrt_sig(u);
                let p = self.pc_bits();
                Some(self.finish_reg(false, exp, r, p))
            }
        }
    }

    /// FPREM: partial remainder with the quotient truncated toward zero
    /// (the 8087-compatible remainder).
    pub fn prem(&mut self, a: F80, b: F80) -> Remainder {
        self.begin();
        self.rem_common(a, b, false)
    }

    /// FPREM1: IEEE remainder (quotient rounded to nearest even); partial
    /// for exponent differences >= 64 like FPREM.
    pub fn prem1(&mut self, a: F80, b: F80) -> Remainder {
        self.begin();
        self.rem_common(a, b, true)
    }

    fn rem_common(&mut self, a: F80, b: F80, ieee: bool) -> Remainder {
        let done = |value| Remainder {
            value,
            quotient: 0,
            incomplete: false,
        };
        let (va, vb, den) = match self.pre2(a, b) {
            Ok(v) => v,
            Err(r) => return done(r),
        };
        if let (Val::Inf(_), _) | (_, Val::Zero(_)) = (va, vb) {
            return done(self.invalid(F80::INDEFINITE));
        }
        if self.denormal_stops(den) {
            return done(None);
        }
        match (va, vb) {
            (Val::Inf(_), _) | (_, Val::Zero(_)) => unreachable!(),
            (Val::Zero(s), _) => done(Some(zero(s))),
            (Val::Fin(x), Val::Inf(_)) => done(Some(self.fin(x, 64))),
            (Val::Fin(x), Val::Fin(y)) => {
                let d = x.exp - y.exp;
                if d >= 64 {
                    // Partial reduction: bring the exponent difference down
                    // to N in 32..=63, as the host (and Bochs-documented
                    // Intel behaviour) does: N = 32 + (d mod 32).
                    let n = 32 + (d & 31);
                    let a_ = (x.sig as u128) << n;
                    let q = a_ / y.sig as u128;
                    let r = a_ % y.sig as u128;
                    let value = self.rem_value(x.sign, r, x.exp - n);
                    // The host leaves C0/C1/C3 clear on an incomplete
                    // reduction (Intel documents the quotient bits only for
                    // a complete one).
                    let _ = q;
                    return Remainder {
                        value: Some(value),
                        quotient: 0,
                        incomplete: true,
                    };
                }
                if d < -1 || (d == -1 && !ieee) {
                    return done(Some(self.fin(x, 64)));
                }
                // value = A * 2^(y.exp - 63 - 1), divisor B in the same unit.
                let big_a = (x.sig as u128) << (d + 1) as u32;
                let big_b = (y.sig as u128) << 1;
                let mut q = big_a / big_b;
                let mut r = big_a % big_b;
                let mut sign = x.sign;
                if ieee && (2 * r > big_b || (2 * r == big_b && q & 1 == 1)) {
                    q += 1;
                    r = big_b - r;
                    sign = !sign;
                }
                let value = if r == 0 { zero(x.sign) } else { self.rem_value(sign, r, y.exp - 1) };
                Remainder {
                    value: Some(value),
                    quotient: (q & 7) as u8,
                    incomplete: false,
                }
            }
        }
    }

    /// Packs an exact remainder `r * 2^(e - 63)` (may be denormal).
    fn rem_value(&mut self, sign: bool, r: u128, e: i32) -> F80 {
        if r == 0 {
            return zero(sign);
        }
        let lz = r.leading_zeros() as i32;
        // value = r * 2^(e-63); bit 127 of (r << lz) has weight 2^(127-lz+e-63)
        self.finish_reg(sign, e + 64 - lz, r << lz, 64)
    }

    /// FRNDINT: round to an integer per RC (precision control ignored).
    pub fn rndint(&mut self, a: F80) -> Option<F80> {
        self.begin();
        let (v, den) = match self.pre1(a) {
            Ok(v) => v,
            Err(r) => return r,
        };
        if self.denormal_stops(den) {
            return None;
        }
        match v {
            Val::Zero(s) => Some(zero(s)),
            Val::Inf(s) => Some(inf(s)),
            Val::Fin(u) if u.exp >= 63 => Some(self.fin(u, 64)),
            Val::Fin(u) => {
                let drop = (63 - u.exp) as u32;
                let (k, inexact, up) = crate::round::round_at((u.sig as u128) << 64, drop + 64, self.rc, u.sign);
                if inexact {
                    self.raise(Exceptions::PE);
                }
                self.c1 = up;
                Some(int_to_f80(u.sign, k))
            }
        }
    }

    /// FSCALE: `a * 2^trunc(b)`, rounded to 64 bits per RC.
    pub fn scale(&mut self, a: F80, b: F80) -> Option<F80> {
        self.begin();
        let (va, vb, den) = match self.pre2(a, b) {
            Ok(v) => v,
            Err(r) => return r,
        };
        if let (Val::Inf(_), Val::Inf(true)) | (Val::Zero(_), Val::Inf(false)) = (va, vb) {
            return self.invalid(F80::INDEFINITE);
        }
        if self.denormal_stops(den) {
            return None;
        }
        match (va, vb) {
            (Val::Inf(_), Val::Inf(true)) | (Val::Zero(_), Val::Inf(false)) => unreachable!(),
            (Val::Inf(s), _) => Some(inf(s)),
            (Val::Zero(s), _) => Some(zero(s)),
            (Val::Fin(x), Val::Inf(neg)) => Some(if neg { zero(x.sign) } else { inf(x.sign) }),
            (Val::Fin(x), Val::Zero(_)) => Some(self.fin(x, 64)),
            (Val::Fin(x), Val::Fin(y)) => {
                // trunc(b), clamped far beyond any reachable exponent.
                let n: i32 = if y.exp >= 20 {
                    1 << 20
                } else if y.exp < 0 {
                    0
                } else {
                    (y.sig >> (63 - y.exp)) as i32
                };
                let n = if y.sign { -n } else { n };
                Some(self.finish_reg(x.sign, x.exp + n, (x.sig as u128) << 64, 64))
            }
        }
    }

    /// FXTRACT: split into exponent and significand.
    pub fn xtract(&mut self, a: F80) -> Option<Extracted> {
        self.begin();
        let (v, den) = match self.pre1(a) {
            Ok(v) => v,
            Err(None) => return None,
            Err(Some(n)) => {
                return Some(Extracted {
                    exponent: n,
                    significand: n,
                });
            }
        };
        if !matches!(v, Val::Zero(_)) && self.denormal_stops(den) {
            return None;
        }
        match v {
            Val::Zero(s) => {
                self.raise(Exceptions::ZE);
                if !self.masked(Exceptions::ZE) {
                    return None;
                }
                Some(Extracted {
                    exponent: F80::NEG_INFINITY,
                    significand: zero(s),
                })
            }
            Val::Inf(s) => Some(Extracted {
                exponent: F80::INFINITY,
                significand: inf(s),
            }),
            Val::Fin(u) => Some(Extracted {
                exponent: i64_to_f80(u.exp as i64),
                significand: F80::from_parts(u.sign, 0x3FFF, u.sig),
            }),
        }
    }
}

/// Quotient of two normalized significands: 128-bit left-aligned quotient
/// (sticky in bit 0) and the exponent of its bit 127.
pub(crate) fn div_sig(x: Unp, y: Unp) -> (u128, i32) {
    let b = y.sig as u128;
    let (num, exp) = if x.sig >= y.sig {
        ((x.sig as u128) << 63, x.exp - y.exp)
    } else {
        ((x.sig as u128) << 64, x.exp - y.exp - 1)
    };
    let q1 = num / b;
    let r1 = num % b;
    let q2 = (r1 << 64) / b;
    let r2 = (r1 << 64) % b;
    ((q1 << 64) | q2 | (r2 != 0) as u128, exp)
}

/// Square root of a normalized positive value: 128-bit left-aligned root
/// (72 exact bits + sticky) and the exponent of its bit 127.
pub(crate) fn sqrt_sig(u: Unp) -> (u128, i32) {
    // value = M * 2^(2k) with M in [2^126, 2^128)
    let (m, k) = if u.exp & 1 != 0 {
        ((u.sig as u128) << 64, (u.exp - 127) / 2)
    } else {
        ((u.sig as u128) << 63, (u.exp - 126) / 2)
    };
    let mut rem: u128 = 0;
    let mut root: u128 = 0;
    for i in 0..72 {
        let pair = if i < 64 { (m >> (126 - 2 * i)) & 3 } else { 0 };
        rem = (rem << 2) | pair;
        let trial = (root << 2) | 1;
        root <<= 1;
        if rem >= trial {
            rem -= trial;
            root |= 1;
        }
    }
    // root = floor(sqrt(M) * 2^8), bit 71 set; sqrt(value) = root * 2^(k-8)
    ((root << 56) | (rem != 0) as u128, k + 63)
}

pub(crate) fn zero(sign: bool) -> F80 {
    F80::from_parts(sign, 0, 0)
}

pub(crate) fn inf(sign: bool) -> F80 {
    F80::from_parts(sign, 0x7FFF, 1 << 63)
}

/// An exact integer magnitude (< 2^64 * 2, but in practice < 2^64 + 1) as F80.
pub(crate) fn int_to_f80(sign: bool, k: u128) -> F80 {
    if k == 0 {
        return zero(sign);
    }
    let lz = k.leading_zeros();
    let sig = k << lz; // bit 127 set
    let exp = 127 - lz as i32;
    F80::from_parts(sign, (exp + crate::BIAS) as u16, (sig >> 64) as u64)
}

/// Exact conversion of an i64 (FILD).
pub(crate) fn i64_to_f80(v: i64) -> F80 {
    int_to_f80(v < 0, v.unsigned_abs() as u128)
}
