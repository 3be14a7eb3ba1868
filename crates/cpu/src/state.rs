//! `CpuState`: the architectural truth every engine shares.
//!
//! Engines keep caches (decoded instructions, translations, TLBs) but never
//! the truth: that is this structure plus guest memory, so the execution
//! manager can move a guest between engines at any instruction boundary.
//! The layout is `#[repr(C)]` so that generated code can address fields at
//! fixed offsets.

use crate::flags::LazyFlags;
use crate::fpu::FpuState;
use crate::segment::{DescTable, Segment};
use x86::cr::cr0;
use x86::flags as fl;

/// Register indices in the encoding order.
pub mod reg {
    pub const EAX: usize = 0;
    pub const ECX: usize = 1;
    pub const EDX: usize = 2;
    pub const EBX: usize = 3;
    pub const ESP: usize = 4;
    pub const EBP: usize = 5;
    pub const ESI: usize = 6;
    pub const EDI: usize = 7;
    /// A slot that always holds zero: decoded memory operands name it for an
    /// absent base or index, so address arithmetic needs no branch.
    pub const ZERO: usize = 8;
}

/// Segment register indices in the encoding order.
pub mod sreg {
    pub const ES: usize = 0;
    pub const CS: usize = 1;
    pub const SS: usize = 2;
    pub const DS: usize = 3;
    pub const FS: usize = 4;
    pub const GS: usize = 5;
}

/// Model-specific registers kept as state.
#[repr(C)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msrs {
    /// TSC = virtual-time-derived count + this offset (WRMSR to the TSC
    /// adjusts the offset).
    pub tsc_offset: u64,
    pub sysenter_cs: u32,
    pub sysenter_esp: u32,
    pub sysenter_eip: u32,
    pub apic_base: u64,
    pub pat: u64,
    pub mtrr_def_type: u64,
    pub mtrr_fixed: [u64; 11],
    pub mtrr_var: [u64; 16],
    pub misc_enable: u64,
    pub debugctl: u64,
    pub bios_sign_id: u64,
    pub mcg_status: u64,
}

/// The whole architectural state of one i686 CPU.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct CpuState {
    /// EAX..EDI, then a slot fixed at zero (see [`reg::ZERO`]).
    pub gpr: [u32; 9],
    pub eip: u32,
    /// The six arithmetic flags, evaluated lazily.
    pub lazy: LazyFlags,
    /// Every EFLAGS bit except the six arithmetic ones.
    pub eflags_rest: u32,
    /// Current privilege level. Kept explicitly rather than derived from a
    /// selector, because after CR0.PE is set from real mode the CPL stays 0
    /// whatever the low bits of CS are, until CS is reloaded.
    pub cpl: u8,
    /// Interrupts are inhibited for one instruction (after MOV SS, POP SS,
    /// STI that set IF).
    pub interrupt_shadow: bool,
    /// The CPU is in the HLT state, waiting for an interrupt.
    pub halted: bool,
    /// NMIs are blocked until the next IRET.
    pub nmi_blocked: bool,
    /// Mask applied to physical addresses: bit 20 cleared while the A20
    /// gate is closed.
    pub a20_mask: u32,
    pub seg: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: DescTable,
    pub idtr: DescTable,
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    pub dr: [u32; 8],
    pub msr: Msrs,
    pub fpu: FpuState,
}

impl Default for CpuState {
    fn default() -> Self {
        Self::reset()
    }
}

impl CpuState {
    /// The state after RESET (SDM vol. 3, 9.1.1, table 9-1): real mode,
    /// CS:IP = F000:FFF0 with CS base FFFF0000.
    pub fn reset() -> Self {
        let mut seg = [Segment::real_mode_data(0); 6];
        seg[sreg::CS] = Segment::reset_code();
        let mut gpr = [0u32; 9];
        // EDX holds the processor signature after reset.
        gpr[reg::EDX] = crate::cpuid::SIGNATURE;
        Self {
            gpr,
            eip: 0xFFF0,
            lazy: LazyFlags::default(),
            eflags_rest: fl::FIXED1,
            cpl: 0,
            interrupt_shadow: false,
            halted: false,
            nmi_blocked: false,
            a20_mask: 0xFFFF_FFFF,
            seg,
            ldtr: Segment::system_reset(0x82),
            tr: Segment::system_reset(0x8B),
            gdtr: DescTable { base: 0, limit: 0xFFFF },
            idtr: DescTable { base: 0, limit: 0xFFFF },
            cr0: cr0::RESET,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            dr: [0, 0, 0, 0, 0, 0, x86::cr::dr6::FIXED1, 0x400],
            msr: Msrs {
                apic_base: 0xFEE0_0900,
                pat: 0x0007_0406_0007_0406,
                ..Msrs::default()
            },
            fpu: FpuState::reset(),
        }
    }

    /// The architectural EFLAGS value.
    #[inline]
    pub fn eflags(&self) -> u32 {
        self.eflags_rest | self.lazy.get()
    }

    /// Set every EFLAGS bit (the caller applies privilege rules).
    #[inline]
    pub fn set_eflags(&mut self, v: u32) {
        self.lazy.set(v);
        self.eflags_rest = (v & fl::IMPLEMENTED & !fl::ARITH) | fl::FIXED1;
    }

    #[inline]
    pub fn flag(&self, bit: u32) -> bool {
        self.eflags_rest & bit != 0
    }

    #[inline]
    pub fn protected_mode(&self) -> bool {
        self.cr0 & cr0::PE != 0
    }

    #[inline]
    pub fn v86_mode(&self) -> bool {
        self.eflags_rest & fl::VM != 0
    }

    #[inline]
    pub fn real_mode(&self) -> bool {
        !self.protected_mode()
    }

    #[inline]
    pub fn paging(&self) -> bool {
        self.cr0 & cr0::PG != 0
    }

    #[inline]
    pub fn iopl(&self) -> u8 {
        fl::iopl(self.eflags_rest)
    }

    /// Default operand/address size of the code segment is 32 bits.
    #[inline]
    pub fn code32(&self) -> bool {
        self.seg[sreg::CS].db()
    }

    /// The stack segment uses ESP (not SP).
    #[inline]
    pub fn stack32(&self) -> bool {
        self.seg[sreg::SS].db()
    }

    #[inline]
    pub fn a20_enabled(&self) -> bool {
        self.a20_mask & (1 << 20) != 0
    }

    pub fn set_a20(&mut self, on: bool) {
        self.a20_mask = if on { 0xFFFF_FFFF } else { !(1 << 20) };
    }
}
