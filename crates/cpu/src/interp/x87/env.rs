//! The x87 environment and full state in memory: FNSTENV, FLDENV, FNSAVE
//! and FRSTOR, in the four layouts of SDM vol. 1, figures 8-9 to 8-12:
//! 28 bytes (32-bit operand size) or 14 bytes (16-bit), each in a
//! protected-mode form (FIP/FDP offsets with their selectors, FOP next to
//! FCS) and a real/virtual-8086 form (20- or 32-bit linear FIP/FDP, FOP
//! next to the high bits of FIP). The save area is the environment
//! followed by ST(0)..ST(7) as ten bytes each (94 or 108 bytes).
//!
//! Reserved halves of the 32-bit layouts are stored as 0xFFFF, as the
//! host does. The tag word is stored recomputed from the registers and
//! loaded as "empty or not" (see `FpuState::full_tag_word`). In real mode
//! the linear FIP/FDP are formed as selector * 16 + offset of the recorded
//! pointers; loading one in real mode records the linear address with a
//! zero selector, so that a store gives it back.

use super::super::insn::{Handler, Insn};
use super::align;
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::fpu::cw;
use crate::mmu::{Order, Shape};
use iced_x86::Code;

/// Environment layout.
#[derive(Clone, Copy)]
struct Layout {
    o32: bool,
    real: bool,
}

impl Layout {
    fn of(c: &Ctx, i: &Insn) -> Self {
        Self {
            o32: i.o32(),
            real: c.s.real_mode() || c.s.v86_mode(),
        }
    }
    fn env_len(self) -> usize {
        if self.o32 { 28 } else { 14 }
    }
}

/// How environments and save areas are checked (see `mmu::Order`).
fn env_shape(o32: bool) -> Shape {
    Shape {
        align: align::env(o32),
        order: Order::FirstUnitThenLast(if o32 { 4 } else { 2 }),
    }
}

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

/// Fill `b` (at least `env_len` bytes) with the environment.
fn store_env(c: &Ctx, l: Layout, b: &mut [u8]) {
    let f = &c.s.fpu;
    let ftw = f.full_tag_word();
    let fop = f.fop & 0x7FF;
    let fip_lin = ((f.fcs as u32) << 4).wrapping_add(f.fip);
    let fdp_lin = ((f.fds as u32) << 4).wrapping_add(f.fdp);
    const HI: u32 = 0xFFFF_0000;
    match (l.o32, l.real) {
        (true, false) => {
            put32(b, 0, HI | f.fcw as u32);
            put32(b, 4, HI | f.fsw as u32);
            put32(b, 8, HI | ftw as u32);
            put32(b, 12, f.fip);
            put32(b, 16, f.fcs as u32 | (fop as u32) << 16);
            put32(b, 20, f.fdp);
            put32(b, 24, HI | f.fds as u32);
        }
        (true, true) => {
            put32(b, 0, HI | f.fcw as u32);
            put32(b, 4, HI | f.fsw as u32);
            put32(b, 8, HI | ftw as u32);
            put32(b, 12, HI | (fip_lin & 0xFFFF));
            put32(b, 16, ((fip_lin >> 16) << 12) | fop as u32);
            put32(b, 20, HI | (fdp_lin & 0xFFFF));
            put32(b, 24, (fdp_lin >> 16) << 12);
        }
        (false, false) => {
            put16(b, 0, f.fcw);
            put16(b, 2, f.fsw);
            put16(b, 4, ftw);
            put16(b, 6, f.fip as u16);
            put16(b, 8, f.fcs);
            put16(b, 10, f.fdp as u16);
            put16(b, 12, f.fds);
        }
        (false, true) => {
            put16(b, 0, f.fcw);
            put16(b, 2, f.fsw);
            put16(b, 4, ftw);
            put16(b, 6, fip_lin as u16);
            put16(b, 8, (((fip_lin >> 16) & 0xF) << 12) as u16 | fop);
            put16(b, 10, fdp_lin as u16);
            put16(b, 12, (((fdp_lin >> 16) & 0xF) << 12) as u16);
        }
    }
}

/// Load the environment from `b`. The tag word is returned for the
/// caller to apply once the registers hold their final contents.
fn load_env(c: &mut Ctx, l: Layout, b: &[u8]) -> u16 {
    let f = &mut c.s.fpu;
    let (fcw, ftw);
    match (l.o32, l.real) {
        (true, false) => {
            fcw = get16(b, 0);
            f.fsw = get16(b, 4);
            ftw = get16(b, 8);
            f.fip = get32(b, 12);
            f.fcs = get16(b, 16);
            f.fop = (get32(b, 16) >> 16) as u16 & 0x7FF;
            f.fdp = get32(b, 20);
            f.fds = get16(b, 24);
        }
        (true, true) => {
            fcw = get16(b, 0);
            f.fsw = get16(b, 4);
            ftw = get16(b, 8);
            let w = get32(b, 16);
            f.fip = (get32(b, 12) & 0xFFFF) | ((w >> 12) & 0xFFFF) << 16;
            f.fop = w as u16 & 0x7FF;
            f.fcs = 0;
            f.fdp = (get32(b, 20) & 0xFFFF) | ((get32(b, 24) >> 12) & 0xFFFF) << 16;
            f.fds = 0;
        }
        (false, false) => {
            fcw = get16(b, 0);
            f.fsw = get16(b, 2);
            ftw = get16(b, 4);
            f.fip = get16(b, 6) as u32;
            f.fcs = get16(b, 8);
            // This layout has no FOP field; the host clears FOP.
            f.fop = 0;
            f.fdp = get16(b, 10) as u32;
            f.fds = get16(b, 12);
        }
        (false, true) => {
            fcw = get16(b, 0);
            f.fsw = get16(b, 2);
            ftw = get16(b, 4);
            let w = get16(b, 8);
            f.fip = get16(b, 6) as u32 | ((w >> 12) as u32) << 16;
            f.fop = w & 0x7FF;
            f.fcs = 0;
            f.fdp = get16(b, 10) as u32 | ((get16(b, 12) >> 12) as u32) << 16;
            f.fds = 0;
        }
    }
    f.load_control_word(fcw);
    ftw
}

/// FNSTENV: store the environment, then mask every exception (which
/// clears ES).
fn fnstenv(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_available()?;
    let l = Layout::of(c, i);
    let mut b = [0u8; 28];
    store_env(c, l, &mut b);
    c.write_bytes(i.seg(), c.ea(i), &b[..l.env_len()], env_shape(l.o32))?;
    let f = &mut c.s.fpu;
    f.load_control_word(f.fcw | cw::MASKS);
    Ok(())
}

/// FLDENV.
fn fldenv(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let l = Layout::of(c, i);
    let mut b = [0u8; 28];
    let n = l.env_len();
    c.read_bytes(i.seg(), c.ea(i), &mut b[..n], env_shape(l.o32))?;
    let ftw = load_env(c, l, &b[..n]);
    c.s.fpu.load_tag_word(ftw);
    Ok(())
}

/// FNSAVE: environment and registers, then FNINIT (FERR# deasserted).
fn fnsave(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_available()?;
    let l = Layout::of(c, i);
    let n = l.env_len();
    let mut b = [0u8; 108];
    store_env(c, l, &mut b);
    for k in 0..8 {
        let v = c.s.fpu.st(k).to_bytes();
        b[n + 10 * k..n + 10 * k + 10].copy_from_slice(&v);
    }
    c.write_bytes(i.seg(), c.ea(i), &b[..n + 80], env_shape(l.o32))?;
    c.s.fpu.finit();
    c.set_ferr(false);
    Ok(())
}

/// FRSTOR.
fn frstor(c: &mut Ctx, i: &Insn) -> Res {
    c.x87_begin()?;
    let l = Layout::of(c, i);
    let n = l.env_len();
    let mut b = [0u8; 108];
    c.read_bytes(i.seg(), c.ea(i), &mut b[..n + 80], env_shape(l.o32))?;
    let ftw = load_env(c, l, &b[..n]);
    for k in 0..8 {
        let mut r = [0u8; 10];
        r.copy_from_slice(&b[n + 10 * k..n + 10 * k + 10]);
        let f = &mut c.s.fpu;
        let p = f.phys(k);
        let v = f80::F80::from_bytes(r);
        f.regs[p] = crate::fpu::Reg80 {
            signif: v.signif,
            sign_exp: v.sign_exp,
        };
    }
    c.s.fpu.load_tag_word(ftw);
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code::*;
    Some(match code {
        Fnstenv_m14byte | Fnstenv_m28byte => fnstenv,
        Fldenv_m14byte | Fldenv_m28byte => fldenv,
        Fnsave_m94byte | Fnsave_m108byte => fnsave,
        Frstor_m94byte | Frstor_m108byte => frstor,
        _ => return None,
    })
}
