//! The 16550A UART, one instance per COM port.
//!
//! Registers: RBR/THR, IER, IIR/FCR, LCR (DLAB), MCR, LSR, MSR, SCR and the
//! divisor latch. The FIFOs (16 bytes, receive trigger levels 1/4/8/14)
//! show in IIR bits 7-6 when enabled, as Linux's 8250 driver checks to
//! recognise a 16550A. MCR OUT2 gates the interrupt onto the ISA line, as
//! on PC serial cards; loopback mode connects TX to RX and the MCR outputs
//! to the MSR inputs (DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD) and, as on a
//! PC, drives no IRQ (the OUT2 pin is forced inactive in loopback).
//!
//! Interrupt priority, highest first: line status, received data (or
//! character timeout), THR empty, modem status. The THRE interrupt behaves
//! as on a real 16550: it is raised when THR becomes empty and when
//! IER.ETBEI goes from 0 to 1 while THR is empty, and is cleared by
//! reading IIR while it is the reported source, or by writing THR.
//!
//! Simplifications, all invisible to drivers that wait on LSR/IIR:
//! - No baud-rate timing. A byte written to THR is transmitted at once
//!   into an output buffer the machine drains with [`Uart::take_output`];
//!   THR is therefore always empty again right away. The buffer holds
//!   [`OUTPUT_LIMIT`] bytes; beyond that, bytes are dropped (counted in
//!   [`Uart::dropped_output`]) rather than stalling the guest.
//! - The character timeout interrupt (IIR 0x0C) is reported at once when
//!   the FIFO holds data below its trigger level, instead of after four
//!   character times. Drivers treat it like "data available" and read
//!   until LSR.DR clears.
//! - The modem inputs are those of an attached, ready terminal: CTS, DSR
//!   and DCD asserted, RI not. Break, parity and framing errors never
//!   happen; LCR line settings are stored only.

use std::collections::VecDeque;

use crate::{IrqLine, Nanos, PortIo, rate_limited, read_bytewise, write_bytewise};

/// Standard PC COM port bases and IRQs.
pub const COM1: (u16, u8) = (0x3F8, 4);
pub const COM2: (u16, u8) = (0x2F8, 3);
pub const COM3: (u16, u8) = (0x3E8, 4);
pub const COM4: (u16, u8) = (0x2E8, 3);

/// Size of the receive FIFO.
pub const FIFO_SIZE: usize = 16;
/// Transmitted bytes kept for the machine to drain.
pub const OUTPUT_LIMIT: usize = 1 << 20;

const IER_RDI: u8 = 0x01;
const IER_THRI: u8 = 0x02;
const IER_RLSI: u8 = 0x04;
const IER_MSI: u8 = 0x08;

const IIR_NO_INT: u8 = 0x01;
const IIR_MSI: u8 = 0x00;
const IIR_THRI: u8 = 0x02;
const IIR_RDI: u8 = 0x04;
const IIR_RLSI: u8 = 0x06;
const IIR_TIMEOUT: u8 = 0x0C;
const IIR_FIFO_ENABLED: u8 = 0xC0;

const LCR_DLAB: u8 = 0x80;

const MCR_DTR: u8 = 0x01;
const MCR_RTS: u8 = 0x02;
const MCR_OUT1: u8 = 0x04;
const MCR_OUT2: u8 = 0x08;
const MCR_LOOP: u8 = 0x10;

const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

const MSR_CTS: u8 = 0x10;
const MSR_DSR: u8 = 0x20;
const MSR_RI: u8 = 0x40;
const MSR_DCD: u8 = 0x80;
const MSR_TERI: u8 = 0x04;

/// A 16550A.
#[derive(Debug)]
pub struct Uart {
    base: u16,
    irq: IrqLine,
    rx: VecDeque<u8>,
    output: Vec<u8>,
    dropped: u64,
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    divisor: u16,
    fifo_enabled: bool,
    rx_trigger: usize,
    /// OE/PE/FE/BI, cleared by reading LSR.
    lsr_errors: u8,
    /// MSR delta bits 3-0, cleared by reading MSR.
    msr_deltas: u8,
    /// The modem inputs when not in loopback (MSR bits 7-4).
    external_lines: u8,
    thre_pending: bool,
}

impl Uart {
    /// A UART at `base` (8 ports) driving `irq`.
    pub fn new(base: u16, irq: IrqLine) -> Self {
        Self {
            base,
            irq,
            rx: VecDeque::with_capacity(FIFO_SIZE),
            output: Vec::new(),
            dropped: 0,
            ier: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            divisor: 12, // 9600 baud
            fifo_enabled: false,
            rx_trigger: 1,
            lsr_errors: 0,
            msr_deltas: 0,
            external_lines: MSR_CTS | MSR_DSR | MSR_DCD,
            thre_pending: false,
        }
    }

    /// Back to power-on state (system reset); the output not yet drained
    /// is kept.
    pub fn reset(&mut self) {
        let output = std::mem::take(&mut self.output);
        let dropped = self.dropped;
        *self = Self::new(self.base, self.irq.clone());
        self.output = output;
        self.dropped = dropped;
        self.update_irq();
    }

    /// The base port.
    pub fn base(&self) -> u16 {
        self.base
    }

    /// Bytes the guest transmitted since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Bytes dropped because the output buffer was full.
    pub fn dropped_output(&self) -> u64 {
        self.dropped
    }

    /// How many bytes [`Uart::push_input`] can take now without overrun.
    /// Zero in loopback mode, where the receiver is cut off from the line.
    pub fn rx_space(&self) -> usize {
        if self.loopback() {
            0
        } else {
            self.rx_capacity().saturating_sub(self.rx.len())
        }
    }

    /// Bytes arriving on the line. Bytes that find the receiver full are
    /// lost with an overrun error, as on the real chip; returns how many
    /// were received without loss. In loopback mode the line is
    /// disconnected and nothing is received.
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        if self.loopback() {
            return 0;
        }
        let mut received = 0;
        for &b in bytes {
            if self.receive(b) {
                received += 1;
            }
        }
        self.update_irq();
        received
    }

    /// Modem status inputs as seen from the line when not in loopback
    /// (MSR bits: 0x10 CTS, 0x20 DSR, 0x40 RI, 0x80 DCD).
    pub fn set_modem_inputs(&mut self, lines: u8) {
        let old = self.msr_lines();
        self.external_lines = lines & 0xF0;
        self.note_line_change(old);
        self.update_irq();
    }

    fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled { FIFO_SIZE } else { 1 }
    }

    /// One byte into the receiver; false on overrun.
    fn receive(&mut self, byte: u8) -> bool {
        if self.rx.len() < self.rx_capacity() {
            self.rx.push_back(byte);
            true
        } else {
            self.lsr_errors |= LSR_OE;
            if !self.fifo_enabled {
                // 16450 mode: the new character overwrites the holding
                // register. In FIFO mode it is lost in the shift register.
                self.rx.pop_front();
                self.rx.push_back(byte);
            }
            false
        }
    }

    /// MSR bits 7-4.
    fn msr_lines(&self) -> u8 {
        if self.loopback() {
            ((self.mcr & MCR_RTS) << 3) | ((self.mcr & MCR_DTR) << 5) | ((self.mcr & MCR_OUT1) << 4) | ((self.mcr & MCR_OUT2) << 4)
        } else {
            self.external_lines
        }
    }

    fn note_line_change(&mut self, old: u8) {
        let new = self.msr_lines();
        let changed = old ^ new;
        // DCTS, DDSR, DDCD: any change; TERI: RI going inactive.
        self.msr_deltas |= (changed >> 4) & 0x0B;
        if old & MSR_RI != 0 && new & MSR_RI == 0 {
            self.msr_deltas |= MSR_TERI;
        }
    }

    /// The highest-priority pending interrupt (IIR bits 3-0).
    fn interrupt_id(&self) -> Option<u8> {
        if self.ier & IER_RLSI != 0 && self.lsr_errors != 0 {
            Some(IIR_RLSI)
        } else if self.ier & IER_RDI != 0 && !self.rx.is_empty() {
            if self.fifo_enabled && self.rx.len() < self.rx_trigger {
                Some(IIR_TIMEOUT)
            } else {
                Some(IIR_RDI)
            }
        } else if self.ier & IER_THRI != 0 && self.thre_pending {
            Some(IIR_THRI)
        } else if self.ier & IER_MSI != 0 && self.msr_deltas != 0 {
            Some(IIR_MSI)
        } else {
            None
        }
    }

    fn update_irq(&self) {
        let gate = self.mcr & MCR_OUT2 != 0 && !self.loopback();
        self.irq.set_level(gate && self.interrupt_id().is_some());
    }

    fn transmit(&mut self, byte: u8) {
        if self.loopback() {
            self.receive(byte);
        } else if self.output.len() < OUTPUT_LIMIT {
            self.output.push(byte);
        } else {
            self.dropped += 1;
            rate_limited!(warn, base = self.base, "UART output buffer full, dropping bytes");
        }
        // The byte left THR at once: THR is empty again.
        self.thre_pending = true;
    }

    fn read_u8(&mut self, offset: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor as u8,
            0 => self.rx.pop_front().unwrap_or(0),
            1 if dlab => (self.divisor >> 8) as u8,
            1 => self.ier,
            2 => {
                let id = self.interrupt_id();
                if id == Some(IIR_THRI) {
                    self.thre_pending = false;
                }
                let fifo = if self.fifo_enabled { IIR_FIFO_ENABLED } else { 0 };
                fifo | id.unwrap_or(IIR_NO_INT)
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let dr = if self.rx.is_empty() { 0 } else { LSR_DR };
                let value = dr | self.lsr_errors | LSR_THRE | LSR_TEMT;
                self.lsr_errors = 0;
                value
            }
            6 => {
                let value = self.msr_lines() | self.msr_deltas;
                self.msr_deltas = 0;
                value
            }
            7 => self.scr,
            _ => 0xFF,
        }
    }

    fn write_u8(&mut self, offset: u16, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor = (self.divisor & 0xFF00) | u16::from(value),
            0 => self.transmit(value),
            1 if dlab => self.divisor = (self.divisor & 0x00FF) | (u16::from(value) << 8),
            1 => {
                let old = self.ier;
                self.ier = value & 0x0F;
                if (old ^ self.ier) & IER_THRI != 0 {
                    // Enabling ETBEI with THR empty raises THRE at once
                    // (THR is always empty here); disabling forgets it.
                    self.thre_pending = self.ier & IER_THRI != 0;
                }
            }
            2 => self.write_fcr(value),
            3 => self.lcr = value,
            4 => {
                let old = self.msr_lines();
                self.mcr = value & 0x1F;
                self.note_line_change(old);
            }
            5 | 6 => {
                rate_limited!(debug, base = self.base, offset, "UART write to LSR/MSR ignored");
            }
            7 => self.scr = value,
            _ => {}
        }
    }

    fn write_fcr(&mut self, value: u8) {
        let enable = value & 0x01 != 0;
        if enable != self.fifo_enabled {
            // Switching the FIFOs on or off resets them.
            self.rx.clear();
        }
        self.fifo_enabled = enable;
        if enable {
            if value & 0x02 != 0 {
                self.rx.clear();
            }
            // Bit 2 clears the transmit FIFO, which is always empty here.
            self.rx_trigger = match value >> 6 {
                0 => 1,
                1 => 4,
                2 => 8,
                _ => 14,
            };
        }
        if value & 0x20 != 0 {
            rate_limited!(debug, base = self.base, "UART 64-byte FIFO (16750) not emulated");
        }
    }
}

impl PortIo for Uart {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        let value = read_bytewise(port, size, |p| match p.wrapping_sub(self.base) {
            offset @ 0..=7 => self.read_u8(offset),
            _ => 0xFF,
        });
        self.update_irq();
        value
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, _now: Nanos) {
        write_bytewise(port, size, value, |p, v| match p.wrapping_sub(self.base) {
            offset @ 0..=7 => self.write_u8(offset, v),
            _ => rate_limited!(debug, port = p, "UART write to a port it does not own"),
        });
        self.update_irq();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IrqLines;
    use crate::testutil::XorShift;

    const BASE: u16 = 0x3F8;

    fn setup() -> (Uart, IrqLines) {
        let lines = IrqLines::new();
        (Uart::new(BASE, lines.line(4)), lines)
    }

    fn out(u: &mut Uart, offset: u16, value: u8) {
        u.port_write(BASE + offset, 1, u32::from(value), 0);
    }

    fn inb(u: &mut Uart, offset: u16) -> u8 {
        u.port_read(BASE + offset, 1, 0) as u8
    }

    #[test]
    fn linux_autoconfig_probe_finds_16550a() {
        let (mut u, _) = setup();
        // IER test: bits 0-3 hold their value.
        let saved = inb(&mut u, 1);
        out(&mut u, 1, 0);
        assert_eq!(inb(&mut u, 1) & 0x0F, 0);
        out(&mut u, 1, 0x0F);
        assert_eq!(inb(&mut u, 1) & 0x0F, 0x0F);
        out(&mut u, 1, saved);
        // Loopback test: RTS|OUT2 show as CTS|DCD.
        out(&mut u, 4, MCR_LOOP | 0x0A);
        assert_eq!(inb(&mut u, 6) & 0xF0, 0x90);
        out(&mut u, 4, 0);
        // Scratch register.
        out(&mut u, 7, 0xA5);
        assert_eq!(inb(&mut u, 7), 0xA5);
        out(&mut u, 7, 0x5A);
        assert_eq!(inb(&mut u, 7), 0x5A);
        // FIFO test: IIR bits 7-6 both set once FIFOs are enabled.
        out(&mut u, 2, 0x01);
        assert_eq!(inb(&mut u, 2) >> 6, 3);
        // No EFR: offset 2 with LCR=0xBF still reads IIR (non-zero).
        out(&mut u, 3, 0xBF);
        assert_ne!(inb(&mut u, 2), 0);
        out(&mut u, 3, 0x00);
        // Not a 16750: bit 5 of IIR stays clear with the 64-byte bit.
        out(&mut u, 2, 0x21);
        assert_eq!(inb(&mut u, 2) >> 5, 6);
    }

    #[test]
    fn divisor_latch_behind_dlab() {
        let (mut u, _) = setup();
        out(&mut u, 1, 0x05);
        out(&mut u, 3, 0x83);
        out(&mut u, 0, 0x01);
        out(&mut u, 1, 0x00);
        assert_eq!((inb(&mut u, 0), inb(&mut u, 1)), (0x01, 0x00));
        out(&mut u, 3, 0x03);
        assert_eq!(inb(&mut u, 1), 0x05);
        assert!(u.take_output().is_empty());
    }

    #[test]
    fn thre_interrupt_semantics_as_linux_probes_them() {
        let (mut u, lines) = setup();
        out(&mut u, 4, MCR_OUT2 | MCR_DTR | MCR_RTS);
        // Enabling ETBEI with THR empty raises THRE.
        out(&mut u, 1, IER_THRI);
        assert!(lines.line(4).is_high());
        assert_eq!(inb(&mut u, 2), IIR_THRI);
        // Reading IIR cleared it.
        assert_eq!(inb(&mut u, 2), IIR_NO_INT);
        assert!(!lines.line(4).is_high());
        // Toggling ETBEI raises it again (Linux's UART_BUG_THRE test).
        out(&mut u, 1, 0);
        out(&mut u, 1, IER_THRI);
        assert_eq!(inb(&mut u, 2), IIR_THRI);
        // Writing THR: the byte goes out and THR is empty again.
        out(&mut u, 0, b'x');
        assert_eq!(inb(&mut u, 2), IIR_THRI);
        assert_eq!(u.take_output(), b"x");
        assert_eq!(inb(&mut u, 5) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
    }

    #[test]
    fn out2_gates_the_irq_line() {
        let (mut u, lines) = setup();
        out(&mut u, 1, IER_THRI);
        assert!(!lines.line(4).is_high());
        out(&mut u, 4, MCR_OUT2);
        assert!(lines.line(4).is_high());
        assert_eq!(lines.take_rising_edges(), 1 << 4);
    }

    #[test]
    fn loopback_echoes_tx_and_raises_no_irq() {
        let (mut u, lines) = setup();
        out(&mut u, 2, 0x07);
        out(&mut u, 1, IER_RDI);
        out(&mut u, 4, MCR_LOOP | MCR_OUT2);
        out(&mut u, 0, 0x42);
        out(&mut u, 0, 0x43);
        assert!(u.take_output().is_empty());
        assert_eq!(inb(&mut u, 5) & LSR_DR, LSR_DR);
        assert_eq!(inb(&mut u, 2) & 0x0F, IIR_RDI);
        assert!(!lines.line(4).is_high());
        assert_eq!(inb(&mut u, 0), 0x42);
        assert_eq!(inb(&mut u, 0), 0x43);
        assert_eq!(inb(&mut u, 5) & LSR_DR, 0);
        assert_eq!(u.rx_space(), 0);
        assert_eq!(u.push_input(b"zz"), 0);
    }

    #[test]
    fn receive_fifo_trigger_timeout_and_overrun() {
        let (mut u, lines) = setup();
        out(&mut u, 4, MCR_OUT2);
        out(&mut u, 2, 0x81); // FIFO on, trigger 8
        out(&mut u, 1, IER_RDI | IER_RLSI);
        assert_eq!(u.rx_space(), 16);
        assert_eq!(u.push_input(b"abc"), 3);
        assert!(lines.line(4).is_high());
        assert_eq!(inb(&mut u, 2), 0xC0 | IIR_TIMEOUT);
        assert_eq!(u.push_input(b"defgh"), 5);
        assert_eq!(inb(&mut u, 2), 0xC0 | IIR_RDI);
        assert_eq!(u.push_input(&[b'x'; 10]), 8);
        // Overrun: line status has priority and is cleared by LSR.
        assert_eq!(inb(&mut u, 2), 0xC0 | IIR_RLSI);
        assert_eq!(inb(&mut u, 5) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
        assert_eq!(inb(&mut u, 2), 0xC0 | IIR_RDI);
        let mut got = Vec::new();
        while inb(&mut u, 5) & LSR_DR != 0 {
            got.push(inb(&mut u, 0));
        }
        assert_eq!(&got[..8], b"abcdefgh");
        assert_eq!(got.len(), 16);
        assert!(!lines.line(4).is_high());
        // FCR bit 1 clears the receive FIFO.
        u.push_input(b"123");
        out(&mut u, 2, 0x03);
        assert_eq!(inb(&mut u, 5) & LSR_DR, 0);
    }

    #[test]
    fn non_fifo_mode_holds_one_byte() {
        let (mut u, _) = setup();
        assert_eq!(u.rx_space(), 1);
        assert_eq!(u.push_input(b"ab"), 1);
        assert_eq!(inb(&mut u, 2), IIR_NO_INT); // no FIFO bits, no IER
        assert_eq!(inb(&mut u, 5) & LSR_OE, LSR_OE);
        assert_eq!(inb(&mut u, 0), b'b');
    }

    #[test]
    fn modem_status_deltas_and_priority() {
        let (mut u, _) = setup();
        out(&mut u, 1, IER_MSI | IER_THRI);
        u.set_modem_inputs(MSR_DSR | MSR_DCD | MSR_RI);
        // THRE outranks modem status.
        assert_eq!(inb(&mut u, 2), IIR_THRI);
        assert_eq!(inb(&mut u, 2), IIR_MSI);
        u.set_modem_inputs(MSR_DSR | MSR_DCD);
        let msr = inb(&mut u, 6);
        assert_eq!(msr, MSR_DSR | MSR_DCD | MSR_TERI | 0x01);
        assert_eq!(inb(&mut u, 6), MSR_DSR | MSR_DCD);
        assert_eq!(inb(&mut u, 2), IIR_NO_INT);
    }

    #[test]
    fn wide_access_is_split_into_bytes() {
        let (mut u, _) = setup();
        u.port_write(BASE + 7, 2, 0x1234, 0); // SCR, then a foreign port
        assert_eq!(inb(&mut u, 7), 0x34);
        assert_eq!(u.port_read(BASE + 6, 2, 0) >> 8, 0x34);
    }

    #[test]
    fn fuzz_random_port_traffic() {
        let (mut u, _) = setup();
        let mut rng = XorShift::new(0x16550);
        for _ in 0..50_000 {
            let port = BASE + rng.below(9) as u16;
            match rng.below(6) {
                0 | 1 => {
                    u.port_read(port, rng.size(), 0);
                }
                2 => {
                    let n = rng.below(40) as usize;
                    let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                    u.push_input(&bytes);
                }
                3 if rng.below(100) == 0 => {
                    u.take_output();
                }
                _ => u.port_write(port, rng.size(), rng.next_u64() as u32, 0),
            }
            assert!(u.rx.len() <= FIFO_SIZE);
            assert!(u.output.len() <= OUTPUT_LIMIT);
        }
    }
}
