//! Comparisons (FCOM/FUCOM/FCOMI/FUCOMI/FTST) and classification (FXAM).

use crate::round::{Val, unpack};
use crate::{Class, Ctx, Exceptions, F80};

/// Outcome of an x87 comparison of `a` (ST(0)) with `b`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum CmpResult {
    /// a > b
    Greater,
    /// a < b
    Less,
    /// a == b (+0 == -0)
    Equal,
    /// at least one NaN / unsupported operand
    Unordered,
}

impl CmpResult {
    /// C3/C2/C0 in status-word positions (C3 = 0x4000, C2 = 0x0400,
    /// C0 = 0x0100) as FCOM/FUCOM/FTST/FICOM set them; C1 is cleared by
    /// those instructions.
    pub fn condition_codes(self) -> u16 {
        match self {
            CmpResult::Greater => 0,
            CmpResult::Less => 0x0100,
            CmpResult::Equal => 0x4000,
            CmpResult::Unordered => 0x4500,
        }
    }

    /// ZF/PF/CF in EFLAGS positions (ZF = 0x40, PF = 0x04, CF = 0x01) as
    /// FCOMI/FUCOMI set them (OF, SF, AF are cleared).
    pub fn eflags(self) -> u32 {
        match self {
            CmpResult::Greater => 0,
            CmpResult::Less => 0x01,
            CmpResult::Equal => 0x40,
            CmpResult::Unordered => 0x45,
        }
    }
}

impl Ctx {
    /// FCOM/FCOMI/FTST/FICOM: ordered compare; any NaN (quiet or not) or
    /// unsupported operand is an invalid operation. `None` when an unmasked
    /// IE means the condition codes are not written.
    pub fn compare(&mut self, a: F80, b: F80) -> Option<CmpResult> {
        self.begin();
        self.cmp_impl(a, b, false)
    }

    /// FUCOM/FUCOMI: unordered compare; only SNaNs and unsupported
    /// encodings are invalid, QNaNs give `Unordered` silently.
    pub fn compare_quiet(&mut self, a: F80, b: F80) -> Option<CmpResult> {
        self.begin();
        self.cmp_impl(a, b, true)
    }

    fn cmp_impl(&mut self, a: F80, b: F80, quiet: bool) -> Option<CmpResult> {
        let (ca, cb) = (a.class(), b.class());
        let bad = |c: Class| c.is_unsupported() || c == Class::SNan || (!quiet && c == Class::QNan);
        if bad(ca) || bad(cb) {
            return self.invalid(CmpResult::Unordered);
        }
        if ca == Class::QNan || cb == Class::QNan {
            return Some(CmpResult::Unordered);
        }
        let den = |c| matches!(c, Class::Denormal | Class::PseudoDenormal);
        if den(ca) || den(cb) {
            // Compares have no destination: an unmasked DE still lets the
            // condition codes be written (host behaviour).
            self.raise(Exceptions::DE);
        }
        Some(order(unpack(a), unpack(b)))
    }
}

/// Total order of two non-NaN values: (rank, magnitude key) comparison.
fn order(a: Val, b: Val) -> CmpResult {
    fn key(v: Val) -> (i8, i32, u64) {
        // signed key: sign * (class rank, exp, sig)
        match v {
            Val::Zero(_) => (0, 0, 0),
            Val::Fin(u) => (1, u.exp, u.sig),
            Val::Inf(_) => (2, 0, 0),
        }
    }
    let sign = |v: Val| match v {
        Val::Zero(_) => 0i8,
        Val::Inf(s) => {
            if s {
                -1
            } else {
                1
            }
        }
        Val::Fin(u) => {
            if u.sign {
                -1
            } else {
                1
            }
        }
    };
    let (sa, sb) = (sign(a), sign(b));
    let ord = if sa != sb {
        sa.cmp(&sb)
    } else {
        let o = key(a).cmp(&key(b));
        if sa < 0 { o.reverse() } else { o }
    };
    match ord {
        core::cmp::Ordering::Less => CmpResult::Less,
        core::cmp::Ordering::Equal => CmpResult::Equal,
        core::cmp::Ordering::Greater => CmpResult::Greater,
    }
}

/// The class FXAM reports (C3, C2, C0), with the sign going to C1.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum FxamClass {
    /// 000: unnormal, pseudo-NaN, pseudo-infinity.
    Unsupported,
    /// 001
    Nan,
    /// 010
    Normal,
    /// 011
    Infinity,
    /// 100
    Zero,
    /// 101: the register is tagged empty (the caller knows the tag word;
    /// [`F80::fxam`] never returns this).
    Empty,
    /// 110: denormal, and pseudo-denormal.
    Denormal,
}

impl FxamClass {
    /// C3/C2/C1/C0 status-word bits for this class and sign.
    pub fn condition_codes(self, sign: bool) -> u16 {
        let (c3, c2, c0) = match self {
            FxamClass::Unsupported => (0, 0, 0),
            FxamClass::Nan => (0, 0, 1),
            FxamClass::Normal => (0, 1, 0),
            FxamClass::Infinity => (0, 1, 1),
            FxamClass::Zero => (1, 0, 0),
            FxamClass::Empty => (1, 0, 1),
            FxamClass::Denormal => (1, 1, 0),
        };
        (c3 << 14) | (c2 << 10) | ((sign as u16) << 9) | (c0 << 8)
    }
}

impl F80 {
    /// FXAM classification of a non-empty register. Never raises anything.
    pub fn fxam(self) -> FxamClass {
        match self.class() {
            Class::Zero => FxamClass::Zero,
            Class::Denormal | Class::PseudoDenormal => FxamClass::Denormal,
            Class::Normal => FxamClass::Normal,
            Class::Infinity => FxamClass::Infinity,
            Class::SNan | Class::QNan => FxamClass::Nan,
            Class::Unnormal | Class::PseudoNan | Class::PseudoInfinity => FxamClass::Unsupported,
        }
    }
}
