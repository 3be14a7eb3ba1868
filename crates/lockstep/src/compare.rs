//! Comparing two CPU states and two guest memories, and describing them.

use cpu::CpuState;
use cpu::state::sreg;
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use memory::GuestMemory;

const SEGS: [&str; 6] = ["ES", "CS", "SS", "DS", "FS", "GS"];
const REGS: [&str; 8] = ["EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"];

/// Every architectural difference between two states. Values are
/// compared first and formatted only when they differ: this runs after
/// every block.
pub fn states(a: &CpuState, b: &CpuState) -> Vec<String> {
    let mut d = Vec::new();
    macro_rules! cmp {
        ($name:expr, $x:expr, $y:expr, $fmt:literal) => {
            if $x != $y {
                d.push(format!(
                    concat!("{}: interpreter ", $fmt, ", recompiler ", $fmt),
                    $name, $x, $y
                ));
            }
        };
    }
    for (i, r) in REGS.iter().enumerate() {
        cmp!(r, a.gpr[i], b.gpr[i], "{:08x}");
    }
    cmp!("EIP", a.eip, b.eip, "{:08x}");
    cmp!("EFLAGS", a.eflags(), b.eflags(), "{:08x}");
    cmp!("CPL", a.cpl, b.cpl, "{}");
    cmp!("halted", a.halted, b.halted, "{}");
    cmp!("interrupt shadow", a.interrupt_shadow, b.interrupt_shadow, "{}");
    cmp!("NMI blocked", a.nmi_blocked, b.nmi_blocked, "{}");
    for (i, s) in SEGS.iter().enumerate() {
        cmp!(s, a.seg[i], b.seg[i], "{:x?}");
    }
    cmp!("LDTR", a.ldtr, b.ldtr, "{:x?}");
    cmp!("TR", a.tr, b.tr, "{:x?}");
    cmp!("GDTR", a.gdtr, b.gdtr, "{:x?}");
    cmp!("IDTR", a.idtr, b.idtr, "{:x?}");
    cmp!("CR0", a.cr0, b.cr0, "{:08x}");
    cmp!("CR2", a.cr2, b.cr2, "{:08x}");
    cmp!("CR3", a.cr3, b.cr3, "{:08x}");
    cmp!("CR4", a.cr4, b.cr4, "{:08x}");
    cmp!("DR", a.dr, b.dr, "{:x?}");
    cmp!("A20", a.a20_mask, b.a20_mask, "{:08x}");
    cmp!("MSRs", a.msr, b.msr, "{:x?}");
    cmp!("FPU", a.fpu, b.fpu, "{:x?}");
    d
}

/// Differences in guest RAM (the first few addresses).
pub fn memory(a: &GuestMemory, b: &GuestMemory) -> Vec<String> {
    let (ra, rb) = (a.ram.bytes(), b.ram.bytes());
    if ra == rb {
        return Vec::new();
    }
    let mut d = Vec::new();
    for (i, (x, y)) in ra.iter().zip(rb).enumerate() {
        if x != y {
            d.push(format!("RAM {i:#x}: interpreter {x:02x}, recompiler {y:02x}"));
            if d.len() >= 8 {
                break;
            }
        }
    }
    d
}

/// The registers of a state, readable.
pub fn dump(s: &CpuState) -> String {
    let g = &s.gpr;
    let mut out = format!(
        "  EAX={:08x} ECX={:08x} EDX={:08x} EBX={:08x} ESP={:08x} EBP={:08x} ESI={:08x} EDI={:08x}\n  EIP={:08x} EFLAGS={:08x} CPL={} CR0={:08x} CR2={:08x} CR3={:08x}\n",
        g[0],
        g[1],
        g[2],
        g[3],
        g[4],
        g[5],
        g[6],
        g[7],
        s.eip,
        s.eflags(),
        s.cpl,
        s.cr0,
        s.cr2,
        s.cr3
    );
    for (i, n) in SEGS.iter().enumerate() {
        let sg = &s.seg[i];
        out += &format!(
            "  {n}={:04x} base={:08x} limit={:08x} attr={:04x}\n",
            sg.selector,
            sg.base(),
            sg.limit(),
            sg.attr()
        );
    }
    out
}

/// The guest code at CS:EIP of `s`, disassembled (paging off: physical =
/// linear; with paging on, the bytes are looked up through the page
/// tables in `m`).
pub fn disassemble(s: &CpuState, m: &GuestMemory) -> String {
    let lin = s.seg[sreg::CS].base().wrapping_add(s.eip);
    let Some(phys) = linear_to_phys(s, m, lin) else {
        return format!("  (code at {lin:#x} is not mapped)\n");
    };
    let mut bytes = [0u8; 96];
    m.read_phys(phys as u64, &mut bytes);
    let bits = if s.code32() { 32 } else { 16 };
    let mut d = Decoder::with_ip(bits, &bytes, s.eip as u64, DecoderOptions::NONE);
    let mut f = IntelFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    for ins in d.iter().take(24) {
        text.clear();
        f.format(&ins, &mut text);
        out += &format!("  {:08x}: {text}\n", ins.ip32());
        if ins.flow_control() != iced_x86::FlowControl::Next {
            break;
        }
    }
    out
}

/// The physical address of `lin` under the page tables of `s` in `m`
/// (4 KiB and 4 MiB pages), `None` when it is not mapped.
pub fn linear_to_phys(s: &CpuState, m: &GuestMemory, lin: u32) -> Option<u32> {
    if !s.paging() {
        return Some(lin & s.a20_mask);
    }
    let rd = |a: u32| {
        let mut b = [0u8; 4];
        m.read_phys(a as u64, &mut b);
        u32::from_le_bytes(b)
    };
    let pde = rd((s.cr3 & !0xFFF) | ((lin >> 22) << 2));
    if pde & 1 == 0 {
        return None;
    }
    if pde & 0x80 != 0 && s.cr4 & x86::cr::cr4::PSE != 0 {
        return Some((pde & 0xFFC0_0000) | (lin & 0x3F_FFFF));
    }
    let pte = rd((pde & !0xFFF) | (((lin >> 12) & 0x3FF) << 2));
    (pte & 1 != 0).then_some((pte & !0xFFF) | (lin & 0xFFF))
}
