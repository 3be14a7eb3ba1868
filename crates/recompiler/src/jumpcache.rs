//! The jump cache: where control goes when a block's successor is not
//! known at translation time (RET, indirect JMP and CALL) or lies in
//! another page (where a chain could outlive the target's translation).
//!
//! A direct-mapped table from (EIP, mode, CS base, CS limit) to the host
//! code of the translation, probed by a shared stub in generated code, so
//! such transfers go block to block without returning to the dispatcher.
//! Entries are made by the dispatcher when it finds a translation. The
//! key is linear (CS:EIP) while translations are physical, so an entry is
//! valid only as long as the TLB translation of its page is: TLB flushes
//! (CR3 loads, INVLPG, paging changes; the helper that executed such an
//! instruction ends the block so the dispatcher sees the flush first) drop
//! the entries they could affect, as the TLB's [`FlushLog`] says. Dropping
//! everything at every CR3 load or INVLPG cost ten million dispatcher
//! entries on the comparison benchmark: Linux keeps its code in global
//! pages, and invalidates data pages one at a time many times a second.
//! The table is cleared whenever translations are invalidated or dropped.

use crate::frame::{fr, off, state};
use crate::runtime::exit;
use cpu::mmu::FlushLog;
use cpu::segment::layout;
use cpu::state::sreg;
use dynasmrt::{DynasmApi, DynasmLabelApi, dynasm};

/// log2 of the number of sets.
pub const BITS: u32 = 12;
/// Entries per set. With one, code that runs through two blocks whose
/// EIPs share a set (two pages, the same offset pattern) missed at every
/// pass: the busybox shell loop of the comparison benchmark had eight
/// such pairs, each costing a dispatcher round trip per iteration.
const WAYS: usize = 2;
const ENTRIES: usize = WAYS << BITS;
/// Non-global entries remembered one by one (see `JumpCache::locals`).
const LOCALS: usize = 512;
/// An impossible mode word marks an empty entry.
const EMPTY_MODE: u32 = u32::MAX;

/// One entry (32 bytes, so the stub indexes with a shift).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub eip: u32,
    pub mode: u32,
    pub cs_base: u32,
    pub cs_limit: u32,
    pub code: usize,
    /// Index of the translation (for the dispatcher).
    pub index: u32,
    /// The linear page of the block's start, with [`GLOBAL`] set when the
    /// TLB translation it was found through was a global page.
    pub page: u32,
}

/// In [`Entry::page`]: the page is global (survives CR3 loads).
pub const GLOBAL: u32 = 1;

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

impl Entry {
    fn matches(&self, eip: u32, mode: u32, cs_base: u32, cs_limit: u32) -> bool {
        self.eip == eip && self.mode == mode && self.cs_base == cs_base && self.cs_limit == cs_limit
    }

    const EMPTY: Entry = Entry {
        eip: 0,
        mode: EMPTY_MODE,
        cs_base: 0,
        cs_limit: 0,
        code: 0,
        index: 0,
        page: 0,
    };
}

/// The set of `eip`: low bits mixed with the page number, so that code
/// at the same offset in different pages seldom shares a set.
#[inline]
pub fn set(eip: u32) -> usize {
    ((eip ^ (eip >> BITS)) as usize) & ((1 << BITS) - 1)
}

pub struct JumpCache {
    /// Boxed: generated code holds its address, which must not move.
    table: Box<[Entry]>,
    /// The TLB flush count the entries were made under.
    pub tlb_flushes: u64,
    /// Entries made since the last clear (clearing an empty table is free).
    filled: bool,
    /// One bit per linear page that may have entries (a set bit may be
    /// stale): INVLPG of a page without one costs a bit test, not a scan.
    pages: Box<[u64]>,
    /// Where entries of non-global pages were made since they were last
    /// dropped (some may since hold others), or `None` when more than
    /// `LOCALS` were: a CR3 load drops those, not every entry the table's
    /// scan finds (8192 of them at every context switch, about 5 % of the
    /// kernel's initcalls, where user-space code pages are few).
    locals: Option<Vec<u32>>,
    /// Changes whenever entries may have gone stale (cleared, forgotten,
    /// the code buffer flushed, CS changed): the exits' inline caches
    /// (`Inline`), filled from this table, are valid only in the epoch
    /// they were filled in.
    pub epoch: u32,
    pub wrapped: bool,
}

/// An exit's inline cache: the last target it went to through the jump
/// cache, for the next time (`emit::exit_lookup`). Filled by the lookup
/// stub on a hit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Inline {
    pub eip: u32,
    pub epoch: u32,
    pub code: u64,
}

impl Inline {
    /// Never valid: epochs start at 1.
    pub const EMPTY: Self = Self { eip: 0, epoch: 0, code: 0 };
}

impl JumpCache {
    pub fn new() -> Self {
        Self {
            table: vec![Entry::EMPTY; ENTRIES].into_boxed_slice(),
            tlb_flushes: 0,
            filled: false,
            pages: vec![0; (1 << 20) / 64].into_boxed_slice(),
            locals: Some(Vec::with_capacity(LOCALS)),
            epoch: 1,
            wrapped: false,
        }
    }

    /// Start a new epoch: every inline cache goes stale. When the count
    /// wraps, `wrapped` asks the owner of the inline caches to empty them,
    /// so that none filled 2^32 epochs ago can match again.
    pub fn new_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.epoch = 1;
            self.wrapped = true;
        }
    }

    /// Address of the table, for the stub.
    pub fn addr(&self) -> usize {
        self.table.as_ptr() as usize
    }

    pub fn clear(&mut self) {
        if self.filled {
            self.table.fill(Entry::EMPTY);
            self.pages.fill(0);
            self.locals = Some(Vec::with_capacity(LOCALS));
            self.filled = false;
            self.new_epoch();
        }
    }

    /// Drop the entries the TLB flushes in `log` may have made stale.
    pub fn forget(&mut self, log: &FlushLog) {
        if !self.filled {
            return;
        }
        if log.everything {
            self.clear();
            return;
        }
        if log.non_global {
            match self.locals.take() {
                Some(mut slots) => {
                    self.new_epoch();
                    for i in slots.drain(..) {
                        let e = &mut self.table[i as usize];
                        if e.mode != EMPTY_MODE && e.page & GLOBAL == 0 {
                            *e = Entry::EMPTY;
                        }
                    }
                    self.locals = Some(slots);
                }
                None => {
                    self.retain(|e| e.page & GLOBAL != 0);
                    self.locals = Some(Vec::with_capacity(LOCALS));
                }
            }
        }
        for &page in log.pages() {
            let (word, bit) = ((page >> 18) as usize, 1u64 << ((page >> 12) & 63));
            if self.pages[word] & bit != 0 {
                self.retain(|e| e.page & !GLOBAL != page);
                self.pages[word] &= !bit;
            }
        }
    }

    fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        self.new_epoch();
        for e in self.table.iter_mut() {
            if e.mode != EMPTY_MODE && !keep(e) {
                *e = Entry::EMPTY;
            }
        }
    }

    /// Remember that slot `i` holds an entry of a non-global page.
    fn local(&mut self, i: usize) {
        if let Some(slots) = &mut self.locals {
            if slots.len() < LOCALS {
                slots.push(i as u32);
            } else {
                self.locals = None;
            }
        }
    }

    /// The translation index cached for this CS:EIP and mode.
    pub fn get(&self, eip: u32, mode: u32, cs_base: u32, cs_limit: u32) -> Option<usize> {
        self.ways(eip)
            .iter()
            .find(|e| e.matches(eip, mode, cs_base, cs_limit))
            .map(|e| e.index as usize)
    }

    fn ways(&self, eip: u32) -> &[Entry] {
        let first = WAYS * set(eip);
        &self.table[first..first + WAYS]
    }

    /// Cache translation `index_` (host code at `code`) for this CS:EIP
    /// and mode; `global` says the TLB found its page global.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(&mut self, eip: u32, mode: u32, cs_base: u32, cs_limit: u32, code: usize, index_: usize, global: bool) {
        let page = cs_base.wrapping_add(eip) & !0xFFF;
        self.pages[(page >> 18) as usize] |= 1u64 << ((page >> 12) & 63);
        // The newest entry goes first (the stub probes it first); the
        // other way keeps the previous first one, unless that was this
        // key's own stale entry.
        const _: () = assert!(WAYS == 2, "the replacement below knows two ways");
        let first = WAYS * set(eip);
        if !self.table[first].matches(eip, mode, cs_base, cs_limit) {
            self.table[first + 1] = self.table[first];
            let moved = self.table[first + 1];
            if moved.mode != EMPTY_MODE && moved.page & GLOBAL == 0 {
                self.local(first + 1);
            }
        }
        if !global {
            self.local(first);
        }
        self.table[first] = Entry {
            eip,
            mode,
            cs_base,
            cs_limit,
            code,
            index: index_ as u32,
            page: page | if global { GLOBAL } else { 0 },
        };
        self.filled = true;
    }
}

/// The lookup stub, at `base`: called with the target EIP in the CPU
/// state, the block's mode in ESI and the exit's inline cache in R11, it
/// returns the cached translation's address in RAX, for the caller to
/// jump to, having filled the inline cache, or leaves to the dispatcher
/// (`CONTINUE`) at `leave`. Called rather than jumped to, so that the
/// indirect jump is the caller's: each exit gets its own branch-target
/// prediction (a `RET` mostly returns to one place), where one shared
/// jump mispredicted whenever consecutive lookups went to different
/// blocks.
pub fn stub(base: usize, table: usize, leave: usize) -> Vec<u8> {
    // A set is WAYS entries of 32 bytes: its offset is the set times this.
    const SET_SHIFT: i8 = (WAYS * std::mem::size_of::<Entry>()).trailing_zeros() as i8;
    const _: () = assert!((WAYS * std::mem::size_of::<Entry>()).is_power_of_two());
    let mut a = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(base);
    dynasm!(a
        ; .arch x64
        ; mov eax, [rbx + state::EIP]
        ; mov ecx, eax
        ; shr ecx, BITS as i8
        ; xor ecx, eax
        ; and ecx, (1i32 << BITS) - 1
        ; shl ecx, SET_SHIFT
        ; mov rdx, QWORD table as i64
        ; add rdx, rcx
        ; mov r8d, [rbx + state::seg(sreg::CS, layout::BASE)]
        ; mov r9d, [rbx + state::seg(sreg::CS, layout::LIMIT)]
    );
    // Each way: the key (EIP, mode, CS base, CS limit), then the code.
    for way in 0..WAYS as i32 {
        let (e, next) = (32 * way, a.new_dynamic_label());
        dynasm!(a
            ; .arch x64
            ; cmp eax, [rdx + e]
            ; jne =>next
            ; cmp esi, [rdx + e + 4]
            ; jne =>next
            ; cmp r8d, [rdx + e + 8]
            ; jne =>next
            ; cmp r9d, [rdx + e + 12]
            ; jne =>next
            // Fill the caller's inline cache (R11; EAX is the EIP).
            ; mov [r11], eax
            ; mov ecx, [rsp + 8 + fr(off::EPOCH)]
            ; mov [r11 + 4], ecx
            ; mov rax, [rdx + e + 16]
            ; mov [r11 + 8], rax
            ; ret
            ; =>next
        );
    }
    // A miss: drop the call's return address and leave.
    dynasm!(a
        ; .arch x64
        ; add rsp, 8
        ; mov eax, exit::CONTINUE as i32
        ; jmp extern leave
    );
    a.finalize().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two EIPs in one set (same offset pattern in two pages).
    const A: u32 = 0x0804_9B40;
    const B: u32 = 0x081A_9AA0;

    #[test]
    fn two_blocks_sharing_a_set_both_stay() {
        assert_eq!(set(A), set(B));
        let mut jc = JumpCache::new();
        jc.insert(A, 1, 0, !0, 0x100, 1, false);
        jc.insert(B, 1, 0, !0, 0x200, 2, false);
        assert_eq!(jc.get(A, 1, 0, !0), Some(1));
        assert_eq!(jc.get(B, 1, 0, !0), Some(2));
        // A different mode is a different key.
        assert_eq!(jc.get(A, 3, 0, !0), None);
    }

    #[test]
    fn flushes_drop_only_what_they_may_have_changed() {
        let mut jc = JumpCache::new();
        jc.insert(0xC100_0000, 1, 0, !0, 0x100, 1, true);
        jc.insert(0x0804_8000, 1, 0, !0, 0x200, 2, false);
        jc.insert(0x0805_0000, 1, 0, !0, 0x300, 3, false);
        // A CR3 load with PGE: global pages stay.
        let mut t = cpu::mmu::Tlb::default();
        t.flush(true);
        jc.forget(&t.log.take());
        assert_eq!(jc.get(0xC100_0000, 1, 0, !0), Some(1));
        assert_eq!(jc.get(0x0804_8000, 1, 0, !0), None);
        // INVLPG of a page without entries changes nothing; of a page with
        // one drops it, global or not.
        jc.insert(0x0804_8000, 1, 0, !0, 0x200, 2, false);
        t.flush_page(0x0900_0000);
        jc.forget(&t.log.take());
        assert_eq!(jc.get(0x0804_8000, 1, 0, !0), Some(2));
        t.flush_page(0xC100_0123);
        jc.forget(&t.log.take());
        assert_eq!(jc.get(0xC100_0000, 1, 0, !0), None);
        assert_eq!(jc.get(0x0804_8000, 1, 0, !0), Some(2));
        // Everything.
        t.flush(false);
        jc.forget(&t.log.take());
        assert_eq!(jc.get(0x0804_8000, 1, 0, !0), None);
    }

    #[test]
    fn a_cr3_load_drops_every_non_global_entry_however_many_and_wherever_they_moved() {
        let mut t = cpu::mmu::Tlb::default();
        // A (non-global) moves to its set's second way when B comes.
        let mut jc = JumpCache::new();
        jc.insert(A, 1, 0, !0, 0x100, 1, false);
        jc.insert(B, 1, 0, !0, 0x200, 2, true);
        jc.insert(0xC100_0000, 1, 0, !0, 0x300, 3, true);
        t.flush(true);
        jc.forget(&t.log.take());
        assert_eq!(jc.get(A, 1, 0, !0), None);
        assert_eq!(jc.get(B, 1, 0, !0), Some(2));
        assert_eq!(jc.get(0xC100_0000, 1, 0, !0), Some(3));
        // More than are remembered one by one: the table is scanned.
        for k in 0..2 * LOCALS as u32 {
            jc.insert(0x0804_8000 + 0x10 * k, 1, 0, !0, 0x400, 4, false);
        }
        t.flush(true);
        jc.forget(&t.log.take());
        assert!((0..2 * LOCALS as u32).all(|k| jc.get(0x0804_8000 + 0x10 * k, 1, 0, !0).is_none()));
        assert_eq!(jc.get(B, 1, 0, !0), Some(2));
        // And one by one again after that.
        jc.insert(A, 1, 0, !0, 0x100, 1, false);
        t.flush(true);
        jc.forget(&t.log.take());
        assert_eq!(jc.get(A, 1, 0, !0), None);
        assert_eq!(jc.get(0xC100_0000, 1, 0, !0), Some(3));
    }
}
