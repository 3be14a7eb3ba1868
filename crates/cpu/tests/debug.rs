//! Debug exceptions: single-step traps (EFLAGS.TF) and DR6.BS, the
//! suppression of the single-step trap after MOV SS/POP SS, single-stepping
//! repeated string instructions, INT1/INT3, DR7.GD (general detect) and
//! DR6/DR7 access rules, and the DR0-DR3 breakpoints (instruction and data).
//!
//! SDM vol. 3: 17.2 (debug registers, DR6, DR7, GD), 17.3.1 (debug exception
//! conditions: instruction breakpoint faults, data breakpoint traps, general
//! detect, single-step traps 17.3.1.4), 17.3.1.1 (RF), 6.8.3 (masking of
//! debug exceptions after MOV SS / POP SS); vol. 2: MOV DRn, INT1/INT3.

mod common;

use common::*;
use cpu::state::{reg, sreg};
use iced_x86::code_asm::*;
use x86::cr::{dr6, dr7};

/// Code that sets TF with POPFD and then runs `body`; returns the labels
/// `body` returns.
fn traced(m: &mut Machine, body: impl FnOnce(&mut CodeAssembler) -> Result<Vec<CodeLabel>, iced_x86::IcedError>) -> Vec<u32> {
    m.code(|a| {
        a.pushfd()?;
        a.or(dword_ptr(esp), fl::TF as i32)?;
        a.popfd()?;
        body(a)
    })
}

#[test]
fn single_step_traps_after_the_next_instruction() {
    let mut m = Machine::new();
    let l = traced(&mut m, |a| {
        let mut second = a.create_label();
        a.mov(eax, 1u32)?;
        a.set_label(&mut second)?;
        a.mov(ebx, 2u32)?;
        a.hlt()?;
        Ok(vec![second])
    });
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0], "no trap after the POPFD that set TF");
    assert_eq!(m.eax(), 1);
    assert_eq!(m.ebx(), 0);
    assert_ne!(f.eflags & fl::TF, 0, "pushed EFLAGS has TF");
    assert!(!m.cpu.flag(fl::TF), "handler runs with TF clear");
    assert_ne!(m.cpu.dr[6] & dr6::BS, 0, "DR6.BS");
}

#[test]
fn single_step_from_ring3_to_ring0_handler() {
    let mut m = Machine::new();
    let l = traced(&mut m, |a| {
        let mut second = a.create_label();
        a.nop()?;
        a.set_label(&mut second)?;
        a.nop()?;
        Ok(vec![second])
    });
    m.ring3(CODE);
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0]);
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.ss, DATA3 as u32);
}

#[test]
fn single_step_follows_jumps() {
    let mut m = Machine::new();
    traced(&mut m, |a| {
        a.mov(eax, CODE + 0x100)?;
        a.jmp(eax)?;
        Ok(vec![])
    });
    m.code_at(CODE + 0x100, |a| {
        a.mov(edx, 7u32)?;
        Ok(vec![])
    });
    // A #DB handler that counts, and returns with TF still set until the
    // second trap.
    m.set_handler(vec::DB, CODE + 0x200, gate::INT32, 0);
    m.code_at(CODE + 0x200, |a| {
        let mut stop = a.create_label();
        a.inc(ecx)?;
        a.cmp(ecx, 2)?;
        a.je(stop)?;
        a.iretd()?;
        a.set_label(&mut stop)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.cpu.gpr[reg::ECX] = 0;
    m.expect_done();
    assert_eq!(m.stack(0), CODE + 0x100, "the trap after JMP reports its target");
    assert_eq!(m.edx(), 0);
}

#[test]
fn faulting_instruction_gets_no_single_step_trap() {
    let mut m = Machine::new();
    let l = traced(&mut m, |a| {
        let mut bad = a.create_label();
        a.set_label(&mut bad)?;
        a.ud2()?;
        Ok(vec![bad])
    });
    let f = m.expect(vec::UD);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.cpu.dr[6] & dr6::BS, 0);
}

#[test]
fn popf_clearing_tf_still_traps_once() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut after = a.create_label();
        a.popfd()?;
        a.set_label(&mut after)?;
        a.nop()?;
        a.hlt()?;
        Ok(vec![after])
    });
    m.cpu.gpr[reg::ESP] -= 4;
    m.w32(m.esp(), 0x2);
    m.set_flag(fl::TF, true);
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0], "trap after the POPFD itself");
    assert_eq!(f.eflags & fl::TF, 0);
}

#[test]
fn iret_setting_tf_traps_after_the_following_instruction() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut back = a.create_label();
        let mut second = a.create_label();
        a.pushfd()?;
        a.or(dword_ptr(esp), fl::TF as i32)?;
        a.push(CODE0 as i32)?;
        a.call(back)?; // pushes the address of `back`
        a.set_label(&mut back)?;
        a.add(dword_ptr(esp), 5)?; // ... past this ADD (4 bytes) and IRETD (1)
        a.iretd()?;
        a.nop()?;
        a.set_label(&mut second)?;
        a.nop()?;
        a.hlt()?;
        Ok(vec![second])
    });
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0], "IRET that sets TF does not trap itself");
}

#[test]
fn mov_ss_suppresses_single_step_for_one_instruction() {
    let mut m = Machine::new();
    let l = traced(&mut m, |a| {
        let mut third = a.create_label();
        a.mov(ss, ax)?;
        a.mov(ebx, 1u32)?;
        a.set_label(&mut third)?;
        a.mov(ecx, 2u32)?;
        a.hlt()?;
        Ok(vec![third])
    });
    m.cpu.gpr[reg::EAX] = DATA0 as u32;
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0], "one trap, after the instruction following MOV SS");
    assert_eq!(m.ebx(), 1);
    assert_eq!(m.ecx(), 0);
}

#[test]
fn pop_ss_suppresses_single_step_for_one_instruction() {
    let mut m = Machine::new();
    let l = traced(&mut m, |a| {
        let mut third = a.create_label();
        a.push(DATA0 as i32)?;
        a.pop(ss)?;
        a.mov(ebx, 1u32)?;
        a.set_label(&mut third)?;
        a.mov(ecx, 2u32)?;
        a.hlt()?;
        Ok(vec![third])
    });
    // The PUSH traps first; return from that #DB with TF still set.
    m.set_handler(vec::DB, CODE + 0x200, gate::INT32, 0);
    m.code_at(CODE + 0x200, |a| {
        a.inc(esi)?;
        a.cmp(esi, 2)?;
        let mut stop = a.create_label();
        a.je(stop)?;
        a.iretd()?;
        a.set_label(&mut stop)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.cpu.gpr[reg::ESI] = 0;
    m.expect_done();
    assert_eq!(m.esp(), STACK0_INIT - 12);
    assert_eq!(m.stack(0), l[0], "second trap after the instruction following POP SS");
}

#[test]
fn single_step_through_rep_string_traps_each_iteration() {
    let mut m = Machine::new();
    let l = traced(&mut m, |a| {
        let mut rep = a.create_label();
        a.mov(edi, DATA)?;
        a.mov(ecx, 3u32)?;
        a.set_label(&mut rep)?;
        a.rep().stosb()?;
        a.hlt()?;
        Ok(vec![rep])
    });
    // Skip the traps after the two MOVs.
    m.set_handler(vec::DB, CODE + 0x200, gate::INT32, 0);
    m.code_at(CODE + 0x200, |a| {
        a.inc(esi)?;
        a.cmp(esi, 3)?;
        let mut stop = a.create_label();
        a.je(stop)?;
        a.iretd()?;
        a.set_label(&mut stop)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.cpu.gpr[reg::ESI] = 0;
    m.expect_done();
    assert_eq!(m.stack(0), l[0], "trap with EIP still on the REP STOSB");
    assert_ne!(m.stack(2) & fl::RF, 0, "RF pushed set: not the last iteration");
    assert_eq!(m.ecx(), 2, "after one iteration");
    assert_eq!(m.cpu.gpr[reg::EDI], DATA + 1);
}

#[test]
fn int1_is_a_trap_without_bs() {
    let mut m = Machine::new();
    m.code(|a| {
        a.int1()?;
        a.hlt()?;
        Ok(vec![])
    });
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, CODE + 1);
    assert_eq!(m.cpu.dr[6] & dr6::BS, 0);
}

#[test]
fn general_detect_faults_debug_register_access() {
    let mut m = Machine::new();
    m.cpu.dr[7] |= dr7::GD;
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.mov(eax, dr0)?;
        Ok(vec![at])
    });
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0], "a fault: EIP of the MOV");
    assert_ne!(m.cpu.dr[6] & dr6::BD, 0, "DR6.BD");
    assert_eq!(m.cpu.dr[7] & dr7::GD, 0, "GD cleared for the handler");
}

#[test]
fn debug_register_access_at_cpl3_is_gp0() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(dr7, eax)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(0);
}

#[test]
fn dr6_dr7_fixed_bits() {
    let mut m = Machine::new();
    m.code(|a| {
        a.xor(eax, eax)?;
        a.mov(dr6, eax)?;
        a.mov(dr7, eax)?;
        a.mov(ebx, dr6)?;
        a.mov(ecx, dr7)?;
        a.mov(edx, 0x1234_5678u32)?;
        a.mov(dr0, edx)?;
        a.mov(esi, dr0)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ebx(), dr6::FIXED1, "DR6 reads 0xFFFF0FF0 when clear");
    assert_eq!(m.ecx(), dr7::FIXED1, "DR7 bit 10 reads 1");
    assert_eq!(m.cpu.gpr[reg::ESI], 0x1234_5678);
}

// ---- DR0-DR3 breakpoints -----------------------------------------------

/// DR7 enabling breakpoint 0 locally with type `rw` and length `len`.
fn dr7_bp0(rw: u32, len: u32) -> u32 {
    1 | (rw << 16) | (len << 18)
}

#[test]

fn instruction_breakpoint_is_a_fault() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut target = a.create_label();
        a.nop()?;
        a.set_label(&mut target)?;
        a.mov(ebx, 1u32)?;
        a.hlt()?;
        Ok(vec![target])
    });
    m.cpu.dr[0] = l[0];
    m.cpu.dr[7] = dr7::FIXED1 | dr7_bp0(0, 0);
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0], "before the instruction executes");
    assert_eq!(m.ebx(), 0);
    assert_ne!(m.cpu.dr[6] & dr6::B0, 0, "DR6.B0");
    assert_eq!(f.eflags & fl::RF, 0, "unlike other faults, RF is not set in the pushed EFLAGS");
}

#[test]

fn rf_set_by_iret_suppresses_the_instruction_breakpoint() {
    let mut m = Machine::new();
    m.set_handler(vec::DB, CODE + 0x200, gate::INT32, 0);
    m.code_at(CODE + 0x200, |a| {
        a.inc(esi)?;
        a.or(dword_ptr(esp + 8), fl::RF as i32)?; // resume past the breakpoint
        a.iretd()?;
        Ok(vec![])
    });
    let l = m.code(|a| {
        let mut target = a.create_label();
        a.nop()?;
        a.set_label(&mut target)?;
        a.mov(ebx, 1u32)?;
        a.hlt()?;
        Ok(vec![target])
    });
    m.cpu.dr[0] = l[0];
    m.cpu.dr[7] = dr7::FIXED1 | dr7_bp0(0, 0);
    m.cpu.gpr[reg::ESI] = 0;
    m.expect_done();
    assert_eq!(m.cpu.gpr[reg::ESI], 1, "exactly one breakpoint hit");
    assert_eq!(m.ebx(), 1);
}

#[test]

fn data_write_breakpoint_is_a_trap() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut after = a.create_label();
        a.mov(eax, dword_ptr(DATA))?; // reads do not trigger RW=01
        a.mov(dword_ptr(DATA), ebx)?;
        a.set_label(&mut after)?;
        a.hlt()?;
        Ok(vec![after])
    });
    m.cpu.dr[0] = DATA;
    m.cpu.dr[7] = dr7::FIXED1 | dr7_bp0(1, 3);
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0], "after the writing instruction");
    assert_ne!(m.cpu.dr[6] & dr6::B0, 0);
}

#[test]

fn data_read_write_breakpoint_matches_overlapping_access() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut after = a.create_label();
        a.mov(al, byte_ptr(DATA + 2))?;
        a.set_label(&mut after)?;
        a.hlt()?;
        Ok(vec![after])
    });
    m.cpu.dr[0] = DATA;
    m.cpu.dr[7] = dr7::FIXED1 | dr7_bp0(3, 3); // read/write, 4 bytes
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0]);
    assert_ne!(m.cpu.dr[6] & dr6::B0, 0);
    assert_eq!(m.sel(sreg::CS), CODE0);
}
