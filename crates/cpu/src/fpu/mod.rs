//! x87, MMX and SSE register storage (the state, not the instructions),
//! with the few derived views every engine needs: the register stack
//! addressing, the tag word and the status word's error summary.

mod image;

pub use image::{FXSAVE_LEN, MXCSR_MASK, MxcsrReserved};

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

/// Status-word bits.
pub mod sw {
    /// The six exception flags IE DE ZE OE UE PE.
    pub const FLAGS: u16 = 0x003F;
    /// Stack fault (with IE: overflow when C1 = 1, underflow when C1 = 0).
    pub const SF: u16 = 1 << 6;
    /// Error summary: an unmasked exception flag is set.
    pub const ES: u16 = 1 << 7;
    pub const C0: u16 = 1 << 8;
    pub const C1: u16 = 1 << 9;
    pub const C2: u16 = 1 << 10;
    pub const TOP_SHIFT: u16 = 11;
    pub const TOP: u16 = 7 << TOP_SHIFT;
    pub const C3: u16 = 1 << 14;
    /// Busy: mirrors ES on the 387 and later.
    pub const B: u16 = 1 << 15;
    /// All four condition codes.
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// Control-word bits.
pub mod cw {
    /// The six exception masks.
    pub const MASKS: u16 = 0x003F;
    /// Bits that hold state: masks, PC, RC and the (inert since the 387)
    /// infinity-control bit 12. Bit 6 always reads as one, bits 7 and
    /// 13-15 as zero (as FNSTCW shows them on the host and on Intel parts).
    pub const STORED: u16 = 0x1F3F;
    pub const ALWAYS_ONE: u16 = 0x0040;
}

#[repr(C)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpuState {
    /// Physical registers R0-R7 (ST(i) is R((TOP + i) mod 8)).
    pub regs: [Reg80; 8],
    pub fcw: u16,
    /// Status word with TOP in bits 11-13.
    pub fsw: u16,
    /// Full tag word, two bits per physical register. Only "empty" (11)
    /// versus "not empty" is state: the P6 (and the host) recompute the
    /// valid/zero/special distinction from the register contents whenever
    /// the tag word is stored, see [`FpuState::full_tag_word`].
    pub ftw: u16,
    /// Last instruction opcode (11 bits).
    pub fop: u16,
    pub fip: u32,
    pub fcs: u16,
    pub fds: u16,
    pub fdp: u32,
    pub xmm: [u128; 8],
    pub mxcsr: u32,
    /// The FERR# output is asserted (an x87 error was signalled with
    /// CR0.NE clear and not yet cleared by FNINIT/FNCLEX). It is pin
    /// state, kept here so that every engine sees the same edge.
    pub ferr: bool,
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
            ferr: false,
        }
    }

    /// State after FNINIT (register contents are kept).
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

    /// Physical register number of ST(i).
    #[inline]
    pub fn phys(&self, i: usize) -> usize {
        (self.top() + i) & 7
    }

    /// Whether physical register `p` is tagged empty.
    #[inline]
    pub fn is_empty_phys(&self, p: usize) -> bool {
        (self.ftw >> (2 * (p & 7))) & 3 == tag::EMPTY
    }

    /// Whether ST(i) is tagged empty.
    #[inline]
    pub fn is_empty(&self, i: usize) -> bool {
        self.is_empty_phys(self.phys(i))
    }

    /// Set the two tag bits of physical register `p`.
    #[inline]
    pub fn set_tag(&mut self, p: usize, t: u16) {
        let sh = 2 * (p & 7);
        self.ftw = (self.ftw & !(3 << sh)) | ((t & 3) << sh);
    }

    /// Tag physical register `p` as holding its current contents.
    #[inline]
    pub fn retag(&mut self, p: usize) {
        let t = tag_of(self.regs[p & 7]);
        self.set_tag(p, t);
    }

    /// The full tag word as FSTENV/FSAVE store it: empty registers stay
    /// empty, the others are classified from their contents.
    pub fn full_tag_word(&self) -> u16 {
        (0..8).fold(0, |w, p| {
            let t = if self.is_empty_phys(p) { tag::EMPTY } else { tag_of(self.regs[p]) };
            w | (t << (2 * p))
        })
    }

    /// Load a full tag word (FLDENV/FRSTOR): only "empty" is taken from
    /// it; the other tags are recomputed from the registers, as the host
    /// and the P6 do.
    pub fn load_tag_word(&mut self, w: u16) {
        for p in 0..8 {
            if (w >> (2 * p)) & 3 == tag::EMPTY {
                self.set_tag(p, tag::EMPTY);
            } else {
                self.retag(p);
            }
        }
    }

    /// The abridged tag byte of FXSAVE: bit `p` set when R`p` is not empty.
    pub fn abridged_tag(&self) -> u8 {
        (0..8).fold(0, |b, p| b | ((!self.is_empty_phys(p) as u8) << p))
    }

    /// Load an abridged tag byte (FXRSTOR).
    pub fn load_abridged_tag(&mut self, b: u8) {
        let w = (0..8).fold(0u16, |w, p| w | (if b & (1 << p) != 0 { 0 } else { tag::EMPTY } << (2 * p)));
        self.load_tag_word(w);
    }

    /// Recompute ES and B from the exception flags and masks: both are
    /// set exactly when a flag is set whose exception is unmasked. The
    /// host recomputes them on every FLDCW, FLDENV, FRSTOR and FXRSTOR
    /// (an image with ES clear but an unmasked flag set reads back with
    /// ES set, and the other way round).
    #[inline]
    pub fn update_es(&mut self) {
        if self.fsw & !self.fcw & sw::FLAGS != 0 {
            self.fsw |= sw::ES | sw::B;
        } else {
            self.fsw &= !(sw::ES | sw::B);
        }
    }

    /// Set the control word as FLDCW does (reserved bits forced) and
    /// recompute the error summary.
    pub fn load_control_word(&mut self, v: u16) {
        self.fcw = (v & cw::STORED) | cw::ALWAYS_ONE;
        self.update_es();
    }

    /// Whether an unmasked exception is pending (FSW.ES).
    #[inline]
    pub fn error_pending(&self) -> bool {
        self.fsw & sw::ES != 0
    }

    /// The value of MMX register `n` (the significand of R`n`).
    #[inline]
    pub fn mm(&self, n: usize) -> u64 {
        self.regs[n & 7].signif
    }

    /// Write MMX register `n`: the significand takes the value and the
    /// sign/exponent bits become all ones (SDM vol. 1, 9.5.1).
    #[inline]
    pub fn set_mm(&mut self, n: usize, v: u64) {
        self.regs[n & 7] = Reg80 {
            signif: v,
            sign_exp: 0xFFFF,
        };
    }
}

/// The tag a non-empty register with these contents gets: zero, valid
/// (normal), or special (NaN, infinity, denormal, pseudo-denormal,
/// unnormal and the other unsupported encodings).
pub fn tag_of(r: Reg80) -> u16 {
    let exp = r.sign_exp & 0x7FFF;
    match exp {
        0 if r.signif == 0 => tag::ZERO,
        0 | 0x7FFF => tag::SPECIAL,
        _ if r.signif >> 63 == 0 => tag::SPECIAL,
        _ => tag::VALID,
    }
}

impl Default for FpuState {
    fn default() -> Self {
        Self::reset()
    }
}
