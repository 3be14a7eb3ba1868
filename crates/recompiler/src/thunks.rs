//! Shared slow-path thunks: the out-of-line halves of inline memory
//! accesses. Each access site keeps only a few bytes (store its EIP and
//! parameters, call the thunk, branch on the result); the thunk saves the
//! scratch registers, calls the Rust helper and restores them, so the
//! register-saving code exists once instead of at every access.
//!
//! Calling convention (from generated code): ESI = linear address,
//! `Frame::arg` = size | segment << 8 | for_write << 16 | the pending
//! deferred flag operation << 24 (see `deferred`). On return CF is
//! clear and every register but the load destination is intact, or CF is
//! set and EAX = `exec::FAULTED` (the fault was delivered).

use crate::deferred::{self, Op};
use crate::emit::wide_aux;
use crate::frame::{fr, off, stack, state};
use crate::runtime::{self, exec};
use dynasmrt::{DynasmApi, DynasmLabelApi, dynasm};

/// Host registers a thunk may load into or store from.
pub const REGS: [u8; 3] = [0, 1, 2];

/// Addresses of the thunks, by host register (RAX, RCX, RDX).
#[derive(Clone, Copy, Debug, Default)]
pub struct Thunks {
    pub load: [usize; 3],
    pub store: [usize; 3],
    /// Settle the flags a block left in operand form (`rt_resolve`),
    /// keeping every register but not the host flags (it is called at an
    /// instruction's start, where none are live).
    pub resolve: usize,
}

/// What a thunk's RSP is below block level after its call and the nine
/// pushes that save the scratch registers (frame fields are addressed
/// from RSP: see `frame::stack::FRAME`).
const SAVED: i32 = 8 + 9 * 8;
/// The same after the resolve thunk's five pushes.
const FAST: i32 = 8 + 5 * 8;

/// Stack offset of a saved register after the nine pushes.
fn slot(h: u8) -> i32 {
    match h {
        0 => 64,
        1 => 56,
        _ => 48,
    }
}

/// Assemble all thunks at `base`; the code and their addresses.
pub fn assemble(base: usize) -> (Vec<u8>, Thunks) {
    let mut a = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(base);
    let mut t = Thunks::default();
    let load_fn = runtime::rt_load as *const () as i64;
    let store_fn = runtime::rt_store as *const () as i64;
    macro_rules! save {
        ($a:ident) => {
            dynasm!($a
                ; .arch x64
                ; push rax ; push rcx ; push rdx ; push rsi ; push rdi
                ; push r8 ; push r9 ; push r10 ; push r11
            )
        };
    }
    macro_rules! restore_and_return {
        ($a:ident) => {
            dynasm!($a
                ; .arch x64
                ; pop r11 ; pop r10 ; pop r9 ; pop r8 ; pop rdi
                ; pop rsi ; pop rdx ; pop rcx ; pop rax
                ; clc
                ; ret
                ; fault:
                ; add rsp, 72
                ; mov eax, exec::FAULTED as i32
                ; stc
                ; ret
            )
        };
    }
    for (k, &h) in REGS.iter().enumerate() {
        t.load[k] = base + a.offset().0;
        // The call left RSP 8 below a 16-byte boundary; nine pushes
        // realign it for the helper call.
        save!(a);
        dynasm!(a
            ; .arch x64
            ; lea rdi, [rsp + SAVED + stack::FRAME]
            ; mov edx, [rsp + SAVED + fr(off::ARG)]
            ; mov ecx, edx
            ; shr ecx, 16
            ; and ecx, 1
            ; and edx, 0xFFFF
            ; mov rax, QWORD load_fn
            ; call rax
            ; bt rax, 32
            ; jc >fault
            ; mov [rsp + slot(h)], rax
        );
        restore_and_return!(a);
    }
    for (k, &h) in REGS.iter().enumerate() {
        t.store[k] = base + a.offset().0;
        save!(a);
        dynasm!(a
            ; .arch x64
            ; mov edx, Rd(h)
            ; lea rdi, [rsp + SAVED + stack::FRAME]
            ; mov ecx, [rsp + SAVED + fr(off::ARG)]
            ; and ecx, 0xFFFF
            ; mov rax, QWORD store_fn
            ; call rax
            ; test eax, eax
            ; jnz >fault
        );
        restore_and_return!(a);
    }
    // Settling flags left in operand form: the 32-bit ADD and SUB here
    // (almost all of them: a compare before a branch), the rest in Rust.
    t.resolve = base + a.offset().0;
    let resolve_fn = runtime::rt_resolve as *const () as i64;
    let (add32, sub32) = (deferred::code(Op::Add, 4) as i32, deferred::code(Op::Sub, 4) as i32);
    dynasm!(a
        ; .arch x64
        ; push rax ; push rcx ; push rdx ; push r9 ; push r10
        ; mov edx, [rsp + FAST + fr(off::PEND)]
        ; mov eax, [rsp + FAST + fr(off::PEND_A)]
        ; mov ecx, [rsp + FAST + fr(off::PEND_B)]
        ; cmp edx, sub32
        ; je >sub
        ; cmp edx, add32
        ; je >add
        ; pop r10 ; pop r9 ; pop rdx ; pop rcx ; pop rax
    );
    save!(a);
    dynasm!(a
        ; .arch x64
        ; lea rdi, [rsp + SAVED + stack::FRAME]
        ; mov rax, QWORD resolve_fn
        ; call rax
        ; pop r11 ; pop r10 ; pop r9 ; pop r8 ; pop rdi
        ; pop rsi ; pop rdx ; pop rcx ; pop rax
        ; ret
        ; sub:
        ; mov edx, eax
        ; sub edx, ecx
    );
    wide_aux(&mut a, 4, true);
    dynasm!(a
        ; .arch x64
        ; jmp >done
        ; add:
        ; lea edx, [rax + rcx]
    );
    wide_aux(&mut a, 4, false);
    dynasm!(a
        ; .arch x64
        ; done:
        ; mov [rbx + state::RESULT], edx
        ; mov DWORD [rsp + FAST + fr(off::PEND)], 0
        ; pop r10 ; pop r9 ; pop rdx ; pop rcx ; pop rax
        ; ret
    );
    (a.finalize().unwrap_or_default(), t)
}
