//! Exceptions raised while executing an instruction.

use x86::exception as vec;

/// An exception to deliver: vector and, where the vector has one, the
/// error code. CR2 is written when a page fault is raised, not here.
///
/// Kept to four bytes (every error code fits in 16 bits: selector errors
/// and page-fault bits) so that `Result<(), Exception>`, which every
/// instruction handler returns, travels in a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub vector: u8,
    has_error: bool,
    code: u16,
}

impl Exception {
    pub const fn new(vector: u8) -> Self {
        Self {
            vector,
            has_error: false,
            code: 0,
        }
    }
    pub const fn with_error(vector: u8, error: u32) -> Self {
        Self {
            vector,
            has_error: true,
            code: error as u16,
        }
    }
    /// The error code, for vectors that push one.
    pub const fn error(&self) -> Option<u32> {
        if self.has_error { Some(self.code as u32) } else { None }
    }
    pub const fn de() -> Self {
        Self::new(vec::DE)
    }
    pub const fn ud() -> Self {
        Self::new(vec::UD)
    }
    pub const fn nm() -> Self {
        Self::new(vec::NM)
    }
    pub const fn gp(code: u32) -> Self {
        Self::with_error(vec::GP, code)
    }
    pub const fn gp0() -> Self {
        Self::gp(0)
    }
    pub const fn ss(code: u32) -> Self {
        Self::with_error(vec::SS, code)
    }
    pub const fn np(code: u32) -> Self {
        Self::with_error(vec::NP, code)
    }
    pub const fn ts(code: u32) -> Self {
        Self::with_error(vec::TS, code)
    }
    /// Selector error code for #GP/#TS/#NP/#SS: selector with RPL bits
    /// cleared (EXT is added during delivery of external events).
    pub const fn sel_error(selector: u16) -> u32 {
        (selector & 0xFFFC) as u32
    }
}

/// Result of an instruction or of a step of one.
pub type Res<T = ()> = Result<T, Exception>;
