//! The decoded-instruction form the interpreter executes.

use crate::ctx::Ctx;
use crate::exception::Res;

/// An instruction's semantics: run it against the context. `eip` already
/// points past the instruction; on `Err` the loop restores it.
pub type Handler = fn(&mut Ctx, &Insn) -> Res;

/// Insn flag bits.
pub mod f {
    /// The r/m operand is in memory.
    pub const MEM: u8 = 1 << 0;
    pub const REP: u8 = 1 << 1;
    pub const REPNE: u8 = 1 << 2;
    pub const LOCK: u8 = 1 << 3;
    /// 32-bit address size.
    pub const A32: u8 = 1 << 4;
    /// 32-bit operand size.
    pub const O32: u8 = 1 << 5;
    /// A segment override prefix is present.
    pub const SEG_OVERRIDE: u8 = 1 << 6;
}

/// One decoded instruction, compact and position-independent (branch
/// targets are kept relative), so a cached copy serves every linear alias
/// of its physical bytes.
#[derive(Clone, Copy)]
pub struct Insn {
    pub exec: Handler,
    /// Immediate, or relative branch displacement, or far offset.
    pub imm: u32,
    /// Second immediate: far selector, ENTER nesting level, x87 opcode.
    pub imm2: u32,
    pub disp: u32,
    /// Address-size mask: 0xFFFF or 0xFFFF_FFFF.
    pub amask: u32,
    pub len: u8,
    /// Register number of operand 0 when it is a register.
    pub r0: u8,
    /// Register number of operand 1 when it is a register.
    pub r1: u8,
    /// Base register of the memory operand (`reg::ZERO` if none).
    pub base: u8,
    /// Index register of the memory operand (`reg::ZERO` if none).
    pub index: u8,
    /// log2 of the index scale.
    pub scale: u8,
    /// Segment register of the memory operand (default or override).
    pub seg: u8,
    pub flags: u8,
    /// iced-x86 `Code` of the instruction, for diagnostics and the few
    /// handlers shared by several encodings.
    pub code: u16,
}

impl std::fmt::Debug for Insn {
    fn fmt(&self, fm: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fm.debug_struct("Insn")
            .field("code", &self.iced_code())
            .field("len", &self.len)
            .field("imm", &self.imm)
            .field("r0", &self.r0)
            .field("r1", &self.r1)
            .field("flags", &self.flags)
            .finish()
    }
}

impl Insn {
    #[inline(always)]
    pub fn is_mem(&self) -> bool {
        self.flags & f::MEM != 0
    }
    #[inline(always)]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
    #[inline(always)]
    pub fn a32(&self) -> bool {
        self.flags & f::A32 != 0
    }
    #[inline(always)]
    pub fn o32(&self) -> bool {
        self.flags & f::O32 != 0
    }
    #[inline(always)]
    pub fn seg(&self) -> usize {
        self.seg as usize
    }
    pub fn iced_code(&self) -> iced_x86::Code {
        // Codes come from iced itself at decode time; an out-of-range value
        // cannot occur, but fall back to INVALID rather than trust it.
        iced_x86::Code::try_from(self.code as usize).unwrap_or(iced_x86::Code::INVALID)
    }
}
