//! Multiboot v1 (the GNU Multiboot Specification 0.6.96): the header in
//! the first 8 KiB, ELF32 or a.out-kludge loading, and the information
//! structure with memory sizes, a memory map, the command line and
//! modules.

use super::{flat, layout};
use crate::e820;
use cpu::CpuState;
use cpu::state::reg;
use memory::GuestMemory;

const MAGIC: u32 = 0x1BAD_B002;
/// EAX at entry.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
const SEARCH: usize = 8192;

/// Header flags.
const PAGE_ALIGN: u32 = 1 << 0;
const MEMORY_INFO: u32 = 1 << 1;
const VIDEO_MODE: u32 = 1 << 2;
const AOUT_KLUDGE: u32 = 1 << 16;

/// Info flags.
const INFO_MEMORY: u32 = 1 << 0;
const INFO_CMDLINE: u32 = 1 << 2;
const INFO_MODS: u32 = 1 << 3;
const INFO_MMAP: u32 = 1 << 6;
const INFO_LOADER_NAME: u32 = 1 << 9;

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The offset of a valid Multiboot header, if any.
pub fn find_header(image: &[u8]) -> Option<usize> {
    (0..SEARCH.min(image.len()).saturating_sub(11)).step_by(4).find(|&o| {
        let (Some(m), Some(f), Some(c)) = (u32_at(image, o), u32_at(image, o + 4), u32_at(image, o + 8)) else {
            return false;
        };
        m == MAGIC && m.wrapping_add(f).wrapping_add(c) == 0
    })
}

/// A module to load: its bytes and its command line.
pub struct Module<'a> {
    pub data: &'a [u8],
    pub cmdline: String,
}

/// Load a Multiboot kernel and its modules; set the CPU at its entry.
pub fn load(cpu: &mut CpuState, mem: &mut GuestMemory, ram: u64, image: &[u8], cmdline: &str, modules: &[Module]) -> Result<(), String> {
    let h = find_header(image).ok_or("no Multiboot header in the first 8 KiB")?;
    let flags = u32_at(image, h + 4).unwrap_or(0);
    if flags & 0xFFFC & !(PAGE_ALIGN | MEMORY_INFO | VIDEO_MODE) != 0 {
        return Err(format!("the header requires features this loader lacks (flags {flags:#x})"));
    }
    let (entry, end) = if flags & AOUT_KLUDGE != 0 {
        load_aout(mem, ram, image, h)?
    } else {
        load_elf(mem, ram, image)?
    };

    // Modules, page-aligned after the kernel.
    let mut next = (end + 0xFFF) & !0xFFF;
    let mut mod_table = Vec::new();
    let mut strings: Vec<u8> = Vec::new();
    let strings_base = layout::MULTIBOOT_INFO + 0x1000;
    let add_string = |s: &str, strings: &mut Vec<u8>| -> u32 {
        let at = strings_base + strings.len() as u32;
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        at
    };
    for m in modules {
        let start = next;
        let stop = start + m.data.len() as u64;
        if stop > ram {
            return Err(format!("module of {} KiB does not fit in RAM", m.data.len() >> 10));
        }
        mem.write_phys(start, m.data);
        let s = add_string(&m.cmdline, &mut strings);
        mod_table.extend_from_slice(&[start as u32, stop as u32, s, 0]);
        next = (stop + 0xFFF) & !0xFFF;
    }
    let cmd_at = add_string(cmdline, &mut strings);
    let name_at = add_string("ringvisor", &mut strings);
    if strings.len() > 0x3000 {
        return Err("command lines too long".into());
    }

    // Info structure at MULTIBOOT_INFO, mmap at +0x100, modules at +0x400.
    let mut info = [0u32; 22];
    info[0] = INFO_MEMORY | INFO_CMDLINE | INFO_MMAP | INFO_LOADER_NAME | if modules.is_empty() { 0 } else { INFO_MODS };
    info[1] = (e820::EBDA >> 10) as u32;
    info[2] = ((ram - e820::HIGH) >> 10) as u32;
    info[4] = cmd_at;
    info[5] = modules.len() as u32;
    info[6] = layout::MULTIBOOT_INFO + 0x400;
    let mut mmap = Vec::new();
    for e in e820::map(ram) {
        mmap.extend_from_slice(&20u32.to_le_bytes());
        mmap.extend_from_slice(&e.addr.to_le_bytes());
        mmap.extend_from_slice(&e.size.to_le_bytes());
        mmap.extend_from_slice(&e.typ.to_le_bytes());
    }
    info[11] = mmap.len() as u32;
    info[12] = layout::MULTIBOOT_INFO + 0x100;
    info[16] = name_at;
    let info_bytes: Vec<u8> = info.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mods: Vec<u8> = mod_table.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.write_phys(layout::MULTIBOOT_INFO as u64, &info_bytes);
    mem.write_phys(layout::MULTIBOOT_INFO as u64 + 0x100, &mmap);
    mem.write_phys(layout::MULTIBOOT_INFO as u64 + 0x400, &mods);
    mem.write_phys(strings_base as u64, &strings);

    flat::enter(cpu, mem, entry);
    cpu.gpr[reg::EAX] = BOOTLOADER_MAGIC;
    cpu.gpr[reg::EBX] = layout::MULTIBOOT_INFO;
    Ok(())
}

/// a.out kludge: the header gives the load addresses. Returns (entry, end).
fn load_aout(mem: &mut GuestMemory, ram: u64, image: &[u8], h: usize) -> Result<(u32, u64), String> {
    let field = |i: usize| u32_at(image, h + 12 + 4 * i).ok_or("truncated Multiboot header");
    let (header_addr, load_addr, load_end, bss_end, entry) = (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
    if load_addr > header_addr {
        return Err("load_addr is above header_addr".into());
    }
    let file_start = (h as u64)
        .checked_sub((header_addr - load_addr) as u64)
        .ok_or("load_addr is before the start of the file")? as usize;
    let file_end = if load_end == 0 {
        image.len()
    } else {
        file_start + (load_end.checked_sub(load_addr).ok_or("load_end_addr below load_addr")?) as usize
    };
    let data = image.get(file_start..file_end).ok_or("the load range lies outside the file")?;
    let end = (load_addr as u64 + data.len() as u64).max(bss_end as u64);
    if end > ram || (load_addr as u64) < e820::HIGH {
        return Err(format!("the kernel's load range {load_addr:#x}-{end:#x} is not in RAM above 1 MiB"));
    }
    mem.write_phys(load_addr as u64, data);
    if bss_end as u64 > load_addr as u64 + data.len() as u64 {
        let start = load_addr as u64 + data.len() as u64;
        mem.write_phys(start, &vec![0; (bss_end as u64 - start) as usize]);
    }
    Ok((entry, end))
}

/// ELF32 executable: load PT_LOAD segments at their physical addresses.
fn load_elf(mem: &mut GuestMemory, ram: u64, image: &[u8]) -> Result<(u32, u64), String> {
    if image.get(0..4) != Some(b"\x7FELF") || image.get(4) != Some(&1) || image.get(5) != Some(&1) {
        return Err("neither an a.out-kludge header nor a 32-bit little-endian ELF file".into());
    }
    let u16_at = |o: usize| {
        image
            .get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]))
            .ok_or("truncated ELF header")
    };
    let u32_at = |o: usize| u32_at(image, o).ok_or("truncated ELF header");
    if u16_at(0x12)? != 3 {
        return Err("ELF machine is not i386".into());
    }
    let entry = u32_at(0x18)?;
    let phoff = u32_at(0x1C)? as usize;
    let phentsize = u16_at(0x2A)? as usize;
    let phnum = u16_at(0x2C)? as usize;
    let mut end = 0u64;
    let mut loaded = false;
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        if u32_at(p)? != 1 {
            continue;
        }
        let (offset, paddr, filesz, memsz) = (
            u32_at(p + 4)? as usize,
            u32_at(p + 12)? as u64,
            u32_at(p + 16)? as usize,
            u32_at(p + 20)? as u64,
        );
        let data = image.get(offset..offset + filesz).ok_or("an ELF segment lies outside the file")?;
        let seg_end = paddr + memsz.max(filesz as u64);
        if seg_end > ram || paddr < e820::HIGH {
            return Err(format!("ELF segment {paddr:#x}-{seg_end:#x} is not in RAM above 1 MiB"));
        }
        mem.write_phys(paddr, data);
        if memsz > filesz as u64 {
            mem.write_phys(paddr + filesz as u64, &vec![0; (memsz - filesz as u64) as usize]);
        }
        end = end.max(seg_end);
        loaded = true;
    }
    if !loaded {
        return Err("the ELF file has no loadable segment".into());
    }
    Ok((entry, end))
}
