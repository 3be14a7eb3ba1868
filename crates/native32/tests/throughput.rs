//! A batch of many tiny cases, checked against flags computed in Rust, to
//! show throughput (run with `--nocapture` to see cases per second).

use std::time::Instant;

use native32::flags::*;
use native32::*;

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn u32(&mut self) -> u32 {
        let v = self.next() >> 32;
        // Bias towards edge values, where flags get interesting.
        match v & 7 {
            0 => 0,
            1 => 0xFFFF_FFFF,
            2 => 0x8000_0000,
            3 => 0x7FFF_FFFF,
            _ => (self.next() >> 32) as u32,
        }
    }
}

fn parity(v: u32) -> bool {
    (v as u8).count_ones().is_multiple_of(2)
}

/// Expected (result, arithmetic flags) of `add`/`sub`/`adc`/`sbb` a, b.
fn expect(op: u8, a: u32, b: u32, cf_in: bool) -> (u32, u32) {
    let c = u32::from(cf_in && (op == 2 || op == 3));
    let (r, cf, of, af) = match op {
        0 | 2 => {
            let wide = u64::from(a) + u64::from(b) + u64::from(c);
            let r = wide as u32;
            let of = (!(a ^ b) & (a ^ r)) >> 31 != 0;
            (r, wide >> 32 != 0, of, (a ^ b ^ r) & 0x10 != 0)
        }
        _ => {
            let r = a.wrapping_sub(b).wrapping_sub(c);
            let cf = u64::from(a) < u64::from(b) + u64::from(c);
            let of = ((a ^ b) & (a ^ r)) >> 31 != 0;
            (r, cf, of, (a ^ b ^ r) & 0x10 != 0)
        }
    };
    let mut f = 0;
    if cf {
        f |= CF;
    }
    if parity(r) {
        f |= PF;
    }
    if af {
        f |= AF;
    }
    if r == 0 {
        f |= ZF;
    }
    if r >> 31 != 0 {
        f |= SF;
    }
    if of {
        f |= OF;
    }
    (r, f)
}

#[test]
fn ten_thousand_cases() {
    const N: usize = 10_000;
    // add/sub/adc/sbb eax, ebx
    let opcodes = [0x01u8, 0x29, 0x11, 0x19];
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut cases = Vec::with_capacity(N);
    let mut inputs = Vec::with_capacity(N);
    for _ in 0..N {
        let op = (rng.next() % 4) as u8;
        let (a, b) = (rng.u32(), rng.u32());
        let flags_in = (rng.next() as u32) & ARITH;
        let mut c = Case::new([opcodes[op as usize], 0xD8]).with_region(Region::stack(0x1000));
        c.state.gpr = [a, 0, 0, b, STACK_TOP, 0, 0, 0];
        c.state.eflags = FIXED | IF | flags_in;
        cases.push(c);
        inputs.push((op, a, b, flags_in & CF != 0));
    }
    let t = Instant::now();
    let out = run_batch(&cases).expect("batch runs");
    let dt = t.elapsed();
    assert_eq!(out.len(), N);
    for (i, (o, &(op, a, b, cf))) in out.iter().zip(&inputs).enumerate() {
        let s = o.completed().unwrap_or_else(|| panic!("case {i}: {o:?}"));
        let (r, f) = expect(op, a, b, cf);
        assert_eq!(s.state.gpr[EAX], r, "case {i}");
        assert_eq!(s.state.eflags & ARITH, f, "case {i}: op {op} {a:#x} {b:#x} cf {cf}");
        assert_eq!(s.state.eflags & !ARITH, FIXED | IF);
        assert_eq!(s.memory[0].len(), 0x1000);
    }
    let rate = N as f64 / dt.as_secs_f64();
    eprintln!(
        "native32: {N} cases in {:.1} ms = {rate:.0} cases/s ({:.1} us/case)",
        dt.as_secs_f64() * 1e3,
        dt.as_secs_f64() * 1e6 / N as f64
    );
    assert!(rate > 1000.0, "{rate} cases/s");
}
