//! Exception vectors (SDM vol. 3, 6.3.1) and their classes for the
//! double-fault rules (SDM vol. 3, table 6-5).

pub const DE: u8 = 0;
pub const DB: u8 = 1;
pub const NMI: u8 = 2;
pub const BP: u8 = 3;
pub const OF: u8 = 4;
pub const BR: u8 = 5;
pub const UD: u8 = 6;
pub const NM: u8 = 7;
pub const DF: u8 = 8;
pub const TS: u8 = 10;
pub const NP: u8 = 11;
pub const SS: u8 = 12;
pub const GP: u8 = 13;
pub const PF: u8 = 14;
pub const MF: u8 = 16;
pub const AC: u8 = 17;
pub const MC: u8 = 18;
pub const XM: u8 = 19;

/// Class of an exception for deciding between a second delivery, a double
/// fault and a triple fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Benign,
    Contributory,
    PageFault,
    DoubleFault,
}

/// The class of `vector` (SDM vol. 3, table 6-4).
pub const fn class(vector: u8) -> Class {
    match vector {
        DE | TS | NP | SS | GP => Class::Contributory,
        PF => Class::PageFault,
        DF => Class::DoubleFault,
        _ => Class::Benign,
    }
}

/// Whether delivering `second` while delivering `first` becomes a double
/// fault (SDM vol. 3, table 6-5).
pub const fn is_double_fault(first: Class, second: Class) -> bool {
    matches!(
        (first, second),
        (Class::Contributory, Class::Contributory) | (Class::PageFault, Class::Contributory) | (Class::PageFault, Class::PageFault)
    )
}

/// Whether `vector` pushes an error code when delivered as an exception in
/// protected mode.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, DF | TS | NP | SS | GP | PF | AC)
}

/// Page-fault error code bits (SDM vol. 3, 4.7).
pub mod pf {
    pub const P: u32 = 1 << 0;
    pub const W: u32 = 1 << 1;
    pub const U: u32 = 1 << 2;
    pub const RSVD: u32 = 1 << 3;
    pub const I: u32 = 1 << 4;
}

/// Selector error code bits (SDM vol. 3, 6.13).
pub mod ec {
    /// The event was external to the program (hardware interrupt, or an
    /// exception during delivery of one).
    pub const EXT: u32 = 1 << 0;
    /// The selector indexes the IDT.
    pub const IDT: u32 = 1 << 1;
    /// The selector indexes the LDT (only meaningful when IDT is clear).
    pub const TI: u32 = 1 << 2;
}
