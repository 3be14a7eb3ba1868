//! Which RAM pages hold code that some engine decoded or translated.
//!
//! An engine marks a page when it caches code from it. The first write to a
//! marked page (from any source) clears the mark and records the page as
//! invalidated; engines drain that list before they trust their caches. The
//! mark is cleared at once so that a page written in a loop costs one
//! record, not one per write, until code is cached from it again.

/// Code-page bitmap over guest RAM.
#[derive(Debug)]
pub struct CodePages {
    bits: Vec<u64>,
    invalidated: Vec<u32>,
    /// Bumped each time a page is invalidated; engines compare it with the
    /// value they saw to know cheaply whether anything changed.
    generation: u64,
}

impl CodePages {
    pub fn new(ram_size: u64) -> Self {
        let pages = ram_size.div_ceil(crate::PAGE_SIZE) as usize;
        Self {
            bits: vec![0; pages.div_ceil(64)],
            invalidated: Vec::new(),
            generation: 0,
        }
    }

    /// Mark the RAM page holding RAM offset `offset` as holding code.
    pub fn mark(&mut self, offset: u64) {
        let page = (offset >> crate::PAGE_SHIFT) as usize;
        if let Some(w) = self.bits.get_mut(page / 64) {
            *w |= 1 << (page % 64);
        }
    }

    /// Whether the RAM page holding `offset` is marked.
    #[inline]
    pub fn is_code(&self, offset: u64) -> bool {
        let page = (offset >> crate::PAGE_SHIFT) as usize;
        self.bits
            .get(page / 64)
            .is_some_and(|w| w & (1 << (page % 64)) != 0)
    }

    /// Record a write of `len` bytes at RAM offset `offset`.
    #[inline]
    pub fn note_write(&mut self, offset: u64, len: u64) {
        let first = offset >> crate::PAGE_SHIFT;
        let last = (offset + len.max(1) - 1) >> crate::PAGE_SHIFT;
        for page in first..=last {
            let p = page as usize;
            if let Some(w) = self.bits.get_mut(p / 64)
                && *w & (1 << (p % 64)) != 0
            {
                *w &= !(1 << (p % 64));
                self.invalidated.push(page as u32);
                self.generation += 1;
            }
        }
    }

    /// Drop every mark and record every marked page as invalidated (a
    /// change of the physical map, e.g. shadow RAM switched on).
    pub fn invalidate_all(&mut self) {
        for (i, w) in self.bits.iter_mut().enumerate() {
            let mut bits = *w;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                self.invalidated.push((i * 64 + b) as u32);
                bits &= bits - 1;
            }
            *w = 0;
        }
        self.generation += 1;
    }

    /// Pages invalidated since the last call.
    pub fn take_invalidated(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.invalidated)
    }

    /// Whether any page was invalidated and not yet taken.
    #[inline]
    pub fn has_invalidated(&self) -> bool {
        !self.invalidated.is_empty()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }
}
