//! Memory accesses grouped by base register: one TLB probe for several.
//!
//! Compiled code addresses its locals and arguments through one register
//! that a loop does not change: the kernel's multi-precision multiply reads
//! and writes eleven `[EBP-x]` slots per pass, busybox's md5 `[ESP+x]`. Each
//! inline access costs about ten host instructions, most of them the TLB
//! probe. When several accesses in a block use the same base register, no
//! index, and displacements within a small window, and the base does not
//! change between them, they all fall in one page whenever the window
//! does. So the first of them probes the TLB once for the whole window and
//! keeps `host - linear` for its page in a stack slot (0 when the window
//! is not on the fast path); each member then loads that slot, tests it
//! and accesses `[slot + linear]` directly: four instructions, against
//! about ten; the probe costs about fourteen (eighteen when a member
//! writes), so only groups of three (four) or more are made. A member
//! whose group failed its probe takes the ordinary path, out of line, so
//! faults and slow accesses behave as before.
//!
//! Translations never hold the host address past their block, and within
//! a block nothing can invalidate it: TLB flushes, device accesses and
//! code-page protection happen only in helpers that end the block, or in
//! the dispatcher.

use super::classify::{AluOp, Kind, Opnd, Width};
use cpu::interp::insn::Insn;
use cpu::state::{reg, sreg};

/// Stack slots for groups (see `frame::stack`).
pub const SLOTS: usize = 2;
/// Largest window of one group, in bytes.
const WINDOW: i64 = 256;
// The probe compares the tag in the set of the window's first byte with
// the page of its last byte. A window that crosses a page fails that
// comparison only because the next page has its own set.
const _: () = assert!(WINDOW < 4096 && cpu::mmu::TLB_SETS >= 2);

/// What an instruction does for a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Role {
    /// Its memory operand is a member of the group in this slot.
    pub member: Option<u8>,
    /// It starts the group: probe before the instruction.
    pub probe: Option<Probe>,
}

/// The probe that starts a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub slot: u8,
    pub base: u8,
    /// Lowest displacement, and the window's length from it.
    pub lo: i32,
    pub span: u32,
    /// Some member writes: the window needs write access too.
    pub write: bool,
}

/// The memory operand of `k`: (size, written), when it is an explicit
/// operand that inline code accesses.
fn access(k: &Kind) -> Option<(Width, bool)> {
    let m = |o: &Opnd| *o == Opnd::Mem;
    match *k {
        Kind::Mov { w, dst, .. } if m(&dst) => Some((w, true)),
        Kind::Mov { w, src, .. } if m(&src) => Some((w, false)),
        Kind::Alu { op, w, dst, .. } if m(&dst) => Some((w, !matches!(op, AluOp::Cmp | AluOp::Test))),
        Kind::Alu { w, src, .. } if m(&src) => Some((w, false)),
        Kind::IncDec { w, dst, .. } | Kind::Neg { w, dst } | Kind::Not { w, dst } | Kind::Shift { w, dst, .. } if m(&dst) => {
            Some((w, true))
        }
        Kind::Movx { sw, src, .. } if m(&src) => Some((sw, false)),
        Kind::Imul { w, src, .. } | Kind::MulAcc { w, src, .. } | Kind::Cmov { w, src, .. } if m(&src) => Some((w, false)),
        Kind::Setcc { dst, .. } if m(&dst) => Some((1, true)),
        _ => None,
    }
}

struct Open {
    base: u8,
    lo: i64,
    hi: i64,
    write: bool,
    members: Vec<usize>,
    used: usize,
}

/// Plan the groups of a block: `kinds` and `insns` its instructions,
/// `writes[k]` the general registers instruction k writes (bit n:
/// register n). Only for flat segments (the caller checks the mode).
pub fn plan(kinds: &[Kind], insns: &[Insn], writes: &[u8]) -> Vec<Role> {
    let mut roles = vec![Role::default(); kinds.len()];
    let mut open: [Option<Open>; SLOTS] = [None, None];
    let close = |o: &mut Option<Open>, slot: usize, roles: &mut [Role]| {
        // The probe costs about four ordinary accesses' worth of host
        // instructions with a write (three without): fewer members gain
        // nothing.
        if let Some(g) = o.take()
            && g.members.len() >= if g.write { 4 } else { 3 }
        {
            roles[g.members[0]].probe = Some(Probe {
                slot: slot as u8,
                base: g.base,
                lo: g.lo as i32,
                span: (g.hi - g.lo) as u32,
                write: g.write,
            });
            for &k in &g.members {
                roles[k].member = Some(slot as u8);
            }
        }
    };
    for (k, kind) in kinds.iter().enumerate() {
        if matches!(kind, Kind::Fallback) {
            for (s, o) in open.iter_mut().enumerate() {
                close(o, s, &mut roles);
            }
            continue;
        }
        let i = &insns[k];
        let usable = i.index as usize == reg::ZERO
            && i.base as usize != reg::ZERO
            && i.amask == 0xFFFF_FFFF
            && matches!(i.seg as usize, sreg::DS | sreg::ES | sreg::SS);
        if let (Some((w, write)), true) = (access(kind), usable) {
            let (d, base) = (i.disp as i32 as i64, i.base & 7);
            let joined = open.iter_mut().flatten().find(|g| g.base == base).is_some_and(|g| {
                let (lo, hi) = (g.lo.min(d), g.hi.max(d + w as i64));
                if hi - lo > WINDOW {
                    return false;
                }
                (g.lo, g.hi, g.write) = (lo, hi, g.write || write);
                g.members.push(k);
                g.used = k;
                true
            });
            if !joined {
                // A new group: in the slot of the same base, or a free one,
                // or the one used longest ago.
                let s = (0..SLOTS)
                    .find(|&s| open[s].as_ref().is_some_and(|g| g.base == base))
                    .or_else(|| (0..SLOTS).find(|&s| open[s].is_none()))
                    .unwrap_or_else(|| (0..SLOTS).min_by_key(|&s| open[s].as_ref().map_or(0, |g| g.used)).unwrap_or(0));
                close(&mut open[s], s, &mut roles);
                open[s] = Some(Open {
                    base,
                    lo: d,
                    hi: d + w as i64,
                    write,
                    members: vec![k],
                    used: k,
                });
            }
        }
        // A group ends where its base register changes.
        for (s, o) in open.iter_mut().enumerate() {
            if o.as_ref().is_some_and(|g| writes[k] & (1 << g.base) != 0) {
                close(o, s, &mut roles);
            }
        }
    }
    for (s, o) in open.iter_mut().enumerate() {
        close(o, s, &mut roles);
    }
    roles
}

/// The groups of a block that jumps to its own start whose probe can run
/// once, before the loop, instead of on every pass: their base register is
/// not written from the block's start up to the last jump back
/// (`last_back`) or their last member, whichever is later (so it holds the
/// same value at the block's start as at each member, on every pass), and
/// no other group of the block takes their slot. The host address stays
/// right across passes for the reason it does within one: whatever could
/// change the mapping ends the block. The kernel's multi-precision
/// multiply probed its `[EBP-x]` window (twenty host instructions) on
/// every pass of a loop of about three hundred.
///
/// The caller excludes blocks with interpreter handlers, which may write
/// registers that the decoder's operand lists do not show.
pub fn invariant(roles: &[Role], writes: &[u8], last_back: usize) -> Vec<Probe> {
    let probes: Vec<Probe> = roles.iter().filter_map(|r| r.probe).collect();
    probes
        .iter()
        .filter(|p| {
            let last_member = roles.iter().rposition(|r| r.member == Some(p.slot)).unwrap_or(0);
            let upto = last_back.max(last_member);
            let written = writes[..=upto.min(writes.len() - 1)].iter().fold(0u8, |w, &x| w | x);
            written & (1 << p.base) == 0 && probes.iter().filter(|q| q.slot == p.slot).count() == 1
        })
        .copied()
        .collect()
}
