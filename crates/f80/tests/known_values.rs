//! Hand-checked values that do not need an x87 host: documented x87
//! behaviour (SDM vol. 1 ch. 4 and 8) pinned down as examples.

use f80::{Bcd, Class, CmpResult, Constant, Ctx, Exceptions, F80, FxamClass, Precision, Rounding};

fn f(sign: bool, exp: u16, signif: u64) -> F80 {
    F80::from_parts(sign, exp, signif)
}

#[test]
fn classification() {
    assert_eq!(F80::ZERO.class(), Class::Zero);
    assert_eq!(f(false, 0, 1).class(), Class::Denormal);
    assert_eq!(f(false, 0, 1 << 63).class(), Class::PseudoDenormal);
    assert_eq!(f(false, 5, 1 << 62).class(), Class::Unnormal);
    assert_eq!(f(false, 0x7FFF, 0).class(), Class::PseudoInfinity);
    assert_eq!(f(false, 0x7FFF, 1).class(), Class::PseudoNan);
    assert_eq!(F80::INFINITY.class(), Class::Infinity);
    assert_eq!(f(false, 0x7FFF, (1 << 63) | 1).class(), Class::SNan);
    assert_eq!(F80::INDEFINITE.class(), Class::QNan);
    assert_eq!(f(true, 0, 3).fxam(), FxamClass::Denormal);
    assert_eq!(FxamClass::Zero.condition_codes(true), 0x4200);
}

#[test]
fn control_word_round_trip() {
    let c = Ctx::from_control_word(0x0E62);
    assert_eq!(c.rc, Rounding::Zero);
    assert_eq!(c.pc, Precision::P53);
    assert_eq!(c.masks, Exceptions(0x22));
    assert_eq!(c.control_word(), 0x0E62);
    assert_eq!(Ctx::new().control_word(), 0x037F);
}

#[test]
fn precision_control_keeps_extended_range() {
    // 1 + 2^-30 at PC=24 rounds to 1 (inexact), but 2^-16000 * 2^-100 at
    // PC=24 stays normal: PC narrows the significand, not the exponent.
    let mut c = Ctx::from_control_word(0x007F);
    let one = F80::ONE;
    let tiny = f(false, 0x3FFF - 30, 1 << 63);
    assert_eq!(c.add(one, tiny), Some(one));
    assert!(c.flags.contains(Exceptions::PE));
    assert!(!c.c1);
    let a = f(false, 0x3FFF - 16000, 1 << 63);
    let b = f(false, 0x3FFF - 100, 1 << 63);
    let mut c = Ctx::from_control_word(0x007F);
    assert_eq!(c.mul(a, b), Some(f(false, 0x3FFF - 16100, 1 << 63)));
    assert_eq!(c.flags, Exceptions::NONE);
}

#[test]
fn invalid_gives_real_indefinite_or_nothing() {
    let mut c = Ctx::new();
    assert_eq!(c.sub(F80::INFINITY, F80::INFINITY), Some(F80::INDEFINITE));
    assert_eq!(c.flags, Exceptions::IE);
    // unmasked: the destination is left alone
    let mut c = Ctx::from_control_word(0x037E);
    assert_eq!(c.sqrt(F80::ONE.chs()), None);
    assert!(c.error_summary());
    // unsupported encodings are invalid operands
    let mut c = Ctx::new();
    assert_eq!(c.add(f(false, 0x3FFF, 1), F80::ONE), Some(F80::INDEFINITE));
}

#[test]
fn nan_selection() {
    let s1 = f(false, 0x7FFF, (1 << 63) | 5);
    let q2 = f(true, 0x7FFF, (3 << 62) | 1);
    let q3 = f(false, 0x7FFF, (3 << 62) | 9);
    let mut c = Ctx::new();
    // QNaN beats SNaN; larger significand wins among equals
    assert_eq!(c.add(s1, q2), Some(q2));
    assert_eq!(c.flags, Exceptions::IE);
    assert_eq!(c.mul(q2, q3), Some(q3));
    assert_eq!(c.div(s1, F80::ONE), Some(s1.quieted()));
}

#[test]
fn unmasked_overflow_is_bias_adjusted() {
    let big = f(false, 0x7FFE, 1 << 63);
    let mut c = Ctx::from_control_word(0x0377); // OM clear
    let r = c.mul(big, big).unwrap();
    // 2^16383 * 2^16383 = 2^32766, delivered as 2^(32766 - 24576)
    assert_eq!(r, f(false, (32766 - 24576 + 0x3FFF) as u16, 1 << 63));
    assert!(c.flags.contains(Exceptions::OE));
    // to memory nothing is stored
    let mut c = Ctx::from_control_word(0x0377);
    assert_eq!(c.to_f32_bits(big), None);
    // masked: infinity (nearest) / largest finite (chop)
    let mut c = Ctx::from_control_word(0x0F7F);
    assert_eq!(c.mul(big, big), Some(f(false, 0x7FFE, u64::MAX)));
}

#[test]
fn conversions() {
    let mut c = Ctx::new();
    assert_eq!(c.to_i16(F80::from_i32(40000)), Some(i16::MIN));
    assert!(c.flags.contains(Exceptions::IE));
    let half = f(false, 0x3FFE, 1 << 63);
    let mut c = Ctx::new();
    let one_half = c.add(F80::ONE, half).unwrap();
    assert_eq!(c.to_i32(one_half), Some(2)); // 1.5 -> 2 (ties to even)
    assert!(c.c1);
    assert_eq!(c.to_i32_trunc(F80::from_i32(-7).with_sign(true)), Some(-7));
    assert_eq!(c.from_f64_bits(0x3FF8_0000_0000_0000), Some(one_half));
    assert_eq!(c.to_f32_bits(F80::ONE), Some(0x3F80_0000));
    let bcd = c.to_bcd(F80::from_i64(-1234)).unwrap();
    assert_eq!(bcd.0[..2], [0x34, 0x12]);
    assert_eq!(bcd.0[9], 0x80);
    assert_eq!(c.from_bcd(bcd), F80::from_i64(-1234));
    assert_eq!(c.to_bcd(F80::INFINITY), Some(Bcd::INDEFINITE));
}

#[test]
fn remainder_and_compare() {
    let mut c = Ctx::new();
    let r = c.prem(F80::from_i32(17), F80::from_i32(5));
    assert_eq!(r.value, Some(F80::from_i32(2)));
    assert_eq!(r.quotient, 3);
    assert_eq!(r.condition_codes(), 0x4200); // C3 = Q1, C1 = Q0
    let r = c.prem1(F80::from_i32(18), F80::from_i32(5));
    assert_eq!(r.value, Some(F80::from_i32(-2)));
    assert_eq!(r.quotient, 4);
    assert_eq!(c.compare(F80::ZERO, F80::ZERO.chs()), Some(CmpResult::Equal));
    assert_eq!(c.compare_quiet(F80::INDEFINITE, F80::ONE), Some(CmpResult::Unordered));
    assert!(!c.flags.contains(Exceptions::IE));
    assert_eq!(c.compare(F80::INDEFINITE, F80::ONE), Some(CmpResult::Unordered));
    assert!(c.flags.contains(Exceptions::IE));
}

#[test]
fn constants_follow_rounding_control() {
    let mut c = Ctx::new();
    assert_eq!(c.load_const(Constant::Pi), f(false, 0x4000, 0xC90F_DAA2_2168_C235));
    c.rc = Rounding::Down;
    assert_eq!(c.load_const(Constant::Pi), f(false, 0x4000, 0xC90F_DAA2_2168_C234));
    assert_eq!(c.flags, Exceptions::NONE);
}

#[test]
fn trig_range_and_values() {
    let mut c = Ctx::new();
    let huge = f(false, 0x3FFF + 63, 1 << 63);
    let r = c.sin(huge);
    assert!(r.out_of_range && r.value.is_none());
    assert_eq!(c.sin(F80::ZERO.chs()).value, Some(F80::ZERO.chs()));
    // sin(pi rounded up to 64 bits): with the 66-bit pi the reduced
    // argument is exactly 2^-64 (hardware agrees); the true value would be
    // -(pi64 - pi) = -2^-64 * 1.0183...
    let pi64 = f(false, 0x4000, 0xC90F_DAA2_2168_C235);
    assert_eq!(c.sin(pi64).value, Some(f(true, 0x3FFF - 64, 1 << 63)));
    let r = c.ptan(F80::ZERO).value.unwrap();
    assert_eq!(r, (F80::ZERO, F80::ONE));
    // log2(8) * 3 = 9 exactly (the host still flags PE)
    assert_eq!(c.yl2x(F80::from_i32(8), F80::from_i32(3)), Some(F80::from_i32(9)));
}

#[test]
fn yl2xp1_far_outside_its_range_terminates() {
    // x ~ 1.917 * 2^68: 1 + x has more than 64 significant bits. This
    // used to run a series whose argument was within 2^-60 of 1 (an
    // effectively endless loop reachable from guest code).
    let x = f(false, 0x4043, 0xF5A1_DEAA_DB29_552D);
    let mut c = Ctx::new();
    let r = c.yl2xp1(x, F80::ONE).expect("masked");
    // log2(1 + x) = 68.9389...: exponent 6, significand 1.0771...
    assert_eq!(r.exp(), 0x4005);
    assert_eq!(r.signif >> 48, 0x89E1);
}
