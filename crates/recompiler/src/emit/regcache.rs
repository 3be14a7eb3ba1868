//! Guest registers held in host registers within one block.
//!
//! A chain of dependent guest instructions that passes its values through
//! `CpuState` pays a store-to-load forward per step: on this machine's
//! EPYC about 2.4 ns for `load; add; store` against 0.3 ns for the same
//! chain in a register (measured with a loop of 32 dependent steps). So
//! the translation keeps copies of up to four guest registers in host
//! registers RDI, RBP, R15 and R12 (none of which the templates use
//! otherwise; the thunks and the Rust helpers they call preserve them).
//!
//! The copies are *write-through*: every write of a guest register still
//! stores to `CpuState`, and the host copy is updated beside it. The state
//! in memory is therefore exact at every instruction boundary, so faults,
//! early exits and block ends need no write-back, and forgetting a copy is
//! always safe. Only reads become cheaper, which is where the latency was.
//!
//! Which registers get the four copies: the whole block is known when it
//! is translated, so the cache replaces the copy whose next use lies
//! furthest ahead, and takes no copy of a register used later than all
//! it holds (Belady's rule, optimal for hits). Least-recently-used thrashed
//! on the kernel's multi-precision multiply, which cycles through seven
//! guest registers.
//!
//! What the cache holds is known while emitting (it is the same on every
//! path through the block's code), so it lives here, in the generator, not
//! in generated code. Two rules keep it so: a copy is loaded only in code
//! that runs unconditionally (`frozen` marks the conditional parts of a
//! template, where copies may be updated or forgotten but not loaded), and
//! anything that writes guest registers behind the cache's back (an
//! interpreter handler) forgets every copy.

/// The host registers that hold guest registers: RDI, RBP, R15, R12.
pub const HOST: [u8; 4] = [7, 5, 15, 12];

/// Which guest register each host register holds.
#[derive(Clone, Debug, Default)]
pub struct RegCache {
    /// Guest register number (0-7) held by `HOST[k]`.
    holds: [Option<u8>; HOST.len()],
    /// When each slot was last used, for least-recently-used replacement.
    stamp: [u32; HOST.len()],
    clock: u32,
    /// Nesting depth of conditional code: no new copies while non-zero.
    frozen: u32,
    /// The guest registers each instruction of the block uses (bit n:
    /// register n), and the instruction being emitted.
    plan: Vec<u8>,
    pos: usize,
}

impl RegCache {
    /// Plan for a block whose instructions use the registers in `uses`.
    pub fn plan(&mut self, uses: Vec<u8>) {
        self.plan = uses;
        self.pos = 0;
    }

    /// The instruction now being emitted.
    pub fn at(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The index of the next instruction after the current one that uses
    /// guest register `n` (`usize::MAX` when none does).
    fn next_use(&self, n: u8) -> usize {
        self.plan
            .iter()
            .enumerate()
            .skip(self.pos + 1)
            .find(|(_, m)| **m & (1 << n) != 0)
            .map_or(usize::MAX, |(j, _)| j)
    }

    /// The host register holding guest register `n`, if any.
    pub fn find(&mut self, n: u8) -> Option<u8> {
        let k = self.holds.iter().position(|&h| h == Some(n))?;
        self.clock += 1;
        self.stamp[k] = self.clock;
        Some(HOST[k])
    }

    /// A host register to hold guest register `n` from now on (the least
    /// recently used one is given up), or `None` inside conditional code.
    /// The caller must fill it with `n`'s value right away.
    pub fn claim(&mut self, n: u8) -> Option<u8> {
        self.claim_for(n, false)
    }

    /// `claim`, but with `must` the copy is made even when `n` is needed
    /// later than every copy held (the one needed last is given up).
    pub fn claim_for(&mut self, n: u8, must: bool) -> Option<u8> {
        if self.frozen != 0 {
            return None;
        }
        debug_assert!(!self.holds.contains(&Some(n)), "guest register {n} is already held");
        let k = match self.holds.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.plan.is_empty() => (0..HOST.len()).min_by_key(|&k| self.stamp[k]).unwrap_or(0),
            None => {
                // The copy needed last (ties: the least recently used);
                // none if `n` itself is needed later than all of them.
                let far = |k: usize| {
                    (
                        self.holds[k].map_or(usize::MAX, |h| self.next_use(h)),
                        std::cmp::Reverse(self.stamp[k]),
                    )
                };
                let k = (0..HOST.len()).max_by_key(|&k| far(k)).unwrap_or(0);
                if !must && self.next_use(n) >= far(k).0 {
                    return None;
                }
                k
            }
        };
        self.clock += 1;
        self.holds[k] = Some(n);
        self.stamp[k] = self.clock;
        Some(HOST[k])
    }

    /// Stop holding guest register `n` (its host copy went stale).
    pub fn forget(&mut self, n: u8) {
        for h in &mut self.holds {
            if *h == Some(n) {
                *h = None;
            }
        }
    }

    /// Stop holding every register (something else may have written them).
    pub fn clear(&mut self) {
        self.holds = [None; HOST.len()];
    }

    /// Enter code that runs on some paths only.
    pub fn freeze(&mut self) {
        self.frozen += 1;
    }

    /// Leave it.
    pub fn thaw(&mut self) {
        self.frozen = self.frozen.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_copy_is_given_up() {
        let mut c = RegCache::default();
        let a = c.claim(0).unwrap();
        let b = c.claim(1).unwrap();
        let d = c.claim(2).unwrap();
        let e = c.claim(3).unwrap();
        assert_eq!([a, b, d, e], HOST);
        // Touch 0: 1 is now the oldest.
        assert_eq!(c.find(0), Some(a));
        assert_eq!(c.claim(5), Some(b));
        assert_eq!(c.find(1), None);
        assert_eq!(c.find(5), Some(b));
    }

    #[test]
    fn the_copy_used_last_is_given_up() {
        let mut c = RegCache::default();
        // Instruction 0 uses 0, 1, 2, 6; then 3; then 1; then 0; then 2;
        // then 6.
        c.plan(vec![0b0100_0111, 0b1000, 0b0010, 0b0001, 0b0100, 0b0100_0000]);
        c.at(0);
        for n in [0, 1, 2, 6] {
            c.claim(n).unwrap();
        }
        // At 1, register 3 is not used again: no copy.
        c.at(1);
        assert_eq!(c.claim(3), None);
        // Register 5, used never again either; register 2's copy is kept.
        assert_eq!(c.claim(5), None);
        assert!(c.find(2).is_some());
        // A register used at 2, before 0 (3), 1 (4), 2 (5) and 6 (6): 6's
        // copy goes.
        c.plan(vec![0b0100_0111, 0b0000, 0b1000, 0b0001, 0b0010, 0b0100, 0b0100_0000]);
        c.at(1);
        let h6 = c.find(6).unwrap();
        assert_eq!(c.claim(3), Some(h6));
    }

    #[test]
    fn conditional_code_makes_no_new_copies() {
        let mut c = RegCache::default();
        c.freeze();
        assert_eq!(c.claim(0), None);
        c.thaw();
        assert!(c.claim(0).is_some());
        c.clear();
        assert_eq!(c.find(0), None);
    }
}
