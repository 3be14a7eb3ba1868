//! Memory for generated code, mapped twice: a writable view through which
//! code is written and an executable view from which it runs. The same
//! pages are never writable and executable at one address, and adding a
//! translation costs no `mprotect` (which would stall the guest and shoot
//! down TLBs on every translation).

use memmap2::{Mmap, MmapMut, MmapOptions};
use std::fs::File;

/// How far ahead of the code written the pages are made present.
const AHEAD: usize = 1 << 20;

pub struct CodeBuf {
    /// The writable view.
    rw: MmapMut,
    /// The executable view (same pages).
    rx: Mmap,
    /// Bytes from the start whose pages are present in both views.
    populated: usize,
    used: usize,
    cap: usize,
}

impl CodeBuf {
    pub fn new(cap: usize) -> std::io::Result<Self> {
        let fd = rustix::fs::memfd_create("ringvisor-code", rustix::fs::MemfdFlags::CLOEXEC)?;
        let file = File::from(fd);
        file.set_len(cap as u64)?;
        // SAFETY: the memfd was just created by this process and is never
        // resized or written other than through these two mappings, which
        // live as long as `self`; the file handle is dropped after mapping
        // (the mappings keep the memory).
        let rw = unsafe { MmapOptions::new().len(cap).map_mut(&file)? };
        // SAFETY: as above.
        let rx = unsafe { MmapOptions::new().len(cap).map_exec(&file)? };
        Ok(Self {
            rw,
            rx,
            populated: 0,
            used: 0,
            cap,
        })
    }

    /// Executable address where the next code will go (code is assembled
    /// for this address).
    pub fn next_addr(&self) -> usize {
        self.rx.as_ptr() as usize + self.used
    }

    /// Bytes of code written so far.
    pub fn used(&self) -> usize {
        self.used
    }

    pub fn remaining(&self) -> usize {
        self.cap - self.used
    }

    /// Append `code` (assembled for `next_addr()`); returns its executable
    /// address, or None when the buffer is full.
    pub fn push(&mut self, code: &[u8]) -> Option<usize> {
        if code.len() > self.remaining() {
            return None;
        }
        let at = self.used;
        if at + code.len() > self.populated {
            self.populate(at + code.len());
        }
        self.rw[at..at + code.len()].copy_from_slice(code);
        self.used += code.len();
        Some(self.rx.as_ptr() as usize + at)
    }

    /// Replace the 4 bytes at executable address `addr` (a jump's
    /// displacement) with `v`; false when `addr` is not in written code.
    pub fn patch_u32(&mut self, addr: usize, v: u32) -> bool {
        let Some(off) = addr.checked_sub(self.rx.as_ptr() as usize) else {
            return false;
        };
        if off.checked_add(4).is_none_or(|end| end > self.used) {
            return false;
        }
        self.rw[off..off + 4].copy_from_slice(&v.to_le_bytes());
        true
    }

    /// Forget the code after the first `keep` bytes (the caller drops
    /// every reference to it first).
    /// Make the pages up to `AHEAD` past `end` present in both views, a
    /// megabyte at a time: faulting them in one by one as code is written
    /// and first run took about a third of the boot's translation time
    /// (90 of 290 ms). Populating all of the buffer up front would cost
    /// every guest its size in memory. Failure (kernels before 5.14)
    /// leaves the pages to fault in as before.
    fn populate(&mut self, end: usize) {
        let to = (end + AHEAD).min(self.cap);
        let (from, len) = (self.populated, to - self.populated);
        // SAFETY: both ranges lie within this buffer's own mappings (`to`
        // is at most `cap`); populating changes no contents.
        unsafe {
            let _ = rustix::mm::madvise(self.rw.as_mut_ptr().add(from).cast(), len, rustix::mm::Advice::LinuxPopulateWrite);
            let _ = rustix::mm::madvise(
                self.rx.as_ptr().add(from).cast_mut().cast(),
                len,
                rustix::mm::Advice::LinuxPopulateRead,
            );
        }
        self.populated = to;
    }

    pub fn truncate(&mut self, keep: usize) {
        self.used = self.used.min(keep);
    }

    /// Nothing to do: the executable view always shows what was written
    /// (x86 keeps instruction fetch coherent with stores).
    pub fn executable(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// The bytes of code at executable address `addr` (for diagnostics).
    pub fn bytes(&self, addr: usize, len: usize) -> &[u8] {
        let start = addr.saturating_sub(self.rx.as_ptr() as usize).min(self.used);
        let end = (start + len).min(self.used);
        &self.rx[start..end]
    }
}
