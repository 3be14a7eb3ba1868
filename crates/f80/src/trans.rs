//! Transcendental instructions (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1,
//! FYL2X, FYL2XP1) and the constant loads (FLDPI, FLDL2E, ...).
//!
//! Results are computed in [`W`] (128-bit significand) and rounded once to
//! 64 bits per RC; precision control does not apply (it only affects the
//! basic arithmetic). The internal error is far below 2^-100 relative, so
//! results are the correctly rounded value except in vanishingly rare
//! hard-to-round cases; real x87 hardware is only specified to be within one
//! ulp, so the differential tests allow one ulp.
//!
//! Argument reduction for the trigonometric functions follows
//! [`TrigReduction`]: by default the reduction is exact with respect to pi
//! rounded to 66 bits, which is what Intel documents for its x87 and what
//! makes results near multiples of pi/2 agree with hardware.

use crate::arith::{inf, zero};
use crate::round::{Unp, Val, round_at};
use crate::wide::W;
use crate::{Ctx, F80, Rounding, TrigReduction};

const PI: W = W::c(0xc90fdaa22168c234c4c6628b80dc1cd1, 1);
const PI_2: W = W::c(0xc90fdaa22168c234c4c6628b80dc1cd1, 0);
const LN2: W = W::c(0xb17217f7d1cf79abc9e3b39803f2f6af, -1);
const LOG2E: W = W::c(0xb8aa3b295c17f0bbbe87fed0691d3e88, 0);
const LOG2_10: W = W::c(0xd49a784bcd1b8afe492bf6ff4dafdb4c, 1);
const LOG10_2: W = W::c(0x9a209a84fbcff7988f8959ac0b7c9178, -2);
const TWO_OVER_PI: W = W::c(0xa2f9836e4e441529fc2757d1f534ddc0, -1);

/// pi/2 in 64-bit chunks: units 2^-63, 2^-127, 2^-191, 2^-255.
const PI_2_CHUNKS: [u64; 4] = [0xc90fdaa22168c234, 0xc4c6628b80dc1cd1, 0x29024e088a67cc74, 0x020bbea63b139b22];
/// pi rounded to 66 bits (= pi/2 in units of 2^-65), as the x87 uses it.
const PI66: u128 = 0x3_243f_6a88_85a3_08d3;

/// atan(k/16), k = 0..=16.
const ATAN_K16: [W; 17] = [
    W::ZERO,
    W::c(0xffaaddb967ef4e36cb2792dc0e2e0d51, -5),
    W::c(0xfeadd4d5617b6e32c897989f3e888ef7, -4),
    W::c(0xbdcbda5e72d811347b0b4f881c9c7487, -3),
    W::c(0xfadbafc96406eb156dc79ef5f7a217e5, -3),
    W::c(0x9b13b9b83f5e5e69c5abb498d27af328, -2),
    W::c(0xb7b0ca0f26f784738aa32122dcfe4483, -2),
    W::c(0xd327761e611fe5b6427c95e9001e7136, -2),
    W::c(0xed63382b0dda7b456fe445ecbc3a8d03, -2),
    W::c(0x832bf4a6d9867e2a4b6a09cb61a515c0, -1),
    W::c(0x8f005d5ef7f59f9b5c835e1665c43747, -1),
    W::c(0x9a2f80e671bdda204226f8e2204ff3bc, -1),
    W::c(0xa4bc7d1934f7092419a87f2a457dac9e, -1),
    W::c(0xaeac4c38b4d8c08014725e2f3e52070a, -1),
    W::c(0xb8053e2bc2319e73cb2da55210a4443d, -1),
    W::c(0xc0ce85b8ac52664089dd62c46e92fa24, -1),
    W::c(0xc90fdaa22168c234c4c6628b80dc1cd1, -1),
];

/// The constants of FLD1, FLDZ, FLDPI, FLDL2E, FLDL2T, FLDLG2, FLDLN2.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Constant {
    /// FLD1: +1.0
    One,
    /// FLDZ: +0.0
    Zero,
    /// FLDPI: pi
    Pi,
    /// FLDL2E: log2(e)
    L2E,
    /// FLDL2T: log2(10)
    L2T,
    /// FLDLG2: log10(2)
    Lg2,
    /// FLDLN2: ln(2)
    Ln2,
}

/// Result of FSIN and FCOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trig {
    /// The result, or `None` when ST(0) must stay unchanged (unmasked
    /// exception, or `out_of_range`).
    pub value: Option<F80>,
    /// C2: |x| >= 2^63, the operand is left unchanged and nothing is raised.
    pub out_of_range: bool,
}

/// Result of FSINCOS and FPTAN, the two instructions that replace ST(0)
/// and then push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// `(replaces ST(0), then pushed)`: (sine, cosine) for FSINCOS,
    /// (tangent, 1.0) for FPTAN. A NaN result (masked invalid operation,
    /// NaN operand) is both replaced and pushed, as the host does.
    /// `None` when nothing changes (unmasked exception, or `out_of_range`).
    pub value: Option<(F80, F80)>,
    /// C2: |x| >= 2^63, the operand is left unchanged and nothing is raised.
    pub out_of_range: bool,
}

impl Ctx {
    /// FLD1/FLDZ/FLDPI/...: the 66-bit internal constant rounded to 64 bits
    /// per RC. Raises nothing (no PE) and clears C1, as the host does.
    pub fn load_const(&mut self, c: Constant) -> F80 {
        self.begin();
        let w = match c {
            Constant::One => return F80::ONE,
            Constant::Zero => return F80::ZERO,
            Constant::Pi => PI,
            Constant::L2E => LOG2E,
            Constant::L2T => LOG2_10,
            Constant::Lg2 => LOG10_2,
            Constant::Ln2 => LN2,
        };
        // Rounding the exact constant per RC gives what the host returns
        // (and what Bochs documents): none of these constants is within
        // 2^-66 of a rounding tie, so this equals rounding the x87's 66-bit
        // internal constant, except that a 66-bit tie (FLDLG2) rounds up.
        let (k, _, _) = round_at(w.sig, 64, self.rc, false);
        let (sig, exp) = if k >> 64 != 0 { (k >> 1, w.exp + 1) } else { (k, w.exp) };
        F80::from_parts(false, (exp + crate::BIAS) as u16, sig as u64)
    }

    /// Rounds a (non-exact) wide result to the register format.
    fn finish_w(&mut self, w: W) -> F80 {
        if w.is_zero() {
            return zero(w.neg);
        }
        self.finish_reg(w.neg, w.exp, w.inexact_sig(), 64)
    }

    /// Screening shared by the trig instructions: `Err` = final answer.
    fn trig_pre(&mut self, a: F80) -> Result<Option<Unp>, Trig> {
        let done = |value| Trig {
            value,
            out_of_range: false,
        };
        let (v, den) = match self.pre1(a) {
            Ok(v) => v,
            Err(r) => return Err(done(r)),
        };
        match v {
            Val::Inf(_) => Err(done(self.invalid(F80::INDEFINITE))),
            Val::Zero(_) => Ok(None),
            Val::Fin(u) => {
                if u.exp >= 63 {
                    return Err(Trig {
                        value: None,
                        out_of_range: true,
                    });
                }
                if self.denormal_stops(den) {
                    return Err(done(None));
                }
                Ok(Some(u))
            }
        }
    }

    /// FSIN.
    pub fn sin(&mut self, a: F80) -> Trig {
        self.begin();
        let u = match self.trig_pre(a) {
            Ok(Some(u)) => u,
            Ok(None) => return ok(a),
            Err(t) => return t,
        };
        let (s, _) = self.sin_cos_w(u);
        ok(self.finish_w(s))
    }

    /// FCOS.
    pub fn cos(&mut self, a: F80) -> Trig {
        self.begin();
        let u = match self.trig_pre(a) {
            Ok(Some(u)) => u,
            Ok(None) => return ok(F80::ONE),
            Err(t) => return t,
        };
        let (_, c) = self.sin_cos_w(u);
        ok(self.finish_w(c))
    }

    /// FSINCOS.
    pub fn sincos(&mut self, a: F80) -> Pair {
        self.begin();
        let u = match self.trig_pre(a) {
            Ok(Some(u)) => u,
            Ok(None) => {
                return Pair {
                    value: Some((a, F80::ONE)),
                    out_of_range: false,
                };
            }
            Err(t) => {
                return Pair {
                    value: t.value.map(|v| (v, v)),
                    out_of_range: t.out_of_range,
                };
            }
        };
        let (s, c) = self.sin_cos_w(u);
        // Flags and C1 accumulate over both roundings (C1 from the last).
        let sv = self.finish_w(s);
        let cv = self.finish_w(c);
        Pair {
            value: Some((sv, cv)),
            out_of_range: false,
        }
    }

    /// FPTAN: the tangent replaces ST(0), then 1.0 is pushed.
    pub fn ptan(&mut self, a: F80) -> Pair {
        self.begin();
        let u = match self.trig_pre(a) {
            Ok(Some(u)) => u,
            Ok(None) => {
                return Pair {
                    value: Some((a, F80::ONE)),
                    out_of_range: false,
                };
            }
            Err(t) => {
                return Pair {
                    value: t.value.map(|v| (v, v)),
                    out_of_range: t.out_of_range,
                };
            }
        };
        let (s, c) = self.sin_cos_w(u);
        Pair {
            value: Some((self.finish_w(s.div(c)), F80::ONE)),
            out_of_range: false,
        }
    }

    /// sin and cos of a finite non-zero |x| < 2^63 in wide precision.
    fn sin_cos_w(&self, u: Unp) -> (W, W) {
        let (q, r) = reduce(u, self.trig);
        let (s, c) = sin_cos_series(r);
        let (s, c) = match q & 3 {
            0 => (s, c),
            1 => (c, s.neg()),
            2 => (s.neg(), c.neg()),
            _ => (c.neg(), s),
        };
        let s = if u.sign { s.neg() } else { s };
        (s, c)
    }

    /// FPATAN: `atan2(y, x)` where `y` = ST(1) and `x` = ST(0); the result
    /// replaces ST(1) and the stack is popped.
    pub fn patan(&mut self, y: F80, x: F80) -> Option<F80> {
        self.begin();
        let (vy, vx, den) = match self.pre2(y, x) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let sy = y.sign();
        // Special cases (SDM FPATAN table): multiples of pi/4, or zero.
        let pi_mult = |num: u64, den_: u64| PI.mul(W::from_i64(num as i64)).div_u64(den_);
        let res: Option<W> = match (vy, vx) {
            (Val::Zero(_), Val::Zero(sx)) | (Val::Zero(_), Val::Fin(Unp { sign: sx, .. })) | (Val::Zero(_), Val::Inf(sx)) => {
                if self.denormal_stops(den) {
                    return None;
                }
                if sx {
                    Some(PI)
                } else {
                    return Some(zero(sy));
                }
            }
            (Val::Inf(_), Val::Inf(sx)) => Some(if sx { pi_mult(3, 4) } else { pi_mult(1, 4) }),
            (Val::Inf(_), _) | (Val::Fin(_), Val::Zero(_)) => {
                if self.denormal_stops(den) {
                    return None;
                }
                Some(PI_2)
            }
            (Val::Fin(_), Val::Inf(sx)) => {
                if self.denormal_stops(den) {
                    return None;
                }
                if sx {
                    Some(PI)
                } else {
                    return Some(zero(sy));
                }
            }
            (Val::Fin(uy), Val::Fin(ux)) => {
                if self.denormal_stops(den) {
                    return None;
                }
                let ay = W::from_unp(Unp { sign: false, ..uy });
                let ax = W::from_unp(Unp { sign: false, ..ux });
                let mut a = if (uy.exp, uy.sig) <= (ux.exp, ux.sig) {
                    atan_w(ay.div(ax))
                } else {
                    PI_2.sub(atan_w(ax.div(ay)))
                };
                if ux.sign {
                    a = PI.sub(a);
                }
                Some(a)
            }
        };
        let w = res.expect("all cases produce a value");
        let w = if sy { w.neg() } else { w };
        Some(self.finish_w(w))
    }

    /// F2XM1: `2^x - 1`, defined by Intel for -1 <= x <= +1 (outside that
    /// range this computes the mathematical value, which the hardware does
    /// not promise).
    pub fn f2xm1(&mut self, a: F80) -> Option<F80> {
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
            Val::Inf(false) => Some(F80::INFINITY),
            Val::Inf(true) => Some(F80::ONE.chs()),
            Val::Fin(u) => {
                // x = +-1: the host behaves as if its internal 2^x - 1 were
                // just below 1 for x = +1 (so RC down/chop give 1 - ulp),
                // and delivers exactly -0.5 for x = -1, in both cases with
                // PE set.
                if u.exp == 0 && u.sig == 1 << 63 {
                    if u.sign {
                        self.raise(crate::Exceptions::PE);
                        return Some(F80::from_parts(true, 0x3FFE, 1 << 63));
                    }
                    return Some(self.finish_w(W::ONE.step_down()));
                }
                let w = exp2m1_w(u);
                Some(self.finish_w(w))
            }
        }
    }

    /// FYL2X: `y * log2(x)` where `x` = ST(0) and `y` = ST(1); the result
    /// replaces ST(1) and the stack is popped.
    pub fn yl2x(&mut self, x: F80, y: F80) -> Option<F80> {
        self.begin();
        let (vx, vy, den) = match self.pre2(x, y) {
            Ok(v) => v,
            Err(r) => return r,
        };
        // Sign/class of log2(x): x < 0 is invalid (except -0).
        let lg = match vx {
            Val::Zero(_) => Log::NegInf,
            Val::Inf(true) | Val::Fin(Unp { sign: true, .. }) => {
                return self.invalid(F80::INDEFINITE);
            }
            Val::Inf(false) => Log::PosInf,
            Val::Fin(u) => {
                if u.exp == 0 && u.sig == 1 << 63 {
                    Log::Zero
                } else {
                    Log::Fin(u)
                }
            }
        };
        self.times_log(vy, lg, den, log2_w, true)
    }

    /// FYL2XP1: `y * log2(x + 1)` where `x` = ST(0) and `y` = ST(1); defined
    /// by Intel for |x| < 1 - sqrt(2)/2.
    pub fn yl2xp1(&mut self, x: F80, y: F80) -> Option<F80> {
        self.begin();
        let (vx, vy, den) = match self.pre2(x, y) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let lg = match vx {
            Val::Zero(s) => Log::SignedZero(s),
            Val::Inf(false) => Log::PosInf,
            Val::Inf(true) => return self.invalid(F80::INDEFINITE),
            Val::Fin(u) => {
                if u.sign && u.exp >= 0 {
                    // x <= -1: log undefined (outside the documented range)
                    return self.invalid(F80::INDEFINITE);
                }
                Log::Fin(u)
            }
        };
        self.times_log(vy, lg, den, log2p1_w, false)
    }

    /// `y * L` with the x87 product rules for the special values of L.
    fn times_log(&mut self, vy: Val, lg: Log, den: bool, f: fn(Unp) -> W, pow2_exact: bool) -> Option<F80> {
        let (ysign, yclass) = match vy {
            Val::Zero(s) => (s, 0),
            Val::Fin(u) => (u.sign, 1),
            Val::Inf(s) => (s, 2),
        };
        match lg {
            Log::NegInf | Log::PosInf => {
                let lneg = matches!(lg, Log::NegInf);
                if yclass == 0 {
                    return self.invalid(F80::INDEFINITE);
                }
                if yclass == 1 && lneg {
                    // log2(0) = -inf: zero-divide
                    return self.zero_divide(inf(!ysign));
                }
                if self.denormal_stops(den) {
                    return None;
                }
                Some(inf(ysign ^ lneg))
            }
            Log::Zero | Log::SignedZero(_) => {
                let lsign = matches!(lg, Log::SignedZero(true));
                if yclass == 2 {
                    return self.invalid(F80::INDEFINITE);
                }
                if self.denormal_stops(den) {
                    return None;
                }
                Some(zero(ysign ^ lsign))
            }
            Log::Fin(u) => {
                let l = f(u);
                if yclass == 2 {
                    if self.denormal_stops(den) {
                        return None;
                    }
                    return Some(inf(ysign ^ l.neg));
                }
                if yclass == 0 {
                    if self.denormal_stops(den) {
                        return None;
                    }
                    return Some(zero(ysign ^ l.neg));
                }
                if self.denormal_stops(den) {
                    return None;
                }
                let uy = match vy {
                    Val::Fin(u) => u,
                    _ => unreachable!(),
                };
                // Exact case: x a power of two -> log2(x) is an integer.
                if pow2_exact && u.sig == 1 << 63 {
                    let e = F80::from_i64(u.exp as i64);
                    let ue = match crate::round::unpack(e) {
                        Val::Fin(ue) => ue,
                        _ => unreachable!(),
                    };
                    // The host raises PE even though the product is exact
                    // (its log2 is an approximation), and so also UE when
                    // the product is tiny.
                    let r = self.mul_fin(uy, ue, 64);
                    self.raise(crate::Exceptions::PE);
                    if r.exp() == 0 && self.masked(crate::Exceptions::UE) {
                        self.raise(crate::Exceptions::UE);
                    }
                    return Some(r);
                }
                Some(self.finish_w(W::from_unp(uy).mul(l)))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Log {
    NegInf,
    PosInf,
    Zero,
    SignedZero(bool),
    Fin(Unp),
}

fn ok(v: F80) -> Trig {
    Trig {
        value: Some(v),
        out_of_range: false,
    }
}

/// Reduces |x| (finite, < 2^63) modulo pi/2: returns (k mod 4, r) with
/// |x| = k * pi/2 + r, |r| <~ pi/4, r exact to ~190 bits relative to the
/// chosen pi.
fn reduce(u: Unp, mode: TrigReduction) -> (u32, W) {
    let x = W::from_unp(Unp { sign: false, ..u });
    // k = round(|x| * 2/pi)
    let kw = x.mul(TWO_OVER_PI);
    let k: u64 = if kw.exp < -1 {
        0
    } else {
        let (k, _, _) = round_at(kw.sig, (127 - kw.exp) as u32, Rounding::Nearest, false);
        k as u64
    };
    if k == 0 {
        return (0, x);
    }
    let chunks: [u64; 4] = match mode {
        TrigReduction::Exact => PI_2_CHUNKS,
        TrigReduction::Pi66 => [(PI66 >> 2) as u64, ((PI66 & 3) as u64) << 62, 0, 0],
    };
    // 256-bit two's-complement accumulator in units of 2^-191.
    let e = u.exp; // -1..=62
    let m = u.sig as u128;
    let (mut hi, mut lo) = if e >= 0 { (m << e, 0u128) } else { (m >> 1, (m & 1) << 127) };
    let k128 = k as u128;
    let sub = |hi: &mut u128, lo: &mut u128, shi: u128, slo: u128| {
        let (l, b) = lo.overflowing_sub(slo);
        *lo = l;
        *hi = hi.wrapping_sub(shi).wrapping_sub(b as u128);
    };
    sub(&mut hi, &mut lo, k128 * chunks[0] as u128, 0);
    let p2 = k128 * chunks[1] as u128;
    sub(&mut hi, &mut lo, p2 >> 64, p2 << 64);
    sub(&mut hi, &mut lo, 0, k128 * chunks[2] as u128);
    sub(&mut hi, &mut lo, 0, (k128 * chunks[3] as u128) >> 64);
    let neg = hi >> 127 != 0;
    if neg {
        // negate 256-bit
        lo = !lo;
        hi = !hi;
        let (l, c) = lo.overflowing_add(1);
        lo = l;
        hi = hi.wrapping_add(c as u128);
    }
    // bit 255 has weight 2^(255 - 191) = 2^64
    let r = if hi != 0 {
        let lz = hi.leading_zeros();
        let sig = if lz == 0 { hi } else { (hi << lz) | (lo >> (128 - lz)) };
        W {
            neg,
            exp: 64 - lz as i32,
            sig,
        }
    } else {
        W::new(neg, 64 - 128, lo)
    };
    ((k & 3) as u32, r)
}

/// sin(r), cos(r) by Taylor series, |r| <~ 0.8.
fn sin_cos_series(r: W) -> (W, W) {
    let r2 = r.mul(r);
    let mut s = r;
    let mut term = r;
    let mut n = 1u64;
    loop {
        term = term.mul(r2).div_u64((2 * n) * (2 * n + 1)).neg();
        if term.is_zero() || term.exp < s.exp - 140 {
            s = add_tiny(s, term);
            break;
        }
        s = s.add(term);
        n += 1;
    }
    let mut c = W::ONE;
    let mut term = W::ONE;
    let mut n = 1u64;
    loop {
        term = term.mul(r2).div_u64((2 * n - 1) * (2 * n)).neg();
        if term.is_zero() || term.exp < c.exp - 140 {
            c = add_tiny(c, term);
            break;
        }
        c = c.add(term);
        n += 1;
    }
    (s, c)
}

/// Adds a term far below the last bit of `s`: only its sign matters, to
/// move `s` by one unit in the 128th bit so the final rounding sees on
/// which side of `s` the true value lies.
fn add_tiny(s: W, t: W) -> W {
    if t.is_zero() || s.is_zero() || t.neg == s.neg {
        return s; // truncation already leaves s below the true magnitude
    }
    // magnitude decreases: step one unit down
    if s.sig == 1 << 127 {
        W {
            exp: s.exp - 1,
            sig: u128::MAX,
            ..s
        }
    } else {
        W { sig: s.sig - 1, ..s }
    }
}

/// atan(z) for 0 <= z <= 1.
fn atan_w(z: W) -> W {
    if z.is_zero() {
        return z;
    }
    // k = round(16 z)
    let k = if z.exp < -5 {
        0
    } else {
        let (k, _, _) = round_at(z.sig, (127 - (z.exp + 4)) as u32, Rounding::Nearest, false);
        (k as usize).min(16)
    };
    let t = if k == 0 {
        z
    } else {
        let c = W::from_i64(k as i64).scale(-4);
        z.sub(c).div(W::ONE.add(z.mul(c)))
    };
    // atan(t) = t - t^3/3 + t^5/5 ...
    let t2 = t.mul(t);
    let mut sum = t;
    let mut pow = t;
    let mut n = 1u64;
    loop {
        pow = pow.mul(t2).neg();
        let term = pow.div_u64(2 * n + 1);
        if term.is_zero() || term.exp < sum.exp - 140 {
            sum = add_tiny(sum, term);
            break;
        }
        sum = sum.add(term);
        n += 1;
    }
    if k == 0 { sum } else { ATAN_K16[k].add(sum) }
}

/// 2 * atanh(s) = ln((1+s)/(1-s)), |s| <= ~0.18.
fn atanh2_w(s: W) -> W {
    let s2 = s.mul(s);
    let mut sum = s;
    let mut pow = s;
    let mut n = 1u64;
    loop {
        pow = pow.mul(s2);
        let term = pow.div_u64(2 * n + 1);
        if term.is_zero() || term.exp < sum.exp - 140 {
            break;
        }
        sum = sum.add(term);
        n += 1;
    }
    sum.scale(1)
}

/// log2(x) for finite positive x (not a power of two handled here too).
fn log2_w(u: Unp) -> W {
    // x = m * 2^e, m in [1, 2); move m into [sqrt(1/2), sqrt(2)).
    let mut e = u.exp;
    let mut m = W::from_unp(Unp {
        sign: false,
        exp: 0,
        sig: u.sig,
    });
    if u.sig > 0xB504_F333_F9DE_6484 {
        m = m.scale(-1);
        e += 1;
    }
    let s = m.sub(W::ONE).div(m.add(W::ONE));
    let ln = atanh2_w(s);
    W::from_i64(e as i64).add(ln.mul(LOG2E))
}

/// log2(1 + x) for |x| < 1 (x > -1).
fn log2p1_w(u: Unp) -> W {
    let x = W::from_unp(u);
    let onep = W::ONE.add(x);
    // For |x| small use 2 atanh(x / (2 + x)); otherwise the general log.
    if u.exp < -1 {
        let s = x.div(W::ONE.scale(1).add(x));
        atanh2_w(s).mul(LOG2E)
    } else {
        // 1 + x is exact in W (x has 64 bits, |x| >= 1/2)
        let lz = onep.sig.leading_zeros();
        debug_assert_eq!(lz, 0);
        let m = Unp {
            sign: false,
            exp: onep.exp,
            sig: (onep.sig >> 64) as u64,
        };
        if onep.sig as u64 == 0 {
            log2_w(m)
        } else {
            // More than 64 significant bits (x >= 2^63, outside Intel's
            // range): split 1 + x = hi + lo with hi its top 64 bits, so
            // log2(1 + x) = log2(hi) + 2 atanh(lo / (2 hi + lo)) log2(e),
            // where the atanh argument is below 2^-63. (The series on
            // x / (2 + x), whose argument is then within 2^-60 of 1, would
            // need about 2^60 terms.)
            let hi = W::from_unp(m);
            let lo = onep.sub(hi);
            let s = lo.div(hi.scale(1).add(lo));
            log2_w(m).add(atanh2_w(s).mul(LOG2E))
        }
    }
}

/// 2^x - 1 for finite non-zero x.
fn exp2m1_w(u: Unp) -> W {
    let x = W::from_unp(u);
    if u.exp >= 0 {
        // |x| >= 1: 2^x - 1 = 2^n * 2^f - 1 (outside the documented range)
        if u.exp > 14 {
            return if u.sign { W::ONE.neg() } else { W::c(1 << 127, 1 << 20) };
        }
        let n = (u.sig >> (63 - u.exp)) as i64;
        let n = if u.sign { -n } else { n };
        let f = x.sub(W::from_i64(n));
        let p = expm1_series(f.mul(LN2)).add(W::ONE).scale(n as i32);
        return p.sub(W::ONE);
    }
    expm1_series(x.mul(LN2))
}

/// e^t - 1 by Taylor series, |t| <= ~0.7.
fn expm1_series(t: W) -> W {
    let mut sum = t;
    let mut term = t;
    let mut n = 2u64;
    loop {
        term = term.mul(t).div_u64(n);
        if term.is_zero() || term.exp < sum.exp - 140 {
            sum = add_tiny(sum, term);
            break;
        }
        sum = sum.add(term);
        n += 1;
    }
    sum
}
