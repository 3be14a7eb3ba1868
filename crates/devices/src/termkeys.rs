//! Keyboard input from a host terminal, as a PS/2 keyboard would send it:
//! bytes a terminal in raw mode delivers become scan code set 2 make and
//! break sequences for [`crate::i8042::I8042::push_scancodes`].
//!
//! A terminal reports characters, not keys, so each character becomes the
//! key that types it on a US layout, wrapped in the modifiers it needs:
//! `A` is Shift down, A down, A up, Shift up; control characters are Ctrl
//! plus a key (0x03 is Ctrl+C), except the ones with keys of their own
//! (Tab 0x09, Enter 0x0D and 0x0A, Backspace 0x7F and 0x08, Escape).
//! Escape sequences for the other keys are recognised in their common
//! forms (xterm, VT220, Linux console): arrows, Home/End, Insert/Delete,
//! PgUp/PgDn, F1-F12, Shift+Tab, with xterm's modifier parameter
//! (`ESC [ 1 ; 5 A` is Ctrl+Up); ESC followed by a character is Alt plus
//! that character, as terminals send Meta.
//!
//! A lone ESC cannot be told from the start of a sequence until more input
//! arrives, so it stays pending: the caller calls
//! [`TerminalKeyboard::flush`] when no more input came for a short while
//! (a few tens of milliseconds), which types it as the Escape key.
//!
//! Left out: non-ASCII characters (UTF-8 input is dropped; the guest's
//! keyboard layout would decide what they need anyway), mouse reports,
//! the keypad, Pause and Print Screen.

/// Set 2 make codes of the keys used here (without the 0xE0 prefix).
pub mod set2 {
    pub const ESC: u8 = 0x76;
    pub const BACKSPACE: u8 = 0x66;
    pub const TAB: u8 = 0x0D;
    pub const ENTER: u8 = 0x5A;
    pub const SPACE: u8 = 0x29;
    pub const LSHIFT: u8 = 0x12;
    pub const LCTRL: u8 = 0x14;
    pub const LALT: u8 = 0x11;
    /// F1-F12.
    pub const F: [u8; 12] = [0x05, 0x06, 0x04, 0x0C, 0x03, 0x0B, 0x83, 0x0A, 0x01, 0x09, 0x78, 0x07];
    /// The 0xE0-prefixed keys.
    pub const UP: u8 = 0x75;
    pub const DOWN: u8 = 0x72;
    pub const LEFT: u8 = 0x6B;
    pub const RIGHT: u8 = 0x74;
    pub const HOME: u8 = 0x6C;
    pub const END: u8 = 0x69;
    pub const PAGE_UP: u8 = 0x7D;
    pub const PAGE_DOWN: u8 = 0x7A;
    pub const INSERT: u8 = 0x70;
    pub const DELETE: u8 = 0x71;
    /// Prefix of the extended keys.
    pub const EXTENDED: u8 = 0xE0;
    /// Prefix of a break code.
    pub const BREAK: u8 = 0xF0;
}

/// A key on the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A key of the main block, by its set 2 make code.
    Code(u8),
    /// A 0xE0-prefixed key (arrows, the navigation block).
    Extended(u8),
}

/// Modifier keys held while a key is typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mods {
    pub shift: bool,
    pub ctrl: bool,
    pub alt: bool,
}

impl Mods {
    pub const NONE: Mods = Mods {
        shift: false,
        ctrl: false,
        alt: false,
    };
    const SHIFT: Mods = Mods {
        shift: true,
        ctrl: false,
        alt: false,
    };

    fn union(self, other: Mods) -> Mods {
        Mods {
            shift: self.shift || other.shift,
            ctrl: self.ctrl || other.ctrl,
            alt: self.alt || other.alt,
        }
    }

    /// xterm's modifier parameter: 1 + (shift 1, alt 2, ctrl 4).
    fn from_xterm(param: u32) -> Mods {
        let m = param.saturating_sub(1);
        Mods {
            shift: m & 1 != 0,
            alt: m & 2 != 0,
            ctrl: m & 4 != 0,
        }
    }
}

/// Append the set 2 bytes for typing `key` with `mods` held: modifiers
/// down, key down, key up, modifiers up.
pub fn type_key(key: Key, mods: Mods, out: &mut Vec<u8>) {
    let modifiers = [(mods.ctrl, set2::LCTRL), (mods.alt, set2::LALT), (mods.shift, set2::LSHIFT)];
    for &(held, code) in &modifiers {
        if held {
            out.push(code);
        }
    }
    match key {
        Key::Code(c) => out.extend_from_slice(&[c, set2::BREAK, c]),
        Key::Extended(c) => out.extend_from_slice(&[set2::EXTENDED, c, set2::EXTENDED, set2::BREAK, c]),
    }
    for &(held, code) in modifiers.iter().rev() {
        if held {
            out.extend_from_slice(&[set2::BREAK, code]);
        }
    }
}

/// The key (and whether Shift is needed) that types printable ASCII
/// `byte` on a US keyboard.
pub fn ascii_key(byte: u8) -> Option<(u8, bool)> {
    const LETTERS: [u8; 26] = [
        0x1C, 0x32, 0x21, 0x23, 0x24, 0x2B, 0x34, 0x33, 0x43, 0x3B, 0x42, 0x4B, 0x3A, 0x31, 0x44, 0x4D, 0x15, 0x2D, 0x1B, 0x2C, 0x3C, 0x2A,
        0x1D, 0x22, 0x35, 0x1A,
    ];
    const DIGITS: [u8; 10] = [0x45, 0x16, 0x1E, 0x26, 0x25, 0x2E, 0x36, 0x3D, 0x3E, 0x46];
    let plain = |c| Some((c, false));
    let shifted = |c| Some((c, true));
    match byte {
        b'a'..=b'z' => plain(LETTERS[usize::from(byte - b'a')]),
        b'A'..=b'Z' => shifted(LETTERS[usize::from(byte - b'A')]),
        b'0'..=b'9' => plain(DIGITS[usize::from(byte - b'0')]),
        b' ' => plain(set2::SPACE),
        b'`' => plain(0x0E),
        b'~' => shifted(0x0E),
        b'-' => plain(0x4E),
        b'_' => shifted(0x4E),
        b'=' => plain(0x55),
        b'+' => shifted(0x55),
        b'[' => plain(0x54),
        b'{' => shifted(0x54),
        b']' => plain(0x5B),
        b'}' => shifted(0x5B),
        b'\\' => plain(0x5D),
        b'|' => shifted(0x5D),
        b';' => plain(0x4C),
        b':' => shifted(0x4C),
        b'\'' => plain(0x52),
        b'"' => shifted(0x52),
        b',' => plain(0x41),
        b'<' => shifted(0x41),
        b'.' => plain(0x49),
        b'>' => shifted(0x49),
        b'/' => plain(0x4A),
        b'?' => shifted(0x4A),
        b'!' => shifted(DIGITS[1]),
        b'@' => shifted(DIGITS[2]),
        b'#' => shifted(DIGITS[3]),
        b'$' => shifted(DIGITS[4]),
        b'%' => shifted(DIGITS[5]),
        b'^' => shifted(DIGITS[6]),
        b'&' => shifted(DIGITS[7]),
        b'*' => shifted(DIGITS[8]),
        b'(' => shifted(DIGITS[9]),
        b')' => shifted(DIGITS[0]),
        _ => None,
    }
}

/// The key and modifiers one input byte (outside an escape sequence)
/// stands for.
fn byte_key(byte: u8) -> Option<(Key, Mods)> {
    let ctrl = |k: Key, shift: bool| {
        Some((
            k,
            Mods {
                shift,
                ctrl: true,
                alt: false,
            },
        ))
    };
    match byte {
        0x08 | 0x7F => Some((Key::Code(set2::BACKSPACE), Mods::NONE)),
        0x09 => Some((Key::Code(set2::TAB), Mods::NONE)),
        0x0A | 0x0D => Some((Key::Code(set2::ENTER), Mods::NONE)),
        0x1B => Some((Key::Code(set2::ESC), Mods::NONE)),
        0x00 => ctrl(Key::Code(0x1E), true),
        0x01..=0x1A => ctrl(Key::Code(ascii_key(byte + 0x60)?.0), false),
        0x1C => ctrl(Key::Code(0x5D), false),
        0x1D => ctrl(Key::Code(0x5B), false),
        0x1E => ctrl(Key::Code(0x36), true),
        0x1F => ctrl(Key::Code(0x4E), true),
        0x20..=0x7E => {
            let (code, shift) = ascii_key(byte)?;
            Some((Key::Code(code), if shift { Mods::SHIFT } else { Mods::NONE }))
        }
        _ => None,
    }
}

/// An escape sequence longer than this is garbage: it is dropped.
const MAX_SEQUENCE: usize = 32;

/// What a (partial) escape sequence amounts to.
enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// A key, or `None` for a well-formed sequence we do not map.
    Done(Option<(Key, Mods)>),
}

/// The key a VT220-style `ESC [ n ~` sequence names.
fn tilde_key(n: u32) -> Option<Key> {
    use set2::*;
    let f = |i: usize| Some(Key::Code(F[i]));
    match n {
        1 | 7 => Some(Key::Extended(HOME)),
        2 => Some(Key::Extended(INSERT)),
        3 => Some(Key::Extended(DELETE)),
        4 | 8 => Some(Key::Extended(END)),
        5 => Some(Key::Extended(PAGE_UP)),
        6 => Some(Key::Extended(PAGE_DOWN)),
        11..=15 => f((n - 11) as usize),
        17..=21 => f((n - 12) as usize),
        23 | 24 => f((n - 13) as usize),
        _ => None,
    }
}

/// The key a final letter of a CSI or SS3 sequence names.
fn letter_key(letter: u8) -> Option<Key> {
    use set2::*;
    match letter {
        b'A' => Some(Key::Extended(UP)),
        b'B' => Some(Key::Extended(DOWN)),
        b'C' => Some(Key::Extended(RIGHT)),
        b'D' => Some(Key::Extended(LEFT)),
        b'H' => Some(Key::Extended(HOME)),
        b'F' => Some(Key::Extended(END)),
        b'P'..=b'S' => Some(Key::Code(F[usize::from(letter - b'P')])),
        // SS3 M: keypad Enter in application mode.
        b'M' => Some(Key::Code(ENTER)),
        _ => None,
    }
}

/// Parse `seq`, which starts with ESC.
fn parse_escape(seq: &[u8]) -> Parse {
    let Some(&second) = seq.get(1) else {
        return Parse::Incomplete;
    };
    if second != b'[' && second != b'O' {
        // Meta: ESC + character is Alt + that character's key.
        return Parse::Done(byte_key(second).map(|(k, m)| (k, m.union(Mods { alt: true, ..Mods::NONE }))));
    }
    let body = &seq[2..];
    // The Linux console's F1-F5: ESC [ [ A-E.
    if second == b'[' && body.first() == Some(&b'[') {
        return match body.get(1) {
            None => Parse::Incomplete,
            Some(&c @ b'A'..=b'E') => Parse::Done(Some((Key::Code(set2::F[usize::from(c - b'A')]), Mods::NONE))),
            Some(_) => Parse::Done(None),
        };
    }
    // Parameter bytes, then one final byte.
    let Some(end) = body.iter().position(|&b| !(0x20..=0x3F).contains(&b)) else {
        return Parse::Incomplete;
    };
    let (params, final_byte) = (&body[..end], body[end]);
    let mut numbers = params
        .split(|&b| b == b';')
        .map(|p| std::str::from_utf8(p).ok().and_then(|s| s.parse::<u32>().ok()));
    let first = numbers.next().flatten();
    let mods = Mods::from_xterm(numbers.next().flatten().unwrap_or(1));
    let key = match final_byte {
        b'~' if second == b'[' => first.and_then(tilde_key),
        b'Z' if second == b'[' => {
            return Parse::Done(Some((Key::Code(set2::TAB), Mods::SHIFT.union(mods))));
        }
        0x40..=0x7E => letter_key(final_byte),
        _ => None,
    };
    Parse::Done(key.map(|k| (k, mods)))
}

/// Turns terminal input into set 2 scan codes, keeping an unfinished
/// escape sequence between calls.
#[derive(Debug, Default)]
pub struct TerminalKeyboard {
    pending: Vec<u8>,
}

impl TerminalKeyboard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an escape sequence (or a lone ESC) waits for more input;
    /// call [`TerminalKeyboard::flush`] if none comes soon.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Translate `input`, appending set 2 bytes to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.pending.is_empty() {
                if b == 0x1B {
                    self.pending.push(b);
                } else if let Some((key, mods)) = byte_key(b) {
                    type_key(key, mods, out);
                }
                continue;
            }
            if b == 0x1B && self.pending.len() == 1 {
                // ESC ESC: the first was the Escape key.
                type_key(Key::Code(set2::ESC), Mods::NONE, out);
                continue;
            }
            self.pending.push(b);
            match parse_escape(&self.pending) {
                Parse::Incomplete if self.pending.len() < MAX_SEQUENCE => {}
                Parse::Incomplete | Parse::Done(None) => self.pending.clear(),
                Parse::Done(Some((key, mods))) => {
                    type_key(key, mods, out);
                    self.pending.clear();
                }
            }
        }
    }

    /// No more input came: type what is pending as far as it makes sense
    /// (a lone ESC is the Escape key, ESC `[` and ESC `O` are Alt+`[` and
    /// Alt+Shift+O), and drop an unfinished sequence.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        let pending = std::mem::take(&mut self.pending);
        match pending.as_slice() {
            [0x1B] => type_key(Key::Code(set2::ESC), Mods::NONE, out),
            [0x1B, second] => {
                if let Some((key, mods)) = byte_key(*second) {
                    let alt = Mods { alt: true, ..Mods::NONE };
                    type_key(key, mods.union(alt), out);
                }
            }
            _ => {}
        }
    }

    /// Translate `input` completely (flushing a trailing ESC): for input
    /// that arrives all at once, such as a scripted test.
    pub fn translate(input: &[u8]) -> Vec<u8> {
        let mut k = Self::new();
        let mut out = Vec::new();
        k.feed(input, &mut out);
        k.flush(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    #[test]
    fn table_of_inputs() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a", &[0x1C, 0xF0, 0x1C]),
            (b"A", &[0x12, 0x1C, 0xF0, 0x1C, 0xF0, 0x12]),
            (b"1", &[0x16, 0xF0, 0x16]),
            (b"!", &[0x12, 0x16, 0xF0, 0x16, 0xF0, 0x12]),
            (b" ", &[0x29, 0xF0, 0x29]),
            (b"\r", &[0x5A, 0xF0, 0x5A]),
            (b"\n", &[0x5A, 0xF0, 0x5A]),
            (b"\t", &[0x0D, 0xF0, 0x0D]),
            (b"\x7f", &[0x66, 0xF0, 0x66]),
            (b"\x03", &[0x14, 0x21, 0xF0, 0x21, 0xF0, 0x14]),
            (b"\x1b", &[0x76, 0xF0, 0x76]),
            (b"\x1b[A", &[0xE0, 0x75, 0xE0, 0xF0, 0x75]),
            (b"\x1bOB", &[0xE0, 0x72, 0xE0, 0xF0, 0x72]),
            (b"\x1b[D", &[0xE0, 0x6B, 0xE0, 0xF0, 0x6B]),
            (b"\x1b[C", &[0xE0, 0x74, 0xE0, 0xF0, 0x74]),
            (b"\x1b[H", &[0xE0, 0x6C, 0xE0, 0xF0, 0x6C]),
            (b"\x1b[4~", &[0xE0, 0x69, 0xE0, 0xF0, 0x69]),
            (b"\x1b[5~", &[0xE0, 0x7D, 0xE0, 0xF0, 0x7D]),
            (b"\x1b[6~", &[0xE0, 0x7A, 0xE0, 0xF0, 0x7A]),
            (b"\x1b[2~", &[0xE0, 0x70, 0xE0, 0xF0, 0x70]),
            (b"\x1b[3~", &[0xE0, 0x71, 0xE0, 0xF0, 0x71]),
            (b"\x1bOP", &[0x05, 0xF0, 0x05]),
            (b"\x1b[[A", &[0x05, 0xF0, 0x05]),
            (b"\x1b[15~", &[0x03, 0xF0, 0x03]),
            (b"\x1b[18~", &[0x83, 0xF0, 0x83]),
            (b"\x1b[21~", &[0x09, 0xF0, 0x09]),
            (b"\x1b[24~", &[0x07, 0xF0, 0x07]),
            (b"\x1b[Z", &[0x12, 0x0D, 0xF0, 0x0D, 0xF0, 0x12]),
            (b"\x1b[1;5A", &[0x14, 0xE0, 0x75, 0xE0, 0xF0, 0x75, 0xF0, 0x14]),
            (b"\x1bx", &[0x11, 0x22, 0xF0, 0x22, 0xF0, 0x11]),
            (b"\x1b\x1b[B", &[0x76, 0xF0, 0x76, 0xE0, 0x72, 0xE0, 0xF0, 0x72]),
            // Unknown sequences and UTF-8 vanish.
            (b"\x1b[99~", &[]),
            ("é".as_bytes(), &[]),
        ];
        for &(input, expected) in cases {
            assert_eq!(TerminalKeyboard::translate(input), expected, "input {input:02x?}");
        }
    }

    #[test]
    fn every_printable_character_types_itself_back() {
        // Through the 8042's set 1 translation the make codes are the
        // ones a BIOS keyboard table knows; here just check every
        // printable byte maps and the shift state matches a US layout.
        for b in 0x20..=0x7Eu8 {
            let (code, shift) = ascii_key(b).expect("printable ASCII maps");
            assert!(code < 0x80);
            let lower_twin = matches!(b, b'a'..=b'z' | b'0'..=b'9' | b' ') || b"`-=[]\\;',./".contains(&b);
            assert_eq!(shift, !lower_twin, "byte {b:#x}");
        }
    }

    #[test]
    fn split_sequences_and_flush() {
        let mut k = TerminalKeyboard::new();
        let mut out = Vec::new();
        k.feed(b"\x1b", &mut out);
        assert!(out.is_empty() && k.has_pending());
        k.feed(b"[", &mut out);
        k.feed(b"A", &mut out);
        assert_eq!(out, [0xE0, 0x75, 0xE0, 0xF0, 0x75]);
        assert!(!k.has_pending());
        out.clear();
        k.feed(b"\x1b[", &mut out);
        k.flush(&mut out);
        assert_eq!(out, [0x11, 0x54, 0xF0, 0x54, 0xF0, 0x11]);
    }

    #[test]
    fn through_the_8042_as_set_1() {
        use crate::i8042::I8042;
        use crate::{IrqLine, PortIo};
        let mut kbc = I8042::new(IrqLine::detached(), IrqLine::detached());
        let codes = TerminalKeyboard::translate(b"Hi\x1b[A");
        assert_eq!(kbc.push_scancodes(&codes), codes.len());
        let mut got = Vec::new();
        for _ in 0..64 {
            if kbc.port_read(0x64, 1, 0) & 1 != 0 {
                got.push(kbc.port_read(0x60, 1, 0) as u8);
            }
        }
        // Shift, H, H up, Shift up, i, i up, E0 Up, E0 Up-break.
        assert_eq!(got, [0x2A, 0x23, 0xA3, 0xAA, 0x17, 0x97, 0xE0, 0x48, 0xE0, 0xC8]);
    }

    #[test]
    fn garbage_is_bounded() {
        let mut k = TerminalKeyboard::new();
        let mut out = Vec::new();
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 100));
        k.feed(&long, &mut out);
        assert!(k.pending.len() < MAX_SEQUENCE);
        let mut rng = XorShift::new(7);
        for _ in 0..20_000 {
            let n = rng.below(8) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            k.feed(&bytes, &mut out);
            if rng.below(4) == 0 {
                k.flush(&mut out);
            }
            assert!(k.pending.len() <= MAX_SEQUENCE);
            out.clear();
        }
    }
}
