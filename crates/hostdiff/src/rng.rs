//! A small, seeded, reproducible random number generator (SplitMix64).
//!
//! Our own rather than `rand`'s, so that a seed names the same program on
//! every build and every version of the dependencies.

/// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit word of state.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value, including 0).
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 32 random bits.
    pub fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u32) -> bool {
        self.below(100) < pct
    }

    /// A random element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u32) as usize]
    }

    /// A 32-bit value biased towards the edges where flags and results get
    /// interesting (0, all ones, sign boundaries, small values).
    pub fn edgy(&mut self) -> u32 {
        match self.below(16) {
            0 => 0,
            1 => 0xFFFF_FFFF,
            2 => 0x8000_0000,
            3 => 0x7FFF_FFFF,
            4 => self.below(16),
            5 => 0u32.wrapping_sub(self.below(16)),
            6 => self.pick(&[0x80, 0x7F, 0xFF, 0x8000, 0x7FFF, 0xFFFF, 0x0100, 0x1_0000]),
            7 => 1 << self.below(32),
            8 => self.u32() & 0xFF,
            9 => self.u32() & 0xFFFF,
            _ => self.u32(),
        }
    }

    /// A shift or rotate count: every value 0..=255 is possible, with the
    /// operand-size boundaries favoured.
    pub fn count(&mut self) -> u32 {
        match self.below(4) {
            0 => self.pick(&[0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 255]),
            1 => self.below(256),
            _ => self.below(34),
        }
    }
}
