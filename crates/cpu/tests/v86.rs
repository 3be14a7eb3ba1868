//! Virtual-8086 mode: entering it with IRET (VM=1 in the EFLAGS image at
//! CPL 0) and with a task switch, address formation and limits, the
//! IOPL-sensitive instructions (CLI, STI, PUSHF, POPF, INT n, IRET) and the
//! ones that are not (INT3, INTO), I/O through the TSS bitmap whatever the
//! IOPL, privileged and protected-mode-only instructions, interrupts and
//! exceptions to the ring-0 handler (frame with GS/FS/DS/ES, data segments
//! cleared), and the IRET back to virtual-8086 mode.
//!
//! SDM vol. 3: 20.2 (virtual-8086 mode: execution environment, entering and
//! leaving, sensitive instructions 20.2.7), 20.3 (interrupt and exception
//! handling in virtual-8086 mode, figure 20-2 frame, 20.3.1.1 handling
//! through a protected-mode handler), 6.12.1 (interrupts from v86 mode);
//! vol. 1 19.5.2 (I/O permission bitmap in v86 mode); vol. 2 INT n/INTO/
//! INT3 and IRET "Virtual-8086 Mode Exceptions".

mod common;

use common::*;
use cpu::state::sreg;
use iced_x86::code_asm::*;

const V86_CS: u16 = 0x2000;
const V86_IP: u32 = 0x100;
const V86_SS: u16 = 0x3000;
const V86_SP: u32 = 0xFFF0;
const V86_DS: u16 = 0x4000;
const V86_ES: u16 = 0x5000;
const HANDLER: u32 = CODE + 0x1000;

/// Emits one instruction.
type Emit = fn(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>;

fn lin(seg: u16, off: u32) -> u32 {
    ((seg as u32) << 4) + off
}

/// Load 16-bit code at V86_CS:V86_IP and ring-0 code at CODE that IRETs
/// to it with the given IOPL and extra EFLAGS bits; returns the IPs of the
/// labels the closure returns.
fn v86(
    m: &mut Machine,
    iopl: u32,
    flags: u32,
    f: impl FnOnce(&mut CodeAssembler) -> Result<Vec<CodeLabel>, iced_x86::IcedError>,
) -> Vec<u32> {
    let labels = m.code16_at(lin(V86_CS, V86_IP), V86_IP, f);
    m.code(|a| {
        a.push(0x6000)?; // GS
        a.push(0x7000)?; // FS
        a.push(V86_DS as i32)?;
        a.push(V86_ES as i32)?;
        a.push(V86_SS as i32)?;
        a.push(V86_SP as i32)?;
        a.push((fl::VM | fl::FIXED1 | (iopl << fl::IOPL_SHIFT) | flags) as i32)?;
        a.push(V86_CS as i32)?;
        a.push(V86_IP as i32)?;
        a.iretd()?;
        Ok(vec![])
    });
    labels
}

/// The 9-dword frame (with error code if `err`) pushed by an interrupt
/// from virtual-8086 mode.
struct V86Frame {
    err: Option<u32>,
    eip: u32,
    cs: u32,
    eflags: u32,
    esp: u32,
    ss: u32,
    es: u32,
    ds: u32,
    fs: u32,
    gs: u32,
}

fn v86_frame(m: &Machine, err: bool) -> V86Frame {
    let k = err as u32;
    V86Frame {
        err: err.then(|| m.stack(0)),
        eip: m.stack(k),
        cs: m.stack(k + 1),
        eflags: m.stack(k + 2),
        esp: m.stack(k + 3),
        ss: m.stack(k + 4),
        es: m.stack(k + 5),
        ds: m.stack(k + 6),
        fs: m.stack(k + 7),
        gs: m.stack(k + 8),
    }
}

/// Expect #GP(0) raised in v86 mode at `ip`.
#[track_caller]
fn expect_v86_gp(m: &mut Machine, ip: u32) -> V86Frame {
    m.expect(vec::GP);
    let f = v86_frame(m, true);
    assert_eq!(f.err, Some(0));
    assert_eq!(f.eip, ip, "faulting IP");
    assert_eq!(f.cs, V86_CS as u32);
    assert_ne!(f.eflags & fl::VM, 0);
    f
}

#[test]
fn iret_enters_v86_and_int_returns_to_ring0_with_segments() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    m.w16(lin(V86_DS, 0x10), 0xBEEF);
    let l = v86(&mut m, 3, 0, |a| {
        let mut after = a.create_label();
        a.mov(bx, word_ptr(0x10))?;
        a.int(0x40)?;
        a.set_label(&mut after)?;
        a.hlt()?;
        Ok(vec![after])
    });
    m.expect_int(0x40);
    assert_eq!(m.ebx() & 0xFFFF, 0xBEEF, "DS:0x10 is linear DS*16+0x10");
    let f = v86_frame(&m, false);
    assert_eq!(f.eip, l[0]);
    assert_eq!(f.cs, V86_CS as u32);
    assert_ne!(f.eflags & fl::VM, 0);
    assert_eq!(f.eflags & fl::IOPL, fl::IOPL);
    assert_eq!(f.esp, V86_SP);
    assert_eq!(f.ss, V86_SS as u32);
    assert_eq!(f.es, V86_ES as u32);
    assert_eq!(f.ds, V86_DS as u32);
    assert_eq!(f.fs, 0x7000);
    assert_eq!(f.gs, 0x6000);
    assert_eq!(m.esp(), STACK0 - 36);
    assert_eq!(m.cpu.cpl, 0);
    assert!(!m.cpu.v86_mode());
    for r in [sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
        assert_eq!(m.sel(r), 0, "data segment {r} cleared");
    }
    assert_eq!(m.sel(sreg::SS), DATA0);
    assert_eq!(m.sel(sreg::CS), CODE0);
}

#[test]
fn v86_state_after_iret() {
    let mut m = Machine::new();
    v86(&mut m, 0, 0, |a| {
        a.nop()?;
        Ok(vec![])
    });
    assert_eq!(m.run_for(11), cpu::Exit::Budget);
    assert!(m.cpu.v86_mode());
    assert_eq!(m.cpu.cpl, 3);
    assert_eq!(m.cpu.seg[sreg::CS].base(), lin(V86_CS, 0));
    assert_eq!(m.cpu.seg[sreg::SS].base(), lin(V86_SS, 0));
    assert_eq!(m.cpu.seg[sreg::GS].base(), 0x60000);
    assert_eq!(m.cpu.seg[sreg::DS].limit(), 0xFFFF);
    assert_eq!(m.cpu.eip, V86_IP + 1);
    assert_eq!(m.esp(), V86_SP);
}

#[test]
fn int_n_with_iopl_below_3_is_gp0() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    let l = v86(&mut m, 0, 0, |a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.int(0x40)?;
        Ok(vec![at])
    });
    let f = expect_v86_gp(&mut m, l[0]);
    assert_eq!(f.ds, V86_DS as u32);
}

#[test]
fn int3_is_not_iopl_sensitive() {
    let mut m = Machine::new();
    m.set_gate_dpl(vec::BP, 3);
    let l = v86(&mut m, 0, 0, |a| {
        let mut after = a.create_label();
        a.int3()?;
        a.set_label(&mut after)?;
        a.nop()?;
        Ok(vec![after])
    });
    m.expect_int(vec::BP);
    let f = v86_frame(&m, false);
    assert_eq!(f.eip, l[0]);
    assert_ne!(f.eflags & fl::VM, 0);
}

#[test]
fn int3_checks_gate_dpl() {
    let mut m = Machine::new();
    v86(&mut m, 3, 0, |a| {
        a.int3()?;
        Ok(vec![])
    });
    m.expect_gp(vec::BP as u32 * 8 + 2);
}

#[test]
fn into_is_not_iopl_sensitive() {
    let mut m = Machine::new();
    m.set_gate_dpl(vec::OF, 3);
    let l = v86(&mut m, 0, fl::OF, |a| {
        let mut after = a.create_label();
        a.db(&[0xCE])?;
        a.set_label(&mut after)?;
        a.nop()?;
        Ok(vec![after])
    });
    m.expect_int(vec::OF);
    assert_eq!(v86_frame(&m, false).eip, l[0]);
}

#[test]
fn int_n_to_gate_with_dpl_below_3_is_gp() {
    let mut m = Machine::new();
    v86(&mut m, 3, 0, |a| {
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_gp(0x40 * 8 + 2);
}

#[test]
fn int_n_to_non_ring0_handler_is_gp_selector() {
    let mut m = Machine::new();
    m.set_idt(0x40, gate_desc(CODE1, HANDLER, gate::INT32, 3, 0));
    v86(&mut m, 3, 0, |a| {
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_gp((CODE1 & !3) as u32);
}

#[test]
fn cli_sti_with_iopl_below_3_are_gp0() {
    for sti in [false, true] {
        let mut m = Machine::new();
        let l = v86(&mut m, 2, 0, |a| {
            let mut at = a.create_label();
            a.set_label(&mut at)?;
            if sti {
                a.sti()?
            } else {
                a.cli()?
            }
            Ok(vec![at])
        });
        expect_v86_gp(&mut m, l[0]);
    }
}

#[test]
fn cli_sti_with_iopl_3_change_if() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    v86(&mut m, 3, fl::IF, |a| {
        a.cli()?;
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    assert_eq!(v86_frame(&m, false).eflags & fl::IF, 0);
}

#[test]
fn pushf_popf_with_iopl_below_3_are_gp0() {
    for popf in [false, true] {
        let mut m = Machine::new();
        let l = v86(&mut m, 0, 0, |a| {
            let mut at = a.create_label();
            a.push(ax)?;
            a.set_label(&mut at)?;
            if popf {
                a.popf()?
            } else {
                a.pushf()?
            }
            Ok(vec![at])
        });
        let f = expect_v86_gp(&mut m, l[0]);
        assert_eq!(f.esp, V86_SP - 2, "stack untouched by the faulting instruction");
    }
}

#[test]
fn pushf_with_iopl_3_pushes_flags_without_vm() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    v86(&mut m, 3, 0, |a| {
        a.pushfd()?;
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    let pushed = m.r32(lin(V86_SS, V86_SP - 4));
    assert_eq!(pushed & fl::VM, 0, "VM reads as 0 in the image");
    assert_eq!(pushed & fl::IOPL, fl::IOPL);
}

#[test]
fn popf_with_iopl_3_cannot_change_iopl() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    v86(&mut m, 3, 0, |a| {
        a.push(0x0002 | fl::CF as i32)?; // IOPL 0 in the image
        a.popf()?;
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    let f = v86_frame(&m, false);
    assert_eq!(f.eflags & fl::IOPL, fl::IOPL, "IOPL unchanged");
    assert_ne!(f.eflags & fl::CF, 0);
    assert_ne!(f.eflags & fl::VM, 0);
}

#[test]
fn iret_with_iopl_below_3_is_gp0() {
    let mut m = Machine::new();
    let l = v86(&mut m, 1, 0, |a| {
        let mut at = a.create_label();
        a.set_label(&mut at)?;
        a.iret()?;
        Ok(vec![at])
    });
    expect_v86_gp(&mut m, l[0]);
}

#[test]
fn iret_with_iopl_3_stays_in_v86() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    let target = m.code16_at(lin(0x2100, 0x20), 0x20, |a| {
        let mut t = a.create_label();
        a.set_label(&mut t)?;
        a.int(0x40)?;
        Ok(vec![t])
    })[0];
    v86(&mut m, 3, 0, |a| {
        a.push(0x0002 | fl::CF as i32)?; // FLAGS
        a.push(0x2100)?; // CS
        a.push(target as i32)?; // IP
        a.iret()?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    let f = v86_frame(&m, false);
    assert_eq!(f.cs, 0x2100);
    assert_eq!(f.eip, target + 2);
    assert_eq!(f.eflags & fl::IOPL, fl::IOPL, "IOPL kept");
    assert_ne!(f.eflags & fl::CF, 0);
    assert_eq!(f.esp, V86_SP);
}

#[test]
fn iretd_with_ip_above_ffff_is_gp0() {
    let mut m = Machine::new();
    let l = v86(&mut m, 3, 0, |a| {
        let mut at = a.create_label();
        a.push(0)?;
        a.push(2)?; // EFLAGS (high word)
        a.push(0)?;
        a.push(V86_CS as i32)?;
        a.push(1)?;
        a.push(0)?; // EIP = 0x10000
        a.set_label(&mut at)?;
        a.iretd()?;
        Ok(vec![at])
    });
    expect_v86_gp(&mut m, l[0]);
}

#[test]
fn io_uses_bitmap_even_with_iopl_3() {
    let mut m = Machine::new();
    m.io_allow(0x80, 1, true);
    let l = v86(&mut m, 3, 0, |a| {
        let mut at = a.create_label();
        a.mov(al, 0x12u32)?;
        a.out(0x80u32, al)?;
        a.set_label(&mut at)?;
        a.out(0x81u32, al)?;
        Ok(vec![at])
    });
    expect_v86_gp(&mut m, l[0]);
    assert_eq!(m.bus.outs, vec![(0x80, 1, 0x12)]);
}

#[test]
fn io_allowed_by_bitmap_with_iopl_0() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    m.io_allow(0x3F8, 2, true);
    m.bus.in_value = 0xABCD;
    v86(&mut m, 3, 0, |a| {
        a.mov(dx, 0x3F8u32)?;
        a.in_(ax, dx)?;
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    assert_eq!(m.eax() & 0xFFFF, 0xABCD);
}

#[test]
fn privileged_instructions_are_gp0() {
    let cases: [Emit; 5] = [
        |a| a.hlt(),
        |a| a.mov(eax, cr0),
        |a| a.lidt(fword_ptr(0)),
        |a| a.clts(),
        |a| a.invd(),
    ];
    for (k, case) in cases.into_iter().enumerate() {
        let mut m = Machine::new();
        let l = v86(&mut m, 3, 0, |a| {
            let mut at = a.create_label();
            a.set_label(&mut at)?;
            case(a)?;
            Ok(vec![at])
        });
        let f = m.expect(vec::GP);
        assert_eq!(f.err, Some(0), "case {k}");
        assert_eq!(v86_frame(&m, true).eip, l[0], "case {k}");
    }
}

#[test]
fn protected_mode_only_instructions_are_ud() {
    let cases: [Emit; 6] = [
        |a| a.lar(ax, bx),
        |a| a.lsl(ax, bx),
        |a| a.verr(bx),
        |a| a.arpl(ax, bx),
        |a| a.lldt(bx),
        |a| a.sldt(bx),
    ];
    for (k, case) in cases.into_iter().enumerate() {
        let mut m = Machine::new();
        v86(&mut m, 3, 0, |a| {
            case(a)?;
            Ok(vec![])
        });
        let e = m.run();
        assert_eq!(e, cpu::Exit::Halted);
        assert_eq!(m.vector(), Some(vec::UD), "case {k}");
    }
}

#[test]
fn exception_from_v86_pushes_segments() {
    let mut m = Machine::new();
    let l = v86(&mut m, 0, 0, |a| {
        let mut at = a.create_label();
        a.mov(ax, 0x1234u32)?;
        a.mov(es, ax)?;
        a.set_label(&mut at)?;
        a.ud2()?;
        Ok(vec![at])
    });
    m.expect(vec::UD);
    let f = v86_frame(&m, false);
    assert_eq!(f.eip, l[0], "faults point at the instruction");
    assert_eq!(f.es, 0x1234);
    assert_eq!(f.ds, V86_DS as u32);
    assert_ne!(f.eflags & fl::VM, 0);
    assert_ne!(f.eflags & fl::RF, 0);
}

#[test]
fn monitor_emulates_and_returns_to_v86() {
    // The ring-0 #GP handler skips the faulting one-byte CLI and IRETs
    // back to virtual-8086 mode with the segment registers restored.
    let mut m = Machine::new();
    m.set_handler(vec::GP, HANDLER, gate::INT32, 0);
    m.code_at(HANDLER, |a| {
        a.add(esp, 4)?; // error code
        a.inc(dword_ptr(esp))?; // skip the CLI
        a.iretd()?;
        Ok(vec![])
    });
    let l = v86(&mut m, 0, 0, |a| {
        let mut at = a.create_label();
        a.cli()?;
        a.mov(bx, word_ptr(0x20))?;
        a.set_label(&mut at)?;
        a.ud2()?;
        Ok(vec![at])
    });
    m.w16(lin(V86_DS, 0x20), 0x5151);
    m.expect(vec::UD);
    assert_eq!(m.ebx() & 0xFFFF, 0x5151, "DS restored by the IRET");
    let f = v86_frame(&m, false);
    assert_eq!(f.eip, l[0]);
    assert_eq!(f.ds, V86_DS as u32);
    assert_eq!(f.fs, 0x7000);
    assert_eq!(f.esp, V86_SP);
}

#[test]
fn segment_loads_are_real_mode_style() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    m.w16(0x5_0010, 0x7777);
    v86(&mut m, 3, 0, |a| {
        a.mov(ax, 0x5000u32)?;
        a.mov(ds, ax)?;
        a.mov(bx, word_ptr(0x10))?;
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    assert_eq!(m.ebx() & 0xFFFF, 0x7777);
    assert_eq!(v86_frame(&m, false).ds, 0x5000);
}

#[test]
fn offset_beyond_64k_is_gp0() {
    let mut m = Machine::new();
    let l = v86(&mut m, 3, 0, |a| {
        let mut at = a.create_label();
        a.mov(bx, 0xFFFFu32)?;
        a.set_label(&mut at)?;
        a.mov(ax, word_ptr(bx))?;
        Ok(vec![at])
    });
    expect_v86_gp(&mut m, l[0]);
}

#[test]
fn stack_offset_beyond_64k_is_ss0() {
    let mut m = Machine::new();
    let l = v86(&mut m, 3, 0, |a| {
        let mut at = a.create_label();
        a.mov(bp, 0xFFFFu32)?;
        a.set_label(&mut at)?;
        a.mov(ax, word_ptr(bp))?;
        Ok(vec![at])
    });
    m.expect_err(vec::SS, 0);
    assert_eq!(v86_frame(&m, true).eip, l[0]);
}

#[test]
fn far_jump_is_real_mode_style() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    m.code16_at(lin(0x2345, 0x10), 0x10, |a| {
        a.int(0x40)?;
        Ok(vec![])
    });
    v86(&mut m, 3, 0, |a| {
        a.jmp_far(0x2345, 0x10)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    let f = v86_frame(&m, false);
    assert_eq!((f.cs, f.eip), (0x2345, 0x12));
}

#[test]
fn external_interrupt_in_v86() {
    let mut m = Machine::new();
    let l = v86(&mut m, 0, fl::IF, |a| {
        let mut second = a.create_label();
        a.nop()?;
        a.set_label(&mut second)?;
        a.nop()?;
        a.nop()?;
        Ok(vec![second])
    });
    assert_eq!(m.run_for(11), cpu::Exit::Budget);
    m.bus.irq = Some(0x30);
    m.expect_int(0x30);
    let f = v86_frame(&m, false);
    assert_eq!(f.eip, l[0]);
    assert_ne!(f.eflags & fl::VM, 0);
}

#[test]
fn page_fault_in_v86_is_a_user_access() {
    let mut m = Machine::new();
    m.enable_paging();
    let page = lin(V86_DS, 0x1000);
    m.set_pte(page, page | 1 | 2); // supervisor only
    v86(&mut m, 3, 0, |a| {
        a.mov(word_ptr(0x1000), ax)?;
        Ok(vec![])
    });
    m.expect_err(vec::PF, 7);
    assert_eq!(m.cpu.cr2, page);
}

#[test]
fn task_switch_into_v86_task() {
    let mut m = Machine::new();
    m.set_gate_dpl(0x40, 3);
    let tss = TSS2;
    m.write(tss, &[0; 0x68]);
    m.w32(tss + 0x04, STACK0);
    m.w32(tss + 0x08, DATA0 as u32);
    m.w32(tss + 0x20, V86_IP);
    m.w32(tss + 0x24, fl::VM | fl::IOPL | 2);
    m.w32(tss + 0x38, V86_SP);
    for (k, sel) in [V86_ES, V86_CS, V86_SS, V86_DS, 0, 0].iter().enumerate() {
        m.w16(tss + 0x48 + 4 * k as u32, *sel);
    }
    m.set_desc(FREE, seg_desc(tss, 0x67, acc::TSS32, 0));
    m.code16_at(lin(V86_CS, V86_IP), V86_IP, |a| {
        a.int(0x40)?;
        Ok(vec![])
    });
    m.code(|a| {
        a.jmp_far(FREE, 0)?;
        Ok(vec![])
    });
    m.expect_int(0x40);
    let f = v86_frame(&m, false);
    assert_eq!(f.cs, V86_CS as u32);
    assert_eq!(f.eip, V86_IP + 2);
    assert_eq!(f.ds, V86_DS as u32);
    assert_ne!(f.eflags & fl::VM, 0);
    assert_eq!(m.cpu.tr.selector, FREE);
}

#[test]
fn int_n_to_conforming_handler_is_gp_selector() {
    let mut m = Machine::new();
    m.set_desc(FREE, flat(0x9F)); // conforming, DPL 0
    m.set_idt(0x40, gate_desc(FREE, HANDLER, gate::INT32, 3, 0));
    v86(&mut m, 3, 0, |a| {
        a.int(0x40)?;
        Ok(vec![])
    });
    m.expect_gp(FREE as u32);
}
