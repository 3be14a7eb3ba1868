//! 32-bit paging: page-fault conditions and error codes (P, W/R, U/S,
//! RSVD), CR2, accessed and dirty bits, CR0.WP, 4 MiB pages with CR4.PSE,
//! global pages with CR4.PGE, TLB invalidation by MOV CR3 and INVLPG,
//! implicit supervisor accesses, instruction fetches and accesses that
//! cross a page boundary, and self-modifying code through an alias mapping.
//!
//! SDM vol. 3: 4.3 (32-bit paging, tables 4-4..4-6, 4 MiB pages), 4.6
//! (access rights, CR0.WP, implicit supervisor-mode accesses), 4.7
//! (page-fault exceptions, error code), 4.8 (accessed and dirty flags),
//! 4.10.2-4.10.4 (TLBs, global pages, INVLPG, MOV to CR3), 8.1.3 and 11.6
//! (self-modifying and cross-modifying code).

mod common;

use common::*;
use iced_x86::code_asm::*;
use x86::cr::{cr0, cr4};

/// A page of the second page table, free for tests.
const PAGE: u32 = 0x40_0000;
const PAGE2: u32 = 0x40_1000;

const P: u32 = 1;
const RW: u32 = 2;
const US: u32 = 4;
const A: u32 = 0x20;
const D: u32 = 0x40;
const PS: u32 = 0x80;
const G: u32 = 0x100;

fn paged() -> Machine {
    let mut m = Machine::new();
    m.enable_paging();
    m
}

/// One instruction at CODE (after `setup`), then HLT; returns its address.
fn one(m: &mut Machine, f: impl FnOnce(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>) -> u32 {
    m.code(|a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        f(a)?;
        a.hlt()?;
        Ok(vec![at])
    })[0]
}

#[test]
fn not_present_read() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    let at = one(&mut m, |a| a.mov(eax, dword_ptr(PAGE + 0x10)));
    let f = m.expect_err(vec::PF, 0);
    assert_eq!(f.eip, at);
    assert_eq!(m.cpu.cr2, PAGE + 0x10);
}

#[test]
fn not_present_write() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    one(&mut m, |a| a.mov(dword_ptr(PAGE + 0x20), eax));
    m.expect_err(vec::PF, 2);
    assert_eq!(m.cpu.cr2, PAGE + 0x20);
}

#[test]
fn not_present_pde() {
    let mut m = paged();
    m.set_pde(PAGE, 0);
    one(&mut m, |a| a.mov(dword_ptr(PAGE + 4), eax));
    m.expect_err(vec::PF, 2);
}

#[test]
fn user_read_of_supervisor_page() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | RW);
    one(&mut m, |a| a.mov(eax, dword_ptr(PAGE)));
    m.ring3(CODE);
    let f = m.expect_err(vec::PF, 5);
    assert_eq!(f.cs, CODE3 as u32);
}

#[test]
fn user_write_to_read_only_page() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | US);
    m.code(|a| {
        a.mov(eax, dword_ptr(PAGE))?; // reading is fine
        a.mov(dword_ptr(PAGE), eax)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_err(vec::PF, 7);
}

#[test]
fn supervisor_write_to_read_only_page_without_wp() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | US);
    one(&mut m, |a| a.mov(dword_ptr(PAGE), 0x1234u32));
    m.expect_done();
    assert_eq!(m.r32(PAGE), 0x1234);
}

#[test]
fn supervisor_write_to_read_only_page_with_wp() {
    let mut m = paged();
    m.cpu.cr0 |= cr0::WP;
    m.set_pte(PAGE, PAGE | P);
    one(&mut m, |a| a.mov(dword_ptr(PAGE), 0x1234u32));
    m.expect_err(vec::PF, 3);
    assert_eq!(m.r32(PAGE), 0);
}

#[test]
fn pde_user_bit_restricts_user_access() {
    let mut m = paged();
    m.set_pde(PAGE, PT1 | P | RW);
    one(&mut m, |a| a.mov(eax, dword_ptr(PAGE)));
    m.ring3(CODE);
    m.expect_err(vec::PF, 5);
}

#[test]
fn pde_rw_bit_restricts_user_write() {
    let mut m = paged();
    m.set_pde(PAGE, PT1 | P | US);
    one(&mut m, |a| a.mov(dword_ptr(PAGE), eax));
    m.ring3(CODE);
    m.expect_err(vec::PF, 7);
}

#[test]
fn supervisor_reads_user_pages() {
    let mut m = paged();
    m.w32(PAGE, 99);
    one(&mut m, |a| a.mov(ebx, dword_ptr(PAGE)));
    m.expect_done();
    assert_eq!(m.ebx(), 99);
}

#[test]
fn user_access_after_supervisor_access_is_still_checked() {
    // The supervisor's translation must not serve a user access.
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | RW);
    m.code(|a| {
        a.mov(eax, dword_ptr(PAGE))?;
        a.mov(ebx, DATA3 as u32)?;
        a.mov(ds, bx)?; // a DPL-3 DS survives the IRET to ring 3
        a.push(DATA3 as i32)?;
        a.push(STACK3 as i32)?;
        a.push(2)?;
        a.push(CODE3 as i32)?;
        a.push((CODE + 0x100) as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code_at(CODE + 0x100, |a| {
        a.mov(eax, dword_ptr(PAGE))?;
        Ok(vec![])
    });
    let f = m.expect_err(vec::PF, 5);
    assert_eq!(f.eip, CODE + 0x100);
}

#[test]
fn user_write_after_supervisor_write_is_still_checked() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | US); // read-only for the user
    m.code(|a| {
        a.mov(dword_ptr(PAGE), eax)?; // supervisor, WP=0: allowed
        a.mov(ebx, DATA3 as u32)?;
        a.mov(ds, bx)?; // a DPL-3 DS survives the IRET to ring 3
        a.push(DATA3 as i32)?;
        a.push(STACK3 as i32)?;
        a.push(2)?;
        a.push(CODE3 as i32)?;
        a.push((CODE + 0x100) as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    m.code_at(CODE + 0x100, |a| {
        a.mov(dword_ptr(PAGE), eax)?;
        Ok(vec![])
    });
    m.expect_err(vec::PF, 7);
}

#[test]
fn read_sets_accessed_not_dirty() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | RW | US);
    m.set_pde(PAGE, PT1 | P | RW | US);
    one(&mut m, |a| a.mov(eax, dword_ptr(PAGE)));
    m.expect_done();
    assert_eq!(m.pte(PAGE), PAGE | P | RW | US | A);
    assert_eq!(m.pde(PAGE) & A, A, "the PDE is marked accessed too");
    assert_eq!(m.pde(PAGE) & D, 0);
}

#[test]
fn write_sets_dirty() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | RW | US);
    one(&mut m, |a| a.mov(dword_ptr(PAGE), eax));
    m.expect_done();
    assert_eq!(m.pte(PAGE), PAGE | P | RW | US | A | D);
}

#[test]
fn write_after_read_sets_dirty() {
    // The translation cached by the read has D clear: the write must
    // still set it.
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | RW | US);
    m.code(|a| {
        a.mov(eax, dword_ptr(PAGE))?;
        a.mov(ebx, dword_ptr(PAGE2 - 4))?;
        a.mov(dword_ptr(PAGE + 8), eax)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.pte(PAGE) & D, D);
}

#[test]
fn faulting_write_sets_no_dirty_bit() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | US);
    one(&mut m, |a| a.mov(dword_ptr(PAGE), eax));
    m.ring3(CODE);
    m.expect(vec::PF);
    assert_eq!(m.pte(PAGE) & D, 0);
}

#[test]
fn large_page_with_pse() {
    let mut m = paged();
    m.cpu.cr4 |= cr4::PSE;
    let lin = 0x80_0000;
    m.w32(PD + 4 * 2, 0x40_0000 | PS | P | RW | US);
    m.w32(0x40_0010, 0xABCD);
    m.code(|a| {
        a.mov(ebx, dword_ptr(lin + 0x10))?;
        a.mov(dword_ptr(lin + 0x3F_F000), ebx)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ebx(), 0xABCD);
    assert_eq!(m.r32(0x7F_F000), 0xABCD);
    assert_eq!(m.r32(PD + 8) & (A | D), A | D);
}

#[test]
fn ps_bit_ignored_without_pse() {
    let mut m = paged();
    let lin = 0x80_0000;
    // Without CR4.PSE the PDE points to a page table at 0x400000.
    m.w32(PD + 4 * 2, 0x40_0000 | PS | P | RW | US);
    m.w32(0x40_0000, 0x60_0000 | P | RW | US);
    m.w32(0x60_0010, 0x7777);
    one(&mut m, |a| a.mov(ebx, dword_ptr(lin + 0x10)));
    m.expect_done();
    assert_eq!(m.ebx(), 0x7777);
}

#[test]
fn large_page_reserved_bits_fault_with_rsvd() {
    let mut m = paged();
    m.cpu.cr4 |= cr4::PSE;
    let lin = 0x80_0000;
    m.w32(PD + 4 * 2, 0x40_0000 | (1 << 13) | PS | P | RW | US);
    one(&mut m, |a| a.mov(dword_ptr(lin), eax));
    m.expect_err(vec::PF, 8 | 2 | 1);
    assert_eq!(m.cpu.cr2, lin);
}

#[test]
fn large_page_supervisor_only() {
    let mut m = paged();
    m.cpu.cr4 |= cr4::PSE;
    let lin = 0x80_0000;
    m.w32(PD + 4 * 2, 0x40_0000 | PS | P | RW);
    one(&mut m, |a| a.mov(eax, dword_ptr(lin)));
    m.ring3(CODE);
    m.expect_err(vec::PF, 5);
}

/// Map PAGE to `phys` (with `extra` bits), read it, remap it to
/// 0x500000, run `flush`, read again; returns (first, second) values.
fn remap(m: &mut Machine, extra: u32, flush: impl FnOnce(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>) -> (u32, u32) {
    m.w32(0x30_0000, 0x1111);
    m.w32(0x50_0000, 0x2222);
    m.set_pte(PAGE, 0x30_0000 | P | RW | US | extra);
    let pte = Machine::pte_addr(PAGE);
    m.code(|a| {
        a.mov(ebx, dword_ptr(PAGE))?;
        a.mov(dword_ptr(pte), (0x50_0000 | P | RW | US | extra) as i32)?;
        flush(a)?;
        a.mov(ecx, dword_ptr(PAGE))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    (m.ebx(), m.ecx())
}

#[test]
fn mov_cr3_flushes_non_global_translations() {
    let mut m = paged();
    let got = remap(&mut m, 0, |a| {
        a.mov(eax, cr3)?;
        a.mov(cr3, eax)
    });
    assert_eq!(got, (0x1111, 0x2222));
}

#[test]
fn global_translation_survives_mov_cr3_with_pge() {
    let mut m = paged();
    m.cpu.cr4 |= cr4::PGE;
    let got = remap(&mut m, G, |a| {
        a.mov(eax, cr3)?;
        a.mov(cr3, eax)
    });
    assert_eq!(got, (0x1111, 0x1111), "the stale global entry is kept");
}

#[test]
fn global_bit_ignored_without_pge() {
    let mut m = paged();
    let got = remap(&mut m, G, |a| {
        a.mov(eax, cr3)?;
        a.mov(cr3, eax)
    });
    assert_eq!(got, (0x1111, 0x2222));
}

#[test]
fn clearing_pge_flushes_global_translations() {
    let mut m = paged();
    m.cpu.cr4 |= cr4::PGE;
    let got = remap(&mut m, G, |a| {
        a.mov(eax, cr4)?;
        a.and(eax, !(cr4::PGE as i32))?;
        a.mov(cr4, eax)
    });
    assert_eq!(got, (0x1111, 0x2222));
}

#[test]
fn invlpg_flushes_a_global_translation() {
    let mut m = paged();
    m.cpu.cr4 |= cr4::PGE;
    let got = remap(&mut m, G, |a| a.invlpg(byte_ptr(PAGE + 0x123)));
    assert_eq!(got, (0x1111, 0x2222));
}

#[test]
fn invlpg_at_cpl3_is_gp0() {
    let mut m = paged();
    one(&mut m, |a| a.invlpg(byte_ptr(PAGE)));
    m.ring3(CODE);
    m.expect_gp(0);
}

#[test]
fn wp_change_takes_effect_immediately() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | US);
    let l = m.code(|a| {
        let mut at = a.create_label();
        a.mov(dword_ptr(PAGE), eax)?; // WP=0: allowed
        a.mov(eax, cr0)?;
        a.or(eax, cr0::WP as i32)?;
        a.mov(cr0, eax)?;
        a.set_label(&mut at)?;
        a.mov(dword_ptr(PAGE), eax)?;
        a.hlt()?;
        Ok(vec![at])
    });
    let f = m.expect_err(vec::PF, 3);
    assert_eq!(f.eip, l[0]);
}

#[test]
fn fetch_from_not_present_page() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    m.code(|a| {
        a.mov(eax, PAGE)?;
        a.jmp(eax)?;
        Ok(vec![])
    });
    let f = m.expect_err(vec::PF, 0);
    assert_eq!(f.eip, PAGE, "the fault is at the target");
    assert_eq!(m.cpu.cr2, PAGE);
}

#[test]
fn user_fetch_from_supervisor_page() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | RW);
    m.w8(PAGE, 0x90);
    m.code(|a| {
        a.mov(eax, PAGE)?;
        a.jmp(eax)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    let f = m.expect_err(vec::PF, 4 | 1);
    assert_eq!(f.eip, PAGE);
}

#[test]
fn instruction_crossing_into_not_present_page() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    // MOV EAX, imm32 (5 bytes) starting 2 bytes before the page.
    let start = PAGE - 2;
    m.write(start, &[0xB8, 0x11, 0x22, 0x33, 0x44]);
    m.cpu.eip = start;
    let f = m.expect_err(vec::PF, 0);
    assert_eq!(f.eip, start);
    assert_eq!(m.cpu.cr2, PAGE);
}

#[test]
fn read_crossing_into_not_present_page() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    one(&mut m, |a| a.mov(eax, dword_ptr(PAGE - 2)));
    m.expect_err(vec::PF, 0);
    assert_eq!(m.cpu.cr2, PAGE);
}

#[test]
fn split_write_faulting_on_second_page_writes_nothing() {
    let mut m = paged();
    m.set_pte(PAGE, PAGE | P | US);
    m.code(|a| {
        a.mov(eax, 0x4433_2211u32)?;
        a.mov(dword_ptr(PAGE - 2), eax)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_err(vec::PF, 7);
    assert_eq!(m.r16(PAGE - 2), 0, "no partial write");
}

#[test]
fn rep_stos_faults_with_progress_kept() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    m.code(|a| {
        a.cld()?;
        a.mov(edi, PAGE - 8)?;
        a.mov(ecx, 8u32)?;
        a.mov(eax, 0x5555_5555u32)?;
        a.rep().stosd()?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_err(vec::PF, 2);
    assert_eq!(m.cpu.cr2, PAGE);
    assert_eq!(m.ecx(), 6, "two stores done");
    assert_eq!(m.cpu.gpr[cpu::state::reg::EDI], PAGE);
    assert_eq!(m.r32(PAGE - 4), 0x5555_5555);
}

#[test]
fn descriptor_tables_in_supervisor_pages_work_from_ring3() {
    // GDT, IDT and TSS reads are implicit supervisor accesses.
    let mut m = paged();
    for page in [GDT, IDT, TSS, TSS + 0x1000, TSS + 0x2000] {
        let v = m.pte(page) & !US;
        m.set_pte(page, v);
    }
    m.set_gate_dpl(0x80, 3);
    m.set_desc(FREE, flat(0xF2)); // not yet accessed: the CPU writes it
    m.code(|a| {
        a.mov(ax, (FREE | 3) as u32)?;
        a.mov(ds, ax)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.desc(FREE), flat(0xF3));
}

#[test]
fn page_fault_from_ring3_goes_to_ring0_stack() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    let at = one(&mut m, |a| a.mov(dword_ptr(PAGE), eax));
    m.ring3(CODE);
    let f = m.expect_err(vec::PF, 6);
    assert_eq!(f.eip, at);
    assert_eq!(f.ss, DATA3 as u32);
    assert_eq!(m.esp(), STACK0 - 24);
}

#[test]
fn other_exceptions_leave_cr2_alone() {
    let mut m = paged();
    m.cpu.cr2 = 0xDEAD_0000;
    one(&mut m, |a| a.ud2());
    m.expect(vec::UD);
    assert_eq!(m.cpu.cr2, 0xDEAD_0000);
}

#[test]
fn page_fault_while_delivering_page_fault_is_double_fault() {
    let mut m = paged();
    // Move the IDT so that the #PF gate sits in a page of its own, then
    // unmap that page: reading the gate faults again.
    let base = 0x2_0000 - 14 * 8;
    let idt: Vec<u8> = m.read(IDT, 0x800);
    m.write(base, &idt);
    m.cpu.idtr.base = base;
    m.set_pte(0x2_0000, 0);
    m.set_pte(PAGE, 0);
    one(&mut m, |a| a.mov(eax, dword_ptr(PAGE)));
    m.expect_err(vec::DF, 0);
    assert_eq!(m.interp.stats.first_vector, Some(vec::PF));
    assert_eq!(m.cpu.cr2, 0x2_0000, "CR2 from the second fault");
}

#[test]
fn page_fault_while_delivering_gp_is_serial() {
    let mut m = paged();
    // The #GP gate at the end of an unmapped page, the #PF gate at the
    // start of the next (mapped) one.
    let base = 0x1_FFF8 - 13 * 8;
    let idt: Vec<u8> = m.read(IDT, 0x800);
    m.write(base, &idt);
    m.cpu.idtr.base = base;
    m.set_pte(0x1_F000, 0);
    one(&mut m, |a| a.hlt());
    m.ring3(CODE);
    let f = m.expect_err(vec::PF, 0);
    assert_eq!(m.interp.stats.first_vector, Some(vec::GP));
    assert_eq!(m.cpu.cr2, 0x1_FFF8);
    assert_eq!(f.cs, CODE3 as u32);
}

#[test]
fn enabling_paging_from_code() {
    let mut m = Machine::new();
    m.enable_paging();
    m.cpu.cr0 &= !cr0::PG;
    m.interp.flush();
    m.set_pte(PAGE, 0x30_0000 | P | RW);
    m.w32(0x30_0000, 0x3030);
    m.w32(PAGE, 0x4040);
    m.code(|a| {
        a.mov(ebx, dword_ptr(PAGE))?;
        a.mov(eax, cr0)?;
        a.or(eax, cr0::PG as i32)?;
        a.mov(cr0, eax)?;
        a.mov(ecx, dword_ptr(PAGE))?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!((m.ebx(), m.ecx()), (0x4040, 0x3030));
}

#[test]
fn self_modifying_code_in_the_same_block() {
    let mut m = Machine::new();
    // MOV byte [abs32], imm8 is 7 bytes: the next MOV's immediate is at +8.
    let imm = CODE + 8;
    m.code(|a| {
        a.mov(byte_ptr(imm), 0x42)?;
        a.mov(ebx, 0x11u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ebx(), 0x42);
}

#[test]
fn self_modifying_code_through_alias_mapping() {
    // Physical page 0x300000 is mapped at PAGE (executed) and PAGE2
    // (written). The routine runs once (and is cached), is patched through
    // the alias, and runs again.
    let mut m = paged();
    m.set_pte(PAGE, 0x30_0000 | P | RW);
    m.set_pte(PAGE2, 0x30_0000 | P | RW);
    let (routine, _) = asm(32, PAGE, |a| {
        a.mov(ebx, 0x11u32)?;
        a.ret()?;
        Ok(vec![])
    });
    m.write(0x30_0000, &routine);
    m.code(|a| {
        a.mov(eax, PAGE)?;
        a.call(eax)?;
        a.mov(ecx, ebx)?;
        a.mov(byte_ptr(PAGE2 + 1), 0x42)?;
        a.call(eax)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.ecx(), 0x11);
    assert_eq!(m.ebx(), 0x42, "the cached decode of PAGE saw the write");
}

#[test]
fn self_modifying_code_through_alias_within_the_running_block() {
    let mut m = paged();
    m.set_pte(PAGE, 0x30_0000 | P | RW);
    m.set_pte(PAGE2, 0x30_0000 | P | RW);
    // At PAGE: patch the next instruction's immediate through the alias.
    // MOV byte [abs32], imm8 is 7 bytes: the next MOV's immediate is at +8.
    let imm_alias = PAGE2 + 8;
    let (code, _) = asm(32, PAGE, |a| {
        a.mov(byte_ptr(imm_alias), 0x42)?;
        a.mov(ebx, 0x11u32)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.write(0x30_0000, &code);
    m.cpu.eip = PAGE;
    m.expect_done();
    assert_eq!(m.ebx(), 0x42);
}

#[test]
fn user_fetch_from_not_present_page() {
    let mut m = paged();
    m.set_pte(PAGE, 0);
    m.code(|a| {
        a.mov(eax, PAGE)?;
        a.jmp(eax)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_err(vec::PF, 4);
}

#[test]
fn rep_stos_over_the_following_instructions() {
    // The string store overwrites the code right after it: the new bytes
    // (NOPs) are what executes.
    let mut m = Machine::new();
    // CLD (1) + MOV EDI (5) + MOV ECX (5) + MOV AL (2) + REP STOSB (2):
    // the MOV EBX is at CODE + 15.
    let l = m.code(|a| {
        let mut target = a.create_label();
        a.cld()?;
        a.mov(edi, CODE + 15)?;
        a.mov(ecx, 5u32)?;
        a.mov(al, 0x90u32)?;
        a.rep().stosb()?;
        a.set_label(&mut target)?;
        a.mov(ebx, 0x11u32)?;
        a.hlt()?;
        Ok(vec![target])
    });
    assert_eq!(l[0], CODE + 15);
    m.expect_done();
    assert_eq!(m.ebx(), 0, "the MOV was overwritten before it ran");
    assert_eq!(m.read(CODE + 15, 5), [0x90; 5]);
}
