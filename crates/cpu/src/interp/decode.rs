//! From instruction bytes to [`Insn`], through iced-x86.

use super::insn::{Insn, f};
use super::table;
use crate::state::reg;
use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction, OpKind, Register};

/// Decoder options that make iced-x86 decode as a P6 does: F3 0F BC/BD are
/// BSF/BSR with an ignored prefix (not TZCNT/LZCNT), F3 0F 09 is WBINVD,
/// 0F 18-1F are hint NOPs throughout.
pub const OPTIONS: u32 =
    DecoderOptions::NO_MPFX_0FBC | DecoderOptions::NO_MPFX_0FBD | DecoderOptions::NO_WBNOINVD | DecoderOptions::FORCE_RESERVED_NOP;

/// The longest legal instruction.
pub const MAX_LEN: usize = 15;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside the instruction.
    NeedMore,
    /// Not an instruction this CPU knows: #UD.
    Invalid,
    /// Longer than 15 bytes: #GP(0).
    TooLong,
}

/// Number of a general, segment, x87, MMX, control or debug register
/// within its class (AH..BH are 4..7 as in the encoding).
pub fn reg_number(r: Register) -> u8 {
    let n = |first: Register| (r as u32).wrapping_sub(first as u32) as u8;
    if r.is_gpr8() {
        n(Register::AL)
    } else if r.is_gpr16() {
        n(Register::AX)
    } else if r.is_gpr32() {
        n(Register::EAX)
    } else if r.is_segment_register() {
        n(Register::ES)
    } else if r.is_st() {
        n(Register::ST0)
    } else if r.is_mm() {
        n(Register::MM0)
    } else if r.is_cr() {
        n(Register::CR0)
    } else if r.is_dr() {
        n(Register::DR0)
    } else if r.is_tr() {
        n(Register::TR0)
    } else if r.is_xmm() {
        n(Register::XMM0)
    } else {
        0
    }
}

fn gpr_or_zero(r: Register) -> u8 {
    if r == Register::None { reg::ZERO as u8 } else { reg_number(r) }
}

/// Scan legacy prefixes: (has 0x66, has 0x67, offset of the opcode).
fn scan_prefixes(bytes: &[u8]) -> (bool, bool, usize) {
    let (mut o, mut a) = (false, false);
    for (i, &b) in bytes.iter().enumerate().take(MAX_LEN) {
        match b {
            0x66 => o = true,
            0x67 => a = true,
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0xF0 | 0xF2 | 0xF3 => {}
            _ => return (o, a, i),
        }
    }
    (o, a, bytes.len().min(MAX_LEN))
}

/// Decode one instruction at `ip` from `bytes` in 16- or 32-bit code.
/// The flag says whether the instruction may transfer control (a block
/// ends after it).
pub fn decode(bytes: &[u8], ip: u32, code32: bool) -> Result<(Insn, bool), DecodeError> {
    let (insn, ins) = decode_full(bytes, ip, code32)?;
    Ok((insn, ins.flow_control() != iced_x86::FlowControl::Next))
}

/// Decode one instruction, keeping iced-x86's full form too (for engines
/// that analyse instructions, such as the recompiler).
pub fn decode_full(bytes: &[u8], ip: u32, code32: bool) -> Result<(Insn, Instruction), DecodeError> {
    let bitness = if code32 { 32 } else { 16 };
    let mut d = Decoder::with_ip(bitness, bytes, ip as u64, OPTIONS);
    let mut ins = Instruction::default();
    d.decode_out(&mut ins);
    if ins.is_invalid() {
        return Err(match d.last_error() {
            DecoderError::NoMoreBytes => DecodeError::NeedMore,
            _ if bytes.len() > MAX_LEN => {
                // Longer than 15 bytes if the first 15 still leave it unfinished.
                let mut d15 = Decoder::with_ip(bitness, &bytes[..MAX_LEN], ip as u64, OPTIONS);
                d15.decode_out(&mut ins);
                if d15.last_error() == DecoderError::NoMoreBytes {
                    DecodeError::TooLong
                } else {
                    DecodeError::Invalid
                }
            }
            _ => DecodeError::Invalid,
        });
    }
    // iced-x86 reads `9B` followed by an x87 control instruction as one
    // instruction (FINIT, FSTSW, FSTENV, ...). On the processor WAIT is an
    // instruction of its own: it faults (#MF, #NM) with EIP on the 9B, a
    // fault of the ESC instruction after it has EIP on the ESC opcode, and
    // single-stepping stops in between. Decode the WAIT alone; the bytes
    // after it decode as the no-wait form next time.
    let (_, _, op_at) = scan_prefixes(bytes);
    if ins.code() != iced_x86::Code::Wait && bytes.get(op_at) == Some(&0x9B) {
        let mut dw = Decoder::with_ip(bitness, &bytes[..op_at + 1], ip as u64, OPTIONS);
        dw.decode_out(&mut ins);
        if ins.is_invalid() {
            return Err(DecodeError::Invalid);
        }
    }
    Ok((convert(&ins, bytes, code32), ins))
}

/// Build the compact form of a decoded instruction.
pub fn convert(ins: &Instruction, bytes: &[u8], code32: bool) -> Insn {
    let (p66, p67, op_at) = scan_prefixes(bytes);
    let a32 = code32 ^ p67;
    let o32 = code32 ^ p66;
    let code = ins.code();
    let mut insn = Insn {
        exec: table::handler(code),
        imm: 0,
        imm2: 0,
        disp: 0,
        amask: if a32 { 0xFFFF_FFFF } else { 0xFFFF },
        len: ins.len() as u8,
        r0: 0,
        r1: 0,
        base: reg::ZERO as u8,
        index: reg::ZERO as u8,
        scale: 0,
        seg: 3, // DS
        flags: 0,
        code: code as u16,
    };
    if a32 {
        insn.flags |= f::A32;
    }
    if o32 {
        insn.flags |= f::O32;
    }
    if ins.has_rep_prefix() {
        insn.flags |= f::REP;
    }
    if ins.has_repne_prefix() {
        insn.flags |= f::REPNE;
    }
    if ins.has_lock_prefix() {
        insn.flags |= f::LOCK;
    }
    if ins.segment_prefix() != Register::None {
        insn.flags |= f::SEG_OVERRIDE;
        insn.seg = reg_number(ins.segment_prefix());
    }
    let next_ip = ins.next_ip32();
    for i in 0..ins.op_count() {
        match ins.op_kind(i) {
            OpKind::Register => {
                let n = reg_number(ins.op_register(i));
                match i {
                    0 => insn.r0 = n,
                    1 => insn.r1 = n,
                    _ => insn.imm2 = n as u32,
                }
            }
            OpKind::Memory => {
                insn.flags |= f::MEM;
                insn.base = gpr_or_zero(ins.memory_base());
                insn.index = gpr_or_zero(ins.memory_index());
                insn.scale = ins.memory_index_scale().trailing_zeros() as u8;
                insn.disp = ins.memory_displacement32();
                insn.seg = reg_number(ins.memory_segment());
            }
            OpKind::MemorySegSI
            | OpKind::MemorySegESI
            | OpKind::MemorySegDI
            | OpKind::MemorySegEDI
            | OpKind::MemoryESDI
            | OpKind::MemoryESEDI
                if !matches!(ins.op_kind(i), OpKind::MemoryESDI | OpKind::MemoryESEDI) =>
            {
                insn.seg = reg_number(ins.memory_segment());
            }
            OpKind::NearBranch16 | OpKind::NearBranch32 => {
                insn.imm = (ins.near_branch_target() as u32).wrapping_sub(next_ip);
            }
            OpKind::FarBranch16 => {
                insn.imm = ins.far_branch16() as u32;
                insn.imm2 = ins.far_branch_selector() as u32;
            }
            OpKind::FarBranch32 => {
                insn.imm = ins.far_branch32();
                insn.imm2 = ins.far_branch_selector() as u32;
            }
            OpKind::Immediate8_2nd => insn.imm2 = ins.immediate8_2nd() as u32,
            OpKind::Immediate8 | OpKind::Immediate16 | OpKind::Immediate32 | OpKind::Immediate8to16 | OpKind::Immediate8to32 => {
                insn.imm = ins.immediate(i) as u32
            }
            _ => {}
        }
    }
    // x87: the 11-bit opcode kept in FOP (low 3 bits of D8-DF, ModRM byte).
    if let Some(&op) = bytes.get(op_at)
        && (0xD8..=0xDF).contains(&op)
    {
        let modrm = bytes.get(op_at + 1).copied().unwrap_or(0);
        insn.imm2 = (((op & 7) as u32) << 8) | modrm as u32;
    }
    insn
}
