//! A guest block read and decoded for translation.

use cpu::Ctx;
use cpu::interp::decode::decode_full;
use cpu::interp::insn::Insn;
use iced_x86::{FlowControl, Instruction};

/// Instructions in a block at most (as the interpreter).
pub const MAX_INSNS: usize = 64;
/// Conditional branches a block runs on past (on their not-taken path,
/// within the page): a branchy loop (the kernel's LZMA decoder) would
/// otherwise pay a block's entry and exit every few instructions. The
/// taken path leaves the block there (a side exit).
pub const SIDE_EXITS: usize = 2;

pub struct GuestBlock {
    /// Decoded instructions: the interpreter's form and iced's.
    pub insns: Vec<(Insn, Instruction)>,
    /// EIP of the first instruction.
    pub eip: u32,
    /// Length in bytes.
    pub bytes: u32,
}

/// What can be translated at a guest address.
pub enum Read {
    Block(GuestBlock),
    /// The first instruction runs on into the next page. Its bytes and
    /// the second page's mapping may change without this page changing,
    /// so it is not decoded here: its translation fetches and runs it
    /// through the interpreter each time (`rt_uncached`), which still
    /// saves the dispatcher round trip a hot loop would otherwise pay
    /// at every pass.
    Crossing,
}

/// Decode the block at `phys` (CS:EIP = `eip`), from RAM or ROM, marking a
/// RAM page as holding code. `None` when the code cannot be translated
/// (MMIO, an instruction that does not decode or passes the CS limit).
pub fn read(c: &mut Ctx, phys: u32, eip: u32, code32: bool) -> Option<Read> {
    let (bytes, ram_off) = cpu::interp::code_window(c.mem, phys)?;
    let cs = c.s.seg[cpu::state::sreg::CS];
    let mut insns = Vec::new();
    let mut off = 0usize;
    let mut crossing = false;
    let mut side_exits = 0;
    while insns.len() < MAX_INSNS && off < bytes.len() {
        let ip = eip.wrapping_add(off as u32);
        let window = &bytes[off..(off + 32).min(bytes.len())];
        match decode_full(window, ip, code32) {
            Ok((insn, full)) => {
                if !cs.within_limit(ip, insn.len as u32) {
                    break;
                }
                off += insn.len as usize;
                let side_exit = full.flow_control() == FlowControl::ConditionalBranch && side_exits < SIDE_EXITS;
                side_exits += side_exit as usize;
                let ends = full.flow_control() != FlowControl::Next && !side_exit;
                insns.push((insn, full));
                if ends {
                    break;
                }
            }
            // An instruction crossing the page, or one that does not
            // decode: the block ends before it and the interpreter meets it
            // (and raises its fault) when it is reached.
            Err(e) => {
                crossing = e == cpu::interp::decode::DecodeError::NeedMore;
                break;
            }
        }
    }
    if insns.is_empty() {
        return crossing.then_some(Read::Crossing);
    }
    if let Some(r) = ram_off {
        c.mem.code.mark(r);
        c.tlb.protect_ram_page((r & !0xFFF) as u32);
    }
    Some(Read::Block(GuestBlock {
        insns,
        eip,
        bytes: off as u32,
    }))
}
