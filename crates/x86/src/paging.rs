//! Two-level 32-bit paging entries (SDM vol. 3, 4.3).

pub const P: u32 = 1 << 0;
pub const RW: u32 = 1 << 1;
pub const US: u32 = 1 << 2;
pub const PWT: u32 = 1 << 3;
pub const PCD: u32 = 1 << 4;
pub const A: u32 = 1 << 5;
pub const D: u32 = 1 << 6;
/// In a page-directory entry: this entry maps a 4 MiB page (CR4.PSE).
pub const PS: u32 = 1 << 7;
/// In a PTE (or 4 MiB PDE): global page (CR4.PGE).
pub const G: u32 = 1 << 8;
/// In a 4 MiB PDE: PAT index bit.
pub const PAT_LARGE: u32 = 1 << 12;
/// Frame address of a 4 KiB entry.
pub const FRAME_4K: u32 = 0xFFFF_F000;
/// Frame address of a 4 MiB entry (bits 22-31; 13-20 are PSE-36, unused
/// without PSE-36 and then reserved).
pub const FRAME_4M: u32 = 0xFFC0_0000;
pub const PAGE_SIZE: u32 = 4096;
pub const PAGE_MASK: u32 = PAGE_SIZE - 1;
