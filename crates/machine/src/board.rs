//! The board: every device, the port map, and the CPU's view of them
//! (`cpu::Bus`).

use crate::clock::Clock;
use crate::stats::IoStats;
use cpu::Bus;
use devices::debugcon::DebugCon;
use devices::fw_cfg::FwCfg;
use devices::i8042::I8042;
use devices::pci::PciBus;
use devices::pic::Pic;
use devices::pit::Pit;
use devices::post::PostCodes;
use devices::rtc::Rtc;
use devices::sysctl::SystemControlA;
use devices::uart::{self, Uart};
use devices::vga::Vga;
use devices::{IrqLine, IrqLines, PortIo, Timed, rate_limited};
use std::time::Instant;

/// IRQ of the x87 error (FERR#) on a PC.
const IRQ_FPU: u8 = 13;

/// MMIO region ids the board answers (see [`crate::chipset`]).
pub mod mmio {
    /// The VGA's legacy window, 0xA0000-0xBFFFF.
    pub const VGA_WINDOW: u32 = 1;
    /// The VGA's linear framebuffer, where the guest put PCI BAR0.
    pub const VGA_LFB: u32 = 2;
}

/// Port of SeaBIOS's debug output (QEMU's isa-debugcon at 0x402).
pub const FIRMWARE_LOG_PORT: u16 = 0x402;

/// What answers where no device is: reads all ones, writes vanish.
#[derive(Debug, Default)]
struct Unbacked;

impl PortIo for Unbacked {
    fn port_read(&mut self, _port: u16, size: u8, _now: devices::Nanos) -> u32 {
        devices::size_mask(size)
    }
    fn port_write(&mut self, _port: u16, _size: u8, _value: u32, _now: devices::Nanos) {}
}

/// Requests the board makes of the run loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    pub reset: bool,
    pub debug_exit: Option<u32>,
    /// The guest changed what the chipset maps (PAM, a BAR): the machine
    /// must update the physical map before the next instruction.
    pub remap: bool,
    /// A device has a bus-master transfer ready.
    pub dma: bool,
}

pub struct Board {
    pub clock: Clock,
    pub lines: IrqLines,
    pub pic: Pic,
    pub pit: Pit,
    pub rtc: Rtc,
    pub uarts: [Uart; 4],
    pub kbc: I8042,
    pub sysctl: SystemControlA,
    pub post: PostCodes,
    pub debugcon: DebugCon,
    /// SeaBIOS's log port; drained into the same sink as `debugcon`.
    pub firmware_log: DebugCon,
    pub pci: PciBus,
    pub vga: Vga,
    /// QEMU's firmware configuration interface (SeaBIOS boots only).
    pub fw_cfg: Option<FwCfg>,
    unbacked: Unbacked,
    fpu_irq: IrqLine,
    debug_exit: Option<u16>,
    debugcon_port: u16,
    pub requests: Requests,
    /// A20 as the keyboard controller and port 0x92 set it together.
    pub a20: bool,
    /// The PIC's INTR output as last computed, and what it depended on:
    /// recomputed only when a line changed or the PIC was accessed, since
    /// the engine asks at every block boundary.
    intr_cache: Option<bool>,
    intr_levels: u32,
    /// I/O and interrupt counters, when `--stats` asked for them.
    pub io_stats: Option<Box<IoStats>>,
}

/// The devices behind ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dev {
    Pic,
    Pit,
    Rtc,
    Kbc,
    SysCtl,
    Post,
    Pci,
    Uart(usize),
    DebugCon,
    FirmwareLog,
    Vga,
    Ide,
    FwCfg,
}

impl Board {
    pub fn new(clock: Clock, debug_exit: Option<u16>, debugcon_port: u16) -> Self {
        let lines = IrqLines::new();
        let uarts = [uart::COM1, uart::COM2, uart::COM3, uart::COM4].map(|(base, irq)| Uart::new(base, lines.line(irq)));
        Self {
            pic: Pic::new(lines.clone()),
            pit: Pit::new(lines.line(0)),
            rtc: Rtc::new_at(lines.line(8), clock.wall_start(), clock.wall_start_ns()),
            uarts,
            kbc: I8042::new(lines.line(1), lines.line(12)),
            sysctl: SystemControlA::new(),
            post: PostCodes::new(),
            debugcon: DebugCon::new(debugcon_port),
            firmware_log: DebugCon::new(FIRMWARE_LOG_PORT),
            pci: PciBus::i440fx_piix3(),
            vga: Vga::new(),
            fw_cfg: None,
            unbacked: Unbacked,
            fpu_irq: lines.line(IRQ_FPU),
            lines,
            clock,
            debug_exit,
            debugcon_port,
            requests: Requests::default(),
            a20: true,
            intr_cache: None,
            intr_levels: 0,
            io_stats: None,
        }
    }

    /// The earliest device deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        [self.pit.next_deadline(), self.rtc.next_deadline()].into_iter().flatten().min()
    }

    /// Fire the timers that are due.
    pub fn advance(&mut self, now: u64) {
        self.pit.advance(now);
        self.rtc.advance(now);
    }

    /// Back to power-on state (a reset of the whole PC).
    pub fn reset(&mut self) {
        let now = self.clock.now();
        self.pic.reset();
        self.pit.reset();
        self.rtc.reset(now);
        for u in &mut self.uarts {
            u.reset();
        }
        self.kbc.reset();
        self.sysctl.reset();
        self.pci.reset();
        self.vga.reset();
        if let Some(f) = &mut self.fw_cfg {
            f.reset();
        }
        self.fpu_irq.set_level(false);
        self.requests = Requests {
            remap: true,
            ..Requests::default()
        };
        self.a20 = true;
        self.intr_cache = None;
    }

    /// The device owning `port`, if any: the port map.
    fn dev_at(&self, port: u16) -> Option<Dev> {
        Some(match port {
            0x20 | 0x21 | 0xA0 | 0xA1 | 0x4D0 | 0x4D1 => Dev::Pic,
            0x40..=0x43 | 0x61 => Dev::Pit,
            0x70 | 0x71 => Dev::Rtc,
            0x60 | 0x64 => Dev::Kbc,
            0x92 => Dev::SysCtl,
            0x80 => Dev::Post,
            0xCF8..=0xCFF => Dev::Pci,
            0x3F8..=0x3FF => Dev::Uart(0),
            0x2F8..=0x2FF => Dev::Uart(1),
            0x3E8..=0x3EF => Dev::Uart(2),
            0x2E8..=0x2EF => Dev::Uart(3),
            0x1F0..=0x1F7 | 0x3F6 | 0x170..=0x177 | 0x376 if self.pci.ide().is_some() => Dev::Ide,
            0x3B0..=0x3DF | 0x1CE | 0x1CF => Dev::Vga,
            p if p == self.debugcon_port => Dev::DebugCon,
            FIRMWARE_LOG_PORT => Dev::FirmwareLog,
            p if self.fw_cfg.is_some() && devices::fw_cfg::owns_port(p) => Dev::FwCfg,
            // The IDE bus-master block sits where the guest put BAR4.
            p if self.pci.ide().is_some_and(|i| i.claims_port(p)) => Dev::Ide,
            _ => return None,
        })
    }

    fn device(&mut self, dev: Dev) -> &mut dyn PortIo {
        match dev {
            Dev::Pic => {
                self.intr_cache = None;
                &mut self.pic
            }
            Dev::Pit => &mut self.pit,
            Dev::Rtc => &mut self.rtc,
            Dev::Kbc => &mut self.kbc,
            Dev::SysCtl => &mut self.sysctl,
            Dev::Post => &mut self.post,
            Dev::Pci => &mut self.pci,
            Dev::Uart(i) => &mut self.uarts[i],
            Dev::DebugCon => &mut self.debugcon,
            Dev::FirmwareLog => &mut self.firmware_log,
            Dev::Vga => &mut self.vga,
            // `dev_at` names these only when they are there.
            Dev::Ide => match self.pci.ide_mut() {
                Some(ide) => ide,
                None => &mut self.unbacked,
            },
            Dev::FwCfg => match &mut self.fw_cfg {
                Some(f) => f,
                None => &mut self.unbacked,
            },
        }
    }

    /// What answers at `port`, for statistics.
    pub fn port_name(&self, port: u16) -> &'static str {
        if Some(port) == self.debug_exit {
            return "debug exit";
        }
        if port == 0xF0 {
            return "x87 error latch";
        }
        match self.dev_at(port) {
            Some(Dev::Pic) => "PIC",
            Some(Dev::Pit) => "PIT",
            Some(Dev::Rtc) => "RTC/CMOS",
            Some(Dev::Kbc) => "i8042",
            Some(Dev::SysCtl) => "system control A",
            Some(Dev::Post) => "POST",
            Some(Dev::Pci) => "PCI config",
            Some(Dev::Uart(_)) => "UART",
            Some(Dev::DebugCon) => "debug console",
            Some(Dev::FirmwareLog) => "firmware log (0x402)",
            Some(Dev::Vga) => "VGA",
            Some(Dev::Ide) => "IDE",
            Some(Dev::FwCfg) => "fw_cfg",
            None => "(nothing)",
        }
    }

    /// The name of MMIO region `id`, for statistics.
    pub fn mmio_name(&self, id: u32) -> String {
        match id {
            mmio::VGA_WINDOW => "VGA window (0xA0000)".into(),
            mmio::VGA_LFB => "VGA linear framebuffer".into(),
            _ => format!("region {id}"),
        }
    }

    fn read_port(&mut self, port: u16, size: u8) -> u32 {
        let now = self.clock.now();
        match self.dev_at(port) {
            Some(d) => self.device(d).port_read(port, size, now),
            None => {
                rate_limited!(debug, "read from unbacked port {port:#x} ({size} bytes)");
                devices::size_mask(size)
            }
        }
    }

    fn write_port(&mut self, port: u16, size: u8, value: u32) {
        if Some(port) == self.debug_exit {
            self.requests.debug_exit = Some(value & devices::size_mask(size));
            return;
        }
        // Writing port F0 clears the x87 error latch (IRQ 13).
        if port == 0xF0 {
            self.fpu_irq.set_level(false);
            return;
        }
        let now = self.clock.now();
        match self.dev_at(port) {
            Some(d) => {
                self.device(d).port_write(port, size, value, now);
                // Only these two start bus-master transfers.
                if matches!(d, Dev::Ide | Dev::FwCfg)
                    && (self.pci.ide().is_some_and(|i| i.dma_pending()) || self.fw_cfg.as_ref().is_some_and(|f| f.dma_pending()))
                {
                    self.requests.dma = true;
                }
            }
            None => rate_limited!(debug, "write {value:#x} to unbacked port {port:#x} ({size} bytes)"),
        }
        self.after_write(port);
    }

    fn after_write(&mut self, port: u16) {
        match port {
            0x60 | 0x64 | 0x92 => {
                // The gate is open when either source opens it (PCs OR the
                // keyboard controller line with port 0x92 bit 1).
                self.a20 = self.kbc.a20_enabled() || self.sysctl.a20_enabled();
                if self.kbc.take_reset_request() | self.sysctl.take_reset_request() {
                    self.requests.reset = true;
                }
            }
            0xCF8..=0xCFF => {
                if self.pci.take_reset_request() {
                    self.requests.reset = true;
                }
                // A configuration data write may have changed PAM, SMRAM
                // or a BAR: the machine compares and remaps (cheap, and
                // such writes are rare).
                if port >= 0xCFC {
                    self.requests.remap = true;
                }
            }
            _ => {}
        }
    }
}

impl Bus for Board {
    fn port_in(&mut self, port: u16, size: u8) -> u32 {
        tracing::trace!(port, size, "port read");
        let Some(t0) = self.io_stats.is_some().then(Instant::now) else {
            return self.read_port(port, size);
        };
        let v = self.read_port(port, size);
        if let Some(st) = &mut self.io_stats {
            st.ports.entry(port).or_default().reads.add(t0);
        }
        v
    }

    fn port_out(&mut self, port: u16, size: u8, value: u32) {
        tracing::trace!(port, size, value, "port write");
        let Some(t0) = self.io_stats.is_some().then(Instant::now) else {
            return self.write_port(port, size, value);
        };
        self.write_port(port, size, value);
        if let Some(st) = &mut self.io_stats {
            st.ports.entry(port).or_default().writes.add(t0);
        }
    }

    fn mmio_read(&mut self, id: u32, offset: u64, size: u8) -> u64 {
        if let Some(st) = &mut self.io_stats {
            st.mmio.entry(id).or_default().reads.add(Instant::now());
        }
        match id {
            mmio::VGA_WINDOW => self.vga.mmio_read(offset, size),
            mmio::VGA_LFB => self.vga.lfb_read(offset, size),
            _ => {
                rate_limited!(debug, "read from unbacked MMIO region {id} offset {offset:#x} ({size} bytes)");
                u64::MAX
            }
        }
    }

    fn mmio_write(&mut self, id: u32, offset: u64, size: u8, value: u64) {
        if let Some(st) = &mut self.io_stats {
            st.mmio.entry(id).or_default().writes.add(Instant::now());
        }
        match id {
            mmio::VGA_WINDOW => self.vga.mmio_write(offset, size, value),
            mmio::VGA_LFB => self.vga.lfb_write(offset, size, value),
            _ => rate_limited!(
                debug,
                "write {value:#x} to unbacked MMIO region {id} offset {offset:#x} ({size} bytes)"
            ),
        }
    }

    fn interrupt_pending(&mut self) -> bool {
        let levels = self.lines.levels();
        if let Some(v) = self.intr_cache
            && levels == self.intr_levels
            && self.lines.peek_rising_edges() == 0
        {
            return v;
        }
        self.intr_levels = levels;
        let v = self.pic.interrupt_output();
        self.intr_cache = Some(v);
        v
    }

    fn acknowledge_interrupt(&mut self) -> u8 {
        self.intr_cache = None;
        let v = self.pic.acknowledge();
        if let Some(st) = &mut self.io_stats {
            st.interrupts[v as usize] += 1;
        }
        v
    }

    fn now(&mut self) -> u64 {
        self.clock.now()
    }

    fn stop_requested(&mut self) -> bool {
        let r = &self.requests;
        r.reset || r.debug_exit.is_some() || r.remap || r.dma
    }

    fn stall(&mut self, ns: u64) {
        self.clock.stall(ns);
    }

    fn fpu_error(&mut self, asserted: bool) {
        if asserted {
            self.fpu_irq.set_level(true);
        }
    }
}

impl Board {
    /// Whether the PIC asserts INTR right now (for the idle loop).
    pub fn interrupt_pending_now(&mut self) -> bool {
        self.interrupt_pending()
    }
}
