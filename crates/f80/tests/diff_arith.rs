//! Differential tests of the basic arithmetic against the host x87.
//!
//! Each test runs `cases(N)` random cases (edge-case biased operands, every
//! rounding mode and precision control, 20% of cases with a random set of
//! unmasked exceptions) and compares the destination bits, the six
//! exception flags and C1 (or the full condition codes where the
//! instruction defines them) with what the host's FPU produced.

#![cfg(target_arch = "x86_64")]

mod common;
use common::*;
use f80::{Ctx, F80};

const N: u64 = 1_000_000;

struct Report {
    name: &'static str,
    cases: u64,
    bad: u64,
}

impl Report {
    fn new(name: &'static str) -> Report {
        Report { name, cases: 0, bad: 0 }
    }
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        self.cases += 1;
        if !ok {
            self.bad += 1;
            if self.bad <= 12 {
                eprintln!("{} MISMATCH {}", self.name, msg());
            }
        }
    }
    fn finish(self) {
        eprintln!("{}: {} cases, {} mismatches", self.name, self.cases, self.bad);
        assert_eq!(self.bad, 0, "{} had mismatches", self.name);
    }
}

type HwFn = fn(u16, F80, F80, [u8; 16]) -> Hw;

/// Binary (or unary, ignoring b) op whose result replaces ST(0) and whose C1
/// is the round-up bit.
fn run_reg(name: &'static str, seed: u64, hw: HwFn, lib: impl Fn(&mut Ctx, F80, F80) -> Option<F80>) {
    let mut rng = Rng(seed);
    let mut rep = Report::new(name);
    for _ in 0..cases(N) {
        let a = rng.f80();
        let b = rng.related(a);
        let cw = rng.cw(20);
        let h = hw(cw, a, b, [0; 16]);
        let mut ctx = Ctx::from_control_word(cw);
        let r = lib(&mut ctx, a, b).unwrap_or(a);
        let ok = h.st[0] == r && h.flags() == ctx.flags.0 && h.c1() == ctx.c1;
        rep.check(ok, || {
            format!(
                "cw={cw:04x} a={a:?} b={b:?}: hw {:?} sw={:04x} | lib {r:?} flags={:?} c1={}",
                h.st[0], h.sw, ctx.flags, ctx.c1
            )
        });
    }
    rep.finish();
}

#[test]
fn add() {
    run_reg("fadd", 1, fadd, |c, a, b| c.add(a, b));
}
#[test]
fn sub() {
    run_reg("fsub", 2, fsub, |c, a, b| c.sub(a, b));
}
#[test]
fn mul() {
    run_reg("fmul", 3, fmul, |c, a, b| c.mul(a, b));
}
#[test]
fn div() {
    run_reg("fdiv", 4, fdiv, |c, a, b| c.div(a, b));
}
#[test]
fn sqrt() {
    run_reg("fsqrt", 5, fsqrt, |c, a, _| c.sqrt(a));
}
#[test]
fn rndint() {
    run_reg("frndint", 6, frndint, |c, a, _| c.rndint(a));
}
#[test]
fn scale() {
    // second operand: mostly small integers-ish values
    let mut rng = Rng(7);
    let mut rep = Report::new("fscale");
    for _ in 0..cases(N) {
        let a = rng.f80();
        let b = match rng.below(3) {
            0 => rng.f80(),
            1 => F80::from_i64(rng.below(40000) as i64 - 20000),
            _ => {
                let v = F80::from_i64(rng.below(200) as i64 - 100);
                let mut c = Ctx::new();
                c.add(v, F80::from_parts(rng.bool(), 0x3FFE, rng.signif())).unwrap()
            }
        };
        let cw = rng.cw(20);
        let h = fscale(cw, a, b, [0; 16]);
        let mut ctx = Ctx::from_control_word(cw);
        let r = ctx.scale(a, b).unwrap_or(a);
        let ok = h.st[0] == r && h.flags() == ctx.flags.0 && h.c1() == ctx.c1;
        rep.check(ok, || {
            format!(
                "cw={cw:04x} a={a:?} b={b:?}: hw {:?} sw={:04x} | lib {r:?} flags={:?} c1={}",
                h.st[0], h.sw, ctx.flags, ctx.c1
            )
        });
    }
    rep.finish();
}

fn run_rem(name: &'static str, seed: u64, hw: HwFn, ieee: bool) {
    let mut rng = Rng(seed);
    let mut rep = Report::new(name);
    for _ in 0..cases(N) {
        let a = rng.f80();
        let b = if rng.below(4) == 0 {
            let mut b = rng.related(a);
            b.sign_exp = (b.sign_exp & 0x8000) | (a.exp().saturating_sub(rng.below(140) as u16)).max(1);
            b
        } else {
            rng.related(a)
        };
        let cw = rng.cw(20);
        let h = hw(cw, a, b, [0; 16]);
        let mut ctx = Ctx::from_control_word(cw);
        let r = if ieee { ctx.prem1(a, b) } else { ctx.prem(a, b) };
        let v = r.value.unwrap_or(a);
        let cc = r.condition_codes();
        let ok = h.st[0] == v && h.flags() == ctx.flags.0 && h.cc() == cc;
        rep.check(ok, || {
            format!(
                "cw={cw:04x} a={a:?} b={b:?}: hw {:?} sw={:04x} | lib {v:?} flags={:?} cc={cc:04x}",
                h.st[0], h.sw, ctx.flags
            )
        });
    }
    rep.finish();
}

#[test]
fn prem() {
    run_rem("fprem", 8, fprem, false);
}
#[test]
fn prem1() {
    run_rem("fprem1", 9, fprem1, true);
}

#[test]
fn xtract() {
    let mut rng = Rng(10);
    let mut rep = Report::new("fxtract");
    for _ in 0..cases(N) {
        let a = rng.f80();
        let cw = rng.cw(20);
        let h = fxtract(cw, a, F80::ZERO, [0; 16]);
        let mut ctx = Ctx::from_control_word(cw);
        let r = ctx.xtract(a);
        let (s0, s1) = match r {
            Some(x) => (x.significand, x.exponent),
            None => (a, F80::ZERO),
        };
        let ok = h.st[0] == s0 && h.st[1] == s1 && h.flags() == ctx.flags.0 && h.c1() == ctx.c1;
        rep.check(ok, || {
            format!(
                "cw={cw:04x} a={a:?}: hw {:?} {:?} sw={:04x} | lib {s0:?} {s1:?} flags={:?}",
                h.st[0], h.st[1], h.sw, ctx.flags
            )
        });
    }
    rep.finish();
}
