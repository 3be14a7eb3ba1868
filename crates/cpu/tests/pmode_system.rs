//! System instructions in protected mode: the CPL-0 requirement of the
//! privileged instructions (and which system instructions ring 3 may run),
//! CLI/STI/POPF under IOPL, LAR/LSL/VERR/VERW/ARPL results and ZF, LGDT/
//! SGDT/LMSW/SMSW/CLTS, MOV to and from control registers with the CR0 and
//! CR4 rules, RDTSC/RDPMC with CR4.TSD/PCE, RDMSR/WRMSR, CPUID and its
//! agreement with the CR4 bits accepted, SYSENTER/SYSEXIT.
//!
//! SDM vol. 3: 2.5 (control registers, reserved bits), 2.8 (system
//! instruction summary), 5.9 (privileged instructions), 5.10.1-5.10.4
//! (ARPL, LAR, LSL, VERR, VERW), 5.8.7 (SYSENTER/SYSEXIT), 17.17 (TSC and
//! CR4.TSD); vol. 2: LAR, LSL, VERR/VERW, ARPL, MOV CR, RDTSC, RDPMC,
//! CPUID, SYSENTER, SYSEXIT, LMSW, CLTS, POPF, CLI, STI.

mod common;

use common::*;
use cpu::state::{reg, sreg};
use iced_x86::IcedError;
use iced_x86::code_asm::*;
use x86::cr::{cr0, cr4};

const SEL_A: u16 = FREE;

type Insn = fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// Run `insn` at CPL `cpl` and expect #GP(0) pointing at it.
fn gp0_at(cpl: u8, insn: Insn) {
    let mut m = Machine::new();
    let at = m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        insn(a)?;
        a.hlt()?;
        Ok(vec![at])
    })[0];
    m.ring(cpl, CODE);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, at);
}

macro_rules! privileged {
    ($($name:ident: $insn:expr;)*) => {$(
        #[test]
        fn $name() {
            gp0_at(3, $insn);
        }
    )*};
}

privileged! {
    hlt_at_cpl3_is_gp0: |a| a.hlt();
    lgdt_at_cpl3_is_gp0: |a| a.lgdt(fword_ptr(DATA));
    lidt_at_cpl3_is_gp0: |a| a.lidt(fword_ptr(DATA));
    lldt_at_cpl3_is_gp0: |a| a.lldt(ax);
    ltr_at_cpl3_is_gp0: |a| a.ltr(ax);
    mov_from_cr0_at_cpl3_is_gp0: |a| a.mov(eax, cr0);
    mov_to_cr3_at_cpl3_is_gp0: |a| a.mov(cr3, eax);
    mov_from_dr7_at_cpl3_is_gp0: |a| a.mov(eax, dr7);
    clts_at_cpl3_is_gp0: |a| a.clts();
    lmsw_at_cpl3_is_gp0: |a| a.lmsw(ax);
    invlpg_at_cpl3_is_gp0: |a| a.invlpg(byte_ptr(DATA));
    invd_at_cpl3_is_gp0: |a| a.invd();
    wbinvd_at_cpl3_is_gp0: |a| a.wbinvd();
    rdmsr_at_cpl3_is_gp0: |a| a.rdmsr();
    wrmsr_at_cpl3_is_gp0: |a| a.wrmsr();
    cli_at_cpl3_with_iopl0_is_gp0: |a| a.cli();
    sti_at_cpl3_with_iopl0_is_gp0: |a| a.sti();
    rdpmc_at_cpl3_without_pce_is_gp0: |a| a.rdpmc();
    sysexit_at_cpl3_is_gp0: |a| a.sysexit();
}

#[test]
fn hlt_at_cpl1_is_gp0() {
    gp0_at(1, |a| a.hlt());
}

#[test]
fn mov_cr_at_cpl2_is_gp0() {
    gp0_at(2, |a| a.mov(cr0, eax));
}

#[test]
fn unprivileged_system_instructions_run_at_cpl3() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.rdtsc()?;
        a.xor(eax, eax)?;
        a.cpuid()?;
        a.sgdt(fword_ptr(DATA))?;
        a.sidt(fword_ptr(DATA + 8))?;
        a.smsw(bx)?;
        a.str(cx)?;
        a.sldt(dx)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.r16(DATA) as u32, GDT_LIMIT);
    assert_eq!(m.r32(DATA + 2), GDT);
    assert_eq!(m.r16(DATA + 8) as u32, IDT_LIMIT);
    assert_eq!(m.r32(DATA + 10), IDT);
    assert_eq!(m.ebx() & 0xFFFF, m.cpu.cr0 & 0xFFFF);
    assert_eq!(m.ecx() & 0xFFFF, TSS_SEL as u32);
    assert_eq!(m.edx() & 0xFFFF, 0);
}

#[test]
fn cli_sti_at_cpl3_with_iopl3() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.set_iopl(3);
    m.code(|a| {
        a.sti()?;
        a.cli()?;
        a.pushfd()?;
        a.sti()?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(m.r32(STACK3 - 4) & fl::IF, 0, "CLI cleared IF");
    assert_ne!(f.eflags & fl::IF, 0, "STI set it");
}

#[test]
fn popf_at_cpl3_silently_keeps_if_and_iopl() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.push((fl::IF | fl::IOPL | fl::CF | fl::FIXED1) as i32)?;
        a.popfd()?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(f.eflags & (fl::IF | fl::IOPL), 0);
    assert_ne!(f.eflags & fl::CF, 0);
}

#[test]
fn popf_at_cpl1_with_iopl1_changes_if_only() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.set_iopl(1);
    m.code(|a| {
        a.push((fl::IF | fl::IOPL | fl::FIXED1) as i32)?;
        a.popfd()?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring(1, CODE);
    let f = m.expect_int(0x80);
    assert_ne!(f.eflags & fl::IF, 0);
    assert_eq!(f.eflags & fl::IOPL, 1 << fl::IOPL_SHIFT);
}

#[test]
fn popf_at_cpl0_changes_iopl_but_not_vm() {
    let mut m = Machine::new();
    m.code(|a| {
        a.push((fl::VM | fl::IOPL | fl::FIXED1) as i32)?;
        a.popfd()?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.cpu.iopl(), 3);
    assert!(!m.cpu.v86_mode());
}

// ---- LAR / LSL / VERR / VERW / ARPL ------------------------------------

/// Run `insn` with BX = `sel` at CPL `cpl`, EAX preset to a marker;
/// returns (EAX, ZF).
fn query(m: &mut Machine, cpl: u8, sel: u16, insn: Insn) -> (u32, bool) {
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.mov(eax, 0xEEEE_EEEEu32)?;
        a.mov(ebx, sel as u32)?;
        insn(a)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring(cpl, CODE);
    let f = m.expect_int(0x80);
    (m.eax(), f.eflags & fl::ZF != 0)
}

fn lar(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.lar(eax, ebx)
}
fn lsl(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.lsl(eax, ebx)
}
fn verr(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.verr(bx)
}
fn verw(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.verw(bx)
}

#[test]
fn lar_of_visible_data_segment() {
    let mut m = Machine::new();
    assert_eq!(query(&mut m, 3, DATA3, lar), (0x00CF_F300, true));
}

#[test]
fn lar_of_more_privileged_segment_fails_and_keeps_dest() {
    let mut m = Machine::new();
    assert_eq!(query(&mut m, 3, DATA0 | 3, lar), (0xEEEE_EEEE, false));
}

#[test]
fn lar_rpl_above_dpl_fails() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0xB3)); // DPL 1
    assert_eq!(query(&mut m, 1, SEL_A | 2, lar), (0xEEEE_EEEE, false));
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0xB3));
    assert!(query(&mut m, 1, SEL_A | 1, lar).1);
}

#[test]
fn lar_of_conforming_code_ignores_dpl() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, flat(0x9F));
    assert_eq!(query(&mut m, 3, SEL_A | 3, lar), (0x00CF_9F00, true));
}

#[test]
fn lar_of_null_selector_fails() {
    let mut m = Machine::new();
    assert!(!query(&mut m, 0, 0, lar).1);
}

#[test]
fn lar_beyond_gdt_limit_fails() {
    let mut m = Machine::new();
    m.cpu.gdtr.limit = 0x57;
    assert!(!query(&mut m, 0, 0x58, lar).1);
}

#[test]
fn lar_system_descriptor_types() {
    // Valid for LAR: TSSs, LDT, call and task gates; not interrupt or
    // trap gates.
    let cases = [
        (seg_desc(TSS2, 0x67, acc::TSS32, 0), true),
        (seg_desc(TSS2, 0x67, acc::TSS32_BUSY, 0), true),
        (seg_desc(TSS2, 0x2B, acc::TSS16, 0), true),
        (seg_desc(DATA, 0xF, acc::LDT, 0), true),
        (gate_desc(CODE0, 0, gate::CALL32, 0, 0), true),
        (gate_desc(CODE0, 0, gate::CALL16, 0, 0), true),
        (gate_desc(TSS_SEL, 0, gate::TASK, 0, 0), true),
        (gate_desc(CODE0, 0, gate::INT32, 0, 0), false),
        (gate_desc(CODE0, 0, gate::TRAP32, 0, 0), false),
        (0x0000_8000_0000_0000, false), // system type 0
    ];
    for (k, (d, ok)) in cases.into_iter().enumerate() {
        let mut m = Machine::new();
        m.set_desc(SEL_A, d);
        let (v, zf) = query(&mut m, 0, SEL_A, lar);
        assert_eq!(zf, ok, "case {k}");
        if ok {
            assert_eq!(v, (d >> 32) as u32 & 0x00FF_FF00, "case {k}");
        }
    }
}

#[test]
fn lsl_returns_byte_granular_limit() {
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0x1234, acc::DATA0, BYTE32));
    assert_eq!(query(&mut m, 0, SEL_A, lsl), (0x1234, true));
    let mut m = Machine::new();
    m.set_desc(SEL_A, seg_desc(0, 0x1, acc::DATA0, G32));
    assert_eq!(query(&mut m, 0, SEL_A, lsl), (0x1FFF, true));
    let mut m = Machine::new();
    assert_eq!(query(&mut m, 0, DATA0, lsl), (0xFFFF_FFFF, true));
}

#[test]
fn lsl_of_tss_but_not_of_gates() {
    let mut m = Machine::new();
    assert_eq!(query(&mut m, 0, TSS_SEL, lsl), (TSS_LIMIT, true));
    let mut m = Machine::new();
    m.set_desc(SEL_A, gate_desc(CODE0, 0, gate::CALL32, 0, 0));
    assert_eq!(query(&mut m, 0, SEL_A, lsl), (0xEEEE_EEEE, false));
}

#[test]
fn lsl_privilege_check() {
    let mut m = Machine::new();
    assert!(!query(&mut m, 3, TSS_SEL | 3, lsl).1);
}

#[test]
fn verr_rules() {
    let cases = [
        (flat(acc::DATA3), 3, true),
        (flat(0xF1), 3, true),        // read-only data
        (flat(0xFB), 3, true),        // readable code
        (flat(0xF9), 3, false),       // execute-only code
        (flat(acc::DATA0), 3, false), // DPL 0 at CPL 3
        (flat(0x9F), 3, true),        // conforming readable, DPL 0
        (flat(0x9D), 3, false),       // conforming execute-only
        (seg_desc(TSS2, 0x67, acc::TSS32 | 0x60, 0), 3, false),
    ];
    for (k, (d, cpl, ok)) in cases.into_iter().enumerate() {
        let mut m = Machine::new();
        m.set_desc(SEL_A, d);
        assert_eq!(query(&mut m, cpl, SEL_A | 3, verr).1, ok, "case {k}");
    }
}

#[test]
fn verw_rules() {
    let cases = [
        (flat(acc::DATA3), true),
        (flat(0xF1), false), // read-only data
        (flat(0xFB), false), // code
        (flat(acc::DATA0), false),
        (flat(0xF7), true), // expand-down writable
    ];
    for (k, (d, ok)) in cases.into_iter().enumerate() {
        let mut m = Machine::new();
        m.set_desc(SEL_A, d);
        assert_eq!(query(&mut m, 3, SEL_A | 3, verw).1, ok, "case {k}");
    }
}

#[test]
fn verr_of_null_selector_clears_zf() {
    let mut m = Machine::new();
    assert!(!query(&mut m, 3, 0, verr).1);
}

#[test]
fn arpl_raises_rpl() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.mov(eax, 0x0010u32)?;
        a.mov(ecx, 0x0003u32)?;
        a.arpl(ax, cx)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(m.eax(), 0x13);
    assert_ne!(f.eflags & fl::ZF, 0);
}

#[test]
fn arpl_leaves_higher_rpl() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.w16(DATA, 0x0023);
    m.code(|a| {
        a.mov(ecx, 0x0001u32)?;
        a.arpl(word_ptr(DATA), cx)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(m.r16(DATA), 0x23);
    assert_eq!(f.eflags & fl::ZF, 0);
}

// ---- descriptor-table and control registers -----------------------------

#[test]
fn lgdt_lidt_load_and_sgdt_stores() {
    let mut m = Machine::new();
    m.w16(DATA, 0x3FF);
    m.w32(DATA + 2, 0x0012_3000);
    m.code(|a| {
        a.lidt(fword_ptr(DATA))?;
        a.sidt(fword_ptr(DATA + 0x10))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!((m.cpu.idtr.base, m.cpu.idtr.limit), (0x0012_3000, 0x3FF));
    assert_eq!(m.read(DATA + 0x10, 6), m.read(DATA, 6));
}

#[test]
fn lgdt_with_16bit_operand_loads_24_bit_base() {
    let mut m = Machine::new();
    m.w16(DATA, GDT_LIMIT as u16);
    m.w32(DATA + 2, 0xAB00_0000 | GDT);
    m.code(|a| {
        a.db(&[0x66])?; // o16
        a.lgdt(fword_ptr(DATA))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.cpu.gdtr.base, GDT);
}

#[test]
fn lmsw_sets_low_bits_but_cannot_clear_pe() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(eax, cr0::MP | cr0::TS)?; // PE clear
        a.lmsw(ax)?;
        a.smsw(ebx)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert!(m.cpu.protected_mode(), "LMSW cannot leave protected mode");
    assert_eq!(m.cpu.cr0 & (cr0::MP | cr0::TS), cr0::MP | cr0::TS);
    assert_eq!(m.ebx() & 0xF, cr0::PE | cr0::MP | cr0::TS);
}

#[test]
fn clts_clears_ts() {
    let mut m = Machine::new();
    m.cpu.cr0 |= cr0::TS;
    m.code(|a| {
        a.clts()?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.cpu.cr0 & cr0::TS, 0);
}

/// `MOV CR0/CR4, EAX` with EAX = `v`; returns the exit vector.
fn mov_cr(m: &mut Machine, four: bool, v: u32) {
    m.code(|a| {
        a.mov(eax, v)?;
        if four {
            a.mov(cr4, eax)?;
        } else {
            a.mov(cr0, eax)?;
        }
        a.hlt()?;
        Ok(vec![])
    });
}

#[test]
fn cr0_pg_without_pe_is_gp0() {
    let mut m = Machine::new();
    mov_cr(&mut m, false, cr0::PG | cr0::ET);
    m.expect_gp(0);
    assert!(m.cpu.protected_mode());
}

#[test]
fn cr0_nw_without_cd_is_gp0() {
    let mut m = Machine::new();
    mov_cr(&mut m, false, cr0::PE | cr0::NW);
    m.expect_gp(0);
}

#[test]
fn cr0_et_is_hardwired() {
    let mut m = Machine::new();
    mov_cr(&mut m, false, cr0::PE);
    m.expect_done();
    assert_eq!(m.cpu.cr0, cr0::PE | cr0::ET);
}

#[test]
fn cr4_reserved_bit_is_gp0() {
    let mut m = Machine::new();
    mov_cr(&mut m, true, 1 << 11);
    m.expect_gp(0);
}

#[test]
fn cr4_accepts_exactly_what_cpuid_advertises() {
    // CPUID.1:EDX bits and the CR4 bits they enable.
    let (_, _, _, features) = cpu::cpuid::cpuid(1, 0);
    let pairs = [
        (1, cr4::VME | cr4::PVI),
        (2, cr4::DE),
        (3, cr4::PSE),
        (4, cr4::TSD),
        (6, cr4::PAE),
        (7, cr4::MCE),
        (13, cr4::PGE),
    ];
    for (bit, cr4_bits) in pairs {
        let advertised = features & (1 << bit) != 0;
        for b in 0..32 {
            let v = 1u32 << b;
            if cr4_bits & v == 0 {
                continue;
            }
            let mut m = Machine::new();
            mov_cr(&mut m, true, v);
            let e = m.run();
            assert_eq!(e, cpu::Exit::Halted);
            let faulted = m.vector() == Some(vec::GP);
            assert_eq!(faulted, !advertised, "CR4 bit {b} vs CPUID.1:EDX[{bit}]");
        }
    }
}

#[test]
fn cr3_keeps_only_base_pcd_pwt() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(eax, 0x0012_3FFFu32)?;
        a.mov(cr3, eax)?;
        a.mov(ebx, cr3)?;
        a.mov(cr2, eax)?;
        a.mov(ecx, cr2)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ebx(), 0x0012_3018);
    assert_eq!(m.ecx(), 0x0012_3FFF);
}

#[test]
fn mov_to_cr1_is_ud() {
    let mut m = Machine::new();
    m.code(|a| {
        a.db(&[0x0F, 0x22, 0xC8])?; // MOV CR1, EAX
        Ok(vec![])
    });
    m.expect(vec::UD);
}

#[test]
fn mov_from_cr5_is_ud() {
    let mut m = Machine::new();
    m.code(|a| {
        a.db(&[0x0F, 0x20, 0xE8])?; // MOV EAX, CR5
        Ok(vec![])
    });
    m.expect(vec::UD);
}

// ---- time stamp counter, performance counters, MSRs ---------------------

#[test]
fn rdtsc_at_cpl3_unless_tsd() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.rdtsc()?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_ne!(m.eax() as u64 | (m.edx() as u64) << 32, 0);

    let mut m = Machine::new();
    m.cpu.cr4 |= cr4::TSD;
    m.code(|a| {
        a.rdtsc()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(0);
}

#[test]
fn rdtsc_at_cpl0_with_tsd() {
    let mut m = Machine::new();
    m.cpu.cr4 |= cr4::TSD;
    m.code(|a| {
        a.rdtsc()?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
}

#[test]
fn rdpmc_with_pce_at_cpl3() {
    let mut m = Machine::new();
    m.cpu.cr4 |= cr4::PCE;
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.xor(ecx, ecx)?;
        a.rdpmc()?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);

    let mut m = Machine::new();
    m.code(|a| {
        a.mov(ecx, 2u32)?;
        a.rdpmc()?;
        Ok(vec![])
    });
    m.expect_gp(0);
}

#[test]
fn wrmsr_rdmsr_round_trip_and_unknown_msr() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(ecx, 0x175u32)?; // IA32_SYSENTER_ESP
        a.mov(eax, 0x1234_5678u32)?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.xor(eax, eax)?;
        a.rdmsr()?;
        a.mov(ebx, eax)?;
        a.mov(ecx, 0x1234u32)?; // no such MSR
        a.rdmsr()?;
        Ok(vec![])
    });
    m.expect_gp(0);
    assert_eq!(m.ebx(), 0x1234_5678);
    assert_eq!(m.cpu.msr.sysenter_esp, 0x1234_5678);
}

#[test]
fn cpuid_identifies_the_model() {
    let mut m = Machine::new();
    m.code(|a| {
        a.xor(eax, eax)?;
        a.cpuid()?;
        a.mov(dword_ptr(DATA), ebx)?;
        a.mov(dword_ptr(DATA + 4), edx)?;
        a.mov(dword_ptr(DATA + 8), ecx)?;
        a.mov(esi, eax)?;
        a.mov(eax, 1u32)?;
        a.cpuid()?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(&m.read(DATA, 12), b"GenuineIntel");
    assert!(m.cpu.gpr[reg::ESI] >= 1);
    assert_eq!((m.eax() >> 8) & 0xF, 6, "family 6");
    let features = m.edx();
    for (bit, what) in [
        (0, "FPU"),
        (4, "TSC"),
        (5, "MSR"),
        (8, "CX8"),
        (11, "SEP"),
        (13, "PGE"),
        (15, "CMOV"),
    ] {
        assert_ne!(features & (1 << bit), 0, "{what}");
    }
}

// ---- SYSENTER / SYSEXIT ---------------------------------------------------

#[test]
fn sysenter_enters_ring0_flat() {
    let mut m = Machine::new();
    m.cpu.msr.sysenter_cs = CODE0 as u32;
    m.cpu.msr.sysenter_esp = 0x9400;
    m.cpu.msr.sysenter_eip = CODE + 0x100;
    m.code_at(CODE + 0x100, |a| {
        a.hlt()?;
        Ok(vec![])
    });
    m.code(|a| {
        a.sysenter()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.set_iopl(0);
    m.set_flag(fl::IF, true);
    m.expect_done();
    assert_eq!(m.cpu.cpl, 0);
    assert_eq!(m.sel(sreg::CS), CODE0);
    assert_eq!(m.sel(sreg::SS), DATA0);
    assert_eq!(m.esp(), 0x9400);
    assert_eq!(m.cpu.eip, CODE + 0x101);
    assert!(!m.cpu.flag(fl::IF), "SYSENTER clears IF");
}

#[test]
fn sysenter_with_null_cs_msr_is_gp0() {
    let mut m = Machine::new();
    m.code(|a| {
        a.sysenter()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(0);
}

#[test]
fn sysexit_returns_to_ring3() {
    let mut m = Machine::new();
    m.cpu.msr.sysenter_cs = CODE0 as u32;
    m.set_gate_dpl(0x80, 3);
    m.code_at(CODE + 0x100, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    m.code(|a| {
        a.mov(ecx, 0xBE00u32)?;
        a.mov(edx, CODE + 0x100)?;
        a.sysexit()?;
        Ok(vec![])
    });
    let f = m.expect_int(0x80);
    assert_eq!(f.cs, CODE3 as u32, "SYSENTER_CS + 16, RPL 3");
    assert_eq!(f.ss, DATA3 as u32, "SYSENTER_CS + 24, RPL 3");
    assert_eq!(f.esp, 0xBE00);
    assert_eq!(f.eip, CODE + 0x102);
}

#[test]
fn sysenter_sysexit_round_trip_keeps_segment_caches_flat() {
    let mut m = Machine::new();
    m.cpu.msr.sysenter_cs = CODE0 as u32;
    m.cpu.msr.sysenter_esp = 0x9400;
    m.cpu.msr.sysenter_eip = CODE + 0x100;
    m.set_gate_dpl(0x80, 3);
    m.code_at(CODE + 0x100, |a| {
        a.mov(ebx, dword_ptr(esp))?;
        a.sysexit()?;
        Ok(vec![])
    });
    m.code(|a| {
        a.mov(ecx, esp)?;
        a.mov(edx, CODE + 0x20)?;
        a.sysenter()?;
        Ok(vec![])
    });
    m.code_at(CODE + 0x20, |a| {
        a.int(0x80)?;
        Ok(vec![])
    });
    m.w32(0x9400, 0x4242);
    m.ring3(CODE);
    let f = m.expect_int(0x80);
    assert_eq!(m.ebx(), 0x4242);
    assert_eq!(f.esp, STACK3);
    assert_eq!(f.ss, DATA3 as u32);
}
