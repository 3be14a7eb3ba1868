//! The Bochs VBE extension ("dispi"), the interface Bochs and QEMU give
//! their VGA for modes beyond the VGA's own and that SeaBIOS's VGA BIOS
//! (`vgabios-stdvga.bin`) uses to implement VESA BIOS Extensions.
//!
//! Two 16-bit ports: the index at 0x1CE and the data at 0x1CF (also at
//! 0x1D0, as on QEMU, so that a 32-bit write to 0x1CE sets index and data
//! at once). Registers:
//!
//! | index | register |
//! | --- | --- |
//! | 0 | ID: the guest writes the interface version it speaks (0xB0C0-0xB0C5); it reads back what it wrote if that version is supported |
//! | 1, 2 | XRES, YRES |
//! | 3 | BPP: 4, 8, 15, 16, 24 or 32 (0 means 8) |
//! | 4 | ENABLE: bit 0 enabled, bit 1 GETCAPS (XRES/YRES/BPP read their maxima), bit 5 8-bit DAC, bit 6 LFB, bit 7 NOCLEARMEM |
//! | 5 | BANK: the 64 KiB bank of video memory the window at 0xA0000 shows |
//! | 6, 7 | VIRT_WIDTH, VIRT_HEIGHT: the virtual screen (VIRT_HEIGHT is derived from memory) |
//! | 8, 9 | X_OFFSET, Y_OFFSET: the displayed part of the virtual screen |
//! | 10 | VIDEO_MEMORY_64K: video memory in 64 KiB units (read-only) |
//!
//! Enabling validates the geometry (resolution clipped to the maxima and
//! to video memory, unknown depths become 8 bpp), resets the virtual
//! screen to the resolution and, unless NOCLEARMEM, clears the visible
//! memory. The LFB bit is stored only: the framebuffer BAR always maps
//! video memory, and the banked window always works while enabled.
//!
//! A 4 bpp mode is planar: SeaBIOS programs the VGA for it (mode 0x6A)
//! and the VGA's planar memory serves the window, so this module does not
//! take the window over for it; the renderer draws the planes with the
//! VBE geometry ([`Vbe::planar_mode`]), as QEMU does (SeaBIOS leaves a
//! CRTC offset register that does not describe the mode). The planes are
//! the VGA's 64 KiB each, enough for 800x600 (QEMU's bank register can
//! reach further into video memory for larger 4 bpp modes; not here).

use crate::{rate_limited, size_mask};

/// The index port.
pub const INDEX_PORT: u16 = 0x1CE;
/// The data port (0x1D0 is an alias).
pub const DATA_PORT: u16 = 0x1CF;

pub const INDEX_ID: u16 = 0;
pub const INDEX_XRES: u16 = 1;
pub const INDEX_YRES: u16 = 2;
pub const INDEX_BPP: u16 = 3;
pub const INDEX_ENABLE: u16 = 4;
pub const INDEX_BANK: u16 = 5;
pub const INDEX_VIRT_WIDTH: u16 = 6;
pub const INDEX_VIRT_HEIGHT: u16 = 7;
pub const INDEX_X_OFFSET: u16 = 8;
pub const INDEX_Y_OFFSET: u16 = 9;
pub const INDEX_VIDEO_MEMORY_64K: u16 = 10;

pub const ID0: u16 = 0xB0C0;
/// The newest interface version (what QEMU implements).
pub const ID5: u16 = 0xB0C5;

pub const ENABLED: u16 = 0x01;
pub const GETCAPS: u16 = 0x02;
pub const DAC_8BIT: u16 = 0x20;
pub const LFB_ENABLED: u16 = 0x40;
pub const NOCLEARMEM: u16 = 0x80;

/// Largest resolution the interface reports (and accepts).
pub const MAX_XRES: u16 = 4096;
pub const MAX_YRES: u16 = 4096;
pub const MAX_BPP: u16 = 32;

/// Whether `port` is one of the dispi ports.
pub fn owns_port(port: u16) -> bool {
    (INDEX_PORT..=0x1D0).contains(&port)
}

/// A packed-pixel mode the display is in: what the renderer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearMode {
    pub width: u32,
    pub height: u32,
    /// 8, 15, 16, 24 or 32.
    pub bpp: u16,
    /// Bytes from one line of the virtual screen to the next.
    pub stride: usize,
    /// Byte offset in video memory of the displayed top left pixel.
    pub start: usize,
}

/// The dispi registers.
#[derive(Debug)]
pub struct Vbe {
    index: u16,
    id: u16,
    xres: u16,
    yres: u16,
    bpp: u16,
    enable: u16,
    bank: u16,
    virt_width: u16,
    virt_height: u16,
    x_offset: u16,
    y_offset: u16,
    vram_size: usize,
}

impl Vbe {
    /// The registers of a VGA with `vram_size` bytes of video memory.
    pub fn new(vram_size: usize) -> Self {
        Self {
            index: 0,
            id: ID0,
            xres: 0,
            yres: 0,
            bpp: 0,
            enable: 0,
            bank: 0,
            virt_width: 0,
            virt_height: 0,
            x_offset: 0,
            y_offset: 0,
            vram_size,
        }
    }

    /// The interface is enabled (in any depth).
    pub fn enabled(&self) -> bool {
        self.enable & ENABLED != 0
    }

    /// DAC entries are 8 bits per component (ENABLE bit 5).
    pub fn dac_8bit(&self) -> bool {
        self.enable & DAC_8BIT != 0
    }

    /// Bytes per pixel of a packed depth (4 bpp counts as half a byte).
    fn line_bytes(&self, width: u16) -> usize {
        match self.bpp {
            4 => usize::from(width) / 2,
            15 | 16 => usize::from(width) * 2,
            24 => usize::from(width) * 3,
            32 => usize::from(width) * 4,
            _ => usize::from(width),
        }
    }

    /// The packed-pixel mode being displayed, if the interface is enabled
    /// at 8 bpp or more.
    pub fn linear_mode(&self) -> Option<LinearMode> {
        if !self.enabled() || self.bpp == 4 {
            return None;
        }
        let stride = self.line_bytes(self.virt_width);
        let bytes_pp = self.line_bytes(1).max(1);
        Some(LinearMode {
            width: u32::from(self.xres),
            height: u32::from(self.yres),
            bpp: self.bpp,
            stride,
            start: usize::from(self.y_offset) * stride + usize::from(self.x_offset) * bytes_pp,
        })
    }

    /// The 4 bpp planar mode being displayed, if the interface is enabled
    /// at 4 bpp: `stride` and `start` count bytes of packed 4 bpp pixels
    /// (two per byte), so a quarter of them is the offset in each plane.
    pub fn planar_mode(&self) -> Option<LinearMode> {
        if !self.enabled() || self.bpp != 4 {
            return None;
        }
        let stride = self.line_bytes(self.virt_width);
        Some(LinearMode {
            width: u32::from(self.xres),
            height: u32::from(self.yres),
            bpp: 4,
            stride,
            start: usize::from(self.y_offset) * stride + usize::from(self.x_offset) / 2,
        })
    }

    /// Where in video memory the 64 KiB window at 0xA0000 starts, when the
    /// interface drives it (enabled, packed pixels).
    pub fn bank_base(&self) -> Option<usize> {
        self.linear_mode().map(|_| usize::from(self.bank) << 16)
    }

    fn read_data(&self) -> u16 {
        let caps = self.enable & GETCAPS != 0;
        match self.index {
            INDEX_ID => self.id,
            INDEX_XRES if caps => MAX_XRES,
            INDEX_YRES if caps => MAX_YRES,
            INDEX_BPP if caps => MAX_BPP,
            INDEX_XRES => self.xres,
            INDEX_YRES => self.yres,
            INDEX_BPP => self.bpp,
            INDEX_ENABLE => self.enable,
            INDEX_BANK => self.bank,
            INDEX_VIRT_WIDTH => self.virt_width,
            INDEX_VIRT_HEIGHT => self.virt_height,
            INDEX_X_OFFSET => self.x_offset,
            INDEX_Y_OFFSET => self.y_offset,
            INDEX_VIDEO_MEMORY_64K => (self.vram_size >> 16).min(0xFFFF) as u16,
            _ => 0,
        }
    }

    /// Write the data register. Returns how many bytes of video memory to
    /// clear when this write enabled the interface without NOCLEARMEM.
    fn write_data(&mut self, value: u16) -> Option<usize> {
        match self.index {
            INDEX_ID => {
                if (ID0..=ID5).contains(&value) {
                    self.id = value;
                }
            }
            INDEX_XRES => self.xres = value,
            INDEX_YRES => self.yres = value,
            INDEX_BPP => self.bpp = value,
            INDEX_BANK => {
                let banks = (self.vram_size >> 16).max(1);
                self.bank = (usize::from(value) % banks) as u16;
            }
            INDEX_VIRT_WIDTH => self.virt_width = value,
            INDEX_X_OFFSET => self.x_offset = value,
            INDEX_Y_OFFSET => self.y_offset = value,
            INDEX_ENABLE => {
                let was = self.enabled();
                self.enable = value & (ENABLED | GETCAPS | DAC_8BIT | LFB_ENABLED | NOCLEARMEM);
                if self.enabled() && !was {
                    self.virt_width = self.xres;
                    self.x_offset = 0;
                    self.y_offset = 0;
                    self.bank = 0;
                    self.fixup();
                    if value & NOCLEARMEM == 0 {
                        return Some(usize::from(self.yres) * self.line_bytes(self.virt_width));
                    }
                    return None;
                }
                if !self.enabled() {
                    self.bank = 0;
                }
            }
            INDEX_VIRT_HEIGHT | INDEX_VIDEO_MEMORY_64K => {}
            index => rate_limited!(debug, index, value, "write to unknown VBE register"),
        }
        if self.enabled() && self.index != INDEX_ENABLE {
            self.fixup();
        }
        None
    }

    /// Make the geometry consistent and keep the visible screen inside
    /// video memory, as QEMU does before it uses the registers.
    fn fixup(&mut self) {
        if !matches!(self.bpp, 4 | 8 | 15 | 16 | 24 | 32) {
            self.bpp = 8;
        }
        self.xres = (self.xres.min(MAX_XRES) & !7).max(8);
        self.yres = self.yres.clamp(1, MAX_YRES);
        self.virt_width = self.virt_width.clamp(self.xres, MAX_XRES.max(self.xres));
        let mut stride = self.line_bytes(self.virt_width).max(1);
        if usize::from(self.yres) * stride > self.vram_size {
            // Not even the visible screen fits: fall back to no panning
            // and as many lines as memory holds.
            self.virt_width = self.xres;
            stride = self.line_bytes(self.xres).max(1);
            let lines = self.vram_size / stride;
            self.yres = lines.clamp(1, usize::from(MAX_YRES)) as u16;
        }
        self.virt_height = (self.vram_size / stride).min(0xFFFF) as u16;
        self.x_offset = self.x_offset.min(self.virt_width - self.xres);
        let max_y = self.virt_height.saturating_sub(self.yres);
        self.y_offset = self.y_offset.min(max_y);
    }

    /// A read from one of the dispi ports.
    pub fn port_read(&mut self, port: u16, size: u8) -> u32 {
        let v = match port {
            INDEX_PORT if size == 4 => u32::from(self.index) | u32::from(self.read_data()) << 16,
            INDEX_PORT => u32::from(self.index),
            _ => u32::from(self.read_data()),
        };
        v & size_mask(size)
    }

    /// A write to one of the dispi ports. Returns how many bytes of video
    /// memory (from the start) the caller must clear: set when this write
    /// enabled the interface without NOCLEARMEM.
    pub fn port_write(&mut self, port: u16, size: u8, value: u32) -> Option<usize> {
        let value = value & size_mask(size);
        match port {
            INDEX_PORT if size == 4 => {
                self.index = value as u16;
                self.write_data((value >> 16) as u16)
            }
            INDEX_PORT => {
                self.index = value as u16;
                None
            }
            _ => self.write_data(value as u16),
        }
    }
}
