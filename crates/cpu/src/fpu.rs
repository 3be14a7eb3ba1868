//! x87, MMX and SSE register storage (the state, not the instructions).

/// One 80-bit x87 data register: 64-bit significand with explicit integer
/// bit, and sign plus 15-bit biased exponent. MMX registers alias the
/// significand.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reg80 {
    pub signif: u64,
    pub sign_exp: u16,
}

/// Tag values of the full x87 tag word.
pub mod tag {
    pub const VALID: u16 = 0;
    pub const ZERO: u16 = 1;
    pub const SPECIAL: u16 = 2;
    pub const EMPTY: u16 = 3;
}

#[repr(C)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpuState {
    /// Physical registers R0-R7 (ST(i) is R((TOP + i) mod 8)).
    pub regs: [Reg80; 8],
    pub fcw: u16,
    /// Status word with TOP in bits 11-13.
    pub fsw: u16,
    /// Full tag word, two bits per physical register.
    pub ftw: u16,
    /// Last instruction opcode (11 bits).
    pub fop: u16,
    pub fip: u32,
    pub fcs: u16,
    pub fds: u16,
    pub fdp: u32,
    pub xmm: [u128; 8],
    pub mxcsr: u32,
}

impl FpuState {
    /// State after RESET (SDM vol. 3, table 9-1).
    pub fn reset() -> Self {
        Self {
            regs: [Reg80::default(); 8],
            fcw: 0x0040,
            fsw: 0,
            ftw: 0x5555,
            fop: 0,
            fip: 0,
            fcs: 0,
            fds: 0,
            fdp: 0,
            xmm: [0; 8],
            mxcsr: 0x1F80,
        }
    }

    /// State after FNINIT.
    pub fn finit(&mut self) {
        self.fcw = 0x037F;
        self.fsw = 0;
        self.ftw = 0xFFFF;
        self.fop = 0;
        self.fip = 0;
        self.fcs = 0;
        self.fds = 0;
        self.fdp = 0;
    }

    #[inline]
    pub fn top(&self) -> usize {
        ((self.fsw >> 11) & 7) as usize
    }

    #[inline]
    pub fn set_top(&mut self, top: usize) {
        self.fsw = (self.fsw & !(7 << 11)) | (((top & 7) as u16) << 11);
    }
}

impl Default for FpuState {
    fn default() -> Self {
        Self::reset()
    }
}
