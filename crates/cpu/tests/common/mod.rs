//! A small protected-mode PC for the architectural tests: guest memory with
//! a GDT (flat code and data for rings 0-3), an IDT whose every vector
//! points at a one-byte `HLT` stub, a 32-bit TSS with stacks for rings 0-2
//! and a full I/O permission bitmap, optional identity-mapped page tables,
//! and helpers to assemble code, run it and inspect the exception frame.
//!
//! A handler stub is just `HLT`, so after a run the test sees which vector
//! was delivered from EIP (stub base + 8 * vector + 1) and reads the frame
//! the processor pushed from SS:ESP.

#![allow(dead_code)]

use cpu::segment::Segment;
use cpu::state::{reg, sreg};
use cpu::{Bus, CpuState, Exit, Interpreter};
use iced_x86::code_asm::{CodeAssembler, CodeLabel};
use iced_x86::{BlockEncoderOptions, IcedError};
use memory::GuestMemory;
use x86::descriptor::Descriptor;

pub use x86::exception as vec;
pub use x86::flags as fl;

/// Guest RAM size.
pub const RAM: u64 = 8 << 20;

pub const GDT: u32 = 0x1000;
/// GDT limit: 256 descriptors.
pub const GDT_LIMIT: u32 = 0x7FF;
pub const IDT: u32 = 0x2000;
pub const IDT_LIMIT: u32 = 0x7FF;
/// Handler stubs: vector v's handler is the HLT at `STUBS + 8 * v`.
pub const STUBS: u32 = 0x3000;
/// The main TSS (32-bit) and its I/O bitmap at offset `IOMAP_OFF`.
pub const TSS: u32 = 0x4000;
pub const IOMAP_OFF: u32 = 0x68;
/// TSS limit: the bitmap for all 65536 ports plus the terminating byte.
pub const TSS_LIMIT: u32 = IOMAP_OFF + 0x2000;
/// Spare TSS areas for task-switch tests.
pub const TSS2: u32 = 0x7000;
pub const TSS3: u32 = 0x7200;
pub const TSS4: u32 = 0x7400;
/// Initial ring-0 stack top (ring-0 tests run on it).
pub const STACK0_INIT: u32 = 0x8800;
/// Stack tops the TSS gives for rings 0, 1, 2, and the ring-3 stack.
pub const STACK0: u32 = 0x9000;
pub const STACK1: u32 = 0xA000;
pub const STACK2: u32 = 0xB000;
pub const STACK3: u32 = 0xC000;
/// Scratch data.
pub const DATA: u32 = 0xD000;
/// Where test code is assembled.
pub const CODE: u32 = 0x10000;
/// Page directory and the page tables that identity-map the first 8 MiB.
pub const PD: u32 = 0x10_0000;
pub const PT0: u32 = 0x10_1000;
pub const PT1: u32 = 0x10_2000;

/// Selectors of the standard GDT.
pub const CODE0: u16 = 0x08;
pub const DATA0: u16 = 0x10;
pub const CODE3: u16 = 0x1B;
pub const DATA3: u16 = 0x23;
pub const TSS_SEL: u16 = 0x28;
pub const CODE1: u16 = 0x31;
pub const DATA1: u16 = 0x39;
pub const CODE2: u16 = 0x42;
pub const DATA2: u16 = 0x4A;
/// 16-bit flat-ish ring-0 code (limit 0xFFFF), for 16-bit gates.
pub const CODE0_16: u16 = 0x50;
/// First GDT index free for tests (selector 0x80).
pub const FREE: u16 = 0x80;

/// Access bytes (descriptor byte 5).
pub mod acc {
    pub const CODE0: u8 = 0x9B;
    pub const DATA0: u8 = 0x93;
    pub const CODE3: u8 = 0xFB;
    pub const DATA3: u8 = 0xF3;
    pub const TSS32: u8 = 0x89;
    pub const TSS32_BUSY: u8 = 0x8B;
    pub const TSS16: u8 = 0x81;
    pub const LDT: u8 = 0x82;
    /// Present bit and DPL field.
    pub const P: u8 = 0x80;
    pub const fn dpl(d: u8) -> u8 {
        d << 5
    }
}

/// Flag nibbles (descriptor bits 52-55): granularity and D/B.
pub const G32: u8 = 0xC;
pub const BYTE32: u8 = 0x4;
pub const BYTE16: u8 = 0x0;

/// Gate types.
pub mod gate {
    pub const TASK: u8 = 5;
    pub const INT16: u8 = 6;
    pub const TRAP16: u8 = 7;
    pub const CALL16: u8 = 4;
    pub const CALL32: u8 = 12;
    pub const INT32: u8 = 14;
    pub const TRAP32: u8 = 15;
}

/// A code/data/system segment descriptor. `limit` is the raw 20-bit field,
/// `access` byte 5, `flags` the G/D/L/AVL nibble.
pub const fn seg_desc(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xFFFF)
        | ((base as u64 & 0xFF_FFFF) << 16)
        | ((access as u64) << 40)
        | (((limit as u64 >> 16) & 0xF) << 48)
        | (((flags & 0xF) as u64) << 52)
        | (((base >> 24) as u64) << 56)
}

/// A flat 4 GiB segment descriptor with the given access byte.
pub const fn flat(access: u8) -> u64 {
    seg_desc(0, 0xFFFFF, access, G32)
}

/// A present gate descriptor.
pub const fn gate_desc(sel: u16, off: u32, typ: u8, dpl: u8, params: u8) -> u64 {
    let lo = (off & 0xFFFF) | ((sel as u32) << 16);
    let hi = (off & 0xFFFF_0000) | 0x8000 | ((dpl as u32 & 3) << 13) | ((typ as u32) << 8) | (params as u32 & 0x1F);
    lo as u64 | ((hi as u64) << 32)
}

/// The descriptor with its present bit cleared.
pub const fn not_present(d: u64) -> u64 {
    d & !(1 << 47)
}

/// Linear address of vector `v`'s stub.
pub const fn stub(v: u8) -> u32 {
    STUBS + 8 * v as u32
}

/// Assemble with iced's code assembler at `base`; returns the bytes and the
/// addresses of the labels the closure returns.
pub fn asm(bitness: u32, base: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<Vec<CodeLabel>, IcedError>) -> (Vec<u8>, Vec<u32>) {
    let mut a = CodeAssembler::new(bitness).expect("assembler");
    let labels = f(&mut a).expect("assembling");
    let r = a
        .assemble_options(base as u64, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .expect("encoding");
    let ips = labels.iter().map(|l| r.label_ip(l).expect("label") as u32).collect();
    (r.inner.code_buffer, ips)
}

/// A bus that records port writes, answers reads with a fixed value and
/// can hold one external interrupt.
#[derive(Debug, Default)]
pub struct TestBus {
    pub outs: Vec<(u16, u8, u32)>,
    pub ins: Vec<(u16, u8)>,
    pub in_value: u32,
    pub irq: Option<u8>,
    pub acks: u32,
}

impl Bus for TestBus {
    fn port_in(&mut self, port: u16, size: u8) -> u32 {
        self.ins.push((port, size));
        let m = if size == 4 { u32::MAX } else { (1 << (8 * size as u32)) - 1 };
        self.in_value & m
    }
    fn port_out(&mut self, port: u16, size: u8, value: u32) {
        self.outs.push((port, size, value));
    }
    fn mmio_read(&mut self, _id: u32, _offset: u64, _size: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _id: u32, _offset: u64, _size: u8, _value: u64) {}
    fn interrupt_pending(&mut self) -> bool {
        self.irq.is_some()
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        self.acks += 1;
        self.irq.take().unwrap_or(0xFF)
    }
    fn now(&mut self) -> u64 {
        1_000_000
    }
}

/// What the processor pushed when it delivered an exception or interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub err: Option<u32>,
    pub eip: u32,
    pub cs: u32,
    pub eflags: u32,
    /// Outer SS:ESP (meaningful only after a privilege change).
    pub esp: u32,
    pub ss: u32,
}

/// The machine under test.
pub struct Machine {
    pub cpu: CpuState,
    pub mem: GuestMemory,
    pub interp: Interpreter,
    pub bus: TestBus,
}

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    /// Protected mode, CPL 0, flat segments, IF clear, TR loaded, no
    /// paging.
    pub fn new() -> Self {
        let mem = GuestMemory::new(RAM).expect("guest memory");
        let mut m = Self {
            cpu: CpuState::reset(),
            mem,
            interp: Interpreter::new(),
            bus: TestBus::default(),
        };
        m.set_gdt(1, flat(acc::CODE0));
        m.set_gdt(2, flat(acc::DATA0));
        m.set_gdt(3, flat(acc::CODE3));
        m.set_gdt(4, flat(acc::DATA3));
        m.set_gdt(5, seg_desc(TSS, TSS_LIMIT, acc::TSS32_BUSY, 0));
        m.set_gdt(6, flat(0xBB)); // ring-1 code
        m.set_gdt(7, flat(0xB3)); // ring-1 data
        m.set_gdt(8, flat(0xDB)); // ring-2 code
        m.set_gdt(9, flat(0xD3)); // ring-2 data
        m.set_gdt(10, seg_desc(0, 0xFFFF, acc::CODE0, BYTE16));
        for v in 0..=255u8 {
            m.set_idt(v, gate_desc(CODE0, stub(v), gate::INT32, 0, 0));
        }
        m.write(STUBS, &[0xF4; 0x800]);
        // Main TSS: stacks for rings 0-2, the I/O bitmap (all denied).
        m.w32(TSS + 4, STACK0);
        m.w32(TSS + 8, DATA0 as u32);
        m.w32(TSS + 12, STACK1);
        m.w32(TSS + 16, DATA1 as u32);
        m.w32(TSS + 20, STACK2);
        m.w32(TSS + 24, DATA2 as u32);
        m.w16(TSS + 0x66, IOMAP_OFF as u16);
        m.write(TSS + IOMAP_OFF, &[0xFF; 0x2001]);

        let s = &mut m.cpu;
        s.cr0 = x86::cr::cr0::PE | x86::cr::cr0::ET;
        s.gdtr.base = GDT;
        s.gdtr.limit = GDT_LIMIT;
        s.idtr.base = IDT;
        s.idtr.limit = IDT_LIMIT;
        s.set_eflags(fl::FIXED1);
        s.gpr[reg::ESP] = STACK0_INIT;
        s.gpr[reg::EDX] = 0;
        m.load_seg(sreg::CS, CODE0);
        for r in [sreg::SS, sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
            m.load_seg(r, DATA0);
        }
        m.cpu.cpl = 0;
        m.cpu.tr = Segment::from_descriptor(TSS_SEL, Descriptor::new(m.gdt(5)));
        m.cpu.ldtr = Segment::null(0);
        m.cpu.eip = CODE;
        m
    }

    // ---- memory --------------------------------------------------------

    pub fn write(&mut self, addr: u32, data: &[u8]) {
        self.mem.write_phys(addr as u64, data);
    }
    pub fn read(&self, addr: u32, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.mem.read_phys(addr as u64, &mut b);
        b
    }
    pub fn w8(&mut self, addr: u32, v: u8) {
        self.write(addr, &[v]);
    }
    pub fn w16(&mut self, addr: u32, v: u16) {
        self.write(addr, &v.to_le_bytes());
    }
    pub fn w32(&mut self, addr: u32, v: u32) {
        self.write(addr, &v.to_le_bytes());
    }
    pub fn w64(&mut self, addr: u32, v: u64) {
        self.write(addr, &v.to_le_bytes());
    }
    pub fn r8(&self, addr: u32) -> u8 {
        self.read(addr, 1)[0]
    }
    pub fn r16(&self, addr: u32) -> u16 {
        let b = self.read(addr, 2);
        u16::from_le_bytes([b[0], b[1]])
    }
    pub fn r32(&self, addr: u32) -> u32 {
        let b = self.read(addr, 4);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    pub fn r64(&self, addr: u32) -> u64 {
        self.r32(addr) as u64 | ((self.r32(addr + 4) as u64) << 32)
    }

    // ---- tables ----------------------------------------------------------

    pub fn set_gdt(&mut self, index: u16, d: u64) {
        self.w64(GDT + 8 * index as u32, d);
    }
    pub fn gdt(&self, index: u16) -> u64 {
        self.r64(GDT + 8 * index as u32)
    }
    /// Set the descriptor a selector names (GDT only).
    pub fn set_desc(&mut self, sel: u16, d: u64) {
        self.set_gdt(sel >> 3, d);
    }
    pub fn desc(&self, sel: u16) -> u64 {
        self.gdt(sel >> 3)
    }
    pub fn set_idt(&mut self, v: u8, d: u64) {
        self.w64(IDT + 8 * v as u32, d);
    }
    pub fn idt(&self, v: u8) -> u64 {
        self.r64(IDT + 8 * v as u32)
    }
    /// Point vector `v` at `handler` through a gate of type `typ` and DPL
    /// `dpl` in ring-0 code.
    pub fn set_handler(&mut self, v: u8, handler: u32, typ: u8, dpl: u8) {
        self.set_idt(v, gate_desc(CODE0, handler, typ, dpl, 0));
    }
    /// Make vector `v`'s gate (to its stub) reachable by INT n from `dpl`.
    pub fn set_gate_dpl(&mut self, v: u8, dpl: u8) {
        self.set_idt(v, gate_desc(CODE0, stub(v), gate::INT32, dpl, 0));
    }

    /// Load a segment register's cache from the GDT as if by a successful
    /// load (test setup, not an architectural load).
    pub fn load_seg(&mut self, r: usize, sel: u16) {
        let s = if sel & !3 == 0 {
            Segment::null(sel)
        } else {
            Segment::from_descriptor(sel, Descriptor::new(self.desc(sel)))
        };
        self.cpu.seg[r] = s;
    }

    // ---- code ------------------------------------------------------------

    /// Assemble 32-bit code at `CODE`, load it and point EIP at it; returns
    /// the label addresses.
    pub fn code(&mut self, f: impl FnOnce(&mut CodeAssembler) -> Result<Vec<CodeLabel>, IcedError>) -> Vec<u32> {
        self.code_at(CODE, f)
    }

    /// Assemble 32-bit code at `base` and load it (EIP unchanged unless
    /// `base` is `CODE`).
    pub fn code_at(&mut self, base: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<Vec<CodeLabel>, IcedError>) -> Vec<u32> {
        let (bytes, labels) = asm(32, base, f);
        self.write(base, &bytes);
        if base == CODE {
            self.cpu.eip = CODE;
        }
        labels
    }

    /// Assemble 16-bit code at linear `base` and load it.
    pub fn code16_at(&mut self, base: u32, ip: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<Vec<CodeLabel>, IcedError>) -> Vec<u32> {
        let (bytes, labels) = asm(16, ip, f);
        self.write(base, &bytes);
        labels
    }

    // ---- privilege -------------------------------------------------------

    /// Start in ring 3 at `eip` with the flat ring-3 segments.
    pub fn ring3(&mut self, eip: u32) {
        self.ring(3, eip);
    }

    /// Start at CPL `cpl` (1-3) at `eip` with that ring's flat segments
    /// and stack.
    pub fn ring(&mut self, cpl: u8, eip: u32) {
        let (cs, ds, sp) = match cpl {
            0 => (CODE0, DATA0, STACK0_INIT),
            1 => (CODE1, DATA1, STACK1 - 0x400),
            2 => (CODE2, DATA2, STACK2 - 0x400),
            _ => (CODE3, DATA3, STACK3),
        };
        self.load_seg(sreg::CS, cs);
        for r in [sreg::SS, sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
            self.load_seg(r, ds);
        }
        self.cpu.cpl = cpl;
        self.cpu.gpr[reg::ESP] = sp;
        self.cpu.eip = eip;
    }

    /// Change the main TSS's limit (descriptor and TR cache).
    pub fn set_tss_limit(&mut self, limit: u32) {
        let d = seg_desc(TSS, limit, acc::TSS32_BUSY, 0);
        self.set_desc(TSS_SEL, d);
        self.cpu.tr = Segment::from_descriptor(TSS_SEL, Descriptor::new(d));
    }

    pub fn set_iopl(&mut self, iopl: u8) {
        let f = (self.cpu.eflags() & !fl::IOPL) | ((iopl as u32) << fl::IOPL_SHIFT);
        self.cpu.set_eflags(f);
    }

    pub fn set_flag(&mut self, bit: u32, on: bool) {
        let f = self.cpu.eflags();
        self.cpu.set_eflags(if on { f | bit } else { f & !bit });
    }

    /// Allow (or deny) ports in the main TSS's I/O bitmap.
    pub fn io_allow(&mut self, port: u16, n: u16, allow: bool) {
        for p in port..port + n {
            let a = TSS + IOMAP_OFF + (p as u32 >> 3);
            let b = self.r8(a);
            let bit = 1 << (p & 7);
            self.w8(a, if allow { b & !bit } else { b | bit });
        }
    }

    // ---- paging ----------------------------------------------------------

    /// Identity-map the first 8 MiB with 4 KiB pages (P, R/W, U/S) and turn
    /// paging on.
    pub fn enable_paging(&mut self) {
        for i in 0..1024u32 {
            self.w32(PD + 4 * i, 0);
        }
        self.w32(PD, PT0 | 7);
        self.w32(PD + 4, PT1 | 7);
        for i in 0..2048u32 {
            self.w32(PT0 + 4 * i, (i << 12) | 7);
        }
        self.cpu.cr3 = PD;
        self.cpu.cr0 |= x86::cr::cr0::PG;
        self.interp.flush();
    }

    /// Physical address of the PTE that maps `lin` (in PT0/PT1).
    pub fn pte_addr(lin: u32) -> u32 {
        assert!(lin < 8 << 20);
        PT0 + 4 * (lin >> 12)
    }
    pub fn pte(&self, lin: u32) -> u32 {
        self.r32(Self::pte_addr(lin))
    }
    /// Set the PTE for `lin` (and drop cached translations).
    pub fn set_pte(&mut self, lin: u32, v: u32) {
        self.w32(Self::pte_addr(lin), v);
        self.interp.flush();
    }
    pub fn pde(&self, lin: u32) -> u32 {
        self.r32(PD + 4 * (lin >> 22))
    }
    pub fn set_pde(&mut self, lin: u32, v: u32) {
        self.w32(PD + 4 * (lin >> 22), v);
        self.interp.flush();
    }

    // ---- running ---------------------------------------------------------

    /// Run for at most `budget` instructions.
    pub fn run_for(&mut self, budget: u64) -> Exit {
        self.interp.run(&mut self.cpu, &mut self.mem, &mut self.bus, budget)
    }

    /// Run until the CPU halts or shuts down.
    pub fn run(&mut self) -> Exit {
        let e = self.run_for(200_000);
        assert_ne!(e, Exit::Budget, "guest did not halt; EIP {:#x}", self.cpu.eip);
        e
    }

    /// The vector whose stub the CPU halted in, if any.
    pub fn vector(&self) -> Option<u8> {
        if !self.cpu.halted {
            return None;
        }
        let lin = self.cpu.seg[sreg::CS].base().wrapping_add(self.cpu.eip).wrapping_sub(1);
        if (STUBS..STUBS + 0x800).contains(&lin) && (lin - STUBS).is_multiple_of(8) {
            Some(((lin - STUBS) / 8) as u8)
        } else {
            None
        }
    }

    /// Linear address of SS:ESP + `off` (SS:SP + `off`, wrapping at 64 KiB,
    /// for a 16-bit stack).
    pub fn sp_lin(&self, off: u32) -> u32 {
        let ss = &self.cpu.seg[sreg::SS];
        let sp = self.cpu.gpr[reg::ESP].wrapping_add(off);
        let sp = if ss.db() { sp } else { sp & 0xFFFF };
        ss.base().wrapping_add(sp)
    }

    /// Dword `i` of the stack (from SS:ESP).
    pub fn stack(&self, i: u32) -> u32 {
        self.r32(self.sp_lin(4 * i))
    }

    /// Word `i` of the stack.
    pub fn stack16(&self, i: u32) -> u16 {
        self.r16(self.sp_lin(2 * i))
    }

    /// The 32-bit frame on the handler's stack; `err` says whether an error
    /// code was pushed.
    pub fn frame(&self, err: bool) -> Frame {
        let k = err as u32;
        Frame {
            err: err.then(|| self.stack(0)),
            eip: self.stack(k),
            cs: self.stack(k + 1) & 0xFFFF,
            eflags: self.stack(k + 2),
            esp: self.stack(k + 3),
            ss: self.stack(k + 4) & 0xFFFF,
        }
    }

    /// Run and expect the CPU to stop in the handler of exception `v`;
    /// returns the frame (with an error code when the vector has one).
    #[track_caller]
    pub fn expect(&mut self, v: u8) -> Frame {
        let e = self.run();
        assert_eq!(e, Exit::Halted, "expected vector {v}, got {e:?}");
        assert_eq!(
            self.vector(),
            Some(v),
            "expected vector {v}; halted at EIP {:#x} (first event {:?})",
            self.cpu.eip,
            self.interp.stats.first_vector
        );
        self.frame(vec::has_error_code(v))
    }

    /// Run and expect #GP with the given error code; returns the frame.
    #[track_caller]
    pub fn expect_gp(&mut self, err: u32) -> Frame {
        let f = self.expect(vec::GP);
        assert_eq!(f.err, Some(err), "#GP error code");
        f
    }

    /// Run and expect an exception with an error code.
    #[track_caller]
    pub fn expect_err(&mut self, v: u8, err: u32) -> Frame {
        let f = self.expect(v);
        assert_eq!(f.err, Some(err), "error code of vector {v}");
        f
    }

    /// Run and expect a software interrupt / trap without error code.
    #[track_caller]
    pub fn expect_int(&mut self, v: u8) -> Frame {
        let e = self.run();
        assert_eq!(e, Exit::Halted);
        assert_eq!(self.vector(), Some(v), "halted at EIP {:#x}", self.cpu.eip);
        self.frame(false)
    }

    /// Run and expect the guest's own final HLT (no exception): EIP just
    /// after `hlt_at`.
    #[track_caller]
    pub fn expect_done(&mut self) {
        let e = self.run();
        assert_eq!(e, Exit::Halted);
        assert_eq!(
            self.vector(),
            None,
            "unexpected exception; first event {:?}, error/frame {:x?}",
            self.interp.stats.first_vector,
            self.frame(true)
        );
    }

    pub fn eax(&self) -> u32 {
        self.cpu.gpr[reg::EAX]
    }
    pub fn ebx(&self) -> u32 {
        self.cpu.gpr[reg::EBX]
    }
    pub fn ecx(&self) -> u32 {
        self.cpu.gpr[reg::ECX]
    }
    pub fn edx(&self) -> u32 {
        self.cpu.gpr[reg::EDX]
    }
    pub fn esp(&self) -> u32 {
        self.cpu.gpr[reg::ESP]
    }
    pub fn sel(&self, r: usize) -> u16 {
        self.cpu.seg[r].selector
    }
}
