//! Rounding and packing: the one place where an exact intermediate result
//! becomes a destination value, with the x87's flag rules (tininess detected
//! after rounding with unbounded exponent, C1 = magnitude rounded up, masked
//! and unmasked overflow/underflow responses).

use crate::{Ctx, Exceptions, F80, Rounding, UNMASKED_BIAS_ADJUST};

/// A destination format: significand width and normal exponent range
/// (unbiased exponents of the leading bit).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fmt {
    pub p: u32,
    pub emin: i32,
    pub emax: i32,
}

pub(crate) const EXT_EMIN: i32 = -16382;
pub(crate) const EXT_EMAX: i32 = 16383;

impl Fmt {
    /// The register format with precision `p` (PC keeps the extended range).
    pub(crate) const fn ext(p: u32) -> Fmt {
        Fmt {
            p,
            emin: EXT_EMIN,
            emax: EXT_EMAX,
        }
    }
    pub(crate) const F32: Fmt = Fmt {
        p: 24,
        emin: -126,
        emax: 127,
    };
    pub(crate) const F64: Fmt = Fmt {
        p: 53,
        emin: -1022,
        emax: 1023,
    };
}

/// A finite value unpacked for computation: `sig` normalized (bit 63 set),
/// value = sig * 2^(exp - 63).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unp {
    pub sign: bool,
    pub exp: i32,
    pub sig: u64,
}

/// Operand view used by the arithmetic: what matters for dispatch.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Val {
    Zero(bool),
    Inf(bool),
    Fin(Unp),
}

/// Unpacks a *supported, non-NaN* value. Denormals and pseudo-denormals are
/// normalized (a pseudo-denormal is read with exponent 1, i.e. the same
/// scale as a denormal, which is what the P6+ x87 does).
pub(crate) fn unpack(x: F80) -> Val {
    let sign = x.sign();
    let e = x.exp() as i32;
    if e == 0x7FFF {
        return Val::Inf(sign);
    }
    if x.signif == 0 {
        return Val::Zero(sign);
    }
    if e == 0 {
        let lz = x.signif.leading_zeros() as i32;
        return Val::Fin(Unp {
            sign,
            exp: EXT_EMIN - lz,
            sig: x.signif << lz,
        });
    }
    Val::Fin(Unp {
        sign,
        exp: e - crate::BIAS,
        sig: x.signif,
    })
}

/// Result of rounding an exact value to a format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rounded {
    /// Unbiased exponent of bit 127 of `sig`. For a denormal result it is
    /// `emin` and `sig`'s top bit is clear.
    pub exp: i32,
    /// Rounded significand, left-aligned in 128 bits; 0 for a zero result.
    pub sig: u128,
    pub inexact: bool,
    /// Magnitude increased by rounding.
    pub up: bool,
    /// Tiny after rounding to `p` bits with unbounded exponent.
    pub tiny: bool,
    /// Rounded (unbounded-exponent) result exceeds emax.
    pub overflow: bool,
    /// Exponent / significand rounded with unbounded exponent range (used
    /// for the unmasked underflow response).
    pub unb_exp: i32,
    pub unb_sig: u128,
    pub unb_inexact: bool,
    pub unb_up: bool,
}

/// Rounds `sig >> drop` to an integer under `rc`: returns (kept, inexact,
/// incremented).
pub(crate) fn round_at(sig: u128, drop: u32, rc: Rounding, sign: bool) -> (u128, bool, bool) {
    if drop == 0 {
        return (sig, false, false);
    }
    let (kept, rbit, sticky) = if drop > 128 {
        (0, false, sig != 0)
    } else if drop == 128 {
        (0, sig >> 127 != 0, sig << 1 != 0)
    } else {
        (sig >> drop, (sig >> (drop - 1)) & 1 != 0, sig & ((1u128 << (drop - 1)) - 1) != 0)
    };
    let inexact = rbit || sticky;
    let incr = match rc {
        Rounding::Nearest => rbit && (sticky || kept & 1 != 0),
        Rounding::Zero => false,
        Rounding::Up => inexact && !sign,
        Rounding::Down => inexact && sign,
    };
    (kept + incr as u128, inexact, incr)
}

/// Rounds the exact value `(-1)^sign * sig * 2^(exp - 127)` (sig normalized
/// with bit 127 set, or 0; any sticky information ORed into low bits) to
/// format `f` under `rc`.
pub(crate) fn round(sign: bool, exp: i32, sig: u128, f: Fmt, rc: Rounding) -> Rounded {
    let mut r = Rounded {
        exp,
        sig: 0,
        inexact: false,
        up: false,
        tiny: false,
        overflow: false,
        unb_exp: exp,
        unb_sig: 0,
        unb_inexact: false,
        unb_up: false,
    };
    if sig == 0 {
        return r;
    }
    debug_assert!(sig >> 127 == 1);
    let drop = 128 - f.p;
    let (mut k, inexact, up) = round_at(sig, drop, rc, sign);
    let mut e = exp;
    if k >> f.p != 0 {
        k >>= 1;
        e += 1;
    }
    r.unb_exp = e;
    r.unb_sig = k << drop;
    r.unb_inexact = inexact;
    r.unb_up = up;
    if exp >= f.emin {
        r.exp = e;
        r.sig = k << drop;
        r.inexact = inexact;
        r.up = up;
        r.overflow = e > f.emax;
        return r;
    }
    // Tiny before rounding; tiny after rounding unless rounding to p bits
    // carried the value up to 2^emin.
    r.tiny = e < f.emin;
    let shift = (f.emin - exp) as u32;
    let (k2, inexact2, up2) = round_at(sig, drop.saturating_add(shift).min(200), rc, sign);
    r.exp = f.emin;
    r.sig = k2 << drop;
    r.inexact = inexact2;
    r.up = up2;
    r
}

/// Packs a rounded register-format result (exponent within range).
pub(crate) fn pack_ext(sign: bool, exp: i32, sig: u128) -> F80 {
    if sig == 0 {
        return F80::from_parts(sign, 0, 0);
    }
    let signif = (sig >> 64) as u64;
    let be = if signif >> 63 == 0 { 0 } else { exp + crate::BIAS };
    F80::from_parts(sign, be as u16, signif)
}

/// Largest finite magnitude of `f` as a left-aligned significand.
fn max_sig(f: Fmt) -> u128 {
    (!0u128) << (128 - f.p)
}

/// What the rounding step decided, in a format-neutral way, for the
/// callers that pack into memory formats.
pub(crate) enum Delivered {
    /// A finite/zero value: exponent, left-aligned significand (the sign is
    /// the caller's).
    Value(i32, u128),
    /// Infinity (of the caller's sign).
    Inf,
    /// Nothing is delivered (unmasked OE/UE to a memory destination).
    Nothing,
}

impl Ctx {
    /// Rounds an exact result for a *register* destination with precision
    /// `p`, applying the x87's masked and unmasked overflow/underflow
    /// responses. Always delivers a value (unmasked OE/UE deliver the
    /// bias-adjusted result, as the SDM specifies for register destinations).
    pub(crate) fn finish_reg(&mut self, sign: bool, exp: i32, sig: u128, p: u32) -> F80 {
        let f = Fmt::ext(p);
        let r = round(sign, exp, sig, f, self.rc);
        if r.overflow {
            if self.masked(Exceptions::OE) {
                self.raise(Exceptions::OE | Exceptions::PE);
                return self.overflow_value(sign, f, pack_ext);
            }
            // An unmasked overflow (underflow) whose bias-adjusted exponent
            // still does not fit (only FSCALE gets there) delivers infinity
            // (zero) whatever the rounding mode, as the host does.
            if r.exp - UNMASKED_BIAS_ADJUST > f.emax {
                self.raise(Exceptions::OE | Exceptions::PE);
                self.c1 = true;
                return F80::from(InfMarker(sign));
            }
            self.raise(Exceptions::OE);
            if r.inexact {
                self.raise(Exceptions::PE);
            }
            self.c1 = r.up;
            return pack_ext(sign, wrap_exp(r.exp - UNMASKED_BIAS_ADJUST), r.sig);
        }
        if r.tiny && !self.masked(Exceptions::UE) && r.unb_exp + UNMASKED_BIAS_ADJUST < f.emin {
            self.raise(Exceptions::UE | Exceptions::PE);
            return pack_ext(sign, 0, 0);
        }
        if r.tiny && !self.masked(Exceptions::UE) {
            self.raise(Exceptions::UE);
            if r.unb_inexact {
                self.raise(Exceptions::PE);
            }
            self.c1 = r.unb_up;
            return pack_ext(sign, wrap_exp(r.unb_exp + UNMASKED_BIAS_ADJUST), r.unb_sig);
        }
        if r.inexact || (r.tiny && !self.masked(Exceptions::UE)) {
            if r.tiny {
                self.raise(Exceptions::UE);
            }
            if r.inexact {
                self.raise(Exceptions::PE);
            }
        }
        self.c1 = r.up;
        pack_ext(sign, r.exp, r.sig)
    }

    /// The masked overflow response: infinity or the largest finite value,
    /// by rounding direction (SDM vol. 1 table 4-10).
    fn overflow_value<T>(&mut self, sign: bool, f: Fmt, pack: impl Fn(bool, i32, u128) -> T) -> T
    where
        T: From<InfMarker>,
    {
        let to_inf = match self.rc {
            Rounding::Nearest => true,
            Rounding::Zero => false,
            Rounding::Up => !sign,
            Rounding::Down => sign,
        };
        self.c1 = to_inf;
        if to_inf {
            T::from(InfMarker(sign))
        } else {
            pack(sign, f.emax, max_sig(f))
        }
    }

    /// Rounds an exact result for a *memory* destination of format `f`
    /// (FST m32/m64). Unmasked OE/UE deliver nothing and do not set PE
    /// (SDM vol. 1 8.5.4/8.5.5, AMD APM vol. 1 table 6-21).
    pub(crate) fn finish_mem(&mut self, sign: bool, exp: i32, sig: u128, f: Fmt) -> Delivered {
        let r = round(sign, exp, sig, f, self.rc);
        if r.overflow {
            if self.masked(Exceptions::OE) {
                self.raise(Exceptions::OE | Exceptions::PE);
                return self.overflow_value(sign, f, |_, e, m| Delivered::Value(e, m));
            }
            self.raise(Exceptions::OE);
            return Delivered::Nothing;
        }
        if r.tiny && !self.masked(Exceptions::UE) {
            self.raise(Exceptions::UE);
            return Delivered::Nothing;
        }
        if r.inexact {
            if r.tiny {
                self.raise(Exceptions::UE);
            }
            self.raise(Exceptions::PE);
        }
        self.c1 = r.up;
        Delivered::Value(r.exp, r.sig)
    }
}

/// Keeps a bias-adjusted exponent inside the 15-bit field (only reachable
/// with FSCALE by huge amounts; the SDM does not define that case).
fn wrap_exp(e: i32) -> i32 {
    let be = (e + crate::BIAS).rem_euclid(0x8000);
    be - crate::BIAS
}

/// Helper so `overflow_value` can build an infinity of the caller's type.
pub(crate) struct InfMarker(pub bool);

impl From<InfMarker> for F80 {
    fn from(m: InfMarker) -> F80 {
        if m.0 { F80::NEG_INFINITY } else { F80::INFINITY }
    }
}

impl From<InfMarker> for Delivered {
    fn from(_: InfMarker) -> Delivered {
        Delivered::Inf
    }
}
