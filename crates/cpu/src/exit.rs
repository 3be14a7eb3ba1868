//! Why an engine handed control back to the execution manager.

/// The reason an engine's run returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The instruction budget given to the run is used up.
    Budget,
    /// The CPU executed HLT and no interrupt can be taken now.
    Halted,
    /// A triple fault: the processor shuts down (the PC resets).
    Shutdown,
    /// The bus asked for a stop (reset, exit, debugger).
    Stopped,
}
