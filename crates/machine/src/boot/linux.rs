//! The Linux boot protocol, 32-bit entry (Documentation/arch/x86/boot.rst):
//! the protected-mode kernel of a bzImage at 1 MiB, `boot_params` with
//! the setup header, an E820 map, the command line and the initrd.

use super::{flat, layout};
use crate::e820;
use cpu::CpuState;
use cpu::state::reg;
use memory::GuestMemory;

/// Offsets into the setup header / boot_params.
mod off {
    pub const E820_ENTRIES: usize = 0x1E8;
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const VID_MODE: usize = 0x1FA;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const INIT_SIZE: usize = 0x260;
    pub const E820_TABLE: usize = 0x2D0;
}

const LOADED_HIGH: u8 = 1;
/// The oldest protocol this loader speaks (has cmdline_size, and the
/// 32-bit entry conventions).
const MIN_VERSION: u16 = 0x0206;

/// Whether `image` looks like a bzImage (so other formats can be tried).
pub fn is_bzimage(image: &[u8]) -> bool {
    image.len() > off::HEADER + 4 && &image[off::HEADER..off::HEADER + 4] == b"HdrS"
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Load `image` with `initrd` and `cmdline` into `mem` (of `ram` bytes)
/// and set `cpu` at the 32-bit entry point. Errors describe what is wrong
/// with the image.
pub fn load(cpu: &mut CpuState, mem: &mut GuestMemory, ram: u64, image: &[u8], initrd: Option<&[u8]>, cmdline: &str) -> Result<(), String> {
    if image.len() < 0x300 || !is_bzimage(image) {
        return Err("no Linux setup header (\"HdrS\" at 0x202)".into());
    }
    if u16_at(image, off::BOOT_FLAG) != 0xAA55 {
        return Err("boot sector signature 0xAA55 missing".into());
    }
    let version = u16_at(image, off::VERSION);
    if version < MIN_VERSION {
        return Err(format!("boot protocol {}.{:02} is older than 2.06", version >> 8, version & 0xFF));
    }
    if image[off::LOADFLAGS] & LOADED_HIGH == 0 {
        return Err("not a bzImage (zImage kernels load low and are not supported)".into());
    }
    let setup_sects = match image[off::SETUP_SECTS] {
        0 => 4,
        n => n as usize,
    };
    let pm_offset = (setup_sects + 1) * 512;
    if pm_offset >= image.len() {
        return Err("the image ends inside its setup code".into());
    }
    let kernel = &image[pm_offset..];
    let init_size = if version >= 0x020A {
        u32_at(image, off::INIT_SIZE) as u64
    } else {
        0
    };
    let kernel_end = layout::KERNEL as u64 + (kernel.len() as u64).max(init_size);
    if kernel_end > ram {
        return Err(format!(
            "the kernel needs {} MiB of RAM at 1 MiB; the machine has {} MiB",
            kernel_end.div_ceil(1 << 20),
            ram >> 20
        ));
    }
    let cmdline_max = u32_at(image, off::CMDLINE_SIZE) as usize;
    if cmdline.len() > cmdline_max || cmdline.len() >= (layout::CMDLINE_MAX - layout::CMDLINE) as usize {
        return Err(format!(
            "command line of {} bytes is longer than the kernel's limit of {cmdline_max}",
            cmdline.len()
        ));
    }

    // boot_params: zeroed, with the setup header copied in.
    let mut bp = vec![0u8; 4096];
    let hdr_end = (off::JUMP + 2 + image[off::JUMP + 1] as usize).min(image.len()).min(bp.len());
    bp[off::SETUP_SECTS..hdr_end].copy_from_slice(&image[off::SETUP_SECTS..hdr_end]);
    bp[off::VID_MODE..off::VID_MODE + 2].copy_from_slice(&0xFFFFu16.to_le_bytes());
    bp[off::TYPE_OF_LOADER] = 0xFF;
    screen_info(&mut bp);
    bp[off::CMD_LINE_PTR..off::CMD_LINE_PTR + 4].copy_from_slice(&layout::CMDLINE.to_le_bytes());

    if let Some(rd) = initrd {
        let max = (u32_at(image, off::INITRD_ADDR_MAX) as u64).min(ram - 1);
        let size = rd.len() as u64;
        let addr = (max + 1)
            .checked_sub(size)
            .map(|a| a & !0xFFF)
            .filter(|&a| a >= kernel_end)
            .ok_or_else(|| {
                format!(
                    "no room for a {} KiB initrd above the kernel and below {:#x} with {} MiB of RAM",
                    size >> 10,
                    max + 1,
                    ram >> 20
                )
            })?;
        mem.write_phys(addr, rd);
        bp[off::RAMDISK_IMAGE..off::RAMDISK_IMAGE + 4].copy_from_slice(&(addr as u32).to_le_bytes());
        bp[off::RAMDISK_SIZE..off::RAMDISK_SIZE + 4].copy_from_slice(&(size as u32).to_le_bytes());
    }

    let map = e820::map(ram);
    bp[off::E820_ENTRIES] = map.len() as u8;
    for (i, e) in map.iter().enumerate() {
        let o = off::E820_TABLE + 20 * i;
        bp[o..o + 8].copy_from_slice(&e.addr.to_le_bytes());
        bp[o + 8..o + 16].copy_from_slice(&e.size.to_le_bytes());
        bp[o + 16..o + 20].copy_from_slice(&e.typ.to_le_bytes());
    }

    mem.write_phys(layout::KERNEL as u64, kernel);
    mem.write_phys(layout::BOOT_PARAMS as u64, &bp);
    let mut cl = cmdline.as_bytes().to_vec();
    cl.push(0);
    mem.write_phys(layout::CMDLINE as u64, &cl);

    flat::enter(cpu, mem, layout::KERNEL);
    cpu.gpr[reg::ESI] = layout::BOOT_PARAMS;
    Ok(())
}

/// `screen_info` (the start of `boot_params`) as a BIOS leaves it after
/// setting mode 3, which the machine puts the VGA in before a direct
/// kernel boot: an 80x25 colour text screen on a VGA, cursor at the top
/// left. Linux's vgacon then drives the screen (QEMU's -kernel gets the
/// same through SeaBIOS).
fn screen_info(bp: &mut [u8]) {
    const ORIG_VIDEO_MODE: usize = 0x06;
    const ORIG_VIDEO_COLS: usize = 0x07;
    const ORIG_VIDEO_EGA_BX: usize = 0x0A;
    const ORIG_VIDEO_LINES: usize = 0x0E;
    const ORIG_VIDEO_IS_VGA: usize = 0x0F;
    const ORIG_VIDEO_POINTS: usize = 0x10;
    /// VIDEO_TYPE_VGAC: a VGA in colour text mode.
    const VIDEO_TYPE_VGAC: u8 = 0x22;
    bp[ORIG_VIDEO_MODE] = 3;
    bp[ORIG_VIDEO_COLS] = 80;
    // EGA information (INT 10h AH=12h BL=10h): colour, 256 KiB.
    bp[ORIG_VIDEO_EGA_BX..ORIG_VIDEO_EGA_BX + 2].copy_from_slice(&3u16.to_le_bytes());
    bp[ORIG_VIDEO_LINES] = 25;
    bp[ORIG_VIDEO_IS_VGA] = VIDEO_TYPE_VGAC;
    bp[ORIG_VIDEO_POINTS..ORIG_VIDEO_POINTS + 2].copy_from_slice(&16u16.to_le_bytes());
}
