//! Runs a [`native32::Case`] in the interpreter, from the state native32
//! gives the host CPU, and reports the result in native32's own terms.
//!
//! ## The guest machine
//!
//! - 32-bit protected mode, paging on (two-level, 4 KiB pages), CPL 3.
//!   CR0 = PE | MP | ET | NE | WP | AM | PG (AM as Linux sets it, so
//!   EFLAGS.AC enables alignment checking at CPL 3).
//! - A GDT laid out as x86-64 Linux's, 16 entries: 0x08 and 0x10 kernel
//!   code, 0x18 kernel data (DPL 0), 0x23 user code and 0x2b user data
//!   (flat, 4 GiB, DPL 3), 0x33 Linux's 64-bit user code descriptor (same
//!   bits, so loading it into a data segment register or `LAR` agree), the
//!   TSS at 0x40, everything else empty. Linux's per-CPU entry 0x7b (whose
//!   limit encodes the host CPU number) is left empty; the generator never
//!   uses it. CS = 0x23; DS = ES = SS = 0x2b; FS = GS = null, as in a
//!   native32 run without `flat_fs_gs` (or 0x2b with it).
//! - Page tables that map exactly what native32 maps: the code image at
//!   [`native32::CODE_BASE`] read-only (code is readable, not writable),
//!   each region with its rights (user pages; writable for `RW`/`RWX`).
//!   Everything else is not present, so page faults carry the same error
//!   code (P, W, U) and CR2 as on the host. The I/D bit is not produced
//!   (a P6 without NX never sets it), see [`crate::compare`].
//! - System pages at [`SYS_LIN`], mapped supervisor-only: GDT, IDT, TSS,
//!   256 handlers and a ring-0 stack. The IDT gates are 32-bit interrupt
//!   gates to the ring-0 code selector with **Linux's DPLs**: 3 for #BP
//!   (3), #OF (4) and 0x80, 0 for everything else — so `INT n` with any
//!   other `n` raises #GP(n*8+2) in the interpreter exactly as on the host.
//! - Handler `v` is a `HLT` at `SYS_LIN + HANDLERS + 16 v`. An exception at
//!   CPL 3 switches to the TSS's ring-0 stack and lands there; the harness
//!   sees CPL 0, reads the vector from the handler address, and the error
//!   code (the frame is 6 dwords instead of 5), the faulting EIP, CS,
//!   EFLAGS, the user ESP and SS from the ring-0 frame. Landing anywhere
//!   else at CPL 0, a triple fault, or a malformed frame is reported as
//!   [`Outcome::Crashed`], so a broken delivery cannot pass for a result.
//!
//! The interpreter runs one instruction per call (budget 1) until EIP
//! reaches [`native32::code_end`] at CPL 3 (completion: the exit sentinel
//! is never executed), an exception has been delivered (CPL 0; the `HLT`
//! is not executed), or the step budget runs out (a hang, reported as
//! [`Outcome::Timeout`]).

use cpu::segment::{DescTable, Segment};
use cpu::state::{reg, sreg};
use cpu::{CpuState, Exit, Interpreter, NullBus};
use memory::GuestMemory;
use native32::{Case, Fault, Outcome, Perm, Snapshot, Sregs, State32};
use x86::cr::cr0;
use x86::descriptor::{attr, seg as segtype, sys};
use x86::flags as fl;
use x86::paging as pg;

/// Linear address of the system pages (GDT, IDT, TSS, handlers, ring-0
/// stack). Far from every address native32 and the generator use, and not
/// a round number that arithmetic on random registers tends to produce (a
/// user access here would see P = 1 where the host sees P = 0).
pub const SYS_LIN: u32 = 0xD3A5_C000;
/// Offset of the GDT in the system pages.
const GDT_OFF: u32 = 0x0000;
/// Offset of the IDT.
const IDT_OFF: u32 = 0x1000;
/// Offset of the TSS.
const TSS_OFF: u32 = 0x2000;
/// Offset of the exception handlers (one `HLT` per vector).
pub const HANDLERS_OFF: u32 = 0x3000;
/// Distance between two handlers.
pub const HANDLER_STRIDE: u32 = 16;
/// Offset of the ring-0 stack page; ESP0 is the end of it.
const STACK0_OFF: u32 = 0x4000;
/// Number of system pages.
const SYS_PAGES: u32 = 5;
/// Initial ring-0 stack pointer.
pub const ESP0: u32 = SYS_LIN + STACK0_OFF + 0x1000;

/// Ring-0 code selector.
pub const SEL_KCODE: u16 = 0x10;
/// Ring-0 data (and stack) selector.
pub const SEL_KDATA: u16 = 0x18;
/// The TSS selector.
pub const SEL_TSS: u16 = 0x40;
/// GDT entries, as many as x86-64 Linux's GDT has (so selectors beyond
/// it raise #GP alike).
const GDT_ENTRIES: u32 = 16;

/// Physical address of the page directory.
const PD_PHYS: u32 = 0x1000;

/// Steps (instructions; one string-instruction chunk counts as one) a
/// case may take before it is declared hung.
pub const DEFAULT_STEP_BUDGET: u64 = 200_000;

/// Descriptor attribute words (bits 40-55 of a descriptor).
const ATTR_CODE: u16 = attr::P | attr::S | attr::DB | attr::G | (segtype::CODE | segtype::READABLE | segtype::ACCESSED) as u16;
const ATTR_DATA: u16 = attr::P | attr::S | attr::DB | attr::G | (segtype::WRITABLE | segtype::ACCESSED) as u16;
const DPL3: u16 = 3 << attr::DPL_SHIFT;

/// What the interpreter did with a case.
#[derive(Clone, Debug)]
pub struct InterpRun {
    /// The result in native32's terms (`Completed` or `Exception`; `Timeout`
    /// when the step budget ran out; `Crashed` for a triple fault or a
    /// delivery the harness cannot read).
    pub outcome: Outcome,
    /// Instructions executed (calls of the interpreter with budget 1).
    pub steps: u64,
}

/// Flat descriptor bytes from an attribute word.
fn descriptor(base: u32, limit: u32, attr_word: u16) -> u64 {
    let limit = if attr_word & attr::G != 0 { limit >> 12 } else { limit };
    let a = u64::from(attr_word);
    u64::from(limit & 0xFFFF)
        | (u64::from(base & 0xFF_FFFF) << 16)
        | ((a & 0xFF) << 40)
        | (u64::from((limit >> 16) & 0xF) << 48)
        | (((a >> 12) & 0xF) << 52)
        | (u64::from(base >> 24) << 56)
}

/// An IDT gate.
fn gate(selector: u16, offset: u32, typ: u8, dpl: u8) -> u64 {
    u64::from(offset & 0xFFFF) | (u64::from(selector) << 16) | (u64::from(0x80 | (dpl << 5) | typ) << 40) | (u64::from(offset >> 16) << 48)
}

/// The IDT DPLs of x86-64 Linux: user-callable gates for INT3, INTO and
/// the 32-bit system call vector, supervisor-only everywhere else.
pub fn linux_gate_dpl(vector: u8) -> u8 {
    match vector {
        3 | 4 | 0x80 => 3,
        _ => 0,
    }
}

/// Builds the guest: memory, page tables, system structures, CPU state.
struct Builder {
    mem: GuestMemory,
    next_phys: u32,
    /// Physical address of the page table of each directory slot.
    tables: Vec<(u32, u32)>,
}

impl Builder {
    fn alloc(&mut self) -> u32 {
        let p = self.next_phys;
        self.next_phys += 0x1000;
        p
    }

    fn write_u32(&mut self, phys: u32, v: u32) {
        self.mem.write_phys(u64::from(phys), &v.to_le_bytes());
    }

    fn write_u64(&mut self, phys: u32, v: u64) {
        self.mem.write_phys(u64::from(phys), &v.to_le_bytes());
    }

    /// Maps the page at `lin` to a fresh physical page; returns it.
    fn map(&mut self, lin: u32, flags: u32) -> u32 {
        let pdi = lin >> 22;
        let pt = match self.tables.iter().find(|&&(i, _)| i == pdi) {
            Some(&(_, pt)) => pt,
            None => {
                let pt = self.alloc();
                self.tables.push((pdi, pt));
                self.write_u32(PD_PHYS + pdi * 4, pt | pg::P | pg::RW | pg::US);
                pt
            }
        };
        let page = self.alloc();
        let pti = (lin >> 12) & 0x3FF;
        self.write_u32(pt + pti * 4, page | flags | pg::P);
        page
    }

    /// Maps `data` (rounded up to pages) at `lin`; returns the physical
    /// page of each linear page.
    fn map_bytes(&mut self, lin: u32, data: &[u8], flags: u32) -> Vec<u32> {
        let pages = data.len().div_ceil(0x1000).max(1);
        let mut phys = Vec::with_capacity(pages);
        for k in 0..pages {
            let p = self.map(lin + k as u32 * 0x1000, flags);
            let chunk = &data[(k * 0x1000).min(data.len())..((k + 1) * 0x1000).min(data.len())];
            self.mem.write_phys(u64::from(p), chunk);
            phys.push(p);
        }
        phys
    }
}

/// A guest set up for one case, ready to run.
pub struct Guest {
    pub state: CpuState,
    pub mem: GuestMemory,
    /// Physical pages of each region of the case, in order.
    region_pages: Vec<Vec<u32>>,
    /// Physical page of the ring-0 stack.
    stack0_phys: u32,
    region_lens: Vec<usize>,
    end_eip: u32,
}

impl Guest {
    /// Build the guest for `case` (the case must be valid for native32).
    pub fn new(case: &Case) -> Guest {
        let image = native32::code_image(&case.code);
        let mut pages = 2 + SYS_PAGES as usize + image.len() / 0x1000 + 8;
        for r in &case.regions {
            pages += r.data.len().div_ceil(0x1000) + 1;
        }
        let size = (pages as u64 + 8) * 0x1000;
        let mem = GuestMemory::new(size).expect("guest memory for a hostdiff case");
        let mut b = Builder {
            mem,
            next_phys: PD_PHYS + 0x1000,
            tables: Vec::new(),
        };

        // System pages (supervisor, writable).
        let sys: Vec<u32> = (0..SYS_PAGES).map(|k| b.map(SYS_LIN + k * 0x1000, pg::RW)).collect();
        let gdt = sys[(GDT_OFF / 0x1000) as usize];
        let idt = sys[(IDT_OFF / 0x1000) as usize];
        let tss = sys[(TSS_OFF / 0x1000) as usize];
        let handlers = sys[(HANDLERS_OFF / 0x1000) as usize];
        let stack0 = sys[(STACK0_OFF / 0x1000) as usize];
        let flat = 0xFFFF_FFFF;
        let entries = [
            (0x08, descriptor(0, flat, ATTR_CODE)),
            (0x10, descriptor(0, flat, ATTR_CODE)),
            (0x18, descriptor(0, flat, ATTR_DATA)),
            (0x20, descriptor(0, flat, ATTR_CODE | DPL3)),
            (0x28, descriptor(0, flat, ATTR_DATA | DPL3)),
            // Linux's __USER_CS: 64-bit (L = 1, D = 0) code, DPL 3.
            (0x30, 0x00AF_FB00_0000_FFFF),
            (0x40, descriptor(SYS_LIN + TSS_OFF, 0x67, attr::P | u16::from(sys::TSS32_BUSY))),
        ];
        for (sel, d) in entries {
            b.write_u64(gdt + sel, d);
        }
        for v in 0..=255u8 {
            let handler = SYS_LIN + HANDLERS_OFF + u32::from(v) * HANDLER_STRIDE;
            b.write_u64(idt + u32::from(v) * 8, gate(SEL_KCODE, handler, sys::INT_GATE32, linux_gate_dpl(v)));
        }
        b.mem.write_phys(u64::from(handlers), &[0xF4; 0x1000]);
        // TSS: ESP0, SS0; the I/O map base beyond the limit (no bitmap, so
        // IN/OUT at CPL 3 > IOPL raise #GP(0), as Linux's all-ones map does).
        b.write_u32(tss + 4, ESP0);
        b.write_u32(tss + 8, u32::from(SEL_KDATA));
        b.write_u32(tss + 0x64, 0x68 << 16);

        // User pages.
        b.map_bytes(native32::CODE_BASE, &image, pg::US);
        let mut region_pages = Vec::new();
        for r in &case.regions {
            let flags = match r.perm {
                Perm::R | Perm::RX => pg::US,
                Perm::RW | Perm::RWX => pg::US | pg::RW,
            };
            region_pages.push(b.map_bytes(r.base, &r.data, flags));
        }

        let mut s = CpuState::reset();
        s.cr0 = cr0::PE | cr0::MP | cr0::ET | cr0::NE | cr0::WP | cr0::AM | cr0::PG;
        s.cr3 = PD_PHYS;
        s.cr4 = 0;
        s.gdtr = DescTable {
            base: SYS_LIN + GDT_OFF,
            limit: GDT_ENTRIES * 8 - 1,
        };
        s.idtr = DescTable {
            base: SYS_LIN + IDT_OFF,
            limit: 256 * 8 - 1,
        };
        s.ldtr = Segment::null(0);
        s.tr = Segment::from_parts(SEL_TSS, SYS_LIN + TSS_OFF, 0x67, attr::P | u16::from(sys::TSS32_BUSY), true);
        s.seg[sreg::CS] = Segment::from_parts(native32::SEL_CODE32, 0, flat, ATTR_CODE | DPL3, true);
        let data = Segment::from_parts(native32::SEL_DATA, 0, flat, ATTR_DATA | DPL3, true);
        s.seg[sreg::SS] = data;
        s.seg[sreg::DS] = data;
        s.seg[sreg::ES] = data;
        let fsgs = if case.flat_fs_gs { data } else { Segment::null(0) };
        s.seg[sreg::FS] = fsgs;
        s.seg[sreg::GS] = fsgs;
        s.cpl = 3;
        s.eip = case.state.eip;
        s.gpr[..8].copy_from_slice(&case.state.gpr);
        // What native32 can load from ring 3: IF = 1, IOPL = 0, no VM/VIF/VIP.
        let settable = fl::ARITH | fl::TF | fl::DF | fl::NT | fl::RF | fl::AC | fl::ID;
        s.set_eflags((case.state.eflags & settable) | fl::IF | fl::FIXED1);

        Guest {
            state: s,
            mem: b.mem,
            region_pages,
            stack0_phys: stack0,
            region_lens: case.regions.iter().map(|r| r.data.len()).collect(),
            end_eip: native32::code_end(case.code.len()),
        }
    }

    fn read_phys_u32(&self, phys: u32) -> u32 {
        let mut b = [0u8; 4];
        self.mem.read_phys(u64::from(phys), &mut b);
        u32::from_le_bytes(b)
    }

    /// Contents of the case's regions now.
    fn regions(&self) -> Vec<Vec<u8>> {
        self.region_pages
            .iter()
            .zip(&self.region_lens)
            .map(|(pages, &len)| {
                let mut v = vec![0u8; len];
                for (k, chunk) in v.chunks_mut(0x1000).enumerate() {
                    self.mem.read_phys(u64::from(pages[k]), chunk);
                }
                v
            })
            .collect()
    }

    fn sregs(&self) -> Sregs {
        let s = &self.state;
        Sregs {
            es: s.seg[sreg::ES].selector,
            cs: s.seg[sreg::CS].selector,
            ss: s.seg[sreg::SS].selector,
            ds: s.seg[sreg::DS].selector,
            fs: s.seg[sreg::FS].selector,
            gs: s.seg[sreg::GS].selector,
        }
    }

    fn snapshot(&self, eip: u32, eflags: u32, esp: u32) -> Snapshot {
        let mut gpr = [0u32; 8];
        gpr.copy_from_slice(&self.state.gpr[..8]);
        gpr[reg::ESP] = esp;
        Snapshot {
            state: State32 {
                gpr,
                eip,
                eflags,
                fpu: None,
            },
            sregs: self.sregs(),
            memory: self.regions(),
        }
    }

    /// Runs in `mode` to completion, an exception, or `budget`
    /// instructions.
    pub fn run_mode(&mut self, budget: u64, mode: Mode) -> InterpRun {
        match mode {
            Mode::Step => self.run(budget),
            Mode::Block => self.run_blocks(budget),
        }
    }

    /// [`Mode::Block`]: one call of the interpreter with the whole budget.
    /// The run ends at the `HLT` of the handler of the first exception;
    /// completion shows as the exit sentinel's far jump to Linux's 64-bit
    /// selector 0x33, which the harness's GDT has as 16-bit code (legacy
    /// mode ignores L), followed by a fetch fault at
    /// [`native32::EXIT_STUB_ADDR`] — any exception with CS = 0x33 in its
    /// frame.
    pub fn run_blocks(&mut self, budget: u64) -> InterpRun {
        let mut interp = Interpreter::new();
        let mut bus = NullBus::default();
        let exit = interp.run(&mut self.state, &mut self.mem, &mut bus, budget);
        let steps = interp.stats.instructions;
        let outcome = match exit {
            Exit::Halted if self.state.cpl == 0 => {
                // EIP is after the handler's HLT.
                self.state.eip = self.state.eip.wrapping_sub(1);
                match self.delivered() {
                    Outcome::Exception { snapshot, .. } if snapshot.sregs.cs == native32::SEL_CODE64 => {
                        let mut snap = snapshot;
                        snap.state.eip = self.end_eip;
                        // The fetch fault pushed RF; the host's PUSHFQ
                        // after the sentinel reads it as 0.
                        snap.state.eflags &= !fl::RF;
                        snap.sregs.cs = native32::SEL_CODE32;
                        Outcome::Completed(snap)
                    }
                    other => other,
                }
            }
            Exit::Budget => Outcome::Timeout,
            Exit::Shutdown => Outcome::Crashed {
                reason: "interpreter: triple fault (shutdown)".into(),
            },
            other => Outcome::Crashed {
                reason: format!("interpreter: unexpected exit {other:?}"),
            },
        };
        InterpRun { outcome, steps }
    }

    /// [`Mode::Step`]: runs to completion, an exception, or `budget` steps.
    pub fn run(&mut self, budget: u64) -> InterpRun {
        let mut interp = Interpreter::new();
        let mut bus = NullBus::default();
        let mut steps = 0u64;
        loop {
            if self.state.cpl == 0 {
                return InterpRun {
                    outcome: self.delivered(),
                    steps,
                };
            }
            if self.state.eip == self.end_eip {
                let s = &self.state;
                let snap = self.snapshot(s.eip, s.eflags(), s.gpr[reg::ESP]);
                return InterpRun {
                    outcome: Outcome::Completed(snap),
                    steps,
                };
            }
            if steps >= budget {
                return InterpRun {
                    outcome: Outcome::Timeout,
                    steps,
                };
            }
            let exit = interp.run(&mut self.state, &mut self.mem, &mut bus, 1);
            steps += 1;
            match exit {
                Exit::Budget => {}
                Exit::Shutdown => {
                    return InterpRun {
                        outcome: Outcome::Crashed {
                            reason: "interpreter: triple fault (shutdown)".into(),
                        },
                        steps,
                    };
                }
                other => {
                    return InterpRun {
                        outcome: Outcome::Crashed {
                            reason: format!("interpreter: unexpected exit {other:?} at CPL 3"),
                        },
                        steps,
                    };
                }
            }
        }
    }

    /// The state after an exception was delivered to a ring-0 handler.
    fn delivered(&self) -> Outcome {
        let s = &self.state;
        let crash = |reason: String| Outcome::Crashed { reason };
        let off = s.eip.wrapping_sub(SYS_LIN + HANDLERS_OFF);
        if off >= 0x1000 || !off.is_multiple_of(HANDLER_STRIDE) || s.seg[sreg::CS].selector != SEL_KCODE {
            return crash(format!(
                "CPL 0 at {:04x}:{:#x}, not at a handler entry",
                s.seg[sreg::CS].selector,
                s.eip
            ));
        }
        let vector = (off / HANDLER_STRIDE) as u8;
        let esp = s.gpr[reg::ESP];
        let words = ESP0.wrapping_sub(esp) / 4;
        if !(words == 5 || words == 6) || !ESP0.wrapping_sub(esp).is_multiple_of(4) {
            return crash(format!("vector {vector}: ring-0 ESP {esp:#x}, not a frame"));
        }
        let frame = self.stack0_phys + (esp - (SYS_LIN + STACK0_OFF));
        let at = |k: u32| self.read_phys_u32(frame + 4 * k);
        let (error_code, base) = if words == 6 { (at(0), 1) } else { (0, 0) };
        let eip = at(base);
        let cs = at(base + 1);
        let eflags = at(base + 2);
        let user_esp = at(base + 3);
        let ss = at(base + 4);
        let mut snap = self.snapshot(eip, eflags, user_esp);
        // The selectors at the time of the exception (CS/SS were switched).
        snap.sregs.cs = cs as u16;
        snap.sregs.ss = ss as u16;
        Outcome::Exception {
            fault: Fault {
                vector,
                error_code,
                eip,
                fault_addr: (vector == x86::exception::PF).then_some(s.cr2),
                signal: 0,
                si_code: 0,
                si_addr: 0,
                syscall: None,
            },
            snapshot: snap,
        }
    }
}

/// How the harness drives the interpreter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One instruction per call (budget 1): the interpreter's
    /// single-instruction path; the harness stops exactly at
    /// [`native32::code_end`].
    Step,
    /// One call for the whole program: the decoded-block fast path, as the
    /// machine runs it; see [`Guest::run_blocks`].
    Block,
}

/// Runs `case` in the interpreter with the given step budget, one
/// instruction per call ([`Mode::Step`]).
pub fn run_interp(case: &Case, budget: u64) -> InterpRun {
    Guest::new(case).run(budget)
}

/// Runs `case` in the interpreter in `mode`.
pub fn run_interp_mode(case: &Case, budget: u64, mode: Mode) -> InterpRun {
    Guest::new(case).run_mode(budget, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use native32::{Region, STACK_TOP};

    fn case(code: &[u8]) -> Case {
        let mut c = Case::new(code.to_vec());
        c.regions.push(Region::stack(0x1000));
        c.state.gpr[native32::ESP] = STACK_TOP - 0x10;
        c.state.gpr[native32::EAX] = 0xFFFF_FFFF;
        c.state.gpr[native32::EBX] = 1;
        c
    }

    #[test]
    fn both_modes_complete_at_code_end() {
        // add eax, ebx; push eax
        let c = case(&[0x01, 0xD8, 0x50]);
        for mode in [Mode::Step, Mode::Block] {
            let r = run_interp_mode(&c, 1000, mode);
            let s = r.outcome.completed().expect("completes");
            assert_eq!(s.state.eip, native32::code_end(3), "{mode:?}");
            assert_eq!(s.state.gpr[native32::EAX], 0, "{mode:?}");
            assert_eq!(s.state.gpr[native32::ESP], STACK_TOP - 0x14, "{mode:?}");
            assert_eq!(s.state.eflags & fl::ARITH, fl::CF | fl::ZF | fl::PF | fl::AF);
            assert_eq!(s.sregs.cs, native32::SEL_CODE32);
            assert_eq!(s.memory[0][0xFEC..0xFF0], [0, 0, 0, 0]);
        }
    }

    #[test]
    fn exceptions_are_read_from_the_ring0_frame() {
        // nop; ud2
        let c = case(&[0x90, 0x0F, 0x0B]);
        for mode in [Mode::Step, Mode::Block] {
            let r = run_interp_mode(&c, 1000, mode);
            let f = r.outcome.fault().expect("faults");
            assert_eq!((f.vector, f.eip), (6, native32::CODE_BASE + 1), "{mode:?}");
        }
        // int 0x21 (DPL 0 gate, as in Linux) -> #GP(0x21 * 8 + 2)
        let c = case(&[0xCD, 0x21]);
        for mode in [Mode::Step, Mode::Block] {
            let f = run_interp_mode(&c, 1000, mode).outcome.fault().cloned();
            let f = f.expect("faults");
            assert_eq!((f.vector, f.error_code), (13, 0x21 * 8 + 2), "{mode:?}");
        }
        // A write to the read-only code page: #PF P|W|U with CR2.
        let c = case(&[0xA3, 0x00, 0x00, 0x00, 0x10]); // mov [0x10000000], eax
        let f = run_interp(&c, 1000).outcome.fault().cloned().expect("faults");
        assert_eq!((f.vector, f.error_code, f.fault_addr), (14, 7, Some(native32::CODE_BASE)));
    }
}
