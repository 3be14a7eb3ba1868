//! A standard VGA with the Bochs VBE ("dispi") extension: what SeaBIOS's
//! `vgabios-stdvga.bin` drives on QEMU's `-vga std`.
//!
//! **Registers** (all byte-wide; word writes split as on the ISA bus, so
//! `outw 0x3C4, index | data << 8` works):
//!
//! | ports | registers |
//! | --- | --- |
//! | 0x3C0/0x3C1 | attribute controller: index and data share 0x3C0 through a flip-flop that reading input status 1 resets to "index"; 0x3C1 reads the data |
//! | 0x3C2 | misc output (write), input status 0 (read) |
//! | 0x3C4/0x3C5 | sequencer |
//! | 0x3C6-0x3C9 | DAC: pixel mask, read index (write) / DAC state (read), write index, data in 3-byte R, G, B cycles |
//! | 0x3CA / 0x3CC | feature control (read) / misc output (read) |
//! | 0x3CE/0x3CF | graphics controller |
//! | 0x3D4/0x3D5, 0x3DA | CRTC and input status 1 / feature control (write) when misc output bit 0 is set (colour) |
//! | 0x3B4/0x3B5, 0x3BA | the same when it is clear (monochrome); the other set then reads as nothing |
//! | 0x1CE, 0x1CF (0x1D0) | VBE dispi index and data (see [`vbe`]) |
//!
//! CRTC registers 0-7 are write-protected while CR11 bit 7 is set, except
//! CR07 bit 4 (line compare bit 8), as on real VGAs. Input status 1 shows
//! display-disable (bit 0) and vertical retrace (bit 3) from a 60 Hz,
//! 525-line timing on the virtual clock. Each read also moves the
//! device's view of the beam on by at least [`STATUS_READ_STEP`], so a
//! BIOS or driver loop that polls for retrace terminates even if virtual
//! time stands still between its reads.
//!
//! **Memory.** 256 KiB of planar memory (four 64 KiB planes) behind the
//! legacy window 0xA0000-0xBFFFF, decoded by the graphics controller's
//! memory map select (GR6 bits 3-2: 128 KiB at A0000, 64 KiB at A0000,
//! 32 KiB at B0000 or at B8000). The machine calls [`Vga::mmio_read`] /
//! [`Vga::mmio_write`] with the offset into the 128 KiB window
//! ([`LEGACY_BASE`], [`LEGACY_SIZE`]). Addressing follows the hardware:
//! chain-4 (SR4 bit 3: address bits 1-0 pick the plane, the plane offset
//! is the address with those bits clear, which is what the CRTC's
//! doubleword mode reads back), odd/even (SR4 bit 2 clear for writes,
//! GR5 bit 4 for reads: address bit 0 picks plane 0/1 or 2/3, the offset
//! is the address with bit 0 clear, what word mode reads back), or planar
//! (map mask SR2 for writes, read map select GR4). Every read loads the
//! four latches; read modes 0 and 1 (colour compare) and write modes 0-3
//! with set/reset, rotate, the logical operation and the bit mask are
//! those of the VGA.
//!
//! The planes live interleaved (plane offset `o`, plane `p` at byte
//! `4 * o + p`) at the start of one video memory of [`DEFAULT_VRAM_SIZE`]
//! bytes that is also the VBE linear framebuffer ([`Vga::lfb_read`],
//! [`Vga::lfb_write`], to be mapped where the guest puts BAR0 of
//! [`StdVgaPci`]) and the backing of the banked VBE window: while VBE
//! drives the display at 8 bpp or more, 0xA0000-0xAFFFF shows the 64 KiB
//! bank the BANK register selects.
//!
//! **Wiring.** The machine routes [`PORT_RANGES`] to the device's
//! [`PortIo`], the window at [`LEGACY_BASE`] to [`Vga::mmio_read`] /
//! [`Vga::mmio_write`], and (with the optional [`StdVgaPci`] function on
//! the PCI bus) the framebuffer BAR to the LFB accessors. Without a VGA
//! BIOS, [`Vga::set_standard_mode`] programs mode 3 for a kernel booted
//! directly.
//!
//! **Output.** [`Vga::text_screen`] extracts the character cells of a text
//! mode ([`TextScreen`]), [`Vga::render`] draws the current mode as RGB
//! pixels ([`Frame`], encodable as PNG), and [`terminal`] turns text
//! screens into ANSI escape sequences for a host terminal.
//!
//! Simplified or left out: the vertical retrace interrupt (IRQ 2, unused
//! by PC software), line compare (split screen) and horizontal panning in
//! the renderer, the misc output odd/even page bit, border (overscan)
//! colour, blink (blinking cells are drawn in their "on" phase), passing
//! 256-colour pixels through the attribute palette (mode 13h's palette is
//! the identity anyway), input status 0's switch sense (reads 0), the
//! VGA registers QEMU rewrites when VBE is enabled (the guest sees what
//! it last wrote; the VBE display and window do not depend on them), 4 bpp
//! VBE modes needing more than 64 KiB per plane, and dot-clock-exact
//! timing. Rendering is on demand, not per frame.

pub mod pci;
pub mod render;
pub mod terminal;
pub mod text;
pub mod vbe;

use std::ops::RangeInclusive;

use crate::{Nanos, PortIo, rate_limited, read_bytewise, write_bytewise};

pub use pci::StdVgaPci;
pub use render::{Frame, PngError};
pub use terminal::TerminalRenderer;
pub use text::{TextScreen, cp437_to_char};
use vbe::Vbe;

/// Physical address of the legacy VGA memory window.
pub const LEGACY_BASE: u64 = 0xA_0000;
/// Size of the legacy VGA memory window (0xA0000-0xBFFFF).
pub const LEGACY_SIZE: u64 = 0x2_0000;
/// Video memory of a default VGA: 16 MiB, as QEMU's stdvga.
pub const DEFAULT_VRAM_SIZE: usize = 16 << 20;
/// The planar VGA memory at the start of video memory: 4 planes of 64 KiB.
pub const PLANAR_SIZE: usize = 4 << 16;
/// The largest video memory [`Vga::with_vram_size`] accepts.
pub const MAX_VRAM_SIZE: usize = 256 << 20;

/// The I/O ports the VGA claims (the machine routes these to it).
pub const PORT_RANGES: [RangeInclusive<u16>; 2] = [0x3B0..=0x3DF, vbe::INDEX_PORT..=0x1D0];

/// Each read of input status 1 advances the VGA's view of the beam by at
/// least this much, so polling loops finish even on a frozen clock.
pub const STATUS_READ_STEP: Nanos = 250;

/// 640x480 at 60 Hz: 525 lines of 800 dots at 25.175 MHz.
const LINE_NS: u64 = 31_778;
const LINES_PER_FRAME: u64 = 525;
const FRAME_NS: u64 = LINE_NS * LINES_PER_FRAME;
/// Lines 480-524 are vertical blank; the sync pulse is lines 490-491.
const VBLANK_START: u64 = 480;
const VRETRACE: std::ops::Range<u64> = 490..492;
/// The last 160 of 800 dots of each line are horizontal blank.
const HBLANK_NS: u64 = LINE_NS * 160 / 800;

/// Input status 1: display disabled (blanking), vertical retrace.
const ST1_DISPLAY_DISABLED: u8 = 0x01;
const ST1_VRETRACE: u8 = 0x08;

/// Writable bits of the sequencer registers SR0-SR4 (5-7 do not exist).
const SEQ_MASK: [u8; 8] = [0x03, 0x3D, 0x0F, 0x3F, 0x0E, 0, 0, 0];
/// Writable bits of the graphics controller registers GR0-GR8.
const GC_MASK: [u8; 9] = [0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF];
/// Writable bits of the attribute controller registers AR00-AR14.
const ATTR_MASK: [u8; 0x15] = [
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0xEF, 0xFF, 0x3F, 0x0F, 0x0F,
];
/// Number of CRTC registers (CR00-CR18).
const CRTC_REGS: usize = 0x19;

/// Sequencer register indices.
pub mod seq {
    pub const RESET: usize = 0;
    pub const CLOCKING: usize = 1;
    pub const MAP_MASK: usize = 2;
    pub const CHAR_MAP: usize = 3;
    pub const MEMORY_MODE: usize = 4;
}

/// Graphics controller register indices.
pub mod gc {
    pub const SET_RESET: usize = 0;
    pub const ENABLE_SET_RESET: usize = 1;
    pub const COLOR_COMPARE: usize = 2;
    pub const DATA_ROTATE: usize = 3;
    pub const READ_MAP: usize = 4;
    pub const MODE: usize = 5;
    pub const MISC: usize = 6;
    pub const COLOR_DONT_CARE: usize = 7;
    pub const BIT_MASK: usize = 8;
}

/// CRTC register indices.
pub mod crtc {
    pub const H_DISPLAY_END: usize = 0x01;
    pub const OVERFLOW: usize = 0x07;
    pub const MAX_SCAN_LINE: usize = 0x09;
    pub const CURSOR_START: usize = 0x0A;
    pub const CURSOR_END: usize = 0x0B;
    pub const START_HIGH: usize = 0x0C;
    pub const START_LOW: usize = 0x0D;
    pub const CURSOR_HIGH: usize = 0x0E;
    pub const CURSOR_LOW: usize = 0x0F;
    pub const V_RETRACE_END: usize = 0x11;
    pub const V_DISPLAY_END: usize = 0x12;
    pub const OFFSET: usize = 0x13;
    pub const UNDERLINE: usize = 0x14;
    pub const MODE: usize = 0x17;
    pub const LINE_COMPARE: usize = 0x18;
}

/// Attribute controller register indices beyond the 16 palette entries.
pub mod attr {
    pub const MODE: usize = 0x10;
    pub const OVERSCAN: usize = 0x11;
    pub const PLANE_ENABLE: usize = 0x12;
    pub const PANNING: usize = 0x13;
    pub const COLOR_SELECT: usize = 0x14;
}

/// How the CRTC turns its memory address counter into a plane offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddressMode {
    Byte,
    Word,
    DoubleWord,
}

/// The VGA (with VBE), its video memory and its register files.
pub struct Vga {
    vram: Vec<u8>,
    latch: [u8; 4],
    misc: u8,
    feature: u8,
    seq_index: u8,
    seq: [u8; 8],
    crtc_index: u8,
    crtc: [u8; CRTC_REGS],
    gc_index: u8,
    gc: [u8; 9],
    attr_index: u8,
    /// The attribute flip-flop: `true` when the next 0x3C0 write is data.
    attr_data_next: bool,
    attr: [u8; 0x15],
    pel_mask: u8,
    /// 256 entries of R, G, B (6 bits each, 8 with the VBE 8-bit DAC).
    dac: [u8; 768],
    dac_read_index: u8,
    dac_write_index: u8,
    /// Which of R, G, B the next data access touches.
    dac_step: u8,
    /// The last index written was the read index (DAC state reads 3).
    dac_reading: bool,
    /// Where the beam is, as far as status reads have seen it.
    beam_clock: Nanos,
    vbe: Vbe,
}

impl std::fmt::Debug for Vga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vga")
            .field("vram_size", &self.vram.len())
            .field("misc", &format_args!("{:#04x}", self.misc))
            .field("seq", &self.seq)
            .field("crtc", &self.crtc)
            .field("gc", &self.gc)
            .field("attr", &self.attr)
            .field("vbe", &self.vbe)
            .finish_non_exhaustive()
    }
}

impl Default for Vga {
    fn default() -> Self {
        Self::new()
    }
}

impl Vga {
    /// A VGA with [`DEFAULT_VRAM_SIZE`] of video memory, in its power-on
    /// state (all registers zero: the VGA BIOS programs a mode).
    pub fn new() -> Self {
        Self::with_vram_size(DEFAULT_VRAM_SIZE)
    }

    /// A VGA with `bytes` of video memory, rounded up to a power of two
    /// (a PCI BAR must be one) and kept between 256 KiB and
    /// [`MAX_VRAM_SIZE`].
    pub fn with_vram_size(bytes: usize) -> Self {
        let size = bytes.clamp(PLANAR_SIZE, MAX_VRAM_SIZE).next_power_of_two();
        Self {
            vram: vec![0; size],
            latch: [0; 4],
            misc: 0,
            feature: 0,
            seq_index: 0,
            seq: [0; 8],
            crtc_index: 0,
            crtc: [0; CRTC_REGS],
            gc_index: 0,
            gc: [0; 9],
            attr_index: 0,
            attr_data_next: false,
            attr: [0; 0x15],
            pel_mask: 0xFF,
            dac: [0; 768],
            dac_read_index: 0,
            dac_write_index: 0,
            dac_step: 0,
            dac_reading: false,
            beam_clock: 0,
            vbe: Vbe::new(size),
        }
    }

    /// Back to the power-on register state (system reset). Video memory
    /// keeps its contents, as on real hardware.
    pub fn reset(&mut self) {
        let vram = std::mem::take(&mut self.vram);
        *self = Self {
            vbe: Vbe::new(vram.len()),
            vram,
            ..Self::with_vram_size(PLANAR_SIZE)
        };
    }

    /// Size of video memory: the size of the linear framebuffer BAR.
    pub fn vram_size(&self) -> usize {
        self.vram.len()
    }

    /// Video memory as the linear framebuffer sees it.
    pub fn vram(&self) -> &[u8] {
        &self.vram
    }

    /// Byte `offset` (0-0xFFFF) of plane `plane` (0-3), for tests and
    /// debuggers.
    pub fn plane_byte(&self, plane: usize, offset: usize) -> u8 {
        self.vram[(offset & 0xFFFF) * 4 + (plane & 3)]
    }

    /// The four latches, plane 0 first.
    pub fn latches(&self) -> [u8; 4] {
        self.latch
    }

    /// Sequencer register `index` (0-7).
    pub fn seq_reg(&self, index: usize) -> u8 {
        self.seq[index & 7]
    }

    /// CRTC register `index` (0-0x18; others read 0).
    pub fn crtc_reg(&self, index: usize) -> u8 {
        self.crtc.get(index).copied().unwrap_or(0)
    }

    /// Graphics controller register `index` (0-8; others read 0).
    pub fn gc_reg(&self, index: usize) -> u8 {
        self.gc.get(index).copied().unwrap_or(0)
    }

    /// Attribute controller register `index` (0-0x14; others read 0).
    pub fn attr_reg(&self, index: usize) -> u8 {
        self.attr.get(index).copied().unwrap_or(0)
    }

    /// The misc output register.
    pub fn misc_output(&self) -> u8 {
        self.misc
    }

    /// DAC entry `index` as stored (6-bit components unless the VBE 8-bit
    /// DAC is on).
    pub fn dac_entry(&self, index: u8) -> [u8; 3] {
        let i = usize::from(index) * 3;
        [self.dac[i], self.dac[i + 1], self.dac[i + 2]]
    }

    /// Whether the VBE extension drives the display (and the banked
    /// window) instead of the VGA.
    pub fn vbe_active(&self) -> bool {
        self.vbe.linear_mode().is_some()
    }

    /// The VBE registers (for the machine's diagnostics).
    pub fn vbe(&self) -> &Vbe {
        &self.vbe
    }

    /// The CRTC registers answer at 0x3Dx (colour) rather than 0x3Bx.
    fn color_ports(&self) -> bool {
        self.misc & 0x01 != 0
    }

    // ---------------------------------------------------------------
    // Port I/O
    // ---------------------------------------------------------------

    fn read_u8(&mut self, port: u16, now: Nanos) -> u8 {
        let color = self.color_ports();
        match port {
            0x3C0 => self.attr_index,
            0x3C1 => self.attr.get(usize::from(self.attr_index & 0x1F)).copied().unwrap_or(0),
            // Input status 0: no switch sense, no CRT interrupt.
            0x3C2 => 0x00,
            0x3C4 => self.seq_index,
            0x3C5 => self.seq[usize::from(self.seq_index & 7)],
            0x3C6 => self.pel_mask,
            0x3C7 => {
                if self.dac_reading {
                    0x03
                } else {
                    0x00
                }
            }
            0x3C8 => self.dac_write_index,
            0x3C9 => self.dac_read(),
            0x3CA => self.feature,
            0x3CC => self.misc,
            0x3CE => self.gc_index,
            0x3CF => self.gc.get(usize::from(self.gc_index)).copied().unwrap_or(0),
            0x3B4 if !color => self.crtc_index,
            0x3D4 if color => self.crtc_index,
            0x3B5 if !color => self.crtc_read(),
            0x3D5 if color => self.crtc_read(),
            0x3BA if !color => self.input_status_1(now),
            0x3DA if color => self.input_status_1(now),
            _ => 0xFF,
        }
    }

    fn write_u8(&mut self, port: u16, value: u8) {
        let color = self.color_ports();
        match port {
            0x3C0 => self.attr_write(value),
            0x3C2 => self.misc = value,
            0x3C4 => self.seq_index = value,
            0x3C5 => {
                let i = usize::from(self.seq_index & 7);
                self.seq[i] = value & SEQ_MASK[i];
            }
            0x3C6 => self.pel_mask = value,
            0x3C7 => {
                self.dac_read_index = value;
                self.dac_step = 0;
                self.dac_reading = true;
            }
            0x3C8 => {
                self.dac_write_index = value;
                self.dac_step = 0;
                self.dac_reading = false;
            }
            0x3C9 => self.dac_write(value),
            0x3CE => self.gc_index = value,
            0x3CF => {
                let i = usize::from(self.gc_index);
                if let Some(reg) = self.gc.get_mut(i) {
                    *reg = value & GC_MASK[i];
                }
            }
            0x3B4 if !color => self.crtc_index = value,
            0x3D4 if color => self.crtc_index = value,
            0x3B5 if !color => self.crtc_write(value),
            0x3D5 if color => self.crtc_write(value),
            0x3BA if !color => self.feature = value,
            0x3DA if color => self.feature = value,
            // 0x3C1 is read-only on the VGA; 0x3C3 (video subsystem
            // enable) and the unused ports take writes without effect.
            0x3C1 | 0x3C3 => {}
            _ => rate_limited!(debug, port, value, "VGA write to a port of the inactive CRTC set or an unused port"),
        }
    }

    fn attr_write(&mut self, value: u8) {
        if self.attr_data_next {
            let i = usize::from(self.attr_index & 0x1F);
            if let Some(reg) = self.attr.get_mut(i) {
                *reg = value & ATTR_MASK[i];
            }
        } else {
            self.attr_index = value & 0x3F;
        }
        self.attr_data_next = !self.attr_data_next;
    }

    fn crtc_read(&self) -> u8 {
        self.crtc.get(usize::from(self.crtc_index)).copied().unwrap_or(0xFF)
    }

    fn crtc_write(&mut self, value: u8) {
        let i = usize::from(self.crtc_index);
        if i >= CRTC_REGS {
            return;
        }
        let protected = self.crtc[crtc::V_RETRACE_END] & 0x80 != 0;
        if protected && i <= 7 {
            // CR07 bit 4 (line compare bit 8) stays writable.
            if i == crtc::OVERFLOW {
                self.crtc[i] = (self.crtc[i] & !0x10) | (value & 0x10);
            }
            return;
        }
        self.crtc[i] = value;
    }

    fn dac_read(&mut self) -> u8 {
        let i = usize::from(self.dac_read_index) * 3 + usize::from(self.dac_step);
        let v = self.dac[i];
        self.dac_step += 1;
        if self.dac_step == 3 {
            self.dac_step = 0;
            self.dac_read_index = self.dac_read_index.wrapping_add(1);
        }
        v
    }

    fn dac_write(&mut self, value: u8) {
        let i = usize::from(self.dac_write_index) * 3 + usize::from(self.dac_step);
        self.dac[i] = if self.vbe.dac_8bit() { value } else { value & 0x3F };
        self.dac_step += 1;
        if self.dac_step == 3 {
            self.dac_step = 0;
            self.dac_write_index = self.dac_write_index.wrapping_add(1);
        }
    }

    /// Input status 1; reading it resets the attribute flip-flop.
    fn input_status_1(&mut self, now: Nanos) -> u8 {
        self.attr_data_next = false;
        let t = now.max(self.beam_clock.saturating_add(STATUS_READ_STEP));
        self.beam_clock = t;
        let in_frame = t % FRAME_NS;
        let line = in_frame / LINE_NS;
        let in_line = in_frame % LINE_NS;
        let mut v = 0;
        if line >= VBLANK_START || in_line >= LINE_NS - HBLANK_NS {
            v |= ST1_DISPLAY_DISABLED;
        }
        if VRETRACE.contains(&line) {
            v |= ST1_VRETRACE;
        }
        v
    }

    // ---------------------------------------------------------------
    // The legacy memory window
    // ---------------------------------------------------------------

    /// Read `size` bytes (1-8; little-endian, one VGA access per byte) at
    /// `offset` into the legacy window ([`LEGACY_BASE`]). Offsets the
    /// memory map select does not decode read as all ones.
    pub fn mmio_read(&mut self, offset: u64, size: u8) -> u64 {
        let mut value = 0u64;
        for i in 0..mmio_len(size) {
            let b = self.legacy_read_u8(offset.wrapping_add(i as u64));
            value |= u64::from(b) << (8 * i);
        }
        value
    }

    /// Write `size` bytes (1-8; little-endian, one VGA access per byte) at
    /// `offset` into the legacy window.
    pub fn mmio_write(&mut self, offset: u64, size: u8, value: u64) {
        for i in 0..mmio_len(size) {
            self.legacy_write_u8(offset.wrapping_add(i as u64), (value >> (8 * i)) as u8);
        }
    }

    /// The address inside the window that GR6's memory map select
    /// decodes for `offset` (relative to the start of the selected range),
    /// if it decodes it at all.
    fn decode(&self, offset: u64) -> Option<usize> {
        let (start, len) = match (self.gc[gc::MISC] >> 2) & 3 {
            0 => (0, 0x2_0000),
            1 => (0, 0x1_0000),
            2 => (0x1_0000, 0x8000),
            _ => (0x1_8000, 0x8000),
        };
        let rel = offset.checked_sub(start)?;
        (rel < len).then_some(rel as usize)
    }

    fn legacy_read_u8(&mut self, offset: u64) -> u8 {
        if let Some(bank) = self.vbe.bank_base() {
            return bank_offset(bank, offset).and_then(|i| self.vram.get(i)).copied().unwrap_or(0xFF);
        }
        let Some(addr) = self.decode(offset) else {
            return 0xFF;
        };
        let (offset, plane) = if self.seq[seq::MEMORY_MODE] & 0x08 != 0 {
            (addr & 0xFFFC, addr & 3)
        } else if self.gc[gc::MODE] & 0x10 != 0 {
            (addr & 0xFFFE, usize::from(self.gc[gc::READ_MAP] & 2) | (addr & 1))
        } else {
            (addr & 0xFFFF, usize::from(self.gc[gc::READ_MAP] & 3))
        };
        let i = offset * 4;
        self.latch.copy_from_slice(&self.vram[i..i + 4]);
        if self.gc[gc::MODE] & 0x08 == 0 {
            return self.latch[plane];
        }
        // Read mode 1: a 1 for each pixel whose colour, in the planes
        // that matter, equals the colour compare register.
        let mut result = 0xFF;
        for (p, &latch) in self.latch.iter().enumerate() {
            if self.gc[gc::COLOR_DONT_CARE] >> p & 1 != 0 {
                result &= !(latch ^ expand(self.gc[gc::COLOR_COMPARE] >> p));
            }
        }
        result
    }

    fn legacy_write_u8(&mut self, offset: u64, value: u8) {
        if let Some(bank) = self.vbe.bank_base() {
            if let Some(b) = bank_offset(bank, offset).and_then(|i| self.vram.get_mut(i)) {
                *b = value;
            }
            return;
        }
        let Some(addr) = self.decode(offset) else {
            return;
        };
        let mode = self.seq[seq::MEMORY_MODE];
        let (offset, planes) = if mode & 0x08 != 0 {
            (addr & 0xFFFC, 1u8 << (addr & 3))
        } else if mode & 0x04 == 0 {
            (addr & 0xFFFE, if addr & 1 != 0 { 0b1010 } else { 0b0101 })
        } else {
            (addr & 0xFFFF, 0b1111)
        };
        let planes = planes & self.seq[seq::MAP_MASK];
        let data = self.write_data(value);
        for (p, &d) in data.iter().enumerate() {
            if planes >> p & 1 != 0 {
                self.vram[offset * 4 + p] = d;
            }
        }
    }

    /// What the graphics controller's write mode makes of a CPU byte, per
    /// plane (before the map mask).
    fn write_data(&self, value: u8) -> [u8; 4] {
        let g = &self.gc;
        let mode = g[gc::MODE] & 3;
        if mode == 1 {
            return self.latch;
        }
        let rotated = value.rotate_right(u32::from(g[gc::DATA_ROTATE] & 7));
        let mut bit_mask = g[gc::BIT_MASK];
        let mut data = [0u8; 4];
        for (p, d) in data.iter_mut().enumerate() {
            *d = match mode {
                0 if g[gc::ENABLE_SET_RESET] >> p & 1 != 0 => expand(g[gc::SET_RESET] >> p),
                0 => rotated,
                2 => expand(value >> p),
                _ => expand(g[gc::SET_RESET] >> p),
            };
        }
        if mode == 3 {
            bit_mask &= rotated;
        }
        for (d, &latch) in data.iter_mut().zip(&self.latch) {
            let alu = match (g[gc::DATA_ROTATE] >> 3) & 3 {
                0 => *d,
                1 => *d & latch,
                2 => *d | latch,
                _ => *d ^ latch,
            };
            *d = (alu & bit_mask) | (latch & !bit_mask);
        }
        data
    }

    // ---------------------------------------------------------------
    // The linear framebuffer
    // ---------------------------------------------------------------

    /// Read `size` bytes (1-8, little-endian) at `offset` into the linear
    /// framebuffer (video memory, [`Vga::vram_size`] bytes: the PCI BAR).
    /// Bytes past the end read as all ones.
    pub fn lfb_read(&self, offset: u64, size: u8) -> u64 {
        let mut value = 0u64;
        for i in 0..mmio_len(size) {
            let b = usize::try_from(offset.wrapping_add(i as u64))
                .ok()
                .and_then(|o| self.vram.get(o))
                .copied()
                .unwrap_or(0xFF);
            value |= u64::from(b) << (8 * i);
        }
        value
    }

    /// Write `size` bytes (1-8, little-endian) at `offset` into the linear
    /// framebuffer; bytes past the end are dropped.
    pub fn lfb_write(&mut self, offset: u64, size: u8, value: u64) {
        for i in 0..mmio_len(size) {
            if let Some(b) = usize::try_from(offset.wrapping_add(i as u64))
                .ok()
                .and_then(|o| self.vram.get_mut(o))
            {
                *b = (value >> (8 * i)) as u8;
            }
        }
    }

    // ---------------------------------------------------------------
    // Display geometry, shared by the text extractor and the renderer
    // ---------------------------------------------------------------

    /// Graphics mode (GR6 bit 0) rather than alphanumeric.
    fn graphics_mode(&self) -> bool {
        self.gc[gc::MISC] & 0x01 != 0
    }

    /// Character clocks per line.
    fn display_columns(&self) -> usize {
        usize::from(self.crtc[crtc::H_DISPLAY_END]) + 1
    }

    /// Scan lines the CRTC displays (vertical display end + 1).
    fn display_lines(&self) -> usize {
        let c = &self.crtc;
        let vde =
            usize::from(c[crtc::V_DISPLAY_END]) | usize::from(c[crtc::OVERFLOW] & 0x02) << 7 | usize::from(c[crtc::OVERFLOW] & 0x40) << 3;
        vde + 1
    }

    /// Scan lines per character row (max scan line + 1).
    fn char_height(&self) -> usize {
        usize::from(self.crtc[crtc::MAX_SCAN_LINE] & 0x1F) + 1
    }

    /// Each scan line is shown twice (CR09 bit 7).
    fn double_scan(&self) -> bool {
        self.crtc[crtc::MAX_SCAN_LINE] & 0x80 != 0
    }

    fn start_address(&self) -> u32 {
        u32::from(self.crtc[crtc::START_HIGH]) << 8 | u32::from(self.crtc[crtc::START_LOW])
    }

    /// Memory address counter units from one character row to the next.
    fn row_stride(&self) -> u32 {
        u32::from(self.crtc[crtc::OFFSET]) * 2
    }

    fn address_mode(&self) -> AddressMode {
        if self.crtc[crtc::UNDERLINE] & 0x40 != 0 {
            AddressMode::DoubleWord
        } else if self.crtc[crtc::MODE] & 0x40 != 0 {
            AddressMode::Byte
        } else {
            AddressMode::Word
        }
    }

    /// The plane offset the CRTC fetches for memory address `ma`.
    fn crtc_address(&self, ma: u32) -> usize {
        self.crtc_address_in(self.address_mode(), ma)
    }

    /// The plane offset for memory address `ma` in address mode `mode`.
    fn crtc_address_in(&self, mode: AddressMode, ma: u32) -> usize {
        let out = match mode {
            AddressMode::Byte => ma,
            AddressMode::Word => {
                let bit = if self.crtc[crtc::MODE] & 0x20 != 0 { 15 } else { 13 };
                (ma << 1) | ((ma >> bit) & 1)
            }
            AddressMode::DoubleWord => ma << 2,
        };
        (out & 0xFFFF) as usize
    }

    /// The four plane bytes at plane offset `offset`.
    fn planes_at(&self, offset: usize) -> [u8; 4] {
        let i = (offset & 0xFFFF) * 4;
        [self.vram[i], self.vram[i + 1], self.vram[i + 2], self.vram[i + 3]]
    }

    /// A DAC entry as 8-bit RGB, through the pixel mask.
    fn dac_rgb(&self, index: u8) -> [u8; 3] {
        let i = usize::from(index & self.pel_mask) * 3;
        let c = [self.dac[i], self.dac[i + 1], self.dac[i + 2]];
        if self.vbe.dac_8bit() {
            c
        } else {
            c.map(|v| (v & 0x3F) << 2 | (v & 0x3F) >> 4)
        }
    }

    /// A 4-bit colour through the attribute controller's palette: the DAC
    /// index it selects.
    fn attr_color(&self, color: u8) -> u8 {
        let a = &self.attr;
        let mut v = a[usize::from(color & 0x0F)];
        if a[attr::MODE] & 0x80 != 0 {
            v = (v & 0x0F) | (a[attr::COLOR_SELECT] & 0x03) << 4;
        }
        (v & 0x3F) | (a[attr::COLOR_SELECT] & 0x0C) << 4
    }

    /// Whether the display shows anything: the screen-off bit (SR1 bit 5)
    /// and the palette address source (AR index bit 5, clear while the
    /// palette is being loaded) both blank it.
    fn display_enabled(&self) -> bool {
        self.seq[seq::CLOCKING] & 0x20 == 0 && self.attr_index & 0x20 != 0
    }

    // ---------------------------------------------------------------
    // Mode set-up without a BIOS
    // ---------------------------------------------------------------

    /// Program the registers (and the 64-colour EGA palette in the DAC)
    /// for a standard mode, as the VGA BIOS would, without loading a font
    /// or clearing memory: for a machine that boots a kernel directly
    /// and for tests.
    pub fn set_standard_mode(&mut self, mode: StandardMode) {
        let t = mode.table();
        self.write_u8(0x3C2, t.misc);
        // Unlock CR0-7 first.
        self.crtc[crtc::V_RETRACE_END] &= 0x7F;
        self.seq[seq::RESET] = 0x03;
        for (i, &v) in t.seq.iter().enumerate() {
            self.seq[i + 1] = v & SEQ_MASK[i + 1];
        }
        self.crtc.copy_from_slice(&t.crtc);
        for (i, &v) in t.attr.iter().enumerate() {
            self.attr[i] = v & ATTR_MASK[i];
        }
        self.attr[attr::COLOR_SELECT] = 0;
        for (i, &v) in t.gc.iter().enumerate() {
            self.gc[i] = v & GC_MASK[i];
        }
        self.attr_index = 0x20;
        self.attr_data_next = false;
        self.pel_mask = 0xFF;
        for i in 0..64usize {
            let c = |primary: usize, secondary: usize| (((i >> primary) & 1) * 0x2A + ((i >> secondary) & 1) * 0x15) as u8;
            self.dac[i * 3..i * 3 + 3].copy_from_slice(&[c(2, 5), c(1, 4), c(0, 3)]);
        }
        if mode == StandardMode::Graphics320x200x256 {
            // The default 256-colour palette starts with the 16 CGA
            // colours, as a BIOS loads it.
            for (i, rgb) in text::CGA_PALETTE.iter().enumerate() {
                self.dac[i * 3..i * 3 + 3].copy_from_slice(&rgb.map(|v| v >> 2));
            }
        }
    }
}

/// Standard VGA modes [`Vga::set_standard_mode`] can program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandardMode {
    /// Mode 3: 80x25 text, 9x16 cells, 720x400.
    Text80x25,
    /// Mode 12h: 640x480, 16 colours, planar.
    Graphics640x480x16,
    /// Mode 13h: 320x200, 256 colours, chain-4.
    Graphics320x200x256,
}

/// One mode's register values.
struct ModeTable {
    misc: u8,
    /// SR1-SR4.
    seq: [u8; 4],
    crtc: [u8; CRTC_REGS],
    /// AR00-AR13.
    attr: [u8; 0x14],
    gc: [u8; 9],
}

impl StandardMode {
    /// The register values of the IBM VGA BIOS for the mode.
    fn table(self) -> ModeTable {
        const EGA_ATTR: [u8; 16] = [
            0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
        ];
        let attr_with = |tail: [u8; 4], identity: bool| {
            let mut a = [0u8; 0x14];
            for (i, v) in a.iter_mut().take(16).enumerate() {
                *v = if identity { i as u8 } else { EGA_ATTR[i] };
            }
            a[16..].copy_from_slice(&tail);
            a
        };
        match self {
            StandardMode::Text80x25 => ModeTable {
                misc: 0x67,
                seq: [0x00, 0x03, 0x00, 0x02],
                crtc: [
                    0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28,
                    0x1F, 0x96, 0xB9, 0xA3, 0xFF,
                ],
                attr: attr_with([0x0C, 0x00, 0x0F, 0x08], false),
                gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x0F, 0xFF],
            },
            StandardMode::Graphics640x480x16 => ModeTable {
                misc: 0xE3,
                seq: [0x01, 0x0F, 0x00, 0x06],
                crtc: [
                    0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0x0B, 0x3E, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xEA, 0x8C, 0xDF, 0x28,
                    0x00, 0xE7, 0x04, 0xE3, 0xFF,
                ],
                attr: attr_with([0x01, 0x00, 0x0F, 0x00], false),
                gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF],
            },
            StandardMode::Graphics320x200x256 => ModeTable {
                misc: 0x63,
                seq: [0x01, 0x0F, 0x00, 0x0E],
                crtc: [
                    0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28,
                    0x40, 0x96, 0xB9, 0xA3, 0xFF,
                ],
                attr: attr_with([0x41, 0x00, 0x0F, 0x00], true),
                gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0F, 0xFF],
            },
        }
    }
}

impl PortIo for Vga {
    fn port_read(&mut self, port: u16, size: u8, now: Nanos) -> u32 {
        if vbe::owns_port(port) {
            return self.vbe.port_read(port, size);
        }
        read_bytewise(port, size, |p| self.read_u8(p, now))
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, _now: Nanos) {
        if vbe::owns_port(port) {
            if let Some(clear) = self.vbe.port_write(port, size, value) {
                let end = clear.min(self.vram.len());
                self.vram[..end].fill(0);
            }
            return;
        }
        write_bytewise(port, size, value, |p, v| self.write_u8(p, v));
    }
}

/// A byte repeated across all 8 bits from its bit 0: how the VGA turns a
/// set/reset or colour bit into a plane byte.
#[inline]
fn expand(bit: u8) -> u8 {
    if bit & 1 != 0 { 0xFF } else { 0x00 }
}

/// Where in video memory the VBE bank window puts window offset `offset`:
/// the window is 0xA0000-0xAFFFF whatever GR6 says (QEMU reprograms GR6
/// that way when VBE is enabled).
#[inline]
fn bank_offset(bank: usize, offset: u64) -> Option<usize> {
    (offset < 0x1_0000).then(|| bank + offset as usize)
}

/// Bytes an MMIO access of `size` covers: 1 to 8.
#[inline]
fn mmio_len(size: u8) -> usize {
    usize::from(size.clamp(1, 8))
}

#[cfg(test)]
mod tests;
