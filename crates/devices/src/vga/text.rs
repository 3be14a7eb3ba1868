//! Text-mode screens: the character cells the CRTC displays, read out of
//! planes 0 (characters) and 1 (attributes), and code page 437, the
//! character set of the VGA's ROM fonts, as Unicode.
//!
//! A [`TextScreen`] is what a terminal renderer draws and what tests read
//! ("does the screen say `SeaBIOS (version`?"). It follows the CRTC: the
//! start address, the offset register (row stride), the character height
//! and vertical display end (25, 43 or 50 rows), the horizontal display
//! end (40 or 80 columns) and the cursor location and shape.

use super::{Vga, crtc};

/// The 16 colours of the text-mode palette (CGA/EGA order: black, blue,
/// green, cyan, red, magenta, brown, light grey, then the bright ones),
/// as 8-bit RGB.
pub const CGA_PALETTE: [[u8; 3]; 16] = [
    [0x00, 0x00, 0x00],
    [0x00, 0x00, 0xAA],
    [0x00, 0xAA, 0x00],
    [0x00, 0xAA, 0xAA],
    [0xAA, 0x00, 0x00],
    [0xAA, 0x00, 0xAA],
    [0xAA, 0x55, 0x00],
    [0xAA, 0xAA, 0xAA],
    [0x55, 0x55, 0x55],
    [0x55, 0x55, 0xFF],
    [0x55, 0xFF, 0x55],
    [0x55, 0xFF, 0xFF],
    [0xFF, 0x55, 0x55],
    [0xFF, 0x55, 0xFF],
    [0xFF, 0xFF, 0x55],
    [0xFF, 0xFF, 0xFF],
];

/// Rows a text screen can have at most (2048 scan lines of one-line
/// characters would be silly, but the registers allow it).
const MAX_ROWS: usize = 1024;

/// The character cells of a text mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextScreen {
    pub cols: usize,
    pub rows: usize,
    /// `rows * cols` cells, row by row: (character in code page 437,
    /// attribute: foreground in bits 3-0, background in bits 6-4, blink
    /// or bright background in bit 7).
    pub cells: Vec<(u8, u8)>,
    /// Where the cursor is shown, as (column, row), if it is visible.
    pub cursor: Option<(usize, usize)>,
    /// Attribute bit 7 means blink (attribute mode control bit 3), not a
    /// bright background.
    pub blink: bool,
}

impl TextScreen {
    /// A blank screen (spaces, light grey on black), for renderers to start
    /// from and for tests.
    pub fn blank(cols: usize, rows: usize) -> Self {
        Self {
            cols,
            rows,
            cells: vec![(b' ', 0x07); cols * rows],
            cursor: None,
            blink: true,
        }
    }

    /// The cell at (`col`, `row`).
    pub fn cell(&self, col: usize, row: usize) -> Option<(u8, u8)> {
        if col >= self.cols {
            return None;
        }
        self.cells.get(row * self.cols + col).copied()
    }

    /// Row `row` as Unicode, trailing blanks removed.
    pub fn row_text(&self, row: usize) -> String {
        if row >= self.rows {
            return String::new();
        }
        let cells = self.cells.get(row * self.cols..(row + 1) * self.cols).unwrap_or(&[]);
        let s: String = cells.iter().map(|&(c, _)| cp437_to_char(c)).collect();
        s.trim_end_matches([' ', '\u{A0}']).to_string()
    }

    /// The whole screen as Unicode, one line per row.
    pub fn text(&self) -> String {
        (0..self.rows).map(|r| self.row_text(r)).collect::<Vec<_>>().join("\n")
    }

    /// Whether any row contains `needle` (rows are searched one by one, a
    /// string wrapped over two rows is not found).
    pub fn contains(&self, needle: &str) -> bool {
        (0..self.rows).any(|r| self.row_text(r).contains(needle))
    }
}

impl Vga {
    /// The text screen the VGA displays, or `None` in a graphics mode
    /// (VGA or VBE).
    pub fn text_screen(&self) -> Option<TextScreen> {
        if self.graphics_mode() || self.vbe.enabled() {
            return None;
        }
        let cols = self.display_columns();
        let lines = self.display_lines() >> usize::from(self.double_scan());
        let height = self.char_height();
        let rows = (lines / height).clamp(1, MAX_ROWS);
        let stride = self.row_stride();
        let start = self.start_address();
        let mut cells = Vec::with_capacity(rows * cols);
        for row in 0..rows {
            let base = start.wrapping_add(row as u32 * stride);
            for col in 0..cols {
                let offset = self.crtc_address(base.wrapping_add(col as u32));
                let planes = self.planes_at(offset);
                cells.push((planes[0], planes[1]));
            }
        }
        Some(TextScreen {
            cols,
            rows,
            cells,
            cursor: self.cursor_cell(cols, rows, height),
            blink: self.attr[super::attr::MODE] & 0x08 != 0,
        })
    }

    /// The cursor's cell, if the cursor is on and on screen.
    fn cursor_cell(&self, cols: usize, rows: usize, height: usize) -> Option<(usize, usize)> {
        let (first, last) = self.cursor_lines()?;
        if first >= height || first > last {
            return None;
        }
        let stride = self.row_stride();
        if stride == 0 {
            return None;
        }
        let c = &self.crtc;
        let location = u32::from(c[crtc::CURSOR_HIGH]) << 8 | u32::from(c[crtc::CURSOR_LOW]);
        let rel = location.wrapping_sub(self.start_address()) & 0xFFFF;
        let (row, col) = ((rel / stride) as usize, (rel % stride) as usize);
        (row < rows && col < cols).then_some((col, row))
    }

    /// The cursor's first and last scan line in the cell, if it is on
    /// (CR0A bit 5 turns it off).
    pub(super) fn cursor_lines(&self) -> Option<(usize, usize)> {
        let start = self.crtc[crtc::CURSOR_START];
        if start & 0x20 != 0 {
            return None;
        }
        Some((usize::from(start & 0x1F), usize::from(self.crtc[crtc::CURSOR_END] & 0x1F)))
    }
}

/// Code page 437 as Unicode: the glyphs of the VGA's ROM font, including
/// the pictures it shows for the control codes 0x01-0x1F and 0x7F. Code 0
/// is a space (the glyph is blank) and 0xFF a no-break space.
pub fn cp437_to_char(code: u8) -> char {
    CP437[usize::from(code)]
}

#[rustfmt::skip]
const CP437: [char; 256] = [
    ' ', '☺', '☻', '♥', '♦', '♣', '♠', '•', '◘', '○', '◙', '♂', '♀', '♪', '♫', '☼',
    '►', '◄', '↕', '‼', '¶', '§', '▬', '↨', '↑', '↓', '→', '←', '∟', '↔', '▲', '▼',
    ' ', '!', '"', '#', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
    '@', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '[', '\\', ']', '^', '_',
    '`', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '{', '|', '}', '~', '⌂',
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å',
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ',
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»',
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐',
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧',
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀',
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩',
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{A0}',
];
