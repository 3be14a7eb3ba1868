//! Arithmetic-flag liveness within a block: what each instruction must do
//! with the flags it produces.
//!
//! Every inline template keeps the guest flags in `CpuState` in the lazy
//! form, which costs a dozen host instructions for an ADD. When the next
//! instructions overwrite those flags before anything reads them, and
//! nothing can leave the block in between, the stores are dead and are
//! not emitted. "Leaving" is any point where the state must be exact: an
//! instruction that can fault (its exit shows the state before it), one
//! that can end the block after it (a store into a page holding code, a
//! helper call), and the block's end (the next block may read anything).
//! Faults and code-write exits are rare: flags that only they can see are
//! deferred to them (`Need::Rare`, see `deferred`).

use super::classify::{AluOp, Count, Kind, Opnd, ShiftOp};

/// Flag bits for the analysis (not EFLAGS positions).
pub const CF: u8 = 1;
pub const OF: u8 = 2;
pub const ALL: u8 = 0x3F;

/// How an instruction uses the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Use {
    /// Flags it may change (their stores can be skipped if dead).
    may_write: u8,
    /// Flags it always replaces.
    kills: u8,
    reads: u8,
    /// It can leave the block before it completes (a fault).
    exits_before: bool,
    /// It can leave the block right after it completes.
    exits_after: bool,
}

fn uses(k: &Kind) -> Use {
    let mem = |o: &Opnd| *o == Opnd::Mem;
    let u = |may_write, kills, reads, exits_before, exits_after| Use {
        may_write,
        kills,
        reads,
        exits_before,
        exits_after,
    };
    match k {
        Kind::Mov { dst, src, .. } => u(0, 0, 0, mem(dst) || mem(src), mem(dst)),
        Kind::Alu { op, dst, src, .. } => {
            let reads = if matches!(op, AluOp::Adc | AluOp::Sbb) { CF } else { 0 };
            let writes_dst = !matches!(op, AluOp::Cmp | AluOp::Test);
            u(ALL, ALL, reads, mem(dst) || mem(src), writes_dst && mem(dst))
        }
        // CF is kept: the template re-stores the CF it finds, so that is
        // a read.
        Kind::IncDec { dst, .. } => u(ALL, ALL & !CF, CF, mem(dst), mem(dst)),
        Kind::Neg { dst, .. } => u(ALL, ALL, 0, mem(dst), mem(dst)),
        Kind::Not { dst, .. } => u(0, 0, 0, mem(dst), mem(dst)),
        Kind::Lea { .. } => u(0, 0, 0, false, false),
        Kind::Movx { src, .. } => u(0, 0, 0, mem(src), false),
        Kind::Shift { op, dst, count, .. } => {
            let rotate = matches!(op, super::classify::ShiftOp::Rol | super::classify::ShiftOp::Ror);
            let writes = if rotate { CF | OF } else { ALL };
            // A count in CL may be zero: then nothing changes.
            let kills = if *count == Count::Cl { 0 } else { writes };
            u(writes, kills, 0, mem(dst), mem(dst))
        }
        Kind::Imul { src, .. } | Kind::MulAcc { src, .. } => u(CF | OF, CF | OF, 0, mem(src), false),
        Kind::Setcc { dst, .. } => u(0, 0, ALL, mem(dst), mem(dst)),
        Kind::Cmov { src, .. } => u(0, 0, ALL, mem(src), false),
        Kind::Push { .. } => u(0, 0, 0, true, true),
        Kind::Pop { .. } => u(0, 0, 0, true, false),
        Kind::Nop => u(0, 0, 0, false, false),
        Kind::Jmp { .. } | Kind::Jcc { .. } | Kind::Call { .. } | Kind::Ret { .. } | Kind::JmpInd { .. } | Kind::CallInd { .. } => {
            u(0, 0, ALL, true, true)
        }
        Kind::Fallback => u(ALL, 0, ALL, true, true),
    }
}

/// What an instruction must do with the flags it produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: they are overwritten before anything can see them.
    Dead,
    /// Only a rare exit (a fault, a store into code) may see them: keep
    /// the operands for the exit paths to compute them (`deferred`).
    Rare,
    /// Store them in `CpuState`.
    Full,
}

/// Whether `k` may change flags.
pub fn writes_flags(k: &Kind) -> bool {
    uses(k).may_write != 0
}

/// Whether the code generated for `k` reads or replaces the lazy flags in
/// `CpuState`, its own flags being needed as `need`. A Jcc `fused` with
/// the instruction before it branches on host flags; handlers run in
/// Rust, and control transfers read no flags themselves (the next block
/// does).
pub fn touches_lazy(k: &Kind, need: Need, fused: bool) -> bool {
    match k {
        Kind::Fallback | Kind::Jmp { .. } | Kind::Call { .. } | Kind::Ret { .. } | Kind::JmpInd { .. } | Kind::CallInd { .. } => false,
        Kind::Jcc { .. } => !fused,
        // Its kept CF is read only by the template that stores flags.
        Kind::IncDec { .. } => need == Need::Full,
        _ => {
            let f = uses(k);
            (need == Need::Full && f.may_write != 0) || f.reads != 0
        }
    }
}

/// Whether `k`'s flags can be left to the next blocks in operand form
/// (`deferred::settle`): operations that replace every flag, with the
/// operands in EAX and ECX, which `deferred` computes.
pub fn pendable(k: &Kind) -> bool {
    matches!(
        k,
        Kind::Alu {
            op: AluOp::Add | AluOp::Sub | AluOp::Cmp,
            ..
        } | Kind::Neg { .. }
    )
}

/// Whether `k`, storing its flags, replaces all six without reading any.
pub fn replaces_all(k: &Kind) -> bool {
    match k {
        Kind::Alu { op, .. } => !matches!(op, AluOp::Adc | AluOp::Sbb),
        Kind::Neg { .. } => true,
        // Counts are 1-31 here (see `classify`).
        Kind::Shift {
            op, count: Count::Imm(_), ..
        } => !matches!(op, ShiftOp::Rol | ShiftOp::Ror),
        _ => false,
    }
}

/// Whether `k` always replaces all six flags.
pub fn kills_all(k: &Kind) -> bool {
    uses(k).kills == ALL
}

/// Whether `k`'s flags can be deferred (`deferred::Op` covers it).
fn deferrable(k: &Kind) -> bool {
    // ADC/SBB keep their carry in R8 until the instruction's end: only
    // with a register destination (a store's slow path would clobber it).
    if let Kind::Alu {
        op: AluOp::Adc | AluOp::Sbb,
        dst,
        ..
    } = k
    {
        return *dst != Opnd::Mem;
    }
    matches!(
        k,
        Kind::Alu {
            op: AluOp::Add | AluOp::Sub | AluOp::Cmp,
            ..
        } | Kind::Neg { .. }
            | Kind::IncDec { .. }
            | Kind::Shift {
                op: ShiftOp::Shl | ShiftOp::Shr | ShiftOp::Sar,
                count: Count::Imm(_),
                ..
            }
    )
}

/// For each instruction of the block: what to do with its flags.
///
/// Two live sets are carried backwards: flags that an instruction or the
/// next block really reads, and flags that only rare exits may see. The
/// exits of ordinary instructions (faults, the code-write exit of a store)
/// are the rare ones; control transfers, handler calls and the block end
/// read every flag.
pub fn needed(kinds: &[Kind]) -> Vec<Need> {
    let mut need = vec![Need::Full; kinds.len()];
    // At the block's end everything is read.
    let mut real = ALL;
    let mut rare = 0;
    for (j, k) in kinds.iter().enumerate().rev() {
        let f = uses(k);
        if f.exits_after {
            rare = ALL;
        }
        need[j] = if f.may_write & real != 0 {
            Need::Full
        } else if f.may_write & rare != 0 {
            if deferrable(k) { Need::Rare } else { Need::Full }
        } else {
            Need::Dead
        };
        real = (real & !f.kills) | f.reads;
        rare &= !f.kills;
        // A writer that keeps some flags (IMUL, rotates, a shift by CL that
        // may be 0) merges with the ones in `CpuState` when it writes: it
        // reads them. (INC/DEC's kept CF is in `reads` already.)
        if need[j] == Need::Full && f.kills != ALL && !matches!(k, Kind::IncDec { .. }) {
            real |= ALL & !f.kills;
        }
        if f.exits_before {
            rare = ALL;
        }
    }
    need
}

#[cfg(test)]
mod tests {
    use super::Need::{Dead, Full, Rare};
    use super::*;
    use crate::emit::classify::{AluOp, Opnd};

    /// IMUL EAX, ECX: a writer of CF and OF only.
    fn imul_eax_ecx() -> Kind {
        Kind::Imul {
            w: 4,
            dst: 0,
            src: Opnd::Reg(1),
            imm: None,
        }
    }

    fn alu(op: AluOp, dst: Opnd) -> Kind {
        Kind::Alu {
            op,
            w: 4,
            dst,
            src: Opnd::Reg(1),
        }
    }

    #[test]
    fn flags_overwritten_without_exits_are_dead() {
        let k = [
            alu(AluOp::Add, Opnd::Reg(0)),
            alu(AluOp::Sub, Opnd::Reg(2)),
            alu(AluOp::Cmp, Opnd::Reg(3)),
        ];
        assert_eq!(needed(&k), vec![Dead, Dead, Full]);
    }

    #[test]
    fn a_possible_fault_defers_earlier_flags() {
        let k = [
            alu(AluOp::Add, Opnd::Reg(0)),
            Kind::Mov {
                w: 4,
                dst: Opnd::Reg(0),
                src: Opnd::Mem,
            },
            alu(AluOp::Sub, Opnd::Reg(2)),
        ];
        assert_eq!(needed(&k), vec![Rare, Dead, Full]);
    }

    #[test]
    fn a_reader_keeps_its_producer() {
        let k = [
            alu(AluOp::Sub, Opnd::Reg(0)),
            alu(AluOp::Adc, Opnd::Reg(1)),
            alu(AluOp::Xor, Opnd::Reg(2)),
        ];
        assert_eq!(needed(&k), vec![Full, Dead, Full]);
    }

    #[test]
    fn partial_writers_do_not_kill_other_flags() {
        // IMUL replaces CF and OF only: the ADD's other flags stay live.
        let k = [alu(AluOp::Add, Opnd::Reg(0)), imul_eax_ecx()];
        assert_eq!(needed(&k), vec![Full, Full]);
        // A shift by CL may change nothing.
        let k = [
            alu(AluOp::Add, Opnd::Reg(0)),
            Kind::Shift {
                op: crate::emit::classify::ShiftOp::Shl,
                w: 4,
                dst: Opnd::Reg(0),
                count: Count::Cl,
            },
            Kind::Nop,
        ];
        assert_eq!(needed(&k), vec![Full, Full, Dead]);
    }

    #[test]
    fn a_partial_writer_reads_what_it_keeps() {
        // ADD; IMUL (its CF/OF seen only by the fault of the MOV after
        // it); MOV from memory: the IMUL merges into the ADD's flags in
        // the state, so the ADD cannot be deferred.
        let k = [
            alu(AluOp::Add, Opnd::Reg(0)),
            imul_eax_ecx(),
            Kind::Mov {
                w: 4,
                dst: Opnd::Reg(0),
                src: Opnd::Mem,
            },
            alu(AluOp::Sub, Opnd::Reg(2)),
        ];
        assert_eq!(needed(&k), vec![Full, Full, Dead, Full]);
        // Logic results are not deferred (storing them is as cheap).
        let k = [
            alu(AluOp::Xor, Opnd::Reg(0)),
            Kind::Mov {
                w: 4,
                dst: Opnd::Reg(0),
                src: Opnd::Mem,
            },
            alu(AluOp::Sub, Opnd::Reg(2)),
        ];
        assert_eq!(needed(&k), vec![Full, Dead, Full]);
    }
}
