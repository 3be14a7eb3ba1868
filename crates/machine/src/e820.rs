//! The BIOS memory map (INT 15h E820) the boot loaders hand to the kernel.

/// Entry types.
pub const RAM: u32 = 1;
pub const RESERVED: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub addr: u64,
    pub size: u64,
    pub typ: u32,
}

/// Start of the extended BIOS data area / end of conventional memory.
pub const EBDA: u64 = 0x9_FC00;
/// Start of RAM above the legacy hole.
pub const HIGH: u64 = 0x10_0000;

/// The map of a PC with `ram` bytes of RAM (all below 4 GiB).
pub fn map(ram: u64) -> Vec<Entry> {
    vec![
        Entry {
            addr: 0,
            size: EBDA,
            typ: RAM,
        },
        Entry {
            addr: EBDA,
            size: 0xA_0000 - EBDA,
            typ: RESERVED,
        },
        Entry {
            addr: 0xF_0000,
            size: 0x1_0000,
            typ: RESERVED,
        },
        Entry {
            addr: HIGH,
            size: ram.saturating_sub(HIGH),
            typ: RAM,
        },
    ]
}
