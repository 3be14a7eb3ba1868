//! Random loops, for running the recompiler free (not one block at a time).
//!
//! Lockstep hands control back after every block, so the recompiler's
//! paths *between* blocks never run there: chained jumps, the jump cache,
//! and the flags a block leaves in operand form for the next one to read.
//! These guests loop, so the second pass through a loop body runs on
//! chained blocks, and their bodies are dense in flag producers and
//! consumers (Jcc, SETcc, CMOVcc, ADC/SBB, INC/DEC, PUSHF) split across
//! blocks by forward branches and calls. An engine runs one to its `HLT`;
//! the final states and memories of two engines must be equal
//! ([`run_free`]).

use crate::compare;
use crate::programs::{self, FIXED_CODE};
use cpu::{CpuState, Engine, Exit, NullBus};
use memory::GuestMemory;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Where EBX points: the data the loop bodies read and write.
pub const DATA: u32 = 0x3_0000;
/// The loop counter's offset from EBX (not written by the bodies; below
/// 0x80, a displacement byte being signed).
const COUNTER: u8 = 0x7C;
/// Subroutines the bodies call, each a few instructions and a `RET`.
const SUBROUTINES: usize = 4;

/// Registers the bodies may write: every one but EBX (the data) and ESP.
const FREE: [u8; 6] = [0, 1, 2, 5, 6, 7];

fn reg(r: &mut SmallRng) -> u8 {
    FREE[r.random_range(0..FREE.len())]
}

/// A ModRM byte for `[EBX + disp8]` with `reg` in the reg field, and the
/// displacement (any byte below the counter, so 32-bit accesses stay
/// clear of it).
fn mem(r: &mut SmallRng, reg_field: u8) -> [u8; 2] {
    [0x43 | reg_field << 3, r.random_range(0..COUNTER - 4)]
}

/// A ModRM byte for a register operand.
fn rm_reg(reg_field: u8, rm: u8) -> u8 {
    0xC0 | reg_field << 3 | rm
}

/// One random instruction that reads or writes flags, or moves data.
fn instruction(r: &mut SmallRng) -> Vec<u8> {
    let mut v = Vec::new();
    let wide = r.random_range(0..3); // 0: 8-bit, 1: 16-bit, 2: 32-bit
    if wide == 1 {
        v.push(0x66);
    }
    let w = u8::from(wide != 0);
    // 8-bit registers: AL, CL, DL (not BL, the data pointer's low byte).
    let reg8 = |r: &mut SmallRng| [0u8, 1, 2][r.random_range(0..3)];
    let pick = |r: &mut SmallRng| if wide == 0 { reg8(r) } else { reg(r) };
    match r.random_range(0..16) {
        // ALU r/m, reg or reg, r/m (ADD OR ADC SBB AND SUB XOR CMP).
        0..=3 => {
            let op = r.random_range(0..8u8);
            let dir = r.random_range(0..2u8);
            v.push(op << 3 | dir << 1 | w);
            if r.random_bool(0.3) {
                let x = pick(r);
                v.extend(mem(r, x));
            } else {
                let (a, b) = (pick(r), pick(r));
                v.push(rm_reg(a, b));
            }
        }
        // ALU with an immediate.
        4 | 5 => {
            let op = r.random_range(0..8u8);
            let dst = pick(r);
            if wide != 0 && r.random_bool(0.5) {
                v.extend([0x83, rm_reg(op, dst), r.random()]);
            } else {
                v.extend([0x80 | w, rm_reg(op, dst)]);
                let imm: u32 = if r.random_bool(0.3) {
                    [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF_FFFF][r.random_range(0..6)]
                } else {
                    r.random()
                };
                v.extend(&imm.to_le_bytes()[..[1, 2, 4][wide]]);
            }
        }
        // INC/DEC of a register or memory.
        6 => {
            let dec = r.random_range(0..2u8);
            if r.random_bool(0.3) {
                v.push(0xFE | w);
                v.extend(mem(r, dec));
            } else {
                v.extend([0xFE | w, rm_reg(dec, pick(r))]);
            }
        }
        // NEG / NOT.
        7 => v.extend([0xF6 | w, rm_reg(r.random_range(2..4), pick(r))]),
        // Shifts and rotates by 1, an immediate or CL.
        8 => {
            let op = [0u8, 1, 4, 5, 7][r.random_range(0..5)];
            match r.random_range(0..3) {
                0 => v.extend([0xD0 | w, rm_reg(op, pick(r))]),
                1 => v.extend([0xC0 | w, rm_reg(op, pick(r)), r.random_range(0..40)]),
                _ => v.extend([0xD2 | w, rm_reg(op, pick(r))]),
            }
        }
        // SETcc r/m8.
        9 => {
            v.clear();
            v.extend([0x0F, 0x90 | r.random_range(0..16u8)]);
            if r.random_bool(0.3) {
                v.extend(mem(r, 0));
            } else {
                v.push(rm_reg(0, reg8(r)));
            }
        }
        // CMOVcc r32, r/m32.
        10 => {
            v.clear();
            v.extend([0x0F, 0x40 | r.random_range(0..16u8)]);
            if r.random_bool(0.3) {
                let x = reg(r);
                v.extend(mem(r, x));
            } else {
                v.push(rm_reg(reg(r), reg(r)));
            }
        }
        // PUSHF; POP reg: the flags into a register.
        11 => {
            v.clear();
            v.extend([0x9C, 0x58 | reg(r)]);
        }
        // MOV between a register and memory.
        12 => {
            v.push(0x88 | w | r.random_range(0..2u8) << 1);
            let x = pick(r);
            v.extend(mem(r, x));
        }
        // IMUL r32, r/m32.
        13 => {
            v.clear();
            v.extend([0x0F, 0xAF, rm_reg(reg(r), reg(r))]);
        }
        // LEA and MOV reg, imm: no flags at all.
        14 => {
            v.clear();
            v.extend([0x8D, 0x44 | reg(r) << 3, 0x18 | reg(r), r.random()]);
        }
        _ => {
            v.clear();
            v.push(0xB8 | reg(r));
            v.extend(r.random::<u32>().to_le_bytes());
        }
    }
    v
}

/// A random loop body: instructions, some skipped by a forward Jcc, some
/// in subroutines called from it (their `RET` goes through the jump cache).
fn body(r: &mut SmallRng, subs: &[u32], at: u32) -> Vec<u8> {
    let items: Vec<Vec<u8>> = (0..r.random_range(4..40)).map(|_| instruction(r)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        match r.random_range(0..10) {
            // Jcc over the next one to three instructions.
            0 | 1 => {
                let n = r.random_range(1..4).min(items.len() - i);
                let skip: usize = items[i..i + n].iter().map(Vec::len).sum();
                out.extend([0x70 | r.random_range(0..16u8), skip as u8]);
                for it in &items[i..i + n] {
                    out.extend(it);
                }
                i += n;
            }
            // CALL a subroutine.
            2 => {
                let next = at + out.len() as u32 + 5;
                let target = subs[r.random_range(0..subs.len())];
                out.push(0xE8);
                out.extend(target.wrapping_sub(next).to_le_bytes());
            }
            _ => {
                out.extend(&items[i]);
                i += 1;
            }
        }
    }
    out
}

/// A looping guest from `seed` (32-bit, ring 0, flat: see
/// [`programs::flat32`]): random registers, random data at EBX, and a
/// random body run 10 to 40 times.
pub fn looped_program(seed: u64) -> (CpuState, GuestMemory) {
    let mut r = SmallRng::seed_from_u64(seed);
    // Subroutines first, at the start of the code: a JMP over them.
    let mut code = vec![0xE9, 0, 0, 0, 0];
    let mut subs = Vec::new();
    for _ in 0..SUBROUTINES {
        subs.push(FIXED_CODE + code.len() as u32);
        for _ in 0..r.random_range(0..4) {
            code.extend(instruction(&mut r));
        }
        code.push(0xC3);
    }
    let top = code.len();
    code[1..5].copy_from_slice(&(top as u32 - 5).to_le_bytes());
    let b = body(&mut r, &subs, FIXED_CODE + top as u32);
    code.extend(&b);
    // DEC DWORD [EBX+COUNTER]; JNZ top; HLT.
    code.extend([0xFF, 0x4B, COUNTER]);
    let back = top as i64 - (code.len() as i64 + 6);
    code.extend([0x0F, 0x85]);
    code.extend((back as i32).to_le_bytes());
    code.push(0xF4);
    let mut gpr: [u32; 8] = std::array::from_fn(|_| r.random());
    gpr[3] = DATA;
    gpr[4] = 0x8000;
    let (s, mut m) = programs::flat32(&code, gpr, r.random());
    let data: Vec<u8> = (0..COUNTER).map(|_| r.random()).collect();
    m.write_phys(u64::from(DATA), &data);
    m.write_phys(u64::from(DATA + u32::from(COUNTER)), &r.random_range(10u32..40).to_le_bytes());
    (s, m)
}

/// Run a guest on `engine` until it halts (or `max` instructions).
pub fn run_free(engine: &mut dyn Engine, s: &mut CpuState, m: &mut GuestMemory, max: u64) -> Exit {
    let mut bus = NullBus::default();
    let start = engine.instructions();
    loop {
        let exit = engine.run(s, m, &mut bus, 10_000);
        if s.halted || exit != Exit::Budget || engine.instructions() - start >= max {
            return exit;
        }
    }
}

/// The differences between the final states and memories of two runs.
pub fn differences(a: (&CpuState, &GuestMemory), b: (&CpuState, &GuestMemory)) -> Vec<String> {
    let mut d = compare::states(a.0, b.0);
    d.extend(compare::memory(a.1, b.1));
    d
}
