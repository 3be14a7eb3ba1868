//! Where the chips that produced the vectors and the i686 differ by
//! architecture, and what is done about it.
//!
//! Comparison masks (applied to every case, not skips):
//! - FLAGS bits 12-15: the 8086 reads them as ones, the 80286 in real mode
//!   as zeros; on the i686 bits 12-14 are IOPL and NT, which real-mode
//!   POPF/IRET load. The initial FLAGS are normalised the way the chip
//!   held them (bits 12-15 clear, bit 1 set, bits 3 and 5 clear) and
//!   bits 12-15 are never compared. Flags the vectors' metadata marks
//!   undefined for an opcode are masked as the metadata says.
//! - 8086 only: the FLAGS image that PUSHF or an interrupt stores has
//!   bits 12-15 set; the high nibble of that byte is not compared.
//!
//! Skip rules (each case skipped is counted under its rule's name):
#![doc = include_str!("rules.md")]

use crate::case::{Case, OpInfo};
use crate::run::Got;
use iced_x86::{Decoder, DecoderOptions};

/// The chip a directory of vectors was captured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chip {
    I8086,
    I80286,
}

impl std::str::FromStr for Chip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "8086" => Ok(Chip::I8086),
            "80286" | "286" => Ok(Chip::I80286),
            _ => Err(format!("unknown CPU '{s}' (expected 8086 or 80286)")),
        }
    }
}

/// Decision before running a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    Skip(&'static str),
}

pub const NO_COPROCESSOR: &str = "no-coprocessor";
pub const I686_PREFIX: &str = "286-undefined-is-386-prefix";
pub const ALIAS_8086: &str = "8086-opcode-alias";
pub const POP_CS: &str = "8086-pop-cs";
pub const PUSH_SP: &str = "8086-push-sp";
pub const SHIFT_COUNT: &str = "8086-unmasked-shift-count";
pub const LOCK_UD: &str = "lock-on-unlockable-is-ud";
pub const DE_RETURN: &str = "8086-divide-error-return-address";
pub const IDIV_MIN: &str = "8086-idiv-most-negative-quotient";
pub const SEG_WRAP: &str = "segment-wrap-is-limit-fault";
pub const UNDEFINED_8086: &str = "8086-undefined-encoding";
pub const SETMO_8086: &str = "8086-setmo";
pub const SREG_ALIAS_8086: &str = "8086-sreg-field-aliases";
pub const AAS_8086: &str = "8086-aaa-aas-no-carry-into-ah";
pub const DAS_8086: &str = "8086-das-drops-low-borrow";
pub const SS_OVERRUN_286: &str = "286-ss-overrun-is-exception-13";
pub const STRING_OVERRUN_286: &str = "286-string-overrun-advances-index";
pub const LENGTH_286: &str = "286-ten-byte-instruction-limit";
pub const NO_FS_GS_286: &str = "286-has-no-fs-gs";

/// The FLAGS value the chip actually held for a vector's initial FLAGS.
pub fn initial_flags(_chip: Chip, f: u16) -> u16 {
    (f & 0x0FD7) | 0x0002
}

/// Which FLAGS bits are compared for an opcode.
pub fn flags_compare_mask(_chip: Chip, info: &OpInfo) -> u16 {
    info.flags_mask.unwrap_or(0xFFFF) & 0x0FFF
}

/// Bytes of memory compared under a mask: `(address, mask)`.
pub fn ram_masks(chip: Chip, info: &OpInfo, c: &Case) -> Vec<(u32, u8)> {
    if c.exception.is_some() {
        // The FLAGS image an exception pushed holds the flags the
        // instruction left, including those it leaves undefined. (The
        // vectors' own `flag_address` is one low when SP is odd, so the
        // address is computed from the final SS:SP.)
        let (Some(ss), Some(sp)) = (c.fin.regs.ss.or(c.initial.regs.ss), c.fin.regs.sp.or(c.initial.regs.sp)) else {
            return Vec::new();
        };
        let at = |off: u16| ((ss as u32) << 4) + off as u32;
        let m = flags_compare_mask(chip, info);
        return vec![(at(sp.wrapping_add(4)), m as u8), (at(sp.wrapping_add(5)), (m >> 8) as u8)];
    }
    if chip != Chip::I8086 {
        return Vec::new();
    }
    // The FLAGS image pushed by PUSHF (at the final SS:SP) or by an
    // interrupt (at the final SS:SP+4).
    let (Some(ss), Some(sp0)) = (c.fin.regs.ss.or(c.initial.regs.ss), c.initial.regs.sp) else {
        return Vec::new();
    };
    let Some(sp) = c.fin.regs.sp else {
        return Vec::new();
    };
    let base = (ss as u32) << 4;
    let at = |off: u16| (base + off as u32) & 0xF_FFFF;
    let mut v = Vec::new();
    if sp == sp0.wrapping_sub(2) {
        v.push((at(sp.wrapping_add(1)), 0x0F));
    }
    if sp == sp0.wrapping_sub(6) {
        v.push((at(sp.wrapping_add(5)), 0x0F));
    }
    v
}

/// Opcode byte after any prefixes.
fn opcode(bytes: &[u8]) -> (Vec<u8>, Option<u8>) {
    let mut prefixes = Vec::new();
    for &b in bytes {
        match b {
            0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF2 | 0xF3 => prefixes.push(b),
            _ => return (prefixes, Some(b)),
        }
    }
    (prefixes, None)
}

/// Rules that can be decided from the case alone.
pub fn before(chip: Chip, stem: &str, info: &OpInfo, c: &Case) -> Verdict {
    let status = info.status.as_deref().unwrap_or("normal");
    if status == "fpu" {
        return Verdict::Skip(NO_COPROCESSOR);
    }
    let (prefixes, op) = opcode(&c.bytes);
    if let Some(op) = op {
        if (0xD8..=0xDF).contains(&op) {
            return Verdict::Skip(NO_COPROCESSOR);
        }
        if chip == Chip::I80286 && (0x64..=0x67).contains(&op) {
            return Verdict::Skip(I686_PREFIX);
        }
        if chip == Chip::I80286 && matches!(op, 0x8C | 0x8E) {
            let p = c.bytes.iter().position(|&b| b == op).unwrap_or(0);
            if c.bytes.get(p + 1).is_some_and(|m| matches!((m >> 3) & 7, 4 | 5)) {
                return Verdict::Skip(NO_FS_GS_286);
            }
        }
        if chip == Chip::I8086 {
            if op == 0x0F {
                return Verdict::Skip(POP_CS);
            }
            if (0x60..=0x6F).contains(&op) || matches!(op, 0xC0 | 0xC1 | 0xC8 | 0xC9) {
                return Verdict::Skip(ALIAS_8086);
            }
            let p = c.bytes.iter().position(|&b| b == op).unwrap_or(0);
            let reg = c.bytes.get(p + 1).map(|m| (m >> 3) & 7);
            if op == 0x54 || (op == 0xFF && reg == Some(6) && c.bytes.get(p + 1).is_some_and(|m| m & 0xC7 == 0xC4)) {
                return Verdict::Skip(PUSH_SP);
            }
            if matches!(op, 0xD0..=0xD3) && reg == Some(6) {
                return Verdict::Skip(SETMO_8086);
            }
            if matches!(op, 0x8C | 0x8E) && reg.is_some_and(|r| r >= 4) {
                return Verdict::Skip(SREG_ALIAS_8086);
            }
            if matches!(op, 0x37 | 0x3F) {
                let al = c.initial.regs.ax.unwrap_or(0) & 0xFF;
                let af = c.initial.regs.flags.unwrap_or(0) & 0x10 != 0;
                let adjust = (al & 0xF) > 9 || af;
                if adjust && ((op == 0x37 && al >= 0xFA) || (op == 0x3F && al < 6)) {
                    return Verdict::Skip(AAS_8086);
                }
            }
            if op == 0x2F {
                let al = c.initial.regs.ax.unwrap_or(0) & 0xFF;
                let f = c.initial.regs.flags.unwrap_or(0);
                if ((al & 0xF) > 9 || f & 0x10 != 0) && al < 6 && f & 1 == 0 {
                    return Verdict::Skip(DAS_8086);
                }
            }
            if matches!(op, 0xD2 | 0xD3) && c.initial.regs.cx.unwrap_or(0) & 0xFF > 0x1F {
                return Verdict::Skip(SHIFT_COUNT);
            }
        }
    }
    let mut d = Decoder::new(16, &c.bytes, DecoderOptions::NONE);
    let ins = d.decode();
    if prefixes.contains(&0xF0) && ins.is_invalid() {
        return Verdict::Skip(LOCK_UD);
    }
    let unsupported = ins.is_invalid() || cpu::interp::table::lookup(ins.code()).is_none();
    if chip == Chip::I8086 && matches!(status, "undefined" | "alias") && unsupported {
        return Verdict::Skip(UNDEFINED_8086);
    }
    if chip == Chip::I80286 && ins.len() > 10 && c.exception.as_ref().is_some_and(|e| e.number == 13) {
        return Verdict::Skip(LENGTH_286);
    }
    let _ = stem;
    Verdict::Run
}

/// Rules that recognise a known architectural difference in the outcome.
pub fn after(chip: Chip, _stem: &str, c: &Case, got: &Got, diffs: &[String]) -> Option<&'static str> {
    let (_, op) = opcode(&c.bytes);
    let op = op?;
    let chip_exc = c.exception.as_ref().map(|e| e.number);
    if chip == Chip::I80286 && chip_exc == Some(13) && got.vector == Some(x86::exception::SS) {
        return Some(SS_OVERRUN_286);
    }
    let string = matches!(op, 0x6C..=0x6F | 0xA4..=0xA7 | 0xAA..=0xAF);
    if chip == Chip::I80286
        && string
        && chip_exc == Some(13)
        && got.vector == Some(13)
        && diffs
            .iter()
            .all(|d| d.starts_with("si ") || d.starts_with("di ") || d.starts_with("cx "))
    {
        return Some(STRING_OVERRUN_286);
    }
    let modrm_reg = c
        .bytes
        .iter()
        .position(|&b| b == op)
        .and_then(|p| c.bytes.get(p + 1))
        .map(|m| (m >> 3) & 7);
    let is_div = matches!(op, 0xF6 | 0xF7) && matches!(modrm_reg, Some(6 | 7)) || op == 0xD4;
    if chip == Chip::I8086 && is_div {
        // The 8086 pushes the address after DIV/IDIV/AAM for #DE; the
        // 80286 and later push the faulting instruction's address.
        if c.fin.regs.cs.is_some() || got.vector.is_some() {
            return Some(DE_RETURN);
        }
        if matches!(modrm_reg, Some(7)) {
            return Some(IDIV_MIN);
        }
    }
    None
}
