//! Test rig shared by the x87 tests: a CPU in 32-bit flat protected mode
//! at CPL 3 with the address layout of `native32` (code at `CODE_BASE`,
//! data regions where the case puts them), identity-mapped by page tables
//! that map exactly the code image and the regions with their rights, so
//! that page faults happen where the host has them. The IDT is empty:
//! the first exception cannot be delivered and ends the run in a triple
//! fault with the state untouched, the vector kept by the interpreter.

#![allow(dead_code)]

use cpu::bus::Bus;
use cpu::segment::{DescTable, Segment};
use cpu::state::{CpuState, sreg};
use cpu::{Exit, Interpreter};
use memory::GuestMemory;
use native32::{CODE_BASE, Case, FxArea, Perm, code_end, code_image};
use std::cell::RefCell;
use std::rc::Rc;
use x86::cr::{cr0, cr4};
use x86::descriptor::attr;

/// Guest RAM: covers every address native32 cases use (below STACK_TOP).
pub const RAM: u64 = 0x3000_0000;
/// Where the page directory and page tables live (unused by cases).
const PT_BASE: u32 = 0x0800_0000;

/// A bus that records FERR# changes.
#[derive(Default, Clone)]
pub struct RecBus {
    pub ferr: Rc<RefCell<Vec<bool>>>,
}

impl Bus for RecBus {
    fn port_in(&mut self, _: u16, _: u8) -> u32 {
        u32::MAX
    }
    fn port_out(&mut self, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: u32, _: u64, _: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _: u32, _: u64, _: u8, _: u64) {}
    fn interrupt_pending(&mut self) -> bool {
        false
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        0
    }
    fn now(&mut self) -> u64 {
        0
    }
    fn fpu_error(&mut self, asserted: bool) {
        self.ferr.borrow_mut().push(asserted);
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// EIP reached the end of the code.
    Completed,
    /// The first exception: vector (EIP is in the state).
    Fault(u8),
    /// The step limit was hit.
    Stuck,
}

/// A flat segment cache (base 0, 4 GiB, DPL 3).
pub fn flat(sel: u16, code: bool) -> Segment {
    let typ = if code { 0xB } else { 0x3 };
    let a = typ | attr::S | (3 << attr::DPL_SHIFT) | attr::P | attr::DB | attr::G;
    Segment::from_parts(sel, 0, 0xFFFF_FFFF, a, true)
}

pub struct Rig {
    pub mem: GuestMemory,
    pub interp: Interpreter,
    pub bus: RecBus,
    used_pdes: Vec<u32>,
}

impl Default for Rig {
    fn default() -> Self {
        Self::new()
    }
}

impl Rig {
    pub fn new() -> Self {
        Self {
            mem: GuestMemory::new(RAM).expect("guest RAM"),
            interp: Interpreter::new(),
            bus: RecBus::default(),
            used_pdes: Vec::new(),
        }
    }

    fn map(&mut self, lin: u32, len: usize, write: bool) {
        let pages = len.div_ceil(4096) as u32;
        for k in 0..pages {
            let a = lin + k * 4096;
            let pde = a >> 22;
            let pt = PT_BASE + 0x1000 + pde * 0x1000;
            if !self.used_pdes.contains(&pde) {
                self.mem.write_phys(pt as u64, &[0u8; 4096]);
                self.mem.write_phys((PT_BASE + pde * 4) as u64, &(pt | 0x7).to_le_bytes());
                self.used_pdes.push(pde);
            }
            let pte = (a & !0xFFF) | 0x5 | if write { 0x2 } else { 0 };
            self.mem.write_phys((pt + ((a >> 12) & 0x3FF) * 4) as u64, &pte.to_le_bytes());
        }
    }

    /// Load the case into memory and build the CPU state for it.
    pub fn setup(&mut self, case: &Case) -> CpuState {
        for pde in self.used_pdes.drain(..) {
            self.mem.write_phys((PT_BASE + pde * 4) as u64, &[0; 4]);
        }
        let img = code_image(&case.code);
        self.mem.write_phys(CODE_BASE as u64, &img);
        self.map(CODE_BASE, img.len(), false);
        for r in &case.regions {
            self.mem.write_phys(r.base as u64, &r.data);
            let w = matches!(r.perm, Perm::RW | Perm::RWX);
            self.map(r.base, r.data.len(), w);
        }
        self.interp.flush();
        let mut s = CpuState::reset();
        s.cr0 = cr0::PE | cr0::MP | cr0::ET | cr0::NE | cr0::AM | cr0::WP | cr0::PG;
        s.cr3 = PT_BASE;
        s.cr4 = cr4::OSFXSR | cr4::OSXMMEXCPT;
        s.cpl = 3;
        s.seg[sreg::CS] = flat(native32::SEL_CODE32, true);
        for r in [sreg::SS, sreg::DS, sreg::ES] {
            s.seg[r] = flat(native32::SEL_DATA, false);
        }
        if case.flat_fs_gs {
            s.seg[sreg::FS] = flat(native32::SEL_DATA, false);
            s.seg[sreg::GS] = flat(native32::SEL_DATA, false);
        } else {
            s.seg[sreg::FS] = Segment::null(0);
            s.seg[sreg::GS] = Segment::null(0);
        }
        s.gdtr = DescTable { base: 0, limit: 0 };
        s.idtr = DescTable { base: 0, limit: 0 };
        s.gpr[..8].copy_from_slice(&case.state.gpr);
        s.eip = case.state.eip;
        s.set_eflags(case.state.eflags | x86::flags::IF | x86::flags::FIXED1);
        let fx = case.state.fpu.clone().unwrap_or_default();
        s.fpu.fxrstor_image(&fx.0, true).expect("valid MXCSR in the case");
        s
    }

    /// Run one instruction; `None` while the run goes on.
    pub fn step(&mut self, s: &mut CpuState, end: u32) -> Option<End> {
        if s.eip == end {
            return Some(End::Completed);
        }
        let exit = self.interp.run(s, &mut self.mem, &mut self.bus, 1);
        if exit == Exit::Shutdown {
            return Some(End::Fault(self.interp.stats.first_vector.unwrap_or(0xFF)));
        }
        if s.eip == end {
            return Some(End::Completed);
        }
        None
    }

    /// Run the case to its end or first exception.
    pub fn run(&mut self, s: &mut CpuState, case: &Case, max_steps: usize) -> End {
        let end = code_end(case.code.len());
        for _ in 0..max_steps {
            if let Some(e) = self.step(s, end) {
                return e;
            }
        }
        End::Stuck
    }

    /// The FXSAVE image of the interpreter's FPU state.
    pub fn fx(s: &CpuState) -> FxArea {
        let mut fx = FxArea::default();
        s.fpu.fxsave_image(&mut fx.0, true);
        fx
    }

    /// Read back a region's bytes.
    pub fn read(&self, base: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mem.read_phys(base as u64, &mut v);
        v
    }
}

/// A bare machine for unit tests: 1 MiB of RAM, paging off, an empty IDT
/// (the first exception ends the run with its vector), code at 0x1000.
pub struct Bare {
    pub s: CpuState,
    pub mem: GuestMemory,
    pub interp: Interpreter,
    pub bus: RecBus,
    pub end: u32,
}

/// Where `Bare` puts code, and a data area.
pub const BARE_CODE: u32 = 0x1000;
pub const BARE_DATA: u32 = 0x4000;

impl Bare {
    fn with(code: &[u8], s: CpuState) -> Self {
        let mut mem = GuestMemory::new(1 << 20).expect("guest RAM");
        mem.write_phys(BARE_CODE as u64, code);
        let mut s = s;
        s.idtr = DescTable { base: 0, limit: 0 };
        s.eip = BARE_CODE;
        s.cr0 |= cr0::NE | cr0::MP;
        s.fpu.finit();
        Self {
            s,
            mem,
            interp: Interpreter::new(),
            bus: RecBus::default(),
            end: BARE_CODE + code.len() as u32,
        }
    }

    /// Real mode, CS = DS = ES = SS = 0, SP = 0x8000.
    pub fn real(code: &[u8]) -> Self {
        let mut s = CpuState::reset();
        for r in 0..6 {
            s.seg[r].load_real(0);
        }
        s.gpr[4] = 0x8000;
        s.cr0 = cr0::ET;
        Self::with(code, s)
    }

    /// 32-bit flat protected mode at CPL 0 (CR4.OSFXSR set).
    pub fn pm32(code: &[u8]) -> Self {
        let mut s = CpuState::reset();
        let seg = |sel: u16, code: bool| {
            let typ = if code { 0xB } else { 0x3 };
            let a = typ | attr::S | attr::P | attr::DB | attr::G;
            Segment::from_parts(sel, 0, 0xFFFF_FFFF, a, true)
        };
        s.seg[sreg::CS] = seg(0x08, true);
        for r in [sreg::SS, sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
            s.seg[r] = seg(0x10, false);
        }
        s.gpr[4] = 0x8000;
        s.cr0 = cr0::PE | cr0::ET;
        s.cr4 = cr4::OSFXSR;
        Self::with(code, s)
    }

    /// 16-bit protected mode at CPL 0 (64 KiB segments based at 0).
    pub fn pm16(code: &[u8]) -> Self {
        let mut b = Self::pm32(code);
        let seg = |sel: u16, code: bool| {
            let typ = if code { 0xB } else { 0x3 };
            Segment::from_parts(sel, 0, 0xFFFF, typ | attr::S | attr::P, true)
        };
        b.s.seg[sreg::CS] = seg(0x08, true);
        for r in [sreg::SS, sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
            b.s.seg[r] = seg(0x10, false);
        }
        b
    }

    /// Replace the code (same mode and state).
    pub fn load(&mut self, code: &[u8]) {
        self.mem.write_phys(BARE_CODE as u64, code);
        self.interp.flush();
        self.s.eip = BARE_CODE;
        self.end = BARE_CODE + code.len() as u32;
    }

    /// Run to the end of the code or the first exception.
    pub fn run(&mut self) -> End {
        for _ in 0..1000 {
            if self.s.eip == self.end {
                return End::Completed;
            }
            let exit = self.interp.run(&mut self.s, &mut self.mem, &mut self.bus, 1);
            if exit == Exit::Shutdown {
                return End::Fault(self.interp.stats.first_vector.unwrap_or(0xFF));
            }
        }
        End::Stuck
    }

    pub fn bytes(&self, addr: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mem.read_phys(addr as u64, &mut v);
        v
    }

    pub fn poke(&mut self, addr: u32, data: &[u8]) {
        self.mem.write_phys(addr as u64, data);
    }
}
