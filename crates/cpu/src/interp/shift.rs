//! Shifts and rotates: ROL ROR RCL RCR SHL/SAL SHR SAR by 1, CL or imm8;
//! SHLD and SHRD.
//!
//! Counts are masked to 5 bits (80286 and later). Flags that the SDM leaves
//! undefined (OF for counts other than 1, AF) and the 16-bit SHLD/SHRD
//! with counts above 16 follow the AMD Zen host, measured by `hostdiff`
//! (see `docs/undefined.md`):
//! - SHL/SAL/SHR/SAR and SHLD/SHRD with a non-zero count set AF;
//! - OF for any non-zero count: SHL, ROL, RCL: MSB(result) XOR CF;
//!   SHR: 0 for counts > 1; SAR: 0; ROR, RCR: the two top bits of the
//!   result XORed; SHLD: MSB(result) XOR CF; SHRD: the two top bits of the
//!   result XORed;
//! - 16-bit SHLD/SHRD by 16..31: see [`shxd`].

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::flags::{LazyFlags, W8, W16, W32, Width};
use iced_x86::Code;
use x86::flags as fl;

const ROL: u8 = 0;
const ROR: u8 = 1;
const RCL: u8 = 2;
const RCR: u8 = 3;
const SHL: u8 = 4;
const SHR: u8 = 5;
const SAR: u8 = 7;

/// Count source: 1, CL, or the immediate.
const BY1: u8 = 0;
const BYCL: u8 = 1;
const BYIMM: u8 = 2;

#[inline(always)]
fn msb<W: Width>(v: u32) -> bool {
    v & W::SIGN != 0
}

/// Apply shift/rotate `OP` to `a` by `count` (already masked to 5 bits and
/// non-zero); sets flags, returns the result.
#[inline(always)]
fn shift<W: Width, const OP: u8>(f: &mut LazyFlags, a: u32, count: u32) -> u32 {
    let bits = W::BITS;
    match OP {
        ROL | ROR => {
            let n = count % bits;
            let r = if OP == ROL {
                ((a << n) | (a >> ((bits - n) % bits))) & W::MASK
            } else {
                ((a >> n) | (a << ((bits - n) % bits))) & W::MASK
            };
            let (cf, of) = if OP == ROL {
                let cf = r & 1 != 0;
                (cf, msb::<W>(r) ^ cf)
            } else {
                (msb::<W>(r), msb::<W>(r) ^ (r & (W::SIGN >> 1) != 0))
            };
            let cur = f.get();
            f.set((cur & !(fl::CF | fl::OF)) | if cf { fl::CF } else { 0 } | if of { fl::OF } else { 0 });
            r
        }
        RCL | RCR => {
            let n = if bits == 32 { count } else { count % (bits + 1) };
            let cf_in = f.cf() as u64;
            let wide = ((cf_in << bits) | a as u64) as u128;
            let m = bits + 1;
            let full = (1u128 << m) - 1;
            let rot = if OP == RCL {
                ((wide << n) | (wide >> ((m - n) % m))) & full
            } else {
                ((wide >> n) | (wide << ((m - n) % m))) & full
            };
            let r = (rot as u64 & W::MASK as u64) as u32;
            let cf = (rot >> bits) & 1 != 0;
            let of = if OP == RCL {
                msb::<W>(r) ^ cf
            } else {
                msb::<W>(r) ^ (r & (W::SIGN >> 1) != 0)
            };
            let cur = f.get();
            f.set((cur & !(fl::CF | fl::OF)) | if cf { fl::CF } else { 0 } | if of { fl::OF } else { 0 });
            r
        }
        SHL => {
            let wide = (a as u64) << count;
            let r = (wide as u32) & W::MASK;
            let cf = (wide >> bits) & 1 != 0;
            f.from_result::<W>(r, cf, msb::<W>(r) ^ cf, true);
            r
        }
        SHR => {
            let r = if count >= 32 { 0 } else { a >> count };
            let cf = (a as u64 >> (count - 1)) & 1 != 0;
            // OF is defined for a count of 1 (the operand's sign); for larger
            // counts it is that of the last single-bit step, which is 0
            // (the 80286's and the AMD Zen host's behaviour, see
            // docs/undefined.md).
            f.from_result::<W>(r, cf, count == 1 && msb::<W>(a), true);
            r
        }
        _ => {
            let sa = W::sext(a) as i32;
            let r = (sa >> count.min(31)) as u32 & W::MASK;
            let cf = (sa >> (count - 1).min(31)) & 1 != 0;
            f.from_result::<W>(r, cf, false, true);
            r
        }
    }
}

/// The flags of SHL (`left`), SHR or SAR (`arith`) of the `bytes`-wide
/// `a` by `count` (1-31) into `f`, as the interpreter computes them; the
/// result. For other engines that compute the result themselves and the
/// flags only when something needs them.
pub fn shift_flags(f: &mut LazyFlags, left: bool, arith: bool, bytes: u8, a: u32, count: u32) -> u32 {
    macro_rules! at {
        ($w:ty) => {
            match (left, arith) {
                (true, _) => shift::<$w, SHL>(f, a & <$w>::MASK, count),
                (false, false) => shift::<$w, SHR>(f, a & <$w>::MASK, count),
                (false, true) => shift::<$w, SAR>(f, a & <$w>::MASK, count),
            }
        };
    }
    match bytes {
        1 => at!(W8),
        2 => at!(W16),
        _ => at!(W32),
    }
}

fn shift_rm<W: Width, const OP: u8, const BY: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let count = match BY {
        BY1 => 1,
        BYCL => c.s.gpr[1] & 0x1F,
        _ => i.imm & 0x1F,
    };
    if count == 0 {
        // No flags change, but a memory operand is still read and written
        // back: the hardware checks write access (a read-only page faults
        // with W = 1 in the error code, as the AMD host shows).
        return c.modify_rm0::<W>(i, |_, a| a);
    }
    c.modify_rm0::<W>(i, |c, a| shift::<W, OP>(&mut c.s.lazy, a, count))
}

/// SHLD/SHRD r/m, r, CL/imm8.
///
/// For 16-bit operands and counts 16..31 (undefined in the SDM) the
/// result and flags are those of the AMD Zen host: the destination `a` and
/// source `b` are concatenated as `a:b:b` (SHLD) or `b:b:a` (SHRD) and
/// shifted as one 48-bit value; CF is the last bit shifted out for a count
/// of 16 and 0 above; OF is CF for SHLD by 16, 0 for SHLD above 16, and
/// follows the usual SHRD rule.
fn shxd<W: Width, const LEFT: bool, const BY: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let count = if BY == BYCL { c.s.gpr[1] & 0x1F } else { i.imm & 0x1F };
    if count == 0 {
        // As for the other shifts: a read-modify-write that changes nothing.
        return c.modify_rm0::<W>(i, |_, a| a);
    }
    let src = c.reg::<W>(i.r1);
    c.modify_rm0::<W>(i, |c, a| {
        let bits = W::BITS;
        let (a, b) = (a as u128, src as u128);
        // A 3-operand-wide concatenation: for counts up to the operand
        // width only the top two parts matter; above it (16-bit operands)
        // the source is repeated, as on the AMD Zen host.
        let (r, cf) = if LEFT {
            let cat = (a << (2 * bits)) | (b << bits) | b;
            let sh = cat << count;
            let r = ((sh >> (2 * bits)) & W::MASK as u128) as u32;
            let cf = count <= bits && (sh >> (3 * bits)) & 1 != 0;
            (r, cf)
        } else {
            let cat = (b << (2 * bits)) | (b << bits) | a;
            let r = ((cat >> count) & W::MASK as u128) as u32;
            let cf = count <= bits && (cat >> (count - 1)) & 1 != 0;
            (r, cf)
        };
        let of = if LEFT {
            if count < bits { msb::<W>(r) ^ cf } else { cf }
        } else {
            msb::<W>(r) ^ (r & (W::SIGN >> 1) != 0)
        };
        c.s.lazy.from_result::<W>(r, cf, of, true);
        r
    })
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Rol_rm8_1 => shift_rm::<W8, ROL, BY1>,
        C::Rol_rm16_1 => shift_rm::<W16, ROL, BY1>,
        C::Rol_rm32_1 => shift_rm::<W32, ROL, BY1>,
        C::Rol_rm8_CL => shift_rm::<W8, ROL, BYCL>,
        C::Rol_rm16_CL => shift_rm::<W16, ROL, BYCL>,
        C::Rol_rm32_CL => shift_rm::<W32, ROL, BYCL>,
        C::Rol_rm8_imm8 => shift_rm::<W8, ROL, BYIMM>,
        C::Rol_rm16_imm8 => shift_rm::<W16, ROL, BYIMM>,
        C::Rol_rm32_imm8 => shift_rm::<W32, ROL, BYIMM>,
        C::Ror_rm8_1 => shift_rm::<W8, ROR, BY1>,
        C::Ror_rm16_1 => shift_rm::<W16, ROR, BY1>,
        C::Ror_rm32_1 => shift_rm::<W32, ROR, BY1>,
        C::Ror_rm8_CL => shift_rm::<W8, ROR, BYCL>,
        C::Ror_rm16_CL => shift_rm::<W16, ROR, BYCL>,
        C::Ror_rm32_CL => shift_rm::<W32, ROR, BYCL>,
        C::Ror_rm8_imm8 => shift_rm::<W8, ROR, BYIMM>,
        C::Ror_rm16_imm8 => shift_rm::<W16, ROR, BYIMM>,
        C::Ror_rm32_imm8 => shift_rm::<W32, ROR, BYIMM>,
        C::Rcl_rm8_1 => shift_rm::<W8, RCL, BY1>,
        C::Rcl_rm16_1 => shift_rm::<W16, RCL, BY1>,
        C::Rcl_rm32_1 => shift_rm::<W32, RCL, BY1>,
        C::Rcl_rm8_CL => shift_rm::<W8, RCL, BYCL>,
        C::Rcl_rm16_CL => shift_rm::<W16, RCL, BYCL>,
        C::Rcl_rm32_CL => shift_rm::<W32, RCL, BYCL>,
        C::Rcl_rm8_imm8 => shift_rm::<W8, RCL, BYIMM>,
        C::Rcl_rm16_imm8 => shift_rm::<W16, RCL, BYIMM>,
        C::Rcl_rm32_imm8 => shift_rm::<W32, RCL, BYIMM>,
        C::Rcr_rm8_1 => shift_rm::<W8, RCR, BY1>,
        C::Rcr_rm16_1 => shift_rm::<W16, RCR, BY1>,
        C::Rcr_rm32_1 => shift_rm::<W32, RCR, BY1>,
        C::Rcr_rm8_CL => shift_rm::<W8, RCR, BYCL>,
        C::Rcr_rm16_CL => shift_rm::<W16, RCR, BYCL>,
        C::Rcr_rm32_CL => shift_rm::<W32, RCR, BYCL>,
        C::Rcr_rm8_imm8 => shift_rm::<W8, RCR, BYIMM>,
        C::Rcr_rm16_imm8 => shift_rm::<W16, RCR, BYIMM>,
        C::Rcr_rm32_imm8 => shift_rm::<W32, RCR, BYIMM>,
        C::Shl_rm8_1 | C::Sal_rm8_1 => shift_rm::<W8, SHL, BY1>,
        C::Shl_rm16_1 | C::Sal_rm16_1 => shift_rm::<W16, SHL, BY1>,
        C::Shl_rm32_1 | C::Sal_rm32_1 => shift_rm::<W32, SHL, BY1>,
        C::Shl_rm8_CL | C::Sal_rm8_CL => shift_rm::<W8, SHL, BYCL>,
        C::Shl_rm16_CL | C::Sal_rm16_CL => shift_rm::<W16, SHL, BYCL>,
        C::Shl_rm32_CL | C::Sal_rm32_CL => shift_rm::<W32, SHL, BYCL>,
        C::Shl_rm8_imm8 | C::Sal_rm8_imm8 => shift_rm::<W8, SHL, BYIMM>,
        C::Shl_rm16_imm8 | C::Sal_rm16_imm8 => shift_rm::<W16, SHL, BYIMM>,
        C::Shl_rm32_imm8 | C::Sal_rm32_imm8 => shift_rm::<W32, SHL, BYIMM>,
        C::Shr_rm8_1 => shift_rm::<W8, SHR, BY1>,
        C::Shr_rm16_1 => shift_rm::<W16, SHR, BY1>,
        C::Shr_rm32_1 => shift_rm::<W32, SHR, BY1>,
        C::Shr_rm8_CL => shift_rm::<W8, SHR, BYCL>,
        C::Shr_rm16_CL => shift_rm::<W16, SHR, BYCL>,
        C::Shr_rm32_CL => shift_rm::<W32, SHR, BYCL>,
        C::Shr_rm8_imm8 => shift_rm::<W8, SHR, BYIMM>,
        C::Shr_rm16_imm8 => shift_rm::<W16, SHR, BYIMM>,
        C::Shr_rm32_imm8 => shift_rm::<W32, SHR, BYIMM>,
        C::Sar_rm8_1 => shift_rm::<W8, SAR, BY1>,
        C::Sar_rm16_1 => shift_rm::<W16, SAR, BY1>,
        C::Sar_rm32_1 => shift_rm::<W32, SAR, BY1>,
        C::Sar_rm8_CL => shift_rm::<W8, SAR, BYCL>,
        C::Sar_rm16_CL => shift_rm::<W16, SAR, BYCL>,
        C::Sar_rm32_CL => shift_rm::<W32, SAR, BYCL>,
        C::Sar_rm8_imm8 => shift_rm::<W8, SAR, BYIMM>,
        C::Sar_rm16_imm8 => shift_rm::<W16, SAR, BYIMM>,
        C::Sar_rm32_imm8 => shift_rm::<W32, SAR, BYIMM>,
        C::Shld_rm16_r16_CL => shxd::<W16, true, BYCL>,
        C::Shld_rm32_r32_CL => shxd::<W32, true, BYCL>,
        C::Shld_rm16_r16_imm8 => shxd::<W16, true, BYIMM>,
        C::Shld_rm32_r32_imm8 => shxd::<W32, true, BYIMM>,
        C::Shrd_rm16_r16_CL => shxd::<W16, false, BYCL>,
        C::Shrd_rm32_r32_CL => shxd::<W32, false, BYCL>,
        C::Shrd_rm16_r16_imm8 => shxd::<W16, false, BYIMM>,
        C::Shrd_rm32_r32_imm8 => shxd::<W32, false, BYIMM>,
        _ => return None,
    })
}
