//! From iced-x86 `Code` to the handler that executes it. Each family
//! module lists its own codes; a code no family claims is not part of the
//! modelled CPU and raises #UD.

use super::insn::Handler;
use super::{arith, bcd, bit, control, data, far, flagops, fxsave, interrupt, io, mmx, muldiv, segload, shift, stack, string, system, x87};
use iced_x86::Code;

/// The handler for `code` (#UD for instructions this CPU does not have).
pub fn handler(code: Code) -> Handler {
    lookup(code).unwrap_or(data::ud)
}

/// The handler for `code`, or `None` if the CPU does not implement it.
pub fn lookup(code: Code) -> Option<Handler> {
    arith::lookup(code)
        .or_else(|| data::lookup(code))
        .or_else(|| control::lookup(code))
        .or_else(|| stack::lookup(code))
        .or_else(|| shift::lookup(code))
        .or_else(|| muldiv::lookup(code))
        .or_else(|| bit::lookup(code))
        .or_else(|| bcd::lookup(code))
        .or_else(|| string::lookup(code))
        .or_else(|| io::lookup(code))
        .or_else(|| flagops::lookup(code))
        .or_else(|| segload::lookup(code))
        .or_else(|| far::lookup(code))
        .or_else(|| interrupt::lookup(code))
        .or_else(|| system::lookup(code))
        .or_else(|| x87::lookup(code))
        .or_else(|| mmx::lookup(code))
        .or_else(|| fxsave::lookup(code))
}
