//! Segment-register loads and segment-limit/type checks in protected mode.
//!
//! SDM vol. 3: 3.4.2-3.4.5 (selectors, the null selector, descriptors, the
//! accessed bit, LDTs), 3.4.3 (linear address wrap), 5.3-5.6 (limit checking
//! incl. expand-down and the code-segment limit, type checking, null
//! selector checking 5.4.1, privilege checks for data and stack segments);
//! vol. 2: MOV (segment register), POP, LDS/LES/LFS/LGS/LSS, JMP/CALL/RET
//! near "Protected Mode Exceptions".

mod common;

use common::*;
use cpu::state::sreg;
use iced_x86::code_asm::*;

const SEL_A: u16 = FREE; // 0x80

/// Load `sel` into DS (through AX) and halt; returns the address of the
/// MOV.
fn load_ds(m: &mut Machine, sel: u16) -> u32 {
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.mov(ax, sel as u32)?;
        a.set_label(&mut at)?;
        a.mov(ds, ax)?;
        a.hlt()?;
        Ok(vec![at])
    });
    l[0]
}

fn load_ss(m: &mut Machine, sel: u16) -> u32 {
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.mov(ax, sel as u32)?;
        a.set_label(&mut at)?;
        a.mov(ss, ax)?;
        a.hlt()?;
        Ok(vec![at])
    });
    l[0]
}

#[test]
fn null_selector_in_ss_is_gp0() {
    let mut m = Machine::new();
    let at = load_ss(&mut m, 0);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, at, "fault points at the MOV SS");
    assert_eq!(m.sel(sreg::SS), DATA0, "SS unchanged");
}

#[test]
fn null_selector_with_rpl_in_ss_is_gp0() {
    let mut m = Machine::new();
    load_ss(&mut m, 3);
    m.expect_gp(0);
}

#[test]
fn null_selector_loads_into_ds_and_faults_on_use() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut use_ = a.create_label();
        a.mov(ax, 3u32)?;
        a.mov(ds, ax)?;
        a.set_label(&mut use_)?;
        a.mov(eax, dword_ptr(DATA))?;
        a.hlt()?;
        Ok(vec![use_])
    });
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.sel(sreg::DS), 3, "the null selector keeps its RPL bits");
}

#[test]
fn null_fs_gs_faults_on_use() {
    let mut m = Machine::new();
    m.code(|a| {
        a.xor(eax, eax)?;
        a.mov(fs, ax)?;
        a.mov(gs, ax)?;
        a.mov(ebx, dword_ptr(DATA).gs())?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_gp(0);
}

#[test]
fn data_dpl_below_cpl_is_gp_selector() {
    let mut m = Machine::new();
    let at = load_ds(&mut m, DATA0);
    m.ring3(CODE);
    let f = m.expect_gp(DATA0 as u32);
    assert_eq!(f.eip, at);
    assert_eq!(f.cs, CODE3 as u32);
}

#[test]
fn data_rpl_above_dpl_is_gp_selector() {
    let mut m = Machine::new();
    load_ds(&mut m, DATA0 | 3);
    m.expect_gp(DATA0 as u32);
}

#[test]
fn data_dpl3_loads_at_cpl0_with_rpl0() {
    let mut m = Machine::new();
    load_ds(&mut m, DATA3 & !3);
    m.expect_done();
    assert_eq!(m.sel(sreg::DS), DATA3 & !3);
}

#[test]
fn ring1_data_at_cpl1() {
    let mut m = Machine::new();
    load_ds(&mut m, DATA0 | 1);
    m.ring(1, CODE);
    // DPL 0 < CPL 1.
    m.expect_gp(DATA0 as u32);
}

#[test]
fn ss_rpl_must_equal_cpl() {
    let mut m = Machine::new();
    load_ss(&mut m, DATA0 | 3);
    m.expect_gp(DATA0 as u32);
}

#[test]
fn ss_dpl_must_equal_cpl() {
    let mut m = Machine::new();
    load_ss(&mut m, DATA3 & !3);
    m.expect_gp((DATA3 & !3) as u32);
}

#[test]
fn ss_read_only_data_is_gp_selector() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x91));
    load_ss(&mut m, SEL_A);
    m.expect_gp(SEL_A as u32);
}

#[test]
fn ss_code_segment_is_gp_selector() {
    let mut m = Machine::new();
    load_ss(&mut m, CODE0);
    m.expect_gp(CODE0 as u32);
}

#[test]
fn ss_not_present_is_ss_selector() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::DATA0)));
    let at = load_ss(&mut m, SEL_A);
    let f = m.expect_err(vec::SS, SEL_A as u32);
    assert_eq!(f.eip, at);
}

#[test]
fn ds_not_present_is_np_selector() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::DATA0)));
    let at = load_ds(&mut m, SEL_A);
    let f = m.expect_err(vec::NP, SEL_A as u32);
    assert_eq!(f.eip, at);
    assert_eq!(m.sel(sreg::DS), DATA0, "DS unchanged");
}

#[test]
fn privilege_checked_before_present() {
    // A not-present DPL-0 segment loaded at CPL 3: #GP(sel), not #NP.
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(acc::DATA0)));
    load_ds(&mut m, SEL_A | 3);
    m.ring3(CODE);
    m.expect_gp(SEL_A as u32);
}

#[test]
fn selector_beyond_gdt_limit_is_gp_selector() {
    let mut m = Machine::new();
    m.cpu.gdtr.limit = 0x57;
    load_ds(&mut m, 0x58);
    m.expect_gp(0x58);
}

#[test]
fn selector_straddling_gdt_limit_is_gp_selector() {
    // The descriptor's 8 bytes must all lie within the limit.
    let mut m = Machine::new();
    m.cpu.gdtr.limit = 0x5C;
    load_ds(&mut m, 0x58);
    m.expect_gp(0x58);
}

#[test]
fn system_descriptor_in_ds_is_gp_selector() {
    let mut m = Machine::new();
    load_ds(&mut m, TSS_SEL);
    m.expect_gp(TSS_SEL as u32);
}

#[test]
fn execute_only_code_in_ds_is_gp_selector() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x99));
    load_ds(&mut m, SEL_A);
    m.expect_gp(SEL_A as u32);
}

#[test]
fn readable_code_in_ds_reads_but_does_not_write() {
    let mut m = Machine::new();
    m.w32(DATA, 0x1234_5678);
    let l = m.code(|a| {
        let mut wr = a.create_label();
        a.mov(ax, CODE0 as u32)?;
        a.mov(ds, ax)?;
        a.mov(ebx, dword_ptr(DATA))?;
        a.set_label(&mut wr)?;
        a.mov(dword_ptr(DATA), ecx)?;
        a.hlt()?;
        Ok(vec![wr])
    });
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.ebx(), 0x1234_5678);
}

#[test]
fn conforming_code_dpl0_loads_into_ds_at_cpl3() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x9F)); // conforming, readable, DPL 0
    m.w32(DATA, 77);
    m.code(|a| {
        a.mov(ax, (SEL_A | 3) as u32)?;
        a.mov(ds, ax)?;
        a.mov(ebx, dword_ptr(DATA))?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.set_gate_dpl(0x80, 3);
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.ebx(), 77);
}

#[test]
fn nonconforming_code_dpl0_in_ds_at_cpl3_is_gp() {
    let mut m = Machine::new();
    load_ds(&mut m, CODE0 | 3);
    m.ring3(CODE);
    m.expect_gp(CODE0 as u32);
}

#[test]
fn read_only_data_write_is_gp0() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x91));
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.mov(es, ax)?;
        a.mov(eax, dword_ptr(DATA).es())?;
        a.mov(dword_ptr(DATA).es(), eax)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_gp(0);
}

#[test]
fn read_modify_write_on_read_only_data_is_gp0_and_unchanged() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x91));
    m.w32(DATA, 5);
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.mov(es, ax)?;
        a.add(dword_ptr(DATA).es(), 1)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_gp(0);
    assert_eq!(m.r32(DATA), 5);
}

#[test]
fn execute_only_cs_read_is_gp0() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x99));
    let l = m.code(|a| {
        let mut tgt = a.create_label();
        let mut rd = a.create_label();
        a.jmp_far(SEL_A, 0)?; // patched below
        a.set_label(&mut tgt)?;
        a.mov(eax, 1u32)?;
        a.set_label(&mut rd)?;
        a.mov(eax, dword_ptr(DATA).cs())?;
        a.hlt()?;
        Ok(vec![tgt, rd])
    });
    // Patch the far JMP's offset (EA ptr16:32: opcode, offset, selector).
    m.w32(CODE + 1, l[0]);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[1]);
    assert_eq!(f.cs, SEL_A as u32);
    assert_eq!(m.eax(), 1, "execute-only code runs");
}

#[test]
fn write_through_cs_override_is_gp0() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(dword_ptr(DATA).cs(), eax)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_gp(0);
}

#[test]
fn accessed_bit_set_on_load() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x92)); // data, writable, not accessed
    load_ds(&mut m, SEL_A);
    m.expect_done();
    assert_eq!(m.desc(SEL_A), flat(0x93));
}

#[test]
fn accessed_bit_not_set_when_load_faults() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, not_present(flat(0x92)));
    load_ds(&mut m, SEL_A);
    m.expect(vec::NP);
    assert_eq!(m.desc(SEL_A), not_present(flat(0x92)));
}

#[test]
fn expand_up_limit_check() {
    let mut m = Machine::new();
    // Byte-granular limit 0xFFF at base DATA.
    m.set_desc(SEL_A, seg_desc(DATA, 0xFFF, acc::DATA0, BYTE32));
    m.w32(DATA + 0xFFC, 0xAABB_CCDD);
    let l = m.code(|a| {
        let mut bad = a.create_label();
        a.mov(ax, SEL_A as u32)?;
        a.mov(es, ax)?;
        a.mov(ebx, dword_ptr(0xFFC).es())?;
        a.mov(cl, byte_ptr(0xFFF).es())?;
        a.set_label(&mut bad)?;
        a.mov(edx, dword_ptr(0xFFE).es())?;
        a.hlt()?;
        Ok(vec![bad])
    });
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.ebx(), 0xAABB_CCDD);
    assert_eq!(m.ecx() & 0xFF, 0xAA);
}

#[test]
fn page_granular_limit() {
    let mut m = Machine::new();
    // Limit field 0 with G=1: offsets 0..=0xFFF.
    m.set_desc(SEL_A, seg_desc(DATA, 0, acc::DATA0, G32));
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.mov(es, ax)?;
        a.mov(ebx, dword_ptr(0xFFC).es())?;
        a.mov(ebx, dword_ptr(0x1000).es())?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_gp(0);
}

#[test]
fn expand_down_32bit_limit_check() {
    let mut m = Machine::new();
    // Expand-down, B=1: valid offsets limit+1 ..= 0xFFFFFFFF.
    m.set_desc(SEL_A, seg_desc(0, 0xFFF, 0x97, BYTE32));
    m.w32(0x1000, 0x1111_2222);
    let l = m.code(|a| {
        let mut bad = a.create_label();
        a.mov(ax, SEL_A as u32)?;
        a.mov(es, ax)?;
        a.mov(ebx, dword_ptr(0x1000).es())?;
        a.set_label(&mut bad)?;
        a.mov(ecx, dword_ptr(0xFFE).es())?;
        a.hlt()?;
        Ok(vec![bad])
    });
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.ebx(), 0x1111_2222);
}

#[test]
fn expand_down_16bit_upper_bound_is_ffff() {
    let mut m = Machine::new();
    // Expand-down, B=0: valid offsets limit+1 ..= 0xFFFF.
    m.set_desc(SEL_A, seg_desc(0, 0xFFF, 0x97, BYTE16));
    let l = m.code(|a| {
        let mut bad = a.create_label();
        a.mov(ax, SEL_A as u32)?;
        a.mov(es, ax)?;
        a.mov(bx, word_ptr(0xFFFE).es())?;
        a.set_label(&mut bad)?;
        a.mov(bx, word_ptr(0xFFFF).es())?;
        a.hlt()?;
        Ok(vec![bad])
    });
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn ring0_stack_overflow_without_room_for_the_handler_shuts_down() {
    let mut m = Machine::new();
    // A ring-0 expand-down stack with limit 0x8FFF: ESP may not go below
    // 0x9000.
    m.set_desc(SEL_A, seg_desc(0, 0x8FFF, 0x97, BYTE32));
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x9008u32)?;
        a.push(eax)?;
        a.push(eax)?;
        a.push(eax)?;
        a.hlt()?;
        Ok(vec![])
    });
    // #SS(0); its frame does not fit either (#SS again: double fault),
    // and neither does the #DF frame: shutdown.
    assert_eq!(m.run(), cpu::Exit::Shutdown);
    assert_eq!(m.interp.stats.first_vector, Some(vec::SS));
    assert_eq!(m.esp(), 0x9000);
}

#[test]
fn stack_limit_fault_is_ss0_with_frame_on_good_stack() {
    // Ring 3 pushes below its stack segment's limit; the #SS handler runs
    // on the ring-0 stack from the TSS.
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0x7FFF, 0xF7, BYTE32)); // DPL3 expand-down
    let l = m.code(|a| {
        let mut bad = a.create_label();
        a.mov(ax, (SEL_A | 3) as u32)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x8004u32)?;
        a.push(eax)?;
        a.set_label(&mut bad)?;
        a.push(eax)?;
        a.hlt()?;
        Ok(vec![bad])
    });
    m.ring3(CODE);
    let f = m.expect_err(vec::SS, 0);
    assert_eq!(f.eip, l[0]);
    assert_eq!(f.esp, 0x8000, "ESP unchanged by the failed push");
    assert_eq!(f.ss, (SEL_A | 3) as u32);
}

#[test]
fn ebp_based_access_uses_ss_and_raises_ss0() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0xFFFF, acc::DATA3, BYTE32));
    let l = m.code(|a| {
        let mut bad = a.create_label();
        a.mov(ax, (SEL_A | 3) as u32)?;
        a.mov(ss, ax)?;
        a.mov(ebp, 0x10000u32)?;
        a.set_label(&mut bad)?;
        a.mov(eax, dword_ptr(ebp - 2))?;
        a.hlt()?;
        Ok(vec![bad])
    });
    m.ring3(CODE);
    let f = m.expect_err(vec::SS, 0);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn segment_base_applies_to_data_access() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(DATA, 0xFFFF, acc::DATA0, BYTE32));
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.mov(ds, ax)?;
        a.mov(dword_ptr(0x10), 0xCAFEu32)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.r32(DATA + 0x10), 0xCAFE);
    assert_eq!(m.cpu.seg[sreg::DS].base(), DATA);
}

#[test]
fn ldt_selector_loads_from_the_ldt() {
    let mut m = Machine::new();
    // LDT at DATA with one data descriptor (index 1) of base 0x20000.
    let ldt = DATA + 0x100;
    m.w64(ldt + 8, seg_desc(0x20000, 0xFFFF, acc::DATA0, BYTE32));
    m.set_desc(SEL_A, seg_desc(ldt, 0xF, acc::LDT, 0));
    m.w32(0x20004, 0x5A5A);
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.lldt(ax)?;
        a.mov(ax, 0x0Cu32)?; // index 1, TI=1, RPL 0
        a.mov(fs, ax)?;
        a.mov(ebx, dword_ptr(4).fs())?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ebx(), 0x5A5A);
    assert_eq!(m.sel(sreg::FS), 0x0C);
}

#[test]
fn ldt_selector_without_ldt_is_gp_selector() {
    let mut m = Machine::new();
    load_ds(&mut m, 0x0C);
    m.expect_gp(0x0C);
}

#[test]
fn ldt_selector_beyond_ldt_limit_is_gp_selector() {
    let mut m = Machine::new();
    let ldt = DATA + 0x100;
    m.w64(ldt + 8, seg_desc(0x20000, 0xFFFF, acc::DATA0, BYTE32));
    m.set_desc(SEL_A, seg_desc(ldt, 0xF, acc::LDT, 0));
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.lldt(ax)?;
        a.mov(ax, 0x14u32)?; // index 2: beyond the 16-byte LDT
        a.mov(fs, ax)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_gp(0x14);
}

#[test]
fn pop_ss_null_is_gp0_and_esp_unchanged() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push(0)?;
        a.pop(ss)?;
        a.hlt()?;
        Ok(vec![])
    });
    let f = m.expect_gp(0);
    // The frame sits below the pushed zero: ESP before the POP.
    assert_eq!(m.esp() + 12 + 4, STACK0_INIT - 4);
    assert_eq!(f.cs, CODE0 as u32);
}

#[test]
fn lss_loads_ss_and_esp() {
    let mut m = Machine::new();
    m.w32(DATA, 0x1234);
    m.w16(DATA + 4, DATA0);
    m.code(|a| {
        a.lss(esp, fword_ptr(DATA))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.esp(), 0x1234);
}

#[test]
fn lds_with_bad_selector_leaves_register_unchanged() {
    let mut m = Machine::new();
    m.w32(DATA, 0x1234);
    m.w16(DATA + 4, TSS_SEL);
    m.code(|a| {
        a.mov(ebx, 0x7777u32)?;
        a.lds(ebx, fword_ptr(DATA))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_gp(TSS_SEL as u32);
    assert_eq!(m.ebx(), 0x7777);
    assert_eq!(m.sel(sreg::DS), DATA0);
}

#[test]
fn mov_to_cs_is_ud() {
    let mut m = Machine::new();
    m.code(|a| {
        // 8E C8: MOV CS, AX.
        a.db(&[0x8E, 0xC8])?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect(vec::UD);
}

#[test]
fn data_segment_selector_rpl_is_kept() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(ax, (DATA3 & !3) as u32)?;
        a.mov(ds, ax)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.set_gate_dpl(0x80, 3);
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.sel(sreg::DS), DATA3 & !3, "RPL 0 < CPL 3 is allowed");
}

// ---- the code segment limit ------------------------------------------------

/// A ring-0 code segment whose limit ends 0x40 bytes into CODE.
const LIMIT: u32 = CODE + 0x3F;

fn limited_cs(m: &mut Machine) {
    m.set_desc(SEL_A, seg_desc(0, LIMIT, acc::CODE0, BYTE32));
    m.load_seg(sreg::CS, SEL_A);
}

#[test]
fn near_jump_beyond_cs_limit_faults_at_the_jump() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.mov(eax, LIMIT + 1)?;
        a.set_label(&mut at)?;
        a.jmp(eax)?;
        Ok(vec![at])
    });
    limited_cs(&mut m);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn near_call_beyond_cs_limit_faults_without_push() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.mov(eax, LIMIT + 1)?;
        a.set_label(&mut at)?;
        a.call(eax)?;
        Ok(vec![at])
    });
    limited_cs(&mut m);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.esp(), STACK0_INIT - 16, "only the #GP frame was pushed");
}

#[test]
fn near_ret_beyond_cs_limit_faults_at_the_ret() {
    let mut m = Machine::new();
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.push(LIMIT as i32 + 1)?;
        a.set_label(&mut at)?;
        a.ret()?;
        Ok(vec![at])
    });
    limited_cs(&mut m);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, l[0]);
    assert_eq!(m.stack(4), LIMIT + 1, "the return address is still there");
}

#[test]
fn instruction_crossing_cs_limit_faults_at_its_start() {
    let mut m = Machine::new();
    // NOPs up to 2 bytes before the limit, then a 5-byte MOV.
    let start = LIMIT - 1;
    m.write(CODE, &vec![0x90; (start - CODE) as usize]);
    m.write(start, &[0xB8, 1, 2, 3, 4]);
    limited_cs(&mut m);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, start);
}

#[test]
fn execution_up_to_the_last_byte_of_cs_is_fine() {
    let mut m = Machine::new();
    let start = LIMIT - 4;
    m.write(CODE, &vec![0x90; (start - CODE) as usize]);
    m.write(start, &[0xB8, 1, 2, 3, 4]); // ends exactly at the limit
    limited_cs(&mut m);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, LIMIT + 1, "the fault is the fetch after the MOV");
    assert_eq!(m.eax(), 0x0403_0201);
}

#[test]
fn linear_address_wraps_at_4gib() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0xFFFF_F000, 0xFFFFF, acc::DATA0, G32));
    m.w32(DATA, 0x1357_9BDF);
    m.code(|a| {
        a.mov(ax, SEL_A as u32)?;
        a.mov(es, ax)?;
        a.mov(ebx, dword_ptr(DATA + 0x1000).es())?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ebx(), 0x1357_9BDF);
}
