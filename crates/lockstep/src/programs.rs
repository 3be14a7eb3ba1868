//! Guests for lockstep runs (and for fuzzing the engines).

use cpu::CpuState;
use cpu::segment::{DescTable, Segment};
use cpu::state::sreg;
use memory::GuestMemory;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use x86::cr::{cr0, cr4};
use x86::descriptor::Descriptor;
use x86::flags as fl;

/// A random user-level program from the host-diff generator (32-bit
/// protected mode, CPL 3, paging; every integer instruction family,
/// faults, prefixes, memory edge cases) with up to `items` instructions.
///
/// The host-diff harness ends a program at its first exception (every
/// handler is a `HLT`). Here the handlers of the trap-type vectors that
/// programs raise all the time (#DB from TF, #BP, #OF) return with `IRET`
/// instead, so a program runs on after them and delivery and return are
/// compared on every single-stepped instruction; faults still end it.
pub fn user_program(seed: u64, items: u32) -> (CpuState, GuestMemory) {
    use hostdiff::machine::{HANDLER_STRIDE, HANDLERS_OFF, SYS_LIN};
    let p = hostdiff::program::generate(seed, items);
    let mut g = hostdiff::machine::Guest::new(&p.case);
    let handlers = crate::compare::linear_to_phys(&g.state, &g.mem, SYS_LIN + HANDLERS_OFF).expect("the harness maps its handlers");
    for v in [1u32, 3, 4] {
        g.mem.write_phys(u64::from(handlers + v * HANDLER_STRIDE), &[0xCF]);
    }
    (g.state, g.mem)
}

/// A random machine: random bytes as code in a random mode (real mode,
/// 16/32-bit protected mode at any CPL, paging on or off, virtual-8086),
/// over random descriptor tables, IDT, TSS and page tables. Code and data
/// share the low megabytes, so code writes into its own pages.
pub fn random_machine(seed: u64) -> (CpuState, GuestMemory) {
    let mut r = SmallRng::seed_from_u64(seed);
    let mut mem = GuestMemory::new(RAM).expect("guest RAM for a random machine");
    let s = setup(&mut r, &mut mem);
    (s, mem)
}

/// RAM of a random machine.
pub const RAM: u64 = 4 << 20;
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

/// Fill `mem` and build a CPU state for a random machine.
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
            // FS and GS often have a base, as Linux's per-CPU segment has
            // (sometimes near 4 GiB, so base + offset wraps).
            for i in [sreg::FS, sreg::GS] {
                if r.random_bool(0.5) {
                    let base: u32 = if r.random_bool(0.8) {
                        r.random::<u32>() & 0x003F_FFF0
                    } else {
                        r.random::<u32>() | 0xFFF0_0000
                    };
                    let raw = data_d.raw | ((base as u64 & 0xFF_FFFF) << 16) | (((base as u64 >> 24) & 0xFF) << 56);
                    s.seg[i] = Segment::from_descriptor(0x10 | cpl as u16, Descriptor::new(raw));
                }
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

/// Where [`real16`] and [`flat32`] put the code.
pub const FIXED_CODE: u32 = 0x1_0000;
/// Where the exception handlers of [`flat32`] are: vector `v` at
/// `FIXED_HANDLERS + 16 v`, each a `HLT`.
pub const FIXED_HANDLERS: u32 = 0x8000;
/// A data segment with base 0x2_0000 and limit 0xFFFF in the GDT of
/// [`flat32`] (selector 0x18), for tests that need a non-flat one.
pub const SEL_SMALL_DATA: u16 = 0x18;

/// A real-mode guest running `code` at 0x1000:0000 with the given
/// registers (EAX..EDI) and arithmetic flags. The interrupt vector table
/// is all zeros (every vector lands at 0:0, on zero bytes).
pub fn real16(code: &[u8], gpr: [u32; 8], flags: u32) -> (CpuState, GuestMemory) {
    let mut mem = GuestMemory::new(RAM).expect("guest RAM for a fixed guest");
    mem.write_phys(u64::from(FIXED_CODE), code);
    let mut s = CpuState::reset();
    s.seg[sreg::CS].load_real((FIXED_CODE >> 4) as u16);
    s.eip = 0;
    s.gpr[..8].copy_from_slice(&gpr);
    s.set_eflags((flags & fl::ARITH) | 2);
    (s, mem)
}

/// A 32-bit ring-0 guest with flat segments, paging off, running `code` at
/// [`FIXED_CODE`]. Every IDT gate leads to a `HLT`, so an exception shows
/// as a halt at its handler; the GDT also holds [`SEL_SMALL_DATA`].
pub fn flat32(code: &[u8], gpr: [u32; 8], flags: u32) -> (CpuState, GuestMemory) {
    let mut mem = GuestMemory::new(RAM).expect("guest RAM for a fixed guest");
    mem.write_phys(u64::from(FIXED_CODE), code);
    let code_d = 0x00CF_9B00_0000_FFFFu64;
    let data_d = 0x00CF_9300_0000_FFFFu64;
    let small_d = 0x0040_9302_0000_FFFFu64;
    let gdt: Vec<u8> = [0, code_d, data_d, small_d].iter().flat_map(|d| d.to_le_bytes()).collect();
    mem.write_phys(u64::from(GDT), &gdt);
    let idt: Vec<u8> = (0..256u64)
        .flat_map(|v| {
            let off = u64::from(FIXED_HANDLERS) + 16 * v;
            ((off & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | ((off >> 16) << 48)).to_le_bytes()
        })
        .collect();
    mem.write_phys(u64::from(IDT), &idt);
    mem.write_phys(u64::from(FIXED_HANDLERS), &[0xF4; 256 * 16]);
    let mut s = CpuState::reset();
    s.cr0 = cr0::PE | cr0::ET;
    s.gdtr = DescTable {
        base: GDT,
        limit: 4 * 8 - 1,
    };
    s.idtr = DescTable { base: IDT, limit: 0x7FF };
    s.seg[sreg::CS] = Segment::from_descriptor(0x08, Descriptor::new(code_d));
    for i in [sreg::DS, sreg::ES, sreg::SS, sreg::FS, sreg::GS] {
        s.seg[i] = Segment::from_descriptor(0x10, Descriptor::new(data_d));
    }
    s.cpl = 0;
    s.eip = FIXED_CODE;
    s.gpr[..8].copy_from_slice(&gpr);
    s.set_eflags((flags & fl::ARITH) | 2);
    (s, mem)
}
