//! Control register bits (SDM vol. 3, 2.5).

pub mod cr0 {
    pub const PE: u32 = 1 << 0;
    pub const MP: u32 = 1 << 1;
    pub const EM: u32 = 1 << 2;
    pub const TS: u32 = 1 << 3;
    /// Extension type: hard-wired to one since the i486.
    pub const ET: u32 = 1 << 4;
    pub const NE: u32 = 1 << 5;
    pub const WP: u32 = 1 << 16;
    pub const AM: u32 = 1 << 18;
    pub const NW: u32 = 1 << 29;
    pub const CD: u32 = 1 << 30;
    pub const PG: u32 = 1 << 31;
    /// Bits that hold state; the rest are reserved.
    pub const WRITABLE: u32 = PE | MP | EM | TS | ET | NE | WP | AM | NW | CD | PG;
    /// Value after RESET (SDM vol. 3, 9.1.1, table 9-1).
    pub const RESET: u32 = CD | NW | ET;
}

pub mod cr4 {
    pub const VME: u32 = 1 << 0;
    pub const PVI: u32 = 1 << 1;
    pub const TSD: u32 = 1 << 2;
    pub const DE: u32 = 1 << 3;
    pub const PSE: u32 = 1 << 4;
    pub const PAE: u32 = 1 << 5;
    pub const MCE: u32 = 1 << 6;
    pub const PGE: u32 = 1 << 7;
    pub const PCE: u32 = 1 << 8;
    pub const OSFXSR: u32 = 1 << 9;
    pub const OSXMMEXCPT: u32 = 1 << 10;
}

pub mod dr7 {
    /// Bit 10 of DR7 always reads as one.
    pub const FIXED1: u32 = 1 << 10;
    pub const GD: u32 = 1 << 13;
}

pub mod dr6 {
    pub const B0: u32 = 1 << 0;
    pub const BD: u32 = 1 << 13;
    pub const BS: u32 = 1 << 14;
    pub const BT: u32 = 1 << 15;
    /// Bits that always read as one on P6-class processors.
    pub const FIXED1: u32 = 0xFFFF_0FF0;
}
