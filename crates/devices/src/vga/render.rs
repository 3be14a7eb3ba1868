//! Drawing the display as RGB pixels, for screenshots and graphical
//! front ends.
//!
//! [`Vga::render`] follows what the hardware would scan out:
//! - **text modes** with the font the VGA BIOS loaded into plane 2 (so no
//!   font is built in: a screen that no BIOS prepared draws the cells'
//!   colours without glyphs), 8 or 9 dots per character (the ninth
//!   repeats the eighth for the line-drawing characters 0xC0-0xDF when
//!   the attribute mode control asks for it), two character sets through
//!   the character map select, underline, the cursor, and doubled dots
//!   for the 40-column modes;
//! - **VGA graphics**: 16-colour planar (modes 0Dh-12h), CGA-compatible
//!   2 bpp interleaved (modes 4/5) and 1 bpp (mode 6) with the CRTC's
//!   scan-line address substitution, and 256 colours (mode 13h, and
//!   unchained "mode X" variants), through the attribute palette and the
//!   DAC;
//! - **VBE** packed modes of 8 (through the DAC), 15, 16, 24 and 32 bpp.
//!
//! Graphics modes are drawn at their logical resolution (mode 13h is
//! 320x200, each line once, not the 640x400 the monitor sees).

use super::vbe::LinearMode;
use super::{AddressMode, Vga, attr, crtc, gc, seq};

/// The largest frame [`Vga::render`] produces in either direction; the
/// registers cannot describe more, this is a safety net.
const MAX_DIMENSION: usize = 8192;

/// Pixels as 8-bit RGB, row by row, top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

/// Why a PNG could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("the frame is empty")]
    Empty,
    #[error(transparent)]
    Encoding(#[from] png::EncodingError),
}

impl Frame {
    /// A black frame.
    pub fn black(width: usize, height: usize) -> Self {
        let width = width.min(MAX_DIMENSION);
        let height = height.min(MAX_DIMENSION);
        Self {
            width,
            height,
            rgb: vec![0; width * height * 3],
        }
    }

    /// The pixel at (`x`, `y`).
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y * self.width + x) * 3;
        Some([self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]])
    }

    fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.rgb[i..i + 3].copy_from_slice(&rgb);
        }
    }

    /// The frame as a PNG file (8-bit RGB).
    pub fn to_png(&self) -> Result<Vec<u8>, PngError> {
        if self.width == 0 || self.height == 0 {
            return Err(PngError::Empty);
        }
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.rgb)?;
            writer.finish()?;
        }
        Ok(out)
    }
}

impl Vga {
    /// Draw what the display shows now.
    pub fn render(&self) -> Frame {
        if let Some(mode) = self.vbe.linear_mode() {
            return self.render_linear(&mode);
        }
        let mut frame = if self.graphics_mode() {
            self.render_graphics()
        } else {
            self.render_text()
        };
        if !self.display_enabled() {
            frame.rgb.fill(0);
        }
        frame
    }

    /// The offset in plane 2 of character set `select` (0-7) of the
    /// character map select register.
    fn font_base(select: u8) -> usize {
        const BASES: [usize; 8] = [0x0000, 0x4000, 0x8000, 0xC000, 0x2000, 0x6000, 0xA000, 0xE000];
        BASES[usize::from(select & 7)]
    }

    fn render_text(&self) -> Frame {
        let cols = self.display_columns();
        let dots = if self.seq[seq::CLOCKING] & 0x01 != 0 { 8 } else { 9 };
        let wide = self.seq[seq::CLOCKING] & 0x08 != 0;
        let cell_width = dots << usize::from(wide);
        let double = usize::from(self.double_scan());
        let lines = self.display_lines();
        let height = self.char_height();
        let mut frame = Frame::black(cols * cell_width, lines);
        let Some(screen) = self.text_screen() else {
            return frame;
        };
        let sr3 = self.seq[seq::CHAR_MAP];
        let map_a = Self::font_base((sr3 >> 5 & 1) << 2 | (sr3 >> 2 & 3));
        let map_b = Self::font_base((sr3 >> 4 & 1) << 2 | (sr3 & 3));
        let mode = self.attr[attr::MODE];
        let line_graphics = mode & 0x04 != 0;
        let underline = usize::from(self.crtc[crtc::UNDERLINE] & 0x1F);
        let cursor = screen.cursor.zip(self.cursor_lines());
        let palette: Vec<[u8; 3]> = (0..16).map(|c| self.dac_rgb(self.attr_color(c))).collect();
        for y in 0..frame.height {
            let line = y >> double;
            let (row, scan) = (line / height, line % height);
            if row >= screen.rows {
                break;
            }
            for col in 0..screen.cols {
                let (ch, at) = screen.cells[row * screen.cols + col];
                let fg = at & 0x0F;
                let mut bg = at >> 4;
                if screen.blink {
                    bg &= 0x07;
                }
                let base = if at & 0x08 != 0 { map_a } else { map_b };
                let mut glyph = self.vram[((base + usize::from(ch) * 32 + (scan & 31)) & 0xFFFF) * 4 + 2];
                if (at & 0x77) == 0x01 && scan == underline {
                    glyph = 0xFF;
                }
                if let Some(((ccol, crow), (first, last))) = cursor
                    && ccol == col
                    && crow == row
                    && (first..=last).contains(&scan)
                {
                    glyph = 0xFF;
                }
                let ninth = if dots == 9 && line_graphics && (0xC0..=0xDF).contains(&ch) {
                    glyph & 1
                } else {
                    0
                };
                let bits = u16::from(glyph) << 1 | u16::from(ninth);
                for dot in 0..dots {
                    let on = bits >> (8 - dot) & 1 != 0;
                    let rgb = palette[usize::from(if on { fg } else { bg })];
                    let x = (col * dots + dot) << usize::from(wide);
                    frame.put(x, y, rgb);
                    if wide {
                        frame.put(x + 1, y, rgb);
                    }
                }
            }
        }
        frame
    }

    fn render_graphics(&self) -> Frame {
        let mode = self.gc[gc::MODE];
        let color256 = mode & 0x40 != 0;
        let interleave = mode & 0x20 != 0 && !color256;
        let pixels_per_clock = if color256 { 4 } else { 8 };
        let mut cols = self.display_columns();
        let lines = self.display_lines() >> usize::from(self.double_scan());
        let mut char_height = self.char_height();
        let mut cr17 = self.crtc[crtc::MODE];
        let mut stride = self.row_stride();
        let mut start = self.start_address();
        let mut address_mode = self.address_mode();
        let mut count_shift = u32::from(cr17 & 0x08 != 0) + 2 * u32::from(self.crtc[crtc::UNDERLINE] & 0x20 != 0);
        let substitute = cr17 & 0x03 != 0x03;
        // Without scan-line substitution every line of a character row
        // shows the same memory: draw it once.
        let mut height = if substitute { lines } else { (lines / char_height).max(1) };
        if let Some(planar) = self.vbe.planar_mode() {
            // A VBE 4 bpp mode: the VGA's planes, with the geometry from
            // the VBE registers (as QEMU displays it), a byte of each plane
            // per 8 pixels.
            cols = planar.width as usize / 8;
            height = planar.height as usize;
            char_height = 1;
            cr17 = 0x03;
            stride = (planar.stride / 4) as u32;
            start = (planar.start / 4) as u32;
            address_mode = AddressMode::Byte;
            count_shift = 0;
        }
        let width = cols * pixels_per_clock;
        let mut frame = Frame::black(width, height);
        let plane_enable = self.attr[attr::PLANE_ENABLE] & 0x0F;
        let palette: Vec<[u8; 3]> = if color256 {
            (0..=255).map(|c| self.dac_rgb(c)).collect()
        } else {
            (0..16).map(|c| self.dac_rgb(self.attr_color(c))).collect()
        };
        let mut pixels = [0u8; 8];
        let substitute = cr17 & 0x03 != 0x03;
        for y in 0..frame.height {
            let (row, scan) = if substitute { (y / char_height, y % char_height) } else { (y, 0) };
            let base = start.wrapping_add(row as u32 * stride);
            for clock in 0..cols {
                let ma = base.wrapping_add((clock as u32) >> count_shift);
                let mut offset = self.crtc_address_in(address_mode, ma);
                if cr17 & 0x01 == 0 {
                    offset = (offset & !0x2000) | (scan & 1) << 13;
                }
                if cr17 & 0x02 == 0 {
                    offset = (offset & !0x4000) | (scan >> 1 & 1) << 14;
                }
                let p = self.planes_at(offset);
                if color256 {
                    pixels[..4].copy_from_slice(&p);
                } else if interleave {
                    for (k, px) in pixels.iter_mut().enumerate() {
                        let (lo, hi) = if k < 4 { (p[0], p[2]) } else { (p[1], p[3]) };
                        let shift = 6 - 2 * (k & 3);
                        *px = ((lo >> shift & 3) | (hi >> shift & 3) << 2) & plane_enable;
                    }
                } else {
                    for (k, px) in pixels.iter_mut().enumerate() {
                        let bit = 7 - k;
                        let v = (p[0] >> bit & 1) | (p[1] >> bit & 1) << 1 | (p[2] >> bit & 1) << 2 | (p[3] >> bit & 1) << 3;
                        *px = v & plane_enable;
                    }
                }
                for (k, &px) in pixels[..pixels_per_clock].iter().enumerate() {
                    frame.put(clock * pixels_per_clock + k, y, palette[usize::from(px)]);
                }
            }
        }
        frame
    }

    fn render_linear(&self, mode: &LinearMode) -> Frame {
        let mut frame = Frame::black(mode.width as usize, mode.height as usize);
        let bytes_pp = match mode.bpp {
            15 | 16 => 2,
            24 => 3,
            32 => 4,
            _ => 1,
        };
        let palette: Vec<[u8; 3]> = (0..=255).map(|c| self.dac_rgb(c)).collect();
        for y in 0..frame.height {
            let line = mode.start + y * mode.stride;
            for x in 0..frame.width {
                let at = line + x * bytes_pp;
                let Some(px) = self.vram.get(at..at + bytes_pp) else {
                    break;
                };
                let rgb = match mode.bpp {
                    15 => {
                        let v = u16::from_le_bytes([px[0], px[1]]);
                        [scale5(v >> 10), scale5(v >> 5), scale5(v)]
                    }
                    16 => {
                        let v = u16::from_le_bytes([px[0], px[1]]);
                        [scale5(v >> 11), scale6(v >> 5), scale5(v)]
                    }
                    24 | 32 => [px[2], px[1], px[0]],
                    _ => palette[usize::from(px[0])],
                };
                frame.put(x, y, rgb);
            }
        }
        frame
    }
}

/// A 5-bit colour component as 8 bits.
fn scale5(v: u16) -> u8 {
    let v = (v & 0x1F) as u8;
    v << 3 | v >> 2
}

/// A 6-bit colour component as 8 bits.
fn scale6(v: u16) -> u8 {
    let v = (v & 0x3F) as u8;
    v << 2 | v >> 4
}
