//! Every divergence lockstep found, kept as a test: the guest that showed
//! it (a small hand-written one that isolates the bug, and the generated
//! one where it was found), run in lockstep with blocks translated at once.

use lockstep::programs::{self, SEL_SMALL_DATA};
use lockstep::{Lockstep, Totals};

type Guest = (cpu::CpuState, memory::GuestMemory);

/// Run `make()` twice in lockstep; panic with the report on a divergence.
fn lockstep(make: impl Fn() -> Guest, max: u64) -> Totals {
    let mut ls = Lockstep::new(1).expect("engines");
    let (mut sa, mut ma) = make();
    let (mut sb, mut mb) = make();
    match ls.run((&mut sa, &mut ma), (&mut sb, &mut mb), max) {
        Ok(t) => t,
        Err(d) => panic!("{d}"),
    }
}

/// The code followed by a HLT, so each guest ends where it should.
fn with_hlt(code: &[u8]) -> Vec<u8> {
    let mut v = code.to_vec();
    v.push(0xF4);
    v
}

const REGS: [u32; 8] = [
    0x1234_5678,
    0xFFFF_FFFF,
    0x8000_0000,
    0x0003_0000,
    0x0000_F000,
    0,
    0x0003_0100,
    0x0003_0200,
];

#[test]
fn inc_dec_keep_the_carry_flag() {
    // STC; INC dword [EBX]; ADC EAX,0; DEC ECX; ADC EDX,0; CLC; INC ECX; ADC EAX,EAX
    let code = with_hlt(&[0xF9, 0xFF, 0x03, 0x83, 0xD0, 0x00, 0x49, 0x83, 0xD2, 0x00, 0xF8, 0x41, 0x11, 0xC0]);
    let t = lockstep(|| programs::flat32(&code, REGS, 0), 100);
    assert!(t.translated_steps >= 1 && t.instructions >= 8, "{t:?}");
}

#[test]
fn memory_destinations_store_their_results() {
    // ADD [EBX],EAX; SUB word [EBX+2],5; XOR byte [EBX+1],0x5A; NEG dword [EBX+4]; NOT word [EBX+6]
    let code = with_hlt(&[
        0x01, 0x03, 0x66, 0x83, 0x6B, 0x02, 0x05, 0x80, 0x73, 0x01, 0x5A, 0xF7, 0x5B, 0x04, 0x66, 0xF7, 0x53, 0x06,
    ]);
    let t = lockstep(|| programs::flat32(&code, REGS, 0), 100);
    assert!(t.instructions >= 5, "{t:?}");
}

#[test]
fn a_segment_load_ends_the_block() {
    // MOV AX,0x18; MOV DS,AX; MOV [EBX],EAX (through DS, base 0x20000 and
    // limit 0xFFFF now: EBX = 0x30000 is beyond it, #GP); the block must
    // not keep the flat DS it was translated with.
    let mut regs = REGS;
    regs[3] = 0x100;
    let code = with_hlt(&[0x66, 0xB8, SEL_SMALL_DATA as u8, 0x00, 0x8E, 0xD8, 0x89, 0x03, 0x89, 0x43, 0x04]);
    let (s, _) = lockstep_state(|| programs::flat32(&code, regs, 0));
    assert_eq!(s.seg[cpu::state::sreg::DS].base(), 0x2_0000);
    let mut regs = REGS;
    regs[3] = 0x1_0000;
    lockstep(|| programs::flat32(&code, regs, 0), 100);
}

#[test]
fn a_triple_fault_stops_both_engines() {
    // LIDT with limit 0 (from a zeroed location), then UD2: #UD, #DF, shutdown.
    let mut regs = REGS;
    regs[3] = 0x3000;
    let code = with_hlt(&[0x0F, 0x01, 0x1B, 0x0F, 0x0B]);
    let t = lockstep(|| programs::flat32(&code, regs, 0), 100);
    assert_eq!(t.instructions, 1, "LIDT retires, UD2 does not: {t:?}");
}

#[test]
fn accesses_that_wrap_the_segment_fault() {
    // MOV EAX,[0xFFFFFFFE]; MOV [0xFFFFFFFF],AX; PUSH at ESP = 2.
    for code in [
        &[0xA1, 0xFE, 0xFF, 0xFF, 0xFF][..],
        &[0x66, 0xA3, 0xFF, 0xFF, 0xFF, 0xFF],
        &[0xBC, 0x02, 0, 0, 0, 0x50],
    ] {
        let code = with_hlt(code);
        lockstep(|| programs::flat32(&code, REGS, 0), 100);
    }
}

#[test]
fn a_32_bit_branch_in_16_bit_code_checks_the_limit() {
    // DEC AX; JNZ with an operand-size prefix to 0xFFFFFFCD: beyond the
    // real-mode limit, #GP (through the zeroed IVT).
    let code = [0x48, 0x66, 0x75, 0xC9];
    lockstep(|| programs::real16(&code, REGS, 0), 50);
    // The generated machine it was found on (campaign seed 3).
    lockstep(|| programs::random_machine(8439708973090260871), 2000);
}

/// Run in lockstep and return the final recompiler-side state.
fn lockstep_state(make: impl Fn() -> Guest) -> Guest {
    let mut ls = Lockstep::new(1).expect("engines");
    let (mut sa, mut ma) = make();
    let (mut sb, mut mb) = make();
    if let Err(d) = ls.run((&mut sa, &mut ma), (&mut sb, &mut mb), 100) {
        panic!("{d}");
    }
    (sb, mb)
}

/// A flat 32-bit guest whose FS has base `base` and a 4 GiB limit (as
/// Linux's per-CPU segment), running `code`.
fn with_based_fs(code: &[u8], base: u32) -> Guest {
    let (mut s, m) = programs::flat32(code, REGS, 0);
    let fs = cpu::state::sreg::FS;
    let raw = 0x00CF_9300_0000_FFFFu64 | ((base as u64 & 0xFF_FFFF) << 16) | (((base as u64 >> 24) & 0xFF) << 56);
    s.seg[fs] = cpu::segment::Segment::from_descriptor(0x10, x86::descriptor::Descriptor::new(raw));
    (s, m)
}

#[test]
fn fs_with_a_base_adds_it_and_checks_the_offset() {
    // MOV EAX,FS:[EBX]; INC dword FS:[EBX+4]; MOV FS:[ESI],EAX: inline
    // accesses through a based FS.
    let code = with_hlt(&[0x64, 0x8B, 0x03, 0x64, 0xFF, 0x43, 0x04, 0x64, 0x89, 0x06]);
    lockstep(|| with_based_fs(&code, 0x1000), 100);
    // Base + offset wraps past 4 GiB (fine), but the offset does not.
    lockstep(|| with_based_fs(&code, 0xFFFF_0000), 100);
    // MOV EAX,FS:[0] (fills the TLB), then MOV EAX,FS:[0xFFFFFFFE]: the
    // offset runs past the limit (#GP), though base + offset is an
    // ordinary address in the same page, which the inline path would
    // happily read.
    let code = with_hlt(&[0x64, 0x8B, 0x05, 0, 0, 0, 0, 0x64, 0x8B, 0x05, 0xFE, 0xFF, 0xFF, 0xFF]);
    lockstep(|| with_based_fs(&code, 0x10_0002), 100);
    // MOV [0x100000],EAX (a store: it fills the TLB, where a load of
    // paging-off flat code reads RAM directly), then MOV EAX,FS:[0xFFFFFFFE]
    // as above: the load's offset check must raise #GP, not find the page.
    let code = with_hlt(&[0xA3, 0x00, 0x00, 0x10, 0x00, 0x64, 0x8B, 0x05, 0xFE, 0xFF, 0xFF, 0xFF]);
    let (s, _) = lockstep_state(|| with_based_fs(&code, 0x10_0002));
    assert_eq!(s.eip, programs::FIXED_HANDLERS + 16 * 13 + 1, "halted in #GP's handler");
    // MOV FS:[0],AX; MOV FS:[0xFFFFFFFF],AX likewise.
    let code = with_hlt(&[0x66, 0x64, 0x89, 0x05, 0, 0, 0, 0, 0x66, 0x64, 0x89, 0x05, 0xFF, 0xFF, 0xFF, 0xFF]);
    lockstep(|| with_based_fs(&code, 0x10_0002), 100);
}

/// A loop through a block that starts with ADD EAX,imm32 at 0x10FFE,
/// running into the next page, and reached from the block before it in
/// its page (NOPs from 0x10FF0) by a chain. Each pass rewrites one byte of
/// the immediate, in the second page.
fn crossing_loop() -> Vec<u8> {
    let mut code = vec![0x90; 0x1010];
    code[..5].copy_from_slice(&[0xB9, 0x03, 0x00, 0x00, 0x00]); // MOV ECX,3
    let jmp = 0x0FF0i32 - 0x0A;
    code[5] = 0xE9; // JMP 0x10FF0
    code[6..10].copy_from_slice(&jmp.to_le_bytes());
    code[0xFFE..0x1003].copy_from_slice(&[0x05, 0x78, 0x56, 0x34, 0x12]); // ADD EAX,0x12345678
    // INC byte [0x11001]; DEC ECX; JNZ 0x10FF0; HLT
    code[0x1003..0x100E].copy_from_slice(&[0xFE, 0x05, 0x01, 0x10, 0x01, 0x00, 0x49, 0x75, 0xE4, 0xF4, 0x90]);
    code
}

/// EAX after `crossing_loop`: the immediate's third byte counts up.
const CROSSING_EAX: u32 = REGS[0]
    .wrapping_add(0x1234_5678)
    .wrapping_add(0x1235_5678)
    .wrapping_add(0x1236_5678);

#[test]
fn an_instruction_across_a_page_end_is_fetched_at_every_pass() {
    // The translation of such a block must fetch the instruction at run
    // time: its key, the first page, never changes.
    let code = crossing_loop();
    let t = lockstep(|| programs::flat32(&code, REGS, 0), 200);
    assert_eq!(t.instructions, 2 + 3 * (14 + 4) + 1, "with the HLT: {t:?}");
    let (s, _) = lockstep_state(|| programs::flat32(&code, REGS, 0));
    assert_eq!(s.gpr[0], CROSSING_EAX);
}

#[test]
fn a_chained_block_across_a_page_end_runs_at_its_own_eip() {
    // Free-running (lockstep runs one block at a time, so no chains): the
    // chain into the crossing block does not store EIP; the block must.
    use cpu::Engine;
    let code = crossing_loop();
    let mut r = recompiler::Recompiler::new(1).expect("recompiler");
    let (mut s, mut m) = programs::flat32(&code, REGS, 0);
    let mut bus = cpu::NullBus::default();
    for _ in 0..100 {
        if s.halted {
            break;
        }
        r.run(&mut s, &mut m, &mut bus, 1000);
    }
    assert!(s.halted && r.stats.chains > 0, "halted {} chains {}", s.halted, r.stats.chains);
    assert_eq!(s.gpr[0], CROSSING_EAX);
    // Not one NOP twice.
    assert_eq!(r.instructions(), 2 + 3 * (14 + 4) + 1);
}

#[test]
fn flags_deferred_to_a_fault_are_the_ones_it_shows() {
    // ADD EAX,ECX; INC EDX; MOV [EBX],EAX; SUB EAX,EAX: the ADD's flags
    // are overwritten by the INC and the INC's by the SUB, so they are
    // needed only if the store faults, which it does: EBX = 0xFFFFFFFE,
    // a dword past offset 0xFFFFFFFF, #GP. The fault must show the INC's
    // flags over the ADD's CF (the handler's HLT ends the guest).
    let code = with_hlt(&[0x01, 0xC8, 0x42, 0x89, 0x03, 0x29, 0xC0]);
    let mut regs = REGS;
    regs[3] = 0xFFFF_FFFE;
    let (s, _) = lockstep_state(|| programs::flat32(&code, regs, 0));
    assert!(s.halted);
    // A load that faults: MOV EDX,[EBX] after a SUB.
    let code = with_hlt(&[0x29, 0xC8, 0x8B, 0x13, 0x29, 0xC0]);
    lockstep(|| programs::flat32(&code, regs, 0), 100);
}

/// Run `first` (whose flags only a store's code-write exit can see), then
/// MOV [0x10018],`byte_reg` (past the HLT, in this block's own page: the
/// block ends after it), then SUB EAX,EAX in the next block, in lockstep
/// from EFLAGS `flags`: the state between the blocks must hold `first`'s
/// flags.
fn store_into_code_after(first: &[u8], byte_reg: u8, flags: u32) {
    let mut code = first.to_vec();
    code.extend_from_slice(&[0x88, 0x05 | byte_reg << 3, 0x18, 0x00, 0x01, 0x00, 0x29, 0xC0]);
    code.resize(0x10, 0x90);
    code.push(0xF4);
    let t = lockstep(|| programs::flat32(&code, REGS, flags), 100);
    assert!(t.steps >= 2, "{t:?}");
}

#[test]
fn flags_deferred_to_a_store_into_code_are_computed_on_that_exit() {
    // ADD EAX,ECX; MOV [0x10018],DL.
    store_into_code_after(&[0x01, 0xC8], 2, 0);
}

#[test]
fn a_grouped_store_into_code_still_ends_the_block() {
    // MOV EAX,[EBX]; MOV EDX,[EBX+1]; MOV EDX,[EBX+2]; MOV [EBX+12],CL;
    // MOV AL,0x11; HLT with EBX = 0x10000: the four accesses share one TLB
    // probe (one base, a small window), and the store rewrites the MOV
    // AL's immediate in this very block. The page holds code, so the
    // group's probe must fail on the write tag and the store take the path
    // that ends the block: AL = CL, not 0x11.
    let code = [0x8B, 0x03, 0x8B, 0x53, 0x01, 0x8B, 0x53, 0x02, 0x88, 0x4B, 0x0C, 0xB0, 0x11, 0xF4];
    let mut regs = REGS;
    regs[3] = 0x1_0000;
    let (s, _) = lockstep_state(|| programs::flat32(&code, regs, 0));
    assert_eq!(s.gpr[0] & 0xFF, REGS[1] & 0xFF);
}

#[test]
fn a_group_ends_where_its_base_changes() {
    // MOV EAX,[EBX]; MOV EDX,[EBX+1]; ADD EBX,0x1000000; MOV ECX,[EBX+4];
    // HLT with EBX = 0x10000 (the code page, which the TLB knows from the
    // fetch): EBX moves past the end of RAM (4 MiB) between accesses with
    // one base. The last must not reuse the others' page: it reads no RAM
    // (all ones), where a stale group would read host memory past guest
    // RAM.
    let code = with_hlt(&[0x8B, 0x03, 0x8B, 0x53, 0x01, 0x81, 0xC3, 0x00, 0x00, 0x00, 0x01, 0x8B, 0x4B, 0x04]);
    let mut regs = REGS;
    regs[3] = 0x1_0000;
    let (s, _) = lockstep_state(|| programs::flat32(&code, regs, 0));
    assert_eq!(s.gpr[1], 0xFFFF_FFFF);
}

#[test]
fn carry_flags_deferred_to_a_fault_are_the_ones_it_shows() {
    // ADC/SBB DL,AL / DX,AX / EDX,EAX, then MOV [EBX],ECX, which faults
    // (EBX = 0xFFFFFFFE: #GP), then SUB EAX,EAX: only the fault sees the
    // carry operation's flags, so they are deferred as its operands and
    // its carry; the handler's HLT shows them. The carry comes from the
    // flags the guest starts with (CF set and clear) or from a CMP EAX,ECX
    // in the block (a borrow: EAX < ECX).
    let mut regs = REGS;
    regs[3] = 0xFFFF_FFFE;
    for op in [
        &[0x10, 0xC2][..],
        &[0x66, 0x11, 0xC2],
        &[0x11, 0xC2],
        &[0x18, 0xC2],
        &[0x66, 0x19, 0xC2],
        &[0x19, 0xC2],
    ] {
        for cmp in [&[][..], &[0x39, 0xC8]] {
            let mut code = cmp.to_vec();
            code.extend_from_slice(op);
            code.extend_from_slice(&[0x89, 0x0B, 0x29, 0xC0]);
            let code = with_hlt(&code);
            for flags in [0, 1] {
                let (s, _) = lockstep_state(|| programs::flat32(&code, regs, flags));
                assert!(s.halted);
            }
        }
    }
    // A store into this block's own page after ADC EDX,EAX ends the block
    // with the ADC's flags: MOV [0x10018],CL.
    store_into_code_after(&[0x11, 0xC2], 1, 1);
}

#[test]
fn flags_deferred_in_registers_are_the_ones_a_fault_shows() {
    // A 32-bit ADD/SUB/INC/DEC into a register, then MOV [EBX],ECX, which
    // faults (EBX = 0xFFFFFFFE: #GP), then SUB EAX,EAX. The fault alone
    // sees the first instruction's flags, and its operands are still in
    // registers, so the exit works them out from there; not where a
    // register changes before the fault, or the operands are one register
    // (EDX + EDX = 0 with a carry out, EDX being 0x80000000).
    let mut regs = REGS;
    regs[3] = 0xFFFF_FFFE;
    let firsts: [&[u8]; 9] = [
        &[0x01, 0xC2],                   // add edx,eax
        &[0x29, 0xCA],                   // sub edx,ecx
        &[0x01, 0xD2],                   // add edx,edx
        &[0x81, 0xC2, 0xFF, 0x7F, 0, 0], // add edx,0x7FFF
        &[0x83, 0xEA, 0xFD],             // sub edx,-3
        &[0x42],                         // inc edx
        &[0x4A],                         // dec edx
        &[0x01, 0xC2, 0xB0, 0x05],       // add edx,eax; mov al,5
        &[0x01, 0xC2, 0x89, 0xC2],       // add edx,eax; mov edx,eax
    ];
    for first in firsts {
        let mut code = first.to_vec();
        code.extend_from_slice(&[0x89, 0x0B, 0x29, 0xC0]);
        let code = with_hlt(&code);
        for flags in [0, 1] {
            let (s, _) = lockstep_state(|| programs::flat32(&code, regs, flags));
            assert!(s.halted);
        }
    }
}

#[test]
fn shift_flags_deferred_to_a_fault_are_the_ones_it_shows() {
    // SHR EAX,3 (a 32-bit register shifted in place); MOV [EBX],ECX, which
    // faults (EBX = 0xFFFFFFFE: a dword past offset 0xFFFFFFFF, #GP); SUB
    // EAX,EAX. Only the fault sees the shift's flags, so they are deferred
    // as the operand and the count; the handler's HLT shows them.
    let mut regs = REGS;
    regs[3] = 0xFFFF_FFFE;
    let code = with_hlt(&[0xC1, 0xE8, 0x03, 0x89, 0x0B, 0x29, 0xC0]);
    let (s, _) = lockstep_state(|| programs::flat32(&code, regs, 0));
    assert!(s.halted);
    // The same with SAR AL,5 and SHL AX,9 (narrow, through the template).
    let code = with_hlt(&[0xC0, 0xF8, 0x05, 0x89, 0x0B, 0x29, 0xC0]);
    lockstep(|| programs::flat32(&code, regs, 0), 100);
    let code = with_hlt(&[0x66, 0xC1, 0xE0, 0x09, 0x89, 0x0B, 0x29, 0xC0]);
    lockstep(|| programs::flat32(&code, regs, 0), 100);
}

#[test]
fn an_exit_cache_never_jumps_to_code_that_was_rewritten() {
    // A loop calls F, in the next page, whose RET comes back to T: MOV
    // EAX,imm; ADD EBX,EAX. After a few passes the RET's inline cache
    // holds T's translation; in the fifth pass the loop rewrites T's
    // immediate, and the store into T's page must drop it (a new
    // jump-cache epoch): EBX = 5 * 0x11111111 + 3 * 0x22222222.
    // Free-running: lockstep never chains.
    use cpu::Engine;
    let mut code = vec![
        0xB9, 0x08, 0x00, 0x00, 0x00, // mov ecx, 8
        0x31, 0xDB, // xor ebx, ebx
        0xE8, 0xF4, 0x0F, 0x00, 0x00, // L: call 0x11000
        0xB8, 0x11, 0x11, 0x11, 0x11, // T: mov eax, 0x11111111
        0x01, 0xC3, // add ebx, eax
        0x83, 0xF9, 0x04, // cmp ecx, 4
        0x75, 0x0A, // jne skip
        0xC7, 0x05, 0x0D, 0x00, 0x01, 0x00, 0x22, 0x22, 0x22, 0x22, // mov dword [T+1], 0x22222222
        0x49, // skip: dec ecx
        0x75, 0xE2, // jnz L
        0xF4, // hlt
    ];
    code.resize(0x1000, 0x90);
    code.push(0xC3); // F: ret
    let mut rec = recompiler::Recompiler::new(1).expect("recompiler");
    let (mut s, mut m) = programs::flat32(&code, REGS, 0);
    lockstep::looped::run_free(&mut rec, &mut s, &mut m, 10_000);
    assert!(s.halted);
    assert_eq!(s.gpr[3], 0xBBBB_BBBB, "EBX");
    let mut interp = cpu::Interpreter::new();
    let (mut si, mut mi) = programs::flat32(&code, REGS, 0);
    lockstep::looped::run_free(&mut interp, &mut si, &mut mi, 10_000);
    assert!(lockstep::looped::differences((&si, &mi), (&s, &m)).is_empty());
    assert!(rec.instructions() > 0);
}

#[test]
fn a_push_into_code_ends_the_block_with_esp_moved() {
    // PUSH EAX; PUSH ECX; HLT with ESP in this code's own page: the first
    // push's store hits a page holding code and ends the block on its
    // slow path, which must still move ESP.
    let mut regs = REGS;
    regs[4] = 0x1_0100;
    let code = with_hlt(&[0x50, 0x51]);
    let t = lockstep(|| programs::flat32(&code, regs, 0), 100);
    assert!(t.steps >= 2, "{t:?}");
}

#[test]
fn a_call_into_code_leaves_for_its_target_with_esp_moved() {
    // CALL +1 (over a HLT); HLT, with ESP in this code's own page: the
    // return address's store hits a page holding code, and the block
    // leaves for the call's target from the store's slow path.
    let mut regs = REGS;
    regs[4] = 0x1_0100;
    let code = with_hlt(&[0xE8, 0x01, 0x00, 0x00, 0x00, 0xF4]);
    let t = lockstep(|| programs::flat32(&code, regs, 0), 100);
    assert!(t.steps >= 2, "{t:?}");
}

/// MOV EAX,[ESI]; MOV EDX,[EDI]; MOVZX ECX,word [EBP]; MOV BL,[EDI+3]:
/// loads that paging-off flat code makes straight from RAM when the
/// address is in the map's identity RAM range (`mode::direct`).
fn direct_loads(esi: u32, edi: u32, ebp: u32, setup: impl Fn(&mut Guest)) -> Guest {
    let code = with_hlt(&[0x8B, 0x06, 0x8B, 0x17, 0x0F, 0xB7, 0x4D, 0x00, 0x8A, 0x5F, 0x03]);
    let make = || {
        let mut regs = REGS;
        (regs[6], regs[7], regs[5]) = (esi, edi, ebp);
        let mut g = programs::flat32(&code, regs, 0);
        setup(&mut g);
        g
    };
    let t = lockstep(make, 100);
    assert!(t.translated_steps >= 1, "{t:?}");
    lockstep_state(make)
}

#[test]
fn direct_loads_stop_at_the_end_of_ram_a20_and_rom() {
    let ram = programs::RAM as u32;
    // At the end of RAM: an access that runs past it reads ones there.
    let (s, _) = direct_loads(ram - 2, ram - 4, ram - 1, |(_, m)| {
        m.write_phys(u64::from(ram) - 4, &[0x11, 0x22, 0x33, 0x44]);
    });
    assert_eq!(
        (s.gpr[0], s.gpr[2], s.gpr[1], s.gpr[3] & 0xFF),
        (0xFFFF_4433, 0x4433_2211, 0xFF44, 0x44)
    );
    // With the A20 gate closed, 0x100010 is 0x10.
    let (s, _) = direct_loads(0x10_0010, 0x10_0010, 0x10_0010, |(s, m)| {
        s.set_a20(false);
        m.write_phys(0x10, &[0xAA, 0xBB, 0xCC, 0xDD]);
        m.write_phys(0x10_0010, &[1, 2, 3, 4]);
    });
    assert_eq!((s.gpr[0], s.gpr[1]), (0xDDCC_BBAA, 0xBBAA));
    // A ROM below 1 MiB (the direct range starts above it), and accesses
    // that cross from it into RAM.
    let (s, _) = direct_loads(0xE_0010, 0xF_FFFE, 0xF_FFFF, |(_, m)| {
        let rom = m.map.add_rom_data((0..0x2_0000u32).map(|i| (i % 251) as u8).collect());
        m.map.add(memory::Region::rom(0xE_0000, 0x2_0000, rom, 0)).expect("ROM over RAM");
        m.write_phys(0x10_0000, &[0x55, 0x66]);
    });
    let rom = |a: u32| (a - 0xE_0000) % 251;
    assert_eq!(s.gpr[0], u32::from_le_bytes([0x10, 0x11, 0x12, 0x13]));
    assert_eq!(s.gpr[2], rom(0xF_FFFE) | rom(0xF_FFFF) << 8 | 0x55 << 16 | 0x66 << 24);
    assert_eq!(s.gpr[1], rom(0xF_FFFF) | 0x55 << 8);
}

/// A loop reading linear 0x300000 (a memoized load site, see the
/// recompiler's `memo`) twice, then `flush` after remapping the page from
/// physical 0x300000 to 0x301000, then the loop again: the second pass
/// must read the new page. Paging on (see `paged`), CR4 as given.
fn remapped_loop(flush: &[u8], cr4: u32) -> Guest {
    let mut code = vec![
        0xBF, 0x00, 0x60, 0x00, 0x00, // mov edi,0x6000 (holds 0x300000)
        0x31, 0xD2, // xor edx,edx
        0x31, 0xF6, // xor esi,esi
        0xB9, 0x02, 0x00, 0x00, 0x00, // mov ecx,2
        0x8B, 0x1F, // L: mov ebx,[edi]
        0x8B, 0x03, // mov eax,[ebx] (its address was loaded: memoized)
        0x01, 0xC2, // add edx,eax
        0x49, // dec ecx
        0x75, 0xF7, // jnz L
        0x85, 0xF6, // test esi,esi
        0x75, 0x00, // jnz done (patched below)
        0x46, // inc esi
        0xC7, 0x05, 0x00, 0x1C, 0x02, 0x00, 0x03, 0x10, 0x30, 0x00, // mov dword [0x21C00],0x301003
    ];
    let jnz_done = 26;
    code.extend_from_slice(flush);
    code.extend_from_slice(&[0xB9, 0x02, 0x00, 0x00, 0x00]); // mov ecx,2
    let back = 14i32 - (code.len() as i32 + 2);
    code.extend_from_slice(&[0xEB, back as u8]); // jmp L
    code[jnz_done] = (code.len() - (jnz_done + 1)) as u8;
    let (s, mut m) = paged(&code, cr4, &[(0x300, 0x30_2000)]);
    m.write_phys(0x6000, &0x30_0000u32.to_le_bytes());
    m.write_phys(0x30_2000, &0x11u32.to_le_bytes());
    m.write_phys(0x30_1000, &0x2200u32.to_le_bytes());
    // What an identity-mapped read would find.
    m.write_phys(0x30_0000, &0x7000_0000u32.to_le_bytes());
    (s, m)
}

/// A guest with `code` (then HLT) at `FIXED_CODE`, paging on over one page
/// table at 0x21000 (directory at 0x20000) mapping the low 4 MiB
/// identically but for the (page, physical address) pairs in `remap`.
fn paged(code: &[u8], cr4: u32, remap: &[(u32, u32)]) -> Guest {
    let code = with_hlt(code);
    let (mut s, mut m) = programs::flat32(&code, REGS, 0);
    m.write_phys(0x2_0000, &0x2_1007u32.to_le_bytes());
    let pt: Vec<u8> = (0..1024u32)
        .flat_map(|i| {
            let phys = remap.iter().find(|r| r.0 == i).map_or(i << 12, |r| r.1);
            (phys | 3).to_le_bytes()
        })
        .collect();
    m.write_phys(0x2_1000, &pt);
    s.cr3 = 0x2_0000;
    s.cr4 = cr4;
    s.cr0 |= x86::cr::cr0::PG;
    (s, m)
}

#[test]
fn a_remapped_page_is_read_again_after_invlpg_or_a_cr3_load() {
    let pge = x86::cr::cr4::PGE;
    for (flush, cr4) in [
        (&[0x0F, 0x01, 0x3B][..], 0),                 // invlpg [ebx]
        (&[0x0F, 0x20, 0xD8, 0x0F, 0x22, 0xD8], pge), // mov eax,cr3; mov cr3,eax
        (&[0x0F, 0x20, 0xD8, 0x0F, 0x22, 0xD8], 0),
    ] {
        let t = lockstep(|| remapped_loop(flush, cr4), 200);
        assert!(t.translated_steps >= 2, "{t:?}");
        let (s, _) = lockstep_state(|| remapped_loop(flush, cr4));
        assert_eq!(s.gpr[2], 2 * 0x11 + 2 * 0x2200, "{:08x}", s.gpr[2]);
    }
}

#[test]
fn a_load_across_a_page_end_does_not_use_the_memo() {
    // MOV EDI,0x6000; XOR EDX,EDX; MOV ECX,4; L: MOV EBX,[EDI];
    // MOV EAX,[EBX]; ADD EDX,EAX; ADD dword [EDI],2; DEC ECX; JNZ L, with
    // 0x300FF8 at 0x6000: the loop's block reads in the page twice through
    // its memo, then runs into the next linear page, which maps elsewhere.
    let code = [
        0xBF, 0x00, 0x60, 0x00, 0x00, 0x31, 0xD2, 0xB9, 0x04, 0x00, 0x00, 0x00, 0x8B, 0x1F, 0x8B, 0x03, 0x01, 0xC2, 0x83, 0x07, 0x02, 0x49,
        0x75, 0xF4,
    ];
    let make = || {
        let (s, mut m) = paged(&code, 0, &[(0x300, 0x30_2000), (0x301, 0x30_5000)]);
        m.write_phys(0x6000, &0x30_0FF8u32.to_le_bytes());
        m.write_phys(0x30_2FF8, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        m.write_phys(0x30_5000, &[0x99, 0xAA]);
        (s, m)
    };
    lockstep(make, 100);
    let (s, _) = lockstep_state(make);
    let sum = [0x4433_2211u32, 0x6655_4433, 0x8877_6655, 0xAA99_8877]
        .iter()
        .fold(0u32, |a, &b| a.wrapping_add(b));
    assert_eq!(s.gpr[2], sum);
}

/// A loop (`L:` after `setup; MOV ECX,PASSES; XOR EDX,EDX`) summing into EDX
/// the dwords at `windows` (base register number, displacements), then
/// running `tail` (at the loop's end: inside its block), then `DEC ECX;
/// JNZ L; JMP` to the `HLT`. Paged, with linear pages 0x30-0x37 mapped to physical pages
/// apart from each other (so that no two share `host - linear`, as all
/// identity-mapped pages do); each dword holds a value of its linear
/// address (`window_value`).
fn window_loop(setup: &[u8], windows: &[(u8, &[u8])], tail: &[u8]) -> Guest {
    let mut code = setup.to_vec();
    code.extend_from_slice(&[0xB9, PASSES as u8, 0x00, 0x00, 0x00, 0x31, 0xD2]);
    let l = code.len();
    for &(base, disps) in windows {
        for &d in disps {
            // add edx,[base+d8]
            code.extend_from_slice(&[0x03, 0x50 | base, d]);
        }
    }
    code.extend_from_slice(tail);
    code.push(0x49); // dec ecx
    let back = l as i32 - (code.len() as i32 + 2);
    code.extend_from_slice(&[0x75, back as u8]);
    // JMP to the HLT: the loop's block ends here, without a handler call.
    code.extend_from_slice(&[0xEB, 0x00]);
    let remap: Vec<(u32, u32)> = (0..8).map(|i| (0x30 + i, 0x20_0000 + 0x1_3000 * i)).collect();
    let (s, mut m) = paged(&code, 0, &remap);
    for &(page, phys) in &remap {
        let data: Vec<u8> = (0..1024).flat_map(|k| window_value((page << 12) | (4 * k)).to_le_bytes()).collect();
        m.write_phys(phys as u64, &data);
    }
    (s, m)
}

const PASSES: u32 = 6;

fn window_value(linear: u32) -> u32 {
    linear.wrapping_mul(0x9E37_79B1)
}

fn window_sum(reads: impl Iterator<Item = u32>) -> u32 {
    reads.fold(0u32, |s, a| s.wrapping_add(window_value(a)))
}

/// Run `make()` on the recompiler running free (its loops jump back
/// within their blocks, which lockstep's one block at a time never does)
/// and on the interpreter; both must halt alike. The recompiler's state.
fn free_alike(make: impl Fn() -> Guest) -> cpu::CpuState {
    use cpu::Engine;
    let mut rec = recompiler::Recompiler::new(1).expect("recompiler");
    let (mut s, mut m) = make();
    lockstep::looped::run_free(&mut rec, &mut s, &mut m, 10_000);
    let mut interp = cpu::Interpreter::new();
    let (mut si, mut mi) = make();
    lockstep::looped::run_free(&mut interp, &mut si, &mut mi, 10_000);
    assert!(s.halted && si.halted);
    let d = lockstep::looped::differences((&si, &mi), (&s, &m));
    assert!(d.is_empty(), "{}", d.join("\n"));
    assert!(rec.instructions() > 0);
    s
}

#[test]
fn a_loop_probes_its_window_again_when_the_base_moves() {
    // EBX goes between 0x30000 and 0x31000 at the loop's end: the
    // window's probe cannot be hoisted out of the loop. (From the third
    // pass on both pages are in the TLB, so a probe kept from the pass
    // before would find its page on the fast path, and wrong.)
    let tail = [0x81, 0xF3, 0x00, 0x10, 0x00, 0x00]; // xor ebx,0x1000
    let make = || window_loop(&[], &[(3, &[0, 4, 8, 12])], &tail);
    lockstep(make, 100);
    let s = free_alike(make);
    let reads = (0..PASSES).flat_map(|p| [0, 4, 8, 12].map(|d| 0x3_0000 + 0x1000 * (p & 1) + d));
    assert_eq!(s.gpr[2], window_sum(reads));
}

#[test]
fn a_loop_hoists_only_the_windows_that_keep_their_slot_and_base() {
    // Three windows (EBX 0x30000, ESI 0x31000, EDI 0x32000) for two group
    // slots: the third takes the first one's slot, so neither keeps its
    // page across passes; ESI's window is probed once, before the loop,
    // and the copies of registers the probe loaded are not trusted after
    // the jump back. EAX and EBP, rewritten at the loop's end, keep the
    // register cache busy.
    let setup = [0xBE, 0x00, 0x10, 0x03, 0x00, 0xBF, 0x00, 0x20, 0x03, 0x00]; // mov esi,0x31000; mov edi,0x32000
    let tail = [0x8D, 0x04, 0x0A, 0x8D, 0x2C, 0x01]; // lea eax,[edx+ecx]; lea ebp,[ecx+eax]
    let windows: [(u8, &[u8]); 3] = [(3, &[0, 4, 8]), (6, &[0, 4, 8]), (7, &[0, 4, 8])];
    let make = || window_loop(&setup, &windows, &tail);
    lockstep(make, 100);
    let s = free_alike(make);
    let pass = [0, 4, 8].into_iter().flat_map(|d| [0x3_0000 + d, 0x3_1000 + d, 0x3_2000 + d]);
    assert_eq!(s.gpr[2], window_sum(pass.cycle().take(PASSES as usize * 9)));
}

#[test]
fn lockstep_sees_every_pass_of_a_loop_in_one_block() {
    // MOV ECX,5; L: DEC ECX; JNZ L; HLT. Lockstep compares after each
    // block, so a block that jumps back to its own start must come back
    // to the dispatcher on every pass there (the recompiler running free
    // goes on within the block): the first block (MOV and the first
    // pass) and the four passes after it are steps.
    let code = with_hlt(&[0xB9, 0x05, 0x00, 0x00, 0x00, 0x49, 0x75, 0xFD]);
    let t = lockstep(|| programs::flat32(&code, REGS, 0), 100);
    assert!(t.steps >= 5, "{t:?}");
}
