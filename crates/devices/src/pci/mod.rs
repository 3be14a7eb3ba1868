//! PCI: configuration mechanism #1 and the functions on bus 0.
//!
//! The address register at 0xCF8 takes 32-bit accesses only (enable bit 31,
//! bus 23-16, device 15-11, function 10-8, register 7-2); the data window
//! 0xCFC-0xCFF takes any width at any byte offset and reaches the selected
//! function's register plus that offset. Byte and word accesses to
//! 0xCF8-0xCFB are not the address register: 0xCF9 is the PIIX3's reset
//! control register (bit 2 going to 1 resets the CPU), the rest reads as
//! nothing there. With the enable bit clear, on a bus other than 0, or at a
//! device/function nobody answers, reads are all ones and writes vanish
//! (a master abort).
//!
//! Functions implement [`PciFunction`]; [`ConfigSpace`] gives them the usual
//! read-only / writable / write-1-to-clear behaviour and BAR sizing. The
//! machine finds a function again by its concrete type with
//! [`PciBus::function`] / [`PciBus::function_mut`], e.g. to read the
//! i440FX's PAM registers after the guest reprograms them.

pub mod config;
pub mod i440fx;
pub mod piix3;

use std::any::Any;

use crate::{Nanos, PortIo, access_len, rate_limited, size_mask};

pub use config::{Bar, BarKind, ConfigSpace};
pub use i440fx::I440fx;
pub use piix3::Piix3;

/// The address register.
pub const CONFIG_ADDRESS: u16 = 0xCF8;
/// The PIIX3 reset control register (byte access).
pub const RESET_CONTROL: u16 = 0xCF9;
/// The first port of the data window.
pub const CONFIG_DATA: u16 = 0xCFC;

/// Errors of bus and configuration-space set-up (machine side; guest
/// accesses never fail).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PciError {
    #[error("PCI address {device:#x}.{function} is out of range (device 0-31, function 0-7)")]
    BadAddress { device: u8, function: u8 },
    #[error("PCI slot {0} is already occupied")]
    Occupied(DevFn),
    #[error("BAR {index}: {reason}")]
    BadBar { index: usize, reason: &'static str },
}

/// A device/function number on bus 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevFn(u8);

impl DevFn {
    pub fn new(device: u8, function: u8) -> Result<Self, PciError> {
        if device < 32 && function < 8 {
            Ok(Self(device << 3 | function))
        } else {
            Err(PciError::BadAddress { device, function })
        }
    }

    pub fn device(self) -> u8 {
        self.0 >> 3
    }

    pub fn function(self) -> u8 {
        self.0 & 7
    }
}

impl std::fmt::Display for DevFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "00:{:02x}.{}", self.device(), self.function())
    }
}

/// One function's configuration space, as the bus sees it.
///
/// `offset + size` never exceeds 256 and the access never crosses a dword
/// boundary; `size` is 1, 2 or 4. Implementations must not panic on any
/// offset or value: the guest chooses them.
pub trait PciFunction: Any + Send {
    fn config_read(&mut self, offset: u8, size: u8) -> u32;
    fn config_write(&mut self, offset: u8, size: u8, value: u32);
    /// Back to the power-on state (a PCI reset, RST#).
    fn reset(&mut self) {}
}

/// Bus 0 with configuration mechanism #1 and the reset control register.
pub struct PciBus {
    address: u32,
    functions: Vec<Option<Box<dyn PciFunction>>>,
    reset_control: u8,
    reset_request: bool,
}

impl std::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present: Vec<String> = (0..=255u8)
            .filter(|&i| self.functions[usize::from(i)].is_some())
            .map(|i| DevFn(i).to_string())
            .collect();
        f.debug_struct("PciBus")
            .field("address", &format_args!("{:#010x}", self.address))
            .field("functions", &present)
            .finish()
    }
}

impl Default for PciBus {
    fn default() -> Self {
        Self::new()
    }
}

impl PciBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self {
            address: 0,
            functions: (0..256).map(|_| None).collect(),
            reset_control: 0,
            reset_request: false,
        }
    }

    /// The PC's bus: an i440FX host bridge at 00:00.0 and a PIIX3
    /// PCI-to-ISA bridge at 00:01.0.
    pub fn i440fx_piix3() -> Self {
        let mut bus = Self::new();
        let slots = [
            (I440fx::DEVFN, Box::new(I440fx::new()) as Box<dyn PciFunction>),
            (Piix3::DEVFN, Box::new(Piix3::new())),
        ];
        for ((device, function), f) in slots {
            let devfn = DevFn::new(device, function).expect("fixed, valid addresses");
            bus.add(devfn, f).expect("slots start empty");
        }
        bus
    }

    /// RST#: every function back to its power-on state; the address
    /// and reset control registers too.
    pub fn reset(&mut self) {
        self.address = 0;
        self.reset_control = 0;
        self.reset_request = false;
        for f in self.functions.iter_mut().flatten() {
            f.reset();
        }
    }

    /// Put `function` at `devfn`.
    pub fn add(&mut self, devfn: DevFn, function: Box<dyn PciFunction>) -> Result<(), PciError> {
        let slot = &mut self.functions[usize::from(devfn.0)];
        if slot.is_some() {
            return Err(PciError::Occupied(devfn));
        }
        *slot = Some(function);
        Ok(())
    }

    /// The function at `devfn`, if it is a `T`.
    pub fn function<T: PciFunction>(&self, devfn: DevFn) -> Option<&T> {
        let f: &dyn Any = self.functions[usize::from(devfn.0)].as_deref()?;
        f.downcast_ref::<T>()
    }

    /// The function at `devfn`, if it is a `T`.
    pub fn function_mut<T: PciFunction>(&mut self, devfn: DevFn) -> Option<&mut T> {
        let f: &mut dyn Any = self.functions[usize::from(devfn.0)].as_deref_mut()?;
        f.downcast_mut::<T>()
    }

    /// The host bridge, on a bus built by [`PciBus::i440fx_piix3`].
    pub fn host_bridge(&self) -> Option<&I440fx> {
        self.function(DevFn::new(I440fx::DEVFN.0, I440fx::DEVFN.1).ok()?)
    }

    /// The host bridge, mutably (to take its memory-map change flag).
    pub fn host_bridge_mut(&mut self) -> Option<&mut I440fx> {
        self.function_mut(DevFn::new(I440fx::DEVFN.0, I440fx::DEVFN.1).ok()?)
    }

    /// The PCI-to-ISA bridge, on a bus built by [`PciBus::i440fx_piix3`].
    pub fn isa_bridge(&self) -> Option<&Piix3> {
        self.function(DevFn::new(Piix3::DEVFN.0, Piix3::DEVFN.1).ok()?)
    }

    /// The VGA's PCI function, if the machine added one at its usual place
    /// ([`crate::vga::pci::StdVgaPci::DEVFN`]).
    pub fn vga(&self) -> Option<&crate::vga::pci::StdVgaPci> {
        self.function(crate::vga::pci::StdVgaPci::devfn())
    }

    /// The IDE controller, if the machine added one at its usual place
    /// ([`crate::ide::Piix3Ide::DEVFN`]).
    pub fn ide(&self) -> Option<&crate::ide::Piix3Ide> {
        self.function(crate::ide::Piix3Ide::devfn())
    }

    /// The IDE controller, mutably (port I/O, DMA, media changes).
    pub fn ide_mut(&mut self) -> Option<&mut crate::ide::Piix3Ide> {
        self.function_mut(crate::ide::Piix3Ide::devfn())
    }

    /// Whether the guest asked for a reset through 0xCF9 since the last
    /// call. Bit 1 of the register (kept in [`PciBus::reset_control`])
    /// says whether it wanted a hard (system) or soft (CPU) reset.
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    /// The reset control register (bit 1: hard reset selected).
    pub fn reset_control(&self) -> u8 {
        self.reset_control
    }

    /// A configuration read on bus 0 (for the machine, e.g. a firmware
    /// loader that sets up BARs itself). All ones where nothing answers.
    pub fn config_read(&mut self, devfn: DevFn, offset: u8, size: u8) -> u32 {
        let len = access_len(size);
        if usize::from(offset) + usize::from(len) > 256 {
            return size_mask(size);
        }
        match &mut self.functions[usize::from(devfn.0)] {
            Some(f) => f.config_read(offset, len) & size_mask(len),
            None => size_mask(size),
        }
    }

    /// A configuration write on bus 0; ignored where nothing answers.
    pub fn config_write(&mut self, devfn: DevFn, offset: u8, size: u8, value: u32) {
        let len = access_len(size);
        if usize::from(offset) + usize::from(len) > 256 {
            return;
        }
        if let Some(f) = &mut self.functions[usize::from(devfn.0)] {
            f.config_write(offset, len, value & size_mask(len));
        }
    }

    /// The function and register the address register selects, if the
    /// access goes anywhere.
    fn selected(&self) -> Option<(DevFn, u8)> {
        let a = self.address;
        if a & 0x8000_0000 == 0 || (a >> 16) & 0xFF != 0 {
            return None;
        }
        Some((DevFn((a >> 8) as u8), (a & 0xFC) as u8))
    }

    fn data_read(&mut self, byte: u8, size: u8) -> u32 {
        match self.selected() {
            Some((devfn, reg)) => self.config_read(devfn, reg + byte, size),
            None => size_mask(size),
        }
    }

    fn data_write(&mut self, byte: u8, size: u8, value: u32) {
        if let Some((devfn, reg)) = self.selected() {
            self.config_write(devfn, reg + byte, size, value);
        }
    }

    fn read_u8(&mut self, port: u16) -> u8 {
        match port {
            RESET_CONTROL => self.reset_control,
            0xCFC..=0xCFF => self.data_read((port & 3) as u8, 1) as u8,
            _ => 0xFF,
        }
    }

    fn write_u8(&mut self, port: u16, value: u8) {
        match port {
            RESET_CONTROL => {
                if value & 0x04 != 0 {
                    self.reset_request = true;
                }
                // Only the hard/soft selection is kept; RCPU self-clears.
                self.reset_control = value & 0x02;
            }
            0xCFC..=0xCFF => self.data_write((port & 3) as u8, 1, u32::from(value)),
            _ => rate_limited!(debug, port, value, "byte write to the PCI address ports ignored"),
        }
    }
}

impl PortIo for PciBus {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        let len = access_len(size);
        if port == CONFIG_ADDRESS && len == 4 {
            return self.address;
        }
        if (CONFIG_DATA..=0xCFF).contains(&port) && (port & 3) + u16::from(len) <= 4 {
            return self.data_read((port & 3) as u8, len);
        }
        crate::read_bytewise(port, size, |p| self.read_u8(p))
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, _now: Nanos) {
        let len = access_len(size);
        if port == CONFIG_ADDRESS && len == 4 {
            // Bits 30-24 and 1-0 are reserved and read as zero.
            self.address = value & 0x80FF_FFFC;
            return;
        }
        if (CONFIG_DATA..=0xCFF).contains(&port) && (port & 3) + u16::from(len) <= 4 {
            self.data_write((port & 3) as u8, len, value);
            return;
        }
        crate::write_bytewise(port, size, value, |p, v| self.write_u8(p, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    fn addr(device: u8, function: u8, reg: u8) -> u32 {
        0x8000_0000 | u32::from(device) << 11 | u32::from(function) << 8 | u32::from(reg)
    }

    fn read(bus: &mut PciBus, device: u8, function: u8, reg: u8, size: u8) -> u32 {
        bus.port_write(CONFIG_ADDRESS, 4, addr(device, function, reg & 0xFC), 0);
        bus.port_read(CONFIG_DATA + u16::from(reg & 3), size, 0)
    }

    fn write(bus: &mut PciBus, device: u8, function: u8, reg: u8, size: u8, value: u32) {
        bus.port_write(CONFIG_ADDRESS, 4, addr(device, function, reg & 0xFC), 0);
        bus.port_write(CONFIG_DATA + u16::from(reg & 3), size, value, 0);
    }

    /// A function with BARs, for the sizing test.
    struct Dummy(ConfigSpace);

    impl PciFunction for Dummy {
        fn config_read(&mut self, offset: u8, size: u8) -> u32 {
            self.0.read(offset, size)
        }
        fn config_write(&mut self, offset: u8, size: u8, value: u32) {
            self.0.write(offset, size, value);
        }
    }

    #[test]
    fn linux_type1_check() {
        let mut bus = PciBus::i440fx_piix3();
        bus.port_write(0xCFB, 1, 0x01, 0);
        let saved = bus.port_read(CONFIG_ADDRESS, 4, 0);
        bus.port_write(CONFIG_ADDRESS, 4, 0x8000_0000, 0);
        assert_eq!(bus.port_read(CONFIG_ADDRESS, 4, 0), 0x8000_0000);
        bus.port_write(CONFIG_ADDRESS, 4, saved, 0);
        // Byte reads of the address ports are not the address register.
        assert_eq!(bus.port_read(0xCFA, 1, 0), 0xFF);
    }

    #[test]
    fn host_bridge_and_isa_bridge_identity() {
        let mut bus = PciBus::i440fx_piix3();
        assert_eq!(read(&mut bus, 0, 0, 0x00, 4), 0x1237_8086);
        assert_eq!(read(&mut bus, 0, 0, 0x08, 4), 0x0600_0002);
        assert_eq!(read(&mut bus, 0, 0, 0x0E, 1), 0x00);
        assert_eq!(read(&mut bus, 0, 0, 0x04, 4), 0x0280_0006);
        assert_eq!(read(&mut bus, 1, 0, 0x00, 4), 0x7000_8086);
        assert_eq!(read(&mut bus, 1, 0, 0x0A, 2), 0x0601);
        assert_eq!(read(&mut bus, 1, 0, 0x0E, 1), 0x80);
        assert_eq!(read(&mut bus, 1, 0, 0x60, 4), 0x8080_8080);
        // Word and byte reads at odd offsets of the data window.
        assert_eq!(read(&mut bus, 0, 0, 0x02, 2), 0x1237);
        assert_eq!(read(&mut bus, 0, 0, 0x03, 1), 0x12);
        // Nobody at 00:02.0 nor on bus 1; disabled accesses read ones.
        assert_eq!(read(&mut bus, 2, 0, 0x00, 4), 0xFFFF_FFFF);
        assert_eq!(read(&mut bus, 1, 1, 0x00, 2), 0xFFFF);
        bus.port_write(CONFIG_ADDRESS, 4, 0x8001_0000, 0);
        assert_eq!(bus.port_read(CONFIG_DATA, 4, 0), 0xFFFF_FFFF);
        bus.port_write(CONFIG_ADDRESS, 4, 0x0000_0000, 0);
        assert_eq!(bus.port_read(CONFIG_DATA, 4, 0), 0xFFFF_FFFF);
        // Read-only IDs stay.
        write(&mut bus, 0, 0, 0x00, 4, 0);
        assert_eq!(read(&mut bus, 0, 0, 0x00, 4), 0x1237_8086);
    }

    #[test]
    fn bar_sizing_through_the_ports() {
        let mut bus = PciBus::i440fx_piix3();
        let mut cs = ConfigSpace::new(0x1AF4, 0x1000, 0x02_00_00, 0, 0);
        cs.add_bar(
            0,
            Bar {
                kind: BarKind::Io,
                size: 0x40,
            },
        )
        .unwrap();
        cs.add_bar(
            1,
            Bar {
                kind: BarKind::Memory32 { prefetchable: false },
                size: 0x1000,
            },
        )
        .unwrap();
        let devfn = DevFn::new(3, 0).unwrap();
        bus.add(devfn, Box::new(Dummy(cs))).unwrap();
        assert_eq!(bus.add(devfn, Box::new(Piix3::new())), Err(PciError::Occupied(devfn)));
        write(&mut bus, 3, 0, 0x10, 4, 0xFFFF_FFFF);
        write(&mut bus, 3, 0, 0x14, 4, 0xFFFF_FFFF);
        assert_eq!(read(&mut bus, 3, 0, 0x10, 4), 0xFFFF_FFC1);
        assert_eq!(read(&mut bus, 3, 0, 0x14, 4), 0xFFFF_F000);
        write(&mut bus, 3, 0, 0x10, 4, 0xC000);
        write(&mut bus, 3, 0, 0x14, 4, 0xFEBF_0000);
        let dummy = bus.function::<Dummy>(devfn).unwrap();
        assert_eq!(dummy.0.bar_address(0), Some(0xC000));
        assert_eq!(dummy.0.bar_address(1), Some(0xFEBF_0000));
        assert!(bus.function::<Piix3>(devfn).is_none());
    }

    #[test]
    fn reset_control_register() {
        let mut bus = PciBus::i440fx_piix3();
        // Linux's reboot=pci: 0x02, then 0x06.
        bus.port_write(RESET_CONTROL, 1, 0x02, 0);
        assert!(!bus.take_reset_request());
        assert_eq!(bus.port_read(RESET_CONTROL, 1, 0), 0x02);
        bus.port_write(RESET_CONTROL, 1, 0x06, 0);
        assert!(bus.take_reset_request());
        assert_eq!(bus.reset_control() & 0x02, 0x02);
        assert!(!bus.take_reset_request());
    }

    #[test]
    fn pam_writes_reach_the_host_bridge() {
        let mut bus = PciBus::i440fx_piix3();
        // SeaBIOS makes the BIOS area writable: PAM0 = 0x30, PAM1-6 = 0x33.
        write(&mut bus, 0, 0, 0x59, 1, 0x30);
        write(&mut bus, 0, 0, 0x5A, 2, 0x3333);
        let host = bus.host_bridge_mut().unwrap();
        assert!(host.take_memory_map_changed());
        assert!(!host.take_memory_map_changed());
        assert_eq!(host.pam()[0..3], [0x30, 0x33, 0x33]);
    }

    #[test]
    fn fuzz_random_port_traffic() {
        let mut bus = PciBus::i440fx_piix3();
        let mut rng = XorShift::new(0xCF8);
        for _ in 0..50_000 {
            let port = 0xCF8 + rng.below(9) as u16;
            match rng.below(4) {
                0 => {
                    let devfn = rng.below(16) as u32;
                    let reg = rng.below(256) as u32;
                    let a = 0x8000_0000 | devfn << 8 | reg;
                    bus.port_write(CONFIG_ADDRESS, 4, a, 0);
                }
                1 => {
                    bus.port_read(port, rng.size(), 0);
                }
                _ => bus.port_write(port, rng.size(), rng.next_u64() as u32, 0),
            }
            bus.take_reset_request();
        }
        // The identity of the bridges survives anything.
        assert_eq!(read(&mut bus, 0, 0, 0, 4), 0x1237_8086);
        assert_eq!(read(&mut bus, 1, 0, 0, 4), 0x7000_8086);
    }
}
