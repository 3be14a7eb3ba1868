//! The software TLB: a cache of linear-to-physical translations with the
//! permissions the guest page tables grant, and host RAM offsets for the
//! fast path.

/// Tag that matches no page (page bases have their low 12 bits clear).
pub const NO_TAG: u32 = 1;

/// Number of entries per set (direct-mapped by linear page number).
pub const TLB_SETS: usize = 512;
/// Entries of the instruction-fetch TLB, kept apart so that code and the
/// data it works on do not evict each other (as real CPUs split I/D TLBs).
pub const ITLB_SETS: usize = 64;

/// Entry flags.
pub mod flag {
    /// The page tables allow writes at this privilege (with CR0.WP rules)
    /// and the dirty bit is already set.
    pub const WRITE_OK: u8 = 1;
    /// A global page (survives CR3 loads while CR4.PGE is set).
    pub const GLOBAL: u8 = 2;
}

/// One cached translation. `#[repr(C)]` and 32 bytes, because translated
/// code indexes the array and reads the tags and offsets directly.
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// Linear page base this entry translates, or [`NO_TAG`].
    pub lin: u32,
    /// Physical page base (A20 applied).
    pub phys: u32,
    /// `lin` when reads may go straight to RAM, else NO_TAG.
    pub read_tag: u32,
    /// `lin` when writes may go straight to RAM, else NO_TAG.
    pub write_tag: u32,
    /// RAM offset of the page minus `lin` (wrapping): a fast read of
    /// linear address `a` goes to RAM offset `a + read_addend`, one
    /// addition in translated code.
    pub read_addend: u32,
    pub write_addend: u32,
    pub flags: u8,
}

impl TlbEntry {
    pub const EMPTY: Self = Self {
        lin: NO_TAG,
        phys: 0,
        read_tag: NO_TAG,
        write_tag: NO_TAG,
        read_addend: 0,
        write_addend: 0,
        flags: 0,
    };

    /// Whether this is a global page's translation (kept by CR3 loads
    /// while CR4.PGE is set).
    pub fn global(&self) -> bool {
        self.flags & flag::GLOBAL != 0
    }
}

/// Two sets of entries: index 0 for supervisor accesses, 1 for user
/// (CPL 3) accesses, because the page tables can grant them different
/// rights.
#[derive(Clone, Debug)]
pub struct Tlb {
    pub sets: [[TlbEntry; TLB_SETS]; 2],
    /// Instruction fetches, by the same user/supervisor split.
    pub code: [[TlbEntry; ITLB_SETS]; 2],
    /// Generation of the physical map the entries were filled under.
    pub map_generation: u64,
    /// Counts flushes of any kind: caches keyed by linear address (the
    /// recompiler's jump cache) are valid only while it stays the same.
    pub flushes: u64,
    /// What the flushes dropped, for such a cache to drop as little.
    pub log: FlushLog,
}

/// What the TLB flushes since the last [`FlushLog::take`] dropped. A cache
/// keyed by linear address need not be emptied for every flush: a CR3
/// load with CR4.PGE keeps global pages (the kernel's code, under Linux),
/// and INVLPG is mostly for data pages (kmap, fixmap) holding no code.
/// One consumer takes it; with no consumer it just saturates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlushLog {
    /// Everything went, global pages too (CR0/CR4 paging changes, a CR3
    /// load without PGE, map changes), or more single pages than `pages`
    /// holds.
    pub everything: bool,
    /// Every non-global page went (a CR3 load with CR4.PGE).
    pub non_global: bool,
    /// Page bases flushed one at a time (INVLPG), the first `len`.
    pages: [u32; FlushLog::PAGES],
    len: u8,
}

impl FlushLog {
    /// Single pages remembered before the log gives up and says
    /// `everything`.
    pub const PAGES: usize = 8;

    /// The log so far, leaving it empty.
    pub fn take(&mut self) -> FlushLog {
        std::mem::take(self)
    }

    /// The pages flushed one at a time.
    pub fn pages(&self) -> &[u32] {
        &self.pages[..self.len as usize]
    }

    fn page(&mut self, page: u32) {
        if self.everything || self.pages().contains(&page) {
            return;
        }
        if self.len as usize == Self::PAGES {
            self.everything = true;
        } else {
            self.pages[self.len as usize] = page;
            self.len += 1;
        }
    }
}

impl Default for Tlb {
    fn default() -> Self {
        Self {
            sets: [[TlbEntry::EMPTY; TLB_SETS]; 2],
            code: [[TlbEntry::EMPTY; ITLB_SETS]; 2],
            map_generation: 0,
            flushes: 0,
            log: FlushLog::default(),
        }
    }
}

impl Tlb {
    #[inline]
    pub fn index(lin: u32) -> usize {
        (lin >> 12) as usize & (TLB_SETS - 1)
    }

    #[inline]
    pub fn code_index(lin: u32) -> usize {
        (lin >> 12) as usize & (ITLB_SETS - 1)
    }

    /// Drop everything (CR0/CR4 paging changes, A20, map changes).
    pub fn flush_all(&mut self) {
        self.flushes += 1;
        self.log.everything = true;
        for set in &mut self.sets {
            set.fill(TlbEntry::EMPTY);
        }
        for set in &mut self.code {
            set.fill(TlbEntry::EMPTY);
        }
    }

    /// Drop non-global entries (a CR3 load); global ones too unless
    /// `keep_global`.
    pub fn flush(&mut self, keep_global: bool) {
        self.flushes += 1;
        if keep_global {
            self.log.non_global = true;
        } else {
            self.log.everything = true;
        }
        for e in self.sets.iter_mut().flatten().chain(self.code.iter_mut().flatten()) {
            if !keep_global || e.flags & flag::GLOBAL == 0 {
                *e = TlbEntry::EMPTY;
            }
        }
    }

    /// INVLPG: drop the entries for the page holding `lin`.
    pub fn flush_page(&mut self, lin: u32) {
        self.flushes += 1;
        self.log.page(lin & !0xFFF);
        let (i, ci) = (Self::index(lin), Self::code_index(lin));
        for set in &mut self.sets {
            if set[i].lin == lin & !0xFFF {
                set[i] = TlbEntry::EMPTY;
            }
        }
        for set in &mut self.code {
            if set[ci].lin == lin & !0xFFF {
                set[ci] = TlbEntry::EMPTY;
            }
        }
    }

    /// Stop direct writes to the RAM page at `ram_page` (its code was just
    /// cached: writes must go through the slow path that notices them).
    pub fn protect_ram_page(&mut self, ram_page: u32) {
        for set in &mut self.sets {
            for e in set.iter_mut() {
                if e.write_tag != NO_TAG && e.write_tag.wrapping_add(e.write_addend) == ram_page {
                    e.write_tag = NO_TAG;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_says_what_the_flushes_dropped() {
        let mut t = Tlb::default();
        t.flush_page(0x1234);
        t.flush_page(0x1FFF);
        t.flush(true);
        let log = t.log.take();
        assert_eq!(log.pages(), &[0x1000]);
        assert!(log.non_global && !log.everything);
        assert_eq!(t.log, FlushLog::default());
        t.flush(false);
        assert!(t.log.take().everything);
        // More single pages than the log holds: everything.
        for p in 0..=FlushLog::PAGES as u32 {
            t.flush_page(p << 12);
        }
        assert!(t.log.take().everything);
    }
}
