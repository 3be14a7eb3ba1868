//! The execution context: the CPU state together with the machine it runs
//! in, as one instruction sees them.

use crate::bus::Bus;
use crate::mmu::Tlb;
use crate::state::CpuState;
use memory::GuestMemory;

/// Everything an instruction may touch. Engines build one per run; the
/// interpreter's handlers and the recompiler's slow paths both take it.
pub struct Ctx<'a> {
    pub s: &'a mut CpuState,
    pub mem: &'a mut GuestMemory,
    pub bus: &'a mut dyn Bus,
    pub tlb: &'a mut Tlb,
    /// Set by an instruction after which cached decoding may be stale or
    /// the run loop must look at the state (mode, CS, paging, IF changed;
    /// a write hit a code page; HLT).
    pub end_block: bool,
    /// Exception being delivered, for the double-fault rules (None when
    /// not inside a delivery).
    pub delivering: Option<u8>,
    /// A triple fault happened.
    pub shutdown: bool,
    /// Port I/O or MMIO happened since the run loop last looked (a device
    /// may have asked for a stop).
    pub io_done: bool,
    /// A trap to deliver once the current instruction has completed
    /// (debug traps, the TSS T bit).
    pub pending_trap: Option<crate::exception::Exception>,
    /// Vector of the last exception or interrupt delivered (diagnostics,
    /// statistics and test harnesses).
    pub last_vector: Option<u8>,
    /// Vector of the first event delivered in this run.
    pub first_vector: Option<u8>,
    /// Data breakpoints (DR6 B0-B3 bits) hit by the current instruction.
    pub data_breakpoints: u32,
}

impl<'a> Ctx<'a> {
    pub fn new(s: &'a mut CpuState, mem: &'a mut GuestMemory, bus: &'a mut dyn Bus, tlb: &'a mut Tlb) -> Self {
        Self {
            s,
            mem,
            bus,
            tlb,
            end_block: false,
            delivering: None,
            shutdown: false,
            io_done: false,
            pending_trap: None,
            last_vector: None,
            first_vector: None,
            data_breakpoints: 0,
        }
    }
}
