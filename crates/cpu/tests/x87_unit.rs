//! Unit tests of the x87/MMX/FXSR machinery that the differential test
//! against the host cannot reach (it runs at CPL 3 in 32-bit protected
//! mode with CR0.NE set): #NM under CR0.EM/TS/MP, #MF and FERR# under
//! CR0.NE, the FNSTENV/FLDENV/FNSAVE/FRSTOR layouts in 16- and 32-bit,
//! real- and protected-mode forms, FXSAVE/FXRSTOR round trips, the
//! encodings that must stay #UD, and the split of waiting forms.

mod x87rig;

use cpu::fpu::{FpuState, Reg80};
use cpu::state::sreg;
use x86::cr::{cr0, cr4};
use x87rig::{BARE_CODE, BARE_DATA, Bare, End};

const NM: End = End::Fault(7);
const UD: End = End::Fault(6);
const GP: End = End::Fault(13);
const MF: End = End::Fault(16);

/// `op` followed by a 32-bit absolute address (mod 00, r/m 101).
fn m32(op: &[u8], reg: u8, addr: u32) -> Vec<u8> {
    let mut v = op.to_vec();
    v.push((reg << 3) | 5);
    v.extend_from_slice(&addr.to_le_bytes());
    v
}

/// `op` followed by a 16-bit absolute address (mod 00, r/m 110).
fn m16(op: &[u8], reg: u8, addr: u16) -> Vec<u8> {
    let mut v = op.to_vec();
    v.push((reg << 3) | 6);
    v.extend_from_slice(&addr.to_le_bytes());
    v
}

const FLD1: [u8; 2] = [0xD9, 0xE8];
const FLDZ: [u8; 2] = [0xD9, 0xEE];
const FDIVP: [u8; 2] = [0xDE, 0xF9];
const FWAIT: [u8; 1] = [0x9B];
const FNCLEX: [u8; 2] = [0xDB, 0xE2];
const FNINIT: [u8; 2] = [0xDB, 0xE3];
const PADDB: [u8; 3] = [0x0F, 0xFC, 0xC1];
const EMMS: [u8; 2] = [0x0F, 0x77];

/// Leave an unmasked zero-divide pending (FCW with ZE unmasked).
fn make_pending(b: &mut Bare) {
    b.s.fpu.fcw = 0x037B;
    b.load(&[FLD1, FLDZ, FDIVP].concat());
    assert_eq!(b.run(), End::Completed);
    assert!(b.s.fpu.error_pending(), "ZE pending, fsw {:#x}", b.s.fpu.fsw);
}

#[test]
fn device_not_available_rules() {
    let fxsave = m32(&[0x0F, 0xAE], 0, BARE_DATA);
    // EM: every ESC opcode #NM, WAIT runs, MMX #UD, FXSAVE #NM.
    for (code, want) in [
        (FLD1.to_vec(), NM),
        (FNINIT.to_vec(), NM),
        (FWAIT.to_vec(), End::Completed),
        (PADDB.to_vec(), UD),
        (EMMS.to_vec(), UD),
        (fxsave.clone(), NM),
    ] {
        let mut b = Bare::pm32(&code);
        b.s.cr0 |= cr0::EM;
        assert_eq!(b.run(), want, "EM: {code:x?}");
    }
    // TS (with MP): everything #NM, WAIT included.
    for code in [FLD1.to_vec(), FNINIT.to_vec(), FWAIT.to_vec(), PADDB.to_vec(), fxsave.clone()] {
        let mut b = Bare::pm32(&code);
        b.s.cr0 |= cr0::TS | cr0::MP;
        assert_eq!(b.run(), NM, "TS+MP: {code:x?}");
    }
    // TS without MP: WAIT runs, ESC still #NM.
    let mut b = Bare::pm32(&FWAIT);
    b.s.cr0 = (b.s.cr0 | cr0::TS) & !cr0::MP;
    assert_eq!(b.run(), End::Completed);
    let mut b = Bare::pm32(&FLD1);
    b.s.cr0 = (b.s.cr0 | cr0::TS) & !cr0::MP;
    assert_eq!(b.run(), NM);
    // EM and TS together on MMX: #UD wins.
    let mut b = Bare::pm32(&PADDB);
    b.s.cr0 |= cr0::TS | cr0::EM;
    assert_eq!(b.run(), UD);
}

#[test]
fn pending_exception_raises_mf_at_waiting_instructions_only() {
    let no_wait: Vec<Vec<u8>> = vec![
        vec![0xDF, 0xE0],                         // FNSTSW AX
        m32(&[0xD9], 7, BARE_DATA),               // FNSTCW
        m32(&[0xDD], 7, BARE_DATA),               // FNSTSW m16
        m32(&[0xD9], 6, BARE_DATA),               // FNSTENV
        m32(&[0x0F, 0xAE], 0, BARE_DATA + 0x100), // FXSAVE: never waits
        vec![0xDB, 0xE0],                         // FNENI (no-op)
    ];
    for code in &no_wait {
        let mut b = Bare::pm32(&[]);
        make_pending(&mut b);
        b.load(code);
        assert_eq!(b.run(), End::Completed, "{code:x?}");
    }
    let waiting: Vec<Vec<u8>> = vec![
        FLD1.to_vec(),
        FWAIT.to_vec(),
        vec![0xD9, 0xD0],           // FNOP
        vec![0xDD, 0xC1],           // FFREE
        vec![0xD9, 0xF7],           // FINCSTP
        m32(&[0xD9], 5, BARE_DATA), // FLDCW
        m32(&[0xD9], 4, BARE_DATA), // FLDENV
        m32(&[0xDD], 4, BARE_DATA), // FRSTOR
        PADDB.to_vec(),
        EMMS.to_vec(),
        vec![0x9B, 0xDB, 0xE3], // FINIT = WAIT + FNINIT: faults on the WAIT
    ];
    for code in &waiting {
        let mut b = Bare::pm32(&[]);
        make_pending(&mut b);
        let before = b.s.fpu.clone();
        b.load(code);
        assert_eq!(b.run(), MF, "{code:x?}");
        assert_eq!(b.s.eip, BARE_CODE, "#MF is a fault: EIP on the instruction");
        assert_eq!(b.s.fpu, before, "nothing changes: {code:x?}");
    }
    // FNCLEX and FNINIT clear the condition; FNSAVE reinitialises.
    for clear in [FNCLEX.to_vec(), FNINIT.to_vec(), m32(&[0xDD], 6, BARE_DATA)] {
        let mut b = Bare::pm32(&[]);
        make_pending(&mut b);
        b.load(&[clear.clone(), FLD1.to_vec()].concat());
        assert_eq!(b.run(), End::Completed, "{clear:x?}");
    }
    // Unmasking a set flag with FLDCW makes it pending.
    let mut b = Bare::pm32(&[]);
    b.poke(BARE_DATA, &0x037Bu16.to_le_bytes());
    b.load(&[FLD1.to_vec(), FLDZ.to_vec(), FDIVP.to_vec(), m32(&[0xD9], 5, BARE_DATA)].concat());
    assert_eq!(b.run(), End::Completed);
    assert!(b.s.fpu.error_pending());
    b.load(&FWAIT);
    assert_eq!(b.run(), MF);
}

#[test]
fn ferr_is_asserted_once_without_ne_and_cleared_by_fnclex_fninit() {
    let mut b = Bare::pm32(&[]);
    b.s.cr0 &= !cr0::NE;
    make_pending(&mut b);
    assert!(b.bus.ferr.borrow().is_empty(), "FERR# waits for the next waiting instruction");
    // The waiting instruction asserts FERR# and goes on.
    b.load(&[FLD1, FLD1].concat());
    assert_eq!(b.run(), End::Completed);
    assert_eq!(*b.bus.ferr.borrow(), vec![true]);
    // The zero divide left TOP at 6 (unmasked: no pop); both loads ran.
    assert_eq!(b.s.fpu.top(), 4, "both loads executed");
    // Non-waiting FNCLEX deasserts it.
    b.load(&FNCLEX);
    assert_eq!(b.run(), End::Completed);
    assert_eq!(*b.bus.ferr.borrow(), vec![true, false]);
    // Again, cleared by FNINIT this time; WAIT asserts too.
    make_pending(&mut b);
    b.load(&[FWAIT.to_vec(), FNINIT.to_vec()].concat());
    assert_eq!(b.run(), End::Completed);
    assert_eq!(*b.bus.ferr.borrow(), vec![true, false, true, false]);
    assert!(!b.s.fpu.ferr);
    // MMX instructions assert it as well.
    make_pending(&mut b);
    b.load(&PADDB);
    assert_eq!(b.run(), End::Completed);
    assert_eq!(b.bus.ferr.borrow().last(), Some(&true));
}

/// A recognisable FPU state: two values pushed, pointers set.
fn sample_state(f: &mut FpuState) {
    f.finit();
    f.fcw = 0x0B72;
    f.set_top(6);
    f.regs[6] = Reg80 {
        signif: 1 << 63,
        sign_exp: 0x3FFF,
    }; // 1.0, valid
    f.regs[7] = Reg80::default(); // +0, zero
    f.ftw = 0x0FFF; // R6 valid, R7 zero (recomputed anyway)
    f.fsw |= 0x4100 | 0x20; // C3, C0, PE
    f.fop = 0x5E9;
    f.fip = 0x1234_5678;
    f.fcs = 0x0023;
    f.fdp = 0x9ABC_DEF0;
    f.fds = 0x002B;
}

fn u16_at(v: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([v[o], v[o + 1]])
}

fn u32_at(v: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(v[o..o + 4].try_into().unwrap())
}

#[test]
fn fnstenv_layout_protected_32() {
    let mut b = Bare::pm32(&m32(&[0xD9], 6, BARE_DATA));
    sample_state(&mut b.s.fpu);
    let fsw = b.s.fpu.fsw;
    assert_eq!(b.run(), End::Completed);
    let e = b.bytes(BARE_DATA, 28);
    assert_eq!(u32_at(&e, 0), 0xFFFF_0B72);
    assert_eq!(u32_at(&e, 4), 0xFFFF_0000 | fsw as u32);
    // R7 zero (01), R6 valid (00), the rest empty.
    assert_eq!(u32_at(&e, 8), 0xFFFF_4FFF);
    assert_eq!(u32_at(&e, 12), 0x1234_5678);
    assert_eq!(u32_at(&e, 16), 0x0023 | (0x5E9 << 16));
    assert_eq!(u32_at(&e, 20), 0x9ABC_DEF0);
    assert_eq!(u32_at(&e, 24), 0xFFFF_002B);
    // Then every exception is masked.
    assert_eq!(b.s.fpu.fcw, 0x0B7F);
}

#[test]
fn fnstenv_layout_protected_16() {
    // o16 in 32-bit code, and native 16-bit code: the same 14 bytes.
    let mut a = Bare::pm32(&[vec![0x66], m32(&[0xD9], 6, BARE_DATA)].concat());
    let mut b = Bare::pm16(&m16(&[0xD9], 6, BARE_DATA as u16));
    for m in [&mut a, &mut b] {
        sample_state(&mut m.s.fpu);
        let fsw = m.s.fpu.fsw;
        assert_eq!(m.run(), End::Completed);
        let e = m.bytes(BARE_DATA, 16);
        assert_eq!(u16_at(&e, 0), 0x0B72);
        assert_eq!(u16_at(&e, 2), fsw);
        assert_eq!(u16_at(&e, 4), 0x4FFF);
        assert_eq!(u16_at(&e, 6), 0x5678);
        assert_eq!(u16_at(&e, 8), 0x0023);
        assert_eq!(u16_at(&e, 10), 0xDEF0);
        assert_eq!(u16_at(&e, 12), 0x002B);
        assert_eq!(u16_at(&e, 14), 0, "nothing past the 14 bytes");
    }
}

#[test]
fn fnstenv_layout_real_16_and_32() {
    // Real mode: linear FIP/FDP = selector * 16 + offset, FOP beside FIP.
    let set = |f: &mut FpuState| {
        sample_state(f);
        f.fcs = 0x1234;
        f.fip = 0x5678; // linear 0x179B8
        f.fds = 0x0F00;
        f.fdp = 0xF123; // linear 0x1E123
    };
    let mut b = Bare::real(&m16(&[0xD9], 6, BARE_DATA as u16));
    set(&mut b.s.fpu);
    assert_eq!(b.run(), End::Completed);
    let e = b.bytes(BARE_DATA, 14);
    assert_eq!(u16_at(&e, 0), 0x0B72);
    assert_eq!(u16_at(&e, 4), 0x4FFF);
    assert_eq!(u16_at(&e, 6), 0x79B8);
    assert_eq!(u16_at(&e, 8), 0x1000 | 0x5E9);
    assert_eq!(u16_at(&e, 10), 0xE123);
    assert_eq!(u16_at(&e, 12), 0x1000);

    let mut b = Bare::real(&[vec![0x66], m16(&[0xD9], 6, BARE_DATA as u16)].concat());
    set(&mut b.s.fpu);
    assert_eq!(b.run(), End::Completed);
    let e = b.bytes(BARE_DATA, 28);
    assert_eq!(u32_at(&e, 0), 0xFFFF_0B72);
    assert_eq!(u32_at(&e, 8), 0xFFFF_4FFF);
    assert_eq!(u32_at(&e, 12), 0xFFFF_79B8);
    assert_eq!(u32_at(&e, 16), (0x0001 << 12) | 0x5E9);
    assert_eq!(u32_at(&e, 20), 0xFFFF_E123);
    assert_eq!(u32_at(&e, 24), 0x0001 << 12);

    // FLDENV in real mode takes the linear pointers (selector 0).
    b.s.fpu.finit();
    b.load(&[vec![0x66], m16(&[0xD9], 4, BARE_DATA as u16)].concat());
    assert_eq!(b.run(), End::Completed);
    let f = &b.s.fpu;
    assert_eq!((f.fcs, f.fip, f.fds, f.fdp, f.fop), (0, 0x179B8, 0, 0x1E123, 0x5E9));
    assert_eq!(f.fcw, 0x0B72);
    assert_eq!(f.full_tag_word(), 0x4FFF);
}

#[test]
fn fldenv_round_trips_in_every_layout() {
    let cases: Vec<(Bare, Vec<u8>, Vec<u8>)> = vec![
        (Bare::pm32(&[]), m32(&[0xD9], 6, BARE_DATA), m32(&[0xD9], 4, BARE_DATA)),
        (
            Bare::pm32(&[]),
            [vec![0x66], m32(&[0xD9], 6, BARE_DATA)].concat(),
            [vec![0x66], m32(&[0xD9], 4, BARE_DATA)].concat(),
        ),
        (
            Bare::pm16(&[]),
            m16(&[0xD9], 6, BARE_DATA as u16),
            m16(&[0xD9], 4, BARE_DATA as u16),
        ),
        (
            Bare::real(&[]),
            m16(&[0xD9], 6, BARE_DATA as u16),
            m16(&[0xD9], 4, BARE_DATA as u16),
        ),
    ];
    for (k, (mut b, store, load)) in cases.into_iter().enumerate() {
        sample_state(&mut b.s.fpu);
        if k == 1 || k == 2 {
            // 16-bit offsets only
            b.s.fpu.fip &= 0xFFFF;
            b.s.fpu.fdp &= 0xFFFF;
        }
        if k == 3 {
            b.s.fpu.fcs = 0;
            b.s.fpu.fds = 0;
            b.s.fpu.fip = 0x5_4321;
            b.s.fpu.fdp = 0xA_BCDE;
        }
        let want = b.s.fpu.clone();
        b.load(&store);
        assert_eq!(b.run(), End::Completed);
        b.s.fpu.finit();
        b.s.fpu.regs = want.regs;
        b.load(&load);
        assert_eq!(b.run(), End::Completed);
        let f = &b.s.fpu;
        assert_eq!(f.fcw, want.fcw, "layout {k}");
        assert_eq!(f.fsw, want.fsw, "layout {k}");
        assert_eq!(f.full_tag_word(), want.full_tag_word(), "layout {k}");
        assert_eq!((f.fip, f.fcs, f.fdp, f.fds), (want.fip, want.fcs, want.fdp, want.fds), "layout {k}");
        // The 16-bit protected-mode layout has no FOP: it loads as 0.
        let fop = if k == 1 || k == 2 { 0 } else { want.fop };
        assert_eq!(f.fop, fop, "layout {k}");
    }
}

#[test]
fn fnsave_frstor_round_trip_and_reinitialise() {
    for o16 in [false, true] {
        let pre: Vec<u8> = if o16 { vec![0x66] } else { vec![] };
        let mut b = Bare::pm32(&[pre.clone(), m32(&[0xDD], 6, BARE_DATA)].concat());
        sample_state(&mut b.s.fpu);
        for p in 0..6 {
            b.s.fpu.regs[p] = Reg80 {
                signif: 0xC000_0000_0000_0000 | p as u64,
                sign_exp: 0x4000 + p as u16,
            };
        }
        let want = b.s.fpu.clone();
        assert_eq!(b.run(), End::Completed);
        let env = if o16 { 14 } else { 28 };
        let area = b.bytes(BARE_DATA, env + 80);
        // Registers in stack order: ST(0) = R6 first.
        for i in 0..8 {
            let r = want.regs[(6 + i) % 8];
            let o = env + 10 * i;
            assert_eq!(u64::from_le_bytes(area[o..o + 8].try_into().unwrap()), r.signif);
            assert_eq!(u16_at(&area, o + 8), r.sign_exp);
        }
        // FNSAVE leaves the FNINIT state.
        let f = &b.s.fpu;
        assert_eq!((f.fcw, f.fsw, f.ftw, f.fip, f.fop), (0x037F, 0, 0xFFFF, 0, 0));
        b.s.fpu.regs = [Reg80::default(); 8];
        b.load(&[pre.clone(), m32(&[0xDD], 4, BARE_DATA)].concat());
        assert_eq!(b.run(), End::Completed);
        let f = &b.s.fpu;
        assert_eq!(f.regs, want.regs);
        assert_eq!((f.fcw, f.fsw), (want.fcw, want.fsw));
        assert_eq!(f.full_tag_word(), want.full_tag_word());
    }
}

#[test]
fn frstor_recomputes_tags_and_error_summary() {
    // A tag word claiming "zero" for a register holding 1.0, and an FSW
    // with ES clear although ZE is unmasked and set.
    let mut b = Bare::pm32(&m32(&[0xDD], 4, BARE_DATA));
    let mut area = vec![0u8; 108];
    area[0..2].copy_from_slice(&0x037Bu16.to_le_bytes());
    area[4..6].copy_from_slice(&(0x0004u16 | (7 << 11)).to_le_bytes());
    area[8..10].copy_from_slice(&0x7FFFu16.to_le_bytes());
    area[28..36].copy_from_slice(&(1u64 << 63).to_le_bytes());
    area[36..38].copy_from_slice(&0x3FFFu16.to_le_bytes());
    b.poke(BARE_DATA, &area);
    assert_eq!(b.run(), End::Completed);
    assert_eq!(b.s.fpu.full_tag_word(), 0x3FFF, "valid, not zero");
    assert_eq!(b.s.fpu.fsw & 0x8080, 0x8080, "ES and B recomputed");
}

/// A state with every field of the FXSAVE image set.
fn fx_state(f: &mut FpuState) {
    sample_state(f);
    f.mxcsr = 0x1F80 | 0x3F;
    for (i, x) in f.xmm.iter_mut().enumerate() {
        *x = 0x0123_4567_89AB_CDEF_0F1E_2D3C_4B5A_6978u128.rotate_left(8 * i as u32);
    }
}

#[test]
fn fxsave_fxrstor_round_trip() {
    let mut b = Bare::pm32(&m32(&[0x0F, 0xAE], 0, BARE_DATA));
    fx_state(&mut b.s.fpu);
    b.poke(BARE_DATA, &[0xEE; 512]);
    let want = b.s.fpu.clone();
    assert_eq!(b.run(), End::Completed);
    let img = b.bytes(BARE_DATA, 512);
    assert_eq!(u16_at(&img, 0), 0x0B72);
    assert_eq!(img[4], 0xC0, "abridged tag: R6 and R7");
    assert_eq!(u16_at(&img, 6), 0x5E9);
    assert_eq!(u32_at(&img, 8), 0x1234_5678);
    assert_eq!(u32_at(&img, 24), 0x1FBF);
    assert_eq!(u32_at(&img, 28), cpu::fpu::MXCSR_MASK);
    assert_eq!(&img[160..176], &want.xmm[0].to_le_bytes());
    assert!(img[288..].iter().all(|&x| x == 0xEE), "bytes 288-511 untouched");
    // Restore into a cleared state.
    b.s.fpu = FpuState::reset();
    b.load(&m32(&[0x0F, 0xAE], 1, BARE_DATA));
    assert_eq!(b.run(), End::Completed);
    let f = &b.s.fpu;
    assert_eq!(f.regs, want.regs);
    assert_eq!(
        (f.fcw, f.fsw, f.fop, f.fip, f.fdp),
        (want.fcw, want.fsw, want.fop, want.fip, want.fdp)
    );
    assert_eq!((f.fcs, f.fds), (want.fcs, want.fds));
    assert_eq!(f.full_tag_word(), want.full_tag_word());
    assert_eq!((f.mxcsr, f.xmm), (want.mxcsr, want.xmm));
}

#[test]
fn fxsave_without_osfxsr_leaves_sse_state_alone() {
    let mut b = Bare::pm32(&m32(&[0x0F, 0xAE], 0, BARE_DATA));
    b.s.cr4 &= !cr4::OSFXSR;
    fx_state(&mut b.s.fpu);
    b.poke(BARE_DATA, &[0xEE; 512]);
    assert_eq!(b.run(), End::Completed);
    let img = b.bytes(BARE_DATA, 512);
    assert!(img[24..32].iter().all(|&x| x == 0xEE), "MXCSR not saved");
    assert!(img[160..288].iter().all(|&x| x == 0xEE), "XMM not saved");
    assert_eq!(u16_at(&img, 0), 0x0B72);
    // FXRSTOR neither loads nor checks MXCSR (0xEEEEEEEE is reserved).
    let sse = (b.s.fpu.mxcsr, b.s.fpu.xmm);
    b.load(&m32(&[0x0F, 0xAE], 1, BARE_DATA));
    assert_eq!(b.run(), End::Completed);
    assert_eq!((b.s.fpu.mxcsr, b.s.fpu.xmm), sse);
}

#[test]
fn fxrstor_faults() {
    // Reserved MXCSR bits: #GP(0), nothing loaded.
    let mut b = Bare::pm32(&m32(&[0x0F, 0xAE], 1, BARE_DATA));
    let mut img = vec![0u8; 512];
    img[24..28].copy_from_slice(&0x0001_1F80u32.to_le_bytes());
    b.poke(BARE_DATA, &img);
    let before = b.s.fpu.clone();
    assert_eq!(b.run(), GP);
    assert_eq!(b.s.fpu, before);
    // Misaligned: #GP(0) (alignment checking is off at CPL 0).
    for op in [0u8, 1] {
        let mut b = Bare::pm32(&m32(&[0x0F, 0xAE], op, BARE_DATA + 8));
        assert_eq!(b.run(), GP);
    }
}

#[test]
fn mmx_aliases_the_x87_registers() {
    // MOVD mm3, eax; EMMS with a check in between.
    let mut b = Bare::pm32(&[0x0F, 0x6E, 0xD8]);
    b.s.gpr[0] = 0xDEAD_BEEF;
    b.s.fpu.set_top(5);
    assert_eq!(b.run(), End::Completed);
    let f = &b.s.fpu;
    assert_eq!(
        f.regs[3],
        Reg80 {
            signif: 0xDEAD_BEEF,
            sign_exp: 0xFFFF
        }
    );
    assert_eq!(f.top(), 0);
    assert_eq!(f.abridged_tag(), 0xFF, "all tags valid");
    // R3 has exponent 0x7FFF: special; the rest hold zeros (FNINIT keeps
    // contents, reset cleared them).
    assert_eq!(f.full_tag_word(), 0x5595);
    b.load(&EMMS);
    assert_eq!(b.run(), End::Completed);
    assert_eq!(b.s.fpu.ftw, 0xFFFF);
    // MOVQ to memory: TOP = 0 and tags valid even though only memory is
    // written.
    b.s.fpu.set_top(3);
    b.load(&m32(&[0x0F, 0x7F], 3, BARE_DATA));
    assert_eq!(b.run(), End::Completed);
    assert_eq!(b.bytes(BARE_DATA, 8), 0xDEAD_BEEFu64.to_le_bytes());
    assert_eq!((b.s.fpu.top(), b.s.fpu.abridged_tag()), (0, 0xFF));
}

#[test]
fn instructions_this_cpu_does_not_have_are_ud() {
    let codes: Vec<Vec<u8>> = vec![
        m32(&[0xDB], 1, BARE_DATA),   // FISTTP m32 (SSE3)
        m32(&[0xDD], 1, BARE_DATA),   // FISTTP m64
        m32(&[0xDF], 1, BARE_DATA),   // FISTTP m16
        vec![0x0F, 0xD4, 0xC1],       // PADDQ mm (SSE2)
        vec![0x0F, 0xF4, 0xC1],       // PMULUDQ mm (SSE2)
        vec![0x0F, 0x70, 0xC1, 0x1B], // PSHUFW (SSE)
        vec![0x0F, 0xE0, 0xC1],       // PAVGB mm (SSE)
        vec![0x66, 0x0F, 0xFC, 0xC1], // PADDB xmm (SSE2)
        vec![0x0F, 0x58, 0xC1],       // ADDPS (SSE)
        vec![0xDB, 0xE5],             // FRSTPM (287XL)
        vec![0xDF, 0xE1],             // FNSTDW (387SL)
        vec![0xD9, 0xD1],             // reserved
    ];
    for code in codes {
        let mut b = Bare::pm32(&code);
        assert_eq!(b.run(), UD, "{code:x?}");
    }
}

#[test]
fn waiting_forms_are_a_wait_then_the_instruction() {
    // FSTCW gs:[0] with an unusable GS: the WAIT completes, the store
    // faults with EIP on the ESC opcode after the 9B.
    let mut b = Bare::pm32(&[vec![0x9B, 0x65], m32(&[0xD9], 7, 0)].concat());
    b.s.seg[sreg::GS] = cpu::segment::Segment::null(0);
    assert_eq!(b.run(), GP);
    assert_eq!(b.s.eip, BARE_CODE + 1);
}

#[test]
fn cpuid_advertises_the_p6_floating_point_features_only() {
    let (_, _, _, edx) = cpu::cpuid::cpuid(1, 0);
    for bit in [0, 15, 23, 24] {
        assert_ne!(edx & (1 << bit), 0, "bit {bit}");
    }
    for bit in [25, 26] {
        assert_eq!(edx & (1 << bit), 0, "SSE/SSE2 bit {bit}");
    }
}
