//! `f80`: a pure-Rust soft-float library for the x87 80-bit extended-precision
//! format, written so that an x87 FPU emulator built on it matches real
//! hardware bit for bit (status-word flags and C1 included).
//!
//! # Why a library of its own
//!
//! The x87 is not an IEEE-754 "binary64 with a wider significand": it has an
//! explicit integer bit (so there are encodings IEEE does not have: unnormals,
//! pseudo-denormals, pseudo-NaNs, pseudo-infinities), a precision-control field
//! that rounds the significand to 24/53 bits *while keeping the 15-bit
//! exponent range*, its own NaN-selection rule, a "C1 = rounded up" bit, and an
//! unmasked-exception response that writes a bias-adjusted result to the
//! register stack. None of that can be reproduced with host `f64` arithmetic,
//! so every result here is computed with integer arithmetic only.
//!
//! # Shape of the API
//!
//! * [`F80`] is the raw 80-bit register/memory value (`signif` with explicit
//!   integer bit, `sign_exp` = sign bit 15 + biased exponent).
//! * [`Ctx`] is the FPU environment an operation runs under: rounding control
//!   ([`Rounding`]), precision control ([`Precision`]), exception masks, the
//!   sticky exception flags ([`Exceptions`]), what the last operation raised,
//!   and the last operation's C1 ("rounded up"). Build it from a control word
//!   with [`Ctx::from_control_word`] and read flags back with
//!   [`Ctx::status_flags`].
//! * Operations are methods on [`Ctx`]. Those whose destination may be left
//!   unchanged by an *unmasked* exception return `Option<_>`: `None` means "do
//!   not write the destination" (unmasked IE/DE/ZE before the operation, or
//!   unmasked OE/UE on a memory destination), exactly what the x87 does before
//!   it raises #MF at the next waiting instruction. `Some` is what the
//!   destination receives, including the bias-adjusted value for an unmasked
//!   OE/UE on a register destination.
//!
//! # Hardware behaviour followed
//!
//! Intel's documented behaviour (SDM vol. 1 ch. 4 and 8) for everything the
//! manual pins down; for the details it leaves open (NaN ties, FPREM's `N`,
//! which operand's denormal flag wins, ...) the behaviour observed on the host
//! used for the differential tests (AMD Zen / EPYC). See `README.md` for the
//! list, the test counts and the remaining known differences.

#![forbid(unsafe_code)]

mod arith;
mod cmp;
mod convert;
mod round;
mod trans;
mod wide;

pub use arith::{Extracted, Remainder};
pub use cmp::{CmpResult, FxamClass};
pub use convert::Bcd;
pub use trans::{Constant, Pair, Trig};

/// One 80-bit x87 value, as held in a data register or the 10-byte memory
/// format (`m80fp`).
///
/// The fields are public because an emulator moves these bits around without
/// interpreting them (FLD/FSTP m80, FXCH, FSAVE images); interpretation goes
/// through [`F80::class`] and the [`Ctx`] operations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct F80 {
    /// The 64-bit significand, including the explicit integer bit (bit 63).
    pub signif: u64,
    /// Bit 15: sign; bits 14..0: exponent biased by 16383.
    pub sign_exp: u16,
}

impl core::fmt::Debug for F80 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "F80({:04x}:{:016x})", self.sign_exp, self.signif)
    }
}

/// Exponent bias of the extended format.
pub const BIAS: i32 = 16383;
/// The bias adjustment the x87 applies to a result delivered to a register
/// with an unmasked overflow (subtracted) or underflow (added): 3 * 2^13.
pub const UNMASKED_BIAS_ADJUST: i32 = 24576;

/// Classification of an 80-bit encoding, as the x87 (P6 and later) sees it.
///
/// The "unsupported" classes (unnormal, pseudo-NaN, pseudo-infinity) are
/// rejected by every arithmetic instruction with an invalid-operation
/// exception, like a signalling NaN but always producing the real indefinite.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Class {
    /// Exponent 0, significand 0.
    Zero,
    /// Exponent 0, integer bit 0, fraction non-zero.
    Denormal,
    /// Exponent 0, integer bit 1: read as if the exponent were 1 (and raises
    /// the denormal-operand exception).
    PseudoDenormal,
    /// Exponent 1..=0x7FFE, integer bit 1.
    Normal,
    /// Exponent 1..=0x7FFE, integer bit 0 (unsupported).
    Unnormal,
    /// Exponent 0x7FFF, integer bit 0, fraction non-zero (unsupported).
    PseudoNan,
    /// Exponent 0x7FFF, integer bit 0, fraction 0 (unsupported).
    PseudoInfinity,
    /// Exponent 0x7FFF, significand 0x8000_0000_0000_0000.
    Infinity,
    /// Exponent 0x7FFF, integer bit 1, quiet bit (62) 0, fraction non-zero.
    SNan,
    /// Exponent 0x7FFF, integer bit 1, quiet bit (62) 1.
    QNan,
}

impl Class {
    /// True for the encodings the P6+ x87 refuses as operands (invalid
    /// operation, result = real indefinite).
    pub fn is_unsupported(self) -> bool {
        matches!(self, Class::Unnormal | Class::PseudoNan | Class::PseudoInfinity)
    }
}

impl F80 {
    /// +0.0
    pub const ZERO: F80 = F80::from_parts(false, 0, 0);
    /// +1.0
    pub const ONE: F80 = F80::from_parts(false, 0x3FFF, 1 << 63);
    /// +infinity
    pub const INFINITY: F80 = F80::from_parts(false, 0x7FFF, 1 << 63);
    /// -infinity
    pub const NEG_INFINITY: F80 = F80::from_parts(true, 0x7FFF, 1 << 63);
    /// The "real indefinite" QNaN every masked invalid operation returns.
    pub const INDEFINITE: F80 = F80::from_parts(true, 0x7FFF, 0xC000_0000_0000_0000);

    /// Builds a value from sign, biased exponent (15 bits) and significand.
    pub const fn from_parts(sign: bool, exp: u16, signif: u64) -> F80 {
        F80 {
            signif,
            sign_exp: ((sign as u16) << 15) | (exp & 0x7FFF),
        }
    }

    /// Reads the 10-byte little-endian memory format (`m80fp`).
    pub fn from_bytes(b: [u8; 10]) -> F80 {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        F80 {
            signif: u64::from_le_bytes(s),
            sign_exp: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    /// Writes the 10-byte little-endian memory format (`m80fp`).
    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.signif.to_le_bytes());
        b[8..].copy_from_slice(&self.sign_exp.to_le_bytes());
        b
    }

    /// The sign bit.
    pub fn sign(self) -> bool {
        self.sign_exp & 0x8000 != 0
    }

    /// The biased exponent field (0..=0x7FFF).
    pub fn exp(self) -> u16 {
        self.sign_exp & 0x7FFF
    }

    /// Same value with the sign bit replaced (FCHS/FABS never raise anything,
    /// not even for SNaNs, so these are plain bit operations).
    pub fn with_sign(self, sign: bool) -> F80 {
        F80 {
            signif: self.signif,
            sign_exp: (self.sign_exp & 0x7FFF) | ((sign as u16) << 15),
        }
    }

    /// FCHS: flip the sign bit, whatever the encoding.
    pub fn chs(self) -> F80 {
        F80 {
            signif: self.signif,
            sign_exp: self.sign_exp ^ 0x8000,
        }
    }

    /// FABS: clear the sign bit, whatever the encoding.
    pub fn abs(self) -> F80 {
        self.with_sign(false)
    }

    /// Classifies the encoding (see [`Class`]).
    pub fn class(self) -> Class {
        let e = self.exp();
        let j = self.signif >> 63 != 0;
        let frac = self.signif << 1;
        match (e, j) {
            (0, _) if self.signif == 0 => Class::Zero,
            (0, false) => Class::Denormal,
            (0, true) => Class::PseudoDenormal,
            (0x7FFF, false) if frac == 0 => Class::PseudoInfinity,
            (0x7FFF, false) => Class::PseudoNan,
            (0x7FFF, true) if frac == 0 => Class::Infinity,
            (0x7FFF, true) if self.signif & (1 << 62) != 0 => Class::QNan,
            (0x7FFF, true) => Class::SNan,
            (_, false) => Class::Unnormal,
            (_, true) => Class::Normal,
        }
    }

    /// True for SNaN and QNaN (not the unsupported pseudo-NaN).
    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::SNan | Class::QNan)
    }

    /// True for a signalling NaN.
    pub fn is_snan(self) -> bool {
        self.class() == Class::SNan
    }

    /// The NaN with its quiet bit set (other bits kept).
    pub fn quieted(self) -> F80 {
        F80 {
            signif: self.signif | (1 << 62),
            sign_exp: self.sign_exp,
        }
    }

    /// True for +0 and -0.
    pub fn is_zero(self) -> bool {
        self.class() == Class::Zero
    }
}

/// x87 rounding control (control word bits 11..10).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub enum Rounding {
    /// 00: round to nearest, ties to even.
    #[default]
    Nearest,
    /// 01: round down, toward -infinity.
    Down,
    /// 10: round up, toward +infinity.
    Up,
    /// 11: round toward zero (chop).
    Zero,
}

impl Rounding {
    /// From the 2-bit RC field.
    pub fn from_bits(bits: u16) -> Rounding {
        match bits & 3 {
            0 => Rounding::Nearest,
            1 => Rounding::Down,
            2 => Rounding::Up,
            _ => Rounding::Zero,
        }
    }

    /// To the 2-bit RC field.
    pub fn bits(self) -> u16 {
        self as u16
    }
}

/// x87 precision control (control word bits 9..8).
///
/// It only affects FADD/FSUB/FMUL/FDIV (and their integer/reverse forms) and
/// FSQRT; the exponent range stays the extended one, which is why a
/// PC=53 result is *not* an IEEE double.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub enum Precision {
    /// 00: 24-bit significand.
    P24,
    /// 10: 53-bit significand.
    P53,
    /// 11 (and the reserved 01, see [`Precision::from_bits`]): 64-bit
    /// significand.
    #[default]
    P64,
}

impl Precision {
    /// From the 2-bit PC field. The reserved value 01 is treated as 64 bits,
    /// as the host (AMD Zen) was verified to do.
    pub fn from_bits(bits: u16) -> Precision {
        match bits & 3 {
            0 => Precision::P24,
            2 => Precision::P53,
            _ => Precision::P64,
        }
    }

    /// To the 2-bit PC field.
    pub fn bits(self) -> u16 {
        match self {
            Precision::P24 => 0,
            Precision::P53 => 2,
            Precision::P64 => 3,
        }
    }

    /// Significand width in bits.
    pub fn width(self) -> u32 {
        match self {
            Precision::P24 => 24,
            Precision::P53 => 53,
            Precision::P64 => 64,
        }
    }
}

/// A set of x87 floating-point exceptions, in status-word / control-word bit
/// positions (so `Exceptions(sw as u8 & 0x3F)` just works).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Exceptions(pub u8);

impl Exceptions {
    /// No exception.
    pub const NONE: Exceptions = Exceptions(0);
    /// Invalid operation.
    pub const IE: Exceptions = Exceptions(0x01);
    /// Denormal operand.
    pub const DE: Exceptions = Exceptions(0x02);
    /// Zero divide.
    pub const ZE: Exceptions = Exceptions(0x04);
    /// Overflow.
    pub const OE: Exceptions = Exceptions(0x08);
    /// Underflow.
    pub const UE: Exceptions = Exceptions(0x10);
    /// Precision (inexact).
    pub const PE: Exceptions = Exceptions(0x20);
    /// All six.
    pub const ALL: Exceptions = Exceptions(0x3F);

    /// True if every exception in `other` is in `self`.
    pub fn contains(self, other: Exceptions) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any exception in `other` is in `self`.
    pub fn intersects(self, other: Exceptions) -> bool {
        self.0 & other.0 != 0
    }

    /// True if empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Exceptions {
    type Output = Exceptions;
    fn bitor(self, rhs: Exceptions) -> Exceptions {
        Exceptions(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Exceptions {
    fn bitor_assign(&mut self, rhs: Exceptions) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for Exceptions {
    type Output = Exceptions;
    fn bitand(self, rhs: Exceptions) -> Exceptions {
        Exceptions(self.0 & rhs.0)
    }
}

impl core::ops::Not for Exceptions {
    type Output = Exceptions;
    fn not(self) -> Exceptions {
        Exceptions(!self.0 & 0x3F)
    }
}

impl core::fmt::Debug for Exceptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names = ["IE", "DE", "ZE", "OE", "UE", "PE"];
        let mut first = true;
        write!(f, "{{")?;
        for (i, n) in names.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    write!(f, "|")?;
                }
                write!(f, "{n}")?;
                first = false;
            }
        }
        write!(f, "}}")
    }
}

/// How FSIN/FCOS/FSINCOS/FPTAN reduce their argument modulo pi/2.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub enum TrigReduction {
    /// Reduce with pi rounded to 66 bits, as Intel documents for its x87 (and
    /// as the host AMD Zen was observed to do): results near multiples of pi
    /// then match hardware rather than the mathematically exact sine.
    #[default]
    Pi66,
    /// Reduce with a 192-bit pi: results are within one ulp of the true
    /// function for every argument below 2^63 (diverges from hardware near
    /// multiples of pi).
    Exact,
}

/// The floating-point environment one x87 operation runs under, and the flags
/// it leaves behind.
///
/// An emulator keeps its control word and status word in its CPU state and
/// builds a `Ctx` around each instruction (or keeps one `Ctx` and syncs it);
/// `Ctx` deliberately holds no register stack.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Ctx {
    /// Rounding control.
    pub rc: Rounding,
    /// Precision control (only FADD/FSUB/FMUL/FDIV/FSQRT honour it).
    pub pc: Precision,
    /// Exceptions that are masked (control word bits 5..0 set).
    pub masks: Exceptions,
    /// Sticky exception flags (status word bits 5..0), accumulated.
    pub flags: Exceptions,
    /// Exceptions raised by the most recent operation only (reset by each
    /// operation). Lets a caller tell, e.g., a masked underflow of *this*
    /// store from an older one.
    pub raised: Exceptions,
    /// C1 as the most recent rounding operation leaves it: `true` when the
    /// result's magnitude was rounded up (x87 "round-up bit"). Operations that
    /// define C1 differently (FPREM, FXAM, compares) return their condition
    /// codes explicitly and leave this `false`.
    pub c1: bool,
    /// Argument reduction used by the trigonometric instructions.
    pub trig: TrigReduction,
}

impl Ctx {
    /// The power-on / FNINIT environment: control word 0x037F (all exceptions
    /// masked, round to nearest, 64-bit precision), no flags.
    pub fn new() -> Ctx {
        Ctx::from_control_word(0x037F)
    }

    /// Builds an environment from an x87 control word (flags start clear).
    pub fn from_control_word(cw: u16) -> Ctx {
        let mut c = Ctx {
            rc: Rounding::Nearest,
            pc: Precision::P64,
            masks: Exceptions::ALL,
            flags: Exceptions::NONE,
            raised: Exceptions::NONE,
            c1: false,
            trig: TrigReduction::Pi66,
        };
        c.set_control_word(cw);
        c
    }

    /// Loads RC, PC and the exception masks from a control word.
    pub fn set_control_word(&mut self, cw: u16) {
        self.masks = Exceptions((cw & 0x3F) as u8);
        self.pc = Precision::from_bits(cw >> 8);
        self.rc = Rounding::from_bits(cw >> 10);
    }

    /// The control word for the current RC, PC and masks (bit 6 reads as 1,
    /// as FNSTCW shows it; the infinity-control bit 12 is not modelled).
    pub fn control_word(&self) -> u16 {
        0x0040 | (self.masks.0 as u16) | (self.pc.bits() << 8) | (self.rc.bits() << 10)
    }

    /// Status-word bits 5..0 (the sticky flags).
    pub fn status_flags(&self) -> u16 {
        self.flags.0 as u16
    }

    /// True when a sticky flag is set whose exception is unmasked: the
    /// status word's ES/B bits, and the condition for #MF (or FERR#) at the
    /// next waiting x87 instruction.
    pub fn error_summary(&self) -> bool {
        self.flags.intersects(!self.masks)
    }

    /// Clears the sticky flags (FCLEX).
    pub fn clear_flags(&mut self) {
        self.flags = Exceptions::NONE;
    }

    /// Starts an operation: forgets what the previous one raised and its C1.
    pub(crate) fn begin(&mut self) {
        self.raised = Exceptions::NONE;
        self.c1 = false;
    }

    /// Records exceptions for the current operation.
    pub(crate) fn raise(&mut self, e: Exceptions) {
        self.raised |= e;
        self.flags |= e;
    }

    pub(crate) fn masked(&self, e: Exceptions) -> bool {
        self.masks.contains(e)
    }

    /// Invalid operation: the masked response is `value` (usually the real
    /// indefinite), the unmasked one leaves the destination alone.
    pub(crate) fn invalid<T>(&mut self, value: T) -> Option<T> {
        self.raise(Exceptions::IE);
        if self.masked(Exceptions::IE) { Some(value) } else { None }
    }
}
