//! Showing a VGA text screen in a host terminal with ANSI escape
//! sequences: what the CLI uses for a console on the guest's display.
//!
//! [`TerminalRenderer`] keeps the screen it last drew and, given the
//! current one, emits only what changed: cursor positioning (CUP) to the
//! changed cells, SGR colour changes when the attribute differs from the
//! previous cell drawn, the characters as UTF-8 (code page 437 mapped to
//! Unicode), and finally the guest's cursor position and visibility. A
//! change of geometry (mode switch) or [`TerminalRenderer::invalidate`]
//! redraws everything.
//!
//! Colours are the terminal's 16 standard colours (SGR 30-37/90-97 and
//! 40-47/100-107), mapped from the VGA's colour order (blue is 1 on the
//! VGA, 4 in ANSI); the guest's palette programming is not followed. With
//! blink enabled, attribute bit 7 becomes SGR 5 (blink); otherwise it
//! selects a bright background, as on the VGA.

use std::fmt::Write;

use super::text::{TextScreen, cp437_to_char};

/// ANSI colour number for each VGA colour (low 3 bits).
const VGA_TO_ANSI: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];

/// Draws text screens incrementally.
#[derive(Debug, Default)]
pub struct TerminalRenderer {
    prev: Option<TextScreen>,
}

impl TerminalRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget what was drawn: the next [`TerminalRenderer::update`]
    /// clears the terminal and redraws every cell (after the host
    /// terminal was resized, or something else wrote to it).
    pub fn invalidate(&mut self) {
        self.prev = None;
    }

    /// The escape sequences that turn the terminal from the last screen
    /// drawn into `screen`; empty when nothing changed.
    pub fn update(&mut self, screen: &TextScreen) -> String {
        let out = render_diff(self.prev.as_ref(), screen);
        self.prev = Some(screen.clone());
        out
    }
}

/// SGR sequence for a VGA attribute.
pub fn sgr(attribute: u8, blink: bool) -> String {
    let fg = attribute & 0x0F;
    let bg = attribute >> 4;
    let fg_code = u32::from(VGA_TO_ANSI[usize::from(fg & 7)]) + if fg & 8 != 0 { 90 } else { 30 };
    let (bg_code, blinking) = if blink {
        (40 + u32::from(VGA_TO_ANSI[usize::from(bg & 7)]), bg & 8 != 0)
    } else {
        let base = if bg & 8 != 0 { 100 } else { 40 };
        (base + u32::from(VGA_TO_ANSI[usize::from(bg & 7)]), false)
    };
    if blinking {
        format!("\x1b[0;{fg_code};{bg_code};5m")
    } else {
        format!("\x1b[0;{fg_code};{bg_code}m")
    }
}

/// The escape sequences that draw `cur` over `prev` (everything, after
/// clearing the terminal, when there is no previous screen or its
/// geometry differs).
pub fn render_diff(prev: Option<&TextScreen>, cur: &TextScreen) -> String {
    let prev = prev.filter(|p| p.cols == cur.cols && p.rows == cur.rows && p.blink == cur.blink);
    let mut out = String::new();
    if prev.is_none() {
        out.push_str("\x1b[?25l\x1b[0m\x1b[H\x1b[2J");
    }
    // Where the terminal's cursor is after what we wrote, if known.
    let mut pos: Option<(usize, usize)> = None;
    let mut attribute: Option<u8> = None;
    let mut drew = false;
    for row in 0..cur.rows {
        for col in 0..cur.cols {
            let i = row * cur.cols + col;
            let Some(&(ch, at)) = cur.cells.get(i) else {
                break;
            };
            if prev.and_then(|p| p.cells.get(i)) == Some(&(ch, at)) {
                continue;
            }
            if !drew && prev.is_some() {
                out.push_str("\x1b[?25l");
            }
            drew = true;
            if pos != Some((row, col)) {
                let _ = write!(out, "\x1b[{};{}H", row + 1, col + 1);
            }
            if attribute != Some(at) {
                out.push_str(&sgr(at, cur.blink));
                attribute = Some(at);
            }
            out.push(cp437_to_char(ch));
            // After the last column the terminal may be in its pending
            // wrap state: position explicitly next time.
            pos = (col + 1 < cur.cols).then_some((row, col + 1));
        }
    }
    if drew {
        out.push_str("\x1b[0m");
    }
    let cursor_moved = prev.is_none_or(|p| p.cursor != cur.cursor);
    if drew || cursor_moved {
        match cur.cursor {
            Some((col, row)) => {
                let _ = write!(out, "\x1b[{};{}H\x1b[?25h", row + 1, col + 1);
            }
            None => out.push_str("\x1b[?25l"),
        }
    }
    out
}
