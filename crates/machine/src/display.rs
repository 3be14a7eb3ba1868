//! `--display text`: the VGA's text screen drawn on the host terminal and
//! the host's keystrokes typed on the PS/2 keyboard, as QEMU's curses
//! display does.
//!
//! The screen is redrawn at most every [`FRAME`], and only the cells that
//! changed (see `devices::vga::terminal`). Keystrokes become set 2 scan
//! codes queued for the i8042; the keyboard takes them as fast as its
//! buffer allows, the rest waits here.

use devices::i8042::I8042;
use devices::termkeys::TerminalKeyboard;
use devices::vga::Vga;
use devices::vga::terminal::TerminalRenderer;
use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

/// Shortest time between two redraws (25 frames per second).
pub const FRAME: Duration = Duration::from_millis(40);
/// Scan codes kept while the guest does not read the keyboard (a paste
/// into a guest that has disabled scanning must not grow without bound).
const MAX_QUEUED: usize = 4096;

pub struct TextDisplay {
    out: Box<dyn Write + Send>,
    renderer: TerminalRenderer,
    last_draw: Option<Instant>,
    keyboard: TerminalKeyboard,
    queued: VecDeque<u8>,
    /// Whether the last screen drawn was a graphics mode (shown as a note).
    showed_graphics: bool,
}

impl TextDisplay {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out,
            renderer: TerminalRenderer::new(),
            last_draw: None,
            keyboard: TerminalKeyboard::new(),
            queued: VecDeque::new(),
            showed_graphics: false,
        }
    }

    /// Draw the screen if a frame's time has passed (or `force`).
    pub fn draw(&mut self, vga: &Vga, force: bool) {
        if !force && self.last_draw.is_some_and(|t| t.elapsed() < FRAME) {
            return;
        }
        self.last_draw = Some(Instant::now());
        match vga.text_screen() {
            Some(screen) => {
                self.showed_graphics = false;
                let diff = self.renderer.update(&screen);
                if !diff.is_empty() {
                    let _ = self.out.write_all(diff.as_bytes());
                    let _ = self.out.flush();
                }
            }
            None if !self.showed_graphics => {
                self.showed_graphics = true;
                self.renderer.invalidate();
                let _ = self
                    .out
                    .write_all(b"\x1b[2J\x1b[H(the guest is in a graphics mode: see --screenshot)\r\n");
                let _ = self.out.flush();
            }
            None => {}
        }
    }

    /// Host terminal bytes typed by the user.
    pub fn type_bytes(&mut self, bytes: &[u8]) {
        let mut codes = Vec::new();
        self.keyboard.feed(bytes, &mut codes);
        if self.keyboard.has_pending() && bytes.last() == Some(&0x1B) {
            // A lone ESC at the end of a read is the Escape key: terminals
            // send escape sequences in one write.
            self.keyboard.flush(&mut codes);
        }
        let room = MAX_QUEUED.saturating_sub(self.queued.len());
        self.queued.extend(codes.into_iter().take(room));
    }

    /// Give the keyboard what it can take.
    pub fn feed(&mut self, kbc: &mut I8042) {
        if self.queued.is_empty() {
            return;
        }
        let room = kbc.keyboard_room();
        if room == 0 {
            return;
        }
        let chunk: Vec<u8> = self.queued.iter().copied().take(room).collect();
        let taken = kbc.push_scancodes(&chunk);
        self.queued.drain(..taken.min(self.queued.len()));
    }

    /// Put the terminal back in order at the end of a run.
    pub fn finish(&mut self) {
        let _ = self.out.write_all(b"\x1b[0m\x1b[?25h\r\n");
        let _ = self.out.flush();
    }
}
