//! The 512-byte FXSAVE/FXRSTOR image (SDM vol. 1, table 10-2, the
//! non-64-bit format) as a pure conversion to and from [`FpuState`], so
//! that the interpreter's FXSAVE/FXRSTOR, other engines and test harnesses
//! share one definition of the layout.

use super::{FpuState, Reg80};

/// Size of the image.
pub const FXSAVE_LEN: usize = 512;

/// MXCSR bits FXRSTOR accepts, as FXSAVE reports them: the value of the
/// first SSE processors (no DAZ), since this CPU has MXCSR only as storage
/// that FXSAVE/FXRSTOR move.
pub const MXCSR_MASK: u32 = 0x0000_FFBF;

/// FXRSTOR found reserved MXCSR bits set: #GP(0), nothing loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MxcsrReserved;

fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn get16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

impl FpuState {
    /// Fill the parts of an FXSAVE image this CPU writes: the x87 part
    /// (bytes 0-23 and the eight register slots at 32-159, their six
    /// reserved bytes written as zero) and, when `sse` (CR4.OSFXSR), MXCSR,
    /// MXCSR_MASK and XMM0-7 (24-31, 160-287). Bytes 288-511 are left
    /// alone, as are the SSE parts when `sse` is false (their saving is
    /// implementation-dependent then; this CPU does not save them).
    ///
    /// FOP, FIP, FCS, FDP and FDS are stored whatever FSW.ES says, as the
    /// P6 does (AMD processors store them only while ES is set).
    pub fn fxsave_image(&self, img: &mut [u8; FXSAVE_LEN], sse: bool) {
        put16(img, 0, self.fcw);
        put16(img, 2, self.fsw);
        img[4] = self.abridged_tag();
        img[5] = 0;
        put16(img, 6, self.fop & 0x7FF);
        put32(img, 8, self.fip);
        put16(img, 12, self.fcs);
        put16(img, 14, 0);
        put32(img, 16, self.fdp);
        put16(img, 20, self.fds);
        put16(img, 22, 0);
        for i in 0..8 {
            let r = self.regs[self.phys(i)];
            let off = 32 + 16 * i;
            img[off..off + 8].copy_from_slice(&r.signif.to_le_bytes());
            put16(img, off + 8, r.sign_exp);
            img[off + 10..off + 16].fill(0);
        }
        if sse {
            put32(img, 24, self.mxcsr);
            put32(img, 28, MXCSR_MASK);
            for (i, x) in self.xmm.iter().enumerate() {
                let off = 160 + 16 * i;
                img[off..off + 16].copy_from_slice(&x.to_le_bytes());
            }
        }
    }

    /// Load an FXSAVE image as FXRSTOR does. With `sse`, MXCSR is checked
    /// first (reserved bits set: nothing is loaded) and then loaded with
    /// XMM0-7. The control word gets its reserved bits forced as FLDCW
    /// does, the tags are rebuilt from the abridged tag byte and the
    /// register contents, and ES/B are recomputed (host behaviour).
    pub fn fxrstor_image(&mut self, img: &[u8; FXSAVE_LEN], sse: bool) -> Result<(), MxcsrReserved> {
        let mxcsr = get32(img, 24);
        if sse && mxcsr & !MXCSR_MASK != 0 {
            return Err(MxcsrReserved);
        }
        self.fsw = get16(img, 2);
        self.fop = get16(img, 6) & 0x7FF;
        self.fip = get32(img, 8);
        self.fcs = get16(img, 12);
        self.fdp = get32(img, 16);
        self.fds = get16(img, 20);
        for i in 0..8 {
            let off = 32 + 16 * i;
            let mut s = [0u8; 8];
            s.copy_from_slice(&img[off..off + 8]);
            let p = self.phys(i);
            self.regs[p] = Reg80 {
                signif: u64::from_le_bytes(s),
                sign_exp: get16(img, off + 8),
            };
        }
        self.load_abridged_tag(img[4]);
        self.load_control_word(get16(img, 0));
        if sse {
            self.mxcsr = mxcsr;
            for (i, x) in self.xmm.iter_mut().enumerate() {
                let off = 160 + 16 * i;
                let mut b = [0u8; 16];
                b.copy_from_slice(&img[off..off + 16]);
                *x = u128::from_le_bytes(b);
            }
        }
        Ok(())
    }
}
