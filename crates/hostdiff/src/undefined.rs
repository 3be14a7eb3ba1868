//! Undefined results and what the comparison masks.
//!
//! The project's policy for what the SDM leaves undefined is "match a real
//! CPU family we name, or mask, never guess silently". Every undefined
//! flag and result the generator exercises was measured on the host (AMD
//! Zen), and where the host follows a simple rule the interpreter now
//! reproduces it; `docs/undefined.md` lists each one with the rule and the
//! CPU it follows. So nothing needs masking today and [`MASKED`] is empty.
//!
//! When the interpreter deliberately follows another CPU for some
//! instruction (or the host's rule is too irregular to model), add the
//! instruction here with the EFLAGS bits it leaves undefined. The
//! generator then
//! - follows every such instruction with `CMP EAX, EAX`, which defines all
//!   six arithmetic flags, so the undefined values cannot flow into later
//!   results (a conditional jump, `ADC`, `PUSHF`, ...), and
//! - reports the bits in [`crate::program::Program::undefined_flags`],
//!   which the comparison leaves out of EFLAGS (for a trap taken right
//!   after the instruction, before the `CMP`).

use iced_x86::{Instruction, Mnemonic};

/// Instructions whose undefined flags are masked, with those flags.
pub const MASKED: &[(Mnemonic, u32)] = &[];

/// The EFLAGS bits [`MASKED`] lists for `i` (0 for everything else).
pub fn undefined_flags(i: &Instruction) -> u32 {
    MASKED.iter().filter(|(m, _)| *m == i.mnemonic()).fold(0, |acc, (_, f)| acc | f)
}
