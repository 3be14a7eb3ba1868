//! Regression tests for the interpreter bugs and undefined-result rules
//! the differential test found. Each runs a hand-written case on the host
//! and in the interpreter, requires them to agree, and pins the
//! interpreter's result so the rule stays documented even where the host
//! is not the AMD Zen these values were measured on.

use hostdiff::program::{DATA_LEN, RO_BASE, STACK_LO, case_with_regions};
use iced_x86::code_asm::*;
use native32::{CODE_BASE, Case, DATA_BASE, Fault, Outcome, STACK_TOP, Snapshot, State32, flags as fl};

const ESP: usize = native32::ESP;

fn code(build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).expect("32-bit assembler");
    build(&mut a).expect("assembles");
    a.assemble(u64::from(CODE_BASE)).expect("encodes")
}

fn state(gpr: [u32; 8], eflags: u32) -> State32 {
    State32 {
        gpr,
        eflags: eflags | fl::FIXED | fl::IF,
        ..State32::default()
    }
}

/// A state with ESP in the middle of the stack and the other registers 0.
fn plain(eflags: u32) -> State32 {
    let mut g = [0u32; 8];
    g[ESP] = STACK_LO + 0x1000;
    state(g, eflags)
}

/// Runs `case` on both sides, asserts agreement, returns the interpreter's
/// outcome.
fn agree(case: &Case) -> Outcome {
    let (host, interp, diffs) = hostdiff::run_case(case).expect("native32 runs");
    assert!(
        diffs.is_empty(),
        "host and interpreter disagree:\n{}host: {}\ninterpreter: {}\n{}",
        hostdiff::listing(&case.code),
        hostdiff::compare::describe(&host),
        hostdiff::compare::describe(&interp),
        diffs.join("\n")
    );
    interp
}

fn fault(o: &Outcome) -> &Fault {
    o.fault()
        .unwrap_or_else(|| panic!("expected an exception, got {}", hostdiff::compare::describe(o)))
}

fn done(o: &Outcome) -> &Snapshot {
    o.completed()
        .unwrap_or_else(|| panic!("expected completion, got {}", hostdiff::compare::describe(o)))
}

fn arith(s: &Snapshot) -> u32 {
    s.state.eflags & fl::ARITH
}

// ---- architectural bugs ------------------------------------------------

/// A read-modify-write straddling into an unmapped page reports the first
/// byte of that page in CR2 (was: the access's last byte).
#[test]
fn straddling_access_cr2_is_the_page_start() {
    let end = DATA_BASE + DATA_LEN;
    for k in 1..4 {
        let c = code(|a| a.inc(dword_ptr(end - k)));
        let o = agree(&case_with_regions(c, plain(0), 0));
        let f = fault(&o);
        assert_eq!((f.vector, f.error_code, f.fault_addr), (14, 6, Some(end)));
    }
}

/// An access that would wrap past 4 GiB in a flat segment exceeds the
/// limit: #GP(0), or #SS(0) through SS (was: allowed, then #PF).
#[test]
fn access_wrapping_past_4g_is_a_limit_fault() {
    let c = code(|a| a.mov(eax, dword_ptr(0xFFFF_FFFEu32)));
    let o = agree(&case_with_regions(c, plain(0), 0));
    assert_eq!((fault(&o).vector, fault(&o).error_code), (13, 0));

    let c = code(|a| {
        a.mov(esp, 0xFFFF_FFFFu32)?;
        a.pop(ax)
    });
    let o = agree(&case_with_regions(c, plain(0), 0));
    assert_eq!((fault(&o).vector, fault(&o).error_code), (12, 0));
}

/// Shifts and SHLD/SHRD by a (masked) count of 0 still write their memory
/// operand back: a read-only page faults with W = 1 (was: read only).
#[test]
fn shift_by_zero_is_a_write() {
    let cases = [
        code(|a| {
            a.mov(cl, 0x20)?;
            a.shl(dword_ptr(RO_BASE), cl)
        }),
        code(|a| a.rol(word_ptr(RO_BASE + 2), 0)),
        code(|a| a.shld(dword_ptr(RO_BASE), eax, 0)),
        code(|a| {
            a.xor(ecx, ecx)?;
            a.shrd(word_ptr(RO_BASE), ax, cl)
        }),
    ];
    for c in cases {
        let o = agree(&case_with_regions(c, plain(0), 0));
        let f = fault(&o);
        assert_eq!((f.vector, f.error_code), (14, 7));
    }
}

/// ENTER checks its final stack pointer with an operand-sized write: #PF
/// when that page is not mapped (was: only the segment limit), #AC when it
/// is misaligned with EFLAGS.AC.
#[test]
fn enter_probes_the_final_stack_pointer() {
    let c = code(|a| a.enter(0x100u32, 0u32));
    let mut s = plain(0);
    s.gpr[ESP] = STACK_LO + 0x40;
    let o = agree(&case_with_regions(c, s, 0));
    let f = fault(&o);
    assert_eq!((f.vector, f.error_code, f.fault_addr), (14, 6, Some(STACK_LO + 0x3C - 0x100)));

    let c = code(|a| a.enter(3u32, 0u32));
    let o = agree(&case_with_regions(c, plain(fl::AC), 0));
    assert_eq!(fault(&o).vector, 17);
}

/// A single-stepped INT3 raises #BP only: the gate clears TF, so no #DB
/// follows (was: a #DB stacked on the #BP frame).
#[test]
fn int3_with_tf_raises_only_bp() {
    let c = code(|a| {
        a.int3()?;
        a.nop()
    });
    let o = agree(&case_with_regions(c, plain(fl::TF), 0));
    let f = fault(&o);
    assert_eq!((f.vector, f.eip), (3, CODE_BASE + 1));
}

/// The pushes of a far CALL at CPL 3 are alignment-checked (was: not).
#[test]
fn far_call_pushes_are_alignment_checked() {
    let c = code(|a| {
        a.db(&[0x9A])?; // CALL FAR 0x23:CODE_BASE+7
        a.dd(&[CODE_BASE + 7])?;
        a.dw(&[0x23])?;
        a.nop()
    });
    let mut s = plain(fl::AC);
    s.gpr[ESP] = STACK_LO + 0x1001;
    let o = agree(&case_with_regions(c, s, 0));
    assert_eq!(fault(&o).vector, 17);
}

// ---- undefined results, following the AMD Zen host ---------------------

/// Runs `c` from several register and flag states; all must agree.
fn agree_over_inputs(c: &[u8], inputs: &[(u32, u32, u32, u32)]) -> Vec<Outcome> {
    inputs
        .iter()
        .map(|&(va, vb, vc, vd)| {
            let run = |flags| {
                let mut s = plain(flags);
                s.gpr[0] = va;
                s.gpr[1] = vc;
                s.gpr[2] = vd;
                s.gpr[3] = vb;
                agree(&case_with_regions(c.to_vec(), s, 0))
            };
            run(0);
            run(fl::ARITH)
        })
        .collect()
}

const INPUTS: [(u32, u32, u32, u32); 6] = [
    (0, 0, 0, 0),
    (0x8000_0000, 0xFFFF_FFFF, 1, 0),
    (0x1234_5678, 0x9ABC_DEF0, 17, 3),
    (0xFFFF, 0x7FFF, 31, 0xFFFF_FFFF),
    (0x80, 0x80, 9, 1),
    (0x0009_0F0A, 0x1000, 16, 0x8000),
];

/// MUL/IMUL leave SF, ZF, AF and PF unchanged.
#[test]
fn multiply_keeps_szap() {
    for c in [
        code(|a| a.mul(ebx)),
        code(|a| a.imul(bx)),
        code(|a| a.imul_3(eax, ebx, 7)),
        code(|a| a.imul_2(ecx, ebx)),
    ] {
        agree_over_inputs(&c, &INPUTS);
    }
    let o = agree(&case_with_regions(
        code(|a| a.mul(ebx)),
        plain(fl::ZF | fl::AF | fl::PF | fl::SF),
        0,
    ));
    assert_eq!(arith(done(&o)), fl::ZF | fl::AF | fl::PF | fl::SF);
}

/// DIV/IDIV keep CF and OF, set AF, clear SF, ZF and PF.
#[test]
fn divide_flags() {
    let inputs = [(100, 7, 0, 0), (0xFFFF_FFFF, 0x10, 0, 2), (5, 0xFFFF_FFFF, 0, 0xFFFF_FFFF)];
    for c in [code(|a| a.div(ebx)), code(|a| a.idiv(bl)), code(|a| a.div(bx))] {
        agree_over_inputs(&c, &inputs);
    }
    let mut s = plain(fl::ARITH);
    s.gpr[0] = 100;
    s.gpr[3] = 7;
    let o = agree(&case_with_regions(code(|a| a.div(ebx)), s, 0));
    assert_eq!(arith(done(&o)), fl::CF | fl::OF | fl::AF);
}

/// Shifts set AF; OF for counts above 1 follows the per-operation rule.
#[test]
fn shift_and_rotate_flags() {
    let ops = [
        code(|a| a.shl(eax, cl)),
        code(|a| a.shr(ax, cl)),
        code(|a| a.sar(al, cl)),
        code(|a| a.rol(eax, cl)),
        code(|a| a.ror(ax, cl)),
        code(|a| a.rcl(al, cl)),
        code(|a| a.rcr(eax, cl)),
    ];
    for c in ops {
        agree_over_inputs(&c, &INPUTS);
    }
    let mut s = plain(0);
    s.gpr[0] = 0x4000_0001;
    s.gpr[1] = 2;
    let o = agree(&case_with_regions(code(|a| a.shl(eax, cl)), s, 0));
    // 0x4000_0001 << 2 = 0x0000_0004, CF = 1: OF = MSB ^ CF = 1, AF = 1.
    assert_eq!(arith(done(&o)), fl::CF | fl::OF | fl::AF);
}

/// SHLD/SHRD: AF set, OF rules, and 16-bit counts of 16..31.
#[test]
fn double_shift_rules() {
    let ops = [
        code(|a| a.shld(eax, ebx, cl)),
        code(|a| a.shrd(eax, ebx, cl)),
        code(|a| a.shld(ax, bx, cl)),
        code(|a| a.shrd(ax, bx, cl)),
    ];
    for c in ops {
        let inputs: Vec<_> = [1u32, 2, 7, 15, 16, 17, 20, 31]
            .iter()
            .map(|&n| (0x8421_C3A5, 0x5A5A_F00F, n, 0))
            .collect();
        agree_over_inputs(&c, &inputs);
    }
    // 16-bit SHLD by 20: a:b:b = C3A5:F00F:F00F << 20 -> 00FF, CF = OF = 0.
    let mut s = plain(fl::ARITH);
    s.gpr[0] = 0xC3A5;
    s.gpr[3] = 0xF00F;
    s.gpr[1] = 20;
    let o = agree(&case_with_regions(code(|a| a.shld(ax, bx, cl)), s, 0));
    let snap = done(&o);
    assert_eq!(snap.state.gpr[0] & 0xFFFF, 0x00FF);
    assert_eq!(arith(snap) & (fl::CF | fl::OF | fl::AF), fl::AF);
}

/// AAA/AAS flags come from the 16-bit AX +/- 0x106.
#[test]
fn aaa_aas_flags() {
    let inputs = [
        (0x7F8E, 0, 0, 0),
        (0x00AB, 0, 0, 0),
        (0xE333, 0, 0, 0),
        (0x4000, 0, 0, 0),
        (0xFF3C, 0, 0, 0),
        (0x80F2, 0, 0, 0),
    ];
    for c in [code(|a| a.aaa()), code(|a| a.aas())] {
        agree_over_inputs(&c, &inputs);
    }
    // AX = 0x7F8E: 0x7F8E + 0x106 = 0x8094 -> SF = OF = 1, ZF = 0.
    let mut s = plain(0);
    s.gpr[0] = 0x7F8E;
    let o = agree(&case_with_regions(code(|a| a.aaa()), s, 0));
    let snap = done(&o);
    assert_eq!(snap.state.gpr[0] & 0xFFFF, 0x8004);
    assert_eq!(arith(snap) & (fl::SF | fl::OF | fl::ZF), fl::SF | fl::OF);
}

/// A 32-bit PUSH of a segment register writes the zero-extended selector.
#[test]
fn push_sreg_zero_extends() {
    let c = code(|a| a.push(es));
    let o = agree(&case_with_regions(c, plain(0), 0xEE));
    let snap = done(&o);
    let slot = (STACK_LO + 0x1000 - 4 - STACK_LO) as usize;
    assert_eq!(&snap.memory[2][slot..slot + 4], &[0x2B, 0, 0, 0]);
}

/// CMPS reads ES:EDI before DS:ESI: when both fault, EDI's is reported.
#[test]
fn cmps_fault_order() {
    let c = code(|a| a.cmpsd());
    let mut s = plain(0);
    s.gpr[6] = 0x8AF8; // ESI, unmapped
    s.gpr[7] = 0xCC1C; // EDI, unmapped
    let o = agree(&case_with_regions(c, s, 0));
    assert_eq!(fault(&o).fault_addr, Some(0xCC1C));
}

/// POPA loads registers slot by slot: a fault on a later slot leaves the
/// earlier ones loaded (ESP unchanged).
#[test]
fn popa_partial_loads() {
    let c = code(|a| a.popad());
    let mut s = plain(0);
    s.gpr[ESP] = STACK_TOP - 12; // EDI, ESI, EBP slots mapped; the ESP slot is not
    let o = agree(&case_with_regions(c, s, 0x5A));
    let f = fault(&o);
    assert_eq!((f.vector, f.fault_addr), (14, Some(STACK_TOP)));
    let snap = o.snapshot().expect("snapshot");
    assert_eq!(snap.state.gpr[7], 0x5A5A_5A5A);
    assert_eq!(snap.state.gpr[6], 0x5A5A_5A5A);
    assert_eq!(snap.state.gpr[5], 0x5A5A_5A5A);
    assert_eq!(snap.state.gpr[ESP], STACK_TOP - 12);
}

/// A far CALL whose second push faults has written the first (CS).
#[test]
fn far_call_second_push_fault_leaves_cs_written() {
    let c = code(|a| {
        a.db(&[0x9A])?;
        a.dd(&[CODE_BASE + 7])?;
        a.dw(&[0x23])?;
        a.nop()
    });
    let mut s = plain(0);
    s.gpr[ESP] = STACK_LO + 4;
    let o = agree(&case_with_regions(c, s, 0xEE));
    assert_eq!(fault(&o).fault_addr, Some(STACK_LO - 4));
    assert_eq!(&o.snapshot().expect("snapshot").memory[2][0..4], &[0x23, 0, 0, 0]);
}
