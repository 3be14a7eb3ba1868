//! Load-site page memos: each inline load remembers the page it read last
//! and that page's host address, and tries them before the TLB.
//!
//! A TLB probe puts the entry's load on the path from the guest address
//! to the data: index arithmetic, the entry's addend, an addition, then
//! the data (about 12 cycles on this EPYC, where a plain load takes 4).
//! Dependent loads pay that in full: the kernel's multi-precision
//! multiply indexes arrays with values it has just loaded. A load site
//! mostly touches the page it touched last, so the site keeps that page
//! and its host address in a memo at a fixed address. The memo is read
//! from an address known at translation time, so its loads start before
//! the guest address is known: the data waits for the address alone, and
//! the page compare that validates the memo only feeds a predicted branch.
//!
//! A memo caches a TLB entry and must not outlive it. It carries a token
//! of the flushes it may survive: a memo of a global page the *global*
//! token (`Frame::memo_global`), which changes when global pages go too
//! (INVLPG, CR3 loads without CR4.PGE, paging, A20 and map changes), any
//! other memo the *local* token (`Frame::memo_local`), which also changes
//! at every CR3 load. So the kernel's memos (its pages are global under
//! Linux) survive the context switches that end user memos. Tokens are
//! odd (global) and even (local), so the two never meet. A flush ends the
//! run of translated code (the handler that made it returns `END`), and
//! the dispatcher starts the next run with the new tokens. Memos belong to
//! translations of one mode, so to one privilege's TLB set; user code
//! checks only the local token. Only reads are memoized: write permission
//! also depends on which pages hold code, which changes without a flush.
//! A memo holds a host address, so the dispatcher empties them all when a
//! run is given other guest RAM than the last one.
//!
//! Only some loads get memos: those in blocks that loop to their own start
//! whose address comes from a value loaded earlier in the block
//! (`emit::chased`). A site elsewhere meets a new page too often, and a
//! miss (a mispredicted branch, then the probe) costs more than the probe;
//! where the address does not wait for a load, the probe's latency hides
//! behind other work and the memo's extra instructions are a loss.
//! Measured on the Linux boot: memos at every load made md5sum 1.8 s to
//! 2.4 s; in loops only, late init went from 1.85 to 1.70 s, as it does
//! with only the 365 chased loads of the boot's loops.

/// One site's memo: the linear page it read last, the token it was filled
/// with, and `host address of the page - page` (64-bit), so that the data is
/// at `host + linear`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Memo {
    pub page: u32,
    pub token: u32,
    pub host: u64,
}

impl Memo {
    /// Never valid: tokens are never 0.
    pub const EMPTY: Self = Self {
        page: 0,
        token: 0,
        host: 0,
    };
}

/// Byte offsets of the fields, for generated code.
pub const PAGE: i32 = std::mem::offset_of!(Memo, page) as i32;
pub const TOKEN: i32 = std::mem::offset_of!(Memo, token) as i32;
pub const HOST: i32 = std::mem::offset_of!(Memo, host) as i32;

/// Memos in the pool. Sites made when all are used probe the TLB as
/// before (a shared memo could pass a supervisor page to user code).
pub const COUNT: usize = 1 << 17;

/// The pool and its epoch.
pub struct Memos {
    pub table: Box<[std::cell::Cell<Memo>]>,
    pub next: u32,
    /// Flush counts behind the tokens (see `tokens`).
    global: u32,
    local: u32,
    /// Each memo's misses (counted by its load's out-of-line path), and
    /// token changes, for `--stats`.
    pub misses: Box<[std::cell::Cell<u64>]>,
    pub epochs: u64,
    /// The guest EIP of each memo's load, for `--stats`.
    pub sites: Vec<u32>,
}

impl Memos {
    pub fn new() -> Self {
        Self {
            table: (0..COUNT).map(|_| std::cell::Cell::new(Memo::EMPTY)).collect(),
            next: 0,
            global: 0,
            local: 0,
            misses: (0..COUNT).map(|_| std::cell::Cell::new(0)).collect(),
            epochs: 0,
            sites: vec![0; COUNT],
        }
    }

    /// The tokens memos of global pages, and all others, are valid with.
    pub fn tokens(&self) -> (u32, u32) {
        (2 * self.global + 1, 2 * self.local + 2)
    }

    /// TLB entries were flushed: every memo not of a global page goes
    /// stale, and with `global_too` every memo. When a count runs out,
    /// the memos are emptied, so that none filled with an old token
    /// matches again.
    pub fn flushed(&mut self, global_too: bool) {
        self.epochs += 1;
        self.local += 1;
        if global_too {
            self.global += 1;
        }
        if self.local >= 1 << 30 || self.global >= 1 << 30 {
            (self.local, self.global) = (0, 0);
            self.clear();
        }
    }

    /// Empty every memo and hand them out again (the code that used them
    /// is gone).
    pub fn reset(&mut self) {
        self.clear();
        self.next = 0;
        self.flushed(true);
    }

    fn clear(&mut self) {
        for m in self.table.iter() {
            m.set(Memo::EMPTY);
        }
        for m in self.misses.iter() {
            m.set(0);
        }
    }

    /// The unused memos, for one translation to take from (`Alloc::take`);
    /// `commit` records what it took.
    pub fn alloc(&self) -> Alloc {
        Alloc {
            base: self.table.as_ptr() as usize,
            next: self.next,
            misses: self.misses.as_ptr() as usize,
        }
    }

    /// Record what a translation took; `sites` are the guest EIPs of the
    /// memos it took, by number.
    pub fn commit(&mut self, a: Alloc, sites: &[(u32, u32)]) {
        self.next = a.next;
        for &(n, eip) in sites {
            self.sites[n as usize] = eip;
        }
    }

    /// Total misses, and the sites that missed most: (EIP, misses).
    pub fn report(&self, top: usize) -> (u64, Vec<(u32, u64)>) {
        let mut v: Vec<(u32, u64)> = (0..self.next as usize).map(|n| (self.sites[n], self.misses[n].get())).collect();
        let total = v.iter().map(|x| x.1).sum();
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        v.truncate(top);
        (total, v)
    }
}

/// Memos handed out to the sites of the translation being made.
#[derive(Clone, Copy, Debug, Default)]
pub struct Alloc {
    base: usize,
    next: u32,
    /// The address of `Memos::misses`.
    misses: usize,
}

impl Alloc {
    /// A fresh memo for a new site, if any is left: its number, its
    /// address and the address of its miss counter.
    pub fn take(&mut self) -> Option<(u32, usize, usize)> {
        if self.base == 0 || self.next as usize >= COUNT {
            return None;
        }
        let n = self.next;
        self.next += 1;
        Some((
            n,
            self.base + n as usize * std::mem::size_of::<Memo>(),
            self.misses + n as usize * std::mem::size_of::<u64>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cr3_load_with_pge_keeps_only_global_tokens() {
        let mut m = Memos::new();
        let (g, l) = m.tokens();
        assert_ne!(g, l);
        assert!(g != 0 && l != 0, "0 is the empty memo's token");
        // A CR3 load with PGE.
        m.flushed(false);
        assert_eq!(m.tokens().0, g);
        assert_ne!(m.tokens().1, l);
        // INVLPG or anything wider.
        m.flushed(true);
        assert_ne!(m.tokens().0, g);
        let (g2, l2) = m.tokens();
        assert!(g2 % 2 == 1 && l2 % 2 == 0, "global and local tokens never meet");
    }

    #[test]
    fn memos_run_out_and_come_back_after_a_reset() {
        let mut m = Memos::new();
        let mut a = m.alloc();
        let (n0, first, _) = a.take().unwrap();
        let (n1, second, _) = a.take().unwrap();
        assert_eq!((n0, n1), (0, 1));
        assert_eq!(second - first, std::mem::size_of::<Memo>());
        m.commit(a, &[(0, 0x1000), (1, 0x2000)]);
        m.next = COUNT as u32;
        assert!(m.alloc().take().is_none());
        m.table[1].set(Memo {
            page: 0x5000,
            token: 2,
            host: 7,
        });
        m.reset();
        assert_eq!(m.table[1].get().token, 0);
        assert!(m.alloc().take().is_some());
    }
}
