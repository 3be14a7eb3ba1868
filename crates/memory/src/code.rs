//! Which RAM pages hold code that some engine decoded or translated.
//!
//! An engine marks a page when it caches code from it. The first write to a
//! marked page (from any source: an instruction, DMA, a loader) clears the
//! mark and appends the page to an invalidation log. Every engine keeps its
//! own [`Cursor`] into the log, so the interpreter and the recompiler each
//! see every invalidation whichever of them is running. The mark is cleared
//! at once so that a page written in a loop costs one record, not one per
//! write, until code is cached from it again.

/// Log entries kept before old ones are dropped; a consumer that has not
/// read that far back is told to drop everything instead.
const LOG_LIMIT: usize = 1 << 16;

/// Code-page bitmap over guest RAM, with the invalidation log.
#[derive(Debug)]
pub struct CodePages {
    bits: Vec<u64>,
    log: Vec<u32>,
    /// Sequence number of `log[0]`.
    log_start: u64,
    /// Consumers whose cursor is below this must drop all cached code.
    all_before: u64,
}

/// A consumer's position in the invalidation log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor(u64);

/// What a consumer must drop.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalidations<'a> {
    /// These RAM pages (page numbers).
    Pages(&'a [u32]),
    /// Everything (the log overflowed, or the physical map changed).
    All,
}

impl CodePages {
    pub fn new(ram_size: u64) -> Self {
        let pages = ram_size.div_ceil(crate::PAGE_SIZE) as usize;
        Self {
            bits: vec![0; pages.div_ceil(64)],
            log: Vec::new(),
            log_start: 0,
            all_before: 0,
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
        self.bits.get(page / 64).is_some_and(|w| w & (1 << (page % 64)) != 0)
    }

    fn end(&self) -> u64 {
        self.log_start + self.log.len() as u64
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
                if self.log.len() >= LOG_LIMIT {
                    let end = self.end();
                    self.log.clear();
                    self.log_start = end;
                    self.all_before = end;
                }
                self.log.push(page as u32);
            }
        }
    }

    /// Drop every mark and make every consumer drop everything (a change of
    /// the physical map, e.g. shadow RAM switched on).
    pub fn invalidate_all(&mut self) {
        self.bits.fill(0);
        let end = self.end();
        self.log.clear();
        // One past the end, so even a consumer that is up to date flushes.
        self.log_start = end + 1;
        self.all_before = end + 1;
    }

    /// Whether anything happened since `cursor` (cheap: for every block).
    #[inline(always)]
    pub fn has_news(&self, cursor: &Cursor) -> bool {
        cursor.0 != self.end()
    }

    /// What the consumer at `cursor` must drop; moves the cursor to the end.
    pub fn read(&self, cursor: &mut Cursor) -> Invalidations<'_> {
        let at = cursor.0;
        cursor.0 = self.end();
        // Behind a dropped part of the log, or ahead of its end (a cursor
        // from another memory): drop everything.
        if at < self.all_before || at < self.log_start || at > cursor.0 {
            return Invalidations::All;
        }
        Invalidations::Pages(&self.log[(at - self.log_start) as usize..])
    }

    /// A cursor at the current end (for a consumer whose cache is empty).
    pub fn cursor(&self) -> Cursor {
        Cursor(self.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_consumers_each_see_every_invalidation() {
        let mut c = CodePages::new(1 << 20);
        let (mut a, mut b) = (c.cursor(), c.cursor());
        c.mark(0x3000);
        c.mark(0x5000);
        c.note_write(0x3004, 4);
        assert!(c.has_news(&a));
        assert_eq!(c.read(&mut a), Invalidations::Pages(&[3]));
        assert!(!c.has_news(&a));
        c.note_write(0x5000, 1);
        c.note_write(0x5000, 1);
        assert_eq!(c.read(&mut b), Invalidations::Pages(&[3, 5]));
        assert_eq!(c.read(&mut a), Invalidations::Pages(&[5]));
    }

    #[test]
    fn overflow_and_map_changes_mean_flush_all() {
        let mut c = CodePages::new(1 << 30);
        let mut a = c.cursor();
        for p in 0..(LOG_LIMIT as u64 + 10) {
            c.mark(p << 12);
            c.note_write(p << 12, 1);
        }
        assert_eq!(c.read(&mut a), Invalidations::All);
        let mut b = c.cursor();
        c.invalidate_all();
        assert_eq!(c.read(&mut b), Invalidations::All);
        assert!(!c.has_news(&b));
    }
}
