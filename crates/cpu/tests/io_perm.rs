//! I/O protection: IOPL against CPL for IN/OUT/INS/OUTS, and the I/O
//! permission bitmap of the 32-bit TSS (multi-byte accesses that check
//! several bits, accesses spanning bitmap bytes, the two-byte read at the
//! end of the bitmap, a bitmap beyond the TSS limit, no bitmap in a 16-bit
//! TSS), implicit supervisor reads of the bitmap under paging.
//!
//! SDM vol. 1: 19.5 (I/O privilege level, I/O permission bit map, figure
//! 19-2); vol. 3: 8.2.1 and 8.7 (TSS, I/O map base); vol. 2: IN, OUT, INS,
//! OUTS "Protected Mode Exceptions".

mod common;

use common::*;
use cpu::state::reg;
use iced_x86::code_asm::*;

/// `OUT DX, (AL|AX|EAX)` of `size` bytes at CPL 3 (IOPL as set); returns
/// the OUT's address.
fn out_at_cpl3(m: &mut Machine, port: u16, size: u8) -> u32 {
    let at = m.code(|a| {
        let mut at = a.create_label();
        a.mov(dx, port as u32)?;
        a.mov(eax, 0x1122_3344u32)?;
        a.set_label(&mut at)?;
        match size {
            1 => a.out(dx, al)?,
            2 => a.out(dx, ax)?,
            _ => a.out(dx, eax)?,
        }
        a.int(0x80)?;
        Ok(vec![at])
    })[0];
    m.set_gate_dpl(0x80, 3);
    m.ring3(CODE);
    at
}

#[track_caller]
fn expect_allowed(m: &mut Machine, port: u16, size: u8) {
    m.expect_int(0x80);
    let v = 0x1122_3344u32 & if size == 4 { u32::MAX } else { (1 << (8 * size)) - 1 };
    assert_eq!(m.bus.outs, vec![(port, size, v)]);
}

#[track_caller]
fn expect_denied(m: &mut Machine, at: u32) {
    let f = m.expect_gp(0);
    assert_eq!(f.eip, at);
    assert!(m.bus.outs.is_empty(), "no I/O happened");
}

#[test]
fn cpl0_with_iopl0_needs_no_bitmap() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(al, 5u32)?;
        a.out(0x70u32, al)?;
        a.hlt()?;
        Ok(vec![])
    });
    m.expect_done();
    assert_eq!(m.bus.outs, vec![(0x70, 1, 5)]);
}

#[test]
fn cpl3_with_iopl3_needs_no_bitmap() {
    let mut m = Machine::new();
    out_at_cpl3(&mut m, 0x3F8, 1);
    m.set_iopl(3);
    expect_allowed(&mut m, 0x3F8, 1);
}

#[test]
fn cpl3_with_iopl0_and_bit_clear_is_allowed() {
    let mut m = Machine::new();
    m.io_allow(0x3F8, 1, true);
    out_at_cpl3(&mut m, 0x3F8, 1);
    expect_allowed(&mut m, 0x3F8, 1);
}

#[test]
fn cpl3_with_iopl0_and_bit_set_is_gp0() {
    let mut m = Machine::new();
    m.io_allow(0x3F9, 1, true);
    let at = out_at_cpl3(&mut m, 0x3F8, 1);
    expect_denied(&mut m, at);
}

#[test]
fn cpl1_with_iopl1_is_allowed_and_cpl2_is_not() {
    let mut m = Machine::new();
    m.set_iopl(1);
    m.code(|a| {
        a.out(0x70u32, al)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.set_gate_dpl(0x80, 3);
    m.ring(1, CODE);
    m.expect_int(0x80);
    assert_eq!(m.bus.outs.len(), 1);

    let mut m = Machine::new();
    m.set_iopl(1);
    m.code(|a| {
        a.out(0x70u32, al)?;
        Ok(vec![])
    });
    m.ring(2, CODE);
    m.expect_gp(0);
}

#[test]
fn word_access_checks_both_bits() {
    let mut m = Machine::new();
    m.io_allow(0x101, 1, true);
    let at = out_at_cpl3(&mut m, 0x101, 2);
    expect_denied(&mut m, at);

    let mut m = Machine::new();
    m.io_allow(0x101, 2, true);
    out_at_cpl3(&mut m, 0x101, 2);
    expect_allowed(&mut m, 0x101, 2);
}

#[test]
fn dword_access_spanning_bitmap_bytes() {
    // Ports 0x106-0x109: bits in bitmap bytes 0x20 and 0x21.
    let mut m = Machine::new();
    m.io_allow(0x106, 4, true);
    out_at_cpl3(&mut m, 0x106, 4);
    expect_allowed(&mut m, 0x106, 4);

    let mut m = Machine::new();
    m.io_allow(0x106, 3, true);
    let at = out_at_cpl3(&mut m, 0x106, 4);
    expect_denied(&mut m, at);
}

#[test]
fn bit_of_neighbouring_port_does_not_matter() {
    let mut m = Machine::new();
    m.io_allow(0x200, 8, true);
    m.io_allow(0x203, 1, false);
    out_at_cpl3(&mut m, 0x201, 2);
    expect_allowed(&mut m, 0x201, 2);
}

#[test]
fn bitmap_beyond_tss_limit_is_gp0() {
    // A bitmap covering ports 0-0x7F (bytes 0x68..0x77) plus one byte.
    let mut m = Machine::new();
    m.write(TSS + IOMAP_OFF, &[0; 0x10]);
    m.set_tss_limit(IOMAP_OFF + 0x10);
    out_at_cpl3(&mut m, 0x70, 1);
    expect_allowed(&mut m, 0x70, 1);

    let mut m = Machine::new();
    m.write(TSS + IOMAP_OFF, &[0; 0x20]);
    m.set_tss_limit(IOMAP_OFF + 0x10);
    let at = out_at_cpl3(&mut m, 0x80, 1);
    expect_denied(&mut m, at);
}

#[test]
fn bitmap_read_is_two_bytes_even_at_the_end() {
    // Port 0x78 is in the last byte within the limit; the processor reads
    // the byte after it too, which lies beyond the limit.
    let mut m = Machine::new();
    m.write(TSS + IOMAP_OFF, &[0; 0x20]);
    m.set_tss_limit(IOMAP_OFF + 0x0F);
    let at = out_at_cpl3(&mut m, 0x78, 1);
    expect_denied(&mut m, at);
}

#[test]
fn io_map_base_beyond_limit_denies_everything() {
    let mut m = Machine::new();
    m.write(TSS + IOMAP_OFF, &[0; 0x2000]);
    m.w16(TSS + 0x66, 0xFFFF);
    let at = out_at_cpl3(&mut m, 0x10, 1);
    expect_denied(&mut m, at);
}

#[test]
fn io_map_base_can_point_anywhere_in_the_tss() {
    let mut m = Machine::new();
    // A bitmap at offset 0x1000 of the TSS that allows port 0x20.
    m.w16(TSS + 0x66, 0x1000);
    m.write(TSS + 0x1000, &[0xFF; 0x10]);
    m.w8(TSS + 0x1004, 0xFE);
    out_at_cpl3(&mut m, 0x20, 1);
    expect_allowed(&mut m, 0x20, 1);
}

#[test]
fn in_denied_leaves_eax_unchanged() {
    let mut m = Machine::new();
    m.bus.in_value = 0x55;
    m.code(|a| {
        a.mov(eax, 0xAAAA_AAAAu32)?;
        a.in_(al, 0x60u32)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(0);
    assert_eq!(m.eax(), 0xAAAA_AAAA);
    assert!(m.bus.ins.is_empty());
}

#[test]
fn in_allowed_reads_the_port() {
    let mut m = Machine::new();
    m.io_allow(0x60, 1, true);
    m.bus.in_value = 0x55;
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.mov(eax, 0xAAAA_AAAAu32)?;
        a.in_(al, 0x60u32)?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.eax(), 0xAAAA_AA55);
}

#[test]
fn outs_is_checked_and_leaves_esi_on_fault() {
    let mut m = Machine::new();
    m.code(|a| {
        a.mov(esi, DATA)?;
        a.mov(dx, 0x80u32)?;
        a.outsb()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(0);
    assert_eq!(m.cpu.gpr[reg::ESI], DATA);
    assert!(m.bus.outs.is_empty());
}

#[test]
fn rep_outs_allowed_writes_every_byte() {
    let mut m = Machine::new();
    m.io_allow(0x80, 1, true);
    m.write(DATA, &[1, 2, 3]);
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.cld()?;
        a.mov(esi, DATA)?;
        a.mov(dx, 0x80u32)?;
        a.mov(ecx, 3u32)?;
        a.rep().outsb()?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.bus.outs, vec![(0x80, 1, 1), (0x80, 1, 2), (0x80, 1, 3)]);
}

#[test]
fn ins_denied_writes_nothing() {
    let mut m = Machine::new();
    m.bus.in_value = 0x99;
    m.code(|a| {
        a.mov(edi, DATA)?;
        a.mov(dx, 0x80u32)?;
        a.insb()?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_gp(0);
    assert_eq!(m.r8(DATA), 0);
    assert!(m.bus.ins.is_empty());
}

#[test]
fn insw_allowed_through_the_bitmap() {
    let mut m = Machine::new();
    m.io_allow(0x1F0, 2, true);
    m.bus.in_value = 0xBEEF;
    m.set_gate_dpl(0x80, 3);
    m.code(|a| {
        a.cld()?;
        a.mov(edi, DATA)?;
        a.mov(dx, 0x1F0u32)?;
        a.insw()?;
        a.int(0x80)?;
        Ok(vec![])
    });
    m.ring3(CODE);
    m.expect_int(0x80);
    assert_eq!(m.r16(DATA), 0xBEEF);
    assert_eq!(m.cpu.gpr[reg::EDI], DATA + 2);
}

#[test]
fn sixteen_bit_tss_has_no_bitmap() {
    let mut m = Machine::new();
    m.io_allow(0x80, 1, true);
    let d = seg_desc(TSS, 0x2B, acc::TSS16 | 2, 0);
    m.set_desc(FREE, d);
    m.cpu.tr = cpu::segment::Segment::from_descriptor(FREE, x86::descriptor::Descriptor::new(d));
    let at = out_at_cpl3(&mut m, 0x80, 1);
    // The #GP frame goes to the ring-0 stack of the 16-bit TSS.
    m.w16(TSS + 2, 0x9000);
    m.w16(TSS + 4, DATA0);
    let f = m.expect_gp(0);
    assert_eq!(f.eip, at);
}

#[test]
fn bitmap_in_supervisor_page_is_read_for_ring3() {
    let mut m = Machine::new();
    m.enable_paging();
    for page in [TSS, TSS + 0x1000, TSS + 0x2000] {
        let v = m.pte(page) & !4;
        m.set_pte(page, v);
    }
    m.io_allow(0x3F8, 1, true);
    out_at_cpl3(&mut m, 0x3F8, 1);
    expect_allowed(&mut m, 0x3F8, 1);
}
