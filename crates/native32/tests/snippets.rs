//! Known snippets run natively; each checks the final state or the exception.

use std::time::{Duration, Instant};

use native32::flags::*;
use native32::fx::{f64_to_f80, f80_to_f64};
use native32::*;

/// A case with a 4 KiB stack ending at `STACK_TOP` and ESP there.
fn case(code: &[u8]) -> Case {
    let mut c = Case::new(code).with_region(Region::stack(0x1000));
    c.state.gpr[ESP] = STACK_TOP;
    c
}

fn run1(c: &Case) -> Outcome {
    Runner::new().run(c).expect("runs")
}

fn completed(o: &Outcome) -> &Snapshot {
    match o {
        Outcome::Completed(s) => s,
        other => panic!("expected completion, got {other:#?}"),
    }
}

fn fault(o: &Outcome) -> (&Fault, &Snapshot) {
    match o {
        Outcome::Exception { fault, snapshot } => (fault, snapshot),
        other => panic!("expected an exception, got {other:#?}"),
    }
}

fn fault_of(o: Outcome) -> (Fault, Snapshot) {
    match o {
        Outcome::Exception { fault, snapshot } => (fault, snapshot),
        other => panic!("expected an exception, got {other:#?}"),
    }
}

#[test]
fn add_with_carry_out() {
    // add eax, ebx ; adc ecx, 0
    let mut c = case(&[0x01, 0xD8, 0x83, 0xD1, 0x00]);
    c.state.gpr[EAX] = 0xFFFF_FFFF;
    c.state.gpr[EBX] = 1;
    c.state.gpr[ECX] = 41;
    let o = run1(&c);
    let s = completed(&o);
    assert_eq!(s.state.gpr[EAX], 0);
    assert_eq!(s.state.gpr[ECX], 42);
    assert_eq!(s.state.eip, code_end(5));
    // adc ecx,0 with CF=1: 41+0+1 = 42: no carry, PF (0x2a has 3 bits: odd -> 0)
    assert_eq!(s.state.eflags & ARITH, 0);
    assert_eq!(s.state.eflags & (IF | FIXED), IF | FIXED);
    assert_eq!(
        s.sregs,
        Sregs {
            es: 0x2b,
            cs: 0x23,
            ss: 0x2b,
            ds: 0x2b,
            fs: 0,
            gs: 0
        }
    );
    // just the add: CF ZF PF AF set
    let mut c2 = c.clone();
    c2.code.truncate(2);
    let o = run1(&c2);
    let s = completed(&o);
    assert_eq!(s.state.eflags & ARITH, CF | ZF | PF | AF);
}

#[test]
fn div_by_zero_is_vector_0() {
    // xor ecx, ecx ; div ecx
    let mut c = case(&[0x31, 0xC9, 0xF7, 0xF1]);
    c.state.gpr[EAX] = 7;
    let o = run1(&c);
    let (f, s) = fault(&o);
    assert_eq!(f.vector, 0);
    assert_eq!(f.signal, libc::SIGFPE);
    assert_eq!(f.code_offset(), Some(2));
    assert_eq!(s.state.eip, CODE_BASE + 2);
    assert_eq!(s.state.gpr[EAX], 7);
    assert_eq!(s.state.gpr[ECX], 0);
}

#[test]
fn ud2_is_vector_6() {
    let o = run1(&case(&[0x90, 0x0F, 0x0B]));
    let (f, _) = fault(&o);
    assert_eq!(f.vector, 6);
    assert_eq!(f.signal, libc::SIGILL);
    assert_eq!(f.code_offset(), Some(1));
}

#[test]
fn load_from_unmapped_page_is_pf() {
    // mov eax, [0x50000010]
    let o = run1(&case(&[0xA1, 0x10, 0x00, 0x00, 0x50]));
    let (f, _) = fault(&o);
    assert_eq!(f.vector, 14);
    assert_eq!(f.error_code & 0x1F, 0x4, "user read, not present");
    assert_eq!(f.fault_addr, Some(0x5000_0010));
    assert_eq!(f.si_addr, 0x5000_0010);
    assert_eq!(f.code_offset(), Some(0));
}

#[test]
fn int3_is_vector_3_after_the_instruction() {
    let o = run1(&case(&[0x90, 0xCC, 0x90]));
    let (f, s) = fault(&o);
    assert_eq!(f.vector, 3);
    assert_eq!(f.signal, libc::SIGTRAP);
    assert_eq!(s.state.eip, CODE_BASE + 2);
}

#[test]
fn into_with_of_is_vector_4() {
    // mov al, 0x7f ; add al, 1 ; into
    let o = run1(&case(&[0xB0, 0x7F, 0x04, 0x01, 0xCE]));
    let (f, s) = fault(&o);
    assert_eq!(f.vector, 4);
    assert_eq!(s.state.eip, CODE_BASE + 5, "trap: EIP after INTO");
    assert_ne!(s.state.eflags & OF, 0);
    // without OF, INTO does nothing
    let o = run1(&case(&[0xB0, 0x10, 0x04, 0x01, 0xCE]));
    completed(&o);
}

#[test]
fn bound_out_of_range_is_vector_5() {
    // bound eax, [DATA_BASE]
    let mut c = case(&[0x62, 0x05, 0x00, 0x00, 0x00, 0x20]);
    let mut data = vec![0u8; 0x1000];
    data[4..8].copy_from_slice(&10u32.to_le_bytes());
    c.regions.push(Region::new(DATA_BASE, data, Perm::R));
    c.state.gpr[EAX] = 20;
    let (f, _) = fault_of(run1(&c));
    assert_eq!(f.vector, 5);
    assert_eq!(f.code_offset(), Some(0));
    c.state.gpr[EAX] = 10;
    completed(&run1(&c));
}

#[test]
fn store_to_read_only_page_is_pf_with_w_bit() {
    // mov dword [DATA_BASE+8], 1
    let mut c = case(&[0xC7, 0x05, 0x08, 0x00, 0x00, 0x20, 0x01, 0x00, 0x00, 0x00]);
    c.regions.push(Region::new(DATA_BASE, vec![0xAB; 0x1000], Perm::R));
    let o = run1(&c);
    let (f, s) = fault(&o);
    assert_eq!(f.vector, 14);
    assert_eq!(f.error_code & 0x1F, 0x7, "present, write, user");
    assert_eq!(f.fault_addr, Some(DATA_BASE + 8));
    assert_eq!(f.si_code, 2, "SEGV_ACCERR");
    assert_eq!(s.memory[1], vec![0xAB; 0x1000], "memory unchanged");
}

#[test]
fn execute_in_nx_region_is_pf_with_id_bit() {
    // mov eax, DATA_BASE ; jmp eax
    let mut c = case(&[0xB8, 0x00, 0x00, 0x00, 0x20, 0xFF, 0xE0]);
    c.regions.push(Region::zeroed(DATA_BASE, 0x1000));
    let (f, s) = fault_of(run1(&c));
    assert_eq!(f.vector, 14);
    assert_eq!(f.error_code & 0x1F, 0x15, "present, user, instruction fetch");
    assert_eq!(f.fault_addr, Some(DATA_BASE));
    assert_eq!(s.state.eip, DATA_BASE);
    // ... and runs fine there when the region is executable (ret back).
    c.regions[1] = Region::new(DATA_BASE, vec![0xB9, 5, 0, 0, 0, 0xC3], Perm::RX);
    // call eax instead of jmp
    c.code = vec![0xB8, 0x00, 0x00, 0x00, 0x20, 0xFF, 0xD0];
    let o = run1(&c);
    let s = completed(&o);
    assert_eq!(s.state.gpr[ECX], 5);
    assert_eq!(s.state.gpr[ESP], STACK_TOP);
    let ret = u32::from_le_bytes(s.memory[0][0xFFC..].try_into().unwrap());
    assert_eq!(ret, CODE_BASE + 7, "return address left on the stack");
}

#[test]
fn memory_writes_are_returned() {
    // mov [DATA_BASE+4], eax ; push ebx
    let mut c = case(&[0xA3, 0x04, 0x00, 0x00, 0x20, 0x53]);
    c.regions.push(Region::zeroed(DATA_BASE, 0x2000));
    c.state.gpr[EAX] = 0x1122_3344;
    c.state.gpr[EBX] = 0xCAFE_F00D;
    let o = run1(&c);
    let s = completed(&o);
    assert_eq!(&s.memory[1][4..8], &0x1122_3344u32.to_le_bytes());
    assert_eq!(&s.memory[0][0xFFC..], &0xCAFE_F00Du32.to_le_bytes());
    assert_eq!(s.memory[1].len(), 0x2000);
    assert_eq!(s.state.gpr[ESP], STACK_TOP - 4);
}

#[test]
fn pushf_popf_round_trip() {
    // pushfd ; pop eax ; push ecx ; popfd ; pushfd ; pop edx
    let mut c = case(&[0x9C, 0x58, 0x51, 0x9D, 0x9C, 0x5A]);
    let initial = FIXED | IF | CF | PF | ZF | DF | OF | AC | ID;
    c.state.eflags = initial;
    c.state.gpr[ECX] = FIXED | SF | AF;
    let o = run1(&c);
    let s = completed(&o);
    assert_eq!(s.state.gpr[EAX], initial, "initial flags really loaded");
    assert_eq!(s.state.gpr[EDX], FIXED | IF | SF | AF, "IF kept at CPL 3");
    assert_eq!(s.state.eflags, FIXED | IF | SF | AF, "final flags captured");
}

#[test]
fn direction_flag_is_loaded() {
    // mov edi, DATA_BASE+8 ; mov eax, 0x11111111 ; stosd ; stosd
    let mut c = case(&[0xBF, 0x08, 0x00, 0x00, 0x20, 0xB8, 0x11, 0x11, 0x11, 0x11, 0xAB, 0xAB]);
    c.regions.push(Region::zeroed(DATA_BASE, 0x1000));
    c.state.eflags |= DF;
    let o = run1(&c);
    let s = completed(&o);
    assert_eq!(s.state.gpr[EDI], DATA_BASE);
    assert_eq!(&s.memory[1][4..12], &[0x11; 8]);
    assert_ne!(s.state.eflags & DF, 0);
}

#[test]
fn trap_flag_steps_one_instruction() {
    // inc eax ; inc eax
    let mut c = case(&[0x40, 0x40]);
    c.state.eflags |= TF;
    let o = run1(&c);
    let (f, s) = fault(&o);
    assert_eq!(f.vector, 1);
    assert_eq!(f.signal, libc::SIGTRAP);
    assert_eq!(s.state.eip, CODE_BASE + 1, "trap after the first instruction");
    assert_eq!(s.state.gpr[EAX], 1);
    assert_ne!(s.state.eflags & TF, 0);
}

#[test]
fn trap_flag_set_by_last_instruction_completes() {
    // pushfd ; or dword [esp], 0x100 ; popfd
    let c = case(&[0x9C, 0x81, 0x0C, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9D]);
    let o = run1(&c);
    let s = completed(&o);
    assert_eq!(s.state.eip, code_end(9));
    assert_ne!(s.state.eflags & TF, 0);
    // one more instruction after it: that one traps
    let mut c2 = c.clone();
    c2.code.extend_from_slice(&[0x90, 0x90]);
    let (f, s) = fault_of(run1(&c2));
    assert_eq!(f.vector, 1);
    assert_eq!(s.state.eip, CODE_BASE + 10);
}

#[test]
fn alignment_check_is_vector_17() {
    // mov eax, [esp+1]
    let mut c = case(&[0x8B, 0x44, 0x24, 0x01]);
    c.state.gpr[ESP] = STACK_TOP - 16;
    c.state.eflags |= AC;
    let (f, _) = fault_of(run1(&c));
    assert_eq!(f.vector, 17);
    assert_eq!(f.signal, libc::SIGBUS);
    // without AC it just loads
    c.state.eflags &= !AC;
    completed(&run1(&c));
}

#[test]
fn int_n_is_gp_and_int80_is_a_blocked_syscall() {
    // int 0x21
    let (f, s) = fault_of(run1(&case(&[0xCD, 0x21])));
    assert_eq!(f.vector, 13);
    assert_eq!(f.error_code, 0x21 * 8 + 2);
    assert_eq!(s.state.eip, CODE_BASE);
    // mov eax, 20 (getpid) ; int 0x80
    let (f, s) = fault_of(run1(&case(&[0xB8, 20, 0, 0, 0, 0xCD, 0x80])));
    assert_eq!(f.signal, libc::SIGSYS, "{f:?}");
    assert_eq!(f.vector, 0x80);
    assert_eq!(f.syscall, Some(20));
    assert_eq!(s.state.gpr[EAX], 20);
    assert_eq!(s.state.eip, CODE_BASE + 7);
    // hlt, cli, in: #GP(0)
    for code in [&[0xF4][..], &[0xFA], &[0xE4, 0x60]] {
        let (f, _) = fault_of(run1(&case(code)));
        assert_eq!((f.vector, f.error_code), (13, 0), "{code:x?}");
    }
}

#[test]
fn x87_fld1_fadd() {
    // fld1 ; fld1 ; faddp st1, st0
    let o = run1(&case(&[0xD9, 0xE8, 0xD9, 0xE8, 0xDE, 0xC1]));
    let s = completed(&o);
    let fx = s.state.fpu.as_ref().unwrap();
    assert_eq!(fx.top(), 7);
    assert!(fx.st_valid(0));
    assert!(!fx.st_valid(1));
    assert_eq!(f80_to_f64(fx.st(0)), 2.0);
    assert_eq!(fx.st(0), f64_to_f80(2.0));
    assert_eq!(fx.fcw(), 0x037F);
    assert_eq!(fx.ftw_full(), 0x3FFF);
}

#[test]
fn x87_initial_state_is_loaded() {
    // fld1 ; faddp st1, st0  (ST1 = the preloaded 1.5)
    let mut c = case(&[0xD9, 0xE8, 0xDE, 0xC1]);
    let mut fx = FxArea::default();
    fx.push_f64(1.5);
    fx.set_fcw(0x0C7F); // round toward zero, 64-bit precision
    c.state.fpu = Some(Box::new(fx));
    let o = run1(&c);
    let fx = completed(&o).state.fpu.clone().unwrap();
    assert_eq!(f80_to_f64(fx.st(0)), 2.5);
    assert_eq!(fx.fcw(), 0x0C7F);
    assert_eq!(fx.top(), 7);
}

#[test]
fn x87_unmasked_exception_is_mf_at_next_wait() {
    // fld1 ; fldz ; fdivp st1, st0 ; fwait
    let mut c = case(&[0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xF9, 0x9B]);
    let mut fx = FxArea::default();
    fx.set_fcw(0x037B); // unmask ZE
    c.state.fpu = Some(Box::new(fx));
    let o = run1(&c);
    let (f, s) = fault(&o);
    assert_eq!(f.vector, 16);
    assert_eq!(f.signal, libc::SIGFPE);
    assert_eq!(f.code_offset(), Some(6));
    let fx = s.state.fpu.as_ref().unwrap();
    assert_eq!(fx.fsw() & 0x84, 0x84, "ZE and ES pending");
}

#[test]
fn sse_state_round_trip() {
    // movd xmm0, eax ; paddd xmm0, xmm1 ; movd ecx, xmm0
    let mut c = case(&[0x66, 0x0F, 0x6E, 0xC0, 0x66, 0x0F, 0xFE, 0xC1, 0x66, 0x0F, 0x7E, 0xC1]);
    let mut fx = FxArea::default();
    fx.set_xmm(1, 5u128.to_le_bytes());
    c.state.fpu = Some(Box::new(fx));
    c.state.gpr[EAX] = 37;
    let o = run1(&c);
    let s = completed(&o);
    assert_eq!(s.state.gpr[ECX], 42);
    assert_eq!(s.state.fpu.as_ref().unwrap().xmm(0), 42u128.to_le_bytes());
    // an MXCSR the CPU rejects is refused before running
    let mut bad = FxArea::default();
    bad.set_mxcsr(0xFFFF_0000 | 0x1F80);
    c.state.fpu = Some(Box::new(bad));
    assert!(matches!(Runner::new().run(&c), Err(Error::Invalid { .. })));
}

#[test]
fn segment_changes_are_undone() {
    // mov ax, 0x2b ; mov fs, ax ; mov gs, ax ; mov eax, fs:[DATA_BASE] ;
    // xor ecx, ecx ; mov ds, cx ; mov es, cx
    let code = [
        0x66, 0xB8, 0x2B, 0x00, 0x8E, 0xE0, 0x8E, 0xE8, 0x64, 0xA1, 0x00, 0x00, 0x00, 0x20, 0x31, 0xC9, 0x8E, 0xD9, 0x8E, 0xC1,
    ];
    let mut data = vec![0u8; 0x1000];
    data[..4].copy_from_slice(&0x600D_F00Du32.to_le_bytes());
    let base = case(&code).with_region(Region::new(DATA_BASE, data, Perm::RW));
    // xor eax, eax ; mov fs, ax ; mov gs, ax (null selectors loaded by guest)
    let nulls = case(&[0x31, 0xC0, 0x8E, 0xE0, 0x8E, 0xE8]);
    // fs-relative load with flat FS/GS requested
    let mut flat = case(&[0x64, 0xA1, 0x00, 0x00, 0x00, 0x20]).with_region(base.regions[1].clone());
    flat.flat_fs_gs = true;
    let plain = case(&[0x40]);
    let batch = vec![base, plain.clone(), nulls, plain.clone(), flat, plain];
    for runner in [
        Runner::new(),
        Runner {
            force_no_fsgsbase: true,
            ..Runner::new()
        },
    ] {
        let out = runner.run_batch(&batch).unwrap();
        // every case completed in the same child (a broken FS base would
        // have killed it: the child checks a thread-local after each case)
        for (i, o) in out.iter().enumerate() {
            assert!(matches!(o, Outcome::Completed(_)), "case {i}, {runner:?}: {o:?}");
        }
        let s = completed(&out[0]);
        assert_eq!(s.state.gpr[EAX], 0x600D_F00D);
        assert_eq!((s.sregs.ds, s.sregs.es, s.sregs.fs, s.sregs.gs), (0, 0, 0x2b, 0x2b));
        let s = completed(&out[1]);
        assert_eq!((s.sregs.ds, s.sregs.es, s.sregs.fs, s.sregs.gs), (0x2b, 0x2b, 0, 0));
        let s = completed(&out[4]);
        assert_eq!(s.state.gpr[EAX], 0x600D_F00D);
        assert_eq!((s.sregs.fs, s.sregs.gs), (0x2b, 0x2b));
    }
}

#[test]
fn hung_loop_times_out_and_the_batch_goes_on() {
    let runner = Runner::new().with_timeout(Duration::from_millis(300));
    // jmp $
    let hang = case(&[0xEB, 0xFE]);
    let ok = case(&[0x40]);
    let t = Instant::now();
    let out = runner.run_batch(&[ok.clone(), hang, ok]).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(matches!(out[0], Outcome::Completed(_)));
    assert_eq!(out[1], Outcome::Timeout);
    assert_eq!(completed(&out[2]).state.gpr[EAX], 1);
}

#[test]
fn a_child_that_dies_is_reported_and_replaced() {
    // jmp far 0x33:CODE_BASE+7 ; (64-bit) mov eax, 60 ; mov edi, 7 ; syscall
    let mut code = vec![0xEA];
    code.extend_from_slice(&(CODE_BASE + 7).to_le_bytes());
    code.extend_from_slice(&[0x33, 0x00]);
    code.extend_from_slice(&[0xB8, 60, 0, 0, 0, 0xBF, 7, 0, 0, 0, 0x0F, 0x05]);
    let out = run_batch(&[case(&code), case(&[0x40])]).unwrap();
    match &out[0] {
        Outcome::Crashed { reason } => assert!(reason.contains("status 7"), "{reason}"),
        other => panic!("{other:?}"),
    }
    completed(&out[1]);
}

#[test]
fn invalid_layouts_are_rejected() {
    let mut c = case(&[0x90]);
    c.regions.push(Region::zeroed(STACK_TOP - 0x800, 0x1000));
    assert!(matches!(run_batch(&[c]), Err(Error::Invalid { case: 0, .. })));
    let c = case(&[0x90]).with_region(Region::zeroed(CODE_BASE + 0x1000, 0x1000));
    assert!(matches!(run_batch(&[c]), Err(Error::Invalid { .. })));
    let c = case(&[0x90]).with_region(Region::zeroed(DATA_BASE + 1, 0x1000));
    assert!(matches!(run_batch(&[c]), Err(Error::Invalid { .. })));
    let c = case(&[0x90]).with_region(Region::zeroed(0xFFFF_F000, 0x2000));
    assert!(matches!(run_batch(&[c]), Err(Error::Invalid { .. })));
}

#[test]
fn code_image_matches_layout() {
    let img = code_image(&[0x90, 0x90]);
    assert_eq!(img.len(), PAGE as usize);
    assert_eq!(&img[2..9], &[0xEA, 0x00, 0x00, 0xFF, 0x0F, 0x33, 0x00]);
    assert!(img[9..].iter().all(|&b| b == CODE_FILL));
    // running off into the filler would be #GP(0) on HLT; a jump past the
    // sentinel shows it: jmp +7 (over the sentinel)
    let (f, _) = fault_of(run1(&case(&[0xEB, 0x07])));
    assert_eq!((f.vector, f.code_offset()), (13, Some(9)));
}

#[test]
fn flags_and_faults_in_one_child() {
    // Cases that leave unusual flags or segment state behind, followed by
    // plain ones: the child must survive each (its exit path restores DF,
    // AC, NT, FS/GS) and every result must be right.
    let plain = case(&[0x40]);
    let mut nt_ac_id = case(&[0x90]);
    nt_ac_id.state.eflags |= NT | AC | ID | DF;
    let mut ud_with_ac = case(&[0x0F, 0x0B]);
    ud_with_ac.state.eflags |= AC | DF;
    // mov ax, 0x2b ; mov fs, ax ; ud2   (fault with the guest's FS loaded)
    let fs_then_fault = case(&[0x66, 0xB8, 0x2B, 0x00, 0x8E, 0xE0, 0x0F, 0x0B]);
    // mov ax, 0x2b ; mov gs, ax ; mov eax, 20 ; int 0x80
    let gs_then_sys = case(&[0x66, 0xB8, 0x2B, 0x00, 0x8E, 0xE8, 0xB8, 20, 0, 0, 0, 0xCD, 0x80]);
    // mov eax, fs:[0] with the host's null FS: #GP(0)
    let null_fs = case(&[0x64, 0xA1, 0, 0, 0, 0]);
    let batch = vec![
        nt_ac_id,
        plain.clone(),
        ud_with_ac,
        plain.clone(),
        fs_then_fault,
        plain.clone(),
        gs_then_sys,
        plain.clone(),
        null_fs,
        plain,
    ];
    let out = run_batch(&batch).unwrap();
    let s = completed(&out[0]);
    assert_eq!(s.state.eflags, FIXED | IF | NT | AC | ID | DF);
    let (f, s) = fault_of(out[2].clone());
    assert_eq!(f.vector, 6);
    assert_eq!(s.state.eflags & (AC | DF | RF), AC | DF | RF, "RF=1 pushed for faults");
    let (f, s) = fault_of(out[4].clone());
    assert_eq!(f.vector, 6);
    assert_eq!(s.sregs.fs, 0x2b);
    let (f, s) = fault_of(out[6].clone());
    assert_eq!((f.vector, f.syscall), (0x80, Some(20)));
    assert_eq!(s.sregs.gs, 0x2b);
    let (f, _) = fault_of(out[8].clone());
    assert_eq!((f.vector, f.error_code), (13, 0));
    for i in [1, 3, 5, 7, 9] {
        let s = completed(&out[i]);
        assert_eq!(s.state.gpr[EAX], 1, "case {i}");
        assert_eq!(s.state.eflags, FIXED | IF, "case {i}");
        assert_eq!((s.sregs.fs, s.sregs.gs, s.sregs.ds), (0, 0, 0x2b), "case {i}");
    }
}

#[test]
fn reused_mappings_start_fresh() {
    // Consecutive cases with the same layout reuse the child's mappings;
    // each must still see its own initial memory and protections.
    // mov eax, [DATA_BASE] ; mov dword [DATA_BASE], 0x55 ; (RW)
    let rw_code = [
        0xA1, 0x00, 0x00, 0x00, 0x20, 0xC7, 0x05, 0x00, 0x00, 0x00, 0x20, 0x55, 0x00, 0x00, 0x00,
    ];
    let rw = |init: u8| case(&rw_code).with_region(Region::new(DATA_BASE, vec![init; 0x1000], Perm::RW));
    let ro = case(&rw_code).with_region(Region::new(DATA_BASE, vec![7; 0x1000], Perm::R));
    // same addresses, a different code length and a bigger region
    let big = case(&[0x90; 5000]).with_region(Region::zeroed(DATA_BASE, 0x3000));
    let batch = vec![rw(1), rw(2), ro.clone(), ro, rw(3), big, rw(4)];
    let out = run_batch(&batch).unwrap();
    for (i, init) in [(0, 1u8), (1, 2), (4, 3), (6, 4)] {
        let s = completed(&out[i]);
        assert_eq!(s.state.gpr[EAX], u32::from_le_bytes([init; 4]), "case {i}");
        assert_eq!(&s.memory[1][..4], &[0x55, 0, 0, 0], "case {i}");
        assert!(s.memory[1][4..].iter().all(|&b| b == init), "case {i}");
    }
    for i in [2, 3] {
        let (f, s) = fault_of(out[i].clone());
        assert_eq!((f.vector, f.error_code & 0x1F), (14, 7), "case {i}");
        assert_eq!(s.state.gpr[EAX], 0x0707_0707, "case {i}");
        assert!(s.memory[1].iter().all(|&b| b == 7), "case {i}");
    }
    let s = completed(&out[5]);
    assert_eq!(s.state.eip, code_end(5000));
    assert_eq!(s.memory[1].len(), 0x3000);
}

#[test]
fn escaped_64bit_code_cannot_make_other_system_calls() {
    // jmp far 0x33:CODE_BASE+7 ; (64-bit) mov eax, 110 (getppid) ; syscall
    let mut code = vec![0xEA];
    code.extend_from_slice(&(CODE_BASE + 7).to_le_bytes());
    code.extend_from_slice(&[0x33, 0x00]);
    code.extend_from_slice(&[0xB8, 110, 0, 0, 0, 0x0F, 0x05]);
    let (f, s) = fault_of(run1(&case(&code)));
    assert_eq!(f.signal, libc::SIGSYS);
    assert_eq!((f.vector, f.syscall), (0xFF, Some(110)));
    assert_eq!(s.sregs.cs, 0x33);
    assert_eq!(s.state.eip, CODE_BASE + 14);
}
