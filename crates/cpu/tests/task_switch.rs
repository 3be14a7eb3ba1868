//! Hardware task switching: JMP/CALL to a TSS descriptor or through a task
//! gate, interrupts and exceptions through IDT task gates (with the error
//! code pushed on the new task's stack, and #DF through a task gate as
//! Linux uses it), IRET with NT, busy bits, the previous-task link, CR0.TS,
//! CR3 and LDT loads, 16-bit TSSs, the T (debug trap) bit, faults before and
//! after the commit point, and LTR/LLDT/STR.
//!
//! SDM vol. 3: 8.1-8.4 (TSS, TSS descriptor, task gates, task switching,
//! table 8-1 exception conditions, table 8-2 busy/NT/link effects), 8.6
//! (16-bit TSS), 6.12.2 (interrupt tasks), 6.15 #DF/#TS; vol. 2: LTR,
//! LLDT, STR, IRET (task return).

mod common;

use common::*;
use cpu::state::{reg, sreg};
use iced_x86::code_asm::*;

const TSS2_SEL: u16 = FREE; // 0x80
const TASK_GATE: u16 = FREE + 8; // 0x88
const TSS3_SEL: u16 = FREE + 16; // 0x90
const SEL_A: u16 = FREE + 24; // 0x98
const LDT_SEL: u16 = FREE + 32; // 0xA0
/// Where task 2 and task 3 start.
const TASK2: u32 = CODE + 0x1000;
const TASK3: u32 = CODE + 0x2000;
const TASK2_ESP: u32 = 0x9C00;
const TASK3_ESP: u32 = 0x9E00;

/// Fill a 32-bit TSS at `base` for a ring-0 task starting at `eip`.
fn tss32(m: &mut Machine, base: u32, entry: u32, stack_top: u32) {
    m.write(base, &[0; 0x68]);
    m.w32(base + 0x04, STACK0);
    m.w32(base + 0x08, DATA0 as u32);
    m.w32(base + 0x1C, m.cpu.cr3);
    m.w32(base + 0x20, entry);
    m.w32(base + 0x24, 0x2);
    for r in 0..8u32 {
        m.w32(base + 0x28 + 4 * r, 0xA0 + r);
    }
    m.w32(base + 0x38, stack_top); // ESP
    for (k, sel) in [DATA0, CODE0, DATA0, DATA0, DATA0, DATA0].iter().enumerate() {
        m.w16(base + 0x48 + 4 * k as u32, *sel);
    }
    m.w16(base + 0x66, 0x68);
}

fn setup(m: &mut Machine) {
    tss32(m, TSS2, TASK2, TASK2_ESP);
    m.set_desc(TSS2_SEL, seg_desc(TSS2, 0x67, acc::TSS32, 0));
    m.set_desc(TASK_GATE, gate_desc(TSS2_SEL, 0, gate::TASK, 3, 0));
    tss32(m, TSS3, TASK3, TASK3_ESP);
    m.set_desc(TSS3_SEL, seg_desc(TSS3, 0x67, acc::TSS32, 0));
    m.code_at(TASK2, |a| {
        a.hlt()?;
        Ok(vec![])
    });
    m.code_at(TASK3, |a| {
        a.hlt()?;
        Ok(vec![])
    });
}

/// `JMP`/`CALL` far to `sel` from CODE after loading EAX; returns the
/// address after the transfer.
fn transfer(m: &mut Machine, call: bool, sel: u16) -> u32 {
    m.code(|a| {
        let mut after = a.create_label();
        a.mov(eax, 0x1234u32)?;
        if call {
            a.call_far(sel, 0)?;
        } else {
            a.jmp_far(sel, 0)?;
        }
        a.set_label(&mut after)?;
        a.hlt()?;
        Ok(vec![after])
    })[0]
}

fn busy(m: &Machine, sel: u16) -> bool {
    m.desc(sel) & (2 << 40) != 0
}

#[test]
fn jmp_to_tss_switches_task() {
    let mut m = Machine::new();
    setup(&mut m);
    let after = transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.eip, TASK2 + 1);
    assert_eq!(m.sel(sreg::CS), CODE0);
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_eq!(m.eax(), 0xA0, "registers from the new TSS");
    assert_eq!(m.esp(), TASK2_ESP);
    // The outgoing state went to the old TSS.
    assert_eq!(m.r32(TSS + 0x20), after, "saved EIP after the JMP");
    assert_eq!(m.r32(TSS + 0x28), 0x1234, "saved EAX");
    assert_eq!(m.r32(TSS + 0x38), STACK0_INIT, "saved ESP");
    assert_eq!(m.r16(TSS + 0x4C), CODE0, "saved CS");
    // Busy bits, link, NT, TS (table 8-2).
    assert!(!busy(&m, TSS_SEL), "JMP clears the old task's busy bit");
    assert!(busy(&m, TSS2_SEL));
    assert_eq!(m.r16(TSS2), 0, "JMP writes no back link");
    assert!(!m.cpu.flag(fl::NT));
    assert_ne!(m.cpu.cr0 & x86::cr::cr0::TS, 0, "CR0.TS set");
}

#[test]
fn call_to_tss_links_and_sets_nt() {
    let mut m = Machine::new();
    setup(&mut m);
    transfer(&mut m, true, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_eq!(m.r16(TSS2), TSS_SEL, "previous-task link");
    assert!(m.cpu.flag(fl::NT));
    assert!(busy(&m, TSS_SEL), "CALL keeps the old task busy");
    assert!(busy(&m, TSS2_SEL));
}

#[test]
fn iret_with_nt_returns_to_the_calling_task() {
    let mut m = Machine::new();
    setup(&mut m);
    m.code_at(TASK2, |a| {
        a.mov(ebx, 0x77u32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code(|a| {
        a.mov(eax, 0x1234u32)?;
        a.mov(ebx, 0x66u32)?;
        a.call_far(TSS2_SEL, 0)?;
        a.mov(ecx, 0x99u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS_SEL);
    assert_eq!(m.eax(), 0x1234, "caller's registers restored");
    assert_eq!(m.ebx(), 0x66, "EBX from the caller's TSS image, not 0x77");
    assert_eq!(m.ecx(), 0x99);
    assert_eq!(m.esp(), STACK0_INIT);
    assert!(busy(&m, TSS_SEL));
    assert!(!busy(&m, TSS2_SEL), "IRET clears the nested task's busy bit");
    assert_eq!(m.r32(TSS2 + 0x34), 0x77, "nested task's EBX saved");
    assert_eq!(m.r32(TSS2 + 0x24) & fl::NT, 0, "saved NT cleared by IRET");
    assert!(!m.cpu.flag(fl::NT), "caller's own NT");
}

#[test]
fn iret_with_nt_to_available_tss_is_ts() {
    let mut m = Machine::new();
    setup(&mut m);
    m.w16(TSS, TSS2_SEL); // back link to a task that is not busy
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.pushfd()?;
        a.or(dword_ptr(esp), fl::NT as i32)?;
        a.popfd()?;
        a.set_label(&mut at)?;
        a.iretd()?;
        Ok(vec![at])
    });
    let f = m.expect_err(vec::TS, TSS2_SEL as u32);
    assert_eq!(f.eip, l[0], "fault before the commit point: old task");
    assert_eq!(m.cpu.tr.selector, TSS_SEL);
}

#[test]
fn jmp_through_task_gate_from_ring3() {
    let mut m = Machine::new();
    setup(&mut m);
    transfer(&mut m, false, TASK_GATE | 3);
    m.ring3(CODE);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_eq!(m.cpu.cpl, 0, "the new task runs at its CS's RPL");
    assert_eq!(m.r16(TSS + 0x4C), CODE3, "ring-3 CS saved");
}

#[test]
fn task_gate_dpl_below_cpl_is_gp_gate() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_desc(TASK_GATE, gate_desc(TSS2_SEL, 0, gate::TASK, 0, 0));
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.jmp_far(TASK_GATE | 3, 0)?;
        Ok(vec![at])
    });
    m.ring3(CODE);
    let f = m.expect_gp(TASK_GATE as u32);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn task_gate_not_present_is_np_gate() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_desc(TASK_GATE, not_present(gate_desc(TSS2_SEL, 0, gate::TASK, 3, 0)));
    transfer(&mut m, true, TASK_GATE);
    m.expect_err(vec::NP, TASK_GATE as u32);
}

#[test]
fn jmp_to_tss_with_dpl_below_cpl_is_gp() {
    let mut m = Machine::new();
    setup(&mut m);
    transfer(&mut m, false, TSS2_SEL | 3);
    m.ring3(CODE);
    m.expect_gp(TSS2_SEL as u32);
}

#[test]
fn jmp_to_busy_tss_is_gp() {
    let mut m = Machine::new();
    setup(&mut m);
    transfer(&mut m, false, TSS_SEL);
    m.expect_gp(TSS_SEL as u32);
}

#[test]
fn tss_not_present_is_np() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_desc(TSS2_SEL, not_present(seg_desc(TSS2, 0x67, acc::TSS32, 0)));
    transfer(&mut m, false, TSS2_SEL);
    m.expect_err(vec::NP, TSS2_SEL as u32);
}

#[test]
fn tss_limit_below_0x67_is_ts_in_old_task() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_desc(TSS2_SEL, seg_desc(TSS2, 0x66, acc::TSS32, 0));
    transfer(&mut m, false, TSS2_SEL);
    let f = m.expect_err(vec::TS, TSS2_SEL as u32);
    assert_eq!(f.eip, CODE + 5, "EIP of the JMP");
    assert_eq!(m.cpu.tr.selector, TSS_SEL);
    assert!(!busy(&m, TSS2_SEL));
}

#[test]
fn task_gate_in_idt_for_software_interrupt() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_idt(0x41, gate_desc(TSS2_SEL, 0, gate::TASK, 3, 0));
    m.code(|a| {
        a.int(0x41)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_eq!(m.r16(TSS2), TSS_SEL, "interrupt tasks are nested");
    assert!(m.cpu.flag(fl::NT));
    assert_eq!(m.r32(TSS + 0x20), CODE + 2, "saved EIP after INT");
    assert_eq!(m.esp(), TASK2_ESP, "nothing pushed for INT n");
}

#[test]
fn exception_through_task_gate_pushes_error_code_on_new_stack() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_idt(vec::GP, gate_desc(TSS2_SEL, 0, gate::TASK, 0, 0));
    m.code(|a| {
        a.mov(ax, TSS_SEL as u32)?;
        a.mov(ds, ax)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_eq!(m.esp(), TASK2_ESP - 4);
    assert_eq!(m.stack(0), TSS_SEL as u32, "#GP error code");
    assert_eq!(m.r32(TSS + 0x20), CODE + 4, "saved EIP: the faulting MOV");
    assert_eq!(m.r16(TSS + 0x4C), CODE3);
}

#[test]
fn double_fault_through_task_gate_recovers_from_bad_stack() {
    // The Linux arrangement: #DF is a task gate, so a kernel stack that
    // faults cannot take the machine down.
    let mut m = Machine::new();
    setup(&mut m);
    m.enable_paging();
    tss32(&mut m, TSS3, TASK3, TASK3_ESP);
    m.set_idt(vec::DF, gate_desc(TSS3_SEL, 0, gate::TASK, 0, 0));
    let bad_stack = 0x50_0000;
    m.set_pte(bad_stack - 0x1000, 0);
    m.code(|a| {
        a.mov(esp, bad_stack)?;
        a.ud2()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS3_SEL);
    assert_eq!(m.cpu.eip, TASK3 + 1);
    assert_eq!(m.esp(), TASK3_ESP - 4);
    assert_eq!(m.stack(0), 0, "#DF error code");
    assert_eq!(m.cpu.cr2, bad_stack - 4, "the first push (EFLAGS) faults");
    assert_eq!(m.r16(TSS3), TSS_SEL, "back link to the faulting task");
    assert_eq!(m.r32(TSS + 0x38), bad_stack, "faulting task's ESP saved");
}

#[test]
fn cr3_loaded_from_new_tss_with_paging() {
    let mut m = Machine::new();
    m.enable_paging();
    setup(&mut m);
    // A second address space where linear 0x400000 maps physical 0x600000.
    let pd2 = 0x10_8000;
    let pt2 = 0x10_9000;
    for i in 0..1024 {
        m.w32(pd2 + 4 * i, m.r32(PD + 4 * i));
    }
    for i in 0..1024 {
        m.w32(pt2 + 4 * i, (0x60_0000 + (i << 12)) | 7);
    }
    m.w32(pd2 + 4, pt2 | 7);
    m.w32(TSS2 + 0x1C, pd2);
    m.w32(0x60_0010, 0xBEEF);
    m.w32(0x40_0010, 0xDEAD);
    m.code_at(TASK2, |a| {
        a.mov(ebx, dword_ptr(0x40_0010))?;
        a.hlt()?;
        Ok(vec![])
    });
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.cr3, pd2);
    assert_eq!(m.ebx(), 0xBEEF);
    assert_eq!(m.r32(TSS + 0x1C), 0, "CR3 is not saved in the old TSS");
}

#[test]
fn ldt_loaded_from_new_tss() {
    let mut m = Machine::new();
    setup(&mut m);
    let ldt = DATA + 0x400;
    m.w64(ldt + 8, seg_desc(0x20000, 0xFFFF, acc::DATA0, BYTE32));
    m.set_desc(LDT_SEL, seg_desc(ldt, 0xF, acc::LDT, 0));
    m.w16(TSS2 + 0x60, LDT_SEL);
    m.w16(TSS2 + 0x54, 0x0C); // DS from the LDT
    m.w32(0x20000, 0x4321);
    m.code_at(TASK2, |a| {
        a.mov(ebx, dword_ptr(0))?;
        a.hlt()?;
        Ok(vec![])
    });
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.ldtr.selector, LDT_SEL);
    assert_eq!(m.sel(sreg::DS), 0x0C);
    assert_eq!(m.ebx(), 0x4321);
}

/// Faults after the commit point belong to the new task; route #TS/#SS/#NP
/// through a task gate to task 3 to see them (the SDM's advice).
fn fault_task(m: &mut Machine, v: u8) {
    m.set_idt(v, gate_desc(TSS3_SEL, 0, gate::TASK, 0, 0));
}

#[test]
fn invalid_ldt_in_new_tss_is_ts_in_new_task() {
    let mut m = Machine::new();
    setup(&mut m);
    fault_task(&mut m, vec::TS);
    m.w16(TSS2 + 0x60, DATA0); // not an LDT descriptor
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS3_SEL);
    assert_eq!(m.stack(0), DATA0 as u32, "#TS(LDT selector)");
    assert_eq!(m.r16(TSS3), TSS2_SEL, "the fault happened in task 2");
    assert_eq!(m.r32(TSS2 + 0x20), TASK2, "task 2 had not run yet");
}

#[test]
fn new_cs_not_code_is_ts() {
    let mut m = Machine::new();
    setup(&mut m);
    fault_task(&mut m, vec::TS);
    m.w16(TSS2 + 0x4C, DATA0);
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS3_SEL);
    assert_eq!(m.stack(0), DATA0 as u32);
}

#[test]
fn new_ss_not_present_is_ss() {
    let mut m = Machine::new();
    setup(&mut m);
    fault_task(&mut m, vec::SS);
    m.set_desc(SEL_A, not_present(flat(acc::DATA0)));
    m.w16(TSS2 + 0x50, SEL_A);
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS3_SEL);
    assert_eq!(m.stack(0), SEL_A as u32);
}

#[test]
fn new_ss_with_wrong_rpl_is_ts() {
    let mut m = Machine::new();
    setup(&mut m);
    fault_task(&mut m, vec::TS);
    m.w16(TSS2 + 0x50, DATA3);
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.stack(0), (DATA3 & !3) as u32);
}

#[test]
fn new_ds_more_privileged_than_cpl_is_ts() {
    let mut m = Machine::new();
    setup(&mut m);
    fault_task(&mut m, vec::TS);
    // A ring-3 task whose DS is a DPL-0 segment.
    m.w16(TSS2 + 0x4C, CODE3);
    for off in [0x48, 0x50, 0x58, 0x5C] {
        m.w16(TSS2 + off, DATA3);
    }
    m.w16(TSS2 + 0x54, DATA0);
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS3_SEL);
    assert_eq!(m.stack(0), DATA0 as u32);
}

#[test]
fn new_ds_not_present_is_np() {
    let mut m = Machine::new();
    setup(&mut m);
    fault_task(&mut m, vec::NP);
    m.set_desc(SEL_A, not_present(flat(acc::DATA0)));
    m.w16(TSS2 + 0x5C, SEL_A); // GS
    transfer(&mut m, false, TSS2_SEL);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS3_SEL);
    assert_eq!(m.stack(0), SEL_A as u32);
}

#[test]
fn ring3_task_gets_cpl_from_cs_rpl() {
    let mut m = Machine::new();
    setup(&mut m);
    m.w16(TSS2 + 0x4C, CODE3);
    for off in [0x48, 0x50, 0x54, 0x58, 0x5C] {
        m.w16(TSS2 + off, DATA3);
    }
    transfer(&mut m, false, TSS2_SEL);
    // HLT at CPL 3 faults: the #GP frame proves the ring-3 context.
    let f = m.expect_gp(0);
    assert_eq!(f.cs, CODE3 as u32);
    assert_eq!(f.eip, TASK2);
    assert_eq!(f.esp, TASK2_ESP);
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_eq!(m.esp(), STACK0 - 24, "ring-0 stack of task 2's TSS");
}

#[test]
fn tss16_task_switch() {
    let mut m = Machine::new();
    setup(&mut m);
    let base = TSS4;
    m.write(base, &[0; 0x2C]);
    m.w16(base + 0x0E, 0xE000); // IP
    m.w16(base + 0x10, 0x0002 | fl::CF as u16); // FLAGS
    for r in 0..8u32 {
        m.w16(base + 0x12 + 2 * r, 0x5550 + r as u16);
    }
    m.w16(base + 0x12 + 8, 0xC000); // SP
    for (k, sel) in [DATA0, CODE0, DATA0, DATA0].iter().enumerate() {
        m.w16(base + 0x22 + 2 * k as u32, *sel);
    }
    m.set_desc(SEL_A, seg_desc(base, 0x2B, acc::TSS16, 0));
    m.code_at(0xE000, |a| {
        a.hlt()?;
        Ok(vec![])
    });
    transfer(&mut m, false, SEL_A);
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, SEL_A);
    assert_eq!(m.cpu.eip, 0xE001);
    assert_eq!(m.eax() & 0xFFFF, 0x5550);
    assert_eq!(m.cpu.gpr[reg::EDI] & 0xFFFF, 0x5557);
    assert_eq!(m.esp() & 0xFFFF, 0xC000);
    assert_ne!(m.cpu.eflags() & fl::CF, 0);
    assert_eq!(m.desc(SEL_A) >> 40 & 0xF, 3, "busy 16-bit TSS");
}

#[test]
fn tss16_limit_below_0x2b_is_ts() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_desc(SEL_A, seg_desc(TSS4, 0x2A, acc::TSS16, 0));
    transfer(&mut m, false, SEL_A);
    m.expect_err(vec::TS, SEL_A as u32);
}

#[test]
fn saving_into_16bit_tss_on_call_and_return() {
    // Start in a 16-bit task, CALL a 32-bit task, IRET back.
    let mut m = Machine::new();
    setup(&mut m);
    m.write(TSS4, &[0; 0x2C]);
    m.set_desc(SEL_A, seg_desc(TSS4, 0x2B, acc::TSS16 | 2, 0));
    m.cpu.tr = cpu::segment::Segment::from_descriptor(SEL_A, x86::descriptor::Descriptor::new(m.desc(SEL_A)));
    m.code_at(TASK2, |a| {
        a.iretd()?;
        Ok(vec![])
    });
    m.code_at(0xE000, |a| {
        a.mov(eax, 0x1234u32)?;
        a.call_far(TSS2_SEL, 0)?;
        a.mov(ebx, 0x55u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.cpu.eip = 0xE000;
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, SEL_A);
    assert_eq!(m.eax() & 0xFFFF, 0x1234);
    assert_eq!(m.ebx(), 0x55);
    assert_eq!(m.r16(TSS4 + 0x0E), 0xE00C, "IP saved in the 16-bit layout");
    assert_eq!(m.r16(TSS4 + 0x12), 0x1234, "AX saved");
}

#[test]
fn tss_t_bit_raises_debug_trap_in_new_task() {
    let mut m = Machine::new();
    setup(&mut m);
    m.w16(TSS2 + 0x64, 1);
    m.set_handler(vec::DB, stub(vec::DB), gate::INT32, 0);
    transfer(&mut m, false, TSS2_SEL);
    let f = m.expect_int(vec::DB);
    assert_eq!(f.eip, TASK2, "before the new task's first instruction");
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_ne!(m.cpu.dr[6] & x86::cr::dr6::BT, 0, "DR6.BT");
}

// ---- LTR / LLDT / STR ---------------------------------------------------

#[test]
fn ltr_loads_tr_and_marks_busy() {
    let mut m = Machine::new();
    setup(&mut m);
    m.code(|a| {
        a.mov(ax, TSS2_SEL as u32)?;
        a.ltr(ax)?;
        a.str(ebx)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.cpu.tr.selector, TSS2_SEL);
    assert_eq!(m.cpu.tr.base(), TSS2);
    assert_eq!(m.ebx(), TSS2_SEL as u32);
    assert!(busy(&m, TSS2_SEL));
}

fn ltr(m: &mut Machine, sel: u16) {
    m.code(|a| {
        a.mov(ax, sel as u32)?;
        a.ltr(ax)?;
        a.hlt()?;
        Ok(vec![])
    });
}

#[test]
fn ltr_busy_tss_is_gp() {
    let mut m = Machine::new();
    ltr(&mut m, TSS_SEL);
    m.expect_gp(TSS_SEL as u32);
}

#[test]
fn ltr_null_is_gp0() {
    let mut m = Machine::new();
    ltr(&mut m, 0);
    m.expect_gp(0);
}

#[test]
fn ltr_non_tss_is_gp() {
    let mut m = Machine::new();
    ltr(&mut m, DATA0);
    m.expect_gp(DATA0 as u32);
}

#[test]
fn ltr_not_present_is_np() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(seg_desc(TSS2, 0x67, acc::TSS32, 0)));
    ltr(&mut m, SEL_A);
    m.expect_err(vec::NP, SEL_A as u32);
}

#[test]
fn ltr_at_cpl3_is_gp0() {
    let mut m = Machine::new();
    setup(&mut m);
    ltr(&mut m, TSS2_SEL);
    m.ring3(CODE);
    m.expect_gp(0);
}

#[test]
fn lldt_rules() {
    // Loads an LDT; null makes it unusable; non-LDT is #GP(sel); not
    // present is #NP(sel).
    let ldt = DATA + 0x400;
    let mut m = Machine::new();
    m.set_desc(LDT_SEL, seg_desc(ldt, 0xF, acc::LDT, 0));
    m.code(|a| {
        a.mov(ax, LDT_SEL as u32)?;
        a.lldt(ax)?;
        a.sldt(ebx)?;
        a.xor(eax, eax)?;
        a.lldt(ax)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ebx(), LDT_SEL as u32);
    assert_eq!(m.cpu.ldtr.selector, 0);

    let mut m = Machine::new();
    m.code(|a| {
        a.mov(ax, DATA0 as u32)?;
        a.lldt(ax)?;
        Ok(vec![])
    });
    m.expect_gp(DATA0 as u32);

    let mut m = Machine::new();
    m.set_desc(LDT_SEL, not_present(seg_desc(ldt, 0xF, acc::LDT, 0)));
    m.code(|a| {
        a.mov(ax, LDT_SEL as u32)?;
        a.lldt(ax)?;
        Ok(vec![])
    });
    m.expect_err(vec::NP, LDT_SEL as u32);
}

#[test]
fn call_through_task_gate_from_ring3_and_iret_back() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_gate_dpl(0x80, 3);
    m.code_at(TASK2, |a| {
        a.mov(ebx, 0x99u32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code(|a| {
        a.call_far(TASK_GATE | 3, 0)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(f.cs, CODE3 as u32, "back in ring 3");
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(f.esp, STACK3);
    assert_eq!(m.cpu.tr.selector, TSS_SEL);
    assert_eq!(m.r32(TSS2 + 0x34), 0x99, "task 2 ran");
}

#[test]
fn tss_selector_in_ldt_is_gp() {
    let mut m = Machine::new();
    setup(&mut m);
    let ldt = DATA + 0x400;
    m.w64(ldt, seg_desc(TSS2, 0x67, acc::TSS32, 0));
    m.set_desc(LDT_SEL, seg_desc(ldt, 7, acc::LDT, 0));
    m.code(|a| {
        a.mov(ax, LDT_SEL as u32)?;
        a.lldt(ax)?;
        a.jmp_far(0x04, 0)?;
        Ok(vec![])
    });
    m.expect_gp(0x04);
}

#[test]
fn ltr_with_ldt_selector_is_gp() {
    let mut m = Machine::new();
    ltr(&mut m, 0x0C);
    m.expect_gp(0x0C);
}

#[test]
fn interrupt_task_gate_to_busy_tss_is_gp() {
    // INT n through a task gate naming the running task.
    let mut m = Machine::new();
    setup(&mut m);
    m.set_idt(0x41, gate_desc(TSS_SEL, 0, gate::TASK, 0, 0));
    m.code(|a| {
        a.int(0x41)?;
        Ok(vec![])
    });
    m.expect_gp(TSS_SEL as u32);
}

#[test]
fn exception_task_gate_to_busy_tss_is_gp_with_ext() {
    let mut m = Machine::new();
    setup(&mut m);
    m.set_idt(vec::UD, gate_desc(TSS_SEL, 0, gate::TASK, 0, 0));
    m.code(|a| {
        a.ud2()?;
        Ok(vec![])
    });
    m.expect_gp(TSS_SEL as u32 | 1);
}

#[test]
fn v86_task_calls_a_task_and_is_resumed() {
    // A virtual-8086 task reaches a ring-0 task through an IDT task gate
    // (INT n with IOPL 3); the IRET back restores v86 mode and its
    // segment registers from the TSS.
    let mut m = Machine::new();
    setup(&mut m);
    m.set_idt(0x41, gate_desc(TSS2_SEL, 0, gate::TASK, 3, 0));
    m.set_gate_dpl(0x40, 3);
    m.code_at(TASK2, |a| {
        a.iretd()?;
        Ok(vec![])
    });
    // The v86 task: CS 0x2000, DS 0x4000.
    let v86 = TSS4;
    m.write(v86, &[0; 0x68]);
    m.w32(v86 + 0x04, STACK0);
    m.w32(v86 + 0x08, DATA0 as u32);
    m.w32(v86 + 0x20, 0x100);
    m.w32(v86 + 0x24, fl::VM | fl::IOPL | 2);
    m.w32(v86 + 0x38, 0xFFF0);
    for (k, sel) in [0x4000u16, 0x2000, 0x3000, 0x4000, 0, 0].iter().enumerate() {
        m.w16(v86 + 0x48 + 4 * k as u32, *sel);
    }
    m.set_desc(SEL_A, seg_desc(v86, 0x67, acc::TSS32, 0));
    m.w16(0x4_0010, 0x1357);
    m.code16_at(0x2_0100, 0x100, |a| {
        a.int(0x41)?;
        a.mov(bx, word_ptr(0x10))?;
        a.int(0x40)?;
        Ok(vec![])
    });
    m.code(|a| {
        a.jmp_far(SEL_A, 0)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    assert_eq!(m.ebx() & 0xFFFF, 0x1357, "DS reloaded as a v86 segment");
    assert_eq!(m.stack(1), 0x2000, "interrupted CS");
    assert_ne!(m.stack(2) & fl::VM, 0);
    assert_eq!(m.cpu.tr.selector, SEL_A);
    assert_ne!(m.r32(v86 + 0x24) & fl::VM, 0, "VM saved in the v86 TSS");
}
