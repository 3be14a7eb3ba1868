//! Helpers shared by the unit tests: a tiny deterministic generator for the
//! fuzz-style tests (no external crate, same sequence on every run).

/// xorshift64*: small, fast, deterministic.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// An access size: mostly bytes, sometimes words and dwords, rarely junk.
    pub fn size(&mut self) -> u8 {
        match self.below(16) {
            0..=10 => 1,
            11..=13 => 2,
            14 => 4,
            _ => self.byte(),
        }
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
