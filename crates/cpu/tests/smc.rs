//! Self-modifying code: the decoded-instruction cache must notice every
//! write to code it holds — by ordinary stores (even to the very next
//! instruction), by string instructions, and by DMA between runs.

use cpu::state::{reg, sreg};
use cpu::{CpuState, Exit, Interpreter, NullBus};
use iced_x86::BlockEncoderOptions;
use iced_x86::code_asm::*;
use memory::GuestMemory;

const ORG: u32 = 0x1000;

/// Real mode at 0000:1000 with `code` loaded there.
fn machine(code: &[u8]) -> (CpuState, GuestMemory) {
    let mut mem = GuestMemory::new(1 << 20).unwrap();
    mem.write_phys(ORG as u64, code);
    let mut s = CpuState::reset();
    s.seg[sreg::CS].load_real(0);
    for i in [sreg::DS, sreg::ES, sreg::SS] {
        s.seg[i].load_real(0);
    }
    s.eip = ORG;
    s.gpr[reg::ESP] = 0x8000;
    (s, mem)
}

/// Assemble `f` twice: first to learn where label `mark` lands, then with
/// that address passed in (instruction sizes do not depend on it: every
/// address is a 16-bit displacement or immediate).
fn assemble(f: impl Fn(&mut CodeAssembler, u16, &mut CodeLabel)) -> Vec<u8> {
    let build = |target: u16| {
        let mut a = CodeAssembler::new(16).unwrap();
        let mut mark = a.create_label();
        f(&mut a, target, &mut mark);
        let r = a
            .assemble_options(ORG as u64, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
            .unwrap();
        (r.inner.code_buffer.clone(), r.label_ip(&mark).unwrap() as u16)
    };
    let (_, at) = build(0x1234);
    let (code, at2) = build(at);
    assert_eq!(at, at2);
    code
}

fn run(s: &mut CpuState, mem: &mut GuestMemory, interp: &mut Interpreter) {
    let mut bus = NullBus::default();
    assert_eq!(interp.run(s, mem, &mut bus, 10_000), Exit::Halted);
}

#[test]
fn store_into_the_next_instruction() {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut patch = a.create_label();
    // mov byte [patch+1], 0x42 ; patch: mov al, 0 ; hlt — the store
    // changes the immediate of the instruction right after it.
    a.mov(byte_ptr(ORG as u16 as i32 + 5 + 1), 0x42).unwrap();
    a.set_label(&mut patch).unwrap();
    a.mov(al, 0).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(ORG as u64).unwrap();
    assert_eq!(code[5], 0xB0, "layout: the patched MOV AL must start at offset 5");
    let (mut s, mut mem) = machine(&code);
    let mut interp = Interpreter::new();
    run(&mut s, &mut mem, &mut interp);
    assert_eq!(s.gpr[reg::EAX] & 0xFF, 0x42);
}

#[test]
fn rep_movsb_overwrites_code_ahead() {
    // Copy "mov al, 0x77" (B0 77) over the "mov al, 0x11" that follows.
    let code = assemble(|a, target, mark| {
        a.mov(si, 0x2000).unwrap();
        a.mov(di, target as i32).unwrap();
        a.mov(cx, 2).unwrap();
        a.cld().unwrap();
        a.rep().movsb().unwrap();
        a.set_label(mark).unwrap();
        a.mov(al, 0x11).unwrap();
        a.hlt().unwrap();
    });
    let (mut s, mut mem) = machine(&code);
    mem.write_phys(0x2000, &[0xB0, 0x77]);
    let mut interp = Interpreter::new();
    run(&mut s, &mut mem, &mut interp);
    assert_eq!(s.gpr[reg::EAX] & 0xFF, 0x77);
}

#[test]
fn dma_write_between_runs_is_seen() {
    // mov al, 1 ; hlt — run, then a device rewrites it to mov al, 2.
    let (mut s, mut mem) = machine(&[0xB0, 0x01, 0xF4]);
    let mut interp = Interpreter::new();
    run(&mut s, &mut mem, &mut interp);
    assert_eq!(s.gpr[reg::EAX] & 0xFF, 1);
    mem.write_phys(ORG as u64, &[0xB0, 0x02]);
    s.eip = ORG;
    s.halted = false;
    run(&mut s, &mut mem, &mut interp);
    assert_eq!(s.gpr[reg::EAX] & 0xFF, 2);
}

#[test]
fn loop_that_patches_itself_each_iteration() {
    // A counter kept in the immediate of an ADD: each iteration rewrites
    // the ADD's immediate and executes it again.
    let code = assemble(|a, target, mark| {
        let mut top = a.create_label();
        a.xor(ax, ax).unwrap();
        a.mov(cx, 10).unwrap();
        a.set_label(&mut top).unwrap();
        a.inc(byte_ptr(target as i32 + 1)).unwrap();
        a.set_label(mark).unwrap();
        a.add(al, 0).unwrap();
        a.loop_(top).unwrap();
        a.hlt().unwrap();
    });
    let (mut s, mut mem) = machine(&code);
    let mut interp = Interpreter::new();
    run(&mut s, &mut mem, &mut interp);
    // Immediates 1..=10 were added.
    assert_eq!(s.gpr[reg::EAX] & 0xFF, 55);
}
