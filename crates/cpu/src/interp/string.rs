//! String instructions: MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS, with
//! REP/REPE/REPNE.
//!
//! A repeated instruction runs a bounded number of iterations per
//! execution and then re-executes itself (EIP left on the instruction), so
//! interrupts and timers are served during long copies exactly as the
//! hardware allows: between iterations. Each iteration commits its
//! registers, so a fault leaves the state of the faulting iteration.

use super::insn::{Handler, Insn, f};
use crate::ctx::Ctx;
use crate::exception::Res;
use crate::flags::{W8, W16, W32, Width};
use crate::state::{reg, sreg};
use iced_x86::Code;
use x86::flags as fl;

/// Iterations per execution of a repeated string instruction.
const CHUNK: u32 = 1024;

const MOVS: u8 = 0;
const CMPS: u8 = 1;
const STOS: u8 = 2;
const LODS: u8 = 3;
const SCAS: u8 = 4;
const INS: u8 = 5;
const OUTS: u8 = 6;

#[inline(always)]
fn step<W: Width>(c: &Ctx) -> u32 {
    if c.s.flag(fl::DF) { 0u32.wrapping_sub(W::BYTES) } else { W::BYTES }
}

/// Advance index register `r` by `delta` at the address size of `i`.
#[inline(always)]
fn bump(c: &mut Ctx, i: &Insn, r: usize, delta: u32) {
    let m = i.amask;
    c.s.gpr[r] = (c.s.gpr[r] & !m) | (c.s.gpr[r].wrapping_add(delta) & m);
}

/// One iteration of `OP`.
#[inline(always)]
fn once<W: Width, const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    let d = step::<W>(c);
    let si = c.s.gpr[reg::ESI] & i.amask;
    let di = c.s.gpr[reg::EDI] & i.amask;
    match OP {
        MOVS => {
            let v = c.read::<W>(i.seg(), si)?;
            c.write::<W>(sreg::ES, di, v)?;
            bump(c, i, reg::ESI, d);
            bump(c, i, reg::EDI, d);
        }
        CMPS => {
            // The destination (ES:EDI) is read first: when both operands
            // fault, the ES:EDI fault is the one reported (the order of
            // the two reads is not architectural; this is the AMD host's).
            let b = c.read::<W>(sreg::ES, di)?;
            let a = c.read::<W>(i.seg(), si)?;
            c.s.lazy.sub::<W>(a, b, a.wrapping_sub(b) & W::MASK);
            bump(c, i, reg::ESI, d);
            bump(c, i, reg::EDI, d);
        }
        STOS => {
            let v = c.reg::<W>(0);
            c.write::<W>(sreg::ES, di, v)?;
            bump(c, i, reg::EDI, d);
        }
        LODS => {
            let v = c.read::<W>(i.seg(), si)?;
            c.set_reg::<W>(0, v);
            bump(c, i, reg::ESI, d);
        }
        SCAS => {
            let a = c.reg::<W>(0);
            let b = c.read::<W>(sreg::ES, di)?;
            c.s.lazy.sub::<W>(a, b, a.wrapping_sub(b) & W::MASK);
            bump(c, i, reg::EDI, d);
        }
        INS => {
            let port = c.s.gpr[reg::EDX] as u16;
            // Check the destination before the port read has side effects.
            let lin = c.lin_write(sreg::ES, di, W::BYTES)?;
            let user = c.user();
            c.probe_write_lin(lin, W::BYTES, user)?;
            let v = c.port_in(port, W::BYTES as u8);
            c.write::<W>(sreg::ES, di, v)?;
            bump(c, i, reg::EDI, d);
        }
        _ => {
            let port = c.s.gpr[reg::EDX] as u16;
            let v = c.read::<W>(i.seg(), si)?;
            c.port_out(port, W::BYTES as u8, v);
            bump(c, i, reg::ESI, d);
        }
    }
    Ok(())
}

/// Up to `max` iterations of a forward REP MOVS or STOS at once, straight
/// in guest RAM: the ones that stay within one page of the source and of
/// the destination, where the TLB's fast path allows the accesses and the
/// segments every byte. Returns how many ran (0: run one the ordinary way,
/// which also fills the TLB). Linux's memcpy and memset are such loops;
/// one at a time they took 7 % of the comparison benchmark.
///
/// The result is the element-by-element one: no fault can happen inside
/// the run (everything was checked first), and an overlap where the
/// destination starts inside the source is copied element by element, as
/// the CPU does (a pattern fill).
fn bulk<W: Width, const OP: u8>(c: &mut Ctx, i: &Insn, max: u32) -> u32 {
    let w = W::BYTES;
    if c.s.flag(fl::DF) || c.alignment_checking() {
        return 0;
    }
    let m = i.amask;
    let di = c.s.gpr[reg::EDI] & m;
    let si = c.s.gpr[reg::ESI] & m;
    // Elements left, before the offsets wrap at the address size, and
    // before an element would cross a page end.
    let es = c.s.seg[sreg::ES];
    let lin_d = es.base().wrapping_add(di);
    let mut n = (c.s.gpr[reg::ECX] & m).min(max).min(((m - di) / w).saturating_add(1));
    n = n.min((0x1000 - (lin_d & 0xFFF)) / w);
    let src = (OP == MOVS).then(|| {
        let seg = c.s.seg[i.seg()];
        (seg, seg.base().wrapping_add(si))
    });
    if let Some((_, lin_s)) = src {
        n = n.min(((m - si) / w).saturating_add(1)).min((0x1000 - (lin_s & 0xFFF)) / w);
    }
    if n == 0 || !es.can_write(di, n * w) {
        return 0;
    }
    let user = c.user();
    let len = (n * w) as usize;
    let ram_len = c.mem.ram.bytes().len();
    let in_ram = |p: usize| p.checked_add(len).is_some_and(|end| end <= ram_len);
    let Some(d) = c.ram_run(lin_d, n * w, true, user).filter(|&d| in_ram(d)) else {
        return 0;
    };
    match src {
        Some((seg, lin_s)) => {
            if !seg.can_read(si, n * w) {
                return 0;
            }
            let Some(s) = c.ram_run(lin_s, n * w, false, user).filter(|&s| in_ram(s)) else {
                return 0;
            };
            let ram = c.mem.ram.bytes_mut();
            if d > s && d < s + len {
                for k in (0..len).step_by(w as usize) {
                    ram.copy_within(s + k..s + k + w as usize, d + k);
                }
            } else {
                ram.copy_within(s..s + len, d);
            }
            bump(c, i, reg::ESI, n * w);
        }
        None => {
            let v = c.reg::<W>(0).to_le_bytes();
            let ram = c.mem.ram.bytes_mut();
            for chunk in ram[d..d + len].chunks_exact_mut(w as usize) {
                chunk.copy_from_slice(&v[..w as usize]);
            }
        }
    }
    bump(c, i, reg::EDI, n * w);
    let cx = c.s.gpr[reg::ECX];
    c.s.gpr[reg::ECX] = (cx & !m) | (cx.wrapping_sub(n) & m);
    n
}

fn string<W: Width, const OP: u8>(c: &mut Ctx, i: &Insn) -> Res {
    if OP == INS || OP == OUTS {
        let port = c.s.gpr[reg::EDX] as u16;
        c.check_io(port, W::BYTES)?;
    }
    if i.flags & (f::REP | f::REPNE) == 0 {
        return once::<W, OP>(c, i);
    }
    let cmp = OP == CMPS || OP == SCAS;
    let repne = i.has(f::REPNE);
    let cx_mask = i.amask;
    // Single-stepping traps after each iteration (EIP still on the
    // instruction while the count is not exhausted).
    let chunk = if c.s.flag(fl::TF) { 1 } else { CHUNK };
    let mut left = chunk;
    while left > 0 {
        if c.s.gpr[reg::ECX] & cx_mask == 0 {
            return Ok(());
        }
        if (OP == MOVS || OP == STOS) && chunk > 1 {
            let n = bulk::<W, OP>(c, i, left);
            if n > 0 {
                left -= n;
                continue;
            }
        }
        left -= 1;
        once::<W, OP>(c, i)?;
        let cx = c.s.gpr[reg::ECX];
        c.s.gpr[reg::ECX] = (cx & !cx_mask) | (cx.wrapping_sub(1) & cx_mask);
        if cmp && c.s.lazy.zf() == repne {
            return Ok(());
        }
        if c.end_block && (OP == INS || OP == OUTS || OP == MOVS || OP == STOS) {
            // A device or a code write wants attention: finish later.
            break;
        }
    }
    if c.s.gpr[reg::ECX] & cx_mask != 0 {
        // Not done: execute this instruction again (interrupts may come
        // first). An event taken between iterations pushes RF set (SDM
        // vol. 3, 17.3.1.1), so a breakpoint on the instruction does not
        // fire again when it resumes.
        c.s.eip = c.s.eip.wrapping_sub(i.len as u32);
        c.s.eflags_rest |= fl::RF;
        c.end_block = true;
    }
    Ok(())
}

pub(super) fn lookup(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Movsb_m8_m8 => string::<W8, MOVS>,
        C::Movsw_m16_m16 => string::<W16, MOVS>,
        C::Movsd_m32_m32 => string::<W32, MOVS>,
        C::Cmpsb_m8_m8 => string::<W8, CMPS>,
        C::Cmpsw_m16_m16 => string::<W16, CMPS>,
        C::Cmpsd_m32_m32 => string::<W32, CMPS>,
        C::Stosb_m8_AL => string::<W8, STOS>,
        C::Stosw_m16_AX => string::<W16, STOS>,
        C::Stosd_m32_EAX => string::<W32, STOS>,
        C::Lodsb_AL_m8 => string::<W8, LODS>,
        C::Lodsw_AX_m16 => string::<W16, LODS>,
        C::Lodsd_EAX_m32 => string::<W32, LODS>,
        C::Scasb_AL_m8 => string::<W8, SCAS>,
        C::Scasw_AX_m16 => string::<W16, SCAS>,
        C::Scasd_EAX_m32 => string::<W32, SCAS>,
        C::Insb_m8_DX => string::<W8, INS>,
        C::Insw_m16_DX => string::<W16, INS>,
        C::Insd_m32_DX => string::<W32, INS>,
        C::Outsb_DX_m8 => string::<W8, OUTS>,
        C::Outsw_DX_m16 => string::<W16, OUTS>,
        C::Outsd_DX_m32 => string::<W32, OUTS>,
        _ => return None,
    })
}
