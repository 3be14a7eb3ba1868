//! The CPU mode a translation was made for. Generated code specialises on
//! it (operand and stack sizes, privilege, flat segments), so a
//! translation is only used when the mode matches.

use cpu::CpuState;
use cpu::state::sreg;

pub const CODE32: u32 = 1 << 0;
pub const STACK32: u32 = 1 << 1;
pub const USER: u32 = 1 << 2;
pub const PROTECTED: u32 = 1 << 3;
pub const V86: u32 = 1 << 4;
pub const PAGING: u32 = 1 << 5;
/// Alignment checking is active (CR0.AM, EFLAGS.AC, CPL 3).
pub const ALIGN: u32 = 1 << 6;
/// DS, ES and SS are flat: base 0, 4 GiB, readable and writable, so
/// inline memory accesses need no segment arithmetic.
pub const FLAT: u32 = 1 << 7;
/// CS admits every EIP the operand size can express (a 4 GiB code
/// segment, or 16-bit code with a limit of at least 0xFFFF), so near
/// branch targets need no limit check.
pub const BIGCS: u32 = 1 << 8;
/// FS admits reads and writes at every offset (limit 4 GiB, expand-up,
/// writable data), whatever its base: inline accesses add the base read
/// from `CpuState` at run time. Linux keeps its per-CPU area so.
pub const FS_BIG: u32 = 1 << 9;
/// The same for GS.
pub const GS_BIG: u32 = 1 << 10;
/// The A20 gate is open: with paging off, linear addresses are physical
/// unmasked (see `direct`).
pub const A20: u32 = 1 << 11;

fn flat(s: &CpuState, i: usize) -> bool {
    s.seg[i].base() == 0 && big(s, i)
}

/// Every offset readable and writable.
fn big(s: &CpuState, i: usize) -> bool {
    let seg = &s.seg[i];
    seg.can_read(0, 1) && seg.can_write(0, 1) && seg.can_read(0xFFFF_FFFF, 1) && seg.can_write(0xFFFF_FFFF, 1)
}

/// The mode word for the current state.
pub fn current(s: &CpuState) -> u32 {
    let mut m = 0;
    if s.code32() {
        m |= CODE32;
    }
    if s.stack32() {
        m |= STACK32;
    }
    if s.cpl == 3 {
        m |= USER;
    }
    if s.protected_mode() {
        m |= PROTECTED;
    }
    if s.v86_mode() {
        m |= V86;
    }
    if s.paging() {
        m |= PAGING;
    }
    if s.cpl == 3 && s.cr0 & x86::cr::cr0::AM != 0 && s.eflags_rest & x86::flags::AC != 0 {
        m |= ALIGN;
    }
    if [sreg::DS, sreg::ES, sreg::SS].iter().all(|&i| flat(s, i)) {
        m |= FLAT;
    }
    if big(s, sreg::FS) {
        m |= FS_BIG;
    }
    if big(s, sreg::GS) {
        m |= GS_BIG;
    }
    if s.a20_enabled() {
        m |= A20;
    }
    let cs = &s.seg[sreg::CS];
    if cs.limit() == 0xFFFF_FFFF || (!cs.db() && cs.limit() >= 0xFFFF) {
        m |= BIGCS;
    }
    m
}

/// The range `(start, length)` of guest-physical addresses that code of
/// mode `m` may load from at `RAM + linear` directly, given `fast`, the
/// physical map's identity-mapped plain RAM (`PhysMap::fast_range`), and
/// the size of the RAM mapping, which bounds it whatever the map says (a
/// direct load must never leave guest RAM). Only with paging off, the A20
/// gate open and DS, ES, SS flat, where linear addresses are physical
/// (FS/GS-based loads keep the ordinary path). The range is fixed for a
/// translation's life: a change of the physical map flushes every
/// translation, and the A20 gate is part of the mode.
pub fn direct(m: u32, fast: (u64, u64), ram_size: u64) -> Option<(u32, u32)> {
    let (start, end) = (fast.0, fast.1.min(ram_size).min((1 << 32) - 4096));
    let usable = m & (FLAT | A20) == FLAT | A20 && m & (PAGING | ALIGN) == 0;
    // At least a page, so that the length less an access's size is positive.
    (usable && end >= start + 4096).then(|| (start as u32, (end - start) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u32 = FLAT | A20 | PROTECTED | CODE32;

    #[test]
    fn direct_loads_stay_in_ram_and_need_flat_unpaged_code_with_a20() {
        assert_eq!(direct(M, (0x10_0000, 0x1000_0000), 0x1000_0000), Some((0x10_0000, 0x0FF0_0000)));
        // A map claiming more than the RAM mapping holds.
        assert_eq!(direct(M, (0x10_0000, 0x1000_0000), 0x0800_0000), Some((0x10_0000, 0x07F0_0000)));
        assert_eq!(direct(M, (0x10_0000, 0x10_0800), 0x1000_0000), None);
        for m in [M | PAGING, M & !A20, M & !FLAT, M | ALIGN] {
            assert_eq!(direct(m, (0x10_0000, 0x1000_0000), 0x1000_0000), None, "mode {m:#x}");
        }
    }
}
