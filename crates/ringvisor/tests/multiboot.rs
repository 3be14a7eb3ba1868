//! A Multiboot kernel assembled here boots through `ringvisor run
//! --kernel`, prints over COM1 what the loader told it, and ends the run
//! through `--debug-exit`.

use iced_x86::code_asm::*;
use std::path::PathBuf;
use std::process::Command;

const LOAD: u32 = 0x10_0000;
const COM1: u16 = 0x3F8;
const EXIT_PORT: u16 = 0xF4;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringvisor-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Emit code that prints the NUL-terminated string at ESI on COM1.
fn print_esi(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut next = a.create_label();
    let mut wait = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut next)?;
    a.lodsb()?;
    a.test(al, al)?;
    a.jz(done)?;
    a.mov(ah, al)?;
    a.mov(dx, (COM1 + 5) as i32)?;
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, 0x20)?;
    a.jz(wait)?;
    a.mov(al, ah)?;
    a.mov(dx, COM1 as i32)?;
    a.out(dx, al)?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    a.nop()?;
    Ok(())
}

const CODE_AT: u32 = 0x40;
const DATA_AT: u32 = 0x800;
const OK_STR: u32 = LOAD + DATA_AT;
const BAD_STR: u32 = LOAD + DATA_AT + 0x20;
const NL_STR: u32 = LOAD + DATA_AT + 0x40;
const BUF: u32 = LOAD + DATA_AT + 0x60;

/// A kernel that checks the Multiboot magic, prints "mb ok" (or "mb bad"),
/// the decimal mem_upper field and the command line, and exits through
/// the debug-exit port with value 0x21. Layout: header at 0, code at
/// 0x40, strings at 0x800.
fn kernel() -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    let mut bad = a.create_label();
    let mut print = a.create_label();
    let mut digits = a.create_label();
    let mut after = a.create_label();
    a.mov(esp, 0x9_0000u32).unwrap();
    a.mov(edi, ebx).unwrap();
    a.cmp(eax, 0x2BAD_B002u32).unwrap();
    a.jne(bad).unwrap();
    a.mov(esi, OK_STR).unwrap();
    a.jmp(print).unwrap();
    a.set_label(&mut bad).unwrap();
    a.mov(esi, BAD_STR).unwrap();
    a.set_label(&mut print).unwrap();
    a.nop().unwrap();
    print_esi(&mut a).unwrap();
    // mem_upper (KiB) in decimal, built backwards in BUF.
    a.mov(eax, dword_ptr(edi + 8)).unwrap();
    a.mov(esi, BUF + 15).unwrap();
    a.mov(byte_ptr(esi), 0).unwrap();
    a.mov(ecx, 10).unwrap();
    a.set_label(&mut digits).unwrap();
    a.xor(edx, edx).unwrap();
    a.div(ecx).unwrap();
    a.add(dl, b'0' as i32).unwrap();
    a.dec(esi).unwrap();
    a.mov(byte_ptr(esi), dl).unwrap();
    a.test(eax, eax).unwrap();
    a.jnz(digits).unwrap();
    print_esi(&mut a).unwrap();
    a.mov(esi, NL_STR).unwrap();
    print_esi(&mut a).unwrap();
    // The command line.
    a.mov(esi, dword_ptr(edi + 16)).unwrap();
    print_esi(&mut a).unwrap();
    a.mov(esi, NL_STR).unwrap();
    print_esi(&mut a).unwrap();
    a.mov(al, 0x21).unwrap();
    a.out(EXIT_PORT as u8 as i32, al).unwrap();
    a.set_label(&mut after).unwrap();
    a.hlt().unwrap();
    a.jmp(after).unwrap();
    let code = a.assemble((LOAD + CODE_AT) as u64).unwrap();
    assert!(code.len() < (DATA_AT - CODE_AT) as usize);

    let mut image = vec![0u8; (DATA_AT + 0x80) as usize];
    let magic = 0x1BAD_B002u32;
    let flags = 0x0001_0003u32;
    let header = [
        magic,
        flags,
        0u32.wrapping_sub(magic.wrapping_add(flags)),
        LOAD,
        LOAD,
        0,
        0,
        LOAD + CODE_AT,
    ];
    for (i, w) in header.iter().enumerate() {
        image[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    image[CODE_AT as usize..CODE_AT as usize + code.len()].copy_from_slice(&code);
    for (addr, text) in [(OK_STR, &b"mb ok mem_upper="[..]), (BAD_STR, b"mb bad mem_upper="), (NL_STR, b"\n")] {
        let o = (addr - LOAD) as usize;
        image[o..o + text.len()].copy_from_slice(text);
    }
    image
}

#[test]
fn multiboot_kernel_prints_and_exits() {
    let k = tmp("mb.bin");
    let out = tmp("mb-serial.txt");
    std::fs::write(&k, kernel()).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_ringvisor"))
        .args(["run", "--kernel"])
        .arg(&k)
        .args([
            "--append",
            "hello multiboot",
            "--memory",
            "64M",
            "--debug-exit",
            "0xf4",
            "--timeout",
            "20",
        ])
        .arg("--serial")
        .arg(format!("file:{}", out.display()))
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(status.code(), Some((0x21 << 1) | 1), "serial said: {text}");
    // 64 MiB of RAM: 63 MiB above 1 MiB.
    assert_eq!(text, "mb ok mem_upper=64512\nhello multiboot\n");
}
