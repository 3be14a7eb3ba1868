//! The recompiler: guest x86 code translated per block into host x86-64
//! code.
//!
//! A block is the same unit the interpreter decodes: up to 64 instructions
//! within one physical page, ending at a control transfer. Each guest
//! instruction becomes either inline host code or a call into the
//! interpreter's handler for it (so every instruction is covered from the
//! start and exactness never depends on how much is translated inline).
//! Guest state is exact in `CpuState` at every instruction boundary where
//! the block may leave (arithmetic flags only rare exits need are computed
//! on those exits, see `deferred`), so a faulting instruction leaves
//! exactly the interpreter's state, and the execution manager can switch
//! engines between any two blocks.
//!
//! Cold code is interpreted; a block is translated once it has run
//! `threshold` times. Translations are keyed by physical address, EIP and
//! the CPU mode they were made for; a write to a page holding translated
//! code (seen through the shared code-page log) drops exactly that page's
//! translations.

mod block;
mod codebuf;
mod deferred;
mod dispatch;
// dynasm expands dynamic register operands (`Rd(n)`) to `n.into()`, a
// conversion clippy calls useless when `n` is already a `u8`.
#[allow(clippy::useless_conversion)]
mod emit;
mod frame;
mod jumpcache;
mod memo;
mod mode;
mod runtime;
#[allow(clippy::useless_conversion)] // dynasm's `Rd(n)`, as for `emit`
mod thunks;

pub use dispatch::{Recompiler, Stats};
