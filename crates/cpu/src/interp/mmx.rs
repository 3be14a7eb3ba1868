//! MMX: MOVD, MOVQ, the packed add/subtract (wrapping and saturating),
//! multiply, compare, pack/unpack, logical and shift instructions, and
//! EMMS, as the Pentium II has them (the SSE additions and the 0x66-
//! prefixed SSE2 forms are not part of this CPU and stay #UD, as does
//! PADDQ mm, an SSE2 instruction that iced-x86 lists under MMX).
//!
//! MMX registers alias the significands of the physical x87 registers
//! R0-R7 (not ST(i)). CR0.EM makes every MMX instruction #UD, CR0.TS #NM;
//! a pending x87 exception raises #MF (or FERR#) first. An instruction
//! that completes sets TOP = 0 and tags every register valid; EMMS tags
//! them all empty. Writing an MMX register sets the sign/exponent bits of
//! its x87 register to all ones (`FpuState::set_mm`). FIP/FOP/FDP are not
//! touched.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::flags::W32;
use crate::mmu::Shape;
use iced_x86::Code;
use x86::cr::cr0;

impl Ctx<'_> {
    /// The MMX prologue: #UD (EM), #NM (TS), pending x87 exception.
    fn mmx_begin(&mut self) -> Res {
        if self.s.cr0 & cr0::EM != 0 {
            return Err(Exception::ud());
        }
        if self.s.cr0 & cr0::TS != 0 {
            return Err(Exception::nm());
        }
        self.x87_wait_check()
    }

    /// The x87 side effect of a completed MMX instruction: TOP = 0, all
    /// registers valid.
    fn mmx_enter(&mut self) {
        let f = &mut self.s.fpu;
        f.set_top(0);
        for p in 0..8 {
            f.retag(p);
        }
    }

    /// The mm/m64 source (operand 1).
    fn mmx_src(&mut self, i: &Insn) -> Res<u64> {
        if i.is_mem() {
            let mut b = [0u8; 8];
            self.read_bytes(i.seg(), self.ea(i), &mut b, Shape::aligned(8))?;
            Ok(u64::from_le_bytes(b))
        } else {
            Ok(self.s.fpu.mm(i.r1 as usize))
        }
    }
}

/// Apply `f` lane by lane to `BITS`-wide lanes of `a` and `b`.
#[inline]
fn lanes<const BITS: u32>(a: u64, b: u64, f: impl Fn(u64, u64) -> u64) -> u64 {
    let mask = if BITS == 64 { u64::MAX } else { (1u64 << BITS) - 1 };
    let mut r = 0;
    let mut sh = 0;
    while sh < 64 {
        let x = (a >> sh) & mask;
        let y = (b >> sh) & mask;
        r |= (f(x, y) & mask) << sh;
        sh += BITS;
    }
    r
}

/// Sign-extend a `bits`-wide lane.
#[inline]
fn sx(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

#[inline]
fn sat_s(v: i64, bits: u32) -> u64 {
    let max = (1i64 << (bits - 1)) - 1;
    v.clamp(-max - 1, max) as u64
}

#[inline]
fn sat_u(v: i64, bits: u32) -> u64 {
    v.clamp(0, (1i64 << bits) - 1) as u64
}

/// The binary operations on two quadwords.
mod op {
    use super::*;
    pub fn paddb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| x.wrapping_add(y))
    }
    pub fn paddw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| x.wrapping_add(y))
    }
    pub fn paddd(a: u64, b: u64) -> u64 {
        lanes::<32>(a, b, |x, y| x.wrapping_add(y))
    }
    pub fn psubb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| x.wrapping_sub(y))
    }
    pub fn psubw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| x.wrapping_sub(y))
    }
    pub fn psubd(a: u64, b: u64) -> u64 {
        lanes::<32>(a, b, |x, y| x.wrapping_sub(y))
    }
    pub fn paddsb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| sat_s(sx(x, 8) + sx(y, 8), 8))
    }
    pub fn paddsw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| sat_s(sx(x, 16) + sx(y, 16), 16))
    }
    pub fn psubsb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| sat_s(sx(x, 8) - sx(y, 8), 8))
    }
    pub fn psubsw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| sat_s(sx(x, 16) - sx(y, 16), 16))
    }
    pub fn paddusb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| sat_u(x as i64 + y as i64, 8))
    }
    pub fn paddusw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| sat_u(x as i64 + y as i64, 16))
    }
    pub fn psubusb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| sat_u(x as i64 - y as i64, 8))
    }
    pub fn psubusw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| sat_u(x as i64 - y as i64, 16))
    }
    pub fn pmullw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| (sx(x, 16) * sx(y, 16)) as u64)
    }
    pub fn pmulhw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| ((sx(x, 16) * sx(y, 16)) >> 16) as u64)
    }
    pub fn pmaddwd(a: u64, b: u64) -> u64 {
        lanes::<32>(a, b, |x, y| {
            let lo = sx(x & 0xFFFF, 16) * sx(y & 0xFFFF, 16);
            let hi = sx(x >> 16, 16) * sx(y >> 16, 16);
            (lo + hi) as u64
        })
    }
    fn mask(c: bool) -> u64 {
        if c { u64::MAX } else { 0 }
    }
    pub fn pcmpeqb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| mask(x == y))
    }
    pub fn pcmpeqw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| mask(x == y))
    }
    pub fn pcmpeqd(a: u64, b: u64) -> u64 {
        lanes::<32>(a, b, |x, y| mask(x == y))
    }
    pub fn pcmpgtb(a: u64, b: u64) -> u64 {
        lanes::<8>(a, b, |x, y| mask(sx(x, 8) > sx(y, 8)))
    }
    pub fn pcmpgtw(a: u64, b: u64) -> u64 {
        lanes::<16>(a, b, |x, y| mask(sx(x, 16) > sx(y, 16)))
    }
    pub fn pcmpgtd(a: u64, b: u64) -> u64 {
        lanes::<32>(a, b, |x, y| mask(sx(x, 32) > sx(y, 32)))
    }
    /// Narrow the `FROM`-bit lanes of `a` (low half of the result) and
    /// `b` (high half) with `sat`.
    fn pack<const FROM: u32>(a: u64, b: u64, sat: impl Fn(i64) -> u64) -> u64 {
        let to = FROM / 2;
        let n = 64 / FROM;
        let m = (1u64 << to) - 1;
        let mut r = 0;
        for k in 0..n {
            r |= (sat(sx((a >> (k * FROM)) & ((1 << FROM) - 1), FROM)) & m) << (k * to);
            r |= (sat(sx((b >> (k * FROM)) & ((1 << FROM) - 1), FROM)) & m) << ((k + n) * to);
        }
        r
    }
    pub fn packsswb(a: u64, b: u64) -> u64 {
        pack::<16>(a, b, |v| sat_s(v, 8))
    }
    pub fn packssdw(a: u64, b: u64) -> u64 {
        pack::<32>(a, b, |v| sat_s(v, 16))
    }
    pub fn packuswb(a: u64, b: u64) -> u64 {
        pack::<16>(a, b, |v| sat_u(v, 8))
    }
    /// Interleave the `BITS`-wide lanes of the low (or high) halves of
    /// `a` and `b`, `a` first.
    fn unpack<const BITS: u32, const HIGH: bool>(a: u64, b: u64) -> u64 {
        let half = if HIGH { 32 } else { 0 };
        let m = (1u64 << BITS) - 1;
        let mut r = 0;
        for k in 0..32 / BITS {
            let x = (a >> (half + k * BITS)) & m;
            let y = (b >> (half + k * BITS)) & m;
            r |= x << (2 * k * BITS);
            r |= y << ((2 * k + 1) * BITS);
        }
        r
    }
    pub fn punpcklbw(a: u64, b: u64) -> u64 {
        unpack::<8, false>(a, b)
    }
    pub fn punpcklwd(a: u64, b: u64) -> u64 {
        unpack::<16, false>(a, b)
    }
    pub fn punpckldq(a: u64, b: u64) -> u64 {
        unpack::<32, false>(a, b)
    }
    pub fn punpckhbw(a: u64, b: u64) -> u64 {
        unpack::<8, true>(a, b)
    }
    pub fn punpckhwd(a: u64, b: u64) -> u64 {
        unpack::<16, true>(a, b)
    }
    pub fn punpckhdq(a: u64, b: u64) -> u64 {
        unpack::<32, true>(a, b)
    }
    pub fn pand(a: u64, b: u64) -> u64 {
        a & b
    }
    pub fn pandn(a: u64, b: u64) -> u64 {
        !a & b
    }
    pub fn por(a: u64, b: u64) -> u64 {
        a | b
    }
    pub fn pxor(a: u64, b: u64) -> u64 {
        a ^ b
    }
    /// Logical shift left of `BITS`-wide lanes by a 64-bit count.
    pub fn psll<const BITS: u32>(a: u64, n: u64) -> u64 {
        if n >= BITS as u64 {
            return 0;
        }
        lanes::<BITS>(a, 0, |x, _| x << n)
    }
    pub fn psrl<const BITS: u32>(a: u64, n: u64) -> u64 {
        if n >= BITS as u64 {
            return 0;
        }
        lanes::<BITS>(a, 0, |x, _| x >> n)
    }
    /// Arithmetic shift right: counts past the lane width fill with the
    /// sign.
    pub fn psra<const BITS: u32>(a: u64, n: u64) -> u64 {
        let n = n.min(BITS as u64 - 1);
        lanes::<BITS>(a, 0, |x, _| (sx(x, BITS) >> n) as u64)
    }
}

/// `mm = op(mm, mm/m64)`.
fn binary<const OP: usize>(c: &mut Ctx, i: &Insn) -> Res {
    c.mmx_begin()?;
    let b = c.mmx_src(i)?;
    let d = i.r0 as usize;
    let a = c.s.fpu.mm(d);
    c.s.fpu.set_mm(d, BINARY[OP](a, b));
    c.mmx_enter();
    Ok(())
}

/// PUNPCKL*: the source is mm or m32 (only the low half is used).
fn unpack_low<const OP: usize>(c: &mut Ctx, i: &Insn) -> Res {
    c.mmx_begin()?;
    let b = if i.is_mem() {
        c.read::<W32>(i.seg(), c.ea(i))? as u64
    } else {
        c.s.fpu.mm(i.r1 as usize)
    };
    let d = i.r0 as usize;
    let a = c.s.fpu.mm(d);
    c.s.fpu.set_mm(d, BINARY[OP](a, b));
    c.mmx_enter();
    Ok(())
}

/// Shift by an immediate (`mm, imm8`).
fn shift_imm<const OP: usize>(c: &mut Ctx, i: &Insn) -> Res {
    c.mmx_begin()?;
    let d = i.r0 as usize;
    let a = c.s.fpu.mm(d);
    c.s.fpu.set_mm(d, BINARY[OP](a, (i.imm & 0xFF) as u64));
    c.mmx_enter();
    Ok(())
}

/// The operations by index, so handlers can be const-generic over them.
const BINARY: [fn(u64, u64) -> u64; 44] = [
    op::paddb,      // 0
    op::paddw,      // 1
    op::paddd,      // 2
    op::psubb,      // 3
    op::psubw,      // 4
    op::psubd,      // 5
    op::paddsb,     // 6
    op::paddsw,     // 7
    op::psubsb,     // 8
    op::psubsw,     // 9
    op::paddusb,    // 10
    op::paddusw,    // 11
    op::psubusb,    // 12
    op::psubusw,    // 13
    op::pmullw,     // 14
    op::pmulhw,     // 15
    op::pmaddwd,    // 16
    op::pcmpeqb,    // 17
    op::pcmpeqw,    // 18
    op::pcmpeqd,    // 19
    op::pcmpgtb,    // 20
    op::pcmpgtw,    // 21
    op::pcmpgtd,    // 22
    op::packsswb,   // 23
    op::packssdw,   // 24
    op::packuswb,   // 25
    op::punpcklbw,  // 26
    op::punpcklwd,  // 27
    op::punpckldq,  // 28
    op::punpckhbw,  // 29
    op::punpckhwd,  // 30
    op::punpckhdq,  // 31
    op::pand,       // 32
    op::pandn,      // 33
    op::por,        // 34
    op::pxor,       // 35
    op::psll::<16>, // 36
    op::psll::<32>, // 37
    op::psll::<64>, // 38
    op::psrl::<16>, // 39
    op::psrl::<32>, // 40
    op::psrl::<64>, // 41
    op::psra::<16>, // 42
    op::psra::<32>, // 43
];

/// MOVD mm, r/m32: zero-extended.
fn movd_mm_rm32(c: &mut Ctx, i: &Insn) -> Res {
    c.mmx_begin()?;
    let v = if i.is_mem() {
        c.read::<W32>(i.seg(), c.ea(i))?
    } else {
        c.reg::<W32>(i.r1)
    };
    c.s.fpu.set_mm(i.r0 as usize, v as u64);
    c.mmx_enter();
    Ok(())
}

/// MOVD r/m32, mm: the low doubleword.
fn movd_rm32_mm(c: &mut Ctx, i: &Insn) -> Res {
    c.mmx_begin()?;
    let v = c.s.fpu.mm(i.r1 as usize) as u32;
    c.set_rm0::<W32>(i, v)?;
    c.mmx_enter();
    Ok(())
}

/// MOVQ mm, mm/m64.
fn movq_mm_mmm64(c: &mut Ctx, i: &Insn) -> Res {
    c.mmx_begin()?;
    let v = c.mmx_src(i)?;
    c.s.fpu.set_mm(i.r0 as usize, v);
    c.mmx_enter();
    Ok(())
}

/// MOVQ mm/m64, mm.
fn movq_mmm64_mm(c: &mut Ctx, i: &Insn) -> Res {
    c.mmx_begin()?;
    let v = c.s.fpu.mm(i.r1 as usize);
    if i.is_mem() {
        c.write_bytes(i.seg(), c.ea(i), &v.to_le_bytes(), Shape::aligned(8))?;
    } else {
        c.s.fpu.set_mm(i.r0 as usize, v);
    }
    c.mmx_enter();
    Ok(())
}

/// EMMS: every x87 register tagged empty, TOP = 0.
fn emms(c: &mut Ctx, _: &Insn) -> Res {
    c.mmx_begin()?;
    c.s.fpu.ftw = 0xFFFF;
    c.s.fpu.set_top(0);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code::*;
    Some(match code {
        Movd_mm_rm32 => movd_mm_rm32,
        Movd_rm32_mm => movd_rm32_mm,
        Movq_mm_mmm64 => movq_mm_mmm64,
        Movq_mmm64_mm => movq_mmm64_mm,
        Emms => emms,
        Paddb_mm_mmm64 => binary::<0>,
        Paddw_mm_mmm64 => binary::<1>,
        Paddd_mm_mmm64 => binary::<2>,
        Psubb_mm_mmm64 => binary::<3>,
        Psubw_mm_mmm64 => binary::<4>,
        Psubd_mm_mmm64 => binary::<5>,
        Paddsb_mm_mmm64 => binary::<6>,
        Paddsw_mm_mmm64 => binary::<7>,
        Psubsb_mm_mmm64 => binary::<8>,
        Psubsw_mm_mmm64 => binary::<9>,
        Paddusb_mm_mmm64 => binary::<10>,
        Paddusw_mm_mmm64 => binary::<11>,
        Psubusb_mm_mmm64 => binary::<12>,
        Psubusw_mm_mmm64 => binary::<13>,
        Pmullw_mm_mmm64 => binary::<14>,
        Pmulhw_mm_mmm64 => binary::<15>,
        Pmaddwd_mm_mmm64 => binary::<16>,
        Pcmpeqb_mm_mmm64 => binary::<17>,
        Pcmpeqw_mm_mmm64 => binary::<18>,
        Pcmpeqd_mm_mmm64 => binary::<19>,
        Pcmpgtb_mm_mmm64 => binary::<20>,
        Pcmpgtw_mm_mmm64 => binary::<21>,
        Pcmpgtd_mm_mmm64 => binary::<22>,
        Packsswb_mm_mmm64 => binary::<23>,
        Packssdw_mm_mmm64 => binary::<24>,
        Packuswb_mm_mmm64 => binary::<25>,
        Punpcklbw_mm_mmm32 => unpack_low::<26>,
        Punpcklwd_mm_mmm32 => unpack_low::<27>,
        Punpckldq_mm_mmm32 => unpack_low::<28>,
        Punpckhbw_mm_mmm64 => binary::<29>,
        Punpckhwd_mm_mmm64 => binary::<30>,
        Punpckhdq_mm_mmm64 => binary::<31>,
        Pand_mm_mmm64 => binary::<32>,
        Pandn_mm_mmm64 => binary::<33>,
        Por_mm_mmm64 => binary::<34>,
        Pxor_mm_mmm64 => binary::<35>,
        Psllw_mm_mmm64 => binary::<36>,
        Pslld_mm_mmm64 => binary::<37>,
        Psllq_mm_mmm64 => binary::<38>,
        Psrlw_mm_mmm64 => binary::<39>,
        Psrld_mm_mmm64 => binary::<40>,
        Psrlq_mm_mmm64 => binary::<41>,
        Psraw_mm_mmm64 => binary::<42>,
        Psrad_mm_mmm64 => binary::<43>,
        Psllw_mm_imm8 => shift_imm::<36>,
        Pslld_mm_imm8 => shift_imm::<37>,
        Psllq_mm_imm8 => shift_imm::<38>,
        Psrlw_mm_imm8 => shift_imm::<39>,
        Psrld_mm_imm8 => shift_imm::<40>,
        Psrlq_mm_imm8 => shift_imm::<41>,
        Psraw_mm_imm8 => shift_imm::<42>,
        Psrad_mm_imm8 => shift_imm::<43>,
        _ => return None,
    })
}
