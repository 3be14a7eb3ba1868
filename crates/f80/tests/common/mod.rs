//! Shared test support: the host's x87 driven through inline assembly, a
//! small deterministic PRNG and an operand generator biased toward edge cases.

#![allow(dead_code)]

use f80::F80;

/// What the host x87 left behind, read through FNSAVE (which also resets
/// the FPU, so no unmasked exception is ever delivered as #MF).
#[derive(Clone, Copy, Debug)]
pub struct Hw {
    /// Status word.
    pub sw: u16,
    /// ST(0)..ST(7) after the instruction.
    pub st: [F80; 8],
    /// The 16-byte memory scratch operand after the instruction.
    pub mem: [u8; 16],
}

impl Hw {
    fn from_save(save: &[u8; 108], mem: [u8; 16]) -> Hw {
        let sw = u16::from_le_bytes([save[4], save[5]]);
        let mut st = [F80::ZERO; 8];
        for (i, r) in st.iter_mut().enumerate() {
            let mut b = [0u8; 10];
            b.copy_from_slice(&save[28 + 10 * i..38 + 10 * i]);
            *r = F80::from_bytes(b);
        }
        Hw { sw, st, mem }
    }
    pub fn flags(&self) -> u8 {
        (self.sw & 0x3F) as u8
    }
    pub fn c1(&self) -> bool {
        self.sw & 0x200 != 0
    }
    /// C3 C2 C1 C0 bits.
    pub fn cc(&self) -> u16 {
        self.sw & 0x4700
    }
    pub fn mem_u64(&self) -> u64 {
        u64::from_le_bytes(self.mem[..8].try_into().unwrap())
    }
}

/// Generates `fn $name(cw, a, b, mem) -> Hw`: loads b then a (so ST0 = a,
/// ST1 = b), runs the instructions, FNSAVEs. `{m}` in an instruction is the
/// address of the 16-byte scratch buffer.
macro_rules! x87 {
    ($name:ident: $($insn:literal),+) => {
        pub fn $name(cw: u16, a: F80, b: F80, mem: [u8; 16]) -> Hw {
            let ab = a.to_bytes();
            let bb = b.to_bytes();
            let mut mem = mem;
            let mut save = [0u8; 108];
            // SAFETY: the asm only touches the x87 unit (declared clobbered,
            // and left in the FNINIT state by FNSAVE, which the ABI expects)
            // and the four buffers passed in, which are live and large enough
            // (10-byte operands, 16-byte scratch, 108-byte FNSAVE image).
            unsafe {
                core::arch::asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{b}]",
                    "fld tbyte ptr [{a}]",
                    "mov {m}, {m}",
                    $($insn,)+
                    "fnsave [{save}]",
                    cw = in(reg) &cw,
                    a = in(reg) ab.as_ptr(),
                    b = in(reg) bb.as_ptr(),
                    m = in(reg) mem.as_mut_ptr(),
                    save = in(reg) save.as_mut_ptr(),
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            Hw::from_save(&save, mem)
        }
    };
}

x87!(fadd: "fadd st(0), st(1)");
x87!(fsub: "fsub st(0), st(1)");
x87!(fmul: "fmul st(0), st(1)");
x87!(fdiv: "fdiv st(0), st(1)");
x87!(fsqrt: "fsqrt");
x87!(fprem: "fprem");
x87!(fprem1: "fprem1");
x87!(frndint: "frndint");
x87!(fscale: "fscale");
x87!(fxtract: "fxtract");
x87!(fxam: "fxam");
x87!(fcom: "fcom st(1)");
x87!(fucom: "fucom st(1)");
x87!(fcomi: "fcomi st, st(1)", "setz byte ptr [{m}]", "setp byte ptr [{m}+1]", "setc byte ptr [{m}+2]");
x87!(fucomi: "fucomi st, st(1)", "setz byte ptr [{m}]", "setp byte ptr [{m}+1]", "setc byte ptr [{m}+2]");
x87!(fst_m32: "fst dword ptr [{m}]");
x87!(fst_m64: "fst qword ptr [{m}]");
x87!(fist_m16: "fist word ptr [{m}]");
x87!(fist_m32: "fist dword ptr [{m}]");
x87!(fistp_m64: "fistp qword ptr [{m}]");
x87!(fisttp_m16: "fisttp word ptr [{m}]");
x87!(fisttp_m32: "fisttp dword ptr [{m}]");
x87!(fisttp_m64: "fisttp qword ptr [{m}]");
x87!(fbstp: "fbstp tbyte ptr [{m}]");
x87!(fld_m32: "fld dword ptr [{m}]");
x87!(fld_m64: "fld qword ptr [{m}]");
x87!(fild_m16: "fild word ptr [{m}]");
x87!(fild_m32: "fild dword ptr [{m}]");
x87!(fild_m64: "fild qword ptr [{m}]");
x87!(fbld: "fbld tbyte ptr [{m}]");
x87!(fsin: "fsin");
x87!(fcos: "fcos");
x87!(fsincos: "fsincos");
x87!(fptan: "fptan");
x87!(fpatan: "fpatan");
x87!(f2xm1: "f2xm1");
x87!(fyl2x: "fyl2x");
x87!(fyl2xp1: "fyl2xp1");
x87!(fldpi: "fldpi");
x87!(fldl2e: "fldl2e");
x87!(fldl2t: "fldl2t");
x87!(fldlg2: "fldlg2");
x87!(fldln2: "fldln2");

/// SplitMix64: small, fast, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bool(&mut self) -> bool {
        self.next() & 1 != 0
    }

    /// A significand with structure that stresses rounding: runs of ones
    /// and zeros, few set bits, values at rounding boundaries for 24/53/64.
    pub fn signif_bits(&mut self) -> u64 {
        match self.below(8) {
            0..=2 => self.next(),
            3 => {
                // runs
                let a = self.below(64);
                let b = self.below(64);
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                let run = if hi == 63 {
                    !0u64 << lo
                } else {
                    ((1u64 << (hi + 1)) - 1) & (!0u64 << lo)
                };
                if self.bool() { run } else { !run }
            }
            4 => 1u64 << self.below(64) | (1u64 << self.below(64)),
            5 => {
                // boundary around a precision cut
                let cut = [40u32, 11, 0, 39, 10, 38, 9][self.below(7) as usize];
                let base = self.next() & (!0u64 << (cut + 1).min(63));
                let tail = match self.below(4) {
                    0 => 1u64 << cut,
                    1 => (1u64 << cut) - 1,
                    2 => (1u64 << cut) + 1,
                    _ => 0,
                };
                base | tail
            }
            6 => self.next() & (!0u64 << self.below(64)),
            _ => !(self.next() & self.next() & self.next()),
        }
    }

    /// A normal significand (integer bit set).
    pub fn signif(&mut self) -> u64 {
        self.signif_bits() | (1 << 63)
    }

    /// Any 80-bit value, biased toward the interesting encodings.
    pub fn f80(&mut self) -> F80 {
        let sign = self.bool();
        match self.below(40) {
            0 => F80::from_parts(sign, 0, 0),
            1 => F80::from_parts(sign, 0x7FFF, 1 << 63),
            2 => F80::from_parts(sign, 0x7FFF, (3 << 62) | (self.next() >> 2)),
            3 => F80::from_parts(sign, 0x7FFF, (1 << 63) | ((self.next() >> 2) | 1)),
            4 | 5 => F80::from_parts(sign, 0, self.signif_bits() >> 1 >> self.below(64)),
            6 => F80::from_parts(sign, 0, self.signif()),
            7 => {
                // unsupported: unnormal, pseudo-NaN, pseudo-inf
                match self.below(3) {
                    0 => F80::from_parts(sign, 1 + self.below(0x7FFE) as u16, self.next() >> 1),
                    1 => F80::from_parts(sign, 0x7FFF, (self.next() >> 1) | 1),
                    _ => F80::from_parts(sign, 0x7FFF, 0),
                }
            }
            8..=10 => F80::from_parts(sign, 0x7FFE - self.below(80) as u16, self.signif()),
            11..=13 => F80::from_parts(sign, 1 + self.below(80) as u16, self.signif()),
            14..=17 => F80::from_parts(sign, 1 + self.below(0x7FFE) as u16, self.signif()),
            18 => F80::from_parts(sign, 0x3FFF + self.below(64) as u16, self.signif()),
            19 => {
                // small integers and halves
                let v = self.below(1 << 20) as i64;
                let x = F80::from_i64(if sign { -v } else { v });
                if self.bool() {
                    x
                } else {
                    F80::from_parts(sign, x.exp().saturating_sub(1), x.signif)
                }
            }
            _ => F80::from_parts(sign, (0x3FFF - 40 + self.below(80)) as u16, self.signif()),
        }
    }

    /// A second operand related to `a` (close exponent, same or nearby
    /// significand) half the time, so cancellation and ties get exercised.
    pub fn related(&mut self, a: F80) -> F80 {
        if self.below(2) == 0 || a.exp() == 0 || a.exp() == 0x7FFF {
            return self.f80();
        }
        let d = self.below(130) as i32 - 65;
        let e = (a.exp() as i32 + d).clamp(1, 0x7FFE) as u16;
        let s = match self.below(4) {
            0 => a.signif,
            1 => a.signif.wrapping_add(self.below(5)) | (1 << 63),
            2 => a.signif.wrapping_sub(self.below(5)) | (1 << 63),
            _ => self.signif(),
        };
        F80::from_parts(self.bool(), e, s)
    }

    /// A control word: random RC and PC, masks usually all set, sometimes
    /// a random subset (to test the unmasked responses).
    pub fn cw(&mut self, unmasked_share: u64) -> u16 {
        let rc = self.below(4) as u16;
        let pc = [0u16, 1, 2, 3][self.below(4) as usize];
        let masks = if self.below(100) < unmasked_share {
            self.below(64) as u16
        } else {
            0x3F
        };
        0x40 | masks | (pc << 8) | (rc << 10)
    }
}

/// Number of random cases per operation: large in release, small in debug.
pub fn cases(release: u64) -> u64 {
    if let Ok(v) = std::env::var("F80_CASES") {
        return v.parse().unwrap();
    }
    if cfg!(debug_assertions) { release / 10 } else { release }
}
