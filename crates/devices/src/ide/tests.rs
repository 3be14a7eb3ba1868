//! Tests of the IDE controller through its ports, as drivers use it.

use super::*;
use crate::IrqLines;
use crate::block::tests::TempPath;
use crate::block::{MemBackend, RawFile};
use crate::testutil::XorShift;

const DATA: u16 = 0x1F0;
const ERROR: u16 = 0x1F1;
const NSECT: u16 = 0x1F2;
const LBAL: u16 = 0x1F3;
const LBAM: u16 = 0x1F4;
const LBAH: u16 = 0x1F5;
const DEVICE: u16 = 0x1F6;
const STATUS: u16 = 0x1F7;
const CTRL: u16 = 0x3F6;
const BM: u16 = 0xC000;

const BSY: u8 = 0x80;
const DRDY: u8 = 0x40;
const DSC: u8 = 0x10;
const DRQ: u8 = 0x08;
const ERR: u8 = 0x01;

/// Guest memory for DMA: a flat vector; anything outside reads as ones
/// and swallows writes, as the machine's implementation must.
struct FakeMem {
    ram: Vec<u8>,
    reads: u64,
}

impl FakeMem {
    fn new(size: usize) -> Self {
        Self {
            ram: vec![0; size],
            reads: 0,
        }
    }

    fn put(&mut self, addr: usize, data: &[u8]) {
        self.ram[addr..addr + data.len()].copy_from_slice(data);
    }

    fn prd(&mut self, at: usize, entries: &[(u32, u16, bool)]) {
        for (i, &(addr, count, eot)) in entries.iter().enumerate() {
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&addr.to_le_bytes());
            e[4..6].copy_from_slice(&count.to_le_bytes());
            e[7] = if eot { 0x80 } else { 0 };
            self.put(at + 8 * i, &e);
        }
    }
}

impl DmaMemory for FakeMem {
    fn read(&mut self, addr: u64, buf: &mut [u8]) {
        self.reads += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = usize::try_from(addr + i as u64)
                .ok()
                .and_then(|a| self.ram.get(a).copied())
                .unwrap_or(0xFF);
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            if let Some(slot) = usize::try_from(addr + i as u64).ok().and_then(|a| self.ram.get_mut(a)) {
                *slot = b;
            }
        }
    }
}

struct Rig {
    ide: Piix3Ide,
    lines: IrqLines,
}

impl Rig {
    fn new() -> Self {
        let lines = IrqLines::new();
        Self {
            ide: Piix3Ide::new(lines.line(14), lines.line(15)),
            lines,
        }
    }

    fn with(devices: Vec<(IdeChannel, IdeUnit, IdeDevice)>) -> Self {
        let mut r = Self::new();
        for (c, u, d) in devices {
            r.ide.attach(c, u, d).unwrap();
        }
        r
    }

    fn inb(&mut self, port: u16) -> u8 {
        self.ide.port_read(port, 1, 0) as u8
    }
    fn outb(&mut self, port: u16, v: u8) {
        self.ide.port_write(port, 1, u32::from(v), 0);
    }
    fn inw(&mut self, port: u16) -> u16 {
        self.ide.port_read(port, 2, 0) as u16
    }
    fn outw(&mut self, port: u16, v: u16) {
        self.ide.port_write(port, 2, u32::from(v), 0);
    }
    fn inl(&mut self, port: u16) -> u32 {
        self.ide.port_read(port, 4, 0)
    }
    fn outl(&mut self, port: u16, v: u32) {
        self.ide.port_write(port, 4, v, 0);
    }

    fn irq14(&self) -> bool {
        self.lines.levels() & (1 << 14) != 0
    }

    /// Read `n` bytes from the data port, a word at a time.
    fn read_data(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n / 2 {
            v.extend_from_slice(&self.inw(DATA).to_le_bytes());
        }
        v
    }

    fn write_data(&mut self, data: &[u8]) {
        for w in data.chunks(2) {
            self.outw(DATA, u16::from_le_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    }

    /// Select a device and load an LBA28 command's registers.
    fn lba28(&mut self, dev: u8, lba: u32, count: u8) {
        self.outb(DEVICE, 0xE0 | dev << 4 | (lba >> 24) as u8 & 0x0F);
        self.outb(NSECT, count);
        self.outb(LBAL, lba as u8);
        self.outb(LBAM, (lba >> 8) as u8);
        self.outb(LBAH, (lba >> 16) as u8);
    }

    /// Load an LBA48 command's registers (HOB first, as drivers do).
    fn lba48(&mut self, dev: u8, lba: u64, count: u16) {
        self.outb(DEVICE, 0x40 | dev << 4);
        self.outb(NSECT, (count >> 8) as u8);
        self.outb(LBAL, (lba >> 24) as u8);
        self.outb(LBAM, (lba >> 32) as u8);
        self.outb(LBAH, (lba >> 40) as u8);
        self.outb(NSECT, count as u8);
        self.outb(LBAL, lba as u8);
        self.outb(LBAM, (lba >> 8) as u8);
        self.outb(LBAH, (lba >> 16) as u8);
    }

    fn identify(&mut self, cmd: u8) -> [u16; 256] {
        self.outb(STATUS, cmd);
        assert_eq!(self.inb(STATUS) & (DRQ | ERR), DRQ, "IDENTIFY offers data");
        let mut w = [0u16; 256];
        for x in &mut w {
            *x = self.inw(DATA);
        }
        assert_eq!(self.inb(STATUS) & (BSY | DRQ), 0);
        w
    }

    /// Program BAR4 and enable I/O and bus mastering.
    fn enable_bus_master(&mut self) {
        self.ide.config_write(0x20, 4, u32::from(BM));
        self.ide.config_write(0x04, 2, 0x0005);
    }
}

/// A disk image of `sectors` sectors whose every byte says where it is.
fn pattern_disk(sectors: u64) -> Vec<u8> {
    (0..sectors * 512).map(|i| ((i / 512) as u8) ^ (i as u8).wrapping_mul(3)).collect()
}

fn disk(sectors: u64) -> Box<dyn BlockBackend> {
    Box::new(MemBackend::new(pattern_disk(sectors), false))
}

/// A "CD" of `blocks` 2048-byte blocks: block n starts with its number
/// and is filled with n as a byte; block 16 has an ISO 9660 primary
/// volume descriptor signature.
fn cd_image(blocks: u32) -> Vec<u8> {
    let mut v = vec![0u8; blocks as usize * 2048];
    for (n, b) in v.chunks_mut(2048).enumerate() {
        b.fill(n as u8);
        b[..4].copy_from_slice(&(n as u32).to_be_bytes());
    }
    if blocks > 16 {
        v[16 * 2048..16 * 2048 + 6].copy_from_slice(b"\x01CD001");
    }
    v
}

fn cd(blocks: u32) -> Box<dyn BlockBackend> {
    Box::new(MemBackend::new(cd_image(blocks), true))
}

fn words_string(w: &[u16]) -> String {
    w.iter()
        .flat_map(|x| [(x >> 8) as u8 as char, *x as u8 as char])
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[test]
fn pci_identity_and_bar4() {
    let mut r = Rig::new();
    let ide = &mut r.ide;
    assert_eq!(ide.config_read(0x00, 4), 0x7010_8086);
    assert_eq!(ide.config_read(0x08, 4), 0x0101_8000);
    assert_eq!(ide.config_read(0x0E, 1), 0x00);
    assert_eq!(ide.config_read(0x40, 4), 0x8000_8000);
    ide.config_write(0x04, 2, 0xFFFF);
    assert_eq!(ide.config_read(0x04, 2), 0x0005);
    ide.config_write(0x04, 2, 0);
    // BAR4: 16 bytes of I/O.
    ide.config_write(0x20, 4, 0xFFFF_FFFF);
    assert_eq!(ide.config_read(0x20, 4), 0xFFFF_FFF1);
    for bar in [0x10, 0x14, 0x18, 0x1C, 0x24] {
        ide.config_write(bar, 4, 0xFFFF_FFFF);
        assert_eq!(ide.config_read(bar, 4), 0, "BAR at {bar:#x} absent");
    }
    ide.config_write(0x20, 4, 0xC001);
    assert_eq!(ide.bus_master_base(), None, "I/O space still off");
    ide.config_write(0x04, 2, 0x0001);
    assert_eq!(ide.bus_master_base(), Some(0xC000));
    assert!(ide.claims_port(0xC00F) && !ide.claims_port(0xC010));
    assert!(ide.claims_port(0x1F0) && ide.claims_port(0x3F6) && ide.claims_port(0x376));
    assert!(!ide.claims_port(0x3F7) && !ide.claims_port(0x1F8));
    // The bus finds it at 00:01.1.
    let mut bus = crate::pci::PciBus::i440fx_piix3();
    bus.add(Piix3Ide::devfn(), Box::new(Rig::new().ide)).unwrap();
    assert!(bus.ide().is_some());
    assert_eq!(bus.config_read(Piix3Ide::devfn(), 0, 4), 0x7010_8086, "visible on the bus");
}

#[test]
fn identify_device_contents() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(20_000)))]);
    r.outb(DEVICE, 0xA0);
    let w = r.identify(0xEC);
    assert_eq!(w[0], 0x0040);
    assert_eq!(words_string(&w[27..47]), "RINGVISOR HARDDISK");
    assert_eq!(words_string(&w[10..20]), "RV00000001");
    assert_eq!(words_string(&w[23..27]), "1.0");
    assert_eq!((w[1], w[3], w[6]), (19, 16, 63));
    assert_eq!(u32::from(w[60]) | u32::from(w[61]) << 16, 20_000);
    let lba48 = (0..4).fold(0u64, |a, i| a | u64::from(w[100 + i]) << (16 * i));
    assert_eq!(lba48, 20_000);
    assert_eq!(w[47] & 0xFF, u16::from(MAX_MULT));
    assert_ne!(w[49] & 0x0300, 0, "LBA and DMA");
    assert_ne!(w[83] & (1 << 10), 0, "LBA48");
    assert_ne!(w[83] & (1 << 12), 0, "FLUSH CACHE");
    assert_ne!(w[83] & (1 << 13), 0, "FLUSH CACHE EXT");
    assert_ne!(w[85] & (1 << 5), 0, "write cache on");
    assert_eq!(w[63] & 0x07, 0x07, "MWDMA 0-2");
    assert_eq!(w[88] & 0x3F, 0x3F, "UDMA 0-5");
    assert_eq!(w[53] & 0x07, 0x07);
    // No slave: device 0 responds for device 1; 80-wire cable.
    assert_eq!(w[93] & 0xDF61, 0x4041);
    assert_ne!(w[93] & (1 << 13), 0);
    let sum = w.iter().fold(0u8, |s, &x| s.wrapping_add(x as u8).wrapping_add((x >> 8) as u8));
    assert_eq!(sum, 0, "checksum");
    assert_eq!(w[255] & 0xFF, 0xA5);
    // The interrupt came and a status read took it.
    assert!(!r.irq14());
    // 32-bit reads give the same words.
    r.outb(STATUS, 0xEC);
    let mut w32 = [0u16; 256];
    for i in 0..128 {
        let v = r.inl(DATA);
        w32[2 * i] = v as u16;
        w32[2 * i + 1] = (v >> 16) as u16;
    }
    assert_eq!(w32, w);
    // SET FEATURES selecting UDMA5 shows in word 88.
    r.outb(ERROR, 0x03);
    r.outb(NSECT, 0x45);
    r.outb(STATUS, 0xEF);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    let w = r.identify(0xEC);
    assert_eq!(w[88], 0x203F);
    // A slave makes word 93 say so.
    let r = &mut Rig::with(vec![
        (IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(100))),
        (IdeChannel::Primary, IdeUnit::Slave, IdeDevice::Disk(disk(100))),
    ]);
    let w = r.identify(0xEC);
    assert_eq!(w[93] & 0x0070, 0x0030);
    r.outb(DEVICE, 0xB0);
    let w = r.identify(0xEC);
    assert_eq!(w[93] & 0x1F00, 0x0B00);
    assert_eq!(words_string(&w[10..20]), "RV00000002");
}

#[test]
fn identify_caps_lba28_on_big_disks() {
    // A sparse 200 GiB raw file: words 60-61 stop at 2^28 - 1, 100-103
    // carry the whole capacity, and LBA48 reads reach past 2^28.
    let path = TempPath::new("big.img");
    let f = std::fs::File::create(&path.0).unwrap();
    let sectors: u64 = 200 << 21;
    f.set_len(sectors * 512).unwrap();
    use std::os::unix::fs::FileExt;
    let high = 0x1234_5678u64;
    f.write_all_at(b"far away", high * 512).unwrap();
    drop(f);
    let img = RawFile::open(&path.0, false).unwrap();
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(Box::new(img)))]);
    let w = r.identify(0xEC);
    assert_eq!(u32::from(w[60]) | u32::from(w[61]) << 16, 0x0FFF_FFFF);
    let lba48 = (0..4).fold(0u64, |a, i| a | u64::from(w[100 + i]) << (16 * i));
    assert_eq!(lba48, sectors);
    assert_eq!(w[1], 16383);
    r.lba48(0, high, 1);
    r.outb(STATUS, 0x24);
    assert_eq!(r.inb(STATUS) & (DRQ | ERR), DRQ);
    let data = r.read_data(512);
    assert_eq!(&data[..8], b"far away");
    // LBA28 cannot go there: the address wraps into 28 bits.
    r.lba28(0, 0x0FFF_FFFF, 2);
    r.outb(STATUS, 0x20);
    assert_eq!(r.inb(STATUS) & (DRQ | ERR), DRQ);
}

#[test]
fn pio_write_then_read_round_trip_on_a_raw_file() {
    let path = TempPath::new("pio.img");
    std::fs::write(&path.0, vec![0u8; 64 * 512]).unwrap();
    let img = RawFile::open(&path.0, false).unwrap();
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(Box::new(img)))]);
    let data: Vec<u8> = (0..3 * 512).map(|i| (i * 13 % 256) as u8).collect();
    // WRITE SECTORS: DRQ at once without an interrupt, then one
    // interrupt per block.
    r.lba28(0, 5, 3);
    r.outb(STATUS, 0x30);
    assert!(!r.irq14(), "no interrupt before the first block");
    assert_eq!(r.inb(0x3F6), DRDY | DSC | DRQ);
    for (i, block) in data.chunks(512).enumerate() {
        r.write_data(block);
        assert!(r.irq14(), "interrupt after block {i}");
        let st = r.inb(STATUS);
        assert!(!r.irq14(), "status read clears it");
        if i < 2 {
            assert_eq!(st, DRDY | DSC | DRQ);
        } else {
            assert_eq!(st, DRDY | DSC);
        }
    }
    // FLUSH CACHE: the data is in the file for anyone to see.
    r.outb(STATUS, 0xE7);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    let file = std::fs::read(&path.0).unwrap();
    assert_eq!(&file[5 * 512..8 * 512], &data[..]);
    // READ SECTORS back: an interrupt per block, none after the last.
    r.lba28(0, 5, 3);
    r.outb(STATUS, 0x20);
    let mut back = Vec::new();
    for i in 0..3 {
        assert!(r.irq14(), "interrupt for block {i}");
        assert_eq!(r.inb(STATUS), DRDY | DSC | DRQ);
        back.extend(r.read_data(512));
    }
    assert!(!r.irq14());
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    assert_eq!(back, data);
    // The registers point past the last sector, the count is used up.
    assert_eq!((r.inb(LBAL), r.inb(NSECT)), (8, 0));
    // 32-bit PIO writes work too.
    r.lba28(0, 60, 1);
    r.outb(STATUS, 0x30);
    for i in 0..128u32 {
        r.outl(DATA, i * 0x0101_0101);
    }
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    let file = std::fs::read(&path.0).unwrap();
    assert_eq!(&file[60 * 512 + 4..60 * 512 + 8], &[1, 1, 1, 1]);
}

#[test]
fn lba48_register_semantics() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(300)))]);
    // Two writes per register: the previous value becomes the HOB.
    r.lba48(0, 0x0605_0403_0201, 0x0A0B);
    assert_eq!(r.inb(LBAL), 0x01);
    r.outb(CTRL, 0x80);
    assert_eq!([r.inb(NSECT), r.inb(LBAL), r.inb(LBAM), r.inb(LBAH)], [0x0A, 0x04, 0x05, 0x06]);
    // A command block write clears HOB.
    r.outb(ERROR, 0);
    assert_eq!(r.inb(LBAL), 0x01);
    assert_eq!(r.inb(NSECT), 0x0B);
    // READ SECTORS EXT of 260 sectors (more than LBA28's 256 per count
    // byte) at LBA 20.
    r.lba48(0, 20, 260);
    r.outb(STATUS, 0x24);
    let want = pattern_disk(300);
    for i in 0..260 {
        assert_eq!(r.inb(STATUS) & (DRQ | ERR), DRQ, "block {i}");
        let got = r.read_data(512);
        assert_eq!(got, want[(20 + i) * 512..(21 + i) * 512], "sector {}", 20 + i);
    }
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    // Count 0 means 65536 sectors: beyond this disk, so IDNF.
    r.lba48(0, 0, 0);
    r.outb(STATUS, 0x24);
    assert_eq!(r.inb(STATUS), DRDY | DSC | ERR);
    assert_eq!(r.inb(ERROR), 0x10);
    // An LBA28 count of 0 is 256 sectors.
    r.lba28(0, 45, 0);
    r.outb(STATUS, 0x20);
    assert_eq!(r.inb(STATUS), DRDY | DSC | ERR, "45 + 256 > 300");
    r.lba28(0, 45, 0);
    r.outb(STATUS, 0x40); // READ VERIFY, same range
    assert_eq!(r.inb(STATUS), DRDY | DSC | ERR);
    r.lba28(0, 44, 0);
    r.outb(STATUS, 0x40);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    // READ NATIVE MAX ADDRESS EXT.
    r.outb(DEVICE, 0x40);
    r.outb(STATUS, 0x27);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    assert_eq!((r.inb(LBAL), r.inb(LBAM), r.inb(LBAH)), (43, 1, 0));
}

#[test]
fn chs_addressing_and_initialize_device_parameters() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(2000)))]);
    let want = pattern_disk(2000);
    // Default translation 16 heads x 63: C/H/S 1/2/3 is LBA (16+2)*63+2.
    let read_chs = |r: &mut Rig, c: u16, h: u8, s: u8| -> Option<Vec<u8>> {
        r.outb(DEVICE, 0xA0 | h);
        r.outb(NSECT, 1);
        r.outb(LBAL, s);
        r.outb(LBAM, c as u8);
        r.outb(LBAH, (c >> 8) as u8);
        r.outb(STATUS, 0x20);
        (r.inb(STATUS) & ERR == 0).then(|| r.read_data(512))
    };
    let lba = (16 + 2) * 63 + 2;
    assert_eq!(read_chs(&mut r, 1, 2, 3).unwrap(), want[lba * 512..lba * 512 + 512]);
    assert!(read_chs(&mut r, 0, 0, 0).is_none(), "sector 0 does not exist");
    assert!(read_chs(&mut r, 0, 0, 64).is_none());
    // INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors.
    r.outb(DEVICE, 0xA0 | 3);
    r.outb(NSECT, 17);
    r.outb(STATUS, 0x91);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    let w = r.identify(0xEC);
    assert_eq!((w[54], w[55], w[56]), (2000 / 68, 4, 17));
    let lba = (4 + 3) * 17 + 4;
    assert_eq!(read_chs(&mut r, 1, 3, 5).unwrap(), want[lba * 512..lba * 512 + 512]);
    assert!(read_chs(&mut r, 0, 4, 1).is_none(), "head 4 of 4");
    // The registers hold the CHS address after the last sector read.
    assert_eq!(r.inb(LBAL), 1);
}

#[test]
fn multiple_mode() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(64)))]);
    let want = pattern_disk(64);
    // Without SET MULTIPLE MODE, READ MULTIPLE aborts.
    r.lba28(0, 0, 4);
    r.outb(STATUS, 0xC4);
    assert_eq!(r.inb(STATUS), DRDY | DSC | ERR);
    assert_eq!(r.inb(ERROR), 0x04);
    // Invalid block sizes abort; 4 is taken.
    for bad in [3, 32] {
        r.outb(NSECT, bad);
        r.outb(STATUS, 0xC6);
        assert_eq!(r.inb(STATUS) & ERR, ERR, "{bad}");
    }
    r.outb(NSECT, 4);
    r.outb(STATUS, 0xC6);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    assert_eq!(r.identify(0xEC)[59], 0x0104);
    // READ MULTIPLE of 10 sectors: blocks of 4, 4, 2.
    r.lba28(0, 7, 10);
    r.outb(STATUS, 0xC4);
    let mut got = Vec::new();
    for size in [4, 4, 2] {
        assert!(r.irq14());
        assert_eq!(r.inb(STATUS), DRDY | DSC | DRQ);
        got.extend(r.read_data(size * 512));
    }
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    assert_eq!(got, want[7 * 512..17 * 512]);
    // WRITE MULTIPLE EXT of 6 sectors: blocks of 4 and 2.
    r.lba48(0, 30, 6);
    r.outb(STATUS, 0x39);
    let data = vec![0xC3u8; 6 * 512];
    r.write_data(&data[..4 * 512]);
    assert_eq!(r.inb(STATUS), DRDY | DSC | DRQ);
    r.write_data(&data[4 * 512..]);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    r.lba28(0, 30, 6);
    r.outb(STATUS, 0x20);
    let mut back = Vec::new();
    for _ in 0..6 {
        back.extend(r.read_data(512));
    }
    assert_eq!(back, data);
    // Disabling multiple mode.
    r.outb(NSECT, 0);
    r.outb(STATUS, 0xC6);
    assert_eq!(r.identify(0xEC)[59], 0);
}

#[test]
fn errors_and_unsupported_commands() {
    let mut r = Rig::with(vec![
        (IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(16))),
        (
            IdeChannel::Primary,
            IdeUnit::Slave,
            IdeDevice::Disk(Box::new(MemBackend::new(vec![0; 8192], true))),
        ),
    ]);
    // Beyond the end: IDNF.
    r.lba28(0, 15, 2);
    r.outb(STATUS, 0x20);
    assert_eq!((r.inb(STATUS), r.inb(ERROR)), (DRDY | DSC | ERR, 0x10));
    // Unknown command: ABRT, with an interrupt.
    r.outb(STATUS, 0xB0);
    assert!(r.irq14());
    assert_eq!((r.inb(STATUS), r.inb(ERROR)), (DRDY | DSC | ERR, 0x04));
    // The next good command clears the error.
    r.outb(STATUS, 0xE5);
    assert_eq!((r.inb(STATUS), r.inb(NSECT)), (DRDY | DSC, 0xFF));
    // A read-only image: writes (PIO and DMA) abort, reads work.
    r.lba28(1, 0, 1);
    r.outb(STATUS, 0x30);
    assert_eq!((r.inb(STATUS), r.inb(ERROR)), (DRDY | DSC | ERR, 0x04));
    r.lba28(1, 0, 1);
    r.outb(STATUS, 0xCA);
    assert_eq!(r.inb(STATUS) & ERR, ERR);
    r.lba28(1, 0, 1);
    r.outb(STATUS, 0x20);
    assert_eq!(r.inb(STATUS) & (DRQ | ERR), DRQ);
    r.read_data(512);
    // IDENTIFY PACKET DEVICE and PACKET to a disk abort (SeaBIOS probes
    // every device with A1 first).
    for cmd in [0xA1, 0xA0, 0x08] {
        r.outb(DEVICE, 0xA0);
        r.outb(STATUS, cmd);
        assert_eq!(r.inb(STATUS), DRDY | DSC | ERR, "{cmd:#x}");
    }
    // Commands while DRQ is up are ignored.
    r.lba28(0, 0, 1);
    r.outb(STATUS, 0x20);
    r.outb(STATUS, 0xEC);
    assert_eq!(r.read_data(512), pattern_disk(1));
}

#[test]
fn absent_devices_and_empty_channels() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(16)))]);
    // Linux's ata_devchk on device 1: the shadow registers hold what was
    // written, but status and error of the absent device read 0.
    r.outb(DEVICE, 0xB0);
    r.outb(NSECT, 0x55);
    r.outb(LBAL, 0xAA);
    assert_eq!((r.inb(NSECT), r.inb(LBAL), r.inb(DEVICE)), (0x55, 0xAA, 0xB0));
    assert_eq!((r.inb(STATUS), r.inb(ERROR), r.inb(0x3F6)), (0, 0, 0));
    r.outb(STATUS, 0xEC);
    assert_eq!(r.inb(STATUS), 0, "commands to an absent device vanish");
    assert!(!r.irq14());
    // The secondary channel is empty: everything floats to 0.
    r.outb(0x176, 0xA0);
    r.outb(0x172, 0x55);
    assert_eq!((r.inb(0x172), r.inb(0x177), r.inb(0x176)), (0, 0, 0));
    assert_eq!(r.ide.port_read(0x170, 2, 0), 0);
    // A byte read of the data port gets nothing.
    assert_eq!(r.inb(0x1F0), 0xFF);
}

#[test]
fn soft_reset_signatures_and_diagnostics() {
    let mut r = Rig::with(vec![
        (IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(16))),
        (IdeChannel::Primary, IdeUnit::Slave, IdeDevice::Cdrom(Some(cd(32)))),
    ]);
    r.outb(DEVICE, 0xB0);
    r.outb(LBAM, 0x77);
    // SRST: busy while held.
    r.outb(CTRL, 0x04 | 0x02);
    assert_eq!(r.inb(0x3F6) & BSY, BSY);
    r.outb(CTRL, 0x02);
    // Device 0 selected, ATA signature, diagnostics passed.
    assert_eq!(r.inb(DEVICE) & 0x10, 0);
    assert_eq!([r.inb(NSECT), r.inb(LBAL), r.inb(LBAM), r.inb(LBAH), r.inb(ERROR)], [1, 1, 0, 0, 1]);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    r.outb(DEVICE, 0xB0);
    assert_eq!(
        [r.inb(NSECT), r.inb(LBAL), r.inb(LBAM), r.inb(LBAH), r.inb(ERROR)],
        [1, 1, 0x14, 0xEB, 1]
    );
    assert_eq!(r.inb(STATUS), 0, "ATAPI: DRDY clear after reset");
    // IDENTIFY DEVICE to the ATAPI device: abort with its signature.
    r.outb(LBAM, 0);
    r.outb(LBAH, 0);
    r.outb(STATUS, 0xEC);
    assert_eq!(r.inb(STATUS) & ERR, ERR);
    assert_eq!((r.inb(LBAM), r.inb(LBAH), r.inb(ERROR)), (0x14, 0xEB, 0x04));
    // EXECUTE DEVICE DIAGNOSTIC: signatures again, error 01, interrupt.
    r.outb(DEVICE, 0xA0);
    r.outb(LBAM, 0x99);
    r.outb(STATUS, 0x90);
    assert!(!r.irq14(), "nIEN still set");
    r.outb(CTRL, 0x00);
    assert!(r.irq14(), "pending interrupt shows once nIEN clears");
    assert_eq!(r.inb(0x3F6), DRDY | DSC);
    assert!(r.irq14(), "alternate status leaves it");
    assert_eq!((r.inb(STATUS), r.inb(ERROR), r.inb(LBAM)), (DRDY | DSC, 1, 0));
    assert!(!r.irq14());
    // DEVICE RESET works on the ATAPI device even in the middle of a
    // packet, and raises no interrupt.
    r.outb(DEVICE, 0xB0);
    r.outb(STATUS, 0xA0);
    assert_eq!(r.inb(STATUS) & DRQ, DRQ);
    r.outb(STATUS, 0x08);
    assert!(!r.irq14());
    assert_eq!((r.inb(STATUS), r.inb(LBAM), r.inb(LBAH)), (0, 0x14, 0xEB));
}

#[test]
fn nien_gates_the_line_and_the_secondary_uses_irq15() {
    let mut r = Rig::with(vec![(IdeChannel::Secondary, IdeUnit::Master, IdeDevice::Disk(disk(8)))]);
    r.outb(0x376, 0x02);
    r.outb(0x176, 0xA0);
    r.outb(0x177, 0xE5);
    assert_eq!(r.lines.levels(), 0);
    r.outb(0x376, 0x00);
    assert_eq!(r.lines.levels(), 1 << 15);
    r.outb(0x376, 0x02);
    assert_eq!(r.lines.levels(), 0, "nIEN floats the line again");
    assert_eq!(r.inb(0x177), DRDY | DSC);
    r.outb(0x376, 0x00);
    assert_eq!(r.lines.levels(), 0, "the status read took the interrupt");
    // A new command clears a pending interrupt before it runs.
    r.outb(0x177, 0xE5);
    assert_eq!(r.lines.levels(), 1 << 15);
}

#[test]
fn flush_cache_reaches_the_backend_and_write_through_mode() {
    /// A backend that counts flushes and shares its bytes.
    #[derive(Debug)]
    struct Counting(std::sync::Arc<std::sync::Mutex<MemBackend>>);
    impl BlockBackend for Counting {
        fn size(&self) -> u64 {
            self.0.lock().unwrap().size()
        }
        fn is_read_only(&self) -> bool {
            false
        }
        fn read_at(&mut self, o: u64, b: &mut [u8]) -> Result<(), BlockError> {
            self.0.lock().unwrap().read_at(o, b)
        }
        fn write_at(&mut self, o: u64, d: &[u8]) -> Result<(), BlockError> {
            self.0.lock().unwrap().write_at(o, d)
        }
        fn flush(&mut self) -> Result<(), BlockError> {
            self.0.lock().unwrap().flush()
        }
    }
    let shared = std::sync::Arc::new(std::sync::Mutex::new(MemBackend::new(vec![0; 8192], false)));
    let flushes = || shared.lock().unwrap().flushes;
    let mut r = Rig::with(vec![(
        IdeChannel::Primary,
        IdeUnit::Master,
        IdeDevice::Disk(Box::new(Counting(shared.clone()))),
    )]);
    r.outb(STATUS, 0xEA);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    assert_eq!(flushes(), 1);
    // With the write cache on, writes do not flush by themselves.
    r.lba28(0, 1, 1);
    r.outb(STATUS, 0x30);
    r.write_data(&[1; 512]);
    assert_eq!(flushes(), 1);
    // SET FEATURES: write cache off -> every write is synced.
    r.outb(ERROR, 0x82);
    r.outb(STATUS, 0xEF);
    assert_eq!(r.identify(0xEC)[85] & 0x20, 0);
    r.lba28(0, 2, 2);
    r.outb(STATUS, 0x30);
    r.write_data(&[2; 1024]);
    assert_eq!(flushes(), 3);
    assert!(r.ide.flush_all().is_ok());
    assert_eq!(flushes(), 4);
}

/// Issue an LBA28 DMA command and start the engine on table `prd`.
fn start_dma(r: &mut Rig, cmd: u8, lba: u32, count: u8, prd: u32, to_memory: bool) {
    r.outl(BM + 4, prd);
    r.outb(BM, if to_memory { 0x08 } else { 0 });
    r.outb(BM + 2, 0x06); // clear interrupt and error
    r.lba28(0, lba, count);
    r.outb(STATUS, cmd);
    r.outb(BM, if to_memory { 0x09 } else { 0x01 });
}

#[test]
fn dma_read_and_write_through_prd_tables() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(400)))]);
    r.enable_bus_master();
    let want = pattern_disk(400);
    let mut mem = FakeMem::new(1 << 20);
    // 300 sectors = 153600 bytes: 1000 + 2 x 64 KiB (count 0) + the rest.
    mem.prd(
        0x1000,
        &[
            (0x2000, 1000, false),
            (0x10000, 0, false),
            (0x20000, 0, false),
            (0x40000, 21528, true),
        ],
    );
    start_dma(&mut r, 0xC8, 10, 44, 0x1000, true); // 44 sectors first: table larger
    assert!(r.ide.dma_pending());
    assert_eq!(r.inb(0x3F6), DRDY | DSC | DRQ, "waiting for the engine");
    assert!(!r.irq14());
    r.ide.run_dma(&mut mem, 0);
    assert!(!r.ide.dma_pending());
    assert!(r.irq14());
    // Table larger than the transfer: interrupt, still active.
    assert_eq!(r.inb(BM + 2) & 0x07, 0x05);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    assert_eq!(&mem.ram[0x2000..0x2000 + 1000], &want[10 * 512..10 * 512 + 1000]);
    assert_eq!(&mem.ram[0x10000..0x10000 + 44 * 512 - 1000], &want[10 * 512 + 1000..54 * 512]);
    r.outb(BM, 0x08);
    assert_eq!(r.inb(BM + 2) & 0x01, 0);
    // 300 sectors with a table that fits exactly: interrupt, not active.
    start_dma(&mut r, 0xC8, 0, 44, 0x1000, true);
    r.ide.run_dma(&mut mem, 0);
    let _ = r.inb(STATUS);
    r.outb(BM, 0x08);
    r.outl(BM + 4, 0x1000);
    r.outb(BM + 2, 0x06);
    r.lba48(0, 50, 300);
    r.outb(STATUS, 0x25);
    r.outb(BM, 0x09);
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(r.inb(BM + 2) & 0x07, 0x04);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    assert_eq!(&mem.ram[0x2000..0x2000 + 1000], &want[50 * 512..50 * 512 + 1000]);
    assert_eq!(&mem.ram[0x40000..0x40000 + 21528], &want[(50 * 512 + 1000 + 131_072)..350 * 512]);
    // WRITE DMA from memory: 2 sectors in two PRDs.
    mem.put(0x50000, &[0xAB; 512]);
    mem.put(0x60000, &[0xCD; 512]);
    mem.prd(0x1100, &[(0x50000, 512, false), (0x60000, 512, true)]);
    r.outb(BM, 0);
    start_dma(&mut r, 0xCA, 3, 2, 0x1100, false);
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(r.inb(BM + 2) & 0x07, 0x04);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    r.lba28(0, 3, 2);
    r.outb(STATUS, 0x20);
    assert_eq!(r.read_data(512), vec![0xAB; 512]);
    assert_eq!(r.read_data(512), vec![0xCD; 512]);
}

#[test]
fn dma_table_too_small_and_engine_rules() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(64)))]);
    let mut mem = FakeMem::new(1 << 20);
    mem.prd(0x1000, &[(0x2000, 512, true)]);
    // Bus mastering disabled in the PCI command register: nothing moves.
    r.ide.config_write(0x20, 4, u32::from(BM));
    r.ide.config_write(0x04, 2, 0x0001);
    start_dma(&mut r, 0xC8, 0, 4, 0x1000, true);
    assert!(!r.ide.dma_pending());
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(mem.reads, 0);
    // Enabled: the table holds one sector of four.
    r.ide.config_write(0x04, 2, 0x0005);
    assert!(r.ide.dma_pending());
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(r.inb(BM + 2) & 0x07, 0x00, "not active, no interrupt");
    assert!(!r.irq14());
    assert_eq!(r.inb(0x3F6) & DRQ, DRQ, "the device still wants the rest");
    assert_eq!(&mem.ram[0x2000..0x2200], &pattern_disk(1)[..]);
    assert!(!r.ide.dma_pending(), "the engine stopped");
    // Restarting the engine on a new table finishes the transfer.
    mem.prd(0x1000, &[(0x3000, 3 * 512, true)]);
    r.outb(BM, 0x08);
    r.outb(BM, 0x09);
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(r.inb(BM + 2) & 0x07, 0x04);
    assert_eq!(&mem.ram[0x3000..0x3000 + 3 * 512], &pattern_disk(4)[512..]);
    // Starting the engine before the command works as well.
    r.outb(BM, 0x08);
    r.outb(BM + 2, 0x06);
    r.outb(BM, 0x09);
    assert!(!r.ide.dma_pending());
    mem.prd(0x1000, &[(0x4000, 512, true)]);
    r.lba28(0, 9, 1);
    r.outb(STATUS, 0xC8);
    assert!(r.ide.dma_pending());
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(&mem.ram[0x4000..0x4200], &pattern_disk(10)[9 * 512..]);
    // Stopping the engine while the device waits leaves it waiting; SRST
    // clears everything.
    r.outb(BM, 0x08);
    r.lba28(0, 0, 1);
    let _ = r.inb(STATUS);
    r.outb(STATUS, 0xC8);
    assert_eq!(r.inb(0x3F6) & DRQ, DRQ);
    r.outb(CTRL, 0x04);
    r.outb(CTRL, 0x00);
    assert_eq!(r.inb(STATUS), DRDY | DSC);
    r.outb(BM, 0x09);
    assert!(!r.ide.dma_pending());
}

#[test]
fn hostile_prd_tables_are_bounded() {
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(256)))]);
    r.enable_bus_master();
    // A table of 1-byte... (count 2, the minimum) entries without EOT,
    // pointing far outside memory: the walk stops at the table limit.
    let mut mem = FakeMem::new(1 << 20);
    for i in 0..MAX_PRD_ENTRIES as usize + 10 {
        mem.prd(0x10000 + 8 * i, &[(0xFFFF_FFFE, 2, false)]);
    }
    start_dma(&mut r, 0xC8, 0, 0, 0x10000, true); // 256 sectors = 128 KiB
    r.ide.run_dma(&mut mem, 0);
    assert!(mem.reads <= u64::from(MAX_PRD_ENTRIES));
    assert_eq!(r.inb(BM + 2) & 0x05, 0, "not finished, not active");
    assert!(!r.ide.dma_pending());
    // A table pointer at the top of the address space wraps; memory there
    // reads as ones (count 0xFFFE, EOT set).
    r.outb(CTRL, 0x04);
    r.outb(CTRL, 0x00);
    let mut mem = FakeMem::new(4096);
    start_dma(&mut r, 0xC8, 0, 0, 0xFFFF_FFF8, true);
    r.ide.run_dma(&mut mem, 0);
    assert!(mem.reads < 10);
    // Huge counts (64 KiB entries) over a short transfer finish it and
    // write nothing outside memory (the fake memory would ignore it).
    r.outb(CTRL, 0x04);
    r.outb(CTRL, 0x00);
    let mut mem = FakeMem::new(1 << 20);
    mem.prd(0, &[(0xFFFF_0000, 0, false), (0x8000, 0, false)]);
    start_dma(&mut r, 0xC8, 0, 200, 0, true);
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(r.inb(BM + 2) & 0x05, 0x05, "done with table to spare");
    assert_eq!(&mem.ram[0x8000..0x8000 + 200 * 512 - 65536], &pattern_disk(200)[65536..]);
}

// --- ATAPI ---

/// Send a packet to the secondary master CD-ROM the way SeaBIOS does
/// (PIO, byte count limit `bcl`), and collect the data: one DRQ block
/// per `bcl` bytes. Returns (data, final status, error register).
fn packet(r: &mut Rig, cdb: &[u8], bcl: u16) -> (Vec<u8>, u8, u8) {
    let mut p = [0u8; 12];
    p[..cdb.len()].copy_from_slice(cdb);
    r.outb(0x176, 0xA0);
    r.outb(0x171, 0);
    r.outb(0x174, bcl as u8);
    r.outb(0x175, (bcl >> 8) as u8);
    r.outb(0x177, 0xA0);
    let st = r.inb(0x376);
    assert_eq!(st & (DRQ | BSY | ERR), DRQ, "packet phase");
    assert_eq!(r.inb(0x172) & 3, 1, "CoD=1 IO=0");
    assert_eq!(r.lines.levels() & (1 << 15), 0, "no interrupt for the packet");
    for w in p.chunks(2) {
        r.outw(0x170, u16::from_le_bytes([w[0], w[1]]));
    }
    let mut data = Vec::new();
    loop {
        let st = r.inb(0x177);
        if st & DRQ == 0 {
            assert_eq!(r.inb(0x172) & 3, 3, "status phase: CoD=1 IO=1");
            return (data, st, r.inb(0x171));
        }
        assert_eq!(r.inb(0x172) & 3, 2, "data phase: CoD=0 IO=1");
        let n = usize::from(r.inb(0x174)) | usize::from(r.inb(0x175)) << 8;
        assert!(n > 0 && n <= usize::from(bcl.max(2)), "chunk {n} within {bcl}");
        for _ in 0..n.div_ceil(2) {
            data.extend_from_slice(&r.inw(0x170).to_le_bytes());
        }
        data.truncate(data.len() - (n % 2));
    }
}

fn request_sense(r: &mut Rig) -> (u8, u8, u8) {
    let (d, st, _) = packet(r, &[0x03, 0, 0, 0, 18], 18);
    assert_eq!(st & ERR, 0);
    assert_eq!(d.len(), 18);
    (d[2] & 0x0F, d[12], d[13])
}

fn cd_rig(medium: Option<Box<dyn BlockBackend>>) -> Rig {
    Rig::with(vec![(IdeChannel::Secondary, IdeUnit::Master, IdeDevice::Cdrom(medium))])
}

#[test]
fn atapi_identify_packet_device() {
    let mut r = cd_rig(Some(cd(40)));
    r.outb(0x176, 0xA0);
    r.outb(0x177, 0xA1);
    assert_eq!(r.inb(0x177) & (DRQ | ERR), DRQ);
    let w: Vec<u16> = (0..256).map(|_| r.inw(0x170)).collect();
    assert_eq!(w[0], 0x85C0);
    assert_eq!((w[0] >> 8) & 0x1F, 5, "CD-ROM");
    assert_eq!(words_string(&w[27..47]), "RINGVISOR DVD-ROM");
    assert_eq!(words_string(&w[10..20]), "RV00000003");
    assert_ne!(w[49] & 0x0100, 0, "DMA");
    assert_ne!(w[82] & 0x0010, 0, "PACKET");
    assert_eq!(w[93] & 0xDF61, 0x4041);
    let sum = w.iter().fold(0u8, |s, &x| s.wrapping_add(x as u8).wrapping_add((x >> 8) as u8));
    assert_eq!(sum, 0);
    assert_eq!(r.inb(0x177) & (DRQ | BSY), 0);
}

#[test]
fn atapi_inquiry_capacity_and_reads() {
    let mut r = cd_rig(Some(cd(40)));
    let (d, st, _) = packet(&mut r, &[0x12, 0, 0, 0, 36], 36);
    assert_eq!(st & ERR, 0);
    assert_eq!(d.len(), 36);
    assert_eq!((d[0], d[1]), (0x05, 0x80));
    assert_eq!(&d[8..16], b"RINGVISR");
    assert!(d[16..32].starts_with(b"DVD-ROM"));
    // Allocation length cuts the reply.
    let (d, _, _) = packet(&mut r, &[0x12, 0, 0, 0, 5], 0xFFFE);
    assert_eq!(d.len(), 5);
    let (d, _, _) = packet(&mut r, &[0x25], 8);
    assert_eq!(d, [0, 0, 0, 39, 0, 0, 8, 0]);
    // READ (10) SeaBIOS-style: byte count limit 2048, one DRQ block per
    // block.
    let (d, st, _) = packet(&mut r, &[0x28, 0, 0, 0, 0, 16, 0, 0, 3], 2048);
    assert_eq!(st, DRDY | DSC);
    assert_eq!(d, cd_image(40)[16 * 2048..19 * 2048]);
    assert_eq!(&d[..6], b"\x01CD001");
    assert_eq!(&d[2048..2052], &[0, 0, 0, 17]);
    // With a big limit (Linux), chunks of up to 0xFFFE bytes, even.
    let (d, _, _) = packet(&mut r, &[0x28, 0, 0, 0, 0, 0, 0, 0, 40], 0xFFFF);
    assert_eq!(d, cd_image(40));
    // An odd limit rounds down while more follows.
    let (d, _, _) = packet(&mut r, &[0x28, 0, 0, 0, 0, 1, 0, 0, 1], 999);
    assert_eq!(d, cd_image(40)[2048..4096]);
    // A limit of 1 still moves a word per chunk.
    let (d, _, _) = packet(&mut r, &[0x12, 0, 0, 0, 6], 1);
    assert_eq!(d.len(), 6);
    // READ (12).
    let (d, _, _) = packet(&mut r, &[0xA8, 0, 0, 0, 0, 38, 0, 0, 0, 2], 0xFFFE);
    assert_eq!(d, cd_image(40)[38 * 2048..]);
    // Past the end: ILLEGAL REQUEST, LBA out of range.
    let (d, st, err) = packet(&mut r, &[0x28, 0, 0, 0, 0, 39, 0, 0, 2], 2048);
    assert!(d.is_empty());
    assert_eq!((st & ERR, err >> 4), (ERR, 5));
    assert_eq!(request_sense(&mut r), (5, 0x21, 0));
    // Sense is cleared once read.
    assert_eq!(request_sense(&mut r), (0, 0, 0));
    // Zero blocks: nothing to transfer.
    let (d, st, _) = packet(&mut r, &[0x28, 0, 0, 0, 0, 0, 0, 0, 0], 2048);
    assert!(d.is_empty());
    assert_eq!(st, DRDY | DSC);
    // Unknown opcodes: ILLEGAL REQUEST, invalid command operation code.
    let (_, st, err) = packet(&mut r, &[0xFF], 2048);
    assert_eq!((st & ERR, err), (ERR, 0x50));
    assert_eq!(request_sense(&mut r), (5, 0x20, 0));
    // Writes to a CD: DATA PROTECT.
    let (_, _, err) = packet(&mut r, &[0x2A, 0, 0, 0, 0, 0, 0, 0, 1], 2048);
    assert_eq!(err >> 4, 7);
}

#[test]
fn atapi_toc_mode_sense_configuration_and_friends() {
    let mut r = cd_rig(Some(cd(1000)));
    // READ TOC format 0, LBA then MSF.
    let (d, _, _) = packet(&mut r, &[0x43, 0, 0, 0, 0, 0, 0, 0x03, 0x24], 0xFFFE);
    assert_eq!(d.len(), 20);
    assert_eq!(&d[..4], &[0, 18, 1, 1]);
    assert_eq!(&d[16..20], &1000u32.to_be_bytes());
    let (d, _, _) = packet(&mut r, &[0x43, 0x02, 0, 0, 0, 0, 0, 0x03, 0x24], 0xFFFE);
    assert_eq!(&d[8..12], &[0, 0, 2, 0]);
    assert_eq!(&d[16..20], &[0, 0, 15, 25], "1150 frames = 0:15:25");
    // Format 1: session information.
    let (d, _, _) = packet(&mut r, &[0x43, 0, 1, 0, 0, 0, 0, 0, 12], 0xFFFE);
    assert_eq!(d, [0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0]);
    // Header only (allocation length 4).
    let (d, _, _) = packet(&mut r, &[0x43, 0, 0, 0, 0, 0, 0, 0, 4], 0xFFFE);
    assert_eq!(d, [0, 18, 1, 1]);
    // MODE SENSE (10), capabilities page.
    let (d, st, _) = packet(&mut r, &[0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 0xFF], 0xFFFE);
    assert_eq!(st & ERR, 0);
    assert_eq!(d.len(), 30);
    assert_eq!((d[8], d[9]), (0x2A, 0x14));
    // Saved values are not supported.
    let (_, st, _) = packet(&mut r, &[0x5A, 0, 0xEA, 0, 0, 0, 0, 0, 0xFF], 0xFFFE);
    assert_eq!(st & ERR, ERR);
    assert_eq!(request_sense(&mut r), (5, 0x39, 0));
    // GET CONFIGURATION: CD-ROM profile current.
    let (d, _, _) = packet(&mut r, &[0x46, 0, 0, 0, 0, 0, 0, 0x01, 0], 0xFFFE);
    assert_eq!(u16::from_be_bytes([d[6], d[7]]), 0x0008);
    let len = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
    assert_eq!(len + 4, d.len());
    assert_eq!(&d[8..10], &[0, 0], "profile list first");
    // One feature only (RT=2), an unsupported one: header alone.
    let (d, _, _) = packet(&mut r, &[0x46, 2, 0x01, 0x00, 0, 0, 0, 0x01, 0], 0xFFFE);
    assert_eq!(d.len(), 8);
    // READ DISC INFORMATION, MECHANISM STATUS, SEEK, SET CD SPEED.
    let (d, _, _) = packet(&mut r, &[0x51, 0, 0, 0, 0, 0, 0, 0, 34], 0xFFFE);
    assert_eq!((d.len(), d[2], d[4]), (34, 0x0E, 1));
    let (d, _, _) = packet(&mut r, &[0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(d.len(), 8);
    let (_, st, _) = packet(&mut r, &[0x2B, 0, 0, 0, 3, 0xE7], 0xFFFE);
    assert_eq!(st & ERR, 0);
    let (_, st, _) = packet(&mut r, &[0x2B, 0, 0, 0, 3, 0xE8], 0xFFFE);
    assert_eq!(st & ERR, ERR);
    let (_, st, _) = packet(&mut r, &[0xBB], 0xFFFE);
    assert_eq!(st & ERR, 0);
    // A DVD-sized medium reports the DVD-ROM profile.
    #[derive(Debug)]
    struct Huge;
    impl BlockBackend for Huge {
        fn size(&self) -> u64 {
            4_700_000_000
        }
        fn is_read_only(&self) -> bool {
            true
        }
        fn read_at(&mut self, _: u64, b: &mut [u8]) -> Result<(), BlockError> {
            b.fill(0);
            Ok(())
        }
        fn write_at(&mut self, _: u64, _: &[u8]) -> Result<(), BlockError> {
            Err(BlockError::ReadOnly)
        }
        fn flush(&mut self) -> Result<(), BlockError> {
            Ok(())
        }
    }
    let mut r = cd_rig(Some(Box::new(Huge)));
    let (d, _, _) = packet(&mut r, &[0x46, 0, 0, 0, 0, 0, 0, 0x01, 0], 0xFFFE);
    assert_eq!(u16::from_be_bytes([d[6], d[7]]), 0x0010);
}

#[test]
fn atapi_media_change_no_medium_and_tray() {
    let mut r = cd_rig(None);
    // No medium: NOT READY, MEDIUM NOT PRESENT.
    let (_, st, err) = packet(&mut r, &[0x00], 0);
    assert_eq!((st & ERR, err >> 4), (ERR, 2));
    assert_eq!(request_sense(&mut r), (2, 0x3A, 1));
    let (_, st, _) = packet(&mut r, &[0x25], 8);
    assert_eq!(st & ERR, ERR);
    // INQUIRY works without a medium.
    let (d, st, _) = packet(&mut r, &[0x12, 0, 0, 0, 36], 36);
    assert_eq!((d.len(), st & ERR), (36, 0));
    // GET CONFIGURATION: no current profile.
    let (d, _, _) = packet(&mut r, &[0x46, 0, 0, 0, 0, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(&d[6..8], &[0, 0]);
    // Insert: a new-media event, then UNIT ATTENTION once.
    r.ide.insert_medium(IdeChannel::Secondary, IdeUnit::Master, cd(20)).unwrap();
    let (d, _, _) = packet(&mut r, &[0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(d, [0, 6, 4, 0x10, 2, 0x02, 0, 0]);
    let (d, _, _) = packet(&mut r, &[0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(d[4], 0, "the event is reported once");
    // Asynchronous GESN is refused; no requested class gives NEA.
    let (_, st, _) = packet(&mut r, &[0x4A, 0, 0, 0, 0x10, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(st & ERR, ERR);
    let (d, _, _) = packet(&mut r, &[0x4A, 1, 0, 0, 0x02, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(d, [0, 2, 0x80, 0x10]);
    let (_, st, err) = packet(&mut r, &[0x00], 0);
    assert_eq!((st & ERR, err >> 4), (ERR, 6));
    assert_eq!(request_sense(&mut r), (6, 0x28, 0));
    let (_, st, _) = packet(&mut r, &[0x00], 0);
    assert_eq!(st & ERR, 0, "ready now");
    // A REQUEST SENSE right after insertion reports (and clears) it too.
    r.ide.insert_medium(IdeChannel::Secondary, IdeUnit::Master, cd(20)).unwrap();
    assert_eq!(request_sense(&mut r), (6, 0x28, 0));
    let (_, st, _) = packet(&mut r, &[0x00], 0);
    assert_eq!(st & ERR, 0);
    // Lock the tray: the machine cannot eject without force, the guest
    // cannot open it; the guest learns of the eject request.
    let (_, st, _) = packet(&mut r, &[0x1E, 0, 0, 0, 1], 0);
    assert_eq!(st & ERR, 0);
    assert_eq!(
        r.ide.eject_medium(IdeChannel::Secondary, IdeUnit::Master, false).unwrap_err(),
        IdeError::Locked(IdeChannel::Secondary, IdeUnit::Master)
    );
    let (d, _, _) = packet(&mut r, &[0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(d[4], 1, "eject request");
    let (_, st, err) = packet(&mut r, &[0x1B, 0, 0, 0, 0x02], 0);
    assert_eq!((st & ERR, err >> 4), (ERR, 2));
    assert_eq!(request_sense(&mut r), (2, 0x53, 2));
    let (d, _, _) = packet(&mut r, &[0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 30], 0xFFFE);
    assert_eq!(d[14] & 0x02, 0x02, "capabilities show the lock");
    // Unlock and open the tray: NOT READY (tray open); close: UA again.
    packet(&mut r, &[0x1E, 0, 0, 0, 0], 0);
    let (_, st, _) = packet(&mut r, &[0x1B, 0, 0, 0, 0x02], 0);
    assert_eq!(st & ERR, 0);
    let (d, _, _) = packet(&mut r, &[0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(d[1] & 0x10, 0x10, "door open");
    packet(&mut r, &[0x00], 0);
    assert_eq!(request_sense(&mut r), (2, 0x3A, 2));
    packet(&mut r, &[0x1B, 0, 0, 0, 0x03], 0);
    let (_, st, err) = packet(&mut r, &[0x25], 8);
    assert_eq!((st & ERR, err >> 4), (ERR, 6));
    let (d, _, _) = packet(&mut r, &[0x25], 8);
    assert_eq!(&d[..4], &19u32.to_be_bytes());
    // The machine ejects: gone.
    let m = r.ide.eject_medium(IdeChannel::Secondary, IdeUnit::Master, false).unwrap();
    assert_eq!(m.unwrap().size(), 20 * 2048);
    let (_, st, _) = packet(&mut r, &[0x00], 0);
    assert_eq!(st & ERR, ERR);
    assert_eq!(
        r.ide.insert_medium(IdeChannel::Primary, IdeUnit::Master, cd(1)).unwrap_err(),
        IdeError::NotCdrom(IdeChannel::Primary, IdeUnit::Master)
    );
}

#[test]
fn atapi_dma_reads() {
    let mut r = cd_rig(Some(cd(64)));
    r.enable_bus_master();
    let mut mem = FakeMem::new(1 << 20);
    mem.prd(0x1000, &[(0x10000, 0, false), (0x20000, 0x2000, true)]);
    // Linux-style: BM set up, PACKET with the DMA feature bit, CDB, start.
    r.outl(BM + 8 + 4, 0x1000);
    r.outb(BM + 8, 0x08);
    r.outb(BM + 8 + 2, 0x06);
    r.outb(0x176, 0xA0);
    r.outb(0x171, 0x01);
    r.outb(0x177, 0xA0);
    let cdb = [0x28u8, 0, 0, 0, 0, 4, 0, 0, 36, 0, 0, 0];
    for w in cdb.chunks(2) {
        r.outw(0x170, u16::from_le_bytes([w[0], w[1]]));
    }
    assert!(!r.ide.dma_pending(), "engine not started yet");
    r.outb(BM + 8, 0x09);
    assert!(r.ide.dma_pending());
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(r.lines.levels(), 1 << 15);
    assert_eq!(r.inb(BM + 8 + 2) & 0x07, 0x04);
    assert_eq!(r.inb(0x177), DRDY | DSC);
    assert_eq!(r.inb(0x172) & 3, 3);
    let img = cd_image(64);
    assert_eq!(&mem.ram[0x10000..0x20000], &img[4 * 2048..36 * 2048]);
    assert_eq!(&mem.ram[0x20000..0x22000], &img[36 * 2048..40 * 2048]);
    // A reply by DMA (INQUIRY), and a command without data.
    mem.prd(0x1000, &[(0x30000, 36, true)]);
    r.outb(BM + 8, 0x08);
    r.outb(0x171, 0x01);
    r.outb(0x177, 0xA0);
    for w in [0x12u8, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0].chunks(2) {
        r.outw(0x170, u16::from_le_bytes([w[0], w[1]]));
    }
    r.outb(BM + 8, 0x09);
    r.ide.run_dma(&mut mem, 0);
    assert_eq!(&mem.ram[0x30000..0x30002], &[0x05, 0x80]);
    assert_eq!(r.inb(0x177), DRDY | DSC);
}

#[test]
fn atapi_reads_a_real_iso() {
    // An ISO made by xorriso, if it is installed.
    let dir = TempPath::new("isodir");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("HELLO.TXT"), b"hello from the CD\n").unwrap();
    let iso = TempPath::new("t.iso");
    let made = std::process::Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "RINGVISOR", "-o"])
        .arg(&iso.0)
        .arg(&dir.0)
        .output();
    let _ = std::fs::remove_dir_all(&dir.0);
    match made {
        Ok(out) if out.status.success() => {}
        _ => {
            eprintln!("xorriso not available; skipping");
            return;
        }
    }
    let medium = crate::block::open_image(&iso.0, None, true).unwrap();
    let size = medium.size();
    let mut r = cd_rig(Some(medium));
    let (d, _, _) = packet(&mut r, &[0x25], 8);
    let blocks = u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]])) + 1;
    assert_eq!(blocks, size / 2048);
    // The primary volume descriptor at block 16.
    let (pvd, _, _) = packet(&mut r, &[0x28, 0, 0, 0, 0, 16, 0, 0, 1], 2048);
    assert_eq!(&pvd[..6], b"\x01CD001");
    assert!(pvd[40..72].starts_with(b"RINGVISOR"));
    // The root directory (extent at PVD offset 156 + 2), and in it our
    // file's extent.
    let root_lba = u32::from_le_bytes([pvd[158], pvd[159], pvd[160], pvd[161]]);
    let (root, _, _) = packet(
        &mut r,
        &[
            0x28,
            0,
            (root_lba >> 24) as u8,
            (root_lba >> 16) as u8,
            (root_lba >> 8) as u8,
            root_lba as u8,
            0,
            0,
            1,
        ],
        2048,
    );
    let mut at = 0;
    let mut file_lba = None;
    while at < root.len() && root[at] != 0 {
        let len = usize::from(root[at]);
        let name_len = usize::from(root[at + 32]);
        if root[at + 33..at + 33 + name_len].starts_with(b"HELLO.TXT") {
            file_lba = Some(u32::from_le_bytes([root[at + 2], root[at + 3], root[at + 4], root[at + 5]]));
        }
        at += len;
    }
    let lba = file_lba.expect("HELLO.TXT in the root directory");
    let (data, _, _) = packet(
        &mut r,
        &[0x28, 0, (lba >> 24) as u8, (lba >> 16) as u8, (lba >> 8) as u8, lba as u8, 0, 0, 1],
        2048,
    );
    assert!(data.starts_with(b"hello from the CD\n"));
}

#[test]
fn seabios_style_probe() {
    // SeaBIOS's ata_detect on a channel with a disk master and a CD-ROM
    // slave: register check, reset, IDENTIFY PACKET first.
    let mut r = Rig::with(vec![
        (IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(100))),
        (IdeChannel::Primary, IdeUnit::Slave, IdeDevice::Cdrom(Some(cd(20)))),
    ]);
    for (slave, dh) in [(0u8, 0xA0u8), (1, 0xB0)] {
        assert_eq!(r.inb(STATUS) & BSY, 0);
        r.outb(DEVICE, dh);
        r.outb(NSECT, 0x55);
        r.outb(LBAL, 0xAA);
        assert_eq!((r.inb(NSECT), r.inb(LBAL), r.inb(DEVICE)), (0x55, 0xAA, dh));
        if slave == 0 {
            r.outb(CTRL, 0x0A | 0x04);
            r.outb(CTRL, 0x0A);
            assert_eq!(r.inb(STATUS) & BSY, 0);
            r.outb(DEVICE, 0xA0);
        } else {
            r.outb(DEVICE, 0xB0);
        }
        r.outb(CTRL, 0x0A);
        r.outb(STATUS, 0xA1);
        let st = r.inb(STATUS);
        if slave == 0 {
            assert_eq!(st & (ERR | DRQ), ERR, "the disk refuses A1");
            assert_ne!(r.inb(STATUS), 0);
            assert_eq!(r.inb(STATUS) & DRDY, DRDY);
            let w = r.identify(0xEC);
            assert_eq!(w[0], 0x0040);
            assert_eq!(w[93] & 0xDF61, 0x4021 & 0xDF61, "slave present");
        } else {
            assert_eq!(st & (ERR | DRQ), DRQ, "the CD answers A1");
            let w: Vec<u16> = (0..256).map(|_| r.inw(DATA)).collect();
            assert_eq!(w[0] >> 14, 2);
        }
        r.outb(CTRL, 0x08);
    }
    // Then El Torito: TEST UNIT READY on the slave and a READ (10).
    let p = |r: &mut Rig, cdb: &[u8], bcl: u16| -> (Vec<u8>, u8) {
        let mut c = [0u8; 12];
        c[..cdb.len()].copy_from_slice(cdb);
        r.outb(DEVICE, 0xB0);
        r.outb(LBAM, bcl as u8);
        r.outb(LBAH, (bcl >> 8) as u8);
        r.outb(STATUS, 0xA0);
        assert_eq!(r.inb(STATUS) & DRQ, DRQ);
        for w in c.chunks(2) {
            r.outw(DATA, u16::from_le_bytes([w[0], w[1]]));
        }
        let mut d = Vec::new();
        while r.inb(0x3F6) & DRQ != 0 {
            let st = r.inb(STATUS);
            assert_eq!(st & (BSY | DRQ | ERR), DRQ);
            d.extend(r.read_data(usize::from(bcl)));
        }
        (d, r.inb(STATUS))
    };
    let (_, st) = p(&mut r, &[0x00], 0);
    assert_eq!(st & ERR, 0);
    let (d, st) = p(&mut r, &[0x28, 0, 0, 0, 0, 17, 0, 0, 2], 2048);
    assert_eq!(st & (BSY | DRQ | ERR), 0);
    assert_eq!(d, cd_image(20)[17 * 2048..19 * 2048]);
}

#[test]
fn machine_reset_and_flush_all() {
    let path = TempPath::new("reset.img");
    std::fs::write(&path.0, vec![0u8; 4096]).unwrap();
    let mut r = Rig::with(vec![(
        IdeChannel::Primary,
        IdeUnit::Master,
        IdeDevice::Disk(Box::new(RawFile::open(&path.0, false).unwrap())),
    )]);
    r.enable_bus_master();
    r.outb(NSECT, 8);
    r.outb(STATUS, 0xC6);
    r.lba28(0, 0, 1);
    r.outb(STATUS, 0x30);
    r.write_data(&[0x42; 512]);
    r.ide.reset();
    assert_eq!(r.ide.bus_master_base(), None);
    assert_eq!(r.identify(0xEC)[59], 0, "multiple mode off after power-on");
    assert!(r.ide.flush_all().is_ok());
    assert_eq!(std::fs::read(&path.0).unwrap()[..512], [0x42; 512]);
    assert_eq!(
        r.ide
            .attach(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(1)))
            .unwrap_err(),
        IdeError::Occupied(IdeChannel::Primary, IdeUnit::Master)
    );
    assert_eq!(
        r.ide
            .attach(
                IdeChannel::Primary,
                IdeUnit::Slave,
                IdeDevice::Disk(Box::new(MemBackend::new(vec![0; 100], false)))
            )
            .unwrap_err(),
        IdeError::TooSmall(100)
    );
}

#[test]
fn qcow2_disk_through_the_controller() {
    let img = TempPath::new("ide.qcow2");
    let ok = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&img.0)
        .arg("1M")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("qemu-img not available; skipping");
        return;
    }
    {
        let backend = crate::block::open_image(&img.0, None, false).unwrap();
        let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(backend))]);
        assert_eq!(r.identify(0xEC)[60], 2048);
        r.lba28(0, 100, 2);
        r.outb(STATUS, 0x30);
        r.write_data(&[0x77; 1024]);
        r.outb(STATUS, 0xE7);
        assert_eq!(r.inb(STATUS), DRDY | DSC);
    }
    // Next boot. A write the guest never flushed survives too, since
    // dropping the image writes imago's metadata back.
    {
        let backend = crate::block::open_image(&img.0, None, false).unwrap();
        let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(backend))]);
        r.lba28(0, 101, 1);
        r.outb(STATUS, 0x20);
        assert_eq!(r.read_data(512), vec![0x77; 512]);
        r.lba28(0, 1500, 1);
        r.outb(STATUS, 0x30);
        r.write_data(&[0x31; 512]);
        assert_eq!(r.inb(STATUS), DRDY | DSC);
    }
    let backend = crate::block::open_image(&img.0, None, true).unwrap();
    let mut r = Rig::with(vec![(IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(backend))]);
    r.lba28(0, 1500, 1);
    r.outb(STATUS, 0x20);
    assert_eq!(r.read_data(512), vec![0x31; 512]);
}

#[test]
fn fuzz_ports_and_dma_without_panics() {
    let ports: Vec<u16> = (0x1F0..=0x1F7)
        .chain(0x170..=0x177)
        .chain([0x3F6, 0x376])
        .chain(BM..BM + 16)
        .collect();
    for seed in 1..=6u64 {
        let mut rng = XorShift::new(seed);
        let mut r = Rig::with(vec![
            (IdeChannel::Primary, IdeUnit::Master, IdeDevice::Disk(disk(64))),
            (
                IdeChannel::Primary,
                IdeUnit::Slave,
                IdeDevice::Disk(Box::new(MemBackend::new(vec![0; 8 * 512], true))),
            ),
            (IdeChannel::Secondary, IdeUnit::Master, IdeDevice::Cdrom(Some(cd(24)))),
            (IdeChannel::Secondary, IdeUnit::Slave, IdeDevice::Cdrom(None)),
        ]);
        r.enable_bus_master();
        let mut mem = FakeMem::new(256 * 1024);
        for i in 0..mem.ram.len() {
            mem.ram[i] = rng.byte();
        }
        // Favour the interesting values: commands, packets, SRST.
        let commands = [
            0x20, 0x24, 0x29, 0x30, 0x34, 0x39, 0xC4, 0xC5, 0xC6, 0xC8, 0xCA, 0x25, 0x35, 0xEC, 0xA0, 0xA1, 0x08, 0x90, 0xEF, 0xE7, 0x91,
            0x40, 0x70, 0x27, 0xF8, 0x00, 0xFF,
        ];
        for step in 0..20_000 {
            let port = rng.pick(&ports);
            let size = rng.size();
            match rng.below(10) {
                0..=3 => {
                    let _ = r.ide.port_read(port, size, 0);
                }
                4 if port & 7 == 7 && port < 0x200 => {
                    r.outb(port, rng.pick(&commands));
                }
                5 => {
                    // Data port bursts, both directions.
                    let data = if rng.below(2) == 0 { 0x1F0 } else { 0x170 };
                    for _ in 0..rng.below(300) {
                        if rng.below(2) == 0 {
                            let _ = r.ide.port_read(data, 2, 0);
                        } else {
                            r.ide.port_write(data, 2, rng.next_u64() as u32, 0);
                        }
                    }
                }
                6 => {
                    let ctrl = if rng.below(2) == 0 { 0x3F6 } else { 0x376 };
                    r.outb(ctrl, rng.byte() & 0x86);
                }
                _ => r.ide.port_write(port, size, rng.next_u64() as u32, 0),
            }
            if rng.below(8) == 0 || r.ide.dma_pending() {
                r.ide.run_dma(&mut mem, 0);
            }
            if step % 1000 == 0 {
                r.ide.insert_medium(IdeChannel::Secondary, IdeUnit::Slave, cd(4)).unwrap();
            }
        }
        // Memory stays bounded: buffers never grew.
        for ch in &r.ide.channels {
            assert!(ch.scratch_len() <= 64 * 1024);
            for d in &ch.drives {
                assert!(d.buf.len() <= drive::IO_BUF_SIZE);
                assert!(d.reply.capacity() <= 4096);
            }
        }
        assert!(mem.ram.len() == 256 * 1024);
    }
}
