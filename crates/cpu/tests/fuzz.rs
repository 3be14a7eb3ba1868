//! Fuzzing the interpreter with hostile guests: random bytes as code, in
//! random modes (real, 16/32-bit protected at every CPL, paging on/off,
//! virtual-8086), over random descriptor tables, IDTs, TSSs and page
//! tables. The interpreter must never panic, never hang, and always
//! return an architectural outcome. Runs for a bounded time
//! (`RINGVISOR_FUZZ_SECONDS`, default 10) from a printed seed
//! (`RINGVISOR_FUZZ_SEED` replays one).

use cpu::segment::{DescTable, Segment};
use cpu::state::sreg;
use cpu::{CpuState, Exit, Interpreter, NullBus};
use memory::GuestMemory;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};
use x86::cr::{cr0, cr4};
use x86::descriptor::Descriptor;
use x86::flags as fl;

const RAM: u64 = 4 << 20;
const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
const TSS: u32 = 0x3000;
const PDIR: u32 = 0x4000;
const PTAB: u32 = 0x5000;

/// A descriptor that is valid with some probability, random otherwise.
fn descriptor(r: &mut SmallRng) -> u64 {
    if r.random_bool(0.3) {
        return r.next_u64();
    }
    let base: u32 = if r.random_bool(0.7) { 0 } else { r.random::<u32>() & 0x003F_F000 };
    let limit: u32 = if r.random_bool(0.7) { 0xFFFFF } else { r.random::<u32>() & 0xFFFFF };
    let typ: u64 = r.random_range(0..16);
    let s: u64 = if r.random_bool(0.85) { 1 } else { 0 };
    let dpl: u64 = r.random_range(0..4);
    let p: u64 = if r.random_bool(0.9) { 1 } else { 0 };
    let db: u64 = r.random_range(0..2);
    let g: u64 = r.random_range(0..2);
    (limit as u64 & 0xFFFF)
        | ((base as u64 & 0xFF_FFFF) << 16)
        | (typ << 40)
        | (s << 44)
        | (dpl << 45)
        | (p << 47)
        | (((limit as u64 >> 16) & 0xF) << 48)
        | (db << 54)
        | (g << 55)
        | (((base as u64 >> 24) & 0xFF) << 56)
}

/// An IDT gate: mostly plausible interrupt/trap/task gates.
fn gate(r: &mut SmallRng) -> u64 {
    if r.random_bool(0.2) {
        return r.next_u64();
    }
    let sel: u64 = (r.random_range(1..8u64) << 3) | r.random_range(0..4);
    let off: u64 = r.random::<u32>() as u64 & 0x3F_FFFF;
    let typ: u64 = [5u64, 6, 7, 14, 15][r.random_range(0..5)];
    let dpl: u64 = r.random_range(0..4);
    let p: u64 = if r.random_bool(0.9) { 1 } else { 0 };
    (off & 0xFFFF) | (sel << 16) | (typ << 40) | (dpl << 45) | (p << 47) | ((off >> 16) << 48)
}

fn setup(r: &mut SmallRng, mem: &mut GuestMemory) -> CpuState {
    // Random RAM contents in the low 4 MiB, then structured tables.
    let mut junk = vec![0u8; 0x10_0000];
    r.fill_bytes(&mut junk);
    mem.write_phys(0, &junk);
    let gdt: Vec<u8> = (0..16).flat_map(|_| descriptor(r).to_le_bytes()).collect();
    mem.write_phys(GDT as u64, &gdt);
    let idt: Vec<u8> = (0..256).flat_map(|_| gate(r).to_le_bytes()).collect();
    mem.write_phys(IDT as u64, &idt);
    let pd: Vec<u32> = (0..1024)
        .map(|i| match r.random_range(0..4) {
            0 => r.random(),
            1 => (i << 22) | 0x87 | if r.random_bool(0.5) { 0x60 } else { 0 },
            _ => PTAB | 0x07,
        })
        .collect();
    mem.write_phys(PDIR as u64, &pd.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());
    let pt: Vec<u32> = (0..1024u32)
        .map(|i| {
            if r.random_bool(0.9) {
                (i << 12) | 0x07 | (r.random::<u32>() & 0x160)
            } else {
                r.random()
            }
        })
        .collect();
    mem.write_phys(PTAB as u64, &pt.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());

    let mut s = CpuState::reset();
    for g in 0..8 {
        s.gpr[g] = if r.random_bool(0.5) {
            r.random::<u32>() & 0x000F_FFFF
        } else {
            r.random()
        };
    }
    s.gdtr = DescTable {
        base: GDT,
        limit: 16 * 8 - 1,
    };
    s.idtr = DescTable {
        base: if r.random_bool(0.5) { IDT } else { 0 },
        limit: if r.random_bool(0.9) { 0x7FF } else { r.random_range(0..0x800) },
    };
    s.set_eflags((r.random::<u32>() & (fl::ARITH | fl::DF | fl::TF | fl::IF | fl::AC | fl::NT | fl::IOPL)) | 2);
    if r.random_bool(0.05) {
        s.set_eflags(s.eflags() & !fl::TF);
    }
    let mode = r.random_range(0..5);
    let code_at: u32 = r.random_range(0x10_0000..0x30_0000) & !0xF;
    let mut code = vec![0u8; 256];
    r.fill_bytes(&mut code);
    mem.write_phys(code_at as u64, &code);
    match mode {
        0 => {
            // Real mode.
            s.seg[sreg::CS].load_real((code_at >> 4) as u16);
            s.eip = code_at & 0xF;
            s.set_a20(r.random_bool(0.5));
        }
        _ => {
            s.cr0 = cr0::PE | cr0::ET | if r.random_bool(0.5) { cr0::WP } else { 0 } | if r.random_bool(0.2) { cr0::AM } else { 0 };
            if r.random_bool(0.5) {
                s.cr0 |= cr0::PG;
                s.cr3 = PDIR;
                s.cr4 = if r.random_bool(0.5) { cr4::PSE } else { 0 } | if r.random_bool(0.5) { cr4::PGE } else { 0 };
            }
            let cpl: u8 = if mode == 4 { 3 } else { r.random_range(0..4) };
            let big = mode != 2;
            let code_d = Descriptor::new(if big { 0x00CF_9B00_0000_FFFF } else { 0x000F_9B00_0000_FFFF } | ((cpl as u64) << 45));
            let data_d = Descriptor::new(if big { 0x00CF_9300_0000_FFFF } else { 0x000F_9300_0000_FFFF } | ((cpl as u64) << 45));
            s.seg[sreg::CS] = Segment::from_descriptor(0x08 | cpl as u16, code_d);
            for i in [sreg::DS, sreg::ES, sreg::SS, sreg::FS, sreg::GS] {
                s.seg[i] = Segment::from_descriptor(0x10 | cpl as u16, data_d);
            }
            s.cpl = cpl;
            s.eip = code_at;
            s.tr = Segment::from_descriptor(0x18, Descriptor::new(0x0000_8B00_0000_0067 | ((TSS as u64) << 16)));
            if mode == 4 && r.random_bool(0.5) {
                // Virtual-8086 mode.
                s.set_eflags(s.eflags() | fl::VM);
                for i in 0..6 {
                    s.seg[i].load_v86(r.random(), i == sreg::CS);
                }
                s.seg[sreg::CS].load_v86((code_at >> 4) as u16, true);
                s.eip = code_at & 0xF;
            }
        }
    }
    s
}

#[test]
fn interpreter_survives_random_code() {
    let seconds: u64 = std::env::var("RINGVISOR_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("RINGVISOR_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let single = std::env::var("RINGVISOR_FUZZ_SEED").is_ok();
    eprintln!("fuzz: seed {seed}, {seconds} s");
    let mut mem = GuestMemory::new(RAM).unwrap();
    let mut interp = Interpreter::new();
    let start = Instant::now();
    let mut cases = 0u64;
    let mut insns = 0u64;
    let mut exits = [0u64; 4];
    while (single && cases == 0) || (!single && start.elapsed() < Duration::from_secs(seconds)) {
        let case_seed = seed.wrapping_add(cases);
        let mut r = SmallRng::seed_from_u64(case_seed);
        let mut s = setup(&mut r, &mut mem);
        interp.flush();
        let mut bus = NullBus::default();
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut e = Exit::Budget;
            for _ in 0..4 {
                e = interp.run(&mut s, &mut mem, &mut bus, 500);
                if e != Exit::Budget {
                    break;
                }
            }
            e
        }));
        let exit = result.unwrap_or_else(|_| panic!("interpreter panicked: replay with RINGVISOR_FUZZ_SEED={case_seed}"));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "case took {:?}: replay with RINGVISOR_FUZZ_SEED={case_seed}",
            t.elapsed()
        );
        exits[match exit {
            Exit::Budget => 0,
            Exit::Halted => 1,
            Exit::Shutdown => 2,
            Exit::Stopped => 3,
        }] += 1;
        insns += interp.stats.instructions;
        interp.stats.instructions = 0;
        cases += 1;
    }
    eprintln!("fuzz: {cases} cases, {insns} instructions, exits budget/halted/shutdown/stopped = {exits:?}");
    assert!(cases > 0);
}
