//! FXSAVE and FXRSTOR: the x87/MMX (and SSE register) state as a 512-byte
//! image (layout in `crate::fpu`, `FpuState::fxsave_image`).
//!
//! Both raise #NM when CR0.EM or CR0.TS is set, #GP(0) for an operand not
//! 16-byte aligned (#AC(0) instead for one not 4-byte aligned while
//! alignment checking is on, as on the host), and do not wait for pending x87
//! exceptions. CR4.OSFXSR decides whether MXCSR and XMM0-7 take part;
//! FXRSTOR of an MXCSR with reserved bits set (outside MXCSR_MASK) is
//! #GP(0) with nothing loaded. SSE instructions themselves are not part of
//! this CPU.

use super::insn::{Handler, Insn};
use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use crate::fpu::FXSAVE_LEN;
use crate::mmu::{Order, Shape};

/// The area is checked from its last byte (host order, see `mmu::Order`).
const FX_SHAPE: Shape = Shape {
    align: 1,
    order: Order::LastThenFirst,
};
use iced_x86::Code;
use x86::cr::cr4;

/// The operand's offset after the alignment check: an operand not
/// 16-byte aligned is #GP(0), except that while alignment checking is on
/// one not even 4-byte aligned is #AC(0). The SDM leaves that choice (and
/// its granularity) to the implementation; this is the host's.
fn aligned_ea(c: &Ctx, i: &Insn) -> Res<u32> {
    let off = c.ea(i);
    let lin = c.s.seg[i.seg() % 6].base().wrapping_add(off);
    if lin & 15 != 0 {
        if lin & 3 != 0 && c.alignment_checking() {
            return Err(Exception::with_error(x86::exception::AC, 0));
        }
        return Err(Exception::gp0());
    }
    Ok(off)
}

fn fxsave(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_available()?;
    let off = aligned_ea(c, i)?;
    let sse = c.s.cr4 & cr4::OSFXSR != 0;
    let t = c.store_target(i.seg(), off, FXSAVE_LEN as u32, FX_SHAPE)?;
    let mut img = [0u8; FXSAVE_LEN];
    c.s.fpu.fxsave_image(&mut img, sse);
    // Only the fields the image defines are written (see fxsave_image).
    let parts: &[(usize, usize)] = if sse { &[(0, 288)] } else { &[(0, 24), (32, 160)] };
    for &(a, b) in parts {
        c.store_bytes(t.from_offset(a as u32), &img[a..b])?;
    }
    Ok(())
}

fn fxrstor(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_available()?;
    let off = aligned_ea(c, i)?;
    let sse = c.s.cr4 & cr4::OSFXSR != 0;
    let mut img = [0u8; FXSAVE_LEN];
    c.read_bytes(i.seg(), off, &mut img, FX_SHAPE)?;
    c.s.fpu.fxrstor_image(&img, sse).map_err(|_| Exception::gp0())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    Some(match code {
        Code::Fxsave_m512byte => fxsave,
        Code::Fxrstor_m512byte => fxrstor,
        _ => return None,
    })
}
