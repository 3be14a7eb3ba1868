//! The two-level page walk (SDM vol. 3, 4.3 and 4.6), with 4 MiB pages
//! (CR4.PSE), global pages (CR4.PGE), CR0.WP and accessed/dirty updates.

use crate::ctx::Ctx;
use crate::exception::{Exception, Res};
use x86::cr::{cr0, cr4};
use x86::exception::{self as vec, pf};
use x86::paging as pg;

/// Why memory is accessed, for permission checks and error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Read,
    Write,
    Fetch,
}

/// A successful walk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Translation {
    /// Physical page base, before the A20 mask.
    pub phys: u32,
    /// A write at this privilege may use the translation without another
    /// walk: allowed by the tables, and the dirty bit is set.
    pub write_ok: bool,
    pub global: bool,
}

/// Reserved bits of a 4 MiB PDE on a processor without PSE-36.
const PDE4M_RESERVED: u32 = 0x003F_E000;

impl Ctx<'_> {
    /// Walk the guest page tables for `lin`. `user` is a CPL-3 access
    /// (not an implicit supervisor access such as a descriptor-table read).
    pub(crate) fn walk(&mut self, lin: u32, intent: Intent, user: bool) -> Res<Translation> {
        let write = intent == Intent::Write;
        let fault = |s: &mut crate::state::CpuState, bits: u32| {
            s.cr2 = lin;
            let code = bits | if write { pf::W } else { 0 } | if user { pf::U } else { 0 };
            Exception::with_error(vec::PF, code)
        };
        let pde_addr = (self.s.cr3 & pg::FRAME_4K) | ((lin >> 22) << 2);
        let pde = self.phys_read_u32(pde_addr);
        if pde & pg::P == 0 {
            return Err(fault(self.s, 0));
        }
        let wp = self.s.cr0 & cr0::WP != 0;
        let pge = self.s.cr4 & cr4::PGE != 0;
        if pde & pg::PS != 0 && self.s.cr4 & cr4::PSE != 0 {
            if pde & PDE4M_RESERVED != 0 {
                return Err(fault(self.s, pf::P | pf::RSVD));
            }
            let user_ok = pde & pg::US != 0;
            let rw = pde & pg::RW != 0;
            check_rights(user, write, user_ok, rw, wp).map_err(|()| fault(self.s, pf::P))?;
            let mut new = pde | pg::A;
            if write {
                new |= pg::D;
            }
            if new != pde {
                self.phys_write_u32(pde_addr, new);
            }
            return Ok(Translation {
                phys: (pde & pg::FRAME_4M) | (lin & 0x003F_F000),
                write_ok: (new & pg::D != 0) && write_allowed(user, user_ok, rw, wp),
                global: pge && pde & pg::G != 0,
            });
        }
        let pte_addr = (pde & pg::FRAME_4K) | (((lin >> 12) & 0x3FF) << 2);
        let pte = self.phys_read_u32(pte_addr);
        if pte & pg::P == 0 {
            return Err(fault(self.s, 0));
        }
        let user_ok = pde & pte & pg::US != 0;
        let rw = pde & pte & pg::RW != 0;
        check_rights(user, write, user_ok, rw, wp).map_err(|()| fault(self.s, pf::P))?;
        if pde & pg::A == 0 {
            self.phys_write_u32(pde_addr, pde | pg::A);
        }
        let mut new = pte | pg::A;
        if write {
            new |= pg::D;
        }
        if new != pte {
            self.phys_write_u32(pte_addr, new);
        }
        Ok(Translation {
            phys: pte & pg::FRAME_4K,
            write_ok: (new & pg::D != 0) && write_allowed(user, user_ok, rw, wp),
            global: pge && pte & pg::G != 0,
        })
    }
}

#[inline]
fn write_allowed(user: bool, user_ok: bool, rw: bool, wp: bool) -> bool {
    if user { user_ok && rw } else { rw || !wp }
}

#[inline]
fn check_rights(user: bool, write: bool, user_ok: bool, rw: bool, wp: bool) -> Result<(), ()> {
    if user && !user_ok {
        return Err(());
    }
    if write && !write_allowed(user, user_ok, rw, wp) {
        return Err(());
    }
    Ok(())
}
