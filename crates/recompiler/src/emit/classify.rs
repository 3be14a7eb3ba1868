//! What a guest instruction becomes: an inline translation of a known
//! shape, or a call to the interpreter's handler.

use crate::mode;
use cpu::interp::insn::Insn;
use cpu::state::sreg;
use iced_x86::{Code, Instruction, Mnemonic, OpKind};

/// Operand width in bytes.
pub type Width = u8;

/// An operand of an inline translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opnd {
    /// Guest general register (encoding number; 4-7 are AH..BH at width 1).
    Reg(u8),
    /// The instruction's memory operand (flat segment: linear = EA).
    Mem,
    Imm(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AluOp {
    Add,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
    Cmp,
    Test,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftOp {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
}

/// A shift count: an immediate (1..=31) or CL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Imm(u8),
    Cl,
}

/// The shapes translated inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Mov {
        w: Width,
        dst: Opnd,
        src: Opnd,
    },
    Alu {
        op: AluOp,
        w: Width,
        dst: Opnd,
        src: Opnd,
    },
    IncDec {
        w: Width,
        dst: Opnd,
        dec: bool,
    },
    Neg {
        w: Width,
        dst: Opnd,
    },
    Not {
        w: Width,
        dst: Opnd,
    },
    Lea {
        w: Width,
        dst: u8,
    },
    Movx {
        dw: Width,
        sw: Width,
        signed: bool,
        dst: u8,
        src: Opnd,
    },
    Shift {
        op: ShiftOp,
        w: Width,
        dst: Opnd,
        count: Count,
    },
    /// IMUL r, r/m and IMUL r, r/m, imm (`imm` for the 3-operand form).
    Imul {
        w: Width,
        dst: u8,
        src: Opnd,
        imm: Option<u32>,
    },
    /// MUL/IMUL r/m: EDX:EAX (DX:AX, AX) = accumulator * r/m.
    MulAcc {
        w: Width,
        src: Opnd,
        signed: bool,
    },
    Setcc {
        cc: u8,
        dst: Opnd,
    },
    Cmov {
        cc: u8,
        w: Width,
        dst: u8,
        src: Opnd,
    },
    Push {
        src: Opnd,
    },
    Pop {
        dst: u8,
    },
    Jmp {
        target: u32,
    },
    /// JMP r/m32 (32-bit code with a 4 GiB CS).
    JmpInd {
        src: Opnd,
    },
    /// CALL r/m32 (likewise, with a 32-bit flat stack).
    CallInd {
        src: Opnd,
    },
    Jcc {
        cc: u8,
        target: u32,
    },
    Call {
        target: u32,
    },
    Ret {
        imm: u16,
    },
    Nop,
    /// Everything else: the interpreter's handler.
    Fallback,
}

/// Which family a conditional mnemonic belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Jcc,
    Set,
    Cmov,
}

fn family(m: Mnemonic) -> Family {
    use Mnemonic as M;
    match m {
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => Family::Set,
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => Family::Cmov,
        _ => Family::Jcc,
    }
}

/// Condition code of a Jcc/SETcc/CMOVcc mnemonic.
fn condition(m: Mnemonic) -> Option<u8> {
    use Mnemonic as M;
    Some(match m {
        M::Jo | M::Seto | M::Cmovo => 0,
        M::Jno | M::Setno | M::Cmovno => 1,
        M::Jb | M::Setb | M::Cmovb => 2,
        M::Jae | M::Setae | M::Cmovae => 3,
        M::Je | M::Sete | M::Cmove => 4,
        M::Jne | M::Setne | M::Cmovne => 5,
        M::Jbe | M::Setbe | M::Cmovbe => 6,
        M::Ja | M::Seta | M::Cmova => 7,
        M::Js | M::Sets | M::Cmovs => 8,
        M::Jns | M::Setns | M::Cmovns => 9,
        M::Jp | M::Setp | M::Cmovp => 10,
        M::Jnp | M::Setnp | M::Cmovnp => 11,
        M::Jl | M::Setl | M::Cmovl => 12,
        M::Jge | M::Setge | M::Cmovge => 13,
        M::Jle | M::Setle | M::Cmovle => 14,
        M::Jg | M::Setg | M::Cmovg => 15,
        _ => return None,
    })
}

fn alu_op(m: Mnemonic) -> Option<AluOp> {
    use Mnemonic as M;
    Some(match m {
        M::Add => AluOp::Add,
        M::Or => AluOp::Or,
        M::Adc => AluOp::Adc,
        M::Sbb => AluOp::Sbb,
        M::And => AluOp::And,
        M::Sub => AluOp::Sub,
        M::Xor => AluOp::Xor,
        M::Cmp => AluOp::Cmp,
        M::Test => AluOp::Test,
        _ => return None,
    })
}

/// Width of a general register operand, in bytes.
fn reg_width(r: iced_x86::Register) -> Option<Width> {
    if r.is_gpr8() {
        Some(1)
    } else if r.is_gpr16() {
        Some(2)
    } else if r.is_gpr32() {
        Some(4)
    } else {
        None
    }
}

/// Classify `ins` for mode `m`. Memory operands are inlined only with flat
/// DS/ES/SS (through one of those, or through an FS or GS that admits
/// every offset), no alignment checking, no LOCK-free concerns (a single
/// CPU), and a 32-bit stack for stack operations.
pub fn classify(ins: &Instruction, insn: &Insn, m: u32) -> Kind {
    let flat = m & mode::FLAT != 0 && m & mode::ALIGN == 0;
    let mem_ok = flat
        && match insn.seg as usize {
            sreg::DS | sreg::ES | sreg::SS => true,
            sreg::FS => m & mode::FS_BIG != 0,
            sreg::GS => m & mode::GS_BIG != 0,
            _ => false,
        };
    let opnd = |i: u32| -> Option<Opnd> {
        match ins.op_kind(i) {
            OpKind::Register => {
                let r = ins.op_register(i);
                reg_width(r)?;
                Some(Opnd::Reg(cpu::interp::decode::reg_number(r)))
            }
            OpKind::Memory => mem_ok.then_some(Opnd::Mem),
            OpKind::Immediate8 | OpKind::Immediate16 | OpKind::Immediate32 | OpKind::Immediate8to16 | OpKind::Immediate8to32 => {
                Some(Opnd::Imm(ins.immediate(i) as u32))
            }
            _ => None,
        }
    };
    let width = |i: u32| -> Option<Width> {
        match ins.op_kind(i) {
            OpKind::Register => reg_width(ins.op_register(i)),
            OpKind::Memory => Some(ins.memory_size().size() as Width).filter(|w| matches!(w, 1 | 2 | 4)),
            _ => None,
        }
    };
    let mn = ins.mnemonic();
    // A near target needs no limit check when CS admits every value the
    // branch can produce: a 16-bit target under a limit of at least
    // 0xFFFF, a 32-bit one only in 32-bit code (4 GiB limit). A 32-bit
    // branch in 16-bit code (operand-size prefix) can leave the segment.
    let code32_branch = m & mode::BIGCS != 0 && (m & mode::CODE32 != 0 || ins.op_kind(0) == OpKind::NearBranch16);
    let ret_ok = m & mode::BIGCS != 0 && m & mode::CODE32 != 0;
    let k = (|| -> Option<Kind> {
        if let Some(op) = alu_op(mn) {
            return Some(Kind::Alu {
                op,
                w: width(0)?,
                dst: opnd(0)?,
                src: opnd(1)?,
            });
        }
        match mn {
            Mnemonic::Mov => {
                let w = width(0).or_else(|| width(1))?;
                // MOV with segment, control or debug registers: not here.
                Some(Kind::Mov {
                    w,
                    dst: opnd(0)?,
                    src: opnd(1)?,
                })
            }
            Mnemonic::Inc | Mnemonic::Dec => Some(Kind::IncDec {
                w: width(0)?,
                dst: opnd(0)?,
                dec: mn == Mnemonic::Dec,
            }),
            Mnemonic::Neg => Some(Kind::Neg {
                w: width(0)?,
                dst: opnd(0)?,
            }),
            Mnemonic::Not => Some(Kind::Not {
                w: width(0)?,
                dst: opnd(0)?,
            }),
            Mnemonic::Imul if ins.op_count() >= 2 => {
                let Opnd::Reg(r) = opnd(0)? else { return None };
                let w = width(0)?;
                if w == 1 {
                    return None;
                }
                let imm = (ins.op_count() == 3).then(|| ins.immediate(2) as u32);
                Some(Kind::Imul {
                    w,
                    dst: r,
                    src: opnd(1)?,
                    imm,
                })
            }
            Mnemonic::Mul | Mnemonic::Imul if ins.op_count() == 1 => Some(Kind::MulAcc {
                w: width(0)?,
                src: opnd(0)?,
                signed: mn == Mnemonic::Imul,
            }),
            Mnemonic::Lea => {
                let Opnd::Reg(r) = opnd(0)? else { return None };
                Some(Kind::Lea { w: width(0)?, dst: r })
            }
            Mnemonic::Movzx | Mnemonic::Movsx => {
                let Opnd::Reg(r) = opnd(0)? else { return None };
                let src = opnd(1)?;
                let sw = width(1)?;
                Some(Kind::Movx {
                    dw: width(0)?,
                    sw,
                    signed: mn == Mnemonic::Movsx,
                    dst: r,
                    src,
                })
            }
            Mnemonic::Shl | Mnemonic::Sal | Mnemonic::Shr | Mnemonic::Sar | Mnemonic::Rol | Mnemonic::Ror => {
                let op = match mn {
                    Mnemonic::Shr => ShiftOp::Shr,
                    Mnemonic::Sar => ShiftOp::Sar,
                    Mnemonic::Rol => ShiftOp::Rol,
                    Mnemonic::Ror => ShiftOp::Ror,
                    _ => ShiftOp::Shl,
                };
                let count = match ins.op_kind(1) {
                    // A zero immediate leaves everything unchanged: nothing
                    // to do but the operand access, left to the interpreter.
                    OpKind::Immediate8 if ins.immediate8() & 0x1F == 0 => return None,
                    OpKind::Immediate8 => Count::Imm(ins.immediate8() & 0x1F),
                    OpKind::Register if ins.op_register(1) == iced_x86::Register::CL => Count::Cl,
                    _ => return None,
                };
                Some(Kind::Shift {
                    op,
                    w: width(0)?,
                    dst: opnd(0)?,
                    count,
                })
            }
            _ => {
                if let Some(cc) = condition(mn) {
                    return match family(mn) {
                        Family::Set => Some(Kind::Setcc { cc, dst: opnd(0)? }),
                        Family::Cmov => {
                            let Opnd::Reg(r) = opnd(0)? else { return None };
                            Some(Kind::Cmov {
                                cc,
                                w: width(0)?,
                                dst: r,
                                src: opnd(1)?,
                            })
                        }
                        Family::Jcc => {
                            if !code32_branch {
                                return None;
                            }
                            let target = branch_target(ins)?;
                            Some(Kind::Jcc { cc, target })
                        }
                    };
                }
                let stack32 = m & mode::STACK32 != 0 && flat;
                match ins.code() {
                    Code::Jmp_rel8_16 | Code::Jmp_rel8_32 | Code::Jmp_rel16 | Code::Jmp_rel32_32 if code32_branch => Some(Kind::Jmp {
                        target: branch_target(ins)?,
                    }),
                    Code::Call_rel32_32 if code32_branch && stack32 => Some(Kind::Call {
                        target: branch_target(ins)?,
                    }),
                    Code::Retnd if ret_ok && stack32 => Some(Kind::Ret { imm: 0 }),
                    Code::Jmp_rm32 if ret_ok => Some(Kind::JmpInd { src: opnd(0)? }),
                    Code::Call_rm32 if ret_ok && stack32 => Some(Kind::CallInd { src: opnd(0)? }),
                    Code::Retnd_imm16 if ret_ok && stack32 => Some(Kind::Ret { imm: ins.immediate16() }),
                    Code::Push_r32 if stack32 => Some(Kind::Push { src: opnd(0)? }),
                    Code::Pushd_imm8 | Code::Pushd_imm32 if stack32 => Some(Kind::Push {
                        src: Opnd::Imm(ins.immediate(0) as u32),
                    }),
                    Code::Push_rm32 if stack32 => Some(Kind::Push { src: opnd(0)? }),
                    Code::Pop_r32 if stack32 => {
                        let Opnd::Reg(r) = opnd(0)? else { return None };
                        Some(Kind::Pop { dst: r })
                    }
                    Code::Nopd | Code::Nopw => Some(Kind::Nop),
                    _ => None,
                }
            }
        }
    })();
    k.unwrap_or(Kind::Fallback)
}

/// The branch target as iced computed it (already truncated to the
/// operand size).
fn branch_target(ins: &Instruction) -> Option<u32> {
    match ins.op_kind(0) {
        OpKind::NearBranch16 | OpKind::NearBranch32 => Some(ins.near_branch_target() as u32),
        _ => None,
    }
}
