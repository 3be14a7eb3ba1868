//! Switching between real and protected mode: setting CR0.PE and the far
//! JMP that follows (CPL stays 0 and the real-mode CS cache stays in use
//! until CS is reloaded), returning to real mode, and the segment caches
//! that survive the switch ("unreal mode").
//!
//! SDM vol. 3: 9.9.1 (switching to protected mode), 9.9.2 (switching back
//! to real-address mode), 3.4.3 (segment registers and their hidden
//! part), 20.1 (real-address mode operation).

mod common;

use common::*;
use cpu::CpuState;
use cpu::state::sreg;
use iced_x86::code_asm::*;

/// Real-mode code at linear 0x7C00 addressed as 07BF:0010 (a CS selector
/// with RPL bits 3); the pseudo-descriptor for LGDT at 0x7E00.
const RM_CS: u16 = 0x07BF;
const RM_IP: u32 = 0x10;
const PSEUDO: u32 = 0x7E00;

fn real_mode(m: &mut Machine) {
    let gdtr = m.cpu.gdtr;
    m.cpu = CpuState::reset();
    m.cpu.seg[sreg::CS].load_real(RM_CS);
    m.cpu.eip = RM_IP;
    m.cpu.gpr[4] = 0x7000;
    m.w16(PSEUDO, gdtr.limit as u16);
    m.w32(PSEUDO + 2, gdtr.base);
    m.interp.flush();
}

fn load16(m: &mut Machine, f: impl FnOnce(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>) {
    m.code16_at(0x7C00, RM_IP, |a| {
        f(a)?;
        Ok(vec![])
    });
    m.cpu.eip = RM_IP;
}

#[test]
fn entering_protected_mode_with_a_far_jump() {
    let mut m = Machine::new();
    real_mode(&mut m);
    m.code(|a| {
        a.mov(ax, DATA0 as u32)?;
        a.mov(ds, ax)?;
        a.mov(ss, ax)?;
        a.mov(esp, STACK0_INIT)?;
        a.mov(dword_ptr(DATA), 0xC0DEu32)?;
        a.hlt()?;
        Ok(vec![])
    });
    load16(&mut m, |a| {
        a.cli()?;
        a.lgdt(fword_ptr(PSEUDO))?;
        a.mov(eax, cr0)?;
        a.or(eax, 1)?;
        a.mov(cr0, eax)?;
        // o32 JMP 0008:CODE
        let mut b = vec![0x66, 0xEA];
        b.extend_from_slice(&CODE.to_le_bytes());
        b.extend_from_slice(&CODE0.to_le_bytes());
        a.db(&b)
    });
    m.expect_done();
    assert!(m.cpu.protected_mode());
    assert_eq!(m.cpu.cpl, 0);
    assert_eq!(m.sel(sreg::CS), CODE0);
    assert!(m.cpu.code32());
    assert_eq!(m.r32(DATA), 0xC0DE);
}

#[test]
fn cpl_stays_0_until_cs_is_reloaded() {
    // After MOV CR0 the real-mode CS (selector with RPL 3) stays loaded:
    // the 16-bit code keeps running at CPL 0, so HLT is allowed.
    let mut m = Machine::new();
    real_mode(&mut m);
    load16(&mut m, |a| {
        a.mov(eax, cr0)?;
        a.or(eax, 1)?;
        a.mov(cr0, eax)?;
        a.mov(bx, 0x1234u32)?;
        a.hlt()
    });
    m.expect_done();
    assert!(m.cpu.protected_mode());
    assert_eq!(m.cpu.cpl, 0);
    assert_eq!(m.sel(sreg::CS), RM_CS);
    assert_eq!(m.cpu.seg[sreg::CS].base(), 0x7BF0);
    assert_eq!(m.ebx() & 0xFFFF, 0x1234);
}

#[test]
fn returning_to_real_mode_keeps_segment_limits() {
    // Load FS with a 4 GiB segment in protected mode, clear PE, and use
    // FS with a 32-bit offset in real mode ("unreal mode").
    let mut m = Machine::new();
    m.w32(0x20_0000, 0x5EED);
    real_mode(&mut m);
    load16(&mut m, |a| {
        a.lgdt(fword_ptr(PSEUDO))?;
        a.mov(eax, cr0)?;
        a.or(eax, 1)?;
        a.mov(cr0, eax)?;
        a.mov(bx, DATA0 as u32)?;
        a.mov(fs, bx)?;
        a.and(eax, !1)?;
        a.mov(cr0, eax)?;
        a.xor(bx, bx)?;
        a.mov(fs, bx)?; // real-mode load: base 0, limit kept
        a.mov(edi, 0x20_0000u32)?;
        a.mov(ecx, dword_ptr(edi).fs())?;
        a.hlt()
    });
    m.expect_done();
    assert!(!m.cpu.protected_mode());
    assert_eq!(m.ecx(), 0x5EED);
    assert_eq!(m.cpu.seg[sreg::FS].limit(), 0xFFFF_FFFF);
}

#[test]
fn real_mode_offset_beyond_64k_is_gp() {
    let mut m = Machine::new();
    real_mode(&mut m);
    // MOV EDI, imm32 with an operand-size prefix: 6 bytes.
    load16(&mut m, |a| {
        a.mov(edi, 0x1_0000u32)?;
        a.mov(ecx, dword_ptr(edi))?;
        a.hlt()
    });
    // Real mode delivers #GP through the IVT: vector 13's entry.
    m.w16(13 * 4, (stub(13) & 0xF) as u16);
    m.w16(13 * 4 + 2, (stub(13) >> 4) as u16);
    let e = m.run();
    assert_eq!(e, cpu::Exit::Halted);
    assert_eq!(m.sel(sreg::CS), (stub(13) >> 4) as u16);
    assert_eq!(m.cpu.eip, (stub(13) & 0xF) + 1, "in the #GP handler");
    assert_eq!(m.stack16(0) as u32, RM_IP + 6, "IP of the faulting MOV ECX");
    assert_eq!(m.stack16(1), RM_CS);
}
