//! The fixed-size result header the child sends through the pipe for each
//! case (followed by the contents of the case's regions, in order).

use crate::fx::{FX_LEN, FxArea};

/// The case ran and reached the exit sentinel.
pub(crate) const ST_COMPLETED: u32 = 0;
/// The case ended with a signal (exception).
pub(crate) const ST_EXCEPTION: u32 = 1;
/// Mapping the case's memory failed (`errno` set, `what` names the step).
pub(crate) const ST_CASE_SETUP: u32 = 2;
/// The child's one-time setup failed (`errno` set, `what` names the step).
pub(crate) const ST_CHILD_SETUP: u32 = 3;

const WHAT_LEN: usize = 48;

#[derive(Clone)]
pub(crate) struct RawResult {
    pub status: u32,
    pub errno: i32,
    pub gpr: [u32; 8],
    pub eip: u32,
    pub eflags: u32,
    pub sreg: [u16; 6],
    pub signo: i32,
    pub si_code: i32,
    pub si_errno: i32,
    pub syscall: i32,
    pub trapno: u32,
    pub err: u32,
    pub cr2: u64,
    pub si_addr: u64,
    pub what: [u8; WHAT_LEN],
    pub fx: FxArea,
}

pub(crate) const HEADER_LEN: usize = 4 * 2 + 4 * 8 + 4 * 2 + 2 * 6 + 4 * 6 + 8 * 2 + WHAT_LEN + FX_LEN;

impl RawResult {
    pub fn new(status: u32) -> Self {
        RawResult {
            status,
            errno: 0,
            gpr: [0; 8],
            eip: 0,
            eflags: 0,
            sreg: [0; 6],
            signo: 0,
            si_code: 0,
            si_errno: 0,
            syscall: 0,
            trapno: 0,
            err: 0,
            cr2: 0,
            si_addr: 0,
            what: [0; WHAT_LEN],
            fx: FxArea::ZERO,
        }
    }

    pub fn set_what(&mut self, what: &str) {
        let n = what.len().min(WHAT_LEN);
        self.what[..n].copy_from_slice(&what.as_bytes()[..n]);
    }

    pub fn what(&self) -> String {
        let end = self.what.iter().position(|&b| b == 0).unwrap_or(WHAT_LEN);
        String::from_utf8_lossy(&self.what[..end]).into_owned()
    }

    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        let mut w = Writer { buf: out, pos: 0 };
        w.put(&self.status.to_le_bytes());
        w.put(&self.errno.to_le_bytes());
        for g in self.gpr {
            w.put(&g.to_le_bytes());
        }
        w.put(&self.eip.to_le_bytes());
        w.put(&self.eflags.to_le_bytes());
        for s in self.sreg {
            w.put(&s.to_le_bytes());
        }
        w.put(&self.signo.to_le_bytes());
        w.put(&self.si_code.to_le_bytes());
        w.put(&self.si_errno.to_le_bytes());
        w.put(&self.syscall.to_le_bytes());
        w.put(&self.trapno.to_le_bytes());
        w.put(&self.err.to_le_bytes());
        w.put(&self.cr2.to_le_bytes());
        w.put(&self.si_addr.to_le_bytes());
        w.put(&self.what);
        w.put(&self.fx.0);
        debug_assert_eq!(w.pos, HEADER_LEN);
    }

    pub fn decode(buf: &[u8; HEADER_LEN]) -> Self {
        let mut r = Reader { buf, pos: 0 };
        let mut out = RawResult::new(r.u32());
        out.errno = r.u32() as i32;
        for g in &mut out.gpr {
            *g = r.u32();
        }
        out.eip = r.u32();
        out.eflags = r.u32();
        for s in &mut out.sreg {
            *s = u16::from_le_bytes(r.take::<2>());
        }
        out.signo = r.u32() as i32;
        out.si_code = r.u32() as i32;
        out.si_errno = r.u32() as i32;
        out.syscall = r.u32() as i32;
        out.trapno = r.u32();
        out.err = r.u32();
        out.cr2 = u64::from_le_bytes(r.take::<8>());
        out.si_addr = u64::from_le_bytes(r.take::<8>());
        out.what = r.take::<WHAT_LEN>();
        out.fx = FxArea(r.take::<FX_LEN>());
        out
    }
}

struct Writer<'a> {
    buf: &'a mut [u8; HEADER_LEN],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
}

struct Reader<'a> {
    buf: &'a [u8; HEADER_LEN],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let out: [u8; N] = self.buf[self.pos..self.pos + N].try_into().expect("N bytes");
        self.pos += N;
        out
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take::<4>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut r = RawResult::new(ST_EXCEPTION);
        r.errno = -3;
        r.gpr = [1, 2, 3, 4, 5, 6, 7, 8];
        r.eip = 0x1000_0004;
        r.sreg = [0x2b, 0x23, 0x2b, 0x2b, 0, 0];
        r.cr2 = 0xdead_beef;
        r.si_addr = 0x1234_5678_9abc;
        r.set_what("mmap");
        r.fx.set_fcw(0x27f);
        let mut buf = [0; HEADER_LEN];
        r.encode(&mut buf);
        let d = RawResult::decode(&buf);
        assert_eq!(d.status, ST_EXCEPTION);
        assert_eq!(d.errno, -3);
        assert_eq!(d.gpr, r.gpr);
        assert_eq!(d.eip, r.eip);
        assert_eq!(d.sreg, r.sreg);
        assert_eq!(d.cr2, r.cr2);
        assert_eq!(d.si_addr, r.si_addr);
        assert_eq!(d.what(), "mmap");
        assert_eq!(d.fx, r.fx);
    }
}
