//! Far control transfers in protected mode: JMP/CALL to code segments
//! (conforming and non-conforming), through call gates with and without a
//! privilege change (stack switch from the TSS, parameter copy with 16- and
//! 32-bit gates), and RETF to the same and to an outer privilege level.
//!
//! SDM vol. 3: 5.8.1-5.8.6 (direct calls and jumps, gate descriptors,
//! accessing a code segment through a call gate, stack switching, returning
//! from a called procedure), 5.8.2 (conforming segments), 7.7 (TSS stack
//! pointers); vol. 2: CALL, JMP, RET "Operation" and "Protected Mode
//! Exceptions".

mod common;

use common::*;
use cpu::state::sreg;
use iced_x86::code_asm::*;

const SEL_A: u16 = FREE; // 0x80
const GATE: u16 = FREE + 8; // 0x88
const CALLEE: u32 = CODE + 0x1000;
/// A low address for targets of 16-bit offsets.
const LOW: u32 = 0xE000;

fn call_gate(target: u16, off: u32, dpl: u8, params: u8) -> u64 {
    gate_desc(target, off, gate::CALL32, dpl, params)
}

/// Code that does `insn` to `sel:off` and halts; returns the address of
/// the transfer.
fn far(m: &mut Machine, call: bool, sel: u16, off: u32) -> u32 {
    m.code(|a| {
        let mut at = a.create_label();
        a.mov(eax, 0x1111u32)?;
        a.set_label(&mut at)?;
        if call {
            a.call_far(sel, off)?;
        } else {
            a.jmp_far(sel, off)?;
        }
        a.hlt()?;
        Ok(vec![at])
    })[0]
}

/// A callee at CALLEE that halts.
fn callee_halts(m: &mut Machine) {
    m.code_at(CALLEE, |a| {
        a.hlt()?;
        Ok(vec![])
    });
}

#[test]
fn far_jmp_to_same_privilege_code() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x9A)); // not accessed yet
    callee_halts(&mut m);
    far(&mut m, false, SEL_A, CALLEE);
    m.expect_done();
    assert_eq!(m.sel(sreg::CS), SEL_A);
    assert_eq!(m.cpu.eip, CALLEE + 1);
    assert_eq!(m.esp(), STACK0_INIT, "JMP pushes nothing");
    assert_eq!(m.desc(SEL_A), flat(0x9B), "accessed bit set");
}

#[test]
fn far_jmp_rpl_above_cpl_to_nonconforming_is_gp() {
    let mut m = Machine::new();
    callee_halts(&mut m);
    let at = far(&mut m, false, CODE0 | 3, CALLEE);
    let f = m.expect_gp(CODE0 as u32);
    assert_eq!(f.eip, at);
}

#[test]
fn far_jmp_to_less_privileged_nonconforming_is_gp() {
    let mut m = Machine::new();
    callee_halts(&mut m);
    far(&mut m, false, CODE3 & !3, CALLEE);
    m.expect_gp((CODE3 & !3) as u32);
}

#[test]
fn far_jmp_to_more_privileged_nonconforming_is_gp() {
    let mut m = Machine::new();
    callee_halts(&mut m);
    far(&mut m, false, CODE0 | 3, CALLEE);
    m.ring3(CODE);
    m.expect_gp(CODE0 as u32);
}

#[test]
fn far_jmp_to_conforming_keeps_cpl() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x9F)); // conforming, DPL 0
    m.set_gate_dpl(0x80, 3);
    m.code_at(CALLEE, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    far(&mut m, false, SEL_A, CALLEE);
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(f.cs, (SEL_A | 3) as u32, "CS.RPL is the unchanged CPL 3");
    assert_eq!(f.ss, DATA3 as u32, "INT came from ring 3: outer SS pushed");
}

#[test]
fn far_jmp_to_conforming_with_dpl_above_cpl_is_gp() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0xFF)); // conforming, DPL 3
    callee_halts(&mut m);
    far(&mut m, false, SEL_A, CALLEE);
    m.ring(1, CODE);
    m.expect_gp(SEL_A as u32);
}

#[test]
fn far_jmp_to_not_present_code_is_np() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::CODE0)));
    let at = far(&mut m, false, SEL_A, CALLEE);
    let f = m.expect_err(vec::NP, SEL_A as u32);
    assert_eq!(f.eip, at);
}

#[test]
fn far_jmp_to_data_segment_is_gp() {
    let mut m = Machine::new();
    far(&mut m, false, DATA0, CALLEE);
    m.expect_gp(DATA0 as u32);
}

#[test]
fn far_jmp_to_null_selector_is_gp0() {
    let mut m = Machine::new();
    far(&mut m, false, 0, CALLEE);
    m.expect_gp(0);
}

#[test]
fn far_jmp_beyond_code_limit_is_gp0() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0xFFFF, acc::CODE0, BYTE32));
    let at = far(&mut m, false, SEL_A, 0x10000);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, at);
    assert_eq!(f.cs, CODE0 as u32, "CS unchanged");
}

#[test]
fn far_jmp_to_ldt_code_segment() {
    let mut m = Machine::new();
    let ldt = DATA + 0x200;
    m.w64(ldt, flat(acc::CODE0));
    m.set_desc(SEL_A, seg_desc(ldt, 7, acc::LDT, 0));
    callee_halts(&mut m);
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.lldt(ax)?;
        a.jmp_far(0x04, CALLEE)?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.sel(sreg::CS), 0x04);
}

#[test]
fn far_call_pushes_cs_and_eip() {
    let mut m = Machine::new();
    callee_halts(&mut m);
    let at = far(&mut m, true, CODE0, CALLEE);
    m.expect_done();
    assert_eq!(m.esp(), STACK0_INIT - 8);
    assert_eq!(m.stack(0), at + 7, "return EIP after the 7-byte CALL");
    assert_eq!(m.stack(1), CODE0 as u32);
}

#[test]
fn far_call_and_retf_round_trip() {
    let mut m = Machine::new();
    m.code_at(CALLEE, |a| {
        a.mov(ebx, 0x2222u32)?;
        a.retf()?;
        Ok(vec![])
    });
    far(&mut m, true, CODE0, CALLEE);
    m.expect_done();
    assert_eq!(m.ebx(), 0x2222);
    assert_eq!(m.esp(), STACK0_INIT);
    assert_eq!(m.sel(sreg::CS), CODE0);
}

#[test]
fn retf_imm_releases_parameters() {
    let mut m = Machine::new();
    m.code_at(CALLEE, |a| {
        a.retf_1(8)?;
        Ok(vec![])
    });
    m.code(|a| {
        a.push(1)?;
        a.push(2)?;
        a.call_far(CODE0, CALLEE)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.esp(), STACK0_INIT);
}

#[test]
fn far_call_16bit_operand_pushes_words() {
    let mut m = Machine::new();
    m.code_at(LOW, |a| {
        a.hlt()?;
        Ok(vec![])
    });
    let l = m.code(|a| {
        let mut ret = a.create_label();
        // o16 CALL ptr16:16
        let [lo, hi] = (LOW as u16).to_le_bytes();
        let [slo, shi] = CODE0.to_le_bytes();
        a.db(&[0x66, 0x9A, lo, hi, slo, shi])?;
        a.set_label(&mut ret)?;
        a.hlt()?;
        Ok(vec![ret])
    });
    m.expect_done();
    assert_eq!(m.esp(), STACK0_INIT - 4);
    assert_eq!(m.stack16(0) as u32, l[0] & 0xFFFF);
    assert_eq!(m.stack16(1), CODE0);
}

#[test]
fn far_call_through_memory_pointer() {
    let mut m = Machine::new();
    callee_halts(&mut m);
    m.w32(DATA, CALLEE);
    m.w16(DATA + 4, CODE0);
    m.code(|a| {
        a.call(fword_ptr(DATA))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.cpu.eip, CALLEE + 1);
    assert_eq!(m.stack(1), CODE0 as u32);
}

#[test]
fn far_call_to_conforming_code_keeps_stack_and_cpl() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x9F));
    m.set_gate_dpl(0x80, 3);
    m.code_at(CALLEE, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    let at = far(&mut m, true, SEL_A, CALLEE);
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(f.cs, (SEL_A | 3) as u32);
    assert_eq!(f.esp, STACK3 - 8, "return address pushed on the ring-3 stack");
    assert_eq!(m.r32(STACK3 - 8), at + 7);
    assert_eq!(m.r32(STACK3 - 4), CODE3 as u32);
}

#[test]
fn call_gate_same_privilege_uses_gate_offset() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 0, 0));
    callee_halts(&mut m);
    let at = far(&mut m, true, GATE, 0xDEAD);
    m.expect_done();
    assert_eq!(m.cpu.eip, CALLEE + 1);
    assert_eq!(m.esp(), STACK0_INIT - 8);
    assert_eq!(m.stack(0), at + 7);
    assert_eq!(m.stack(1), CODE0 as u32);
}

#[test]
fn call_gate_to_ring0_switches_stack_and_copies_dwords() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 3, 2));
    callee_halts(&mut m);
    let l = m.code(|a| {
        let mut ret = a.create_label();
        a.push(0x1111_1111)?;
        a.push(0x2222_2222)?;
        a.call_far(GATE | 3, 0)?;
        a.set_label(&mut ret)?;
        a.hlt()?;
        Ok(vec![ret])
    });
    m.ring3(CODE);
    m.expect_done();
    assert_eq!(m.cpu.cpl, 0);
    assert_eq!(m.sel(sreg::CS), CODE0);
    assert_eq!(m.sel(sreg::SS), DATA0, "SS0 from the TSS");
    assert_eq!(m.esp(), STACK0 - 24);
    assert_eq!(m.stack(0), l[0], "return EIP");
    assert_eq!(m.stack(1), CODE3 as u32);
    assert_eq!(m.stack(2), 0x2222_2222, "parameters keep their order");
    assert_eq!(m.stack(3), 0x1111_1111);
    assert_eq!(m.stack(4), STACK3 - 8, "caller ESP");
    assert_eq!(m.stack(5), DATA3 as u32, "caller SS");
}

#[test]
fn call_gate_16bit_copies_words() {
    let mut m = Machine::new();
    m.set_desc(GATE, gate_desc(CODE0, LOW, gate::CALL16, 3, 2));
    m.code_at(LOW, |a| {
        a.hlt()?;
        Ok(vec![])
    });
    let l = m.code(|a| {
        let mut ret = a.create_label();
        a.push(0x2AAA_1111)?;
        a.push(0x3BBB_2222)?;
        a.call_far(GATE | 3, 0)?;
        a.set_label(&mut ret)?;
        a.hlt()?;
        Ok(vec![ret])
    });
    m.ring3(CODE);
    m.expect_done();
    assert_eq!(m.cpu.eip, LOW + 1);
    assert_eq!(m.esp(), STACK0 - 12, "six words");
    assert_eq!(m.stack16(0) as u32, l[0] & 0xFFFF);
    assert_eq!(m.stack16(1), CODE3);
    // The two words on top of the caller's stack: the low word of the
    // last push, then its high word.
    assert_eq!(m.stack16(2), 0x2222);
    assert_eq!(m.stack16(3), 0x3BBB);
    assert_eq!(m.stack16(4) as u32, (STACK3 - 8) & 0xFFFF);
    assert_eq!(m.stack16(5), DATA3);
}

#[test]
fn retf_to_outer_level_through_call_gate() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 3, 2));
    m.code_at(CALLEE, |a| {
        a.mov(ebx, dword_ptr(esp + 8))?;
        a.retf_1(8)?;
        Ok(vec![])
    });
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.push(0x1111_1111)?;
        a.push(0x2222_2222)?;
        a.call_far(GATE | 3, 0)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(m.ebx(), 0x2222_2222);
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(f.esp, STACK3, "RETF 8 released the parameters");
}

#[test]
fn retf_to_outer_level_nulls_privileged_data_segments() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 3, 0));
    m.set_desc(SEL_A, flat(0x9F)); // conforming readable code, DPL 0
    m.code_at(CALLEE, |a| {
        a.mov(ax, DATA0 as u32)?;
        a.mov(ds, ax)?;
        a.mov(gs, ax)?;
        a.mov(ax, (DATA3 & !3) as u32)?;
        a.mov(es, ax)?;
        a.mov(ax, SEL_A as u32)?;
        a.mov(fs, ax)?;
        a.retf()?;
        Ok(vec![])
    });
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.call_far(GATE | 3, 0)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.sel(sreg::DS), 0, "DPL 0 data: nulled");
    assert_eq!(m.sel(sreg::GS), 0, "DPL 0 data: nulled");
    assert_eq!(m.sel(sreg::ES), DATA3 & !3, "DPL 3 data survives");
    assert_eq!(m.sel(sreg::FS), SEL_A, "conforming code survives");
}

#[test]
fn call_gate_dpl_below_cpl_is_gp_gate() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 0, 0));
    let at = far(&mut m, true, GATE | 3, 0);
    m.ring3(CODE);
    let f = m.expect_gp(GATE as u32);
    assert_eq!(f.eip, at);
}

#[test]
fn call_gate_rpl_above_gate_dpl_is_gp_gate() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 1, 0));
    far(&mut m, true, GATE | 2, 0);
    m.expect_gp(GATE as u32);
}

#[test]
fn call_gate_not_present_is_np_gate() {
    let mut m = Machine::new();
    m.set_desc(GATE, not_present(call_gate(CODE0, CALLEE, 3, 0)));
    far(&mut m, true, GATE, 0);
    m.expect_err(vec::NP, GATE as u32);
}

#[test]
fn call_gate_to_less_privileged_code_is_gp_target() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE3, CALLEE, 3, 0));
    far(&mut m, true, GATE, 0);
    m.expect_gp((CODE3 & !3) as u32);
}

#[test]
fn call_gate_to_not_present_code_is_np_target() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::CODE0)));
    m.set_desc(GATE, call_gate(SEL_A, CALLEE, 3, 0));
    far(&mut m, true, GATE | 3, 0);
    m.ring3(CODE);
    m.expect_err(vec::NP, SEL_A as u32);
}

#[test]
fn call_gate_with_null_target_is_gp0() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(0, CALLEE, 3, 0));
    far(&mut m, true, GATE, 0);
    m.expect_gp(0);
}

#[test]
fn call_gate_to_data_segment_is_gp_target() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(DATA0, CALLEE, 3, 0));
    far(&mut m, true, GATE, 0);
    m.expect_gp(DATA0 as u32);
}

#[test]
fn call_gate_offset_beyond_target_limit_is_gp0() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0xFFFF, acc::CODE0, BYTE32));
    m.set_desc(GATE, call_gate(SEL_A, 0x20000, 3, 0));
    far(&mut m, true, GATE | 3, 0);
    m.ring3(CODE);
    let f = m.expect_gp(0);
    assert_eq!(f.cs, CODE3 as u32, "nothing changed");
    assert_eq!(f.esp, STACK3);
}

#[test]
fn jmp_through_call_gate_to_more_privileged_code_is_gp() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 3, 0));
    far(&mut m, false, GATE | 3, 0);
    m.ring3(CODE);
    m.expect_gp(CODE0 as u32);
}

#[test]
fn jmp_through_call_gate_to_conforming_code_keeps_cpl() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x9F));
    m.set_desc(GATE, call_gate(SEL_A, CALLEE, 3, 0));
    m.set_gate_dpl(0x80, 3);
    m.code_at(CALLEE, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    far(&mut m, false, GATE | 3, 0);
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(f.cs, (SEL_A | 3) as u32);
    assert_eq!(f.esp, STACK3, "JMP pushed nothing");
}

#[test]
fn jmp_through_call_gate_at_same_privilege() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 0, 0));
    callee_halts(&mut m);
    far(&mut m, false, GATE, 0);
    m.expect_done();
    assert_eq!(m.cpu.eip, CALLEE + 1);
    assert_eq!(m.esp(), STACK0_INIT);
}

/// A gate from ring 3 to ring-1 code, whose stack comes from SS1:ESP1: a
/// bad SS1 faults, and the fault is handled in ring 0 on a good stack.
fn ring1_gate(m: &mut Machine) -> u32 {
    m.set_desc(GATE, call_gate(CODE1, CALLEE, 3, 0));
    callee_halts(m);
    let at = far(m, true, GATE | 3, 0);
    m.ring3(CODE);
    at
}

#[test]
fn call_gate_stack_switch_reaches_ring1() {
    let mut m = Machine::new();
    ring1_gate(&mut m);
    // The callee's HLT at CPL 1 faults; the #GP frame shows ring 1's
    // context.
    let f = m.expect_gp(0);
    assert_eq!(f.eip, CALLEE);
    assert_eq!(f.cs, CODE1 as u32);
    assert_eq!(f.ss, DATA1 as u32, "SS1 from the TSS");
    assert_eq!(f.esp, STACK1 - 16, "ESP1 minus SS, ESP, CS, EIP");
}

#[test]
fn call_gate_null_tss_stack_selector_is_ts() {
    let mut m = Machine::new();
    m.w32(TSS + 16, 0);
    let at = ring1_gate(&mut m);
    let f = m.expect_err(vec::TS, 0);
    assert_eq!(f.eip, at);
    assert_eq!(f.cs, CODE3 as u32);
}

#[test]
fn call_gate_tss_stack_rpl_mismatch_is_ts() {
    let mut m = Machine::new();
    m.w32(TSS + 16, (DATA1 & !3) as u32 | 2);
    ring1_gate(&mut m);
    m.expect_err(vec::TS, (DATA1 & !3) as u32);
}

#[test]
fn call_gate_tss_stack_dpl_mismatch_is_ts() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(acc::DATA0));
    m.w32(TSS + 16, (SEL_A | 1) as u32);
    ring1_gate(&mut m);
    m.expect_err(vec::TS, SEL_A as u32);
}

#[test]
fn call_gate_tss_stack_read_only_is_ts() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0xB1)); // DPL 1 read-only data
    m.w32(TSS + 16, (SEL_A | 1) as u32);
    ring1_gate(&mut m);
    m.expect_err(vec::TS, SEL_A as u32);
}

#[test]
fn call_gate_tss_stack_not_present_is_ss() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(0xB3)));
    m.w32(TSS + 16, (SEL_A | 1) as u32);
    ring1_gate(&mut m);
    m.expect_err(vec::SS, SEL_A as u32);
}

#[test]
fn call_gate_new_stack_too_small_is_ss() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0xFFFF, 0xB3, BYTE32));
    m.w32(TSS + 12, 8); // ESP1: no room for 16 bytes
    m.w32(TSS + 16, (SEL_A | 1) as u32);
    ring1_gate(&mut m);
    let f = m.expect_err(vec::SS, SEL_A as u32);
    assert_eq!(f.ss, DATA3 as u32, "still the caller's context");
}

#[test]
fn call_gate_tss_too_short_for_stack_pointer_is_ts() {
    let mut m = Machine::new();
    // SS1:ESP1 live at offsets 12..17; a limit of 15 cuts them off.
    m.set_tss_limit(15);
    ring1_gate(&mut m);
    m.expect_err(vec::TS, TSS_SEL as u32);
}

#[test]
fn retf_to_more_privileged_level_is_gp() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push(CODE0 as i32)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(CODE0 as u32);
}

#[test]
fn retf_to_nonconforming_with_dpl_not_rpl_is_gp() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push((CODE0 | 1) as i32)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.expect_gp(CODE0 as u32);
}

#[test]
fn retf_to_null_selector_is_gp0() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push(0)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.expect_gp(0);
}

#[test]
fn retf_to_not_present_code_is_np() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::CODE0)));
    m.code(|a| {
        a.push(SEL_A as i32)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.expect_err(vec::NP, SEL_A as u32);
}

#[test]
fn retf_beyond_code_limit_is_gp0() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0xFFFF, acc::CODE0, BYTE32));
    m.code(|a| {
        a.push(SEL_A as i32)?;
        a.push(0x10000)?;
        a.retf()?;
        Ok(vec![])
    });
    let f = m.expect_gp(0);
    assert_eq!(f.cs, CODE0 as u32);
}

#[test]
fn retf_to_outer_level_with_ss_rpl_mismatch_is_gp_ss() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push((DATA3 & !3) as i32)?;
        a.push(STACK3 as i32)?;
        a.push(CODE3 as i32)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.expect_gp((DATA3 & !3) as u32);
}

#[test]
fn retf_to_outer_level_with_privileged_ss_is_gp_ss() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push((DATA0 | 3) as i32)?;
        a.push(STACK3 as i32)?;
        a.push(CODE3 as i32)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.expect_gp(DATA0 as u32);
}

#[test]
fn retf_to_outer_level_with_not_present_ss_is_ss() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::DATA3)));
    m.code(|a| {
        a.push((SEL_A | 3) as i32)?;
        a.push(STACK3 as i32)?;
        a.push(CODE3 as i32)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    m.expect_err(vec::SS, SEL_A as u32);
}

#[test]
fn retf_to_outer_level_loads_ss_esp_and_cpl() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code_at(CALLEE, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    m.code(|a| {
        a.push(DATA3 as i32)?;
        a.push(0xBF00)?;
        a.push(CODE3 as i32)?;
        a.push(CALLEE as i32)?;
        a.retf()?;
        Ok(vec![])
    });
    let f = m.expect_int(0x80);
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.esp, 0xBF00);
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(m.esp(), STACK0 - 20, "ring-0 stack from the TSS again");
}

#[test]
fn call_from_16bit_code_through_32bit_gate_pushes_dwords() {
    let mut m = Machine::new();
    m.set_desc(GATE, call_gate(CODE0, CALLEE, 0, 0));
    callee_halts(&mut m);
    let ret = m.code16_at(LOW, LOW, |a| {
        let mut ret = a.create_label();
        a.call_far(GATE, 0)?; // 16-bit operand size
        a.set_label(&mut ret)?;
        a.hlt()?;
        Ok(vec![ret])
    })[0];
    far(&mut m, false, CODE0_16, LOW);
    m.expect_done();
    assert_eq!(m.esp(), STACK0_INIT - 8, "the gate's size decides");
    assert_eq!(m.stack(0), ret);
    assert_eq!(m.stack(1), CODE0_16 as u32);
}

#[test]
fn retf16_to_16bit_code_checks_its_limit() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push(CODE0_16 as i32)?;
        a.push(0x1_0000)?; // beyond the 64 KiB limit
        a.retf()?;
        Ok(vec![])
    });
    m.expect_gp(0);
}
