//! Differential tests of conversions, compares and FXAM against the host x87.

#![cfg(target_arch = "x86_64")]

mod common;
use common::*;
use f80::{Bcd, Ctx, F80};

const N: u64 = 1_000_000;
const SENTINEL: [u8; 16] = [0xA5; 16];

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

/// A value often near the integer range of `bits` (or the f32/f64 range).
fn int_ish(rng: &mut Rng, bits: u32) -> F80 {
    match rng.below(4) {
        0 => rng.f80(),
        _ => {
            let lim = 1u64 << (bits - 1).min(63);
            let v = match rng.below(3) {
                0 => lim.wrapping_sub(rng.below(3)),
                1 => lim.wrapping_add(rng.below(3)),
                _ => rng.next() >> (64 - bits + rng.below(bits as u64) as u32).min(63),
            };
            let x = F80::from_i64(v as i64);
            let mut c = Ctx::new();
            let frac = F80::from_parts(rng.bool(), 0x3FFE - rng.below(3) as u16, rng.signif());
            let x = if rng.bool() { x.chs() } else { x };
            if rng.bool() { c.add(x, frac).unwrap() } else { x }
        }
    }
}

fn float_ish(rng: &mut Rng, emin: i32, emax: i32) -> F80 {
    if rng.below(3) == 0 {
        return rng.f80();
    }
    let span = (emax - emin + 70) as u64;
    let e = emin - 66 + rng.below(span + 8) as i32;
    let e = if rng.below(3) == 0 {
        [emin - 1, emin, emax, emax + 1, emin - 24, emin - 53][rng.below(6) as usize] + rng.below(3) as i32 - 1
    } else {
        e
    };
    F80::from_parts(rng.bool(), (e + 16383) as u16, rng.signif())
}

type HwFn = fn(u16, F80, F80, [u8; 16]) -> Hw;

/// A store to memory of `bytes` bytes; `lib` returns the stored bytes.
fn run_store(
    name: &'static str,
    seed: u64,
    hw: HwFn,
    make: impl Fn(&mut Rng) -> F80,
    bytes: usize,
    lib: impl Fn(&mut Ctx, F80) -> Option<Vec<u8>>,
) {
    let mut rng = Rng(seed);
    let mut rep = Report::new(name);
    for _ in 0..cases(N) {
        let a = make(&mut rng);
        let cw = rng.cw(20);
        let h = hw(cw, a, F80::ZERO, SENTINEL);
        let mut ctx = Ctx::from_control_word(cw);
        let r = lib(&mut ctx, a);
        let expect: Vec<u8> = r.clone().unwrap_or_else(|| SENTINEL[..bytes].to_vec());
        let ok = h.mem[..bytes] == expect[..] && h.flags() == ctx.flags.0 && h.c1() == ctx.c1;
        rep.check(ok, || {
            format!(
                "cw={cw:04x} a={a:?}: hw {:02x?} sw={:04x} | lib {:02x?} flags={:?} c1={}",
                &h.mem[..bytes],
                h.sw,
                expect,
                ctx.flags,
                ctx.c1
            )
        });
    }
    rep.finish();
}

#[test]
fn t_fst_m32() {
    run_store(
        "fst m32",
        11,
        fst_m32,
        |r| float_ish(r, -126, 127),
        4,
        |c, a| c.to_f32_bits(a).map(|v| v.to_le_bytes().to_vec()),
    );
}
#[test]
fn t_fst_m64() {
    run_store(
        "fst m64",
        12,
        fst_m64,
        |r| float_ish(r, -1022, 1023),
        8,
        |c, a| c.to_f64_bits(a).map(|v| v.to_le_bytes().to_vec()),
    );
}
#[test]
fn t_fist() {
    run_store(
        "fist m16",
        13,
        fist_m16,
        |r| int_ish(r, 16),
        2,
        |c, a| c.to_i16(a).map(|v| v.to_le_bytes().to_vec()),
    );
    run_store(
        "fist m32",
        14,
        fist_m32,
        |r| int_ish(r, 32),
        4,
        |c, a| c.to_i32(a).map(|v| v.to_le_bytes().to_vec()),
    );
    run_store(
        "fistp m64",
        15,
        fistp_m64,
        |r| int_ish(r, 64),
        8,
        |c, a| c.to_i64(a).map(|v| v.to_le_bytes().to_vec()),
    );
}
#[test]
fn t_fisttp() {
    run_store(
        "fisttp m16",
        16,
        fisttp_m16,
        |r| int_ish(r, 16),
        2,
        |c, a| c.to_i16_trunc(a).map(|v| v.to_le_bytes().to_vec()),
    );
    run_store(
        "fisttp m32",
        17,
        fisttp_m32,
        |r| int_ish(r, 32),
        4,
        |c, a| c.to_i32_trunc(a).map(|v| v.to_le_bytes().to_vec()),
    );
    run_store(
        "fisttp m64",
        18,
        fisttp_m64,
        |r| int_ish(r, 64),
        8,
        |c, a| c.to_i64_trunc(a).map(|v| v.to_le_bytes().to_vec()),
    );
}
#[test]
fn fbstp_() {
    run_store("fbstp", 19, fbstp, |r| int_ish(r, 61), 10, |c, a| c.to_bcd(a).map(|v| v.0.to_vec()));
}

/// A load from memory: the value pushed becomes ST(0) (ST(1) = a).
fn run_load(name: &'static str, seed: u64, hw: HwFn, make: impl Fn(&mut Rng) -> [u8; 16], lib: impl Fn(&mut Ctx, [u8; 16]) -> Option<F80>) {
    let mut rng = Rng(seed);
    let mut rep = Report::new(name);
    for _ in 0..cases(N) {
        let m = make(&mut rng);
        let a = rng.f80();
        let cw = rng.cw(20);
        let h = hw(cw, a, F80::ZERO, m);
        let mut ctx = Ctx::from_control_word(cw);
        let r = lib(&mut ctx, m);
        // Not loaded: the stack is unchanged, ST(0) is still a.
        let (e0, e1) = match r {
            Some(v) => (v, a),
            None => (a, F80::ZERO),
        };
        let ok = h.st[0] == e0 && h.st[1] == e1 && h.flags() == ctx.flags.0 && h.c1() == ctx.c1;
        rep.check(ok, || {
            format!(
                "cw={cw:04x} m={:02x?}: hw {:?} sw={:04x} | lib {r:?} flags={:?}",
                &m[..10],
                h.st[0],
                h.sw,
                ctx.flags
            )
        });
    }
    rep.finish();
}

fn ieee_bits(rng: &mut Rng, ebits: u32, mbits: u32) -> u64 {
    let sign = rng.next() & 1;
    let emax = (1u64 << ebits) - 1;
    let e = match rng.below(6) {
        0 => 0,
        1 => emax,
        _ => rng.below(emax + 1),
    };
    let m = match rng.below(4) {
        0 => 0,
        1 => 1 << rng.below(mbits as u64),
        _ => rng.next() & ((1 << mbits) - 1),
    };
    (sign << (ebits + mbits)) | (e << mbits) | m
}

#[test]
fn t_fld_m32_m64() {
    run_load(
        "fld m32",
        20,
        fld_m32,
        |r| {
            let mut m = [0u8; 16];
            m[..4].copy_from_slice(&(ieee_bits(r, 8, 23) as u32).to_le_bytes());
            m
        },
        |c, m| c.from_f32_bits(u32::from_le_bytes(m[..4].try_into().unwrap())),
    );
    run_load(
        "fld m64",
        21,
        fld_m64,
        |r| {
            let mut m = [0u8; 16];
            m[..8].copy_from_slice(&ieee_bits(r, 11, 52).to_le_bytes());
            m
        },
        |c, m| c.from_f64_bits(u64::from_le_bytes(m[..8].try_into().unwrap())),
    );
}

#[test]
fn t_fild() {
    let g = |r: &mut Rng| {
        let mut m = [0u8; 16];
        m[..8].copy_from_slice(&(r.next() >> r.below(64)).to_le_bytes());
        if r.bool() {
            for b in m[..8].iter_mut() {
                *b = !*b;
            }
        }
        m
    };
    run_load("fild m16", 22, fild_m16, g, |_, m| {
        Some(F80::from_i16(i16::from_le_bytes(m[..2].try_into().unwrap())))
    });
    run_load("fild m32", 23, fild_m32, g, |_, m| {
        Some(F80::from_i32(i32::from_le_bytes(m[..4].try_into().unwrap())))
    });
    run_load("fild m64", 24, fild_m64, g, |_, m| {
        Some(F80::from_i64(i64::from_le_bytes(m[..8].try_into().unwrap())))
    });
}

#[test]
fn fbld_() {
    run_load(
        "fbld",
        25,
        fbld,
        |r| {
            let mut m = [0u8; 16];
            let digits = r.below(19);
            for i in 0..digits as usize {
                let d = r.below(10) as u8;
                m[i / 2] |= if i % 2 == 0 { d } else { d << 4 };
            }
            m[9] = (r.next() as u8) & 0x80;
            m
        },
        |c, m| Some(c.from_bcd(Bcd(m[..10].try_into().unwrap()))),
    );
}

fn run_cmp(name: &'static str, seed: u64, hw: HwFn, eflags: bool, quiet: bool) {
    let mut rng = Rng(seed);
    let mut rep = Report::new(name);
    for _ in 0..cases(N) {
        let a = rng.f80();
        let b = match rng.below(4) {
            0 => a,
            1 => a.chs(),
            _ => rng.related(a),
        };
        let cw = rng.cw(20);
        let h = hw(cw, a, b, [0; 16]);
        let mut ctx = Ctx::from_control_word(cw);
        let r = if quiet { ctx.compare_quiet(a, b) } else { ctx.compare(a, b) };
        let (got, want) = if eflags {
            let f = (h.mem[0] as u32) * 0x40 + (h.mem[1] as u32) * 0x04 + h.mem[2] as u32;
            (f, r.map(|r| r.eflags()).unwrap_or(0x45))
        } else {
            (h.cc() as u32, r.map(|r| r.condition_codes()).unwrap_or(0x4500) as u32)
        };
        let ok = got == want && h.flags() == ctx.flags.0;
        rep.check(ok, || {
            format!(
                "cw={cw:04x} a={a:?} b={b:?}: hw {got:04x} sw={:04x} | lib {want:04x} flags={:?}",
                h.sw, ctx.flags
            )
        });
    }
    rep.finish();
}

#[test]
fn compares() {
    run_cmp("fcom", 26, fcom, false, false);
    run_cmp("fucom", 27, fucom, false, true);
    run_cmp("fcomi", 28, fcomi, true, false);
    run_cmp("fucomi", 29, fucomi, true, true);
}

#[test]
fn fxam_() {
    let mut rng = Rng(30);
    let mut rep = Report::new("fxam");
    for _ in 0..cases(N) {
        let a = rng.f80();
        let h = fxam(0x37F, a, F80::ZERO, [0; 16]);
        let want = a.fxam().condition_codes(a.sign());
        rep.check(h.cc() == want && h.flags() == 0, || {
            format!("a={a:?}: hw {:04x} lib {want:04x}", h.cc())
        });
    }
    rep.finish();
}
