//! The decoded-instruction cache: blocks of decoded instructions keyed by
//! the physical address of their first byte and the code size, invalidated
//! per physical page when guest memory there is written.

use super::insn::Insn;
use std::collections::HashMap;

/// A run of decoded instructions within one page.
pub struct Block {
    pub key: u64,
    pub insns: Box<[Insn]>,
    /// Total length in bytes (for the CS limit check on entry).
    pub bytes: u32,
}

/// Entries in the direct-mapped front table.
const FAST: usize = 4096;
/// Instructions held before the cache flushes itself (bounds memory).
const MAX_INSNS: usize = 1 << 20;

pub struct DecodeCache {
    slots: Vec<Option<Block>>,
    free: Vec<u32>,
    index: HashMap<u64, u32>,
    by_page: HashMap<u32, Vec<u32>>,
    fast: Box<[(u64, u32)]>,
    total: usize,
    pub flushes: u64,
    pub invalidations: u64,
    /// This cache's position in the code-page invalidation log.
    pub cursor: memory::Cursor,
}

/// Cache key: physical address and whether the code is 32-bit.
#[inline(always)]
pub fn key(phys: u32, code32: bool) -> u64 {
    phys as u64 | (code32 as u64) << 32
}

#[inline(always)]
fn fast_index(key: u64) -> usize {
    ((key ^ (key >> 11) ^ (key >> 32)) as usize) & (FAST - 1)
}

impl Default for DecodeCache {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            by_page: HashMap::new(),
            fast: vec![(u64::MAX, 0); FAST].into_boxed_slice(),
            total: 0,
            flushes: 0,
            invalidations: 0,
            cursor: memory::Cursor::default(),
        }
    }
}

impl DecodeCache {
    /// The slot of the block for `key`, if cached.
    #[inline(always)]
    pub fn find(&mut self, key: u64) -> Option<u32> {
        let f = fast_index(key);
        let (k, slot) = self.fast[f];
        if k == key {
            return Some(slot);
        }
        let slot = *self.index.get(&key)?;
        self.fast[f] = (key, slot);
        Some(slot)
    }

    #[inline(always)]
    pub fn block(&self, slot: u32) -> &Block {
        // Slots handed out by `find`/`insert` are live until the next
        // invalidation, which never happens while a block is borrowed.
        self.slots[slot as usize].as_ref().expect("live decode-cache slot")
    }

    /// Add a block; returns its slot.
    pub fn insert(&mut self, block: Block) -> u32 {
        if self.total + block.insns.len() > MAX_INSNS {
            self.flush();
        }
        self.total += block.insns.len();
        let key = block.key;
        let page = (key as u32) >> 12;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(block);
                s
            }
            None => {
                self.slots.push(Some(block));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        self.by_page.entry(page).or_default().push(slot);
        self.fast[fast_index(key)] = (key, slot);
        slot
    }

    /// Drop every block decoded from physical page `page`.
    pub fn invalidate_page(&mut self, page: u32) {
        let Some(slots) = self.by_page.remove(&page) else {
            return;
        };
        for s in slots {
            if let Some(b) = self.slots[s as usize].take() {
                self.index.remove(&b.key);
                let f = fast_index(b.key);
                if self.fast[f].0 == b.key {
                    self.fast[f] = (u64::MAX, 0);
                }
                self.total -= b.insns.len();
                self.free.push(s);
                self.invalidations += 1;
            }
        }
    }

    /// Drop everything.
    pub fn flush(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.index.clear();
        self.by_page.clear();
        self.fast.fill((u64::MAX, 0));
        self.total = 0;
        self.flushes += 1;
    }

    /// Number of cached instructions.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}
