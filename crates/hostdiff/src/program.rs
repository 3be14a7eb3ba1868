//! The random program generator.
//!
//! A program is a short sequence of user-level integer instructions of the
//! P6 (the modelled CPU), each preceded by the few `MOV`s that point its
//! memory operand somewhere interesting, plus a random initial state:
//! registers, arithmetic flags, DF, AC, TF, NT, ID, and the contents of
//! three regions:
//!
//! | region | base | size | rights |
//! | --- | --- | --- | --- |
//! | data | [`DATA_BASE`] | [`DATA_LEN`] | read/write |
//! | read-only | [`RO_BASE`] | [`RO_LEN`] | read |
//! | stack | [`STACK_LO`] | [`STACK_LEN`] | read/write, ESP near the middle |
//!
//! Memory operands land inside a region (aligned or not), across a page
//! boundary inside it, straddling a mapped and an unmapped page (either
//! way), in the read-only region or the code (writes fault), on the stack,
//! far away in unmapped space, or below 64 KiB (16-bit addressing). They
//! use every 32-bit form (`[disp32]`, `[base]`, `[base+disp8/32]`,
//! `[base+index*scale+disp]`, `[index*scale+disp32]`), 16-bit addressing,
//! and segment overrides (ES, SS, DS, CS; rarely the null FS/GS).
//!
//! Control flow stays within the program: forward jumps (`JMP`, `Jcc`,
//! `JCXZ`/`JECXZ`, indirect through a register or memory), counted loops
//! (`LOOP`, `LOOPE`, `LOOPNE`) whose bodies leave ECX and the stack alone,
//! and `CALL`s (direct, through a register or memory) of a body ending in
//! `RET` or `RET imm16`. Every program ends with a `NOP` (the target of
//! forward branches), after which native32's exit sentinel follows.
//!
//! Which instructions: see [`Family`] for the list.

use crate::rng::Rng;
use iced_x86::{BlockEncoder, BlockEncoderOptions, Code, Instruction, InstructionBlock, MemoryOperand, Register as R, RepPrefixKind};
use native32::{CODE_BASE, Case, DATA_BASE, Perm, Region, STACK_TOP, State32};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Length of the data region.
pub const DATA_LEN: u32 = 0x2000;
/// Base of the read-only region.
pub const RO_BASE: u32 = 0x2800_0000;
/// Length of the read-only region.
pub const RO_LEN: u32 = 0x1000;
/// Length of the stack region.
pub const STACK_LEN: u32 = 0x2000;
/// Lowest address of the stack region (it ends at [`STACK_TOP`]).
pub const STACK_LO: u32 = STACK_TOP - STACK_LEN;

/// A generated test program.
#[derive(Clone, Debug)]
pub struct Program {
    /// The case, ready for native32 and for the interpreter harness.
    pub case: Case,
    /// Instructions under test (excluding the set-up `MOV`s and the final
    /// `NOP`).
    pub tested: usize,
    /// All instructions in the code.
    pub emitted: usize,
    /// Undefined EFLAGS bits that may show in the final state (see
    /// [`crate::undefined`]); masked in the comparison. 0 today.
    pub undefined_flags: u32,
}

/// The iced `Code` named `name` (e.g. `"Add_rm32_r32"`).
pub fn code(name: &str) -> Code {
    static MAP: OnceLock<HashMap<String, Code>> = OnceLock::new();
    let map = MAP.get_or_init(|| Code::values().map(|c| (format!("{c:?}"), c)).collect());
    match map.get(name) {
        Some(&c) => c,
        None => panic!("iced has no Code {name}"),
    }
}

const R32: [R; 8] = [R::EAX, R::ECX, R::EDX, R::EBX, R::ESP, R::EBP, R::ESI, R::EDI];
const R16: [R; 8] = [R::AX, R::CX, R::DX, R::BX, R::SP, R::BP, R::SI, R::DI];
const R8: [R; 8] = [R::AL, R::CL, R::DL, R::BL, R::AH, R::CH, R::DH, R::BH];

/// Register-number bits of an "avoid" mask.
const ECX: u8 = 1 << 1;
const EAX: u8 = 1 << 0;
const EDX: u8 = 1 << 2;
const EBX: u8 = 1 << 3;
const ESP: u8 = 1 << 4;

fn reg(w: u32, n: usize) -> R {
    match w {
        8 => R8[n],
        16 => R16[n],
        _ => R32[n],
    }
}

/// The 32-bit register number a register occupies (AH -> 0).
fn full_index(r: R) -> usize {
    let n = R8.iter().chain(R16.iter()).chain(R32.iter()).position(|&x| x == r).unwrap_or(0);
    if n < 8 { n & 3 } else { n % 8 }
}

/// An operand for [`build`].
#[derive(Clone, Copy, Debug)]
enum Op {
    R(R),
    M(MemoryOperand),
    /// Unsigned immediate.
    I(u32),
    /// Signed (sign-extended) immediate.
    S(i32),
}

fn build(code: Code, ops: &[Op]) -> Instruction {
    use Op::*;
    let r = match *ops {
        [] => Ok(Instruction::with(code)),
        [R(a)] => Instruction::with1(code, a),
        [M(a)] => Instruction::with1(code, a),
        [I(a)] => Instruction::with1(code, a),
        [S(a)] => Instruction::with1(code, a),
        [R(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), M(b)] => Instruction::with2(code, a, b),
        [M(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), I(b)] => Instruction::with2(code, a, b),
        [R(a), S(b)] => Instruction::with2(code, a, b),
        [M(a), I(b)] => Instruction::with2(code, a, b),
        [M(a), S(b)] => Instruction::with2(code, a, b),
        [I(a), I(b)] => Instruction::with2(code, a, b),
        [I(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        [M(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        [R(a), R(b), I(c)] => Instruction::with3(code, a, b, c),
        [M(a), R(b), I(c)] => Instruction::with3(code, a, b, c),
        [R(a), R(b), S(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), S(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), I(c)] => Instruction::with3(code, a, b, c),
        _ => panic!("unsupported operand combination for {code:?}: {ops:?}"),
    };
    match r {
        Ok(i) => i,
        Err(e) => panic!("cannot build {code:?} {ops:?}: {e}"),
    }
}

/// The instruction families the generator draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// ADD OR ADC SBB AND SUB XOR CMP, every form and width.
    Alu,
    /// TEST.
    Test,
    /// INC DEC NEG NOT.
    Unary,
    /// ROL ROR RCL RCR SHL SAL SHR SAR by 1, CL, imm8 (all counts).
    Shift,
    /// SHLD SHRD by CL and imm8.
    DoubleShift,
    /// MUL IMUL DIV IDIV (one operand).
    MulDiv,
    /// IMUL with two and three operands.
    Imul,
    /// DAA DAS AAA AAS AAM AAD.
    Bcd,
    /// BT BTS BTR BTC.
    BitTest,
    /// BSF BSR.
    BitScan,
    /// SETcc.
    Setcc,
    /// CMOVcc.
    Cmov,
    /// XCHG XADD CMPXCHG CMPXCHG8B.
    Exchange,
    /// BSWAP.
    Bswap,
    /// MOV in all forms.
    Mov,
    /// MOVZX MOVSX.
    MovExtend,
    /// LEA.
    Lea,
    /// CBW CWDE CWD CDQ.
    Convert,
    /// LAHF SAHF CLC STC CMC CLD STD.
    FlagOps,
    /// PUSHF POPF.
    PushPopFlags,
    /// PUSH POP (registers, memory, immediates) PUSHA POPA.
    Stack,
    /// ENTER LEAVE.
    Frame,
    /// PUSH/POP/MOV of segment registers.
    SegReg,
    /// MOVS CMPS STOS LODS SCAS with REP/REPE/REPNE, DF both ways.
    String,
    /// XLAT.
    Xlat,
    /// BOUND.
    Bound,
    /// INT3 INTO INT n UD2 and the privileged instructions (HLT, CLI,
    /// STI, IN, OUT, INS, OUTS, MOV CRn, LGDT, ...), which fault at CPL 3.
    Trap,
    /// NOP, multi-byte NOP, PAUSE.
    Nop,
    /// Moves ESP to the edges of the stack.
    StackPointer,
    /// Forward jumps, loops, calls.
    Control,
    /// Far CALL, JMP, RET and IRET within the user code segment, and far
    /// transfers to selectors that fault.
    Far,
    /// LDS LES LFS LGS LSS.
    FarPointer,
    /// LAR LSL VERR VERW.
    DescriptorQuery,
}

/// Families with their weights.
const FAMILIES: &[(Family, u32)] = &[
    (Family::Alu, 14),
    (Family::Test, 3),
    (Family::Unary, 5),
    (Family::Shift, 10),
    (Family::DoubleShift, 5),
    (Family::MulDiv, 7),
    (Family::Imul, 3),
    (Family::Bcd, 5),
    (Family::BitTest, 4),
    (Family::BitScan, 4),
    (Family::Setcc, 2),
    (Family::Cmov, 3),
    (Family::Exchange, 6),
    (Family::Bswap, 1),
    (Family::Mov, 5),
    (Family::MovExtend, 3),
    (Family::Lea, 2),
    (Family::Convert, 2),
    (Family::FlagOps, 3),
    (Family::PushPopFlags, 3),
    (Family::Stack, 5),
    (Family::Frame, 2),
    (Family::SegReg, 2),
    (Family::String, 7),
    (Family::Xlat, 1),
    (Family::Bound, 2),
    (Family::Trap, 2),
    (Family::Nop, 1),
    (Family::StackPointer, 1),
    (Family::Control, 6),
    (Family::Far, 2),
    (Family::FarPointer, 1),
    (Family::DescriptorQuery, 1),
];

/// Families allowed in loop and subroutine bodies: no stack, ECX or
/// control-flow changes.
fn body_ok(f: Family) -> bool {
    !matches!(
        f,
        Family::PushPopFlags
            | Family::Stack
            | Family::Frame
            | Family::SegReg
            | Family::String
            | Family::StackPointer
            | Family::Control
            | Family::Trap
            | Family::Far
            | Family::FarPointer
    )
}

struct Gen<'a> {
    rng: &'a mut Rng,
    out: Vec<Instruction>,
    /// (instruction index, label): the instruction's imm32 (or far branch
    /// offset) is the label's address.
    fixups: Vec<(usize, u64)>,
    /// Put TF in EFLAGS just before the next instruction under test.
    tf_next: bool,
    next_label: u64,
    pending: Option<u64>,
    tested: usize,
    /// Inside a loop or subroutine body.
    body: bool,
    undefined: u32,
}

impl Gen<'_> {
    // ---- emission -----------------------------------------------------

    fn emit(&mut self, mut i: Instruction) -> usize {
        i.set_ip(self.pending.take().unwrap_or(0));
        self.out.push(i);
        self.out.len() - 1
    }

    /// Emit an instruction under test.
    fn test(&mut self, i: Instruction) -> usize {
        if std::mem::take(&mut self.tf_next) {
            // Single-step exactly this instruction.
            let v = (self.flags_image() & !x86::flags::NT) | x86::flags::TF;
            self.setup("Pushd_imm32", &[Op::S(v as i32)]);
            self.setup("Popfd", &[]);
        }
        self.tested += 1;
        let k = self.emit(i);
        let undefined = crate::undefined::undefined_flags(&self.out[k]);
        if undefined != 0 {
            // Define the flags again before anything can read them.
            self.setup("Cmp_rm32_r32", &[Op::R(R::EAX), Op::R(R::EAX)]);
            self.undefined |= undefined;
        }
        k
    }

    fn setup(&mut self, code_name: &str, ops: &[Op]) {
        let i = build(code(code_name), ops);
        self.emit(i);
        // A set-up instruction defines no flags we track; MOV leaves them.
    }

    fn label(&mut self) -> u64 {
        self.next_label += 1;
        self.next_label
    }

    fn bind(&mut self, l: u64) {
        if self.pending.is_some() {
            self.emit(Instruction::with(Code::Nopd));
        }
        self.pending = Some(l);
    }

    fn mov_imm(&mut self, r: R, v: u32) {
        let name = match r.size() {
            1 => "Mov_r8_imm8",
            2 => "Mov_r16_imm16",
            _ => "Mov_r32_imm32",
        };
        let mask = match r.size() {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        };
        self.setup(name, &[Op::R(r), Op::I(v & mask)]);
    }

    // ---- operands -----------------------------------------------------

    fn base_avoid(&self) -> u8 {
        if self.body { ECX | ESP } else { ESP }
    }

    /// A register number not in `avoid` (ESP always avoided for
    /// destinations by the callers' masks).
    fn regnum(&mut self, avoid: u8) -> usize {
        let free: Vec<usize> = (0..8).filter(|n| avoid & (1 << n) == 0).collect();
        if free.is_empty() {
            return 0;
        }
        free[self.rng.below(free.len() as u32) as usize]
    }

    /// A destination register of width `w`.
    fn dst(&mut self, w: u32, avoid: u8) -> R {
        let avoid = avoid | self.base_avoid();
        if w == 8 {
            let free: Vec<usize> = (0..8).filter(|n| avoid & (1 << (n & 3)) == 0).collect();
            if free.is_empty() {
                return R::AL;
            }
            return R8[free[self.rng.below(free.len() as u32) as usize]];
        }
        reg(w, self.regnum(avoid))
    }

    /// A source register of width `w` (any register).
    fn src(&mut self, w: u32) -> R {
        reg(w, self.rng.below(8) as usize)
    }

    /// An r/m operand: memory with probability `mem_pct`.
    fn rm(&mut self, w: u32, mem_pct: u32, avoid: u8) -> Op {
        if self.rng.chance(mem_pct) {
            Op::M(self.mem(w / 8, avoid))
        } else {
            Op::R(self.dst(w, avoid))
        }
    }

    fn seg_override(&mut self) -> R {
        match self.rng.below(200) {
            0..12 => R::ES,
            12..20 => R::SS,
            20..28 => R::DS,
            28..32 => R::CS,
            32 => R::FS,
            33 => R::GS,
            _ => R::None,
        }
    }

    fn offset_in(&mut self, len: u32, size: u32) -> u32 {
        let o = self.rng.below(len - size + 1);
        if self.rng.chance(50) {
            o & !(size.next_power_of_two() - 1)
        } else {
            o
        }
    }

    /// A linear address for an access of `size` bytes.
    pub fn target(&mut self, size: u32) -> u32 {
        let size = size.max(1);
        if self.body {
            // Inside a subroutine the stack holds the return address: a
            // write there would send RET anywhere (even into a loop).
            // Bodies use the data region only.
            return DATA_BASE + self.offset_in(DATA_LEN, size);
        }
        let straddle = |g: &mut Self| {
            if size > 1 { g.rng.range(1, size - 1) } else { 0 }
        };
        match self.rng.below(1000) {
            0..640 => DATA_BASE + self.offset_in(DATA_LEN, size),
            640..700 => DATA_BASE + 0x1000 - straddle(self),
            700..780 => RO_BASE + self.offset_in(RO_LEN, size),
            780..810 => CODE_BASE + self.rng.below(0x40),
            810..950 => STACK_LO + self.offset_in(STACK_LEN, size),
            // Faulting ones.
            950..968 => DATA_BASE + DATA_LEN - straddle(self),
            968..978 => DATA_BASE - straddle(self).max(1),
            978..986 => STACK_TOP - straddle(self),
            986..995 => 0x4000_0000 + self.rng.below(0x8000_0000),
            _ => self.rng.below(0x10000),
        }
    }

    /// A memory operand for `size` bytes; the `MOV`s that set its base
    /// and index are emitted now. Registers in `avoid` are not used.
    fn mem(&mut self, size: u32, avoid: u8) -> MemoryOperand {
        let seg = self.seg_override();
        let avoid = avoid | self.base_avoid();
        if self.rng.chance(2) {
            return self.mem16(avoid, seg);
        }
        if !self.body && self.rng.chance(4) {
            // Relative to the current ESP, whatever it is.
            let d = self.rng.range(0, 80) as i64 - 16;
            return MemoryOperand::new(R::ESP, R::None, 1, d, 1, false, seg);
        }
        let target = self.target(size);
        let form = self.rng.below(6);
        if form == 0 {
            return MemoryOperand::new(R::None, R::None, 1, i64::from(target), 4, false, seg);
        }
        let b = R32[self.regnum(avoid)];
        match form {
            1 => {
                self.mov_imm(b, target);
                MemoryOperand::new(b, R::None, 1, 0, 0, false, seg)
            }
            2 => {
                let d = self.rng.range(0, 255) as i32 - 128;
                self.mov_imm(b, target.wrapping_sub(d as u32));
                MemoryOperand::new(b, R::None, 1, d as i64, 1, false, seg)
            }
            3 => {
                let d = self.rng.edgy() as i32;
                self.mov_imm(b, target.wrapping_sub(d as u32));
                MemoryOperand::new(b, R::None, 1, i64::from(d as u32), 4, false, seg)
            }
            _ => {
                let idx = R32[self.regnum(avoid | (1 << full_index(b)))];
                let scale = self.rng.pick(&[1u32, 2, 4, 8]);
                let iv = if self.rng.chance(50) {
                    self.rng.below(64).wrapping_sub(16)
                } else {
                    self.rng.edgy()
                };
                let (d, dsize) = match self.rng.below(3) {
                    0 => (0i32, 0),
                    1 => (self.rng.range(0, 255) as i32 - 128, 1),
                    _ => (self.rng.edgy() as i32, 4),
                };
                let rest = target.wrapping_sub(d as u32).wrapping_sub(iv.wrapping_mul(scale));
                if form == 5 && dsize == 4 {
                    // No base: [index*scale + disp32].
                    let d2 = target.wrapping_sub(iv.wrapping_mul(scale));
                    self.mov_imm(idx, iv);
                    return MemoryOperand::new(R::None, idx, scale, i64::from(d2), 4, false, seg);
                }
                self.mov_imm(b, rest);
                self.mov_imm(idx, iv);
                let disp = if dsize == 4 { i64::from(d as u32) } else { i64::from(d) };
                MemoryOperand::new(b, idx, scale, disp, dsize, false, seg)
            }
        }
    }

    /// A 16-bit-addressing memory operand (address-size prefix); the
    /// offset wraps at 64 KiB, so the access lands below 0x10000.
    fn mem16(&mut self, avoid: u8, seg: R) -> MemoryOperand {
        let (base, index) = self.pair16();
        let clash = |r: R| r != R::None && avoid & (1 << full_index(r)) != 0;
        if clash(base) || clash(index) || (base == R::None && index == R::None) {
            let d = self.rng.below(0x10000);
            return MemoryOperand::new(R::None, R::None, 1, d as i64, 2, false, seg);
        }
        for r in [base, index] {
            if r != R::None {
                let v = self.rng.u32() & 0xFFFF;
                self.mov_imm(r, v);
            }
        }
        let (d, dsize) = match self.rng.below(3) {
            0 if !(base == R::BP && index == R::None) => (0i64, 0),
            0 | 1 => (self.rng.range(0, 255) as i64 - 128, 1),
            _ => (i64::from(self.rng.below(0x10000)), 2),
        };
        MemoryOperand::new(base, index, 1, d, dsize, false, seg)
    }

    /// Base and index of a 16-bit address (iced names a lone SI or DI as
    /// the base).
    fn pair16(&mut self) -> (R, R) {
        let base = self.rng.pick(&[R::BX, R::BP, R::None]);
        let index = self.rng.pick(&[R::SI, R::DI, R::None]);
        if base == R::None { (index, R::None) } else { (base, index) }
    }

    /// The same memory operand `k` bytes further.
    fn mem_plus(m: MemoryOperand, k: i64) -> MemoryOperand {
        let mut m = m;
        let a16 = m.displ_size == 2 || matches!(m.base, R::BX | R::BP | R::SI | R::DI);
        m.displacement += k;
        m.displ_size = if a16 { 2 } else { 4 };
        if a16 {
            m.displacement = m.displacement as u16 as i64;
        } else {
            m.displacement = m.displacement as u32 as i64;
        }
        m
    }

    fn width(&mut self) -> u32 {
        match self.rng.below(8) {
            0 | 1 => 8,
            2 | 3 => 16,
            _ => 32,
        }
    }

    fn imm_for(&mut self, w: u32) -> u32 {
        let v = self.rng.edgy();
        match w {
            8 => v & 0xFF,
            16 => v & 0xFFFF,
            _ => v,
        }
    }

    /// A LOCK prefix, valid or not, now and then.
    fn maybe_lock(&mut self, i: &mut Instruction, lockable: bool) {
        if (lockable && self.rng.chance(5)) || self.rng.chance(1) {
            i.set_has_lock_prefix(true);
        }
    }

    // ---- families -----------------------------------------------------

    fn item(&mut self) {
        let total: u32 = FAMILIES.iter().filter(|(f, _)| !self.body || body_ok(*f)).map(|(_, w)| w).sum();
        let mut x = self.rng.below(total);
        let mut fam = Family::Nop;
        for &(f, w) in FAMILIES {
            if self.body && !body_ok(f) {
                continue;
            }
            if x < w {
                fam = f;
                break;
            }
            x -= w;
        }
        match fam {
            Family::Alu => self.alu(),
            Family::Test => self.test_insn(),
            Family::Unary => self.unary(),
            Family::Shift => self.shift(),
            Family::DoubleShift => self.double_shift(),
            Family::MulDiv => self.muldiv(),
            Family::Imul => self.imul(),
            Family::Bcd => self.bcd(),
            Family::BitTest => self.bit_test(),
            Family::BitScan => self.bit_scan(),
            Family::Setcc => self.setcc(),
            Family::Cmov => self.cmov(),
            Family::Exchange => self.exchange(),
            Family::Bswap => self.bswap(),
            Family::Mov => self.mov(),
            Family::MovExtend => self.mov_extend(),
            Family::Lea => self.lea(),
            Family::Convert => self.convert(),
            Family::FlagOps => self.flag_ops(),
            Family::PushPopFlags => self.push_pop_flags(),
            Family::Stack => self.stack(),
            Family::Frame => self.frame(),
            Family::SegReg => self.seg_reg(),
            Family::String => self.string(),
            Family::Xlat => self.xlat(),
            Family::Bound => self.bound(),
            Family::Trap => self.trap(),
            Family::Nop => self.nop(),
            Family::StackPointer => self.stack_pointer(),
            Family::Control => self.control(),
            Family::Far => self.far(),
            Family::FarPointer => self.far_pointer(),
            Family::DescriptorQuery => self.descriptor_query(),
        }
    }

    fn alu(&mut self) {
        let op = self.rng.pick(&["Add", "Or", "Adc", "Sbb", "And", "Sub", "Xor", "Cmp"]);
        let w = self.width();
        let mut i = match self.rng.below(6) {
            0 | 1 => {
                let d = self.rm(w, 50, 0);
                let s = self.src(w);
                build(code(&format!("{op}_rm{w}_r{w}")), &[d, Op::R(s)])
            }
            2 => {
                let d = self.dst(w, 0);
                let s = self.rm(w, 50, 0);
                build(code(&format!("{op}_r{w}_rm{w}")), &[Op::R(d), s])
            }
            3 => {
                let acc = reg(w, 0);
                let imm = self.imm_for(w);
                let name = match w {
                    8 => format!("{op}_AL_imm8"),
                    16 => format!("{op}_AX_imm16"),
                    _ => format!("{op}_EAX_imm32"),
                };
                build(code(&name), &[Op::R(acc), Op::I(imm)])
            }
            4 if w != 8 => {
                let d = self.rm(w, 50, 0);
                let imm = self.rng.range(0, 255) as i32 - 128;
                build(code(&format!("{op}_rm{w}_imm8")), &[d, Op::S(imm)])
            }
            _ => {
                let d = self.rm(w, 50, 0);
                let imm = self.imm_for(w);
                let name = if w == 8 && self.rng.chance(10) {
                    format!("{op}_rm8_imm8_82")
                } else {
                    format!("{op}_rm{w}_imm{w}")
                };
                build(code(&name), &[d, Op::I(imm)])
            }
        };
        let lockable = i.op0_kind() == iced_x86::OpKind::Memory && op != "Cmp";
        self.maybe_lock(&mut i, lockable);
        self.test(i);
    }

    fn test_insn(&mut self) {
        let w = self.width();
        let i = match self.rng.below(3) {
            0 => {
                let d = self.rm(w, 50, 0);
                let s = self.src(w);
                build(code(&format!("Test_rm{w}_r{w}")), &[d, Op::R(s)])
            }
            1 => {
                let imm = self.imm_for(w);
                let name = match w {
                    8 => "Test_AL_imm8",
                    16 => "Test_AX_imm16",
                    _ => "Test_EAX_imm32",
                };
                build(code(name), &[Op::R(reg(w, 0)), Op::I(imm)])
            }
            _ => {
                let d = self.rm(w, 50, 0);
                let imm = self.imm_for(w);
                build(code(&format!("Test_rm{w}_imm{w}")), &[d, Op::I(imm)])
            }
        };
        self.test(i);
    }

    fn unary(&mut self) {
        let op = self.rng.pick(&["Inc", "Dec", "Neg", "Not"]);
        let w = self.width();
        let mut i = if matches!(op, "Inc" | "Dec") && w != 8 && self.rng.chance(40) {
            let d = self.dst(w, 0);
            build(code(&format!("{op}_r{w}")), &[Op::R(d)])
        } else {
            let d = self.rm(w, 50, 0);
            build(code(&format!("{op}_rm{w}")), &[d])
        };
        let lockable = i.op0_kind() == iced_x86::OpKind::Memory;
        self.maybe_lock(&mut i, lockable);
        self.test(i);
    }

    fn shift(&mut self) {
        let op = self.rng.pick(&["Rol", "Ror", "Rcl", "Rcr", "Shl", "Shr", "Sar", "Sal"]);
        if op == "Sal" && self.rng.chance(70) {
            return self.shift();
        }
        let w = self.width();
        let i = match self.rng.below(3) {
            0 => {
                let d = self.rm(w, 40, 0);
                build(code(&format!("{op}_rm{w}_1")), &[d, Op::I(1)])
            }
            1 => {
                let n = self.rng.count();
                let d = self.rm(w, 40, ECX);
                if !self.body {
                    self.mov_imm(R::CL, n);
                }
                build(code(&format!("{op}_rm{w}_CL")), &[d, Op::R(R::CL)])
            }
            _ => {
                let n = self.rng.count();
                let d = self.rm(w, 40, 0);
                build(code(&format!("{op}_rm{w}_imm8")), &[d, Op::I(n)])
            }
        };
        self.test(i);
    }

    fn double_shift(&mut self) {
        let op = self.rng.pick(&["Shld", "Shrd"]);
        let w = if self.rng.chance(50) { 16 } else { 32 };
        let i = if self.rng.chance(50) {
            let n = self.rng.count();
            let d = self.rm(w, 40, ECX);
            let s = self.src(w);
            if !self.body {
                self.mov_imm(R::CL, n);
            }
            build(code(&format!("{op}_rm{w}_r{w}_CL")), &[d, Op::R(s), Op::R(R::CL)])
        } else {
            let n = self.rng.count();
            let d = self.rm(w, 40, 0);
            let s = self.src(w);
            build(code(&format!("{op}_rm{w}_r{w}_imm8")), &[d, Op::R(s), Op::I(n)])
        };
        self.test(i);
    }

    fn muldiv(&mut self) {
        let op = self.rng.pick(&["Mul", "Imul", "Div", "Idiv", "Div", "Idiv"]);
        let w = self.width();
        let s = self.rm(w, 40, EAX | EDX);
        if op == "Div" || op == "Idiv" {
            // Make the quotient fit most of the time.
            match self.rng.below(10) {
                0 => {}
                1..4 if op == "Idiv" => match w {
                    8 => self.setup("Cbw", &[]),
                    16 => self.setup("Cwd", &[]),
                    _ => self.setup("Cdq", &[]),
                },
                _ => {
                    let hi = if w == 8 { R::AH } else { reg(w, 2) };
                    let v = self.rng.below(4);
                    self.mov_imm(hi, v);
                }
            }
            if let Op::R(r) = s
                && self.rng.chance(80)
                && full_index(r) != 0
                && full_index(r) != 2
            {
                let v = self.rng.edgy();
                self.mov_imm(r, v);
            }
        }
        let i = build(code(&format!("{op}_rm{w}")), &[s]);
        self.test(i);
    }

    fn imul(&mut self) {
        let w = if self.rng.chance(50) { 16 } else { 32 };
        let d = self.dst(w, 0);
        let s = self.rm(w, 40, 0);
        let i = match self.rng.below(3) {
            0 => build(code(&format!("Imul_r{w}_rm{w}")), &[Op::R(d), s]),
            1 => {
                let imm = self.rng.range(0, 255) as i32 - 128;
                build(code(&format!("Imul_r{w}_rm{w}_imm8")), &[Op::R(d), s, Op::S(imm)])
            }
            _ => {
                let imm = self.imm_for(w);
                build(code(&format!("Imul_r{w}_rm{w}_imm{w}")), &[Op::R(d), s, Op::I(imm)])
            }
        };
        self.test(i);
    }

    fn bcd(&mut self) {
        if self.rng.chance(60) {
            // Random AF/CF/... through SAHF, then a random AX.
            let f = self.rng.u32() & 0xFF;
            self.mov_imm(R::AH, f);
            self.setup("Sahf", &[]);
            let v = self.rng.u32();
            self.mov_imm(R::AX, v);
        }
        let i = match self.rng.below(7) {
            6 => build(Code::Salc, &[]),
            0 => build(Code::Daa, &[]),
            1 => build(Code::Das, &[]),
            2 => build(Code::Aaa, &[]),
            3 => build(Code::Aas, &[]),
            4 => {
                let b = match self.rng.below(10) {
                    0 => 0,
                    1..4 => self.rng.below(256),
                    _ => 10,
                };
                build(Code::Aam_imm8, &[Op::I(b)])
            }
            _ => {
                let b = if self.rng.chance(50) { 10 } else { self.rng.below(256) };
                build(Code::Aad_imm8, &[Op::I(b)])
            }
        };
        self.test(i);
    }

    /// Selectors for loads: the flat user ones mostly, and ones that fault
    /// (kernel, null for SS/CS, system descriptors, beyond the GDT).
    fn selector(&mut self) -> u32 {
        match self.rng.below(10) {
            0..5 => 0x2b,
            5 => 0x23,
            6 => self.rng.pick(&[0, 3]),
            _ => self
                .rng
                .pick(&[0x18, 0x1b, 0x10, 0x13, 0x40, 0x28, 0x2a, 0x0c, 0x08, 0x20, 0x30, 0x33, 0x38, 0x80]),
        }
    }

    fn far(&mut self) {
        let after = self.label();
        match self.rng.below(6) {
            0 | 1 => {
                // CALL FAR to a body ending in RETF (imm16).
                let sub = self.label();
                let pops = if self.rng.chance(30) { self.rng.range(1, 3) } else { 0 };
                for _ in 0..pops {
                    let v = self.rng.u32();
                    self.setup("Pushd_imm32", &[Op::S(v as i32)]);
                }
                if self.rng.chance(50) {
                    let i = Instruction::with_far_branch(Code::Call_ptr1632, 0x23, 0).expect("call far");
                    let k = self.test(i);
                    self.fixups.push((k, sub));
                } else {
                    let t = DATA_BASE + self.rng.below(DATA_LEN / 8) * 8;
                    let m = MemoryOperand::new(R::None, R::None, 1, i64::from(t), 4, false, R::None);
                    let k = self.emit(build(Code::Mov_rm32_imm32, &[Op::M(m), Op::I(0)]));
                    self.fixups.push((k, sub));
                    let m4 = Self::mem_plus(m, 4);
                    self.setup("Mov_rm16_imm16", &[Op::M(m4), Op::I(0x23)]);
                    self.test(build(Code::Call_m1632, &[Op::M(m)]));
                }
                self.emit(Instruction::with_branch(Code::Jmp_rel32_32, after).expect("jmp"));
                self.bind(sub);
                self.body();
                if pops > 0 {
                    self.test(build(Code::Retfd_imm16, &[Op::I(pops * 4)]));
                } else {
                    self.test(build(Code::Retfd, &[]));
                }
            }
            2 => {
                // JMP FAR forward.
                if self.rng.chance(50) {
                    let i = Instruction::with_far_branch(Code::Jmp_ptr1632, 0x23, 0).expect("jmp far");
                    let k = self.test(i);
                    self.fixups.push((k, after));
                } else {
                    let t = DATA_BASE + self.rng.below(DATA_LEN / 8) * 8;
                    let m = MemoryOperand::new(R::None, R::None, 1, i64::from(t), 4, false, R::None);
                    let k = self.emit(build(Code::Mov_rm32_imm32, &[Op::M(m), Op::I(0)]));
                    self.fixups.push((k, after));
                    let m4 = Self::mem_plus(m, 4);
                    self.setup("Mov_rm16_imm16", &[Op::M(m4), Op::I(0x23)]);
                    self.test(build(Code::Jmp_m1632, &[Op::M(m)]));
                }
                for _ in 0..self.rng.below(3) {
                    self.item();
                }
            }
            3 | 4 => {
                // IRETD to the same level: NT cleared first (with NT set,
                // IRET is a task return, which long mode does not have).
                let clear = self.flags_image() & !(x86::flags::NT | x86::flags::TF);
                self.setup("Pushd_imm32", &[Op::S(clear as i32)]);
                self.setup("Popfd", &[]);
                let image = self.flags_image() & !(x86::flags::NT | x86::flags::VM);
                self.setup("Pushd_imm32", &[Op::S(image as i32)]);
                self.setup("Pushd_imm32", &[Op::S(0x23)]);
                let k = self.emit(build(code("Pushd_imm32"), &[Op::S(0)]));
                self.fixups.push((k, after));
                self.test(build(Code::Iretd, &[]));
                for _ in 0..self.rng.below(2) {
                    self.item();
                }
            }
            _ => {
                // A far transfer that faults on its selector.
                // Never Linux's 64-bit code selector (0x30/0x33): on the
                // host that would leave compatibility mode.
                let sel = match self.selector() as u16 {
                    0x23 | 0x30 | 0x33 => 0x2b,
                    s => s,
                };
                let c = if self.rng.chance(50) {
                    Code::Jmp_ptr1632
                } else {
                    Code::Call_ptr1632
                };
                let i = Instruction::with_far_branch(c, sel, 0).expect("far");
                let k = self.test(i);
                self.fixups.push((k, after));
            }
        }
        self.bind(after);
    }

    fn far_pointer(&mut self) {
        let w = if self.rng.chance(30) { 16 } else { 32 };
        let sr = self.rng.pick(&["Lds", "Les", "Lfs", "Lgs", "Lss"]);
        let sel = if sr == "Lss" && self.rng.chance(80) {
            0x2b
        } else {
            self.selector()
        };
        let r = self.dst(w, 0);
        let m = self.mem(w / 8 + 2, 1 << full_index(r));
        {
            // Always store the pointer: a selector from random data could
            // be one whose descriptor differs between Linux's GDT and the
            // harness's (0x7b, the per-CPU entry).
            let off = self.rng.edgy();
            let st = format!("Mov_rm{w}_imm{w}");
            let off = if w == 16 { off & 0xFFFF } else { off };
            let i = build(code(&st), &[Op::M(m), Op::I(off)]);
            self.emit(i);
            let i = build(code("Mov_rm16_imm16"), &[Op::M(Self::mem_plus(m, i64::from(w / 8))), Op::I(sel)]);
            self.emit(i);
        }
        let name = if w == 16 {
            format!("{sr}_r16_m1616")
        } else {
            format!("{sr}_r32_m1632")
        };
        self.test(build(code(&name), &[Op::R(r), Op::M(m)]));
    }

    fn descriptor_query(&mut self) {
        let op = self.rng.pick(&["Lar", "Lsl", "Verr", "Verw"]);
        let sel = self.selector();
        let s = self.dst(16, 0);
        self.mov_imm(s, sel);
        let i = match op {
            "Lar" | "Lsl" => {
                let w = if self.rng.chance(50) { 16 } else { 32 };
                let d = self.dst(w, 0);
                if w == 16 {
                    build(code(&format!("{op}_r16_rm16")), &[Op::R(d), Op::R(s)])
                } else {
                    build(code(&format!("{op}_r32_r32m16")), &[Op::R(d), Op::R(reg(32, full_index(s)))])
                }
            }
            _ => build(code(&format!("{op}_rm16")), &[Op::R(s)]),
        };
        self.test(i);
    }

    fn bit_test(&mut self) {
        let op = self.rng.pick(&["Bt", "Bts", "Btr", "Btc"]);
        let w = if self.rng.chance(50) { 16 } else { 32 };
        let mut i = if self.rng.chance(50) {
            let off = self.dst(w, 0);
            let d = self.rm(w, 50, 1 << full_index(off));
            if let Op::M(_) = d
                && self.rng.chance(85)
            {
                let v = self.rng.below(400).wrapping_sub(100);
                self.mov_imm(off, v);
            }
            build(code(&format!("{op}_rm{w}_r{w}")), &[d, Op::R(off)])
        } else {
            let d = self.rm(w, 50, 0);
            let n = self.rng.below(256);
            build(code(&format!("{op}_rm{w}_imm8")), &[d, Op::I(n)])
        };
        let lockable = op != "Bt" && i.op0_kind() == iced_x86::OpKind::Memory;
        self.maybe_lock(&mut i, lockable);
        self.test(i);
    }

    fn bit_scan(&mut self) {
        let op = self.rng.pick(&["Bsf", "Bsr"]);
        let w = if self.rng.chance(50) { 16 } else { 32 };
        let d = self.dst(w, 0);
        let s = self.rm(w, 40, 0);
        if self.rng.chance(35) {
            match s {
                Op::R(r) => self.mov_imm(r, 0),
                Op::M(m) => {
                    let i = build(code(&format!("Mov_rm{w}_imm{w}")), &[Op::M(m), Op::I(0)]);
                    self.emit(i);
                }
                _ => {}
            }
        }
        let i = build(code(&format!("{op}_r{w}_rm{w}")), &[Op::R(d), s]);
        self.test(i);
    }

    fn setcc(&mut self) {
        let cc = self.rng.pick(&CC);
        let d = self.rm(8, 30, 0);
        let i = build(code(&format!("Set{cc}_rm8")), &[d]);
        self.test(i);
    }

    fn cmov(&mut self) {
        let cc = self.rng.pick(&CC);
        let w = if self.rng.chance(40) { 16 } else { 32 };
        let d = self.dst(w, 0);
        let s = self.rm(w, 40, 0);
        let i = build(code(&format!("Cmov{cc}_r{w}_rm{w}")), &[Op::R(d), s]);
        self.test(i);
    }

    fn exchange(&mut self) {
        let w = self.width();
        match self.rng.below(5) {
            0 => {
                if w != 8 && self.rng.chance(30) {
                    let r = self.dst(w, EAX);
                    let name = if w == 16 { "Xchg_r16_AX" } else { "Xchg_r32_EAX" };
                    let i = build(code(name), &[Op::R(r), Op::R(reg(w, 0))]);
                    self.test(i);
                } else {
                    let s = self.dst(w, 0);
                    let d = self.rm(w, 50, 1 << full_index(s));
                    let mut i = build(code(&format!("Xchg_rm{w}_r{w}")), &[d, Op::R(s)]);
                    self.maybe_lock(&mut i, true);
                    self.test(i);
                }
            }
            1 => {
                let s = self.dst(w, 0);
                let d = self.rm(w, 50, 1 << full_index(s));
                let mut i = build(code(&format!("Xadd_rm{w}_r{w}")), &[d, Op::R(s)]);
                let lockable = i.op0_kind() == iced_x86::OpKind::Memory;
                self.maybe_lock(&mut i, lockable);
                self.test(i);
            }
            2 | 3 => {
                let s = self.dst(w, EAX);
                let d = self.rm(w, 50, EAX | (1 << full_index(s)));
                if self.rng.chance(40) {
                    // Make the comparison succeed.
                    let acc = reg(w, 0);
                    let i = build(code(&format!("Mov_r{w}_rm{w}")), &[Op::R(acc), d]);
                    self.emit(i);
                }
                let mut i = build(code(&format!("Cmpxchg_rm{w}_r{w}")), &[d, Op::R(s)]);
                let lockable = i.op0_kind() == iced_x86::OpKind::Memory;
                self.maybe_lock(&mut i, lockable);
                self.test(i);
            }
            _ => {
                let m = self.mem(8, EAX | EDX | ECX | EBX);
                if self.rng.chance(40) {
                    let lo = build(code("Mov_r32_rm32"), &[Op::R(R::EAX), Op::M(m)]);
                    self.emit(lo);
                    let hi = build(code("Mov_r32_rm32"), &[Op::R(R::EDX), Op::M(Self::mem_plus(m, 4))]);
                    self.emit(hi);
                }
                let mut i = build(Code::Cmpxchg8b_m64, &[Op::M(m)]);
                self.maybe_lock(&mut i, true);
                self.test(i);
            }
        }
    }

    fn bswap(&mut self) {
        let w = if self.rng.chance(15) { 16 } else { 32 };
        let r = self.dst(w, 0);
        let i = build(code(&format!("Bswap_r{w}")), &[Op::R(r)]);
        self.test(i);
    }

    fn mov(&mut self) {
        let w = self.width();
        let i = match self.rng.below(6) {
            0 => {
                let d = self.rm(w, 70, 0);
                let s = self.src(w);
                build(code(&format!("Mov_rm{w}_r{w}")), &[d, Op::R(s)])
            }
            1 => {
                let d = self.dst(w, 0);
                let s = self.rm(w, 70, 0);
                build(code(&format!("Mov_r{w}_rm{w}")), &[Op::R(d), s])
            }
            2 => {
                let d = self.rm(w, 70, 0);
                let imm = self.imm_for(w);
                build(code(&format!("Mov_rm{w}_imm{w}")), &[d, Op::I(imm)])
            }
            3 => {
                let d = self.dst(w, 0);
                let imm = self.imm_for(w);
                build(code(&format!("Mov_r{w}_imm{w}")), &[Op::R(d), Op::I(imm)])
            }
            _ => {
                let t = self.target(w / 8);
                let seg = self.seg_override();
                let m = MemoryOperand::new(R::None, R::None, 1, i64::from(t), 4, false, seg);
                let acc = reg(w, 0);
                let (load, store) = match w {
                    8 => ("Mov_AL_moffs8", "Mov_moffs8_AL"),
                    16 => ("Mov_AX_moffs16", "Mov_moffs16_AX"),
                    _ => ("Mov_EAX_moffs32", "Mov_moffs32_EAX"),
                };
                if self.rng.chance(50) {
                    build(code(load), &[Op::R(acc), Op::M(m)])
                } else {
                    build(code(store), &[Op::M(m), Op::R(acc)])
                }
            }
        };
        self.test(i);
    }

    fn mov_extend(&mut self) {
        let op = self.rng.pick(&["Movzx", "Movsx"]);
        let (dw, sw) = self.rng.pick(&[(16, 8), (32, 8), (32, 16), (16, 16)]);
        let d = self.dst(dw, 0);
        let s = self.rm(sw, 50, 0);
        let i = build(code(&format!("{op}_r{dw}_rm{sw}")), &[Op::R(d), s]);
        self.test(i);
    }

    fn lea(&mut self) {
        let w = if self.rng.chance(30) { 16 } else { 32 };
        let d = self.dst(w, 0);
        let m = if self.rng.chance(25) {
            let (base, index) = self.pair16();
            if base == R::None && index == R::None {
                MemoryOperand::new(R::None, R::None, 1, self.rng.below(0x10000) as i64, 2, false, R::None)
            } else {
                let d = self.rng.range(0, 255) as i64 - 128;
                MemoryOperand::new(base, index, 1, d, 1, false, R::None)
            }
        } else {
            let base = if self.rng.chance(80) {
                R32[self.rng.below(8) as usize]
            } else {
                R::None
            };
            let index = if self.rng.chance(60) { R32[self.regnum(ESP)] } else { R::None };
            let scale = self.rng.pick(&[1u32, 2, 4, 8]);
            let dd = i64::from(self.rng.edgy());
            MemoryOperand::new(base, index, scale, dd, 4, false, R::None)
        };
        let i = build(code(&format!("Lea_r{w}_m")), &[Op::R(d), Op::M(m)]);
        self.test(i);
    }

    fn convert(&mut self) {
        let c = self.rng.pick(&[Code::Cbw, Code::Cwde, Code::Cwd, Code::Cdq]);
        self.test(build(c, &[]));
    }

    fn flag_ops(&mut self) {
        let c = self
            .rng
            .pick(&[Code::Lahf, Code::Sahf, Code::Clc, Code::Stc, Code::Cmc, Code::Cld, Code::Std]);
        if c == Code::Sahf && self.rng.chance(50) {
            let v = self.rng.u32();
            self.mov_imm(R::AH, v);
        }
        self.test(build(c, &[]));
    }

    /// A random EFLAGS image for POPF (TF and AC now and then).
    fn flags_image(&mut self) -> u32 {
        let mut v = self.rng.u32() & !(x86::flags::TF | x86::flags::AC | x86::flags::RF);
        if self.rng.chance(6) {
            v |= x86::flags::TF;
        }
        if self.rng.chance(15) {
            v |= x86::flags::AC;
        }
        v
    }

    fn push_pop_flags(&mut self) {
        match self.rng.below(3) {
            0 => {
                let c = if self.rng.chance(25) { Code::Pushfw } else { Code::Pushfd };
                self.test(build(c, &[]));
            }
            _ => {
                let v = self.flags_image();
                if self.rng.chance(25) {
                    self.setup("Push_imm16", &[Op::I(v & 0xFFFF)]);
                    self.test(build(Code::Popfw, &[]));
                } else {
                    self.setup("Pushd_imm32", &[Op::S(v as i32)]);
                    self.test(build(Code::Popfd, &[]));
                }
            }
        }
    }

    fn stack(&mut self) {
        let w = if self.rng.chance(25) { 16 } else { 32 };
        let i = match self.rng.below(10) {
            0 | 1 => build(code(&format!("Push_r{w}")), &[Op::R(self.src(w))]),
            2 => {
                let m = self.mem(w / 8, 0);
                build(code(&format!("Push_rm{w}")), &[Op::M(m)])
            }
            3 => {
                if self.rng.chance(50) {
                    let v = self.rng.range(0, 255) as i32 - 128;
                    let name = if w == 16 { "Pushw_imm8" } else { "Pushd_imm8" };
                    build(code(name), &[Op::S(v)])
                } else {
                    let v = self.imm_for(w);
                    if w == 16 {
                        build(code("Push_imm16"), &[Op::I(v)])
                    } else {
                        build(code("Pushd_imm32"), &[Op::S(v as i32)])
                    }
                }
            }
            4 | 5 => {
                let r = if self.rng.chance(5) { reg(w, 4) } else { self.dst(w, 0) };
                build(code(&format!("Pop_r{w}")), &[Op::R(r)])
            }
            6 => {
                let m = self.mem(w / 8, 0);
                build(code(&format!("Pop_rm{w}")), &[Op::M(m)])
            }
            7 | 8 => build(if w == 16 { Code::Pushaw } else { Code::Pushad }, &[]),
            _ => build(if w == 16 { Code::Popaw } else { Code::Popad }, &[]),
        };
        self.test(i);
    }

    fn frame(&mut self) {
        let w = if self.rng.chance(25) { 16 } else { 32 };
        if self.rng.chance(50) {
            if self.rng.chance(60) {
                self.setup("Mov_r32_rm32", &[Op::R(R::EBP), Op::R(R::ESP)]);
            }
            let size = match self.rng.below(10) {
                0 | 1 => 0,
                2 => self.rng.below(0x10000),
                _ => self.rng.below(64),
            };
            let level = match self.rng.below(4) {
                0 => self.rng.below(256),
                1 => 0,
                _ => self.rng.below(4),
            };
            let name = if w == 16 { "Enterw_imm16_imm8" } else { "Enterd_imm16_imm8" };
            self.test(build(code(name), &[Op::I(size), Op::I(level)]));
        } else {
            if self.rng.chance(85) {
                let d = self.rng.below(16) as i64 * 2;
                let m = MemoryOperand::new(R::ESP, R::None, 1, d, 1, false, R::None);
                self.setup("Lea_r32_m", &[Op::R(R::EBP), Op::M(m)]);
            }
            self.test(build(if w == 16 { Code::Leavew } else { Code::Leaved }, &[]));
        }
    }

    fn seg_reg(&mut self) {
        let sels: [u32; 14] = [0x2b, 0x2b, 0x2b, 0x23, 0, 3, 0x18, 0x1b, 0x10, 0x40, 0x28, 0x0c, 0x33, 0x80];
        let sreg = self.rng.pick(&[R::ES, R::CS, R::SS, R::DS, R::FS, R::GS]);
        let name = |r: R| format!("{r:?}");
        match self.rng.below(4) {
            0 => {
                let w = if self.rng.chance(30) { "w" } else { "d" };
                self.test(build(code(&format!("Push{w}_{}", name(sreg))), &[Op::R(sreg)]));
            }
            1 => {
                let s = self.rng.pick(&[R::ES, R::DS, R::SS]);
                let v = self.rng.pick(&sels);
                self.setup("Pushd_imm32", &[Op::S(v as i32)]);
                self.test(build(code(&format!("Popd_{}", name(s))), &[Op::R(s)]));
            }
            2 => {
                let s = self.rng.pick(&[R::ES, R::DS, R::SS, R::FS, R::GS]);
                let v = self.rng.pick(&sels) | (self.rng.u32() & 0xFFFF_0000);
                let r = self.dst(32, 0);
                self.mov_imm(r, v);
                let i = if self.rng.chance(50) {
                    build(code("Mov_Sreg_rm16"), &[Op::R(s), Op::R(reg(16, full_index(r)))])
                } else {
                    build(code("Mov_Sreg_r32m16"), &[Op::R(s), Op::R(r)])
                };
                self.test(i);
            }
            _ => {
                let d = self.rm(32, 30, 0);
                let i = match d {
                    Op::R(r) => {
                        if self.rng.chance(50) {
                            build(code("Mov_rm16_Sreg"), &[Op::R(reg(16, full_index(r))), Op::R(sreg)])
                        } else {
                            build(code("Mov_r32m16_Sreg"), &[Op::R(r), Op::R(sreg)])
                        }
                    }
                    _ => build(code("Mov_r32m16_Sreg"), &[d, Op::R(sreg)]),
                };
                self.test(i);
            }
        }
    }

    fn string(&mut self) {
        let op = self.rng.pick(&["movs", "cmps", "stos", "lods", "scas"]);
        let size = self.rng.pick(&[1u32, 2, 4]);
        let a16 = self.rng.chance(5);
        let seg = if self.rng.chance(15) { self.seg_override() } else { R::None };
        let rep = match self.rng.below(10) {
            0..3 => RepPrefixKind::None,
            3..8 => RepPrefixKind::Repe,
            _ => RepPrefixKind::Repne,
        };
        if self.rng.chance(50) {
            let c = if self.rng.chance(50) { "Cld" } else { "Std" };
            self.setup(c, &[]);
        }
        let (si, di, cx) = if a16 { (R::SI, R::DI, R::CX) } else { (R::ESI, R::EDI, R::ECX) };
        let s_addr = self.target(size);
        let d_addr = self.target(size);
        self.mov_imm(si, s_addr);
        self.mov_imm(di, d_addr);
        if rep != RepPrefixKind::None {
            // Now and then more than the interpreter's 1024-iteration
            // chunk, so a repeated instruction resumes across chunks.
            let n = match self.rng.below(50) {
                0 => self.rng.range(1000, 2100),
                1..6 => self.rng.below(600),
                _ => self.rng.below(24),
            };
            self.mov_imm(cx, n);
        }
        if matches!(op, "cmps" | "scas") && self.rng.chance(30) {
            // Equal data now and then, so REPE runs.
            let v = self.rng.u32();
            self.mov_imm(R::EAX, v);
        }
        let asz = if a16 { 16 } else { 32 };
        let r = match (op, size) {
            ("movs", 1) => Instruction::with_movsb(asz, seg, rep),
            ("movs", 2) => Instruction::with_movsw(asz, seg, rep),
            ("movs", _) => Instruction::with_movsd(asz, seg, rep),
            ("cmps", 1) => Instruction::with_cmpsb(asz, seg, rep),
            ("cmps", 2) => Instruction::with_cmpsw(asz, seg, rep),
            ("cmps", _) => Instruction::with_cmpsd(asz, seg, rep),
            ("stos", 1) => Instruction::with_stosb(asz, rep),
            ("stos", 2) => Instruction::with_stosw(asz, rep),
            ("stos", _) => Instruction::with_stosd(asz, rep),
            ("lods", 1) => Instruction::with_lodsb(asz, seg, rep),
            ("lods", 2) => Instruction::with_lodsw(asz, seg, rep),
            ("lods", _) => Instruction::with_lodsd(asz, seg, rep),
            ("scas", 1) => Instruction::with_scasb(asz, rep),
            ("scas", 2) => Instruction::with_scasw(asz, rep),
            _ => Instruction::with_scasd(asz, rep),
        };
        let i = r.expect("string instruction");
        self.test(i);
    }

    fn xlat(&mut self) {
        let seg = self.seg_override();
        let t = self.target(1);
        let al = self.rng.below(256);
        self.mov_imm(R::AL, al);
        self.mov_imm(R::EBX, t.wrapping_sub(al));
        let m = MemoryOperand::new(R::EBX, R::AL, 1, 0, 0, false, seg);
        self.test(build(Code::Xlat_m8, &[Op::M(m)]));
    }

    fn bound(&mut self) {
        let w = if self.rng.chance(30) { 16 } else { 32 };
        let r = self.dst(w, 0);
        let m = self.mem(w / 4, 1 << full_index(r));
        if self.rng.chance(70) {
            let lo = self.rng.edgy();
            let hi = if self.rng.chance(70) {
                lo.wrapping_add(self.rng.below(100))
            } else {
                self.rng.edgy()
            };
            let st = format!("Mov_rm{w}_imm{w}");
            let (lo, hi) = if w == 16 { (lo & 0xFFFF, hi & 0xFFFF) } else { (lo, hi) };
            let i = build(code(&st), &[Op::M(m), Op::I(lo)]);
            self.emit(i);
            let i = build(code(&st), &[Op::M(Self::mem_plus(m, i64::from(w / 8))), Op::I(hi)]);
            self.emit(i);
            let v = if self.rng.chance(75) {
                lo.wrapping_add(self.rng.below(hi.wrapping_sub(lo).min(0x7FFF_FFFF) + 1))
            } else {
                lo.wrapping_add(self.rng.below(120)).wrapping_sub(10)
            };
            self.mov_imm(r, v);
        }
        let name = if w == 16 { "Bound_r16_m1616" } else { "Bound_r32_m3232" };
        self.test(build(code(name), &[Op::R(r), Op::M(m)]));
    }

    fn trap(&mut self) {
        let i = match self.rng.below(14) {
            0 | 1 => build(Code::Int3, &[]),
            2 | 3 => {
                if self.rng.chance(60) {
                    // Set OF = 1 (0x7F + 1).
                    self.mov_imm(R::DL, 0x7F);
                    self.setup("Add_rm8_imm8", &[Op::R(R::DL), Op::I(1)]);
                }
                build(Code::Into, &[])
            }
            4 | 5 => {
                let mut n = match self.rng.below(3) {
                    0 => self.rng.pick(&[3u32, 4, 1, 0, 13, 14, 0x21, 0xFF]),
                    _ => self.rng.below(256),
                };
                if n == 0x80 {
                    n = 0x81;
                }
                build(Code::Int_imm8, &[Op::I(n)])
            }
            6 => build(Code::Ud2, &[]),
            7 => build(
                self.rng.pick(&[
                    Code::Hlt,
                    Code::Cli,
                    Code::Sti,
                    Code::Clts,
                    Code::Wbinvd,
                    Code::Invd,
                    Code::Rdmsr,
                    Code::Wrmsr,
                ]),
                &[],
            ),
            8 => {
                let port = self.rng.below(256);
                let c = self.rng.pick(&["In_AL_imm8", "In_EAX_imm8", "Out_imm8_AL", "Out_imm8_EAX"]);
                if c.starts_with("In") {
                    build(code(c), &[Op::R(if c.contains("EAX") { R::EAX } else { R::AL }), Op::I(port)])
                } else {
                    build(code(c), &[Op::I(port), Op::R(if c.contains("EAX") { R::EAX } else { R::AL })])
                }
            }
            9 => {
                let c = self.rng.pick(&["In_AL_DX", "In_AX_DX", "Out_DX_AL", "Out_DX_EAX"]);
                if c.starts_with("In") {
                    let r = if c.contains("AX") { R::AX } else { R::AL };
                    build(code(c), &[Op::R(r), Op::R(R::DX)])
                } else {
                    let r = if c.contains("EAX") { R::EAX } else { R::AL };
                    build(code(c), &[Op::R(R::DX), Op::R(r)])
                }
            }
            10 => {
                let rep = if self.rng.chance(50) {
                    RepPrefixKind::Repe
                } else {
                    RepPrefixKind::None
                };
                if self.rng.chance(50) {
                    Instruction::with_insb(32, rep).expect("insb")
                } else {
                    Instruction::with_outsd(32, R::None, rep).expect("outsd")
                }
            }
            11 => {
                let m = self.mem(6, 0);
                build(self.rng.pick(&[Code::Lgdt_m1632, Code::Lidt_m1632]), &[Op::M(m)])
            }
            12 => {
                let cr = self.rng.pick(&[R::CR0, R::CR2, R::CR3, R::CR4]);
                if self.rng.chance(50) {
                    build(Code::Mov_r32_cr, &[Op::R(R::EAX), Op::R(cr)])
                } else {
                    build(Code::Mov_cr_r32, &[Op::R(cr), Op::R(R::EAX)])
                }
            }
            _ => {
                let m = self.mem(1, 0);
                build(Code::Invlpg_m, &[Op::M(m)])
            }
        };
        self.test(i);
    }

    fn nop(&mut self) {
        match self.rng.below(3) {
            0 => {
                self.test(build(Code::Nopd, &[]));
            }
            1 => {
                self.test(build(Code::Pause, &[]));
            }
            _ => {
                let m = self.mem(4, 0);
                self.test(build(Code::Nop_rm32, &[Op::M(m)]));
            }
        }
    }

    fn stack_pointer(&mut self) {
        let v = match self.rng.below(4) {
            0 => STACK_TOP - self.rng.below(12),
            1 => STACK_LO + self.rng.below(40),
            2 => STACK_LO + 0x1000 + self.rng.below(8) - 4,
            _ => STACK_LO + self.rng.below(STACK_LEN),
        };
        self.mov_imm(R::ESP, v);
        self.tested += 1;
    }

    /// A body of 1-4 items without stack, ECX or control changes.
    fn body(&mut self) {
        let was = self.body;
        self.body = true;
        for _ in 0..self.rng.range(1, 4) {
            self.item();
        }
        self.body = was;
    }

    fn jcc_code(&mut self, long: bool) -> Code {
        let cc = self.rng.pick(&CC);
        if long {
            code(&format!("J{cc}_rel32_32"))
        } else {
            code(&format!("J{cc}_rel8_32"))
        }
    }

    fn control(&mut self) {
        match self.rng.below(10) {
            0..3 => {
                // Forward conditional or unconditional jump.
                let l = self.label();
                let c = match self.rng.below(6) {
                    0 => Code::Jmp_rel8_32,
                    1 => Code::Jmp_rel32_32,
                    2 => Code::Jecxz_rel8_32,
                    3 => Code::Jcxz_rel8_32,
                    4 => self.jcc_code(true),
                    _ => self.jcc_code(false),
                };
                self.test(Instruction::with_branch(c, l).expect("branch"));
                let n = self.rng.below(3);
                for _ in 0..n {
                    self.item();
                }
                self.bind(l);
            }
            3 | 4 => {
                // Counted loop.
                let n = self.rng.range(1, 5);
                let a16 = self.rng.chance(15);
                self.mov_imm(R::ECX, n);
                let l = self.label();
                self.bind(l);
                self.body();
                let c = match (self.rng.below(3), a16) {
                    (0, false) => Code::Loop_rel8_32_ECX,
                    (1, false) => Code::Loope_rel8_32_ECX,
                    (_, false) => Code::Loopne_rel8_32_ECX,
                    (0, true) => Code::Loop_rel8_32_CX,
                    (1, true) => Code::Loope_rel8_32_CX,
                    (_, true) => Code::Loopne_rel8_32_CX,
                };
                self.test(Instruction::with_branch(c, l).expect("loop"));
            }
            5..8 => {
                // CALL a body that returns.
                let sub = self.label();
                let after = self.label();
                let pops = if self.rng.chance(30) { self.rng.range(1, 3) } else { 0 };
                for _ in 0..pops {
                    let v = self.rng.u32();
                    self.setup("Pushd_imm32", &[Op::S(v as i32)]);
                }
                match self.rng.below(4) {
                    0 => {
                        let r = self.dst(32, 0);
                        let k = self.emit(build(Code::Mov_r32_imm32, &[Op::R(r), Op::I(0)]));
                        self.fixups.push((k, sub));
                        self.test(build(Code::Call_rm32, &[Op::R(r)]));
                    }
                    1 => {
                        let t = DATA_BASE + self.rng.below(DATA_LEN / 4) * 4;
                        let m = MemoryOperand::new(R::None, R::None, 1, t as i64, 4, false, R::None);
                        let k = self.emit(build(Code::Mov_rm32_imm32, &[Op::M(m), Op::I(0)]));
                        self.fixups.push((k, sub));
                        self.test(build(Code::Call_rm32, &[Op::M(m)]));
                    }
                    _ => {
                        self.test(Instruction::with_branch(Code::Call_rel32_32, sub).expect("call"));
                    }
                }
                self.emit(Instruction::with_branch(Code::Jmp_rel32_32, after).expect("jmp"));
                self.bind(sub);
                self.body();
                if pops > 0 {
                    self.test(build(Code::Retnd_imm16, &[Op::I(pops * 4)]));
                } else {
                    self.test(build(Code::Retnd, &[]));
                }
                self.bind(after);
            }
            _ => {
                // Indirect forward jump.
                let l = self.label();
                if self.rng.chance(50) {
                    let r = self.dst(32, 0);
                    let k = self.emit(build(Code::Mov_r32_imm32, &[Op::R(r), Op::I(0)]));
                    self.fixups.push((k, l));
                    self.test(build(Code::Jmp_rm32, &[Op::R(r)]));
                } else if self.rng.chance(80) {
                    let t = DATA_BASE + self.rng.below(DATA_LEN / 4) * 4;
                    let m = MemoryOperand::new(R::None, R::None, 1, t as i64, 4, false, R::None);
                    let k = self.emit(build(Code::Mov_rm32_imm32, &[Op::M(m), Op::I(0)]));
                    self.fixups.push((k, l));
                    self.test(build(Code::Jmp_rm32, &[Op::M(m)]));
                } else {
                    // 16-bit indirect jump: EIP = the low 16 bits -> a
                    // fetch fault below 64 KiB.
                    let v = self.rng.u32();
                    self.mov_imm(R::AX, v);
                    if self.rng.chance(30) {
                        // JMP rel16 (66 E9): EIP = (next + rel16) & 0xFFFF.
                        let rel = self.rng.below(0x10000) as u16;
                        let b = rel.to_le_bytes();
                        let i = Instruction::with_declare_byte(&[0x66, 0xE9, b[0], b[1]]).expect("db");
                        self.test(i);
                    } else {
                        let c = if self.rng.chance(50) { Code::Jmp_rm16 } else { Code::Call_rm16 };
                        self.test(build(c, &[Op::R(R::AX)]));
                    }
                }
                let n = self.rng.below(3);
                for _ in 0..n {
                    self.item();
                }
                self.bind(l);
            }
        }
    }
}

/// Condition-code suffixes as iced spells them.
const CC: [&str; 16] = [
    "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g",
];

/// Encodes the instructions, resolving label addresses in the fix-ups.
fn assemble(out: &mut [Instruction], fixups: &[(usize, u64)]) -> Vec<u8> {
    let encode = |ins: &[Instruction]| {
        let block = InstructionBlock::new(ins, u64::from(CODE_BASE));
        match BlockEncoder::encode(32, block, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS) {
            Ok(r) => r,
            Err(e) => panic!("block encoding failed: {e}"),
        }
    };
    let first = encode(out);
    if fixups.is_empty() {
        return first.code_buffer;
    }
    for &(k, label) in fixups {
        let target = out.iter().position(|i| i.ip() == label).expect("fix-up label is bound");
        let addr = CODE_BASE + first.new_instruction_offsets[target];
        if matches!(out[k].code(), Code::Call_ptr1632 | Code::Jmp_ptr1632) {
            out[k].set_far_branch32(addr);
        } else {
            out[k].set_immediate32(addr);
        }
    }
    let second = encode(out);
    assert_eq!(first.code_buffer.len(), second.code_buffer.len(), "fix-ups changed the layout");
    second.code_buffer
}

fn random_bytes(rng: &mut Rng, len: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len as usize);
    while v.len() < len as usize {
        v.extend_from_slice(&rng.edgy().to_le_bytes());
    }
    v
}

/// A case running `code` from `state` with the generator's three regions
/// (data, read-only, stack), filled with `fill` (hand-written tests).
pub fn case_with_regions(code: Vec<u8>, state: State32, fill: u8) -> Case {
    Case {
        code,
        state,
        regions: vec![
            Region::new(DATA_BASE, vec![fill; DATA_LEN as usize], Perm::RW),
            Region::new(RO_BASE, vec![fill; RO_LEN as usize], Perm::R),
            Region::new(STACK_LO, vec![fill; STACK_LEN as usize], Perm::RW),
        ],
        flat_fs_gs: false,
    }
}

/// Generates the program for `seed` with 1..=`max_items` items (an item
/// is one instruction under test with its set-up, or a control construct).
pub fn generate(seed: u64, max_items: u32) -> Program {
    let mut rng = Rng::new(seed);
    let items = rng.range(1, max_items.max(1));
    let mut g = Gen {
        rng: &mut rng,
        out: Vec::new(),
        fixups: Vec::new(),
        next_label: 0,
        pending: None,
        tested: 0,
        body: false,
        undefined: 0,
        tf_next: false,
    };
    for _ in 0..items {
        if g.rng.chance(2) {
            g.tf_next = true;
        }
        g.item();
    }
    g.tf_next = false;
    // The final NOP: target of forward branches, and a place for a trap
    // set by the last instruction to be taken.
    g.emit(Instruction::with(Code::Nopd));
    let tested = g.tested;
    let undefined = g.undefined;
    let mut out = std::mem::take(&mut g.out);
    let fixups = std::mem::take(&mut g.fixups);
    let code_bytes = assemble(&mut out, &fixups);

    // Initial state.
    let mut gpr = [0u32; 8];
    for r in gpr.iter_mut() {
        *r = rng.edgy();
    }
    gpr[4] = match rng.below(10) {
        0 => STACK_LO + rng.below(STACK_LEN),
        1 => STACK_TOP - rng.below(16),
        _ => STACK_LO + 0x1000 + (rng.below(0x200) & !3),
    };
    if rng.chance(5) {
        gpr[4] |= rng.range(1, 3);
    }
    if rng.chance(50) {
        gpr[5] = STACK_LO + 0x800 + rng.below(0x1000);
    }
    use x86::flags as fl;
    let mut eflags = rng.u32() & fl::ARITH;
    if rng.chance(25) {
        eflags |= fl::DF;
    }
    if rng.chance(10) {
        eflags |= fl::AC;
    }
    if rng.chance(2) {
        eflags |= fl::TF;
    }
    if rng.chance(5) {
        eflags |= fl::NT;
    }
    if rng.chance(50) {
        eflags |= fl::ID;
    }
    eflags |= fl::FIXED1 | fl::IF;
    let regions = vec![
        Region::new(DATA_BASE, random_bytes(&mut rng, DATA_LEN), Perm::RW),
        Region::new(RO_BASE, random_bytes(&mut rng, RO_LEN), Perm::R),
        Region::new(STACK_LO, random_bytes(&mut rng, STACK_LEN), Perm::RW),
    ];
    let emitted = out.len();
    Program {
        case: Case {
            code: code_bytes,
            state: State32 {
                gpr,
                eip: CODE_BASE,
                eflags,
                fpu: None,
            },
            regions,
            flat_fs_gs: false,
        },
        tested,
        emitted,
        undefined_flags: undefined,
    }
}
