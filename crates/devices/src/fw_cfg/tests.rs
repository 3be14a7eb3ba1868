use super::*;
use crate::testutil::XorShift;

/// Guest RAM for the tests: `len` bytes from address 0; outside it reads
/// are all ones and writes are dropped, as the `DmaMemory` contract says.
/// Counts the bytes the device asked to write, to check the work stays
/// bounded.
struct Ram {
    bytes: Vec<u8>,
    written: u64,
}

impl Ram {
    fn new(len: usize) -> Self {
        Self {
            bytes: vec![0xAA; len],
            written: 0,
        }
    }

    /// The part of `[addr, addr + len)` inside RAM, as (offset in RAM,
    /// length); it always starts at `addr`, since what wraps past the top
    /// of the address space is outside RAM.
    fn overlap(&self, addr: u64, len: usize) -> Option<(usize, usize)> {
        let start = usize::try_from(addr).ok().filter(|&a| a < self.bytes.len())?;
        let end = start.saturating_add(len).min(self.bytes.len());
        Some((start, end - start))
    }

    fn put(&mut self, addr: u64, data: &[u8]) {
        self.bytes[addr as usize..addr as usize + data.len()].copy_from_slice(data);
    }

    fn get(&self, addr: u64, len: usize) -> &[u8] {
        &self.bytes[addr as usize..addr as usize + len]
    }

    /// Store a `FWCfgDmaAccess` at `at`.
    fn request(&mut self, at: u64, control: u32, length: u32, address: u64) {
        let mut raw = Vec::new();
        raw.extend_from_slice(&control.to_be_bytes());
        raw.extend_from_slice(&length.to_be_bytes());
        raw.extend_from_slice(&address.to_be_bytes());
        self.put(at, &raw);
    }

    fn control(&self, at: u64) -> u32 {
        u32::from_be_bytes(self.get(at, 4).try_into().unwrap())
    }
}

impl DmaMemory for Ram {
    fn read(&mut self, addr: u64, buf: &mut [u8]) {
        buf.fill(0xFF);
        if let Some((at, n)) = self.overlap(addr, buf.len()) {
            buf[..n].copy_from_slice(&self.bytes[at..at + n]);
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) {
        self.written += data.len() as u64;
        if let Some((at, n)) = self.overlap(addr, data.len()) {
            self.bytes[at..at + n].copy_from_slice(&data[..n]);
        }
    }
}

fn select(fw: &mut FwCfg, selector: u16) {
    fw.port_write(SELECTOR_PORT, 2, u32::from(selector), 0);
}

fn read(fw: &mut FwCfg, len: usize) -> Vec<u8> {
    (0..len).map(|_| fw.port_read(DATA_PORT, 1, 0) as u8).collect()
}

fn read_item(fw: &mut FwCfg, selector: u16, len: usize) -> Vec<u8> {
    select(fw, selector);
    read(fw, len)
}

/// What SeaBIOS's `qemu_cfg_dma_transfer` does: the address of the
/// request, big-endian, written with one `outl` to the low half.
fn trigger(fw: &mut FwCfg, at: u32) {
    fw.port_write(DMA_LOW_PORT, 4, at.to_be(), 0);
}

/// Parse the directory as SeaBIOS's `qemu_cfg_init` does.
fn directory(fw: &mut FwCfg) -> Vec<(String, u16, u32)> {
    let count = u32::from_be_bytes(read_item(fw, key::FILE_DIR, 4).try_into().unwrap());
    (0..count)
        .map(|_| {
            let e = read(fw, 64);
            let size = u32::from_be_bytes(e[0..4].try_into().unwrap());
            let select = u16::from_be_bytes(e[4..6].try_into().unwrap());
            assert_eq!(&e[6..8], &[0, 0]);
            let end = e[8..].iter().position(|&b| b == 0).expect("NUL-terminated name");
            (String::from_utf8(e[8..8 + end].to_vec()).unwrap(), select, size)
        })
        .collect()
}

fn test_device() -> FwCfg {
    let mut fw = FwCfg::new(256 << 20, 1);
    fw.add_file("etc/zeta", b"last".to_vec()).unwrap();
    fw.add_file("bootorder", b"/pci@i0cf8/ide@1,1/drive@1/disk@0\0".to_vec()).unwrap();
    fw.add_file("etc/alpha", (0..=255).collect()).unwrap();
    fw
}

#[test]
fn signature_through_the_ports() {
    let mut fw = FwCfg::new(64 << 20, 1);
    select(&mut fw, key::SIGNATURE);
    assert_eq!(read(&mut fw, 4), b"QEMU");
    // Past the end: zeros, however often.
    assert_eq!(read(&mut fw, 3), [0, 0, 0]);
    // Selecting again starts over; a byte-wide selector write works too.
    fw.port_write(SELECTOR_PORT, 1, 0, 0);
    assert_eq!(read(&mut fw, 2), b"QE");
    // As on QEMU, a byte read of 0x510 is a data read.
    assert_eq!(fw.port_read(SELECTOR_PORT, 1, 0), u32::from(b'M'));
    // The write-channel bit is ignored, as on QEMU.
    assert_eq!(read_item(&mut fw, key::WRITE_CHANNEL | key::SIGNATURE, 4), b"QEMU");
    // Data writes are ignored and do not move the offset.
    select(&mut fw, key::SIGNATURE);
    fw.port_write(DATA_PORT, 1, 0x55, 0);
    assert_eq!(read(&mut fw, 4), b"QEMU");
}

#[test]
fn id_and_dma_signature() {
    let mut fw = FwCfg::new(64 << 20, 1);
    assert_eq!(read_item(&mut fw, key::ID, 4), (ID_TRADITIONAL | ID_DMA).to_le_bytes());
    let sig: Vec<u8> = (0..8).map(|i| fw.port_read(DMA_HIGH_PORT + i, 1, 0) as u8).collect();
    assert_eq!(sig, b"QEMU CFG");
    // A 32-bit read sees the bytes in port order.
    assert_eq!(fw.port_read(DMA_HIGH_PORT, 4, 0), u32::from_le_bytes(*b"QEMU"));
    assert_eq!(fw.port_read(DMA_LOW_PORT, 4, 0), u32::from_le_bytes(*b" CFG"));
    assert_eq!(fw.port_read(0x51B, 2, 0), 0xFF00 | u32::from(b'G'));

    fw.set_dma(false);
    assert_eq!(read_item(&mut fw, key::ID, 4), ID_TRADITIONAL.to_le_bytes());
    assert_eq!(fw.port_read(DMA_HIGH_PORT, 4, 0), 0xFFFF_FFFF);
    trigger(&mut fw, 0x1000);
    assert!(!fw.dma_pending());
}

#[test]
fn standard_items() {
    let mut fw = FwCfg::new(0x1_2345_6789, 4);
    assert_eq!(read_item(&mut fw, key::RAM_SIZE, 8), 0x1_2345_6789u64.to_le_bytes());
    assert_eq!(read_item(&mut fw, key::NB_CPUS, 2), [4, 0]);
    assert_eq!(read_item(&mut fw, key::MAX_CPUS, 2), [4, 0]);
    assert_eq!(read_item(&mut fw, key::BOOT_MENU, 2), [0, 0]);
    assert_eq!(read_item(&mut fw, key::NOGRAPHIC, 2), [0, 0]);
    assert_eq!(read_item(&mut fw, key::UUID, 16), [0; 16]);
    assert_eq!(read_item(&mut fw, key::MACHINE_ID, 4), [0; 4]);
    fw.set_boot_menu(true);
    fw.set_nographic(true);
    fw.set_max_cpus(8);
    fw.set_uuid([7; 16]);
    assert_eq!(read_item(&mut fw, key::BOOT_MENU, 2), [1, 0]);
    assert_eq!(read_item(&mut fw, key::NOGRAPHIC, 2), [1, 0]);
    assert_eq!(read_item(&mut fw, key::MAX_CPUS, 2), [8, 0]);
    assert_eq!(read_item(&mut fw, key::UUID, 16), [7; 16]);
    // QEMU's default: wait forever when nothing boots.
    assert_eq!(fw.file("etc/boot-fail-wait"), Some(&u32::MAX.to_le_bytes()[..]));
    fw.set_boot_fail_wait(Some(5000));
    assert_eq!(fw.file("etc/boot-fail-wait"), Some(&5000u32.to_le_bytes()[..]));
}

#[test]
fn directory_lists_files_sorted_by_name() {
    let mut fw = test_device();
    let dir = directory(&mut fw);
    let names: Vec<&str> = dir.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["bootorder", "etc/alpha", "etc/boot-fail-wait", "etc/zeta"]);
    for (i, (name, select, size)) in dir.iter().enumerate() {
        assert_eq!(*select, key::FILE_FIRST + i as u16);
        assert_eq!(Some(*select), fw.file_selector(name));
        assert_eq!(*size as usize, fw.file(name).unwrap().len());
    }
}

#[test]
fn file_read_by_name_through_the_selector() {
    let mut fw = test_device();
    let dir = directory(&mut fw);
    let (_, select, size) = dir.iter().find(|(n, _, _)| n == "etc/alpha").unwrap().clone();
    let data = read_item(&mut fw, select, size as usize + 4);
    assert_eq!(&data[..256], (0..=255).collect::<Vec<u8>>().as_slice());
    assert_eq!(&data[256..], &[0; 4]);
    let (_, select, _) = dir.iter().find(|(n, _, _)| n == "etc/zeta").unwrap().clone();
    assert_eq!(read_item(&mut fw, select, 4), b"last");
}

#[test]
fn missing_items_read_zeros() {
    let mut fw = test_device();
    for selector in [
        key::NUMA,
        key::KERNEL_SIZE,
        key::FILE_FIRST + 4,
        0x3FFF,
        key::ACPI_TABLES,
        key::E820_TABLE,
        0xFFFF,
    ] {
        assert_eq!(read_item(&mut fw, selector, 8), [0; 8], "selector {selector:#x}");
    }
}

#[test]
fn e820_in_seabios_layout() {
    let mut fw = FwCfg::new(5 << 30, 1);
    let map = [
        (0, 0xC000_0000, E820_RAM),
        (0xFEFF_C000, 0x4000, E820_RESERVED),
        (1 << 32, 0x8000_0000, E820_RAM),
    ];
    fw.set_e820(&map).unwrap();
    // Find it as qemu_early_e820 does: the first 9 bytes of the name.
    select(&mut fw, key::FILE_DIR);
    let count = u32::from_be_bytes(read(&mut fw, 4).try_into().unwrap());
    let (select_e820, size) = (0..count)
        .map(|_| read(&mut fw, 64))
        .find(|e| &e[8..17] == b"etc/e820\0")
        .map(|e| (u16::from_be_bytes([e[4], e[5]]), u32::from_be_bytes(e[0..4].try_into().unwrap())))
        .expect("etc/e820 listed");
    assert_eq!(size as usize, map.len() * E820_ENTRY_SIZE);
    let data = read_item(&mut fw, select_e820, size as usize);
    for (entry, &(address, length, kind)) in data.chunks(E820_ENTRY_SIZE).zip(&map) {
        assert_eq!(u64::from_le_bytes(entry[0..8].try_into().unwrap()), address);
        assert_eq!(u64::from_le_bytes(entry[8..16].try_into().unwrap()), length);
        assert_eq!(u32::from_le_bytes(entry[16..20].try_into().unwrap()), kind);
    }
    // Setting it again replaces it.
    fw.set_e820(&[(0, 0x1000_0000, E820_RAM)]).unwrap();
    assert_eq!(fw.file("etc/e820").unwrap().len(), E820_ENTRY_SIZE);
}

#[test]
fn dma_reads_like_seabios() {
    let mut fw = test_device();
    let mut ram = Ram::new(0x10000);
    // qemu_cfg_read_entry(&count, FILE_DIR, 4): select and read at once.
    ram.request(
        0x1000,
        u32::from(key::FILE_DIR) << 16 | dma_control::SELECT | dma_control::READ,
        4,
        0x2000,
    );
    trigger(&mut fw, 0x1000);
    assert!(fw.dma_pending());
    fw.run_dma(&mut ram);
    assert!(!fw.dma_pending());
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(ram.get(0x2000, 4), 4u32.to_be_bytes());
    // qemu_cfg_read(&qfile, 64): continue from the offset.
    ram.request(0x1000, dma_control::READ, 64, 0x3000);
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(&ram.get(0x3000, 64)[8..18], b"bootorder\0");

    // A whole file; the address register's high half written first.
    let select = fw.file_selector("etc/alpha").unwrap();
    ram.request(
        0x1000,
        u32::from(select) << 16 | dma_control::SELECT | dma_control::READ,
        256,
        0x4000,
    );
    fw.port_write(DMA_HIGH_PORT, 4, 0, 0);
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(ram.get(0x4000, 256), (0..=255).collect::<Vec<u8>>().as_slice());

    // qemu_cfg_read_file with a skip: select by port, skip, read.
    self::select(&mut fw, select);
    ram.request(0x1000, dma_control::SKIP, 250, 0);
    trigger(&mut fw, 0x1000);
    ram.request(0x1100, dma_control::READ, 8, 0x5000);
    trigger(&mut fw, 0x1100);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(ram.control(0x1100), 0);
    // Six item bytes, then zeros past the end.
    assert_eq!(ram.get(0x5000, 8), [250, 251, 252, 253, 254, 255, 0, 0]);
    // The port interface sees the offset DMA left (at the end).
    assert_eq!(fw.port_read(DATA_PORT, 1, 0), 0);
}

#[test]
fn dma_of_missing_items_stores_zeros() {
    let mut fw = test_device();
    let mut ram = Ram::new(0x10000);
    // qemu_cfg_legacy reads NUMA (absent) into an uninitialised u64.
    ram.request(
        0x1000,
        u32::from(key::NUMA) << 16 | dma_control::SELECT | dma_control::READ,
        8,
        0x2000,
    );
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(ram.get(0x2000, 8), [0; 8]);
    assert_eq!(ram.get(0x2008, 1), [0xAA]);
}

#[test]
fn dma_writes_are_refused_and_nothing_else_runs() {
    let mut fw = test_device();
    let mut ram = Ram::new(0x10000);
    let select = fw.file_selector("etc/zeta").unwrap();
    ram.put(0x2000, b"XXXX");
    ram.request(
        0x1000,
        u32::from(select) << 16 | dma_control::SELECT | dma_control::WRITE,
        4,
        0x2000,
    );
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), dma_control::ERROR);
    assert_eq!(fw.file("etc/zeta"), Some(&b"last"[..]));
    // No operation bit: only the select happens, and it succeeds.
    ram.request(0x1000, u32::from(key::SIGNATURE) << 16 | dma_control::SELECT, 100, 0x3000);
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(ram.get(0x3000, 1), [0xAA]);
    assert_eq!(read(&mut fw, 4), b"QEMU");
}

#[test]
fn hostile_dma_is_bounded() {
    let mut fw = test_device();
    let mut ram = Ram::new(0x10000);

    // The request itself outside RAM: it reads as all ones (select
    // 0xFFFF, read 4 GiB - 1 to the top of the address space).
    trigger(&mut fw, 0xFFFF_FFF8);
    fw.port_write(DMA_HIGH_PORT, 4, 0xFFFF_FFFFu32.to_be(), 0);
    trigger(&mut fw, 0xFFFF_FFF8);
    fw.run_dma(&mut ram);
    assert!(ram.written <= 2 * (u64::from(ZERO_FILL_LIMIT) + 4));

    // A huge read of a small item: the item, then at most the zero-fill
    // limit, then an error.
    ram.written = 0;
    let select = fw.file_selector("etc/zeta").unwrap();
    ram.request(
        0x1000,
        u32::from(select) << 16 | dma_control::SELECT | dma_control::READ,
        u32::MAX,
        0x2000,
    );
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), dma_control::ERROR);
    assert_eq!(ram.get(0x2000, 4), b"last");
    assert_eq!(ram.written, 4 + u64::from(ZERO_FILL_LIMIT) + 4);

    // Wrapping past the top of the address space.
    ram.written = 0;
    ram.request(
        0x1000,
        u32::from(select) << 16 | dma_control::SELECT | dma_control::READ,
        64,
        u64::MAX - 1,
    );
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(ram.get(0, 4), [0xAA; 4]);

    // A huge skip costs nothing and leaves the offset at the end.
    ram.request(
        0x1000,
        u32::from(select) << 16 | dma_control::SELECT | dma_control::SKIP,
        u32::MAX,
        0,
    );
    trigger(&mut fw, 0x1000);
    fw.run_dma(&mut ram);
    assert_eq!(ram.control(0x1000), 0);
    assert_eq!(fw.port_read(DATA_PORT, 1, 0), 0);

    // Requests beyond the queue limit are dropped.
    for _ in 0..1000 {
        trigger(&mut fw, 0x1000);
    }
    assert_eq!(fw.dma_queue.len(), DMA_QUEUE_LIMIT);
    fw.run_dma(&mut ram);
    assert!(!fw.dma_pending());
}

#[test]
fn reset_selects_the_signature_and_drops_dma() {
    let mut fw = test_device();
    read_item(&mut fw, key::FILE_DIR, 10);
    fw.port_write(DMA_HIGH_PORT, 4, 0x1234_5678, 0);
    trigger(&mut fw, 0x1000);
    fw.reset();
    assert!(!fw.dma_pending());
    assert_eq!(fw.dma_address, 0);
    assert_eq!(read(&mut fw, 4), b"QEMU");
}

#[test]
fn file_name_and_item_errors() {
    let mut fw = FwCfg::new(64 << 20, 1);
    let longest = "x".repeat(MAX_FILE_NAME);
    fw.add_file(&longest, vec![1]).unwrap();
    let too_long = "y".repeat(MAX_FILE_NAME + 1);
    assert_eq!(fw.add_file(&too_long, vec![]), Err(FwCfgError::BadName(too_long.clone())));
    assert_eq!(fw.add_file("", vec![]), Err(FwCfgError::BadName(String::new())));
    assert_eq!(fw.add_file("a\0b", vec![]), Err(FwCfgError::BadName("a\0b".into())));
    assert_eq!(fw.add_file(&longest, vec![]), Err(FwCfgError::Duplicate(longest.clone())));
    // The longest name still ends with a NUL in the directory.
    let dir = directory(&mut fw);
    assert!(dir.iter().any(|(n, _, _)| *n == longest));

    assert_eq!(fw.set_item(key::FILE_DIR, vec![]), Err(FwCfgError::ReservedKey(key::FILE_DIR)));
    assert_eq!(fw.set_item(key::SIGNATURE, vec![]), Err(FwCfgError::ReservedKey(key::SIGNATURE)));
    assert_eq!(fw.set_item(key::FILE_FIRST, vec![]), Err(FwCfgError::ReservedKey(key::FILE_FIRST)));
    assert_eq!(fw.set_item(0x4005, vec![]), Err(FwCfgError::ReservedKey(0x4005)));
    fw.set_item(key::IRQ0_OVERRIDE, 1u32.to_le_bytes().to_vec()).unwrap();
    fw.set_item(key::KERNEL_SIZE, 0u32.to_le_bytes().to_vec()).unwrap();
    assert_eq!(read_item(&mut fw, key::IRQ0_OVERRIDE, 4), [1, 0, 0, 0]);
}

/// SeaBIOS's `glob_prefix` (src/boot.c) as described there: `glob` must
/// be a prefix of `s` ending at a `/` or the end of `s`; a `*` in `glob`
/// matches any run of characters that are not `/` or the character after
/// the `*`.
fn glob_prefix(glob: &str, s: &str) -> bool {
    let (g, s) = (glob.as_bytes(), s.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        if i == g.len() && (j == s.len() || s[j] == b'/') {
            return true;
        }
        if g.get(i) == Some(&b'*') {
            if j == s.len() || s[j] == b'/' || Some(&s[j]) == g.get(i + 1) {
                i += 1;
            } else {
                j += 1;
            }
            continue;
        }
        if i == g.len() || j == s.len() || g[i] != s[j] {
            return false;
        }
        i += 1;
        j += 1;
    }
}

#[test]
fn bootorder_paths_match_what_seabios_builds() {
    let disk = FwCfg::ide_boot_path(IdeChannel::Primary, IdeUnit::Master);
    let cd = FwCfg::ide_boot_path(IdeChannel::Secondary, IdeUnit::Master);
    assert_eq!(disk, "/pci@i0cf8/ide@1,1/drive@0/disk@0");
    assert_eq!(cd, "/pci@i0cf8/ide@1,1/drive@1/disk@0");
    assert_eq!(
        FwCfg::ide_boot_path(IdeChannel::Primary, IdeUnit::Slave),
        "/pci@i0cf8/ide@1,1/drive@0/disk@1"
    );
    // SeaBIOS's build_ata_path names the PCI device "*".
    assert!(glob_prefix("/pci@i0cf8/*@1,1/drive@1/disk@0", &cd));
    assert!(!glob_prefix("/pci@i0cf8/*@1,1/drive@0/disk@0", &cd));
    assert!(glob_prefix("/pci@i0cf8/*@1,1/drive@0/disk@0", &disk));

    let mut fw = FwCfg::new(64 << 20, 1);
    fw.set_bootorder(&[&cd, &disk, "HALT"]).unwrap();
    let expected = format!("{cd}\n{disk}\nHALT\0");
    assert_eq!(fw.file("bootorder"), Some(expected.as_bytes()));
    assert_eq!(fw.set_bootorder(&["a\nb"]), Err(FwCfgError::BadBootPath("a\nb".into())));
    fw.set_bootorder(&[&disk]).unwrap();
    assert_eq!(fw.file("bootorder"), Some(format!("{disk}\0").as_bytes()));
}

#[test]
fn random_guest_accesses_never_panic() {
    let mut rng = XorShift::new(0xF00D_CAFE);
    let mut fw = test_device();
    fw.set_e820(&[(0, 0x10000, E820_RAM)]).unwrap();
    let mut ram = Ram::new(0x4000);
    let mut runs = 0;
    for _ in 0..100_000 {
        let port = rng.pick(&[0x50F, 0x510, 0x511, 0x512, 0x513, 0x514, 0x516, 0x518, 0x51B, 0x51C]);
        let size = if matches!(port, DMA_HIGH_PORT | DMA_LOW_PORT) && rng.below(2) == 0 {
            4
        } else {
            rng.size()
        };
        if rng.below(2) == 0 {
            let _ = fw.port_read(port, size, 0);
        } else {
            let value = match rng.below(4) {
                0 => rng.next_u64() as u32,
                1 => rng.below(0x30) as u32,
                _ => (rng.below(0x4000) as u32).to_be(),
            };
            fw.port_write(port, size, value, 0);
        }
        if rng.below(8) == 0 {
            let n = rng.below(64) as usize;
            for _ in 0..n {
                let at = rng.below(ram.bytes.len() as u64);
                ram.bytes[at as usize] = rng.byte();
            }
        }
        assert!(fw.dma_queue.len() <= DMA_QUEUE_LIMIT);
        if fw.dma_pending() && rng.below(4) == 0 {
            ram.written = 0;
            runs += 1;
            fw.run_dma(&mut ram);
            assert!(ram.written <= DMA_QUEUE_LIMIT as u64 * (u64::from(ZERO_FILL_LIMIT) + 400));
        }
    }
    assert!(runs > 100, "the test exercised DMA {runs} times only");
}
