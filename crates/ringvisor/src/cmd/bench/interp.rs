//! `ringvisor bench interp`: MIPS of an engine on a fixed CPU-bound guest
//! program. The program runs in 32-bit protected mode with paging on (4
//! MiB identity pages) at CPL 0 and mixes what real code does: a
//! linear-congruential fill of a 64 KiB buffer (IMUL, ADD, stores), a
//! bitwise CRC-32 over it (shifts, conditional branches, XOR), and an
//! insertion sort of 1024 dwords (loads, compares, stores, nested loops).
//! It ends with HLT and is repeated for the requested number of rounds.

use anyhow::{Result, anyhow};
use cpu::segment::{DescTable, Segment};
use cpu::state::sreg;
use cpu::{CpuState, Engine, Exit, Interpreter, NullBus};
use iced_x86::code_asm::*;
use memory::GuestMemory;
use std::process::ExitCode;
use std::time::Instant;
use x86::descriptor::Descriptor;

const CODE: u32 = 0x10_0000;
const BUF: u32 = 0x20_0000;
const PDIR: u32 = 0x1000;

/// The benchmark program.
pub fn program(rounds: u32) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    let mut iter = a.create_label();
    let mut fill = a.create_label();
    let mut crc = a.create_label();
    let mut bit = a.create_label();
    let mut nox = a.create_label();
    let mut outer_sort = a.create_label();
    let mut inner_sort = a.create_label();
    let mut place = a.create_label();
    a.mov(ebp, rounds)?;
    a.set_label(&mut iter)?;
    // 1. LCG fill of 16384 dwords.
    a.mov(edi, BUF)?;
    a.mov(ecx, 16384u32)?;
    a.mov(eax, ebp)?;
    a.set_label(&mut fill)?;
    a.imul_3(eax, eax, 1_103_515_245)?;
    a.add(eax, 12345)?;
    a.mov(dword_ptr(edi), eax)?;
    a.add(edi, 4)?;
    a.dec(ecx)?;
    a.jnz(fill)?;
    // 2. Bitwise CRC-32 of the first 16 KiB.
    a.mov(esi, BUF)?;
    a.mov(ecx, 16384u32)?;
    a.mov(edx, 0xFFFF_FFFFu32)?;
    a.set_label(&mut crc)?;
    a.movzx(eax, byte_ptr(esi))?;
    a.xor(edx, eax)?;
    a.mov(ebx, 8)?;
    a.set_label(&mut bit)?;
    a.shr(edx, 1)?;
    a.jnc(nox)?;
    a.xor(edx, 0xEDB8_8320u32)?;
    a.set_label(&mut nox)?;
    a.dec(ebx)?;
    a.jnz(bit)?;
    a.inc(esi)?;
    a.dec(ecx)?;
    a.jnz(crc)?;
    a.mov(dword_ptr(BUF + 0x1_0000), edx)?;
    // 3. Insertion sort of the first 1024 dwords.
    a.mov(esi, 1)?;
    a.set_label(&mut outer_sort)?;
    a.mov(eax, dword_ptr(esi * 4 + BUF))?;
    a.mov(edi, esi)?;
    a.set_label(&mut inner_sort)?;
    a.test(edi, edi)?;
    a.jz(place)?;
    a.mov(edx, dword_ptr(edi * 4 + BUF - 4))?;
    a.cmp(edx, eax)?;
    a.jbe(place)?;
    a.mov(dword_ptr(edi * 4 + BUF), edx)?;
    a.dec(edi)?;
    a.jmp(inner_sort)?;
    a.set_label(&mut place)?;
    a.mov(dword_ptr(edi * 4 + BUF), eax)?;
    a.inc(esi)?;
    a.cmp(esi, 1024)?;
    a.jb(outer_sort)?;
    a.dec(ebp)?;
    a.jnz(iter)?;
    a.hlt()?;
    a.assemble(CODE as u64)
}

/// A CPU in flat 32-bit protected mode with paging by 4 MiB identity pages.
pub fn setup(mem: &mut GuestMemory, code: &[u8]) -> CpuState {
    let mut s = CpuState::reset();
    let code_d = Descriptor::new(0x00CF_9B00_0000_FFFF);
    let data_d = Descriptor::new(0x00CF_9300_0000_FFFF);
    s.cr0 = x86::cr::cr0::PE | x86::cr::cr0::ET | x86::cr::cr0::PG;
    s.cr4 = x86::cr::cr4::PSE;
    s.cr3 = PDIR;
    s.gdtr = DescTable { base: 0, limit: 0 };
    s.seg[sreg::CS] = Segment::from_descriptor(0x08, code_d);
    for i in [sreg::DS, sreg::ES, sreg::SS, sreg::FS, sreg::GS] {
        s.seg[i] = Segment::from_descriptor(0x10, data_d);
    }
    s.gpr[4] = 0x8_0000;
    s.eip = CODE;
    s.set_eflags(2);
    // Page directory: 4 MiB identity pages, present, writable, accessed, dirty.
    let pd: Vec<u8> = (0..1024u32).flat_map(|i| ((i << 22) | 0xE3).to_le_bytes()).collect();
    mem.write_phys(PDIR as u64, &pd);
    mem.write_phys(CODE as u64, code);
    s
}

pub fn run(rounds: u32, choice: exec::Choice) -> Result<ExitCode> {
    let code = program(rounds).map_err(|e| anyhow!("assembling the benchmark: {e}"))?;
    let mut mem = GuestMemory::new(16 << 20)?;
    let mut s = setup(&mut mem, &code);
    let mut recomp;
    let mut interp;
    let engine: &mut dyn Engine = match choice {
        exec::Choice::Interpreter => {
            interp = Interpreter::new();
            &mut interp
        }
        exec::Choice::Recompiler => {
            recomp = recompiler::Recompiler::new(1)?;
            &mut recomp
        }
        exec::Choice::Auto => {
            recomp = recompiler::Recompiler::new(exec::AUTO_THRESHOLD)?;
            &mut recomp
        }
    };
    let mut bus = NullBus::default();
    let t = Instant::now();
    loop {
        match engine.run(&mut s, &mut mem, &mut bus, 10_000_000) {
            Exit::Budget => continue,
            Exit::Halted => break,
            other => return Err(anyhow!("benchmark stopped unexpectedly: {other:?}\n")),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let n = engine.instructions();
    let crc = u32::from_le_bytes({
        let mut b = [0u8; 4];
        mem.read_phys(BUF as u64 + 0x1_0000, &mut b);
        b
    });
    println!(
        "{}: {n} instructions in {secs:.3} s = {:.1} MIPS (rounds {}, crc {crc:08x})",
        engine.name(),
        n as f64 / secs / 1e6,
        rounds
    );
    let report = engine.stats_report();
    if !report.is_empty() {
        println!("  {report}");
    }
    Ok(ExitCode::SUCCESS)
}
