//! Code generation for one block.
//!
//! Register use in generated code: RBX = `&mut CpuState`, R12 = `&mut
//! Frame`, R13 = guest RAM base, R14 = the data TLB set for the current
//! privilege. RAX, RCX, RDX, RSI, RDI, R8-R11 are scratch (and clobbered
//! by helper calls). Guest registers and flags live in `CpuState` at every
//! instruction boundary.

use crate::block::GuestBlock;
use crate::frame::{off, state};
use crate::runtime::{self, exec, exit};
use cpu::interp::insn::Insn;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, dynasm};

type Asm = dynasmrt::VecAssembler<dynasmrt::x64::X64Relocation>;

/// Where a translated block's code and exits go.
pub struct Targets {
    /// Address of the `leave` stub.
    pub leave: usize,
}

/// Translate `block` for address `base`. `insns` are the block's
/// instructions at their final (stable) addresses, for helper calls.
pub fn translate(block: &GuestBlock, insns: &[Insn], base: usize, t: &Targets) -> Vec<u8> {
    let mut a = Asm::new(base);
    let n = insns.len() as i32;
    let budget_exit = a.new_dynamic_label();
    // Entry: take the block's instructions from the budget, or leave
    // without running any.
    dynasm!(a
        ; .arch x64
        ; sub QWORD [r12 + off::BUDGET], n
        ; jl =>budget_exit
    );
    let mut outs: Vec<(DynamicLabel, i32)> = Vec::new();
    for (k, insn) in insns.iter().enumerate() {
        let next = block.insns[k].1.next_ip32();
        let out = a.new_dynamic_label();
        outs.push((out, k as i32));
        fallback(&mut a, insn, next, out);
    }
    // Fell off the end of the block: all retired, EIP is set.
    dynasm!(a
        ; .arch x64
        ; add QWORD [r12 + off::RETIRED], n
        ; mov eax, exit::CONTINUE as i32
        ; jmp extern t.leave
    );
    // An instruction ended the block early: EAX = FAULTED (k retired) or
    // END (k + 1 retired). The budget taken at entry is returned for the
    // instructions that did not run.
    for (label, k) in outs {
        dynasm!(a
            ; .arch x64
            ; =>label
            ; mov ecx, eax
            ; shr ecx, 1
            ; add ecx, k
            ; add QWORD [r12 + off::RETIRED], rcx
            ; neg rcx
            ; add rcx, n
            ; add QWORD [r12 + off::BUDGET], rcx
            ; mov eax, exit::CONTINUE as i32
            ; jmp extern t.leave
        );
    }
    dynasm!(a
        ; .arch x64
        ; =>budget_exit
        ; add QWORD [r12 + off::BUDGET], n
        ; mov eax, exit::BUDGET as i32
        ; jmp extern t.leave
    );
    a.finalize().unwrap_or_default()
}

/// An instruction executed by the interpreter's handler.
fn fallback(a: &mut Asm, insn: &Insn, next: u32, out: DynamicLabel) {
    let f = runtime::rt_exec as *const () as i64;
    dynasm!(a
        ; .arch x64
        ; mov DWORD [rbx + state::EIP], next as i32
        ; mov rdi, r12
        ; mov rsi, QWORD insn as *const Insn as i64
        ; mov rax, QWORD f
        ; call rax
        ; cmp eax, exec::NEXT as i32
        ; jne =>out
    );
}
