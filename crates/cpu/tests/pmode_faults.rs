//! Interrupt and exception delivery in protected mode, and IRET.
//!
//! SDM vol. 3: 6.3-6.5 (sources, faults vs traps, restarting), 6.8 (enabling
//! and disabling interrupts, the MOV SS/STI interrupt shadow), 6.10-6.12
//! (IDT, IDTR limit, gate descriptors, interrupt vs trap gates, 16- and
//! 32-bit gates, protection of handler procedures, stack switching),
//! 6.13 (error codes, EXT and IDT bits), 6.15 (exception classes, #DF with
//! table 6-5, triple fault, which exceptions push an error code, RF in the
//! pushed EFLAGS); vol. 2: INT n/INTO/INT3/INT1, IRET, BOUND.

mod common;

use common::*;
use cpu::Exit;
use cpu::state::sreg;
use iced_x86::code_asm::*;

const SEL_A: u16 = FREE;
const HANDLER: u32 = CODE + 0x1000;

/// `INT imm8` at CODE, then HLT; returns the INT's address.
fn int_n(m: &mut Machine, v: u8) -> u32 {
    m.code(|a| {
        let mut at = a.create_label();
        a.mov(eax, 1u32)?;
        a.set_label(&mut at)?;
        a.int(v as u32)?;
        a.hlt()?;
        Ok(vec![at])
    })[0]
}

// ---- software interrupts and gate DPL ---------------------------------

#[test]
fn int_n_through_more_privileged_gate_is_gp_idt() {
    let mut m = Machine::new();
    let at = int_n(&mut m, 0x40);
    m.ring3(CODE);
    let f = m.expect_gp(0x40 * 8 + 2);
    assert_eq!(f.eip, at, "#GP points at the INT");
    assert_eq!(f.cs, CODE3 as u32);
}

#[test]
fn int_n_from_ring3_switches_to_tss_stack() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    let at = int_n(&mut m, 0x40);
    m.ring3(CODE);
    let f = m.expect_int(0x40);
    assert_eq!(m.cpu.cpl, 0);
    assert_eq!(m.sel(sreg::SS), DATA0);
    assert_eq!(m.esp(), STACK0 - 20);
    assert_eq!(f.eip, at + 2, "trap: return address after INT");
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.esp, STACK3);
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(f.eflags & fl::RF, 0, "no RF for software interrupts");
}

#[test]
fn int_n_with_error_code_vector_pushes_no_error_code() {
    let mut m = Machine::new();
    let at = int_n(&mut m, 13);
    let f = m.expect_int(13);
    assert_eq!(f.eip, at + 2);
    assert_eq!(f.cs, CODE0 as u32);
    assert_eq!(m.esp(), STACK0_INIT - 12);
}

#[test]
fn int3_is_a_trap_and_checks_gate_dpl() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.int3()?;
        a.hlt()?;
        Ok(vec![at])
    });
    let f = m.expect_int(vec::BP);
    assert_eq!(f.eip, l[0] + 1);

    let mut m = Machine::new();
    m.code(|a| {
        a.int3()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(vec::BP as u32 * 8 + 2);
}

#[test]
fn into_traps_only_with_of() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.xor(eax, eax)?;
        a.db(&[0xCE])?; // INTO, OF clear: nothing
        a.mov(eax, 0x7FFF_FFFFu32)?;
        a.add(eax, 1)?; // OF set
        a.set_label(&mut at)?;
        a.db(&[0xCE])?;
        a.hlt()?;
        Ok(vec![at])
    });
    let f = m.expect_int(vec::OF);
    assert_eq!(f.eip, l[0] + 1);
}

#[test]
fn int1_ignores_gate_dpl() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.int1()?;
        Ok(vec![at])
    });
    m.ring3(CODE);
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, l[0] + 1);
    assert_eq!(f.cs, CODE3 as u32);
}

#[test]
fn exceptions_ignore_gate_dpl() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.ud2()?;
        Ok(vec![at])
    });
    m.ring3(CODE);
    let f = m.expect(vec::UD);
    assert_eq!(f.eip, l[0], "fault: EIP of the faulting instruction");
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.ss, DATA3 as u32);
}

// ---- gate types and flags ----------------------------------------------

#[test]
fn interrupt_gate_clears_if_trap_gate_keeps_it() {
    for (typ, if_after) in [(gate::INT32, false), (gate::TRAP32, true)] {
        let mut m = Machine::new();
        m.set_handler(0x40, stub(0x40), typ, 0);
        m.code(|a| {
            a.sti()?;
            a.int(0x40)?;
            Ok(vec![])
        });
        let f = m.expect_int(0x40);
        assert_ne!(f.eflags & fl::IF, 0, "pushed EFLAGS has IF");
        assert_eq!(m.cpu.flag(fl::IF), if_after, "gate type {typ}");
    }
}

#[test]
fn gates_clear_tf_nt_rf_and_vm() {
    let mut m = Machine::new();
    m.set_handler(0x40, stub(0x40), gate::TRAP32, 0);
    m.code(|a| {
        a.pushfd()?;
        a.or(dword_ptr(esp), (fl::NT) as i32)?;
        a.popfd()?;
        a.int(0x40)?;
        Ok(vec![])
    });
    let f = m.expect_int(0x40);
    assert_ne!(f.eflags & fl::NT, 0);
    assert_eq!(m.cpu.eflags() & (fl::NT | fl::TF | fl::RF | fl::VM), 0);
}

#[test]
fn interrupt_gate_16bit_pushes_words() {
    let mut m = Machine::new();
    m.set_handler(0x40, stub(0x40), gate::INT16, 0);
    let at = int_n(&mut m, 0x40);
    m.expect_int(0x40);
    assert_eq!(m.esp(), STACK0_INIT - 6);
    assert_eq!(m.stack16(0) as u32, (at + 2) & 0xFFFF);
    assert_eq!(m.stack16(1), CODE0);
    assert_eq!(m.stack16(2) as u32 & fl::FIXED1, fl::FIXED1);
}

#[test]
fn trap_gate_16bit_from_ring3_pushes_ss_sp_as_words() {
    let mut m = Machine::new();
    m.set_handler(0x40, stub(0x40), gate::TRAP16, 3);
    let at = int_n(&mut m, 0x40);
    m.ring3(CODE);
    m.expect_int(0x40);
    assert_eq!(m.esp(), STACK0 - 10);
    assert_eq!(m.stack16(0) as u32, (at + 2) & 0xFFFF);
    assert_eq!(m.stack16(1), CODE3);
    assert_eq!(m.stack16(3) as u32, STACK3 & 0xFFFF);
    assert_eq!(m.stack16(4), DATA3);
}

#[test]
fn gate_to_conforming_code_from_ring3_stays_on_user_stack() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x9F));
    m.set_idt(0x40, gate_desc(SEL_A, stub(0x40), gate::INT32, 3, 0));
    let at = int_n(&mut m, 0x40);
    m.ring3(CODE);
    // The stub's HLT at CPL 3 is itself a #GP: look at the first frame.
    m.expect_gp(0);
    assert_eq!(m.interp.stats.first_vector, Some(0x40));
    // #GP's frame (ring 3 -> 0) records the conforming handler's context.
    let f = m.frame(true);
    assert_eq!(f.cs, (SEL_A | 3) as u32);
    assert_eq!(f.esp, STACK3 - 12, "INT frame on the ring-3 stack");
    assert_eq!(m.r32(STACK3 - 12), at + 2);
}

#[test]
fn gate_to_ring1_handler_uses_ss1_esp1() {
    let mut m = Machine::new();
    m.set_idt(0x40, gate_desc(CODE1, HANDLER, gate::INT32, 3, 0));
    m.code_at(HANDLER, |a| {
        a.hlt()?; // #GP at CPL 1
        Ok(vec![])
    });
    let at = int_n(&mut m, 0x40);
    m.ring3(CODE);
    let f = m.expect_gp(0);
    assert_eq!(f.cs, CODE1 as u32);
    assert_eq!(f.ss, DATA1 as u32);
    assert_eq!(f.esp, STACK1 - 20);
    assert_eq!(m.r32(STACK1 - 20), at + 2);
    assert_eq!(m.r32(STACK1 - 4), DATA3 as u32);
}

// ---- delivery errors and their error codes ----------------------------

#[test]
fn not_present_gate_is_np_with_idt_bit() {
    let mut m = Machine::new();
    m.set_idt(0x40, not_present(m.idt(0x40)));
    let at = int_n(&mut m, 0x40);
    let f = m.expect_err(vec::NP, 0x40 * 8 + 2);
    assert_eq!(f.eip, at);
}

#[test]
fn not_present_gate_for_exception_sets_ext() {
    let mut m = Machine::new();
    m.set_idt(vec::UD, not_present(m.idt(vec::UD)));
    m.code(|a| {
        a.ud2()?;
        Ok(vec![])
    });
    // #UD is benign: the #NP is delivered normally.
    m.expect_err(vec::NP, vec::UD as u32 * 8 + 3);
}

#[test]
fn vector_beyond_idt_limit_is_gp_idt() {
    let mut m = Machine::new();
    m.cpu.idtr.limit = 0x50 * 8 + 6;
    int_n(&mut m, 0x50);
    m.expect_gp(0x50 * 8 + 2);
}

#[test]
fn vector_at_idt_limit_is_delivered() {
    let mut m = Machine::new();
    m.cpu.idtr.limit = 0x50 * 8 + 7;
    int_n(&mut m, 0x50);
    m.expect_int(0x50);
}

#[test]
fn call_gate_in_idt_is_gp_idt() {
    let mut m = Machine::new();
    m.set_idt(0x40, gate_desc(CODE0, stub(0x40), gate::CALL32, 0, 0));
    int_n(&mut m, 0x40);
    m.expect_gp(0x40 * 8 + 2);
}

#[test]
fn gate_with_null_selector_is_gp() {
    let mut m = Machine::new();
    m.set_idt(0x40, gate_desc(0, stub(0x40), gate::INT32, 0, 0));
    int_n(&mut m, 0x40);
    m.expect_gp(0);
}

#[test]
fn gate_to_data_segment_is_gp_selector() {
    let mut m = Machine::new();
    m.set_idt(0x40, gate_desc(DATA0, stub(0x40), gate::INT32, 0, 0));
    int_n(&mut m, 0x40);
    m.expect_gp(DATA0 as u32);
}

#[test]
fn gate_to_less_privileged_code_is_gp_selector() {
    let mut m = Machine::new();
    m.set_idt(0x40, gate_desc(CODE3, stub(0x40), gate::INT32, 0, 0));
    int_n(&mut m, 0x40);
    m.expect_gp((CODE3 & !3) as u32);
}

#[test]
fn gate_to_not_present_code_is_np_selector() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::CODE0)));
    m.set_idt(0x40, gate_desc(SEL_A, stub(0x40), gate::INT32, 0, 0));
    int_n(&mut m, 0x40);
    m.expect_err(vec::NP, SEL_A as u32);
}

#[test]
fn bad_tss_stack_for_software_interrupt_is_ts_without_ext() {
    let mut m = Machine::new();
    m.set_idt(0x40, gate_desc(CODE1, HANDLER, gate::INT32, 3, 0));
    m.w32(TSS + 16, 0); // SS1 null
    let at = int_n(&mut m, 0x40);
    m.ring3(CODE);
    let f = m.expect_err(vec::TS, 0);
    assert_eq!(f.eip, at);
}

#[test]
fn bad_tss_stack_for_exception_is_ts_with_ext() {
    let mut m = Machine::new();
    m.set_idt(vec::UD, gate_desc(CODE1, HANDLER, gate::INT32, 0, 0));
    m.w32(TSS + 16, (DATA1 & !3) as u32 | 2); // RPL mismatch
    m.code(|a| {
        a.ud2()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_err(vec::TS, (DATA1 & !3) as u32 | 1);
}

// ---- which exceptions push error codes, fault vs trap, RF --------------

#[test]
fn divide_error_is_a_fault_without_error_code() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.xor(ecx, ecx)?;
        a.set_label(&mut at)?;
        a.div(ecx)?;
        Ok(vec![at])
    });
    let f = m.expect(vec::DE);
    assert_eq!(f.eip, l[0]);
    assert_eq!(f.cs, CODE0 as u32);
    assert_eq!(m.esp(), STACK0_INIT - 12, "no error code");
    assert_ne!(f.eflags & fl::RF, 0, "faults push RF set");
}

#[test]
fn bound_range_is_a_fault_without_error_code() {
    let mut m = Machine::new();
    m.w32(DATA, 10);
    m.w32(DATA + 4, 20);
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.mov(eax, 15u32)?;
        a.bound(eax, qword_ptr(DATA))?;
        a.mov(eax, 21u32)?;
        a.set_label(&mut at)?;
        a.bound(eax, qword_ptr(DATA))?;
        Ok(vec![at])
    });
    let f = m.expect(vec::BR);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.esp(), STACK0_INIT - 12);
}

#[test]
fn general_protection_pushes_error_code_and_rf() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.hlt()?;
        Ok(vec![at])
    });
    m.ring3(CODE);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
    assert_ne!(f.eflags & fl::RF, 0);
    assert_eq!(m.esp(), STACK0 - 24, "error code + 5 dwords");
}

#[test]
fn invalid_opcode_pushes_no_error_code() {
    let mut m = Machine::new();
    m.code(|a| {
        a.ud2()?;
        Ok(vec![])
    });
    let f = m.expect(vec::UD);
    assert_eq!(f.eip, CODE);
    assert_eq!(m.esp(), STACK0_INIT - 12);
    assert_ne!(f.eflags & fl::RF, 0);
}

#[test]
fn device_not_available_with_cr0_ts() {
    let mut m = Machine::new();
    m.cpu.cr0 |= x86::cr::cr0::TS;
    m.code(|a| {
        a.fninit()?;
        Ok(vec![])
    });
    let f = m.expect(vec::NM);
    assert_eq!(f.eip, CODE);
    assert_eq!(m.esp(), STACK0_INIT - 12);
}

#[test]
fn alignment_check_at_cpl3_pushes_zero_error_code() {
    let mut m = Machine::new();
    m.cpu.cr0 |= x86::cr::cr0::AM;
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.pushfd()?;
        a.or(dword_ptr(esp), fl::AC as i32)?;
        a.popfd()?;
        a.mov(eax, dword_ptr(DATA))?;
        a.set_label(&mut at)?;
        a.mov(eax, dword_ptr(DATA + 1))?;
        Ok(vec![at])
    });
    m.ring3(CODE);
    let f = m.expect_err(vec::AC, 0);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn alignment_check_not_at_cpl0() {
    let mut m = Machine::new();
    m.cpu.cr0 |= x86::cr::cr0::AM;
    m.set_flag(fl::AC, true);
    m.code(|a| {
        a.mov(eax, dword_ptr(DATA + 1))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
}

// ---- double and triple faults -----------------------------------------

#[test]
fn contributory_during_contributory_is_double_fault() {
    let mut m = Machine::new();
    m.set_idt(vec::GP, not_present(m.idt(vec::GP)));
    m.code(|a| {
        a.xor(eax, eax)?;
        a.mov(ss, ax)?;
        Ok(vec![])
    });
    let f = m.expect_err(vec::DF, 0);
    assert_eq!(m.interp.stats.first_vector, Some(vec::GP));
    assert_eq!(f.cs, CODE0 as u32);
}

#[test]
fn benign_then_contributory_is_serial() {
    let mut m = Machine::new();
    m.set_idt(vec::DE, not_present(m.idt(vec::DE)));
    m.set_idt(vec::UD, not_present(m.idt(vec::UD)));
    m.code(|a| {
        a.ud2()?;
        Ok(vec![])
    });
    m.expect_err(vec::NP, vec::UD as u32 * 8 + 3);
}

#[test]
fn divide_error_with_bad_gate_is_double_fault() {
    // #DE is contributory, and so is the #GP from its gate.
    let mut m = Machine::new();
    m.set_idt(vec::DE, gate_desc(DATA0, 0, gate::INT32, 0, 0));
    m.code(|a| {
        a.xor(ecx, ecx)?;
        a.div(ecx)?;
        Ok(vec![])
    });
    m.expect_err(vec::DF, 0);
}

#[test]
fn fault_during_double_fault_is_shutdown() {
    let mut m = Machine::new();
    m.set_idt(vec::GP, not_present(m.idt(vec::GP)));
    m.set_idt(vec::DF, not_present(m.idt(vec::DF)));
    m.code(|a| {
        a.xor(eax, eax)?;
        a.mov(ss, ax)?;
        Ok(vec![])
    });
    assert_eq!(m.run(), Exit::Shutdown);
}

#[test]
fn empty_idt_triple_faults() {
    let mut m = Machine::new();
    m.cpu.idtr.limit = 0;
    m.code(|a| {
        a.ud2()?;
        Ok(vec![])
    });
    assert_eq!(m.run(), Exit::Shutdown);
}

#[test]
fn double_fault_handler_frame_uses_ring0_stack() {
    let mut m = Machine::new();
    m.set_idt(vec::GP, not_present(m.idt(vec::GP)));
    m.code(|a| {
        a.hlt()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_err(vec::DF, 0);
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(m.esp(), STACK0 - 24);
}

// ---- external interrupts and the interrupt shadow ----------------------

#[test]
fn external_interrupt_is_taken_between_instructions() {
    let mut m = Machine::new();
    m.set_flag(fl::IF, true);
    m.code(|a| {
        a.mov(eax, 1u32)?;
        a.mov(ebx, 2u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    assert_eq!(m.run_for(1), Exit::Budget);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, CODE + 5);
    assert_eq!(m.eax(), 1);
    assert_eq!(m.ebx(), 0);
    assert_eq!(m.bus.acks, 1);
    assert!(!m.cpu.flag(fl::IF));
}

#[test]
fn external_interrupt_waits_for_if() {
    let mut m = Machine::new();
    m.bus.irq = Some(0x30);
    m.code(|a| {
        a.mov(eax, 1u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.bus.acks, 0);
}

#[test]
fn external_interrupt_from_ring3_ignores_gate_dpl() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(eax, 1u32)?;
        a.mov(ebx, 2u32)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.set_flag(fl::IF, true);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.eip, CODE);
}

#[test]
fn external_interrupt_with_not_present_gate_sets_ext() {
    let mut m = Machine::new();
    m.set_idt(0x30, not_present(m.idt(0x30)));
    m.code(|a| {
        a.nop()?;
        Ok(vec![])
    });
    m.set_flag(fl::IF, true);
    m.bus.irq = Some(0x30);
    m.expect_err(vec::NP, 0x30 * 8 + 3);
}

#[test]
fn hlt_resumes_on_interrupt() {
    let mut m = Machine::new();
    m.code(|a| {
        a.sti()?;
        a.hlt()?;
        a.mov(ebx, 1u32)?;
        Ok(vec![])
    });
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.eip, CODE + 2);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, CODE + 2, "return address after the HLT");
}

/// Step the first instruction, then raise an interrupt: where it is taken
/// shows whether the instruction opened an interrupt shadow.
fn shadow_probe(first: impl FnOnce(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>) -> (Machine, Vec<u32>) {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut second = a.create_label();
        let mut third = a.create_label();
        first(a)?;
        a.set_label(&mut second)?;
        a.mov(ebx, 1u32)?;
        a.set_label(&mut third)?;
        a.mov(ecx, 2u32)?;
        a.hlt()?;
        Ok(vec![second, third])
    });
    m.cpu.gpr[0] = DATA0 as u32;
    (m, l)
}

#[test]
fn mov_ss_inhibits_interrupts_for_one_instruction() {
    let (mut m, l) = shadow_probe(|a| a.mov(ss, ax));
    m.set_flag(fl::IF, true);
    assert_eq!(m.run_for(1), Exit::Budget);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, l[1], "taken after the instruction following MOV SS");
    assert_eq!(m.ebx(), 1);
}

#[test]
fn pop_ss_inhibits_interrupts_for_one_instruction() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut third = a.create_label();
        a.pop(ss)?;
        a.mov(ebx, 1u32)?;
        a.set_label(&mut third)?;
        a.mov(ecx, 2u32)?;
        a.hlt()?;
        Ok(vec![third])
    });
    m.cpu.gpr[4] -= 4;
    m.w32(STACK0_INIT - 4, DATA0 as u32);
    m.set_flag(fl::IF, true);
    assert_eq!(m.run_for(1), Exit::Budget);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn mov_ds_does_not_inhibit_interrupts() {
    let (mut m, l) = shadow_probe(|a| a.mov(ds, ax));
    m.set_flag(fl::IF, true);
    assert_eq!(m.run_for(1), Exit::Budget);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn sti_inhibits_interrupts_for_one_instruction() {
    let (mut m, l) = shadow_probe(|a| a.sti());
    assert_eq!(m.run_for(1), Exit::Budget);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, l[1]);
    assert_eq!(m.ebx(), 1);
}

#[test]
fn sti_with_if_already_set_opens_no_shadow() {
    let (mut m, l) = shadow_probe(|a| a.sti());
    m.set_flag(fl::IF, true);
    assert_eq!(m.run_for(1), Exit::Budget);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, l[0]);
}

// ---- IRET --------------------------------------------------------------

#[test]
fn iret_same_level_returns_and_restores_flags() {
    let mut m = Machine::new();
    m.set_handler(0x40, HANDLER, gate::INT32, 0);
    m.code_at(HANDLER, |a| {
        a.mov(ebx, 0x42u32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code(|a| {
        a.sti()?;
        a.int(0x40)?;
        a.mov(ecx, 7u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!((m.ebx(), m.ecx()), (0x42, 7));
    assert_eq!(m.esp(), STACK0_INIT);
    assert!(m.cpu.flag(fl::IF), "IF restored from the image");
}

/// Where the code an IRET returns to lives.
const USER: u32 = CODE + 0x800;

/// Ring-0 code that IRETs to ring 3 at `USER` with EFLAGS image `flags`.
fn iret_to_ring3(a: &mut CodeAssembler, flags: u32) -> Result<(), iced_x86::IcedError> {
    a.push(DATA3 as i32)?;
    a.push((STACK3 - 0x100) as i32)?;
    a.push(flags as i32)?;
    a.push(CODE3 as i32)?;
    a.push(USER as i32)?;
    a.iretd()
}

#[test]
fn iret_to_outer_level_loads_ss_esp_and_nulls_data_segments() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.mov(ax, (DATA3 & !3) as u32)?;
        a.mov(es, ax)?;
        iret_to_ring3(a, 0x2 | fl::IF)?;
        Ok(vec![])
    });
    m.code_at(USER, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    let f = m.expect_int(0x80);
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(f.esp, STACK3 - 0x100);
    assert_ne!(f.eflags & fl::IF, 0);
    assert_eq!(m.sel(sreg::DS), 0, "DPL-0 DS nulled");
    assert_eq!(m.sel(sreg::FS), 0);
    assert_eq!(m.sel(sreg::ES), DATA3 & !3, "DPL-3 ES kept");
}

#[test]
fn iret_at_cpl0_may_set_iopl() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        iret_to_ring3(a, 0x2 | fl::IOPL)?;
        Ok(vec![])
    });
    m.code_at(USER, |a| {
        a.cli()?; // allowed with IOPL 3
        a.int(0x80)?;
        Ok(vec![])
    });
    let f = m.expect_int(0x80);
    assert_eq!(f.eflags & fl::IOPL, fl::IOPL);
}

#[test]
fn iret_at_cpl3_cannot_change_iopl_or_if() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.push((0x2 | fl::IOPL | fl::IF | fl::CF) as i32)?;
        a.push(CODE3 as i32)?;
        a.push(USER as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code_at(USER, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(f.eflags & (fl::IOPL | fl::IF), 0);
    assert_ne!(f.eflags & fl::CF, 0, "arithmetic flags do change");
}

#[test]
fn iret_at_cpl1_with_iopl1_changes_if_but_not_iopl() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.set_iopl(1);
    m.code(|a| {
        a.push((0x2 | fl::IF) as i32)?; // IOPL 0 in the image
        a.push(CODE1 as i32)?;
        a.push(USER as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code_at(USER, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring(1, CODE);
    let f = m.expect_int(0x80);
    assert_ne!(f.eflags & fl::IF, 0);
    assert_eq!(f.eflags & fl::IOPL, 1 << fl::IOPL_SHIFT);
}

#[test]
fn iret_to_inner_level_is_gp() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push(2)?;
        a.push(CODE0 as i32)?;
        a.push(CODE as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(CODE0 as u32);
}

#[test]
fn iret_to_outer_level_with_bad_ss_is_gp() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push(DATA0 as i32)?; // SS RPL 0 for CPL 3
        a.push(STACK3 as i32)?;
        a.push(2)?;
        a.push(CODE3 as i32)?;
        a.push(CODE as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.expect_gp(DATA0 as u32);
}

#[test]
fn iret_16bit_same_level() {
    let mut m = Machine::new();
    m.set_handler(0x40, 0xE000, gate::INT16, 0);
    m.code_at(0xE000, |a| {
        a.mov(ebx, 5u32)?;
        a.iret()?;
        Ok(vec![])
    });
    m.code(|a| {
        a.int(0x40)?;
        a.mov(ecx, 6u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    // The 16-bit IRET pops IP: the caller must sit below 64 KiB.
    let bytes = m.read(CODE, 16);
    m.write(0x0800, &bytes);
    m.cpu.eip = 0x0800;
    m.expect_done();
    assert_eq!((m.ebx(), m.ecx()), (5, 6));
    assert_eq!(m.esp(), STACK0_INIT);
}

#[test]
fn interrupt_on_16bit_stack_wraps_sp_and_keeps_esp_high_half() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0x5_0000, 0xFFFF, acc::DATA0, BYTE16));
    let at = m.code(|a| {
        let mut at = a.create_label();
        a.mov(ax, SEL_A as u32)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0xDEAD_0004u32)?;
        a.set_label(&mut at)?;
        a.int(0x40)?;
        Ok(vec![at])
    })[0];
    let f = m.expect_int(0x40);
    assert_eq!(m.esp(), 0xDEAD_FFF8, "SP wrapped, the high half kept");
    assert_eq!(f.eip, at + 2);
    assert_eq!(m.r32(0x5_FFF8), at + 2);
    assert_eq!(m.r32(0x5_0000), f.eflags, "EFLAGS pushed at SP 0");
}

#[test]
fn external_interrupt_with_bad_gate_target_sets_ext() {
    let mut m = Machine::new();
    m.set_idt(0x30, gate_desc(DATA0, 0, gate::INT32, 0, 0));
    m.code(|a| {
        a.nop()?;
        Ok(vec![])
    });
    m.set_flag(fl::IF, true);
    m.bus.irq = Some(0x30);
    m.expect_gp(DATA0 as u32 | 1);
}

#[test]
fn rf_is_cleared_after_the_restarted_instruction() {
    // A #GP handler that fixes DS and returns: the IRET loads RF from the
    // fault frame, the restarted instruction completes and RF clears.
    let mut m = Machine::new();
    m.set_handler(vec::GP, HANDLER, gate::INT32, 0);
    m.code_at(HANDLER, |a| {
        a.mov(ax, DATA0 as u32)?;
        a.mov(ds, ax)?;
        a.add(esp, 4)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code(|a| {
        a.xor(eax, eax)?;
        a.mov(ds, ax)?;
        a.mov(ebx, dword_ptr(DATA))?; // #GP, then restarted
        a.pushfd()?;
        a.pop(ecx)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.w32(DATA, 0x600D);
    m.expect_done();
    assert_eq!(m.ebx(), 0x600D);
    assert_eq!(m.ecx() & fl::RF, 0);
}

#[test]
fn iret_to_16bit_outer_stack_loads_only_sp() {
    // The high word of ESP keeps the ring-0 value: the leak Linux's ESPFIX
    // hides.
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0xFFFF, acc::DATA3, BYTE16));
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.mov(esp, 0x0001_8800u32)?;
        a.push((SEL_A | 3) as i32)?;
        a.push(0x1234_5678)?;
        a.push(2)?;
        a.push(CODE3 as i32)?;
        a.push(USER as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code_at(USER, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    let f = m.expect_int(0x80);
    assert_eq!(f.ss, (SEL_A | 3) as u32);
    assert_eq!(f.esp, 0x0001_5678);
}

#[test]
fn retf_to_16bit_outer_stack_loads_only_sp() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0xFFFF, acc::DATA3, BYTE16));
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.mov(esp, 0x0001_8800u32)?;
        a.push((SEL_A | 3) as i32)?;
        a.push(0x1234_5678)?;
        a.push(CODE3 as i32)?;
        a.push(USER as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.code_at(USER, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    let f = m.expect_int(0x80);
    assert_eq!(f.esp, 0x0001_5678);
}

#[test]
fn interrupt_between_rep_iterations_pushes_rf() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut rep = a.create_label();
        a.cld()?;
        a.mov(edi, 0x10_0000u32)?;
        a.mov(ecx, 50_000u32)?;
        a.set_label(&mut rep)?;
        a.rep().stosb()?;
        a.hlt()?;
        Ok(vec![rep])
    });
    m.set_flag(fl::IF, true);
    assert_eq!(m.run_for(4), Exit::Budget);
    assert_eq!(m.cpu.eip, l[0], "still in the REP STOSB");
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, l[0]);
    assert_ne!(f.eflags & fl::RF, 0, "RF pushed set between iterations");
    assert!(m.ecx() > 0 && m.ecx() < 50_000);
}

#[test]
fn interrupt_after_the_last_rep_iteration_pushes_no_rf() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut after = a.create_label();
        a.cld()?;
        a.mov(edi, 0x10_0000u32)?;
        a.mov(ecx, 3u32)?;
        a.rep().stosb()?;
        a.set_label(&mut after)?;
        a.hlt()?;
        Ok(vec![after])
    });
    m.set_flag(fl::IF, true);
    assert_eq!(m.run_for(4), Exit::Budget);
    m.bus.irq = Some(0x30);
    let f = m.expect_int(0x30);
    assert_eq!(f.eip, l[0]);
    assert_eq!(f.eflags & fl::RF, 0);
}
