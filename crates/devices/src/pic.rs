//! The PC's pair of 8259A programmable interrupt controllers, with the
//! PIIX3's edge/level control registers (ELCR).
//!
//! The master sits at 0x20/0x21 and takes ISA IRQ 0-7, the slave at
//! 0xA0/0xA1 takes IRQ 8-15 and drives the master's IR2 (the cascade). ELCR1
//! (0x4D0) and ELCR2 (0x4D1) select level triggering per input; IRQ 0, 1, 2,
//! 8 and 13 are always edge triggered on PCs, so those bits are read-only 0.
//!
//! Requests come from [`IrqLines`]: for edge-triggered inputs the PIC takes
//! the latched rising edges (a pulse between two samples is never lost), for
//! level-triggered ones the current levels. The machine asks
//! [`Pic::interrupt_output`] whether INTR is raised and runs an INTA cycle
//! with [`Pic::acknowledge`], which returns the vector; both sample the lines
//! first, so a level request that went away before the INTA cycle gives the
//! spurious vector of IR7 (master) or IR15 (slave, with the master's IR2 in
//! service), as the real chips do.
//!
//! Implemented: ICW1-4 (ICW1's LTIM is ignored: on the PIIX3 the ELCR
//! replaces it), OCW1 (mask), OCW2 (specific/non-specific EOI, rotation,
//! set priority, rotate in AEOI), OCW3 (read IRR/ISR, poll, special mask
//! mode), automatic EOI, special fully nested mode on the master. Buffered
//! mode and the MCS-80 call addresses have no effect on a PC and are stored
//! only.

use crate::{IrqLines, Nanos, PortIo, rate_limited, read_bytewise, write_bytewise};

/// Master command port (ICW1, OCW2, OCW3; reads IRR/ISR/poll).
pub const MASTER_COMMAND: u16 = 0x20;
/// Master data port (ICW2-4, OCW1 mask).
pub const MASTER_DATA: u16 = 0x21;
/// Slave command port.
pub const SLAVE_COMMAND: u16 = 0xA0;
/// Slave data port.
pub const SLAVE_DATA: u16 = 0xA1;
/// ELCR1: edge/level control of IRQ 0-7.
pub const ELCR_MASTER: u16 = 0x4D0;
/// ELCR2: edge/level control of IRQ 8-15.
pub const ELCR_SLAVE: u16 = 0x4D1;
/// The master input the slave's INT output is wired to.
pub const CASCADE_IRQ: u8 = 2;

/// ELCR bits that may be set: IRQ 0, 1, 2 are edge only.
const ELCR_MASTER_WRITABLE: u8 = 0xF8;
/// ELCR bits that may be set: IRQ 8 (RTC) and 13 (FPU) are edge only.
const ELCR_SLAVE_WRITABLE: u8 = 0xDE;

/// Where a chip is in its initialization sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Init {
    /// Initialized: data-port writes are OCW1 (the mask).
    Ready,
    /// ICW1 seen, waiting for ICW2 (vector base).
    Icw2,
    /// Waiting for ICW3 (cascade wiring).
    Icw3,
    /// Waiting for ICW4 (mode).
    Icw4,
}

/// One 8259A.
#[derive(Clone, Debug)]
struct Chip {
    is_master: bool,
    /// Interrupt request register.
    irr: u8,
    /// In-service register.
    isr: u8,
    /// Interrupt mask register (OCW1).
    imr: u8,
    /// ICW2: vector of IR0 (low 3 bits zero).
    vector_base: u8,
    /// The IR that currently has the highest priority (rotation moves it).
    highest_priority: u8,
    init: Init,
    single: bool,
    needs_icw4: bool,
    icw3: u8,
    icw4: u8,
    auto_eoi: bool,
    rotate_on_auto_eoi: bool,
    special_fully_nested: bool,
    special_mask: bool,
    /// OCW3 RR/RIS: the command port reads ISR instead of IRR.
    read_isr: bool,
    /// OCW3 P: the next read is a poll (an INTA in disguise).
    poll: bool,
    /// ELCR: bit set = input is level triggered.
    elcr: u8,
    elcr_writable: u8,
}

impl Chip {
    fn new(is_master: bool) -> Self {
        Self {
            is_master,
            irr: 0,
            isr: 0,
            // Power-on contents are undefined; everything masked keeps a
            // device from interrupting before the BIOS/OS programs the chip.
            imr: 0xFF,
            vector_base: if is_master { 0x08 } else { 0x70 },
            highest_priority: 0,
            init: Init::Ready,
            single: false,
            needs_icw4: true,
            icw3: 0,
            icw4: 0,
            auto_eoi: false,
            rotate_on_auto_eoi: false,
            special_fully_nested: false,
            special_mask: false,
            read_isr: false,
            poll: false,
            elcr: 0,
            elcr_writable: if is_master { ELCR_MASTER_WRITABLE } else { ELCR_SLAVE_WRITABLE },
        }
    }

    /// Priority rank of `irq`: 0 is the highest.
    fn rank(&self, irq: u8) -> u8 {
        irq.wrapping_sub(self.highest_priority) & 7
    }

    /// The highest-priority IR among the bits of `mask`.
    fn highest(&self, mask: u8) -> Option<u8> {
        (0..8)
            .map(|rank| (rank + self.highest_priority) & 7)
            .find(|&irq| mask & (1 << irq) != 0)
    }

    /// The IR this chip would present to the CPU now, if any.
    fn pending(&self) -> Option<u8> {
        let requests = self.irr & !self.imr;
        if self.special_mask {
            // Special mask mode: every unmasked level that is not itself in
            // service may interrupt, whatever the priority of what is.
            return self.highest(requests & !self.isr);
        }
        let candidate = self.highest(requests)?;
        match self.highest(self.isr) {
            None => Some(candidate),
            Some(current) => {
                let (c, r) = (self.rank(current), self.rank(candidate));
                // Special fully nested mode lets the slave's higher requests
                // through while IR2 is already in service.
                let nested_cascade = self.is_master && self.special_fully_nested && candidate == CASCADE_IRQ;
                if r < c || (r == c && nested_cascade) {
                    Some(candidate)
                } else {
                    None
                }
            }
        }
    }

    /// The INTA (or poll) side effects for `irq`.
    fn ack(&mut self, irq: u8) {
        let bit = 1u8 << irq;
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.highest_priority = (irq + 1) & 7;
            }
        } else {
            self.isr |= bit;
        }
        // An edge request is consumed; a level request stays as long as the
        // line is high (the ISR bit keeps it from being delivered again).
        if self.elcr & bit == 0 {
            self.irr &= !bit;
        }
    }

    fn non_specific_eoi(&mut self, rotate: bool) {
        if let Some(irq) = self.highest(self.isr) {
            self.isr &= !(1 << irq);
            if rotate {
                self.highest_priority = (irq + 1) & 7;
            }
        }
    }

    /// A poll read: acknowledges the highest request like INTA would.
    fn poll_read(&mut self) -> u8 {
        match self.pending() {
            Some(irq) => {
                self.ack(irq);
                0x80 | irq
            }
            None => 0,
        }
    }

    fn write_command(&mut self, value: u8) {
        if value & 0x10 != 0 {
            self.icw1(value);
        } else if value & 0x08 != 0 {
            self.ocw3(value);
        } else {
            self.ocw2(value);
        }
    }

    fn icw1(&mut self, value: u8) {
        // The edge-sense latches are reset: an edge input must go low and
        // high again to request; level inputs are re-sampled.
        self.irr &= self.elcr;
        self.isr = 0;
        self.imr = 0;
        self.highest_priority = 0;
        self.special_mask = false;
        self.read_isr = false;
        self.poll = false;
        self.single = value & 0x02 != 0;
        self.needs_icw4 = value & 0x01 != 0;
        if !self.needs_icw4 {
            self.icw4 = 0;
            self.auto_eoi = false;
            self.special_fully_nested = false;
        }
        self.rotate_on_auto_eoi = false;
        self.init = Init::Icw2;
        if value & 0x08 != 0 {
            rate_limited!(debug, "8259 ICW1 LTIM ignored: the ELCR selects level triggering on the PIIX3");
        }
    }

    fn ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value >> 5 {
            0b001 => self.non_specific_eoi(false),
            0b011 => self.isr &= !(1 << level),
            0b101 => self.non_specific_eoi(true),
            0b111 => {
                self.isr &= !(1 << level);
                self.highest_priority = (level + 1) & 7;
            }
            0b100 => self.rotate_on_auto_eoi = true,
            0b000 => self.rotate_on_auto_eoi = false,
            0b110 => self.highest_priority = (level + 1) & 7,
            _ => {} // 0b010: no operation
        }
    }

    fn ocw3(&mut self, value: u8) {
        if value & 0x04 != 0 {
            self.poll = true;
        }
        if value & 0x02 != 0 {
            self.read_isr = value & 0x01 != 0;
        }
        if value & 0x40 != 0 {
            self.special_mask = value & 0x20 != 0;
        }
    }

    fn write_data(&mut self, value: u8) {
        match self.init {
            Init::Ready => self.imr = value,
            Init::Icw2 => {
                self.vector_base = value & 0xF8;
                self.init = if !self.single {
                    Init::Icw3
                } else if self.needs_icw4 {
                    Init::Icw4
                } else {
                    Init::Ready
                };
            }
            Init::Icw3 => {
                self.icw3 = value;
                self.init = if self.needs_icw4 { Init::Icw4 } else { Init::Ready };
            }
            Init::Icw4 => {
                self.icw4 = value;
                self.auto_eoi = value & 0x02 != 0;
                self.special_fully_nested = value & 0x10 != 0;
                if value & 0x01 == 0 {
                    rate_limited!(warn, "8259 ICW4 selects MCS-80 mode; x86 mode assumed");
                }
                self.init = Init::Ready;
            }
        }
    }

    fn read_command(&mut self) -> u8 {
        if self.poll {
            self.poll = false;
            self.poll_read()
        } else if self.read_isr {
            self.isr
        } else {
            self.irr
        }
    }

    fn read_data(&mut self) -> u8 {
        if self.poll {
            self.poll = false;
            self.poll_read()
        } else {
            self.imr
        }
    }

    fn vector(&self, irq: u8) -> u8 {
        self.vector_base | (irq & 7)
    }
}

/// The master/slave 8259A pair of a PC.
#[derive(Debug)]
pub struct Pic {
    master: Chip,
    slave: Chip,
    lines: IrqLines,
}

impl Pic {
    /// A PIC pair fed by `lines` (line n is ISA IRQ n; line 2 is unused on
    /// PCs since IR2 is the cascade, and lines 16-31 are ignored). The PIC
    /// consumes the lines' latched rising edges
    /// ([`IrqLines::take_rising_edges`]): nothing else may take them.
    pub fn new(lines: IrqLines) -> Self {
        Self {
            master: Chip::new(true),
            slave: Chip::new(false),
            lines,
        }
    }

    /// Back to power-on state (system reset). The ELCRs reset to all-edge.
    pub fn reset(&mut self) {
        self.master = Chip::new(true);
        self.slave = Chip::new(false);
        self.lines.take_rising_edges();
    }

    /// INTR: whether the master asks the CPU for an interrupt now.
    pub fn interrupt_output(&mut self) -> bool {
        self.sample();
        self.master.pending().is_some()
    }

    /// The INTA cycle: returns the vector and updates IRR/ISR. With no
    /// request left (it vanished since INTR was seen) the master answers
    /// with its IR7 vector without setting ISR — the spurious IRQ 7
    /// operating systems expect. The slave's INT output is a level on the
    /// master's IR2, so a slave request that vanishes before INTA also
    /// ends as the master's spurious IR7, as on real hardware. (A real
    /// slave answers IR7 — IRQ 15 — only when its request drops between
    /// the two INTA pulses; our INTA cycle is atomic, so that path is kept
    /// for completeness but does not arise.)
    pub fn acknowledge(&mut self) -> u8 {
        self.sample();
        let vector = match self.master.pending() {
            None => self.master.vector(7),
            Some(irq) if irq == CASCADE_IRQ && !self.master.single => {
                self.master.ack(CASCADE_IRQ);
                match self.slave.pending() {
                    Some(slave_irq) => {
                        self.slave.ack(slave_irq);
                        self.slave.vector(slave_irq)
                    }
                    None => self.slave.vector(7),
                }
            }
            Some(irq) => {
                self.master.ack(irq);
                self.master.vector(irq)
            }
        };
        self.cascade();
        vector
    }

    /// ELCR contents (bit n: IRQ n level triggered), for ACPI/MP tables.
    pub fn elcr(&self) -> u16 {
        u16::from(self.master.elcr) | (u16::from(self.slave.elcr) << 8)
    }

    /// IRR of both chips (bit n: IRQ n), after sampling the lines.
    pub fn irr(&mut self) -> u16 {
        self.sample();
        u16::from(self.master.irr) | (u16::from(self.slave.irr) << 8)
    }

    /// ISR of both chips (bit n: IRQ n).
    pub fn isr(&self) -> u16 {
        u16::from(self.master.isr) | (u16::from(self.slave.isr) << 8)
    }

    /// IMR of both chips (bit n: IRQ n masked).
    pub fn imr(&self) -> u16 {
        u16::from(self.master.imr) | (u16::from(self.slave.imr) << 8)
    }

    /// Move the lines' edges and levels into the IRRs.
    fn sample(&mut self) {
        let edges = self.lines.take_rising_edges();
        let levels = self.lines.levels();
        for (chip, shift) in [(&mut self.master, 0), (&mut self.slave, 8)] {
            let edge = (edges >> shift) as u8;
            let level = (levels >> shift) as u8;
            chip.irr |= edge & !chip.elcr;
            chip.irr = (chip.irr & !chip.elcr) | (level & chip.elcr);
        }
        self.cascade();
    }

    /// The slave's INT output drives the master's IR2 as a level.
    fn cascade(&mut self) {
        let bit = 1u8 << CASCADE_IRQ;
        if self.slave.pending().is_some() {
            self.master.irr |= bit;
        } else {
            self.master.irr &= !bit;
        }
    }

    fn read_u8(&mut self, port: u16) -> u8 {
        self.sample();
        let value = match port {
            MASTER_COMMAND => self.master.read_command(),
            MASTER_DATA => self.master.read_data(),
            SLAVE_COMMAND => self.slave.read_command(),
            SLAVE_DATA => self.slave.read_data(),
            ELCR_MASTER => self.master.elcr,
            ELCR_SLAVE => self.slave.elcr,
            _ => 0xFF,
        };
        self.cascade();
        value
    }

    fn write_u8(&mut self, port: u16, value: u8) {
        self.sample();
        match port {
            MASTER_COMMAND => self.master.write_command(value),
            MASTER_DATA => self.master.write_data(value),
            SLAVE_COMMAND => self.slave.write_command(value),
            SLAVE_DATA => self.slave.write_data(value),
            ELCR_MASTER | ELCR_SLAVE => {
                let chip = if port == ELCR_MASTER { &mut self.master } else { &mut self.slave };
                let new = value & chip.elcr_writable;
                // An input that changes trigger mode starts afresh: no stale
                // level taken for an edge, nor an old edge for a level.
                chip.irr &= !(chip.elcr ^ new);
                chip.elcr = new;
            }
            _ => rate_limited!(debug, port, "PIC write to a port it does not own"),
        }
        // Re-sample so inputs switched to level mode reflect their line now.
        self.sample();
    }
}

impl PortIo for Pic {
    fn port_read(&mut self, port: u16, size: u8, _now: Nanos) -> u32 {
        read_bytewise(port, size, |p| self.read_u8(p))
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, _now: Nanos) {
        write_bytewise(port, size, value, |p, v| self.write_u8(p, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    fn out(pic: &mut Pic, port: u16, value: u8) {
        pic.port_write(port, 1, u32::from(value), 0);
    }

    fn inb(pic: &mut Pic, port: u16) -> u8 {
        pic.port_read(port, 1, 0) as u8
    }

    /// The sequence of Linux's init_8259A (vectors 0x30/0x38, no AEOI).
    fn linux_init(pic: &mut Pic) {
        out(pic, MASTER_DATA, 0xFF);
        out(pic, MASTER_COMMAND, 0x11);
        out(pic, MASTER_DATA, 0x30);
        out(pic, MASTER_DATA, 1 << CASCADE_IRQ);
        out(pic, MASTER_DATA, 0x01);
        out(pic, SLAVE_COMMAND, 0x11);
        out(pic, SLAVE_DATA, 0x38);
        out(pic, SLAVE_DATA, CASCADE_IRQ);
        out(pic, SLAVE_DATA, 0x01);
        out(pic, MASTER_DATA, 0x00);
        out(pic, SLAVE_DATA, 0x00);
    }

    fn setup() -> (Pic, IrqLines) {
        let lines = IrqLines::new();
        let mut pic = Pic::new(lines.clone());
        linux_init(&mut pic);
        (pic, lines)
    }

    #[test]
    fn linux_probe_reads_back_mask() {
        let mut pic = Pic::new(IrqLines::new());
        out(&mut pic, SLAVE_DATA, 0xFF);
        out(&mut pic, MASTER_DATA, 0xFB);
        assert_eq!(inb(&mut pic, MASTER_DATA), 0xFB);
    }

    #[test]
    fn init_sequence_sets_vectors_and_clears_masks() {
        let (mut pic, lines) = setup();
        assert_eq!(pic.imr(), 0);
        assert!(!pic.interrupt_output());
        lines.line(0).pulse();
        assert!(pic.interrupt_output());
        assert_eq!(pic.acknowledge(), 0x30);
        lines.line(9).pulse();
        out(&mut pic, MASTER_COMMAND, 0x20); // EOI for IRQ0
        assert!(pic.interrupt_output());
        assert_eq!(pic.acknowledge(), 0x39);
        assert_eq!(pic.isr(), (1 << 9) | (1 << 2));
        out(&mut pic, SLAVE_COMMAND, 0x20);
        out(&mut pic, MASTER_COMMAND, 0x20);
        assert_eq!(pic.isr(), 0);
        assert!(!pic.interrupt_output());
    }

    #[test]
    fn priority_and_nesting() {
        let (mut pic, lines) = setup();
        lines.line(4).pulse();
        assert_eq!(pic.acknowledge(), 0x34);
        // A lower priority request waits, a higher one nests.
        lines.line(6).pulse();
        assert!(!pic.interrupt_output());
        lines.line(1).pulse();
        assert!(pic.interrupt_output());
        assert_eq!(pic.acknowledge(), 0x31);
        out(&mut pic, MASTER_COMMAND, 0x20); // ends IRQ1 (highest in service)
        assert!(!pic.interrupt_output());
        out(&mut pic, MASTER_COMMAND, 0x20); // ends IRQ4
        assert_eq!(pic.acknowledge(), 0x36);
        // Slave requests rank as IRQ2: above IRQ3, below IRQ1.
        out(&mut pic, MASTER_COMMAND, 0x20);
        lines.line(3).pulse();
        lines.line(12).pulse();
        assert_eq!(pic.acknowledge(), 0x3C);
    }

    #[test]
    fn masked_request_stays_in_irr() {
        let (mut pic, lines) = setup();
        out(&mut pic, MASTER_DATA, 0x01);
        lines.line(0).pulse();
        assert!(!pic.interrupt_output());
        out(&mut pic, MASTER_COMMAND, 0x0A); // OCW3: read IRR
        assert_eq!(inb(&mut pic, MASTER_COMMAND), 0x01);
        out(&mut pic, MASTER_DATA, 0x00);
        assert!(pic.interrupt_output());
        assert_eq!(pic.acknowledge(), 0x30);
        out(&mut pic, MASTER_COMMAND, 0x0B); // OCW3: read ISR
        assert_eq!(inb(&mut pic, MASTER_COMMAND), 0x01);
    }

    #[test]
    fn specific_eoi_and_rotation() {
        let (mut pic, lines) = setup();
        lines.line(3).pulse();
        lines.line(5).pulse();
        assert_eq!(pic.acknowledge(), 0x33);
        out(&mut pic, MASTER_COMMAND, 0x60 | 3); // specific EOI 3
        assert_eq!(pic.acknowledge(), 0x35);
        // Rotate on specific EOI: IRQ5 becomes lowest, IRQ6 highest.
        out(&mut pic, MASTER_COMMAND, 0xE0 | 5);
        lines.line(0).pulse();
        lines.line(7).pulse();
        assert_eq!(pic.acknowledge(), 0x37);
        out(&mut pic, MASTER_COMMAND, 0x20);
        // Set priority: IRQ0 lowest, so IRQ1 is highest.
        out(&mut pic, MASTER_COMMAND, 0xC0);
        lines.line(1).pulse();
        assert_eq!(pic.acknowledge(), 0x31);
        out(&mut pic, MASTER_COMMAND, 0x20);
        assert_eq!(pic.acknowledge(), 0x30);
    }

    #[test]
    fn automatic_eoi_leaves_isr_clear() {
        let lines = IrqLines::new();
        let mut pic = Pic::new(lines.clone());
        out(&mut pic, MASTER_COMMAND, 0x11);
        out(&mut pic, MASTER_DATA, 0x08);
        out(&mut pic, MASTER_DATA, 0x04);
        out(&mut pic, MASTER_DATA, 0x03); // AEOI
        out(&mut pic, MASTER_DATA, 0x00);
        lines.line(0).pulse();
        assert_eq!(pic.acknowledge(), 0x08);
        assert_eq!(pic.isr(), 0);
        lines.line(0).pulse();
        assert!(pic.interrupt_output());
    }

    #[test]
    fn rotate_in_automatic_eoi() {
        let lines = IrqLines::new();
        let mut pic = Pic::new(lines.clone());
        out(&mut pic, MASTER_COMMAND, 0x11);
        out(&mut pic, MASTER_DATA, 0x08);
        out(&mut pic, MASTER_DATA, 0x04);
        out(&mut pic, MASTER_DATA, 0x03);
        out(&mut pic, MASTER_DATA, 0x00);
        out(&mut pic, MASTER_COMMAND, 0x80); // rotate in AEOI
        lines.line(0).pulse();
        lines.line(1).pulse();
        assert_eq!(pic.acknowledge(), 0x08);
        lines.line(0).pulse();
        // IRQ0 is now lowest priority: IRQ1 first.
        assert_eq!(pic.acknowledge(), 0x09);
        assert_eq!(pic.acknowledge(), 0x08);
    }

    #[test]
    fn level_triggered_via_elcr() {
        let (mut pic, lines) = setup();
        out(&mut pic, ELCR_SLAVE, 0xFF);
        assert_eq!(inb(&mut pic, ELCR_SLAVE), 0xDE);
        out(&mut pic, ELCR_MASTER, 0xFF);
        assert_eq!(pic.elcr(), 0xDEF8);
        let l11 = lines.line(11);
        l11.set_level(true);
        assert_eq!(pic.acknowledge(), 0x3B);
        // Still high after EOI: requests again.
        out(&mut pic, SLAVE_COMMAND, 0x20);
        out(&mut pic, MASTER_COMMAND, 0x20);
        assert!(pic.interrupt_output());
        l11.set_level(false);
        assert!(!pic.interrupt_output());
    }

    #[test]
    fn spurious_irq7_when_level_request_vanishes() {
        let (mut pic, lines) = setup();
        out(&mut pic, ELCR_MASTER, 0x20);
        let l5 = lines.line(5);
        l5.set_level(true);
        assert!(pic.interrupt_output());
        l5.set_level(false);
        assert_eq!(pic.acknowledge(), 0x37);
        assert_eq!(pic.isr(), 0);
    }

    #[test]
    fn vanished_slave_request_is_master_spurious() {
        let (mut pic, lines) = setup();
        out(&mut pic, ELCR_SLAVE, 0x08); // IRQ11 level
        let l11 = lines.line(11);
        l11.set_level(true);
        assert!(pic.interrupt_output());
        l11.set_level(false);
        assert!(!pic.interrupt_output());
        assert_eq!(pic.acknowledge(), 0x37);
        assert_eq!(pic.isr(), 0);
    }

    #[test]
    fn slave_with_masked_request_releases_cascade() {
        let (mut pic, lines) = setup();
        lines.line(10).pulse();
        out(&mut pic, SLAVE_DATA, 1 << 2);
        assert!(!pic.interrupt_output());
        out(&mut pic, SLAVE_DATA, 0);
        assert_eq!(pic.acknowledge(), 0x3A);
        assert_eq!(pic.isr(), (1 << 10) | (1 << 2));
    }

    #[test]
    fn poll_mode_acknowledges() {
        let (mut pic, lines) = setup();
        lines.line(6).pulse();
        out(&mut pic, MASTER_COMMAND, 0x0C); // OCW3 poll
        assert_eq!(inb(&mut pic, MASTER_COMMAND), 0x86);
        assert_eq!(pic.isr(), 1 << 6);
        out(&mut pic, MASTER_COMMAND, 0x0C);
        assert_eq!(inb(&mut pic, MASTER_COMMAND), 0x00);
    }

    #[test]
    fn special_mask_mode_lets_lower_priorities_in() {
        let (mut pic, lines) = setup();
        lines.line(1).pulse();
        assert_eq!(pic.acknowledge(), 0x31);
        lines.line(5).pulse();
        assert!(!pic.interrupt_output());
        out(&mut pic, MASTER_COMMAND, 0x68); // OCW3: set special mask
        out(&mut pic, MASTER_DATA, 0x02); // mask the level in service
        assert!(pic.interrupt_output());
        assert_eq!(pic.acknowledge(), 0x35);
        out(&mut pic, MASTER_COMMAND, 0x48); // reset special mask
        out(&mut pic, MASTER_DATA, 0x00);
    }

    #[test]
    fn icw1_resets_edge_latches() {
        let (mut pic, lines) = setup();
        lines.line(3).pulse();
        linux_init(&mut pic);
        assert!(!pic.interrupt_output());
    }

    #[test]
    fn nothing_pending_gives_master_spurious() {
        let (mut pic, _lines) = setup();
        assert_eq!(pic.acknowledge(), 0x37);
    }

    #[test]
    fn fuzz_random_port_traffic() {
        let lines = IrqLines::new();
        let mut pic = Pic::new(lines.clone());
        let mut rng = XorShift::new(0x8259);
        let ports = [0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x22];
        for _ in 0..20_000 {
            let port = rng.pick(&ports);
            match rng.below(6) {
                0 => {
                    pic.port_read(port, rng.size(), 0);
                }
                1 => lines.line(rng.below(16) as u8).pulse(),
                2 => lines.line(rng.below(16) as u8).set_level(rng.below(2) == 0),
                3 => {
                    if pic.interrupt_output() {
                        pic.acknowledge();
                    }
                }
                _ => pic.port_write(port, rng.size(), rng.next_u64() as u32, 0),
            }
        }
    }
}
