//! What an engine needs from the machine around it.

/// The machine as the CPU sees it: port I/O, MMIO, the interrupt line and
/// the clock.
///
/// Software engines call these synchronously, at the instruction that
/// causes the access, which keeps faults and I/O in program order; a
/// hardware-assisted engine turns its exits into the same calls. Devices
/// never see the CPU: the machine implements this trait by dispatching to
/// them.
pub trait Bus {
    /// IN: `size` is 1, 2 or 4. Ports nothing answers read as all ones.
    fn port_in(&mut self, port: u16, size: u8) -> u32;
    /// OUT.
    fn port_out(&mut self, port: u16, size: u8, value: u32);
    /// Read from MMIO region `id` (as registered in the physical map).
    fn mmio_read(&mut self, id: u32, offset: u64, size: u8) -> u64;
    /// Write to MMIO region `id`.
    fn mmio_write(&mut self, id: u32, offset: u64, size: u8, value: u64);
    /// Whether the interrupt controller asserts INTR.
    fn interrupt_pending(&mut self) -> bool;
    /// The INTA cycle: the vector of the interrupt being taken.
    fn acknowledge_interrupt(&mut self) -> u8;
    /// Virtual time in nanoseconds, the base of the time-stamp counter.
    fn now(&mut self) -> u64;
    /// Whether the machine asks the engine to return at the next
    /// instruction boundary (a device asked for reset or exit, a debugger
    /// stop, a deadline). Checked after I/O and at block boundaries.
    fn stop_requested(&mut self) -> bool {
        false
    }
    /// FERR# changed (x87 error with CR0.NE clear; the PC routes it to
    /// IRQ 13).
    fn fpu_error(&mut self, _asserted: bool) {}

    /// The engine spent `ns` of host time on its own work (translating
    /// code) during which the guest could not run; the machine may hold
    /// that time back from the guest's clock.
    fn stall(&mut self, _ns: u64) {}
}

/// A bus with nothing on it: ports and MMIO read as ones, no interrupts,
/// time stands still. For tests and tools that run bare code.
#[derive(Debug, Default)]
pub struct NullBus {
    pub time: u64,
}

impl Bus for NullBus {
    fn port_in(&mut self, _port: u16, size: u8) -> u32 {
        match size {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }
    fn port_out(&mut self, _port: u16, _size: u8, _value: u32) {}
    fn mmio_read(&mut self, _id: u32, _offset: u64, _size: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _id: u32, _offset: u64, _size: u8, _value: u64) {}
    fn interrupt_pending(&mut self) -> bool {
        false
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        0
    }
    fn now(&mut self) -> u64 {
        self.time
    }
}
