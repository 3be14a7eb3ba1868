//! Memory management: segmentation checks, paging and the software TLB,
//! and every way an instruction reads or writes guest memory.
//!
//! All guest memory accesses of the software engines come through here, so
//! that the shadow-address-space design can later replace the TLB without
//! touching instruction semantics.

mod access;
mod tlb;
mod walk;
mod wide;

pub use access::Mmu;
pub use tlb::{FlushLog, ITLB_SETS, TLB_SETS, Tlb, TlbEntry, flag as tlb_flag};
pub use walk::Intent;
pub use wide::{Order, Shape, StoreTarget};
