//! The x87/SSE state image: the 512-byte `FXSAVE` area in its 32-bit
//! (non-`REX.W`) format, with accessors for the fields differential tests
//! compare.

use std::fmt;

/// Size of an `FXSAVE` image in bytes.
pub const FX_LEN: usize = 512;

/// x87 control word after `FNINIT`.
pub const FCW_DEFAULT: u16 = 0x037F;

/// MXCSR after reset (all exceptions masked, round to nearest).
pub const MXCSR_DEFAULT: u32 = 0x1F80;

/// A 512-byte `FXSAVE`/`FXRSTOR` image in the 32-bit format
/// (Intel SDM Vol. 1, table 10-2):
///
/// | offset | field |
/// | --- | --- |
/// | 0 | FCW |
/// | 2 | FSW |
/// | 4 | abridged FTW (one bit per *physical* register, 1 = valid) |
/// | 6 | FOP |
/// | 8 | FIP (32 bits) |
/// | 12 | FCS |
/// | 16 | FDP (32 bits) |
/// | 20 | FDS |
/// | 24 | MXCSR |
/// | 28 | MXCSR_MASK |
/// | 32 + 16·i | ST(i) / MM(i), 10 bytes (80-bit extended, little-endian) |
/// | 160 + 16·i | XMM(i) |
///
/// `ST(i)` slots are in *stack* order (slot 0 is the top of stack), while the
/// tag bits are in *physical register* order; see [`FxArea::ftw_full`].
#[derive(Clone, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct FxArea(pub [u8; FX_LEN]);

impl Default for FxArea {
    /// The state after `FNINIT` with MXCSR at its reset value: FCW 0x037F,
    /// every register empty, MXCSR 0x1F80, XMM registers zero.
    fn default() -> Self {
        let mut fx = FxArea([0; FX_LEN]);
        fx.set_fcw(FCW_DEFAULT);
        fx.set_mxcsr(MXCSR_DEFAULT);
        fx
    }
}

impl FxArea {
    /// An all-zero image (not a sensible initial state: FCW 0 unmasks every
    /// x87 exception).
    pub const ZERO: FxArea = FxArea([0; FX_LEN]);

    fn u16_at(&self, off: usize) -> u16 {
        u16::from_le_bytes([self.0[off], self.0[off + 1]])
    }
    fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }
    fn set_u16_at(&mut self, off: usize, v: u16) {
        self.0[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn set_u32_at(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// x87 control word.
    pub fn fcw(&self) -> u16 {
        self.u16_at(0)
    }
    /// Sets the x87 control word.
    pub fn set_fcw(&mut self, v: u16) {
        self.set_u16_at(0, v)
    }
    /// x87 status word (TOP in bits 11..=13).
    pub fn fsw(&self) -> u16 {
        self.u16_at(2)
    }
    /// Sets the x87 status word.
    pub fn set_fsw(&mut self, v: u16) {
        self.set_u16_at(2, v)
    }
    /// Stack top (FSW bits 11..=13).
    pub fn top(&self) -> u8 {
        ((self.fsw() >> 11) & 7) as u8
    }
    /// Abridged tag byte: bit `p` set = physical register `p` is not empty.
    pub fn ftw_abridged(&self) -> u8 {
        self.0[4]
    }
    /// Sets the abridged tag byte.
    pub fn set_ftw_abridged(&mut self, v: u8) {
        self.0[4] = v
    }
    /// Last x87 opcode (11 bits). Unreliable on AMD unless FSW.ES is set.
    pub fn fop(&self) -> u16 {
        self.u16_at(6)
    }
    /// Last x87 instruction pointer. Unreliable on AMD unless FSW.ES is set.
    pub fn fip(&self) -> u32 {
        self.u32_at(8)
    }
    /// Last x87 instruction's code selector (0 on CPUs that deprecate it).
    pub fn fcs(&self) -> u16 {
        self.u16_at(12)
    }
    /// Last x87 data pointer. Unreliable on AMD unless FSW.ES is set.
    pub fn fdp(&self) -> u32 {
        self.u32_at(16)
    }
    /// Last x87 data selector (0 on CPUs that deprecate it).
    pub fn fds(&self) -> u16 {
        self.u16_at(20)
    }
    /// MXCSR.
    pub fn mxcsr(&self) -> u32 {
        self.u32_at(24)
    }
    /// Sets MXCSR (bits outside the CPU's MXCSR_MASK are rejected by
    /// [`crate::Runner::run_batch`] before anything runs).
    pub fn set_mxcsr(&mut self, v: u32) {
        self.set_u32_at(24, v)
    }
    /// MXCSR_MASK as stored by `FXSAVE` (ignored by `FXRSTOR`).
    pub fn mxcsr_mask(&self) -> u32 {
        self.u32_at(28)
    }
    /// The 80-bit contents of `ST(i)` (stack order), little-endian:
    /// bytes 0..8 significand, bytes 8..10 sign and exponent.
    pub fn st(&self, i: usize) -> [u8; 10] {
        let off = 32 + 16 * (i & 7);
        self.0[off..off + 10].try_into().expect("10 bytes")
    }
    /// Sets the raw 80-bit contents of `ST(i)` (stack order). Does not
    /// touch the tag: see [`FxArea::push_raw`] for a consistent push.
    pub fn set_st(&mut self, i: usize, v: [u8; 10]) {
        let off = 32 + 16 * (i & 7);
        self.0[off..off + 10].copy_from_slice(&v);
    }
    /// `ST(i)` as (sign, biased exponent, significand with explicit J bit).
    pub fn st_parts(&self, i: usize) -> (bool, u16, u64) {
        let b = self.st(i);
        let sig = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let se = u16::from_le_bytes([b[8], b[9]]);
        (se & 0x8000 != 0, se & 0x7FFF, sig)
    }
    /// Whether `ST(i)` is tagged non-empty.
    pub fn st_valid(&self, i: usize) -> bool {
        let phys = (usize::from(self.top()) + i) & 7;
        self.ftw_abridged() & (1 << phys) != 0
    }
    /// Pushes a raw 80-bit value as `FLD` would (decrement TOP, store into
    /// the new `ST(0)`, tag it valid). No stack-overflow check.
    pub fn push_raw(&mut self, v: [u8; 10]) {
        let top = (self.top() + 7) & 7;
        // Move the stack-order slots down by one: slot i becomes slot i+1.
        for i in (1..8).rev() {
            let prev = self.st(i - 1);
            self.set_st(i, prev);
        }
        self.set_st(0, v);
        self.set_fsw((self.fsw() & !0x3800) | (u16::from(top) << 11));
        self.set_ftw_abridged(self.ftw_abridged() | (1 << top));
    }
    /// Pushes an `f64` converted exactly to 80-bit extended format.
    pub fn push_f64(&mut self, v: f64) {
        self.push_raw(f64_to_f80(v));
    }
    /// `XMM(i)`, little-endian 16 bytes (only 0..8 matter in 32-bit code).
    pub fn xmm(&self, i: usize) -> [u8; 16] {
        let off = 160 + 16 * (i & 15);
        self.0[off..off + 16].try_into().expect("16 bytes")
    }
    /// Sets `XMM(i)`.
    pub fn set_xmm(&mut self, i: usize, v: [u8; 16]) {
        let off = 160 + 16 * (i & 15);
        self.0[off..off + 16].copy_from_slice(&v);
    }

    /// The full 16-bit x87 tag word (as `FNSTENV`/`FNSAVE` store it),
    /// derived from the abridged tag and the register contents the way the
    /// CPU does: 00 valid, 01 zero, 10 special (NaN, infinity, denormal,
    /// unnormal), 11 empty. Bits `2p+1:2p` describe physical register `p`.
    pub fn ftw_full(&self) -> u16 {
        let top = usize::from(self.top());
        let mut ftw = 0u16;
        for phys in 0..8 {
            let tag = if self.ftw_abridged() & (1 << phys) == 0 {
                3
            } else {
                let (_, exp, sig) = self.st_parts((phys + 8 - top) & 7);
                if exp == 0x7FFF {
                    2
                } else if exp == 0 {
                    if sig == 0 { 1 } else { 2 }
                } else if sig >> 63 == 0 {
                    2
                } else {
                    0
                }
            };
            ftw |= tag << (2 * phys);
        }
        ftw
    }
}

/// Converts an `f64` to the 80-bit extended format (exact; every `f64` is
/// representable). Returns the 10 little-endian bytes.
pub fn f64_to_f80(v: f64) -> [u8; 10] {
    let bits = v.to_bits();
    let sign = ((bits >> 63) as u16) << 15;
    let exp = ((bits >> 52) & 0x7FF) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (e80, sig): (u16, u64) = if exp == 0x7FF {
        // Infinity or NaN: J bit set, fraction shifted up.
        (0x7FFF, (1 << 63) | (frac << 11))
    } else if exp == 0 {
        if frac == 0 {
            (0, 0)
        } else {
            // Denormal double: normalise (extended has a wider exponent).
            let shift = frac.leading_zeros() - 11; // bring the top bit to bit 52
            let m = frac << shift;
            let e = 1 - 1023 - shift as i32 + 16383;
            (e as u16, m << 11)
        }
    } else {
        ((exp - 1023 + 16383) as u16, (1 << 63) | (frac << 11))
    };
    let mut out = [0u8; 10];
    out[0..8].copy_from_slice(&sig.to_le_bytes());
    out[8..10].copy_from_slice(&(sign | e80).to_le_bytes());
    out
}

/// Converts an 80-bit extended value to the nearest `f64` (truncating extra
/// significand bits; for test assertions on simple values only).
pub fn f80_to_f64(b: [u8; 10]) -> f64 {
    let sig = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
    let se = u16::from_le_bytes([b[8], b[9]]);
    let neg = se & 0x8000 != 0;
    let exp = i32::from(se & 0x7FFF);
    let mag = if exp == 0x7FFF {
        if sig << 1 == 0 { f64::INFINITY } else { f64::NAN }
    } else if sig == 0 {
        0.0
    } else {
        // value = (sig / 2^63) * 2^(exp - 16383), the first factor in [0, 2)
        ldexp(sig as f64, exp.max(1) - 16383 - 63)
    };
    if neg { -mag } else { mag }
}

/// `x * 2^k`, scaling in steps that stay within the normal range.
fn ldexp(mut x: f64, mut k: i32) -> f64 {
    let pow2 = |e: i32| f64::from_bits(((e + 1023) as u64) << 52); // e in -1022..=1023
    while k > 1000 {
        x *= pow2(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= pow2(-1000);
        k += 1000;
    }
    x * pow2(k)
}

impl fmt::Debug for FxArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FxArea {{ fcw: {:#06x}, fsw: {:#06x}, ftw: {:#04x}, fop: {:#05x}, fip: {:#010x}, fdp: {:#010x}, mxcsr: {:#010x}",
            self.fcw(),
            self.fsw(),
            self.ftw_abridged(),
            self.fop(),
            self.fip(),
            self.fdp(),
            self.mxcsr()
        )?;
        for i in 0..8 {
            if self.st_valid(i) {
                let b = self.st(i);
                write!(
                    f,
                    ", st{i}: {:04x}_{:016x}",
                    u16::from_le_bytes([b[8], b[9]]),
                    u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"))
                )?;
            }
        }
        for i in 0..8 {
            let x = self.xmm(i);
            if x != [0; 16] {
                write!(f, ", xmm{i}: {:032x}", u128::from_le_bytes(x))?;
            }
        }
        write!(f, " }}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f80_round_trip() {
        for v in [1.0, -2.5, 0.0, 3.0e-310, 1.0e300, f64::INFINITY] {
            assert_eq!(f80_to_f64(f64_to_f80(v)), v, "{v}");
        }
        // 1.0 = exponent 0x3FFF, significand 0x8000_0000_0000_0000
        assert_eq!(f64_to_f80(1.0), [0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x3F]);
    }

    #[test]
    fn push_and_tags() {
        let mut fx = FxArea::default();
        assert_eq!(fx.ftw_full(), 0xFFFF);
        fx.push_f64(1.0);
        fx.push_f64(0.0);
        assert_eq!(fx.top(), 6);
        assert_eq!(f80_to_f64(fx.st(0)), 0.0);
        assert_eq!(f80_to_f64(fx.st(1)), 1.0);
        // physical 7 = 1.0 (valid, 00), physical 6 = 0.0 (zero, 01)
        assert_eq!(fx.ftw_full(), 0x0FFF | (0b01 << 12));
    }
}
