//! The jump cache: where control goes when a block's successor is not
//! known at translation time (RET, indirect JMP and CALL) or lies in
//! another page (where a chain could outlive the target's translation).
//!
//! A direct-mapped table from (EIP, mode, CS base, CS limit) to the host
//! code of the translation, probed by a shared stub in generated code, so
//! such transfers go block to block without returning to the dispatcher.
//! Entries are made by the dispatcher when it finds a translation. The
//! key is linear (CS:EIP) while translations are physical, so the table
//! is valid only as long as the TLB is: it is cleared whenever the TLB is
//! flushed (CR3 loads, INVLPG, paging changes; the helper that executed
//! such an instruction ends the block so the dispatcher sees the flush
//! first) and whenever translations are invalidated or dropped.

use crate::frame::state;
use crate::runtime::exit;
use cpu::segment::layout;
use cpu::state::sreg;
use dynasmrt::{DynasmApi, DynasmLabelApi, dynasm};

/// log2 of the number of entries.
pub const BITS: u32 = 12;
const ENTRIES: usize = 1 << BITS;
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
    pub index: usize,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

impl Entry {
    const EMPTY: Entry = Entry {
        eip: 0,
        mode: EMPTY_MODE,
        cs_base: 0,
        cs_limit: 0,
        code: 0,
        index: 0,
    };
}

/// The slot of `eip`: low bits mixed with the page number, so that code
/// at the same offset in different pages does not collide.
#[inline]
pub fn index(eip: u32) -> usize {
    ((eip ^ (eip >> BITS)) as usize) & (ENTRIES - 1)
}

pub struct JumpCache {
    /// Boxed: generated code holds its address, which must not move.
    table: Box<[Entry]>,
    /// The TLB flush count the entries were made under.
    pub tlb_flushes: u64,
    /// Entries made since the last clear (clearing an empty table is free).
    filled: bool,
}

impl JumpCache {
    pub fn new() -> Self {
        Self {
            table: vec![Entry::EMPTY; ENTRIES].into_boxed_slice(),
            tlb_flushes: 0,
            filled: false,
        }
    }

    /// Address of the table, for the stub.
    pub fn addr(&self) -> usize {
        self.table.as_ptr() as usize
    }

    pub fn clear(&mut self) {
        if self.filled {
            self.table.fill(Entry::EMPTY);
            self.filled = false;
        }
    }

    /// The translation index cached for this CS:EIP and mode.
    pub fn get(&self, eip: u32, mode: u32, cs_base: u32, cs_limit: u32) -> Option<usize> {
        let e = &self.table[index(eip)];
        (e.eip == eip && e.mode == mode && e.cs_base == cs_base && e.cs_limit == cs_limit).then_some(e.index)
    }

    pub fn insert(&mut self, eip: u32, mode: u32, cs_base: u32, cs_limit: u32, code: usize, index_: usize) {
        self.table[index(eip)] = Entry {
            eip,
            mode,
            cs_base,
            cs_limit,
            code,
            index: index_,
        };
        self.filled = true;
    }
}

/// The lookup stub, at `base`: with the target EIP in the CPU state and
/// the block's mode in ESI, jump to the cached translation, or leave to
/// the dispatcher (`CONTINUE`) at `leave`.
pub fn stub(base: usize, table: usize, leave: usize) -> Vec<u8> {
    let mut a = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(base);
    dynasm!(a
        ; .arch x64
        ; mov eax, [rbx + state::EIP]
        ; mov ecx, eax
        ; shr ecx, BITS as i8
        ; xor ecx, eax
        ; and ecx, (ENTRIES - 1) as i32
        ; shl ecx, 5
        ; mov rdx, QWORD table as i64
        ; add rdx, rcx
        ; cmp eax, [rdx]
        ; jne >miss
        ; cmp esi, [rdx + 4]
        ; jne >miss
        ; mov ecx, [rbx + state::seg(sreg::CS, layout::BASE)]
        ; cmp ecx, [rdx + 8]
        ; jne >miss
        ; mov ecx, [rbx + state::seg(sreg::CS, layout::LIMIT)]
        ; cmp ecx, [rdx + 12]
        ; jne >miss
        ; jmp QWORD [rdx + 16]
        ; miss:
        ; mov eax, exit::CONTINUE as i32
        ; jmp extern leave
    );
    a.finalize().unwrap_or_default()
}
