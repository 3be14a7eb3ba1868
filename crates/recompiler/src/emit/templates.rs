//! Host code templates for the inline translations.
//!
//! Conventions inside one guest instruction: ESI holds the linear address
//! of the memory operand, EAX the destination operand's value, ECX the
//! source's, EDX the result; R8-R11 are temporaries. Memory accesses keep
//! every register but their destination intact even on their slow paths,
//! so a template may hold values across them. Guest state is written
//! only after the last access that can fault, so a fault leaves the state
//! of the instruction's start.

use super::classify::{AluOp, Count, Opnd, ShiftOp, Width};
use super::regcache::RegCache;
use crate::deferred;
use crate::frame::{fr, off, stack, state, tlb};
use crate::memo;
use crate::thunks::Thunks;
use cpu::interp::insn::Insn;
use cpu::segment::layout;
use cpu::state::{reg, sreg};
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, dynasm};

pub type Asm = dynasmrt::VecAssembler<dynasmrt::x64::X64Relocation>;

/// Host registers by number.
pub const RAX: u8 = 0;
pub const RCX: u8 = 1;
pub const RDX: u8 = 2;
pub const RSI: u8 = 6;

/// A memory access whose slow path is emitted after the block body.
pub struct Slow {
    pub entry: DynamicLabel,
    pub back: DynamicLabel,
    pub at: Site,
    pub size: u8,
    pub kind: SlowKind,
    /// The deferred flag operation pending there (see `deferred`).
    pub pending: u32,
    /// For a store that is its instruction's last action: where the
    /// block goes on and its early exit, with the deferred operation
    /// pending after the instruction, for leaving when the store hit a
    /// page holding code (see `Gen::ends`).
    pub end: Option<(u32, DynamicLabel, u32, bool)>,
}

pub enum SlowKind {
    /// Load into host register `dst` (RAX, RCX or RDX).
    Load { dst: u8, for_write: bool },
    /// Store host register `src`'s value.
    Store { src: u8 },
    /// The ordinary inline access (TLB probe), out of line: for a grouped
    /// access whose group is not on the fast path, and for a direct load
    /// outside the direct range (see `Gen::direct`).
    Ordinary(Box<SlowKind>),
    /// A load whose site memo (at this address) did not match: the TLB
    /// probe, which fills the memo on a hit (see `memo`).
    Memo { dst: u8, memo: usize, misses: usize },
}

/// Emits code for one block.
/// Where a memory access is made: what its slow path needs to report a
/// fault exactly.
#[derive(Clone, Copy)]
pub struct Site {
    /// EIP of the instruction (a fault is reported there).
    pub start: u32,
    /// Segment register of the access (for the fault it would raise).
    pub seg: u8,
    /// Where the block's code goes when the access faults.
    pub fault: DynamicLabel,
    /// The access belongs to the group in this stack slot (see `groups`).
    pub group: Option<u8>,
}

pub struct Gen {
    pub a: Asm,
    pub slow: Vec<Slow>,
    thunks: Thunks,
    /// Whether the current instruction must store the flags it produces
    /// (see `liveness`); the templates skip the stores when not.
    pub flags: bool,
    /// The segment whose base the current instruction's address adds
    /// (FS or GS): its accesses check the offset for a wrap past 4 GiB.
    based: Option<usize>,
    /// What the previous instruction left in host registers (see
    /// [`super::HostFlags`]).
    pub host_flags: Option<super::HostFlags>,
    /// Guest registers with copies in host registers (see `regcache`).
    pub cache: RegCache,
    /// The access group the current instruction's memory operand belongs
    /// to (see `groups`).
    pub member: Option<u8>,
    /// The deferred flag operation pending before the current instruction
    /// (0: none; see `deferred`), and after it.
    pub pending: u32,
    pub after: u32,
    /// Host registers whose values the current instruction still has to
    /// store in the frame's flag slots (its flags are deferred): RAX to
    /// `flag_a`, RCX to `flag_b` when two, and R8D (the carry of ADC and
    /// SBB) to `flag_c` when three.
    pub spill: u8,
    /// With `spill`: the current instruction leaves its flags to the
    /// next blocks in operand form (this code, see `deferred::settle`),
    /// so the operands go to the frame's `pend` slots instead.
    pub pend: u8,
    /// Out-of-line calls of the `resolve` thunk: entry and way back.
    resolves: Vec<(DynamicLabel, DynamicLabel)>,
    /// The current instruction's store is its last action: the next EIP
    /// and the early exit. Only a store's slow path can hit a page holding
    /// code (such pages have no fast-path write entries), so the check
    /// that ends the block then is made there, not after every store.
    /// With `true`, the store is a push's, which still has ESI to store to
    /// ESP when it ends the block.
    pub ends: Option<(u32, DynamicLabel, bool)>,
    /// The current instruction's condition is tested on flags an earlier
    /// one of the block left in operand form (see `forward`): its
    /// deferred operation code, and whether in the `pend` slots.
    pub cond_from: Option<(u8, bool)>,
    /// Flags an earlier block left in operand form may still be unsettled
    /// (see `resolve_pending`): an instruction that replaces them all
    /// drops them when it stores its own.
    pub unsettled: bool,
    /// Guest-physical range `(start, length)` that loads may read at
    /// `R13 + linear` without a TLB probe (see `crate::mode::direct`):
    /// with paging off and flat segments a linear address is physical,
    /// and plain RAM there sits at its own offset. `None` elsewhere.
    pub direct: Option<(u32, u32)>,
    /// The site memos this block may still take (see `memo`).
    pub memos: crate::memo::Alloc,
    /// The memos taken and the EIPs of their loads.
    pub memo_sites: Vec<(u32, u32)>,
    /// Memos may be of global pages (supervisor code; see `memo`).
    pub memo_global: bool,
    /// The current instruction's load may take a memo (its address
    /// chases a loaded value, see `emit::chased`).
    pub memo_here: bool,
}

impl Gen {
    pub fn new(base: usize, thunks: Thunks) -> Self {
        Self {
            // Room for most blocks' code (about 1 KiB on average) and
            // labels: growing the buffers reallocated and copied them
            // several times per block.
            a: Asm::new_with_capacity(base, 8 << 10, 0, 0, 256, 0, 256),
            slow: Vec::new(),
            thunks,
            flags: true,
            based: None,
            host_flags: None,
            cache: RegCache::default(),
            member: None,
            pending: 0,
            after: 0,
            spill: 0,
            pend: 0,
            resolves: Vec::new(),
            unsettled: false,
            cond_from: None,
            ends: None,
            direct: None,
            memos: crate::memo::Alloc::default(),
            memo_sites: Vec::new(),
            memo_global: false,
            memo_here: false,
        }
    }

    /// After the current instruction stored all six flags in the lazy
    /// form: flags an earlier block left in operand form are obsolete.
    /// (Not before: a fault on the way must still see them.)
    fn drop_pending(&mut self) {
        if std::mem::take(&mut self.unsettled) {
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; mov DWORD [rsp + fr(off::PEND)], 0);
        }
    }

    /// Settle flags an earlier block may have left in operand form
    /// before the lazy flags are read or replaced (a flag the current
    /// instruction keeps, or a fault after it, would see stale ones).
    pub fn resolve_pending(&mut self) {
        let (entry, back) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; cmp DWORD [rsp + fr(off::PEND)], 0
            ; jne =>entry
            ; =>back
        );
        self.resolves.push((entry, back));
        self.unsettled = false;
    }

    // ---- guest registers -------------------------------------------

    /// Load guest register `n` of width `w` into host `h`, zero-extended
    /// (for bytes, `n` 4-7 are AH-BH). From the register cache when it
    /// holds the register, else from the state, keeping a copy when the
    /// cache can take one.
    pub fn ld_reg(&mut self, w: Width, n: u8, h: u8) {
        let c = self.held(if w == 1 && n >= 4 { n - 4 } else { n });
        let a = &mut self.a;
        match (c, w) {
            (Some(c), 4) => dynasm!(a ; .arch x64 ; mov Rd(h), Rd(c)),
            (Some(c), 2) => dynasm!(a ; .arch x64 ; movzx Rd(h), Rw(c)),
            (Some(c), _) if n < 4 => dynasm!(a ; .arch x64 ; movzx Rd(h), Rb(c)),
            (Some(c), _) => dynasm!(a ; .arch x64 ; mov Rd(h), Rd(c) ; shr Rd(h), 8 ; movzx Rd(h), Rb(h)),
            (None, 4) => dynasm!(a ; .arch x64 ; mov Rd(h), [rbx + state::gpr(n)]),
            (None, 2) => dynasm!(a ; .arch x64 ; movzx Rd(h), WORD [rbx + state::gpr(n)]),
            (None, _) => {
                let at = if n < 4 { state::gpr(n) } else { state::gpr(n - 4) + 1 };
                dynasm!(a ; .arch x64 ; movzx Rd(h), BYTE [rbx + at])
            }
        }
    }

    /// The host register holding a copy of (whole) guest register `n`:
    /// the cache's, or a new one loaded here; `None` in conditional code
    /// when there is none.
    pub fn held(&mut self, n: u8) -> Option<u8> {
        self.held_for(n, false)
    }

    /// `held`, with `must`: a copy even of a register needed later than
    /// all the copies held (see `RegCache::claim_for`).
    fn held_for(&mut self, n: u8, must: bool) -> Option<u8> {
        let n = n & 7;
        self.cache.find(n).or_else(|| {
            let c = self.cache.claim_for(n, must)?;
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; mov Rd(c), [rbx + state::gpr(n)]);
            Some(c)
        })
    }

    /// Store host `h` into guest register `n` of width `w`, and into its
    /// cached copy (see `regcache`: the state is written through). Uses
    /// only MOVs, so host flags survive it.
    pub fn st_reg(&mut self, w: Width, n: u8, h: u8) {
        // A byte or word written into a whole register's copy, and the
        // whole register stored: a narrow store followed by the usual
        // 32-bit load of the same register cannot be forwarded and
        // stalls the load for about ten cycles (`setb bl; adc ebx, esi`
        // in the kernel's multi-precision multiply spent 13 % of its
        // time there).
        if w != 4
            && !(w == 1 && n >= 4)
            && let Some(c) = self.held_for(n, true)
        {
            let a = &mut self.a;
            if w == 2 {
                dynasm!(a ; .arch x64 ; mov Rw(c), Rw(h));
            } else {
                dynasm!(a ; .arch x64 ; mov Rb(c), Rb(h));
            }
            dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(n)], Rd(c));
            return;
        }
        let a = &mut self.a;
        match w {
            4 => dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(n)], Rd(h)),
            2 => dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(n)], Rw(h)),
            _ => {
                let at = if n < 4 { state::gpr(n) } else { state::gpr(n - 4) + 1 };
                dynasm!(a ; .arch x64 ; mov [rbx + at], Rb(h))
            }
        }
        if w == 1 && n >= 4 {
            // A high byte: rare enough to drop the copy than merge it.
            self.cache.forget(n - 4);
            return;
        }
        let n = n & 7;
        let c = match self.cache.find(n) {
            Some(c) => Some(c),
            // Only a whole register can start a copy.
            None if w == 4 => self.cache.claim(n),
            None => None,
        };
        let a = &mut self.a;
        match (c, w) {
            (Some(c), 4) => dynasm!(a ; .arch x64 ; mov Rd(c), Rd(h)),
            (Some(c), 2) => dynasm!(a ; .arch x64 ; mov Rw(c), Rw(h)),
            (Some(c), _) => dynasm!(a ; .arch x64 ; mov Rb(c), Rb(h)),
            (None, _) => {}
        }
    }

    /// Store the constant `v` into guest register `n` (whole), and into
    /// its copy (see `st_reg`).
    pub fn st_reg_imm(&mut self, n: u8, v: u32) {
        let n = n & 7;
        let c = self.cache.find(n).or_else(|| self.cache.claim(n));
        let a = &mut self.a;
        dynasm!(a ; .arch x64 ; mov DWORD [rbx + state::gpr(n)], v as i32);
        if let Some(c) = c {
            dynasm!(a ; .arch x64 ; mov Rd(c), v as i32);
        }
    }

    /// ESI = effective address of the memory operand (flat: also linear).
    /// ESI = the linear address of `i`'s memory operand: its offset, plus
    /// the segment base for FS and GS (DS, ES and SS are flat here).
    pub fn ea(&mut self, i: &Insn) {
        self.ea_offset(i);
        let seg = i.seg as usize;
        self.based = matches!(seg, sreg::FS | sreg::GS).then_some(seg);
        if let Some(seg) = self.based {
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; add esi, [rbx + state::seg(seg, layout::BASE)]);
        }
    }

    /// The offset check of an access through a based segment: an offset
    /// running past 0xFFFFFFFF faults (the slow path raises it), though
    /// base + offset may not wrap.
    fn offset_check(&mut self, size: u8, entry: DynamicLabel) {
        let Some(seg) = self.based else { return };
        if size == 1 {
            return;
        }
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; mov r11d, esi
            ; sub r11d, [rbx + state::seg(seg, layout::BASE)]
            ; cmp r11d, 0u32.wrapping_sub(size as u32) as i32
            ; ja =>entry
        );
    }

    /// ESI = the offset (effective address) of `i`'s memory operand.
    pub fn ea_offset(&mut self, i: &Insn) {
        if i.base as usize == reg::ZERO {
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; mov esi, i.disp as i32);
        } else if let Some(c) = self.held(i.base) {
            // A 64-bit LEA truncated to 32 bits wraps as the guest's sum.
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; lea esi, [Rq(c) + i.disp as i32]);
        } else {
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; mov esi, [rbx + state::gpr(i.base)]);
            if i.disp != 0 {
                dynasm!(a ; .arch x64 ; add esi, i.disp as i32);
            }
        }
        if i.index as usize != reg::ZERO {
            match self.held(i.index) {
                Some(c) => {
                    let a = &mut self.a;
                    match i.scale {
                        0 => dynasm!(a ; .arch x64 ; lea esi, [rsi + Rq(c)]),
                        1 => dynasm!(a ; .arch x64 ; lea esi, [rsi + Rq(c) * 2]),
                        2 => dynasm!(a ; .arch x64 ; lea esi, [rsi + Rq(c) * 4]),
                        _ => dynasm!(a ; .arch x64 ; lea esi, [rsi + Rq(c) * 8]),
                    }
                }
                None => {
                    let a = &mut self.a;
                    dynasm!(a ; .arch x64 ; mov r10d, [rbx + state::gpr(i.index)]);
                    if i.scale != 0 {
                        dynasm!(a ; .arch x64 ; shl r10d, i.scale as i8);
                    }
                    dynasm!(a ; .arch x64 ; add esi, r10d);
                }
            }
        }
        let a = &mut self.a;
        if i.amask != 0xFFFF_FFFF {
            dynasm!(a ; .arch x64 ; and esi, i.amask as i32);
        }
    }

    // ---- memory ------------------------------------------------------

    /// Host `dst` = the byte offset, in the TLB set (R14), of the entry for
    /// the linear address in host `src`.
    fn tlb_index(&mut self, dst: u8, src: u8) {
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; mov Rd(dst), Rd(src)
            ; shr Rd(dst), (12 - tlb::SHIFT) as i8
            ; and Rd(dst), ((tlb::SETS - 1) << tlb::SHIFT) as i32
        );
    }

    /// Set R10 to the byte offset of ESI's entry in the TLB set (R14),
    /// and R11 to the page of the access's last byte: one comparison with
    /// the entry's tag then checks both the page and that the access does
    /// not cross into the next one (or wrap past 4 GiB).
    fn tlb_probe(&mut self, size: u8) {
        self.tlb_index(10, 6);
        let a = &mut self.a;
        if size > 1 {
            dynasm!(a ; .arch x64 ; lea r11d, [rsi + (size - 1) as i32]);
        } else {
            dynasm!(a ; .arch x64 ; mov r11d, esi);
        }
        dynasm!(a ; .arch x64 ; and r11d, 0xFFFF_F000u32 as i32);
    }

    /// Load `size` bytes at linear ESI into host `dst` (zero-extended);
    /// `for_write` also requires write access (read-modify-write).
    pub fn load(&mut self, size: u8, dst: u8, for_write: bool, at: Site) {
        debug_assert!(dst < 3, "thunks exist for RAX, RCX and RDX");
        let entry = self.a.new_dynamic_label();
        let back = self.a.new_dynamic_label();
        if let Some(slot) = at.group {
            self.group_base(slot, entry);
            let a = &mut self.a;
            sized_load(a, size, dst, 11, 6);
            dynasm!(a ; .arch x64 ; =>back);
            let kind = SlowKind::Ordinary(Box::new(SlowKind::Load { dst, for_write }));
            self.push_slow(entry, back, at, size, kind);
            return;
        }
        // Direct loads and memos send their misses to the ordinary access
        // out of line, which `ordinary` emits without a segment base: an
        // FS/GS-based access (whose offset check must go there too) keeps
        // the ordinary path.
        let plain = !for_write && self.based.is_none();
        if let (Some((start, len)), true) = (self.direct, plain) {
            // Only a range check, off the address-to-data path: the load
            // waits for the address alone, where the probe made it wait
            // for the TLB entry too (about 7 cycles more per load, which
            // dependent loads pay in full: the kernel's LZMA decoder).
            let a = &mut self.a;
            dynasm!(a
                ; .arch x64
                ; lea r11d, [rsi - start as i32]
                ; cmp r11d, len.wrapping_sub(size as u32 - 1) as i32
                ; jae =>entry
            );
            sized_load(a, size, dst, 13, 6);
            dynasm!(a ; .arch x64 ; =>back);
            let kind = SlowKind::Ordinary(Box::new(SlowKind::Load { dst, for_write }));
            self.push_slow(entry, back, at, size, kind);
            return;
        }
        if plain
            && self.memo_here
            && let Some((n, memo, misses)) = self.memos.take()
        {
            self.memo_sites.push((n, at.start));
            let a = &mut self.a;
            dynasm!(a
                ; .arch x64
                ; mov r10, QWORD memo as i64
                ; mov r11d, esi
                ; sub r11d, [r10 + memo::PAGE]
                ; cmp r11d, (0x1000 - size as u32) as i32
                ; ja =>entry
                ; mov r11d, [r10 + memo::TOKEN]
            );
            if self.memo_global {
                dynasm!(a
                    ; .arch x64
                    ; cmp r11d, [rsp + fr(off::MEMO_GLOBAL)]
                    ; je >valid
                );
            }
            dynasm!(a
                ; .arch x64
                ; cmp r11d, [rsp + fr(off::MEMO_LOCAL)]
                ; jne =>entry
                ; valid:
                ; mov r11, [r10 + memo::HOST]
            );
            sized_load(a, size, dst, 11, 6);
            dynasm!(a ; .arch x64 ; =>back);
            self.push_slow(entry, back, at, size, SlowKind::Memo { dst, memo, misses });
            return;
        }
        let tag = if for_write { tlb::WRITE_TAG } else { tlb::READ_TAG };
        self.offset_check(size, entry);
        self.tlb_probe(size);
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; cmp r11d, [r14 + r10 + tag]
            ; jne =>entry
        );
        if for_write {
            // Reads of a write-tagged page go to the same RAM only if the
            // read tag agrees (PAM can split them).
            dynasm!(a
                ; .arch x64
                ; cmp r11d, [r14 + r10 + tlb::READ_TAG]
                ; jne =>entry
                ; mov r11d, [r14 + r10 + tlb::READ_ADDEND]
                ; cmp r11d, [r14 + r10 + tlb::WRITE_ADDEND]
                ; jne =>entry
            );
        }
        dynasm!(a
            ; .arch x64
            ; mov r11d, esi
            ; add r11d, [r14 + r10 + tlb::READ_ADDEND]
        );
        sized_load(a, size, dst, 13, 11);
        dynasm!(a ; .arch x64 ; =>back);
        self.push_slow(entry, back, at, size, SlowKind::Load { dst, for_write });
    }

    /// The TLB probe of a load whose site memo missed (out of line): on a
    /// hit it fills the memo from the entry, then loads.
    fn load_filling(&mut self, size: u8, dst: u8, at: Site, memo: usize, misses: usize) {
        let entry = self.a.new_dynamic_label();
        let back = self.a.new_dynamic_label();
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; mov r10, QWORD misses as i64
            ; add QWORD [r10], 1
        );
        self.tlb_probe(size);
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; cmp r11d, [r14 + r10 + tlb::READ_TAG]
            ; jne =>entry
            ; mov Rq(dst), QWORD memo as i64
        );
        if self.memo_global {
            // A global page's memo survives CR3 loads (see `memo`).
            dynasm!(a
                ; .arch x64
                ; mov r11d, [rsp + fr(off::MEMO_LOCAL)]
                ; test BYTE [r14 + r10 + tlb::FLAGS], cpu::mmu::tlb_flag::GLOBAL as i8
                ; cmovnz r11d, [rsp + fr(off::MEMO_GLOBAL)]
                ; mov [Rq(dst) + memo::TOKEN], r11d
            );
        } else {
            dynasm!(a
                ; .arch x64
                ; mov r11d, [rsp + fr(off::MEMO_LOCAL)]
                ; mov [Rq(dst) + memo::TOKEN], r11d
            );
        }
        dynasm!(a
            ; .arch x64
            // The memo: the page, then `RAM + (page + addend) - page`
            // (the addend wraps in 32 bits, the host address does not).
            ; mov r11d, esi
            ; and r11d, 0xFFFF_F000u32 as i32
            ; mov [Rq(dst) + memo::PAGE], r11d
            ; mov r10d, [r14 + r10 + tlb::READ_ADDEND]
            ; add r10d, r11d
            ; add r10, r13
            ; sub r10, r11
            ; mov [Rq(dst) + memo::HOST], r10
        );
        sized_load(a, size, dst, 10, 6);
        dynasm!(a ; .arch x64 ; =>back);
        self.push_slow(entry, back, at, size, SlowKind::Load { dst, for_write: false });
    }

    /// Store host `src`'s low `size` bytes at linear ESI.
    pub fn store(&mut self, size: u8, src: u8, at: Site) {
        debug_assert!(src < 3, "thunks exist for RAX, RCX and RDX");
        let entry = self.a.new_dynamic_label();
        let back = self.a.new_dynamic_label();
        if let Some(slot) = at.group {
            self.group_base(slot, entry);
            let a = &mut self.a;
            match size {
                4 => dynasm!(a ; .arch x64 ; mov [r11 + rsi], Rd(src)),
                2 => dynasm!(a ; .arch x64 ; mov [r11 + rsi], Rw(src)),
                _ => dynasm!(a ; .arch x64 ; mov [r11 + rsi], Rb(src)),
            }
            dynasm!(a ; .arch x64 ; =>back);
            let kind = SlowKind::Ordinary(Box::new(SlowKind::Store { src }));
            self.push_slow(entry, back, at, size, kind);
            return;
        }
        self.offset_check(size, entry);
        self.tlb_probe(size);
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; cmp r11d, [r14 + r10 + tlb::WRITE_TAG]
            ; jne =>entry
            ; mov r11d, esi
            ; add r11d, [r14 + r10 + tlb::WRITE_ADDEND]
        );
        match size {
            4 => dynasm!(a ; .arch x64 ; mov [r13 + r11], Rd(src)),
            2 => dynasm!(a ; .arch x64 ; mov [r13 + r11], Rw(src)),
            _ => dynasm!(a ; .arch x64 ; mov [r13 + r11], Rb(src)),
        }
        dynasm!(a ; .arch x64 ; =>back);
        self.push_slow(entry, back, at, size, SlowKind::Store { src });
    }

    /// Emit the slow paths collected for the block: each stores its EIP
    /// and parameters and calls the shared thunk (see `thunks`).
    pub fn emit_slow_paths(&mut self) {
        for (entry, back) in std::mem::take(&mut self.resolves) {
            let a = &mut self.a;
            dynasm!(a
                ; .arch x64
                ; =>entry
                ; call extern self.thunks.resolve
                ; jmp =>back
            );
        }
        // An out-of-line ordinary access emits its code here, which adds
        // its own slow path: go round until none is left.
        loop {
            let slow = std::mem::take(&mut self.slow);
            if slow.is_empty() {
                break;
            }
            for mut s in slow {
                let (thunk, for_write) = match s.kind {
                    SlowKind::Load { dst, for_write } => (self.thunks.load[dst as usize], for_write),
                    SlowKind::Store { src } => (self.thunks.store[src as usize], false),
                    SlowKind::Ordinary(ref mut kind) => {
                        let kind = std::mem::replace(&mut **kind, SlowKind::Store { src: 0 });
                        self.ordinary(s, kind);
                        continue;
                    }
                    SlowKind::Memo { dst, memo, misses } => {
                        self.ordinary(s, SlowKind::Memo { dst, memo, misses });
                        continue;
                    }
                };
                let arg = s.size as u32 | (s.at.seg as u32) << 8 | (for_write as u32) << 16;
                let a = &mut self.a;
                dynasm!(a
                    ; .arch x64
                    ; =>s.entry
                    ; mov DWORD [rbx + state::EIP], s.at.start as i32
                    ; mov DWORD [rsp + fr(off::ARG)], arg as i32
                    ; mov DWORD [rsp + fr(off::DEFERRED)], s.pending as i32
                    ; call extern thunk
                    ; jc =>s.at.fault
                );
                if let Some((next, out, after, esp)) = s.end {
                    let a = &mut self.a;
                    dynasm!(a
                        ; .arch x64
                        ; cmp DWORD [rsp + fr(off::END)], 0
                        ; je =>s.back
                    );
                    if esp {
                        dynasm!(a ; .arch x64 ; mov [rbx + state::gpr(reg::ESP as u8)], esi);
                    }
                    code_write_exit(a, next, out, after);
                } else {
                    let a = &mut self.a;
                    dynasm!(a ; .arch x64 ; jmp =>s.back);
                }
            }
        }
    }

    /// The ordinary access for a grouped one whose group failed its probe,
    /// a direct load out of range or a load whose memo missed, emitted out
    /// of line (with the state
    /// of the flags and segments of its instruction, not of the block's
    /// end).
    fn ordinary(&mut self, s: Slow, kind: SlowKind) {
        let Slow {
            entry,
            back,
            at,
            size,
            pending,
            end,
            ..
        } = s;
        let a = &mut self.a;
        dynasm!(a ; .arch x64 ; =>entry);
        let no_memos = crate::memo::Alloc::default();
        let saved = (
            self.pending,
            self.based.take(),
            self.after,
            self.ends,
            self.direct.take(),
            std::mem::replace(&mut self.memos, no_memos),
        );
        self.pending = pending;
        if let Some((next, out, after, esp)) = end {
            (self.ends, self.after) = (Some((next, out, esp)), after);
        }
        let at = Site { group: None, ..at };
        match kind {
            SlowKind::Load { dst, for_write } => self.load(size, dst, for_write, at),
            SlowKind::Store { src } => self.store(size, src, at),
            SlowKind::Memo { dst, memo, misses } => self.load_filling(size, dst, at, memo, misses),
            SlowKind::Ordinary(_) => {}
        }
        let memos;
        (self.pending, self.based, self.after, self.ends, self.direct, memos) = saved;
        // What the out-of-line code took (nothing) stays taken.
        self.memos = memos;
        let a = &mut self.a;
        dynasm!(a ; .arch x64 ; jmp =>back);
    }

    fn push_slow(&mut self, entry: DynamicLabel, back: DynamicLabel, at: Site, size: u8, kind: SlowKind) {
        self.slow.push(Slow {
            entry,
            back,
            at,
            size,
            kind,
            pending: self.pending,
            end: self.ends.map(|(next, out, esp)| (next, out, self.after, esp)),
        });
    }

    /// R11 = `host - linear` for the page of group `slot`, or to `miss`
    /// when the group is not on the fast path.
    fn group_base(&mut self, slot: u8, miss: DynamicLabel) {
        let at = stack::GROUP + 8 * slot as i32;
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; mov r11, [rsp + at]
            ; test r11, r11
            ; jz =>miss
        );
    }

    /// Start a group (see `groups`): probe the TLB once for its whole
    /// window and keep `host - linear` for the window's page in its stack
    /// slot, or 0 when any byte of the window is off the fast path.
    pub fn group_probe(&mut self, p: super::groups::Probe) {
        match self.held(p.base) {
            Some(c) => {
                let a = &mut self.a;
                dynasm!(a ; .arch x64 ; lea r8d, [Rq(c) + p.lo])
            }
            None => {
                let a = &mut self.a;
                dynasm!(a ; .arch x64 ; mov r8d, [rbx + state::gpr(p.base)] ; add r8d, p.lo)
            }
        }
        let at = stack::GROUP + 8 * p.slot as i32;
        self.tlb_index(9, 8);
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; lea r11d, [r8 + (p.span - 1) as i32]
            ; and r11d, 0xFFFF_F000u32 as i32
            ; xor r10d, r10d
            ; cmp r11d, [r14 + r9 + tlb::READ_TAG]
            ; jne >done
        );
        if p.write {
            dynasm!(a
                ; .arch x64
                ; cmp r11d, [r14 + r9 + tlb::WRITE_TAG]
                ; jne >done
                ; mov r11d, [r14 + r9 + tlb::READ_ADDEND]
                ; cmp r11d, [r14 + r9 + tlb::WRITE_ADDEND]
                ; jne >done
            );
        }
        dynasm!(a
            ; .arch x64
            ; mov r10d, [r14 + r9 + tlb::READ_ADDEND]
            ; add r10d, r8d
            ; add r10, r13
            ; sub r10, r8
            ; done:
            ; mov [rsp + at], r10
        );
    }

    /// Store the operands of the current instruction's deferred flags in
    /// the frame's slots, once: before its code-write exit and at its end
    /// (after its last access that can fault, whose slow path still needs
    /// the slots of the operation pending before it).
    pub fn settle(&mut self) {
        let a = &mut self.a;
        let pend = std::mem::take(&mut self.pend);
        let (slot_a, slot_b) = operand_slots(pend != 0);
        match std::mem::take(&mut self.spill) {
            0 => return,
            1 => dynasm!(a ; .arch x64 ; mov [rsp + fr(slot_a)], eax),
            2 => dynasm!(a ; .arch x64 ; mov [rsp + fr(slot_a)], eax ; mov [rsp + fr(slot_b)], ecx),
            // ADC, SBB: the carry in R8D too (see `alu`).
            _ => {
                debug_assert!(pend == 0, "ADC/SBB left in operand form");
                dynasm!(a
                    ; .arch x64
                    ; mov [rsp + fr(slot_a)], eax
                    ; mov [rsp + fr(slot_b)], ecx
                    ; mov [rsp + fr(off::FLAG_C)], r8d
                )
            }
        }
        if pend != 0 {
            dynasm!(a ; .arch x64 ; mov DWORD [rsp + fr(off::PEND)], pend as i32);
        }
    }

    // ---- operands ----------------------------------------------------

    /// Read operand `o` (width `w`) into host `h`; the memory operand
    /// address must be in ESI already.
    pub fn read(&mut self, w: Width, o: Opnd, h: u8, rmw: bool, at: Site) {
        match o {
            Opnd::Reg(n) => self.ld_reg(w, n, h),
            Opnd::Mem => self.load(w, h, rmw, at),
            Opnd::Imm(v) => {
                let v = mask(w, v);
                let a = &mut self.a;
                dynasm!(a ; .arch x64 ; mov Rd(h), v as i32)
            }
        }
    }

    /// Write host `h` to operand `o` (register or memory at ESI).
    pub fn write(&mut self, w: Width, o: Opnd, h: u8, at: Site) {
        match o {
            Opnd::Reg(n) => self.st_reg(w, n, h),
            Opnd::Mem => self.store(w, h, at),
            Opnd::Imm(_) => {}
        }
    }

    // ---- flags -------------------------------------------------------

    /// Lazy flags of a logic result in EDX.
    pub fn flags_logic(&mut self, w: Width) {
        if !self.flags {
            return;
        }
        self.store_result(w);
        let a = &mut self.a;
        dynasm!(a ; .arch x64 ; mov DWORD [rbx + state::AUX], 0);
        self.drop_pending();
    }

    /// RESULT = sign-extended EDX. Clobbers only R11 (callers keep
    /// values in R8-R10 across it).
    fn store_result(&mut self, w: Width) {
        let a = &mut self.a;
        match w {
            4 => dynasm!(a ; .arch x64 ; mov [rbx + state::RESULT], edx),
            2 => dynasm!(a ; .arch x64 ; movsx r11d, dx ; mov [rbx + state::RESULT], r11d),
            _ => dynasm!(a ; .arch x64 ; movsx r11d, dl ; mov [rbx + state::RESULT], r11d),
        }
    }

    /// AUX from the carry (or borrow) vector in R9D.
    fn store_aux_from_carries(&mut self, w: Width) {
        let a = &mut self.a;
        let shift = 32 - 8 * w as i8;
        dynasm!(a ; .arch x64 ; mov r10d, r9d);
        if shift != 0 {
            dynasm!(a ; .arch x64 ; shl r10d, shift);
        }
        dynasm!(a
            ; .arch x64
            ; and r10d, 0xC000_0000u32 as i32
            ; and r9d, 8
            ; or r9d, r10d
            ; mov [rbx + state::AUX], r9d
        );
    }

    /// Lazy flags of EDX = EAX + ECX (+ carry).
    /// Lazy flags of EAX + ECX (`sub`: EAX - ECX), result in EDX, without
    /// carry-in: the carry-in vector `a ^ b ^ r` of the sum taken in 64
    /// bits (operands are zero-extended) holds every bit AUX needs: the
    /// carry out of the top bit (CF) is its bit 8w, the carry into the top
    /// bit its bit 8w-1, AF's carry out of bit 3 its bit 4. Four host
    /// instructions fewer than building the carry-out vector.
    pub fn flags_wide(&mut self, w: Width, sub: bool) {
        if !self.flags {
            return;
        }
        self.store_result(w);
        wide_aux(&mut self.a, w, sub);
        self.drop_pending();
    }

    pub fn flags_add(&mut self, w: Width) {
        if !self.flags {
            return;
        }
        self.store_result(w);
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; mov r9d, eax
            ; and r9d, ecx
            ; mov r10d, eax
            ; or r10d, ecx
            ; mov r11d, edx
            ; not r11d
            ; and r10d, r11d
            ; or r9d, r10d
        );
        self.store_aux_from_carries(w);
        self.drop_pending();
    }

    /// Lazy flags of EDX = EAX - ECX (- borrow).
    pub fn flags_sub(&mut self, w: Width) {
        if !self.flags {
            return;
        }
        self.store_result(w);
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; mov r9d, eax
            ; not r9d
            ; mov r10d, r9d
            ; and r9d, ecx
            ; or r10d, ecx
            ; and r10d, edx
            ; or r9d, r10d
        );
        self.store_aux_from_carries(w);
        self.drop_pending();
    }

    /// R10D = 1 when base condition `cc & !1` holds in the lazy flags
    /// (the caller tests the odd codes by inverting).
    /// Branch to `taken` on condition `cc` with host flags recomputed from
    /// the previous instruction's registers, if that is possible; false
    /// when the caller must evaluate the lazy flags.
    pub fn jcc_fused(&mut self, cc: u8, taken: DynamicLabel) -> bool {
        use super::HostFlags;
        let Some(hf) = self.host_flags else { return false };
        let a = &mut self.a;
        match hf {
            HostFlags::Sub(w) => match w {
                4 => dynasm!(a ; .arch x64 ; cmp eax, ecx),
                2 => dynasm!(a ; .arch x64 ; cmp ax, cx),
                _ => dynasm!(a ; .arch x64 ; cmp al, cl),
            },
            HostFlags::Add(w) => match w {
                4 => dynasm!(a ; .arch x64 ; mov r10d, eax ; add r10d, ecx),
                2 => dynasm!(a ; .arch x64 ; mov r10d, eax ; add r10w, cx),
                _ => dynasm!(a ; .arch x64 ; mov r10d, eax ; add r10b, cl),
            },
            _ if !hf.fuses(cc) => return false,
            HostFlags::Logic(w) | HostFlags::IncDec(w) => match w {
                4 => dynasm!(a ; .arch x64 ; test edx, edx),
                2 => dynasm!(a ; .arch x64 ; test dx, dx),
                _ => dynasm!(a ; .arch x64 ; test dl, dl),
            },
        }
        jcc_host(a, cc, taken);
        true
    }

    /// Branch to `taken` on guest condition `cc`: from host flags the
    /// previous instruction left, from a producer's operands (see
    /// `forward`), or from the lazy flags.
    pub fn branch(&mut self, cc: u8, taken: DynamicLabel) {
        if let Some((code, pend)) = self.cond_from {
            self.regenerate(code, pend);
            jcc_host(&mut self.a, cc, taken);
        } else if !self.jcc_fused(cc, taken) {
            self.eval_cond(cc);
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; test r10d, r10d ; jnz =>taken);
        }
    }

    /// Host flags equal to the guest's after the operation `code` (see
    /// `deferred::code`; ADD or SUB) of the operands in the `pend` slots
    /// (`pend`) or the deferred ones: the operation redone at its width.
    /// Clobbers R10.
    pub fn regenerate(&mut self, code: u8, pend: bool) {
        let (sa, sb) = operand_slots(pend);
        let a = &mut self.a;
        dynasm!(a ; .arch x64 ; mov r10d, [rsp + fr(sa)]);
        let add = deferred::op_of(code as u32) == deferred::number(deferred::Op::Add);
        match (deferred::width_of(code as u32), add) {
            (0, true) => dynasm!(a ; .arch x64 ; add r10b, BYTE [rsp + fr(sb)]),
            (1, true) => dynasm!(a ; .arch x64 ; add r10w, WORD [rsp + fr(sb)]),
            (_, true) => dynasm!(a ; .arch x64 ; add r10d, DWORD [rsp + fr(sb)]),
            (0, false) => dynasm!(a ; .arch x64 ; cmp r10b, BYTE [rsp + fr(sb)]),
            (1, false) => dynasm!(a ; .arch x64 ; cmp r10w, WORD [rsp + fr(sb)]),
            (_, false) => dynasm!(a ; .arch x64 ; cmp r10d, DWORD [rsp + fr(sb)]),
        }
    }

    /// R8D = the carry flag (0 or 1) for ADC/SBB: from a producer's
    /// operands (see `forward`) or from the lazy flags.
    fn carry_in(&mut self) {
        if let Some((code, pend)) = self.cond_from {
            self.regenerate(code, pend);
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; setb r8b ; movzx r8d, r8b);
        } else {
            let a = &mut self.a;
            dynasm!(a ; .arch x64 ; mov r8d, [rbx + state::AUX] ; shr r8d, 31);
        }
    }

    pub fn eval_cond(&mut self, cc: u8) {
        if let Some((code, pend)) = self.cond_from {
            self.regenerate(code, pend);
            setcc_host(&mut self.a, cc);
            return;
        }
        let a = &mut self.a;
        match cc >> 1 {
            // OF = AUX[31] ^ AUX[30]
            0 => dynasm!(a
                ; .arch x64
                ; mov r10d, [rbx + state::AUX]
                ; mov r11d, r10d
                ; add r11d, r11d
                ; xor r10d, r11d
                ; shr r10d, 31
            ),
            // CF = AUX[31]
            1 => dynasm!(a ; .arch x64 ; mov r10d, [rbx + state::AUX] ; shr r10d, 31),
            // ZF = RESULT == 0
            2 => dynasm!(a ; .arch x64 ; xor r10d, r10d ; cmp DWORD [rbx + state::RESULT], 0 ; sete r10b),
            // CF | ZF
            3 => dynasm!(a
                ; .arch x64
                ; mov r10d, [rbx + state::AUX]
                ; shr r10d, 31
                ; xor r11d, r11d
                ; cmp DWORD [rbx + state::RESULT], 0
                ; sete r11b
                ; or r10d, r11d
            ),
            // SF = RESULT[31] ^ AUX[0]
            4 => dynasm!(a
                ; .arch x64
                ; mov r10d, [rbx + state::RESULT]
                ; shr r10d, 31
                ; mov r11d, [rbx + state::AUX]
                ; and r11d, 1
                ; xor r10d, r11d
            ),
            // PF = even parity of (RESULT ^ AUX >> 8) & 0xFF
            5 => dynasm!(a
                ; .arch x64
                ; mov r10d, [rbx + state::RESULT]
                ; mov r11d, [rbx + state::AUX]
                ; shr r11d, 8
                ; xor r10d, r11d
                ; test r10b, r10b
                ; mov r10d, 0
                ; setp r10b
            ),
            // SF != OF
            6 => {
                dynasm!(a
                    ; .arch x64
                    ; mov r10d, [rbx + state::AUX]
                    ; mov r11d, r10d
                    ; add r11d, r11d
                    ; xor r10d, r11d
                    ; shr r10d, 31
                    ; mov r11d, [rbx + state::RESULT]
                    ; shr r11d, 31
                    ; xor r10d, r11d
                    ; mov r11d, [rbx + state::AUX]
                    ; and r11d, 1
                    ; xor r10d, r11d
                );
            }
            // ZF | (SF != OF)
            _ => {
                dynasm!(a
                    ; .arch x64
                    ; mov r10d, [rbx + state::AUX]
                    ; mov r11d, r10d
                    ; add r11d, r11d
                    ; xor r10d, r11d
                    ; shr r10d, 31
                    ; mov r11d, [rbx + state::RESULT]
                    ; shr r11d, 31
                    ; xor r10d, r11d
                    ; mov r11d, [rbx + state::AUX]
                    ; and r11d, 1
                    ; xor r10d, r11d
                    ; xor r11d, r11d
                    ; cmp DWORD [rbx + state::RESULT], 0
                    ; sete r11b
                    ; or r10d, r11d
                );
            }
        }
        if cc & 1 != 0 {
            dynasm!(a ; .arch x64 ; xor r10d, 1);
        }
    }

    // ---- instruction templates --------------------------------------

    /// ALU operation `op` on EAX (dst) and ECX (src) into EDX, with flags.
    pub fn alu(&mut self, op: AluOp, w: Width) {
        if matches!(op, AluOp::Adc | AluOp::Sbb) {
            self.carry_in();
        }
        let a = &mut self.a;
        match op {
            AluOp::Add => {
                dynasm!(a ; .arch x64 ; lea edx, [rax + rcx]);
                mask_edx(a, w);
                self.flags_wide(w, false);
            }
            AluOp::Adc => {
                dynasm!(a
                    ; .arch x64
                    ; mov edx, r8d
                    ; add edx, eax
                    ; add edx, ecx
                );
                mask_edx(a, w);
                self.flags_add(w);
            }
            AluOp::Sub | AluOp::Cmp => {
                dynasm!(a ; .arch x64 ; mov edx, eax ; sub edx, ecx);
                mask_edx(a, w);
                self.flags_wide(w, true);
            }
            AluOp::Sbb => {
                dynasm!(a
                    ; .arch x64
                    ; mov edx, eax
                    ; sub edx, ecx
                    ; sub edx, r8d
                );
                mask_edx(a, w);
                self.flags_sub(w);
            }
            AluOp::And | AluOp::Test => {
                dynasm!(a ; .arch x64 ; mov edx, eax ; and edx, ecx);
                self.flags_logic(w);
            }
            AluOp::Or => {
                dynasm!(a ; .arch x64 ; mov edx, eax ; or edx, ecx);
                self.flags_logic(w);
            }
            AluOp::Xor => {
                dynasm!(a ; .arch x64 ; mov edx, eax ; xor edx, ecx);
                self.flags_logic(w);
            }
        }
    }

    /// INC/DEC of EAX into EDX: flags as ADD/SUB 1 with CF kept.
    pub fn incdec(&mut self, w: Width, dec: bool) {
        let a = &mut self.a;
        if dec {
            dynasm!(a ; .arch x64 ; lea edx, [rax - 1]);
        } else {
            dynasm!(a ; .arch x64 ; lea edx, [rax + 1]);
        }
        mask_edx(a, w);
        if !self.flags {
            return;
        }
        self.store_result(w);
        // AUX from the result alone: bit 31 = the old CF (kept), bit 30 =
        // old CF ^ OF, bit 3 = AF. DEC overflows exactly when the result
        // is the largest positive value, INC when it is the smallest
        // negative one; DEC borrows from bit 4 when the low nibble becomes
        // 0xF, INC carries out of bit 3 when it becomes 0.
        let sign = 1u32 << (8 * w as u32 - 1);
        let overflow = if dec { sign - 1 } else { sign };
        let nibble = if dec { 0xF } else { 0 };
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; mov r9d, [rbx + state::AUX]
            ; and r9d, 0x8000_0000u32 as i32
            ; mov r10d, r9d
            ; shr r10d, 1
            ; xor r11d, r11d
            ; cmp edx, overflow as i32
            ; sete r11b
            ; shl r11d, 30
            ; xor r10d, r11d
            ; or r9d, r10d
            ; mov r11d, edx
            ; and r11d, 0xF
            ; cmp r11d, nibble
            ; sete r11b
            ; shl r11d, 3
            ; or r9d, r11d
            ; mov [rbx + state::AUX], r9d
        );
    }

    /// Shift EAX by the constant `count` (1..=31) into EDX, with flags as
    /// the interpreter computes them.
    pub fn shift(&mut self, op: ShiftOp, w: Width, count: u8) {
        if matches!(op, ShiftOp::Rol | ShiftOp::Ror) {
            self.rotate(op == ShiftOp::Rol, w, Count::Imm(count));
            return;
        }
        let bits = 8 * w as i8;
        let a = &mut self.a;
        let c = count as i8;
        if self.spill != 0 {
            // Deferred flags: the operand is in EAX, the count goes to ECX.
            dynasm!(a ; .arch x64 ; mov ecx, count as i32);
        }
        if !self.flags {
            // Only the result (counts are 1-31, operands zero-extended).
            match op {
                ShiftOp::Shl => dynasm!(a ; .arch x64 ; mov edx, eax ; shl edx, c),
                ShiftOp::Shr => dynasm!(a ; .arch x64 ; mov edx, eax ; shr edx, c),
                _ => match w {
                    4 => dynasm!(a ; .arch x64 ; mov edx, eax ; sar edx, c),
                    2 => dynasm!(a ; .arch x64 ; movsx edx, ax ; sar edx, c),
                    _ => dynasm!(a ; .arch x64 ; movsx edx, al ; sar edx, c),
                },
            }
            mask_edx(a, w);
            return;
        }
        match op {
            ShiftOp::Shl => {
                // Wide shift in 64 bits: CF is bit `bits` of the result.
                dynasm!(a
                    ; .arch x64
                    ; mov edx, eax
                    ; shl rdx, c
                    ; mov r8, rdx
                    ; shr r8, bits
                    ; and r8d, 1
                );
                mask_edx(a, w);
                // OF = msb(result) ^ CF.
                dynasm!(a
                    ; .arch x64
                    ; mov r9d, edx
                    ; shr r9d, (bits - 1)
                    ; and r9d, 1
                    ; xor r9d, r8d
                );
            }
            ShiftOp::Shr => {
                // Counts up to 31 on a zero-extended value: bits above the
                // operand are zero, so CF and the result need no masking.
                dynasm!(a
                    ; .arch x64
                    ; mov edx, eax
                    ; shr rdx, c
                    ; mov r8d, eax
                    ; shr r8, c - 1
                    ; and r8d, 1
                );
                // OF = sign of the operand for a count of 1, else 0.
                if count == 1 {
                    dynasm!(a ; .arch x64 ; mov r9d, eax ; shr r9d, (bits - 1) ; and r9d, 1);
                } else {
                    dynasm!(a ; .arch x64 ; xor r9d, r9d);
                }
            }
            _ => {
                match w {
                    4 => dynasm!(a ; .arch x64 ; mov r10d, eax),
                    2 => dynasm!(a ; .arch x64 ; movsx r10d, ax),
                    _ => dynasm!(a ; .arch x64 ; movsx r10d, al),
                }
                dynasm!(a
                    ; .arch x64
                    ; mov edx, r10d
                    ; sar edx, c
                    ; mov r8d, r10d
                    ; sar r8d, c - 1
                    ; and r8d, 1
                    ; xor r9d, r9d
                );
                mask_edx(a, w);
            }
        }
        self.shift_flags(w);
    }

    /// Shift EAX by CL (already masked to 1..=31) into EDX, with flags as
    /// the interpreter computes them (see `shift`).
    pub fn shift_cl(&mut self, op: ShiftOp, w: Width) {
        if matches!(op, ShiftOp::Rol | ShiftOp::Ror) {
            self.rotate(op == ShiftOp::Rol, w, Count::Cl);
            return;
        }
        let bits = 8 * w as i8;
        let a = &mut self.a;
        match op {
            ShiftOp::Shl => {
                dynasm!(a
                    ; .arch x64
                    ; mov edx, eax
                    ; shl rdx, cl
                    ; mov r8, rdx
                    ; shr r8, bits
                    ; and r8d, 1
                );
                mask_edx(a, w);
                dynasm!(a
                    ; .arch x64
                    ; mov r9d, edx
                    ; shr r9d, (bits - 1)
                    ; and r9d, 1
                    ; xor r9d, r8d
                );
            }
            ShiftOp::Shr => {
                dynasm!(a
                    ; .arch x64
                    ; mov edx, eax
                    ; shr rdx, cl
                    ; mov r8d, eax
                    ; dec ecx
                    ; shr r8, cl
                    ; inc ecx
                    ; and r8d, 1
                    // OF = the operand's sign for a count of 1, else 0.
                    ; xor r9d, r9d
                    ; cmp ecx, 1
                    ; jne >of_done
                    ; mov r9d, eax
                    ; shr r9d, (bits - 1)
                    ; and r9d, 1
                    ; of_done:
                );
            }
            _ => {
                match w {
                    4 => dynasm!(a ; .arch x64 ; mov r10d, eax),
                    2 => dynasm!(a ; .arch x64 ; movsx r10d, ax),
                    _ => dynasm!(a ; .arch x64 ; movsx r10d, al),
                }
                dynasm!(a
                    ; .arch x64
                    ; mov edx, r10d
                    ; sar edx, cl
                    ; mov r8d, r10d
                    ; dec ecx
                    ; sar r8d, cl
                    ; inc ecx
                    ; and r8d, 1
                    ; xor r9d, r9d
                );
                mask_edx(a, w);
            }
        }
        self.shift_flags(w);
    }

    /// Rotate EAX into EDX. Only CF and OF change: CF is the bit that
    /// wrapped around, OF as the interpreter defines it for every count
    /// (ROL: MSB XOR CF; ROR: the two top bits XORed).
    fn rotate(&mut self, left: bool, w: Width, count: Count) {
        let bits = 8 * w as i8;
        let a = &mut self.a;
        dynasm!(a ; .arch x64 ; mov edx, eax);
        match (left, w, count) {
            (true, 4, Count::Imm(c)) => dynasm!(a ; .arch x64 ; rol edx, c as i8),
            (true, 2, Count::Imm(c)) => dynasm!(a ; .arch x64 ; rol dx, c as i8),
            (true, _, Count::Imm(c)) => dynasm!(a ; .arch x64 ; rol dl, c as i8),
            (false, 4, Count::Imm(c)) => dynasm!(a ; .arch x64 ; ror edx, c as i8),
            (false, 2, Count::Imm(c)) => dynasm!(a ; .arch x64 ; ror dx, c as i8),
            (false, _, Count::Imm(c)) => dynasm!(a ; .arch x64 ; ror dl, c as i8),
            (true, 4, Count::Cl) => dynasm!(a ; .arch x64 ; rol edx, cl),
            (true, 2, Count::Cl) => dynasm!(a ; .arch x64 ; rol dx, cl),
            (true, _, Count::Cl) => dynasm!(a ; .arch x64 ; rol dl, cl),
            (false, 4, Count::Cl) => dynasm!(a ; .arch x64 ; ror edx, cl),
            (false, 2, Count::Cl) => dynasm!(a ; .arch x64 ; ror dx, cl),
            (false, _, Count::Cl) => dynasm!(a ; .arch x64 ; ror dl, cl),
        }
        mask_edx(a, w);
        if !self.flags {
            return;
        }
        if left {
            dynasm!(a
                ; .arch x64
                ; mov r8d, edx
                ; and r8d, 1
                ; mov r9d, edx
                ; shr r9d, (bits - 1)
                ; and r9d, 1
                ; xor r9d, r8d
            );
        } else {
            dynasm!(a
                ; .arch x64
                ; mov r8d, edx
                ; shr r8d, (bits - 1)
                ; and r8d, 1
                ; mov r9d, edx
                ; shr r9d, (bits - 2)
                ; and r9d, 1
                ; xor r9d, r8d
            );
        }
        self.set_cf_of();
    }

    /// Replace CF with R8D and OF with R9D (each 0 or 1), keeping the
    /// other flags: only AUX bits 31 (CF) and 30 (CF ^ OF) carry them.
    fn set_cf_of(&mut self) {
        if !self.flags {
            return;
        }
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; xor r9d, r8d
            ; shl r9d, 30
            ; shl r8d, 31
            ; or r9d, r8d
            ; mov r10d, [rbx + state::AUX]
            ; and r10d, 0x3FFF_FFFF
            ; or r10d, r9d
            ; mov [rbx + state::AUX], r10d
        );
    }

    /// IMUL: EAX = EAX * ECX (width 2 or 4); CF = OF = the product did
    /// not fit, the other flags unchanged (the AMD Zen rule the
    /// interpreter follows, see docs/undefined.md).
    pub fn imul(&mut self, w: Width) {
        let a = &mut self.a;
        match w {
            4 => dynasm!(a ; .arch x64 ; imul eax, ecx),
            _ => dynasm!(a ; .arch x64 ; imul ax, cx ; movzx eax, ax),
        }
        self.set_cf_of_from_carry();
    }

    /// CF = OF = host CF, the other flags unchanged (MUL, IMUL).
    fn set_cf_of_from_carry(&mut self) {
        if !self.flags {
            return;
        }
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; setc r8b
            ; movzx r8d, r8b
            ; shl r8d, 31
            ; mov r10d, [rbx + state::AUX]
            ; and r10d, 0x3FFF_FFFF
            ; or r10d, r8d
            ; mov [rbx + state::AUX], r10d
        );
    }

    /// MUL/IMUL with the accumulator: the product of AL/AX/EAX and ECX in
    /// AX, DX:AX or EDX:EAX, CF = OF = the upper half is significant.
    pub fn mul_acc(&mut self, w: Width, signed: bool) {
        self.ld_reg(w, 0, RAX);
        let a = &mut self.a;
        match (w, signed) {
            (4, false) => dynasm!(a ; .arch x64 ; mul ecx),
            (4, true) => dynasm!(a ; .arch x64 ; imul ecx),
            (2, false) => dynasm!(a ; .arch x64 ; mul cx),
            (2, true) => dynasm!(a ; .arch x64 ; imul cx),
            (_, false) => dynasm!(a ; .arch x64 ; mul cl),
            (_, true) => dynasm!(a ; .arch x64 ; imul cl),
        }
        // The stores are MOVs: they keep the host flags for the carry.
        match w {
            4 => {
                self.st_reg(4, 0, RAX);
                self.st_reg(4, 2, RDX);
            }
            2 => {
                self.st_reg(2, 0, RAX);
                self.st_reg(2, 2, RDX);
            }
            _ => self.st_reg(2, 0, RAX),
        }
        self.set_cf_of_from_carry();
    }

    /// Flags of a shift: result from EDX, CF = R8D, OF = R9D, AF = 1 (the
    /// interpreter's rule for a non-zero count, after the AMD host).
    fn shift_flags(&mut self, w: Width) {
        if !self.flags {
            return;
        }
        self.store_result(w);
        let a = &mut self.a;
        dynasm!(a
            ; .arch x64
            ; xor r9d, r8d
            ; shl r9d, 30
            ; shl r8d, 31
            ; or r9d, r8d
            ; or r9d, 8
            ; mov [rbx + state::AUX], r9d
        );
        self.drop_pending();
    }
}

/// The frame offsets of a flag operation's two operands: the `pend` slots
/// (flags handed to the next blocks) or the deferred ones.
fn operand_slots(pend: bool) -> (i32, i32) {
    if pend {
        (off::PEND_A, off::PEND_B)
    } else {
        (off::FLAG_A, off::FLAG_B)
    }
}

/// Branch to `taken` on condition `cc` (the low nibble of Jcc) of the
/// host flags.
/// `size` bytes at host `[base + index]` into host `dst`, zero-extended.
fn sized_load(a: &mut Asm, size: u8, dst: u8, base: u8, index: u8) {
    match size {
        4 => dynasm!(a ; .arch x64 ; mov Rd(dst), [Rq(base) + Rq(index)]),
        2 => dynasm!(a ; .arch x64 ; movzx Rd(dst), WORD [Rq(base) + Rq(index)]),
        _ => dynasm!(a ; .arch x64 ; movzx Rd(dst), BYTE [Rq(base) + Rq(index)]),
    }
}

pub fn jcc_host(a: &mut Asm, cc: u8, taken: DynamicLabel) {
    match cc & 0xF {
        0x0 => dynasm!(a ; .arch x64 ; jo =>taken),
        0x1 => dynasm!(a ; .arch x64 ; jno =>taken),
        0x2 => dynasm!(a ; .arch x64 ; jb =>taken),
        0x3 => dynasm!(a ; .arch x64 ; jae =>taken),
        0x4 => dynasm!(a ; .arch x64 ; je =>taken),
        0x5 => dynasm!(a ; .arch x64 ; jne =>taken),
        0x6 => dynasm!(a ; .arch x64 ; jbe =>taken),
        0x7 => dynasm!(a ; .arch x64 ; ja =>taken),
        0x8 => dynasm!(a ; .arch x64 ; js =>taken),
        0x9 => dynasm!(a ; .arch x64 ; jns =>taken),
        0xA => dynasm!(a ; .arch x64 ; jp =>taken),
        0xB => dynasm!(a ; .arch x64 ; jnp =>taken),
        0xC => dynasm!(a ; .arch x64 ; jl =>taken),
        0xD => dynasm!(a ; .arch x64 ; jge =>taken),
        0xE => dynasm!(a ; .arch x64 ; jle =>taken),
        _ => dynasm!(a ; .arch x64 ; jg =>taken),
    }
}

/// R10D = condition `cc` of the host flags (0 or 1).
fn setcc_host(a: &mut Asm, cc: u8) {
    match cc & 0xF {
        0x0 => dynasm!(a ; .arch x64 ; seto r10b),
        0x1 => dynasm!(a ; .arch x64 ; setno r10b),
        0x2 => dynasm!(a ; .arch x64 ; setb r10b),
        0x3 => dynasm!(a ; .arch x64 ; setae r10b),
        0x4 => dynasm!(a ; .arch x64 ; sete r10b),
        0x5 => dynasm!(a ; .arch x64 ; setne r10b),
        0x6 => dynasm!(a ; .arch x64 ; setbe r10b),
        0x7 => dynasm!(a ; .arch x64 ; seta r10b),
        0x8 => dynasm!(a ; .arch x64 ; sets r10b),
        0x9 => dynasm!(a ; .arch x64 ; setns r10b),
        0xA => dynasm!(a ; .arch x64 ; setp r10b),
        0xB => dynasm!(a ; .arch x64 ; setnp r10b),
        0xC => dynasm!(a ; .arch x64 ; setl r10b),
        0xD => dynasm!(a ; .arch x64 ; setge r10b),
        0xE => dynasm!(a ; .arch x64 ; setle r10b),
        _ => dynasm!(a ; .arch x64 ; setg r10b),
    }
    dynasm!(a ; .arch x64 ; movzx r10d, r10b);
}

/// EDX = ECX when host condition `cc` (the low nibble of Jcc) holds.
pub fn cmov_host(a: &mut Asm, cc: u8) {
    match cc & 0xF {
        0x0 => dynasm!(a ; .arch x64 ; cmovo edx, ecx),
        0x1 => dynasm!(a ; .arch x64 ; cmovno edx, ecx),
        0x2 => dynasm!(a ; .arch x64 ; cmovb edx, ecx),
        0x3 => dynasm!(a ; .arch x64 ; cmovae edx, ecx),
        0x4 => dynasm!(a ; .arch x64 ; cmove edx, ecx),
        0x5 => dynasm!(a ; .arch x64 ; cmovne edx, ecx),
        0x6 => dynasm!(a ; .arch x64 ; cmovbe edx, ecx),
        0x7 => dynasm!(a ; .arch x64 ; cmova edx, ecx),
        0x8 => dynasm!(a ; .arch x64 ; cmovs edx, ecx),
        0x9 => dynasm!(a ; .arch x64 ; cmovns edx, ecx),
        0xA => dynasm!(a ; .arch x64 ; cmovp edx, ecx),
        0xB => dynasm!(a ; .arch x64 ; cmovnp edx, ecx),
        0xC => dynasm!(a ; .arch x64 ; cmovl edx, ecx),
        0xD => dynasm!(a ; .arch x64 ; cmovge edx, ecx),
        0xE => dynasm!(a ; .arch x64 ; cmovle edx, ecx),
        _ => dynasm!(a ; .arch x64 ; cmovg edx, ecx),
    }
}

/// Leave the block after the current instruction, whose store hit a page
/// holding code (`Frame::end` set): for `next`, through the early exit
/// `out`, with the deferred flags `pending` (0: none) computed first.
pub fn code_write_exit(a: &mut Asm, next: u32, out: DynamicLabel, pending: u32) {
    dynasm!(a
        ; .arch x64
        ; mov DWORD [rsp + fr(off::END)], 0
        ; mov DWORD [rbx + state::EIP], next as i32
    );
    if pending != 0 {
        let f = crate::runtime::rt_flags as *const () as i64;
        dynasm!(a
            ; .arch x64
            ; lea rdi, [rsp + stack::FRAME]
            ; mov esi, pending as i32
            ; mov rax, QWORD f
            ; call rax
        );
    }
    dynasm!(a
        ; .arch x64
        ; mov eax, crate::runtime::exec::END as i32
        ; jmp =>out
    );
}

/// AUX of EAX + ECX (`sub`: EAX - ECX) at width `w`, both zero-extended
/// to 64 bits, without carry-in (see `Gen::flags_wide`). Clobbers R9 and
/// R10.
pub fn wide_aux(a: &mut Asm, w: Width, sub: bool) {
    if sub {
        dynasm!(a ; .arch x64 ; mov r9, rax ; sub r9, rcx);
    } else {
        dynasm!(a ; .arch x64 ; lea r9, [rax + rcx]);
    }
    dynasm!(a
        ; .arch x64
        ; xor r9, rax
        ; xor r9, rcx
        ; mov r10d, r9d
        ; shr r10d, 1
        ; and r10d, 8
    );
    if w == 4 {
        dynasm!(a ; .arch x64 ; shr r9, 1);
    } else {
        dynasm!(a ; .arch x64 ; shl r9d, (31 - 8 * w as i8));
    }
    dynasm!(a
        ; .arch x64
        ; and r9d, 0xC000_0000u32 as i32
        ; or r9d, r10d
        ; mov [rbx + state::AUX], r9d
    );
}

/// Mask EDX to the operand width.
pub fn mask_edx(a: &mut Asm, w: Width) {
    match w {
        2 => dynasm!(a ; .arch x64 ; movzx edx, dx),
        1 => dynasm!(a ; .arch x64 ; movzx edx, dl),
        _ => {}
    }
}

/// Truncate an immediate to the operand width.
pub fn mask(w: Width, v: u32) -> u32 {
    match w {
        1 => v & 0xFF,
        2 => v & 0xFFFF,
        _ => v,
    }
}
