//! Memory for generated code: one mapping, writable while code is added,
//! executable while it runs (never both at once).

use memmap2::{Mmap, MmapMut};

enum Map {
    Write(MmapMut),
    Exec(Mmap),
    Empty,
}

pub struct CodeBuf {
    map: Map,
    base: usize,
    used: usize,
    cap: usize,
}

impl CodeBuf {
    pub fn new(cap: usize) -> std::io::Result<Self> {
        let m = MmapMut::map_anon(cap)?;
        let base = m.as_ptr() as usize;
        Ok(Self {
            map: Map::Write(m),
            base,
            used: 0,
            cap,
        })
    }

    /// Address where the next code will go.
    pub fn next_addr(&self) -> usize {
        self.base + self.used
    }

    pub fn remaining(&self) -> usize {
        self.cap - self.used
    }

    /// Append `code` (assembled for `next_addr()`); returns its address,
    /// or None when the buffer is full.
    pub fn push(&mut self, code: &[u8]) -> Option<usize> {
        if code.len() > self.remaining() {
            return None;
        }
        self.writable().ok()?;
        let Map::Write(m) = &mut self.map else {
            return None;
        };
        let at = self.used;
        m[at..at + code.len()].copy_from_slice(code);
        self.used += code.len();
        Some(self.base + at)
    }

    /// Forget the code after the first `keep` bytes (the caller drops
    /// every reference to it first).
    pub fn truncate(&mut self, keep: usize) {
        self.used = self.used.min(keep);
    }

    fn writable(&mut self) -> std::io::Result<()> {
        if matches!(self.map, Map::Write(_)) {
            return Ok(());
        }
        match std::mem::replace(&mut self.map, Map::Empty) {
            Map::Exec(m) => {
                self.map = Map::Write(m.make_mut()?);
                Ok(())
            }
            other => {
                self.map = other;
                Ok(())
            }
        }
    }

    /// Make the code executable (before running any of it).
    pub fn executable(&mut self) -> std::io::Result<()> {
        if matches!(self.map, Map::Exec(_)) {
            return Ok(());
        }
        match std::mem::replace(&mut self.map, Map::Empty) {
            Map::Write(m) => {
                self.map = Map::Exec(m.make_exec()?);
                Ok(())
            }
            other => {
                self.map = other;
                Ok(())
            }
        }
    }

    /// The bytes of code at `addr` (for diagnostics).
    pub fn bytes(&self, addr: usize, len: usize) -> &[u8] {
        let m: &[u8] = match &self.map {
            Map::Write(m) => m,
            Map::Exec(m) => m,
            Map::Empty => &[],
        };
        let start = addr.saturating_sub(self.base).min(self.used);
        let end = (start + len).min(self.used);
        &m[start..end]
    }
}
