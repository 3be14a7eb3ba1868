use super::*;
use crate::testutil::XorShift;

fn out(v: &mut Vga, port: u16, value: u8) {
    v.port_write(port, 1, u32::from(value), 0);
}

fn inb(v: &mut Vga, port: u16) -> u8 {
    v.port_read(port, 1, 0) as u8
}

fn seq_w(v: &mut Vga, i: u8, value: u8) {
    v.port_write(0x3C4, 2, u32::from(i) | u32::from(value) << 8, 0);
}

fn gc_w(v: &mut Vga, i: u8, value: u8) {
    v.port_write(0x3CE, 2, u32::from(i) | u32::from(value) << 8, 0);
}

fn crtc_w(v: &mut Vga, i: u8, value: u8) {
    out(v, 0x3D4, i);
    out(v, 0x3D5, value);
}

fn dispi_w(v: &mut Vga, index: u16, value: u16) {
    v.port_write(vbe::INDEX_PORT, 2, u32::from(index), 0);
    v.port_write(vbe::DATA_PORT, 2, u32::from(value), 0);
}

fn dispi_r(v: &mut Vga, index: u16) -> u16 {
    v.port_write(vbe::INDEX_PORT, 2, u32::from(index), 0);
    v.port_read(vbe::DATA_PORT, 2, 0) as u16
}

/// Offset of B8000 in the legacy window.
const B8000: u64 = 0x1_8000;

#[test]
fn attribute_flip_flop() {
    let mut v = Vga::new();
    out(&mut v, 0x3C2, 0x01);
    // Index, data.
    out(&mut v, 0x3C0, 0x01);
    out(&mut v, 0x3C0, 0x15);
    assert_eq!(inb(&mut v, 0x3C1), 0x15);
    assert_eq!(inb(&mut v, 0x3C0), 0x01);
    // Back at index: this write selects register 2 ...
    out(&mut v, 0x3C0, 0x02);
    // ... but reading input status 1 resets the flip-flop, so the next
    // write is an index again, not data for register 2.
    inb(&mut v, 0x3DA);
    out(&mut v, 0x3C0, 0x23);
    out(&mut v, 0x3C0, 0x3F);
    assert_eq!(v.attr_reg(2), 0x00);
    assert_eq!(v.attr_reg(3), 0x3F);
    // Bit 5 of the index (palette address source) reads back.
    assert_eq!(inb(&mut v, 0x3C0), 0x23);
    assert!(v.display_enabled());
    // Reserved bits are masked; 0x3C1 is read-only.
    out(&mut v, 0x3C0, 0x10);
    out(&mut v, 0x3C0, 0xFF);
    assert_eq!(v.attr_reg(attr::MODE), 0xEF);
    out(&mut v, 0x3C1, 0x00);
    assert_eq!(v.attr_reg(attr::MODE), 0xEF);
    // In mono mode 0x3BA resets the flip-flop and 0x3DA is not there.
    out(&mut v, 0x3C2, 0x00);
    out(&mut v, 0x3C0, 0x04);
    assert_eq!(inb(&mut v, 0x3DA), 0xFF);
    out(&mut v, 0x3C0, 0x11);
    assert_eq!(v.attr_reg(4), 0x11);
    out(&mut v, 0x3C0, 0x05);
    inb(&mut v, 0x3BA);
    out(&mut v, 0x3C0, 0x06);
    out(&mut v, 0x3C0, 0x22);
    assert_eq!(v.attr_reg(5), 0x00);
    assert_eq!(v.attr_reg(6), 0x22);
}

#[test]
fn dac_cycles() {
    let mut v = Vga::new();
    out(&mut v, 0x3C8, 0x10);
    for b in [1, 2, 3, 4, 5, 0xFF] {
        out(&mut v, 0x3C9, b);
    }
    assert_eq!(inb(&mut v, 0x3C8), 0x12);
    assert_eq!(inb(&mut v, 0x3C7), 0x00, "DAC state: write mode");
    assert_eq!(v.dac_entry(0x10), [1, 2, 3]);
    assert_eq!(v.dac_entry(0x11), [4, 5, 0x3F], "6-bit DAC");
    out(&mut v, 0x3C7, 0x10);
    assert_eq!(inb(&mut v, 0x3C7), 0x03, "DAC state: read mode");
    let read: Vec<u8> = (0..6).map(|_| inb(&mut v, 0x3C9)).collect();
    assert_eq!(read, [1, 2, 3, 4, 5, 0x3F]);
    // A new index restarts the cycle mid-way.
    out(&mut v, 0x3C7, 0x10);
    inb(&mut v, 0x3C9);
    out(&mut v, 0x3C7, 0x11);
    assert_eq!(inb(&mut v, 0x3C9), 4);
    // Wrap from 255 to 0.
    out(&mut v, 0x3C8, 0xFF);
    for b in [7, 8, 9, 10, 11, 12] {
        out(&mut v, 0x3C9, b);
    }
    assert_eq!(v.dac_entry(0xFF), [7, 8, 9]);
    assert_eq!(v.dac_entry(0x00), [10, 11, 12]);
    // Pixel mask.
    out(&mut v, 0x3C6, 0x0F);
    assert_eq!(inb(&mut v, 0x3C6), 0x0F);
}

#[test]
fn crtc_protection() {
    let mut v = Vga::new();
    out(&mut v, 0x3C2, 0x01);
    crtc_w(&mut v, 0x00, 0x5F);
    crtc_w(&mut v, 0x07, 0x00);
    crtc_w(&mut v, 0x11, 0x80);
    crtc_w(&mut v, 0x00, 0x12);
    crtc_w(&mut v, 0x07, 0xFF);
    crtc_w(&mut v, 0x09, 0x4F);
    assert_eq!(v.crtc_reg(0x00), 0x5F);
    assert_eq!(v.crtc_reg(0x07), 0x10, "only line compare bit 8 is writable");
    assert_eq!(v.crtc_reg(0x09), 0x4F, "CR08 and up are not protected");
    crtc_w(&mut v, 0x11, 0x00);
    crtc_w(&mut v, 0x00, 0x12);
    assert_eq!(v.crtc_reg(0x00), 0x12);
    out(&mut v, 0x3D4, 0x00);
    assert_eq!(inb(&mut v, 0x3D5), 0x12);
    // Registers past CR18 read as nothing.
    out(&mut v, 0x3D4, 0x40);
    assert_eq!(inb(&mut v, 0x3D5), 0xFF);
    assert_eq!(inb(&mut v, 0x3D4), 0x40);
}

#[test]
fn misc_output_selects_crtc_ports() {
    let mut v = Vga::new();
    out(&mut v, 0x3C2, 0x67);
    assert_eq!(inb(&mut v, 0x3CC), 0x67);
    crtc_w(&mut v, 0x0E, 0x12);
    assert_eq!(inb(&mut v, 0x3B4), 0xFF);
    assert_eq!(inb(&mut v, 0x3B5), 0xFF);
    out(&mut v, 0x3B4, 0x0E);
    out(&mut v, 0x3B5, 0x99);
    assert_eq!(v.crtc_reg(0x0E), 0x12, "mono ports are not decoded");
    // Monochrome: the same registers at 0x3B4/0x3B5.
    out(&mut v, 0x3C2, 0x66);
    out(&mut v, 0x3B4, 0x0E);
    assert_eq!(inb(&mut v, 0x3B5), 0x12);
    out(&mut v, 0x3B5, 0x34);
    assert_eq!(v.crtc_reg(0x0E), 0x34);
    assert_eq!(inb(&mut v, 0x3D5), 0xFF);
    out(&mut v, 0x3D5, 0x56);
    assert_eq!(v.crtc_reg(0x0E), 0x34);
    // Feature control: written at 0x3BA now, read at 0x3CA.
    out(&mut v, 0x3BA, 0x03);
    assert_eq!(inb(&mut v, 0x3CA), 0x03);
}

#[test]
fn input_status_toggles_even_on_a_frozen_clock() {
    let mut v = Vga::new();
    out(&mut v, 0x3C2, 0x01);
    // A BIOS-style wait: for the end of retrace, then for its start.
    let mut reads = 0;
    let mut seen = [false; 2];
    let mut last = None;
    while reads < 200_000 {
        reads += 1;
        let retrace = inb(&mut v, 0x3DA) & 0x08 != 0;
        if last == Some(!retrace) {
            seen[usize::from(retrace)] = true;
        }
        last = Some(retrace);
        if seen == [true, true] {
            break;
        }
    }
    assert_eq!(seen, [true, true], "retrace never toggled");
    // Display enable toggles within a line.
    let bits: Vec<u8> = (0..20_000).map(|_| inb(&mut v, 0x3DA) & 1).collect();
    assert!(bits.contains(&0) && bits.contains(&1));
    // With real time, the retrace is where the timing says.
    let mut w = Vga::new();
    w.port_write(0x3C2, 1, 1, 0);
    assert_eq!(w.port_read(0x3DA, 1, LINE_NS * 491) & 0x09, 0x09);
    assert_eq!(w.port_read(0x3DA, 1, FRAME_NS + LINE_NS * 10) & 0x09, 0x00);
}

#[test]
fn sequencer_and_gc_masks() {
    let mut v = Vga::new();
    seq_w(&mut v, 4, 0xFF);
    assert_eq!(v.seq_reg(4), 0x0E);
    out(&mut v, 0x3C4, 0x0C);
    assert_eq!(inb(&mut v, 0x3C5), 0x0E, "index bits 2-0 select the register");
    gc_w(&mut v, 5, 0xFF);
    assert_eq!(v.gc_reg(5), 0x7B);
    out(&mut v, 0x3CE, 0x0A);
    assert_eq!(inb(&mut v, 0x3CF), 0x00);
}

#[test]
fn text_through_odd_even_lands_in_planes_0_and_1() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Text80x25);
    v.mmio_write(B8000, 2, 0x1F41);
    v.mmio_write(B8000 + 2, 4, 0x2E43_4E42);
    assert_eq!(v.plane_byte(0, 0), 0x41);
    assert_eq!(v.plane_byte(1, 0), 0x1F);
    assert_eq!(v.plane_byte(0, 2), 0x42);
    assert_eq!(v.plane_byte(1, 2), 0x4E);
    assert_eq!(v.plane_byte(0, 4), 0x43);
    assert_eq!(v.plane_byte(1, 4), 0x2E);
    assert_eq!(v.plane_byte(2, 0), 0x00, "plane 2 (font) untouched");
    assert_eq!(v.mmio_read(B8000, 2), 0x1F41);
    // Outside the 32 KiB at B8000 nothing is decoded.
    assert_eq!(v.mmio_read(0, 1), 0xFF);
    v.mmio_write(0x1_0000, 1, 0x55);
    assert_eq!(v.plane_byte(0, 0), 0x41);
    // Read back through planar addressing.
    seq_w(&mut v, 4, 0x06);
    gc_w(&mut v, 5, 0x00);
    gc_w(&mut v, 6, 0x05);
    gc_w(&mut v, 4, 1);
    assert_eq!(v.mmio_read(0, 1), 0x1F);
    assert_eq!(v.mmio_read(2, 1), 0x4E);
    gc_w(&mut v, 4, 0);
    assert_eq!(v.mmio_read(4, 1), 0x43);
    assert_eq!(v.latches(), [0x43, 0x2E, 0, 0]);
}

#[test]
fn memory_map_select() {
    let mut v = Vga::new();
    // Planar, map mask all, write mode 0, no rotation.
    seq_w(&mut v, 2, 0x0F);
    seq_w(&mut v, 4, 0x06);
    gc_w(&mut v, 8, 0xFF);
    for (map, start, len) in [
        (0u8, 0u64, 0x2_0000u64),
        (1, 0, 0x1_0000),
        (2, 0x1_0000, 0x8000),
        (3, 0x1_8000, 0x8000),
    ] {
        gc_w(&mut v, 6, map << 2 | 1);
        v.mmio_write(start + 0x10, 1, u64::from(map) + 1);
        assert_eq!(v.plane_byte(0, 0x10), map + 1, "map {map}");
        if start > 0 {
            assert_eq!(v.mmio_read(start - 1, 1), 0xFF);
        }
        if start + len < LEGACY_SIZE {
            assert_eq!(v.mmio_read(start + len, 1), 0xFF);
        }
    }
    // 128 KiB at A0000: the upper half aliases the 64 KiB planes.
    gc_w(&mut v, 6, 0x01);
    v.mmio_write(0x1_0020, 1, 0x77);
    assert_eq!(v.plane_byte(3, 0x20), 0x77);
}

#[test]
fn chain4_mode_13h() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Graphics320x200x256);
    for x in 0..8u64 {
        v.mmio_write(x, 1, 0x10 + x);
    }
    // Pixel x is in plane x & 3 at offset x & !3.
    assert_eq!(v.plane_byte(0, 0), 0x10);
    assert_eq!(v.plane_byte(1, 0), 0x11);
    assert_eq!(v.plane_byte(3, 0), 0x13);
    assert_eq!(v.plane_byte(0, 4), 0x14);
    assert_eq!(v.plane_byte(3, 4), 0x17);
    assert_eq!(v.mmio_read(5, 1), 0x15);
    assert_eq!(v.mmio_read(0, 4), 0x1312_1110);
    // Last pixel of the screen.
    v.mmio_write(320 * 200 - 1, 1, 0x28);
    assert_eq!(v.plane_byte(3, 320 * 200 - 4), 0x28);
    // Rendered at 320x200 through the DAC.
    out(&mut v, 0x3C8, 0x28);
    for c in [0x3F, 0x00, 0x15] {
        out(&mut v, 0x3C9, c);
    }
    let f = v.render();
    assert_eq!((f.width, f.height), (320, 200));
    assert_eq!(f.pixel(319, 199), Some([0xFF, 0x00, 0x55]));
    assert_eq!(f.pixel(1, 0), Some(rgb6(v.dac_entry(0x11))));
    // Map mask blocks a plane.
    seq_w(&mut v, 2, 0x0E);
    v.mmio_write(8, 1, 0x99);
    v.mmio_write(9, 1, 0x98);
    assert_eq!(v.plane_byte(0, 8), 0x00);
    assert_eq!(v.plane_byte(1, 8), 0x98);
}

fn rgb6(c: [u8; 3]) -> [u8; 3] {
    c.map(|v| v << 2 | v >> 4)
}

#[test]
fn write_mode_0_set_reset_bit_mask_and_alu() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Graphics640x480x16);
    // Fill offset 0 with ones in all planes, load the latches.
    v.mmio_write(0, 1, 0xFF);
    assert_eq!(v.mmio_read(0, 1), 0xFF);
    // Set/reset colour 5 on all planes, only the high nibble.
    gc_w(&mut v, 0, 0x05);
    gc_w(&mut v, 1, 0x0F);
    gc_w(&mut v, 8, 0xF0);
    v.mmio_write(0, 1, 0x00);
    assert_eq!([0, 1, 2, 3].map(|p| v.plane_byte(p, 0)), [0xFF, 0x0F, 0xFF, 0x0F]);
    // Set/reset on planes 0-1 only; planes 2-3 take the rotated byte.
    gc_w(&mut v, 1, 0x03);
    gc_w(&mut v, 3, 0x04); // rotate right by 4
    gc_w(&mut v, 8, 0xFF);
    v.mmio_write(1, 1, 0x3C);
    assert_eq!([0, 1, 2, 3].map(|p| v.plane_byte(p, 1)), [0xFF, 0x00, 0xC3, 0xC3]);
    // XOR with the latches.
    gc_w(&mut v, 1, 0x00);
    gc_w(&mut v, 3, 0x18);
    v.mmio_read(1, 1);
    v.mmio_write(1, 1, 0xFF);
    assert_eq!([0, 1, 2, 3].map(|p| v.plane_byte(p, 1)), [0x00, 0xFF, 0x3C, 0x3C]);
    // AND, OR.
    gc_w(&mut v, 3, 0x08);
    v.mmio_read(1, 1);
    v.mmio_write(1, 1, 0x0F);
    assert_eq!([0, 1, 2, 3].map(|p| v.plane_byte(p, 1)), [0x00, 0x0F, 0x0C, 0x0C]);
    gc_w(&mut v, 3, 0x10);
    v.mmio_read(1, 1);
    v.mmio_write(1, 1, 0x80);
    assert_eq!([0, 1, 2, 3].map(|p| v.plane_byte(p, 1)), [0x80, 0x8F, 0x8C, 0x8C]);
}

#[test]
fn write_modes_2_and_3() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Graphics640x480x16);
    // Mode 2: the byte's low nibble is a colour for the masked bits.
    gc_w(&mut v, 5, 0x02);
    gc_w(&mut v, 8, 0x81);
    v.mmio_read(0, 1);
    v.mmio_write(0, 1, 0x0A);
    assert_eq!([0, 1, 2, 3].map(|p| v.plane_byte(p, 0)), [0, 0x81, 0, 0x81]);
    // Mode 3: set/reset colour, rotated byte ANDed into the bit mask.
    gc_w(&mut v, 5, 0x03);
    gc_w(&mut v, 0, 0x0C);
    gc_w(&mut v, 8, 0xFF);
    gc_w(&mut v, 3, 0x00);
    v.mmio_read(0, 1);
    v.mmio_write(0, 1, 0x18);
    assert_eq!([0, 1, 2, 3].map(|p| v.plane_byte(p, 0)), [0x00, 0x81, 0x18, 0x99]);
    // The rendered 16-colour pixels: bit 7 of plane 1 and 3 -> colour 10.
    let f = v.render();
    assert_eq!((f.width, f.height), (640, 480));
    let ega = |c: u8| rgb6(v.dac_entry(v.attr_color(c)));
    assert_eq!(f.pixel(0, 0), Some(ega(0x0A)));
    assert_eq!(f.pixel(3, 0), Some(ega(0x0C)));
    assert_eq!(f.pixel(1, 0), Some(ega(0x00)));
}

#[test]
fn latches_copy_with_write_mode_1() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Graphics640x480x16);
    for p in 0..4u8 {
        seq_w(&mut v, 2, 1 << p);
        v.mmio_write(0x100, 1, u64::from(0xA0 + p));
    }
    seq_w(&mut v, 2, 0x0F);
    gc_w(&mut v, 5, 0x01);
    v.mmio_read(0x100, 1);
    assert_eq!(v.latches(), [0xA0, 0xA1, 0xA2, 0xA3]);
    v.mmio_write(0x2000, 2, 0);
    for p in 0..4 {
        assert_eq!(v.plane_byte(p, 0x2000), 0xA0 + p as u8);
        assert_eq!(v.plane_byte(p, 0x2001), 0xA0 + p as u8);
    }
    // The map mask still applies.
    seq_w(&mut v, 2, 0x01);
    v.mmio_read(0x100, 1);
    v.mmio_write(0x3000, 1, 0);
    assert_eq!(v.plane_byte(0, 0x3000), 0xA0);
    assert_eq!(v.plane_byte(1, 0x3000), 0x00);
}

#[test]
fn read_mode_1_color_compare() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Graphics640x480x16);
    // Pixels 0-7 at offset 0: colours 0..7 via write mode 2, one bit each.
    gc_w(&mut v, 5, 0x02);
    for c in 0..8u8 {
        gc_w(&mut v, 8, 0x80 >> c);
        v.mmio_read(0, 1);
        v.mmio_write(0, 1, u64::from(c));
    }
    gc_w(&mut v, 5, 0x08);
    gc_w(&mut v, 7, 0x0F);
    gc_w(&mut v, 2, 0x05);
    assert_eq!(v.mmio_read(0, 1), 0x80 >> 5);
    // Ignore plane 2: colours 1 and 5 match.
    gc_w(&mut v, 7, 0x0B);
    gc_w(&mut v, 2, 0x01);
    assert_eq!(v.mmio_read(0, 1), (0x80 >> 1) | (0x80 >> 5));
    // No planes matter: everything matches.
    gc_w(&mut v, 7, 0x00);
    assert_eq!(v.mmio_read(0, 1), 0xFF);
}

fn put_text(v: &mut Vga, col: u64, row: u64, text: &str, attr: u8) {
    for (i, b) in text.bytes().enumerate() {
        let at = B8000 + (row * 80 + col + i as u64) * 2;
        v.mmio_write(at, 2, u64::from(b) | u64::from(attr) << 8);
    }
}

#[test]
fn text_screen_with_cursor() {
    let mut v = Vga::new();
    assert!(v.text_screen().is_some_and(|s| s.cols == 1));
    v.set_standard_mode(StandardMode::Text80x25);
    for i in 0..80 * 25 {
        v.mmio_write(B8000 + 2 * i, 2, 0x0720);
    }
    put_text(&mut v, 3, 2, "SeaBIOS (version 1.16)", 0x1F);
    put_text(&mut v, 0, 24, "\u{1}bottom", 0x07);
    crtc_w(&mut v, 0x0E, 0x00);
    crtc_w(&mut v, 0x0F, (2 * 80 + 8) as u8);
    let s = v.text_screen().unwrap();
    assert_eq!((s.cols, s.rows), (80, 25));
    assert!(s.contains("SeaBIOS (version"));
    assert_eq!(s.row_text(2), "   SeaBIOS (version 1.16)");
    assert_eq!(s.cell(3, 2), Some((b'S', 0x1F)));
    assert_eq!(s.cursor, Some((8, 2)));
    assert!(s.blink);
    assert_eq!(s.row_text(24), "☺bottom");
    assert_eq!(s.text().lines().count(), 25);
    // Cursor off (CR0A bit 5).
    crtc_w(&mut v, 0x0A, 0x20);
    assert_eq!(v.text_screen().unwrap().cursor, None);
    crtc_w(&mut v, 0x0A, 0x0D);
    // Start address one row down: row 1 is now the top.
    crtc_w(&mut v, 0x0C, 0);
    crtc_w(&mut v, 0x0D, 80);
    let s = v.text_screen().unwrap();
    assert_eq!(s.row_text(1), "   SeaBIOS (version 1.16)");
    assert_eq!(s.cursor, Some((8, 1)));
    crtc_w(&mut v, 0x0D, 0);
    // 80x50: 8-line characters.
    crtc_w(&mut v, 0x09, 0x47);
    let s = v.text_screen().unwrap();
    assert_eq!((s.cols, s.rows), (80, 50));
    assert_eq!(s.row_text(24), "☺bottom");
    // 40 columns: CR01 = 39 and a 40-character row stride.
    crtc_w(&mut v, 0x09, 0x4F);
    crtc_w(&mut v, 0x11, 0x0E);
    crtc_w(&mut v, 0x01, 0x27);
    crtc_w(&mut v, 0x13, 0x14);
    let s = v.text_screen().unwrap();
    assert_eq!((s.cols, s.rows), (40, 25));
    // Old row 2 at column 3 is now row 4, column 3 (80 cells = 2 rows).
    assert_eq!(s.row_text(4), "   SeaBIOS (version 1.16)");
    // Graphics mode: no text screen.
    gc_w(&mut v, 6, 0x05);
    assert!(v.text_screen().is_none());
}

#[test]
fn cp437_to_unicode() {
    assert_eq!(cp437_to_char(b'A'), 'A');
    assert_eq!(cp437_to_char(0x01), '☺');
    assert_eq!(cp437_to_char(0xB3), '│');
    assert_eq!(cp437_to_char(0xC9), '╔');
    assert_eq!(cp437_to_char(0xDB), '█');
    assert_eq!(cp437_to_char(0xE1), 'ß');
    assert_eq!(cp437_to_char(0x00), ' ');
}

/// Load an 8x16 glyph for `ch` the way a VGA BIOS does: plane 2,
/// sequential addressing at A0000.
fn load_glyph(v: &mut Vga, ch: u8, rows: &[u8; 16]) {
    seq_w(v, 2, 0x04);
    seq_w(v, 4, 0x06);
    gc_w(v, 4, 0x02);
    gc_w(v, 5, 0x00);
    gc_w(v, 6, 0x04);
    gc_w(v, 8, 0xFF);
    for (i, &r) in rows.iter().enumerate() {
        v.mmio_write(u64::from(ch) * 32 + i as u64, 1, u64::from(r));
    }
}

#[test]
fn text_rendering_uses_the_font_in_plane_2() {
    let mut v = Vga::new();
    let mut glyph = [0u8; 16];
    glyph[4] = 0x81;
    load_glyph(&mut v, b'X', &glyph);
    load_glyph(&mut v, 0xC4, &[0xFF; 16]);
    v.set_standard_mode(StandardMode::Text80x25);
    put_text(&mut v, 0, 0, "X", 0x1E);
    v.mmio_write(B8000 + 2, 2, 0x07C4);
    put_text(&mut v, 5, 0, " ", 0x07);
    crtc_w(&mut v, 0x0E, 0);
    crtc_w(&mut v, 0x0F, 5);
    let f = v.render();
    assert_eq!((f.width, f.height), (720, 400));
    let yellow = rgb6(v.dac_entry(v.attr_color(0x0E)));
    let blue = rgb6(v.dac_entry(v.attr_color(0x01)));
    let grey = rgb6(v.dac_entry(v.attr_color(0x07)));
    assert_eq!(f.pixel(0, 4), Some(yellow));
    assert_eq!(f.pixel(1, 4), Some(blue));
    assert_eq!(f.pixel(7, 4), Some(yellow));
    assert_eq!(f.pixel(8, 4), Some(blue), "ninth dot is background");
    assert_eq!(f.pixel(0, 5), Some(blue));
    // Line-drawing characters extend into the ninth dot.
    assert_eq!(f.pixel(17, 0), Some(grey));
    // The cursor (lines 13-14) at column 5.
    assert_eq!(f.pixel(45, 13), Some(grey));
    assert_eq!(f.pixel(45, 12), Some([0, 0, 0]));
    // Screen off blanks.
    seq_w(&mut v, 1, 0x20);
    assert!(v.render().rgb.iter().all(|&b| b == 0));
}

#[test]
fn png_round_trip() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Graphics320x200x256);
    for i in 0..320 * 200u64 {
        v.mmio_write(i, 1, i % 251);
    }
    let frame = v.render();
    let png_bytes = frame.to_png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (320, 200));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(&buf[..info.buffer_size()], &frame.rgb[..]);
    assert!(matches!(Frame::black(0, 0).to_png(), Err(PngError::Empty)));
}

#[test]
fn vbe_id_negotiation_and_caps() {
    let mut v = Vga::new();
    assert_eq!(dispi_r(&mut v, vbe::INDEX_ID), vbe::ID0);
    dispi_w(&mut v, vbe::INDEX_ID, vbe::ID5);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_ID), vbe::ID5);
    dispi_w(&mut v, vbe::INDEX_ID, 0xB0C9);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_ID), vbe::ID5, "unsupported id");
    dispi_w(&mut v, vbe::INDEX_ID, 0xB0C2);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_ID), 0xB0C2);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_VIDEO_MEMORY_64K), 256);
    dispi_w(&mut v, vbe::INDEX_ENABLE, vbe::GETCAPS);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_XRES), vbe::MAX_XRES);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_YRES), vbe::MAX_YRES);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_BPP), 32);
    dispi_w(&mut v, vbe::INDEX_ENABLE, 0);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_XRES), 0);
    // Index port reads back; a dword write sets index and data.
    v.port_write(vbe::INDEX_PORT, 4, 0x0320_0001, 0);
    assert_eq!(v.port_read(vbe::INDEX_PORT, 2, 0), 1);
    assert_eq!(v.port_read(0x1D0, 2, 0), 0x320);
}

#[test]
fn vbe_lfb_and_banked_window() {
    let mut v = Vga::new();
    v.lfb_write(0x1000, 4, 0xDEAD_BEEF);
    dispi_w(&mut v, vbe::INDEX_XRES, 640);
    dispi_w(&mut v, vbe::INDEX_YRES, 480);
    dispi_w(&mut v, vbe::INDEX_BPP, 32);
    dispi_w(&mut v, vbe::INDEX_ENABLE, vbe::ENABLED | vbe::LFB_ENABLED);
    assert!(v.vbe_active());
    assert_eq!(v.lfb_read(0x1000, 4), 0, "enabling clears memory");
    assert_eq!(dispi_r(&mut v, vbe::INDEX_VIRT_WIDTH), 640);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_VIRT_HEIGHT), 6553);
    // Pixel (10, 2) red, through the LFB.
    v.lfb_write((2 * 640 + 10) * 4, 4, 0x00FF_0000);
    // The pixel at byte 0x10000 (x = 384, y = 25) green, through bank 1.
    dispi_w(&mut v, vbe::INDEX_BANK, 1);
    v.mmio_write(0, 4, 0x0000_FF00);
    assert_eq!(v.lfb_read(0x1_0000, 4), 0x0000_FF00);
    assert_eq!(v.mmio_read(0, 4), 0x0000_FF00);
    // Only 64 KiB of window, at A0000 whatever GR6 selects.
    assert_eq!(v.mmio_read(0x1_0000, 1), 0xFF);
    gc_w(&mut v, 6, 0x0E);
    assert_eq!(v.mmio_read(0, 4), 0x0000_FF00);
    let f = v.render();
    assert_eq!((f.width, f.height), (640, 480));
    assert_eq!(f.pixel(10, 2), Some([0xFF, 0, 0]));
    assert_eq!(f.pixel(384, 25), Some([0, 0xFF, 0]));
    // Panning: Y offset 2 puts the red pixel on line 0.
    dispi_w(&mut v, vbe::INDEX_Y_OFFSET, 2);
    assert_eq!(v.render().pixel(10, 0), Some([0xFF, 0, 0]));
    // Beyond the end of video memory.
    assert_eq!(v.lfb_read(16 << 20, 2), 0xFFFF);
    v.lfb_write((16 << 20) - 1, 2, 0x1234);
    assert_eq!(v.lfb_read((16 << 20) - 1, 1), 0x34);
    // Re-enabling with NOCLEARMEM keeps memory; 8 bpp goes through the
    // DAC, 8-bit wide when asked for.
    dispi_w(&mut v, vbe::INDEX_ENABLE, 0);
    assert!(!v.vbe_active());
    dispi_w(&mut v, vbe::INDEX_BPP, 8);
    dispi_w(&mut v, vbe::INDEX_ENABLE, vbe::ENABLED | vbe::NOCLEARMEM | vbe::DAC_8BIT);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_Y_OFFSET), 0);
    assert_eq!(v.lfb_read(0x1_0000, 1), 0x00);
    assert_eq!(v.lfb_read(0x1_0001, 1), 0xFF);
    out(&mut v, 0x3C8, 0xFF);
    for c in [0x80, 0x81, 0x82] {
        out(&mut v, 0x3C9, c);
    }
    // Byte 0x10001 is pixel (257, 102) at 640 bytes per line.
    assert_eq!(v.render().pixel(257, 102), Some([0x80, 0x81, 0x82]));
}

#[test]
fn vbe_geometry_is_validated() {
    let mut v = Vga::with_vram_size(1 << 20);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_VIDEO_MEMORY_64K), 16);
    dispi_w(&mut v, vbe::INDEX_XRES, 4099);
    dispi_w(&mut v, vbe::INDEX_YRES, 4000);
    dispi_w(&mut v, vbe::INDEX_BPP, 7);
    dispi_w(&mut v, vbe::INDEX_ENABLE, vbe::ENABLED);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_BPP), 8);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_XRES), 4096);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_YRES), 256, "clipped to memory");
    dispi_w(&mut v, vbe::INDEX_BANK, 40);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_BANK), 40 % 16);
    dispi_w(&mut v, vbe::INDEX_X_OFFSET, 9999);
    assert_eq!(dispi_r(&mut v, vbe::INDEX_X_OFFSET), 0);
    // A 4 bpp mode leaves the window and the display to the VGA.
    dispi_w(&mut v, vbe::INDEX_ENABLE, 0);
    dispi_w(&mut v, vbe::INDEX_BPP, 4);
    dispi_w(&mut v, vbe::INDEX_XRES, 800);
    dispi_w(&mut v, vbe::INDEX_YRES, 600);
    dispi_w(&mut v, vbe::INDEX_ENABLE, vbe::ENABLED);
    assert!(!v.vbe_active());
    assert!(v.vbe().enabled());
}

#[test]
fn vbe_planar_4bpp_uses_vbe_geometry() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Graphics640x480x16);
    dispi_w(&mut v, vbe::INDEX_BPP, 4);
    dispi_w(&mut v, vbe::INDEX_XRES, 800);
    dispi_w(&mut v, vbe::INDEX_YRES, 600);
    dispi_w(&mut v, vbe::INDEX_ENABLE, vbe::ENABLED | vbe::NOCLEARMEM);
    // Pixel (17, 3) colour 9 through write mode 2: plane offset
    // 3 * 100 + 17 / 8, bit 7 - 17 % 8.
    gc_w(&mut v, 5, 0x02);
    gc_w(&mut v, 8, 0x80 >> 1);
    v.mmio_write(3 * 100 + 2, 1, 9);
    let f = v.render();
    assert_eq!((f.width, f.height), (800, 600));
    let c = |n: u8| rgb6(v.dac_entry(v.attr_color(n)));
    assert_eq!(f.pixel(17, 3), Some(c(9)));
    assert_eq!(f.pixel(16, 3), Some(c(0)));
    assert!(v.text_screen().is_none());
}

#[test]
fn terminal_renderer_draws_only_changes() {
    let mut screen = TextScreen::blank(4, 2);
    screen.cells[0] = (b'H', 0x1F);
    screen.cells[1] = (b'i', 0x1F);
    screen.cursor = Some((2, 0));
    let mut r = TerminalRenderer::new();
    let first = r.update(&screen);
    assert!(first.starts_with("\x1b[?25l\x1b[0m\x1b[H\x1b[2J"));
    assert!(first.contains("\x1b[1;1H\x1b[0;97;44mHi\x1b[0;37;40m  \x1b[2;1H    "));
    assert!(first.ends_with("\x1b[0m\x1b[1;3H\x1b[?25h"));
    assert_eq!(r.update(&screen), "", "nothing changed");
    // One cell changes colour and glyph; the cursor disappears.
    screen.cells[6] = (0xC4, 0x4E);
    screen.cursor = None;
    assert_eq!(r.update(&screen), "\x1b[?25l\x1b[2;3H\x1b[0;93;41m─\x1b[0m\x1b[?25l");
    // Only the cursor moves.
    screen.cursor = Some((0, 1));
    assert_eq!(r.update(&screen), "\x1b[2;1H\x1b[?25h");
    // Bright backgrounds without blink; blink with it.
    assert_eq!(terminal::sgr(0xF0, false), "\x1b[0;30;107m");
    assert_eq!(terminal::sgr(0xF0, true), "\x1b[0;30;47;5m");
    // A new geometry redraws everything.
    let out = r.update(&TextScreen::blank(2, 1));
    assert!(out.contains("\x1b[2J"));
    r.invalidate();
    assert!(r.update(&TextScreen::blank(2, 1)).contains("\x1b[2J"));
}

#[test]
fn terminal_renderer_on_a_real_screen() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Text80x25);
    for i in 0..80 * 25 {
        v.mmio_write(B8000 + 2 * i, 2, 0x0720);
    }
    let mut r = TerminalRenderer::new();
    r.update(&v.text_screen().unwrap());
    put_text(&mut v, 10, 3, "ok", 0x0A);
    let diff = r.update(&v.text_screen().unwrap());
    assert!(diff.contains("\x1b[4;11H\x1b[0;92;40mok"), "{diff:?}");
}

#[test]
fn cga_graphics_mode_4_layout() {
    // Mode 4: 320x200, 2 bpp, even lines at B8000, odd lines at BA000.
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Text80x25);
    out(&mut v, 0x3C2, 0x63);
    seq_w(&mut v, 1, 0x09);
    seq_w(&mut v, 2, 0x03);
    seq_w(&mut v, 4, 0x02);
    crtc_w(&mut v, 0x11, 0x0E);
    for (i, val) in [(0x01, 0x27), (0x09, 0xC1), (0x13, 0x14), (0x14, 0x00), (0x17, 0xA2)] {
        crtc_w(&mut v, i, val);
    }
    gc_w(&mut v, 5, 0x30);
    gc_w(&mut v, 6, 0x0F);
    out(&mut v, 0x3C0, 0x10);
    out(&mut v, 0x3C0, 0x01);
    out(&mut v, 0x3C0, 0x12);
    out(&mut v, 0x3C0, 0x03);
    out(&mut v, 0x3C0, 0x20);
    // Line 0: pixel 0 colour 3; line 1: pixel 4 colour 2.
    v.mmio_write(B8000, 1, 0xC0);
    v.mmio_write(B8000 + 0x2000 + 1, 1, 0x80);
    let f = v.render();
    assert_eq!((f.width, f.height), (320, 200));
    let c = |n: u8| rgb6(v.dac_entry(v.attr_color(n)));
    assert_eq!(f.pixel(0, 0), Some(c(3)));
    assert_eq!(f.pixel(1, 0), Some(c(0)));
    assert_eq!(f.pixel(4, 1), Some(c(2)));
    assert_eq!(f.pixel(4, 0), Some(c(0)));
}

#[test]
fn reset_keeps_memory() {
    let mut v = Vga::new();
    v.set_standard_mode(StandardMode::Text80x25);
    v.mmio_write(B8000, 2, 0x0741);
    v.reset();
    assert_eq!(v.misc_output(), 0);
    assert_eq!(v.plane_byte(0, 0), 0x41);
    assert_eq!(v.vram_size(), DEFAULT_VRAM_SIZE);
}

#[test]
fn fuzz_ports_and_memory() {
    let mut v = Vga::with_vram_size(1 << 20);
    let mut rng = XorShift::new(0x3C0);
    let ports: Vec<u16> = (0x3B0..=0x3DF).chain(0x1CE..=0x1D0).collect();
    let mut now = 0;
    for n in 0..200_000u32 {
        now += rng.below(1000);
        match rng.below(8) {
            0 | 1 => {
                let port = rng.pick(&ports);
                v.port_write(port, rng.size(), rng.next_u64() as u32, now);
            }
            2 => {
                let port = rng.pick(&ports);
                v.port_read(port, rng.size(), now);
            }
            3 => {
                // Often the VBE registers, with plausible values.
                let index = rng.below(12) as u16;
                let value = match rng.below(3) {
                    0 => rng.below(2048) as u16,
                    1 => rng.pick(&[0, 1, 0x41, 0x81, 0xC1, 0x03, 4, 8, 15, 16, 24, 32]),
                    _ => rng.next_u64() as u16,
                };
                dispi_w(&mut v, index, value);
            }
            4 => {
                v.mmio_write(rng.below(LEGACY_SIZE + 16), rng.size(), rng.next_u64());
            }
            5 => {
                v.mmio_read(rng.below(LEGACY_SIZE + 16), rng.size());
            }
            6 => {
                let offset = rng.below(2 << 20);
                if rng.below(2) == 0 {
                    v.lfb_write(offset, rng.size(), rng.next_u64());
                } else {
                    v.lfb_read(offset, rng.size());
                }
            }
            _ => {
                if n % 64 == 0
                    && let Some(s) = v.text_screen()
                {
                    assert_eq!(s.cells.len(), s.cols * s.rows);
                }
                if n % 8192 == 0 {
                    let f = v.render();
                    assert_eq!(f.rgb.len(), f.width * f.height * 3);
                }
            }
        }
    }
}
