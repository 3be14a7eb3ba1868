//! The i686 CPU: the architectural state every engine shares
//! ([`CpuState`]), memory management (segmentation, paging, TLB),
//! exception and interrupt delivery, and the interpreter — the reference
//! engine every faster engine is checked against.

pub mod bus;
pub mod cpuid;
pub mod ctx;
pub mod debug;
pub mod engine;
pub mod exception;
pub mod exit;
pub mod flags;
pub mod fpu;
pub mod interp;
pub mod mmu;
pub mod segment;
pub mod state;

pub use bus::{Bus, NullBus};
pub use ctx::Ctx;
pub use engine::Engine;
pub use exception::{Exception, Res};
pub use exit::Exit;
pub use interp::Interpreter;
pub use state::CpuState;
