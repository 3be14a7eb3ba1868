//! Flags handed from producer to consumer in operand form.
//!
//! A flag producer whose flags some later instruction reads would store
//! them in the lazy form (about twelve host instructions for a SUB), and
//! the reader would load and decode them again: a chain of a dozen
//! dependent host instructions and a store-to-load round trip, where the
//! guest has one. In the kernel's multi-precision multiply that chain is
//! the loop's critical path (a compare feeding a CMOV, the carry of one
//! limb feeding the next).
//!
//! So an ADD, SUB, CMP or NEG whose flags are read only by conditions
//! (Jcc, SETcc, CMOVcc) and carries (ADC, SBB) stores just its two
//! operands in frame slots; each
//! reader redoes the operation on them at the same width in host
//! registers (`cmp r10d, [slot]`), which gives every host flag equal to
//! the guest's, and tests its condition on those. Faults and code-write
//! exits in between see the flags as deferred ones (`deferred`): the
//! operands sit in the same slots. When the flags also reach the block's
//! end they go to the `pend` slots, for the next blocks too
//! (`deferred::settle`).
//!
//! Nothing may change the flags between the producer and a reader. An
//! instruction that replaces them all ends the producer's reach; one
//! that keeps some (INC/DEC, ADC/SBB, rotates, a shift by CL, a handler)
//! reads them from the lazy form, so the producer stores them there as
//! before.

use super::classify::{AluOp, Kind};
use super::liveness::{self, Need};

/// Where a producer's flags go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Produce {
    /// As `liveness` says (lazy form when `Need::Full`).
    #[default]
    AsNeeded,
    /// Operands in the frame's deferred slots, for readers in this block.
    Slots,
    /// Operands in the `pend` slots: the next blocks may read them too.
    Pend,
}

/// Flag plan of one instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub produce: Produce,
    /// For a condition reader: the flags come from a producer in this
    /// block, whose deferred operation code this is (see
    /// `deferred::code`) and whose operands are in the `pend` slots
    /// (true) or the deferred ones (false).
    pub from_slots: Option<(u8, bool)>,
}

/// Whether `k` tests a condition on the flags (and reads nothing else of
/// them).
fn condition(k: &Kind) -> bool {
    matches!(k, Kind::Jcc { .. } | Kind::Setcc { .. } | Kind::Cmov { .. })
}

/// Whether `k` reads CF alone and then replaces every flag (ADC, SBB).
pub fn carry_reader(k: &Kind) -> bool {
    matches!(
        k,
        Kind::Alu {
            op: AluOp::Adc | AluOp::Sbb,
            ..
        }
    )
}

/// The plan for a block of `kinds` with flag needs `needs`; `fused(j)`
/// tells whether instruction `j` is a Jcc branching on the host flags of
/// the instruction before it.
pub fn plan(kinds: &[Kind], needs: &[Need], fused: impl Fn(usize) -> bool, code: impl Fn(&Kind) -> u8) -> Vec<Plan> {
    let n = kinds.len();
    let mut out = vec![Plan::default(); n];
    for k in 0..n {
        if needs[k] != Need::Full || !liveness::pendable(&kinds[k]) {
            continue;
        }
        let mut readers = Vec::new();
        // Some(true): the flags reach the end; Some(false): replaced in
        // the block; None: something reads them another way.
        let mut reach = Some(true);
        // A conditional branch before the block's end is a side exit: the
        // flags leave the block there too.
        let mut side_exit = false;
        for (j, kj) in kinds.iter().enumerate().skip(k + 1) {
            side_exit |= matches!(kj, Kind::Jcc { .. }) && j + 1 < n;
            if fused(j) && j == k + 1 {
                // Branches on the host flags the producer leaves.
            } else if condition(kj) {
                readers.push(j);
            } else if carry_reader(kj) {
                readers.push(j);
                reach = Some(false);
                break;
            } else if liveness::touches_lazy(kj, needs[j], fused(j)) || matches!(kj, Kind::Fallback) {
                // A writer that replaces them all and reads none ends the
                // producer's reach; anything else reads the lazy form.
                if liveness::writes_flags(kj) && liveness::replaces_all(kj) && !matches!(kj, Kind::Fallback) {
                    reach = Some(false);
                } else {
                    reach = None;
                }
                break;
            } else if liveness::writes_flags(kj) {
                // A producer that stores nothing here (dead or deferred):
                // it replaces them too, unless it keeps some.
                reach = if liveness::replaces_all(kj) { Some(false) } else { None };
                break;
            }
        }
        let Some(to_end) = reach.map(|r| r || side_exit) else { continue };
        if !to_end && readers.is_empty() {
            continue;
        }
        out[k].produce = if to_end { Produce::Pend } else { Produce::Slots };
        for j in readers {
            out[j].from_slots = Some((code(&kinds[k]), to_end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::classify::Opnd;

    fn cmp() -> Kind {
        Kind::Alu {
            op: AluOp::Cmp,
            w: 4,
            dst: Opnd::Reg(0),
            src: Opnd::Reg(1),
        }
    }

    fn mov() -> Kind {
        Kind::Mov {
            w: 4,
            dst: Opnd::Reg(2),
            src: Opnd::Reg(3),
        }
    }

    #[test]
    fn a_compare_read_by_a_cmov_hands_its_operands_over() {
        let cmov = Kind::Cmov {
            cc: 3,
            w: 4,
            dst: 2,
            src: Opnd::Reg(3),
        };
        let sub = Kind::Alu {
            op: AluOp::Sub,
            w: 4,
            dst: Opnd::Reg(0),
            src: Opnd::Reg(1),
        };
        let kinds = [cmp(), mov(), cmov, sub, Kind::Nop];
        let needs = liveness::needed(&kinds);
        let p = plan(&kinds, &needs, |_| false, |_| 7);
        assert_eq!(p[0].produce, Produce::Slots);
        assert_eq!(p[2].from_slots, Some((7, false)));
        // The SUB's flags reach the end: the next blocks get them.
        assert_eq!(p[3].produce, Produce::Pend);
    }

    #[test]
    fn a_reader_of_the_lazy_form_keeps_it() {
        let inc = Kind::IncDec {
            w: 4,
            dst: Opnd::Reg(0),
            dec: false,
        };
        let setc = Kind::Setcc { cc: 2, dst: Opnd::Reg(1) };
        // INC keeps the compare's CF, which the SETC reads.
        let kinds = [cmp(), inc, setc, Kind::Nop];
        let needs = liveness::needed(&kinds);
        let p = plan(&kinds, &needs, |_| false, |_| 7);
        assert_eq!(p[0], Plan::default());
    }
}
