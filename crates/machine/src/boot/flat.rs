//! The flat 32-bit protected-mode state both direct-kernel protocols
//! enter with: a GDT whose entries 2 and 3 are 4 GiB code and data
//! segments (selectors 0x10 and 0x18, as Linux's __BOOT_CS/__BOOT_DS),
//! CR0.PE set, paging and interrupts off.

use super::layout;
use cpu::CpuState;
use cpu::segment::{DescTable, Segment};
use cpu::state::sreg;
use memory::GuestMemory;
use x86::cr::cr0;
use x86::descriptor::Descriptor;

pub const CODE_SEL: u16 = 0x10;
pub const DATA_SEL: u16 = 0x18;
const CODE: u64 = 0x00CF_9B00_0000_FFFF;
const DATA: u64 = 0x00CF_9300_0000_FFFF;

/// Write the GDT and put the CPU in flat protected mode at `entry`.
pub fn enter(cpu: &mut CpuState, mem: &mut GuestMemory, entry: u32) {
    let gdt: [u64; 4] = [0, 0, CODE, DATA];
    let bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
    mem.write_phys(layout::GDT as u64, &bytes);
    *cpu = CpuState::reset();
    cpu.cr0 = cr0::PE | cr0::ET;
    cpu.gdtr = DescTable {
        base: layout::GDT,
        limit: (bytes.len() - 1) as u32,
    };
    cpu.idtr = DescTable { base: 0, limit: 0 };
    cpu.seg[sreg::CS] = Segment::from_descriptor(CODE_SEL, Descriptor::new(CODE));
    for s in [sreg::DS, sreg::ES, sreg::SS, sreg::FS, sreg::GS] {
        cpu.seg[s] = Segment::from_descriptor(DATA_SEL, Descriptor::new(DATA));
    }
    cpu.cpl = 0;
    cpu.set_eflags(0x2);
    cpu.eip = entry;
    cpu.gpr = [0; 9];
}
