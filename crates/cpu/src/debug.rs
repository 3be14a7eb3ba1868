//! Debug-register breakpoints (SDM vol. 3, 17.2-17.3): instruction
//! breakpoints (faults, suppressed by RF) and data breakpoints (traps after
//! the access), as enabled in DR7 with the lengths and kinds it gives.
//!
//! Cost is paid only while DR7 enables something: the run loop then steps
//! single instructions (checking instruction breakpoints before each), and
//! the TLB keeps pages that hold a data breakpoint off its fast path, so
//! every access to them passes the check in the slow path.

use crate::ctx::Ctx;

/// Breakpoint kinds in DR7's R/W fields.
const EXEC: u32 = 0;
const WRITE: u32 = 1;
const IO: u32 = 2;

/// One enabled breakpoint.
#[derive(Clone, Copy, Debug)]
struct Bp {
    n: usize,
    addr: u32,
    len: u32,
    kind: u32,
}

fn enabled(dr7: u32) -> impl Iterator<Item = Bp> {
    (0..4).filter(move |n| dr7 & (3 << (2 * n)) != 0).map(move |n| {
        let kind = (dr7 >> (16 + 4 * n)) & 3;
        let len = match (dr7 >> (18 + 4 * n)) & 3 {
            0 => 1,
            1 => 2,
            // LEN 10b is undefined on P6 processors for 32-bit code; treat
            // it as 8 bytes, as later processors define it.
            2 => 8,
            _ => 4,
        };
        Bp { n, addr: 0, len, kind }
    })
}

impl Ctx<'_> {
    /// Whether DR7 enables any breakpoint.
    #[inline(always)]
    pub fn breakpoints_enabled(&self) -> bool {
        self.s.dr[7] & 0xFF != 0
    }

    /// An instruction breakpoint at linear `lin` matches (RF clear): the
    /// DR6 bits to set.
    pub fn instruction_breakpoint(&self, lin: u32) -> u32 {
        let mut hit = 0;
        for mut bp in enabled(self.s.dr[7]) {
            bp.addr = self.s.dr[bp.n];
            if bp.kind == EXEC && bp.addr == lin {
                hit |= 1 << bp.n;
            }
        }
        hit
    }

    /// Record data breakpoints hit by an access of `len` bytes at `lin`.
    pub fn note_data_access(&mut self, lin: u32, len: u32, write: bool) {
        if !self.breakpoints_enabled() {
            return;
        }
        for mut bp in enabled(self.s.dr[7]) {
            bp.addr = self.s.dr[bp.n] & !(bp.len - 1);
            let matches_kind = match bp.kind {
                WRITE => write,
                EXEC | IO => false,
                _ => true,
            };
            let end = lin as u64 + len as u64;
            if matches_kind && (lin as u64) < bp.addr as u64 + bp.len as u64 && end > bp.addr as u64 {
                self.data_breakpoints |= 1 << bp.n;
            }
        }
    }

    /// Whether the linear page at `page` holds an enabled data breakpoint
    /// (such pages stay off the TLB's fast path).
    pub fn page_has_data_breakpoint(&self, page: u32) -> bool {
        if !self.breakpoints_enabled() {
            return false;
        }
        enabled(self.s.dr[7]).any(|bp| {
            let a = self.s.dr[bp.n];
            matches!(bp.kind, 1 | 3) && (a & !0xFFF == page || (a.wrapping_add(bp.len - 1)) & !0xFFF == page)
        })
    }
}
