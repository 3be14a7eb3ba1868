//! The 8254 programmable interval timer, and port 0x61 (NMI status and
//! control / speaker gate) whose bits belong to it.
//!
//! Three counters clocked at 1.193182 MHz: counter 0's OUT drives IRQ0,
//! counter 1 is the old DRAM refresh timer, counter 2 feeds the speaker and
//! is gated by port 0x61 bit 0. All six modes, binary and BCD counting, the
//! three access modes, the counter latch command and the read-back command
//! (count and status latches) are implemented.
//!
//! Nothing ticks: each counter remembers when its count was loaded and
//! derives its count and OUT level from the virtual time it is asked at.
//! Loads take effect at the write instead of at the next CLK edge (an error
//! of one 838 ns tick that no guest can measure through port I/O).
//!
//! IRQ0 gets one pulse per rising edge of OUT0. [`Timed::next_deadline`] is
//! the time of the next rising edge. **Late calls:** when `advance` comes
//! after several periods have passed (a slow interpreter, a host that was
//! descheduled), one edge is delivered at once and the missed ones (up to
//! a bound) are kept as a backlog, delivered one at a time and spaced so
//! each becomes its own interrupt (a burst would merge in the PIC's IRR):
//! an OS that counts ticks (Linux's jiffies) loses none, as with QEMU's
//! "delay" lost-tick policy. A port write first
//! delivers an edge that is already due, so reprogramming counter 0 late
//! never swallows the interrupt of the count it replaces.
//!
//! Port 0x61 reads: bit 0 gate 2, bit 1 speaker data, bits 2-3 as written
//! (parity/channel check enables), bit 4 the refresh request toggle (flips
//! every 15.085 µs of virtual time; BIOSes and Linux time short delays with
//! it), bit 5 OUT2, bits 6-7 (IOCHK/SERR status) 0.

use crate::{IrqLine, NANOS_PER_SEC, Nanos, PortIo, Timed, rate_limited, read_bytewise, write_bytewise};

/// Input clock of the counters, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// Data port of counter 0; counters 1 and 2 follow.
pub const COUNTER0: u16 = 0x40;
/// Mode/command register.
pub const COMMAND: u16 = 0x43;
/// NMI status and control (speaker gate, OUT2, refresh toggle).
pub const PORT_61: u16 = 0x61;
/// Half-period of the refresh request toggle read at port 0x61 bit 4
/// (counter 1 programmed with 18 on a PC: 18 / 1.193182 MHz).
pub const REFRESH_TOGGLE_NS: u64 = 15_085;

/// PIT ticks elapsed at virtual time `ns`.
fn tick_at(ns: Nanos) -> u64 {
    (u128::from(ns) * u128::from(PIT_HZ) / u128::from(NANOS_PER_SEC)) as u64
}

/// The first virtual time at which `tick_at` reaches `tick`.
fn time_of_tick(tick: u64) -> Nanos {
    let ns = (u128::from(tick) * u128::from(NANOS_PER_SEC)).div_ceil(u128::from(PIT_HZ));
    ns.min(u128::from(u64::MAX)) as u64
}

/// How the count is read and written (control word bits 5-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Lsb = 1,
    Msb = 2,
    LsbMsb = 3,
}

/// Where the counting element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    /// No count loaded since the control word (or, in mode 0, the first
    /// byte of a new two-byte count was written): OUT is at its initial
    /// level and the count reads as it was when counting stopped.
    Idle { count: u16 },
    /// Counting down from `reload`: `counted` ticks before `since`, plus
    /// the ticks since `since` while the gate lets it count (`since` is
    /// `None` while suspended).
    Active { reload: u32, counted: u64, since: Option<u64> },
}

#[derive(Clone, Debug)]
struct Counter {
    /// Mode bits as programmed (status reports them as written).
    mode_bits: u8,
    /// Effective mode 0-5 (6 and 7 alias 2 and 3).
    mode: u8,
    bcd: bool,
    access: Access,
    /// Count register: what the guest wrote.
    cr: u16,
    /// A complete count has been written since the control word.
    cr_valid: bool,
    /// LSB/MSB access: the LSB of a count was written, the MSB is next.
    write_msb_next: bool,
    /// LSB/MSB access: the next unlatched read returns the MSB.
    read_msb_next: bool,
    count_latch: Option<u16>,
    latch_msb_next: bool,
    status_latch: Option<u8>,
    null_count: bool,
    gate: bool,
    run: Run,
    /// Mode 2/3: a count written while counting takes effect at the end of
    /// the current period: (tick of that end, new reload).
    pending_reload: Option<(u64, u32)>,
}

impl Counter {
    fn new(gate: bool) -> Self {
        Self {
            mode_bits: 0,
            mode: 0,
            bcd: false,
            access: Access::LsbMsb,
            cr: 0,
            cr_valid: false,
            write_msb_next: false,
            read_msb_next: false,
            count_latch: None,
            latch_msb_next: false,
            status_latch: None,
            null_count: true,
            gate,
            run: Run::Idle { count: 0 },
            pending_reload: None,
        }
    }

    /// Modulus of the counting element: 2^16 binary, 10^4 BCD.
    fn modulus(&self) -> u32 {
        if self.bcd { 10_000 } else { 0x1_0000 }
    }

    /// The initial count the count register stands for (0 is the maximum).
    fn reload_from_cr(&self) -> u32 {
        let n = if self.bcd {
            // Invalid BCD digits are taken at face value, reduced modulo 10^4.
            let d = |shift: u16| u32::from((self.cr >> shift) & 0xF);
            (d(12) * 1000 + d(8) * 100 + d(4) * 10 + d(0)) % 10_000
        } else {
            u32::from(self.cr)
        };
        if n == 0 { self.modulus() } else { n }
    }

    /// Apply a reload that became due at or before tick `t`.
    fn settle(&mut self, t: u64) {
        if let Some((at, reload)) = self.pending_reload
            && t >= at
        {
            self.pending_reload = None;
            self.run = Run::Active {
                reload,
                counted: 0,
                since: Some(at),
            };
        }
    }

    /// Ticks counted since the load, at tick `t`.
    fn elapsed(counted: u64, since: Option<u64>, t: u64) -> u64 {
        counted.saturating_add(since.map_or(0, |s| t.saturating_sub(s)))
    }

    /// The counting element's value at tick `t` (binary, before BCD coding).
    fn count(&self, t: u64) -> u16 {
        match self.run {
            Run::Idle { count } => count,
            Run::Active { reload, counted, since } => {
                let e = Self::elapsed(counted, since, t);
                let m = u64::from(self.modulus());
                let n = u64::from(reload);
                let value = match self.mode {
                    2 => n - e % n,
                    3 => (n - (2 * (e % n)) % n) & !1,
                    // Modes 0, 1, 4, 5 count down and wrap past zero.
                    _ => (n % m + m - e % m) % m,
                };
                (value % m) as u16
            }
        }
    }

    /// The count as the guest reads it (BCD coded in BCD mode).
    fn count_for_read(&self, t: u64) -> u16 {
        let c = self.count(t);
        if self.bcd {
            let c = c % 10_000;
            ((c / 1000) << 12) | ((c / 100 % 10) << 8) | ((c / 10 % 10) << 4) | (c % 10)
        } else {
            c
        }
    }

    /// OUT at tick `t`.
    fn out(&self, t: u64) -> bool {
        match self.run {
            Run::Idle { .. } => self.mode != 0,
            Run::Active { reload, counted, since } => {
                let e = Self::elapsed(counted, since, t);
                let n = u64::from(reload);
                match self.mode {
                    0 | 1 => e >= n,
                    // Gate low forces OUT high in modes 2 and 3.
                    2 => since.is_none() || n < 2 || e % n != n - 1,
                    3 => since.is_none() || e % n < n.div_ceil(2),
                    _ => e != n,
                }
            }
        }
    }

    /// The first tick after `t` at which OUT rises, if it ever does
    /// without further programming.
    fn next_rising_edge(&self, t: u64) -> Option<u64> {
        let Run::Active {
            reload,
            counted,
            since: Some(since),
        } = self.run
        else {
            return None;
        };
        let n = u64::from(reload);
        let e = Self::elapsed(counted, Some(since), t);
        // Tick at which `elapsed` reaches `target` (> e).
        let at = |target: u64| since.saturating_add(target - counted);
        let edge = match self.mode {
            0 | 1 => (e < n).then(|| at(n)),
            2 | 3 if n < 2 => None,
            2 | 3 => Some(at((e / n + 1) * n)),
            _ => (e < n + 1).then(|| at(n + 1)),
        };
        // The elapsed count can only have reached `target` after `since`.
        edge.map(|tick| tick.max(t + 1))
    }

    fn status(&self, t: u64) -> u8 {
        (u8::from(self.out(t)) << 7)
            | (u8::from(self.null_count) << 6)
            | ((self.access as u8) << 4)
            | (self.mode_bits << 1)
            | u8::from(self.bcd)
    }

    fn latch_count(&mut self, t: u64) {
        if self.count_latch.is_none() {
            self.count_latch = Some(self.count_for_read(t));
            self.latch_msb_next = false;
        }
    }

    fn program(&mut self, control: u8, t: u64) {
        let current = self.count(t);
        self.access = match (control >> 4) & 3 {
            1 => Access::Lsb,
            2 => Access::Msb,
            _ => Access::LsbMsb,
        };
        self.mode_bits = (control >> 1) & 7;
        self.mode = if self.mode_bits >= 6 { self.mode_bits - 4 } else { self.mode_bits };
        self.bcd = control & 1 != 0;
        self.cr_valid = false;
        self.write_msb_next = false;
        self.read_msb_next = false;
        self.null_count = true;
        self.pending_reload = None;
        // A latched count or status is held until read "or until the
        // counter is reprogrammed" (8254 datasheet).
        self.count_latch = None;
        self.latch_msb_next = false;
        self.status_latch = None;
        self.run = Run::Idle { count: current };
    }

    fn read(&mut self, t: u64) -> u8 {
        if let Some(status) = self.status_latch.take() {
            return status;
        }
        let (value, msb) = match self.count_latch {
            Some(latched) => {
                let msb = match self.access {
                    Access::Lsb => false,
                    Access::Msb => true,
                    Access::LsbMsb => self.latch_msb_next,
                };
                if self.access == Access::LsbMsb && !msb {
                    self.latch_msb_next = true;
                } else {
                    self.count_latch = None;
                    self.latch_msb_next = false;
                }
                (latched, msb)
            }
            None => {
                let msb = match self.access {
                    Access::Lsb => false,
                    Access::Msb => true,
                    Access::LsbMsb => {
                        let msb = self.read_msb_next;
                        self.read_msb_next = !msb;
                        msb
                    }
                };
                (self.count_for_read(t), msb)
            }
        };
        if msb { (value >> 8) as u8 } else { value as u8 }
    }

    fn write(&mut self, value: u8, t: u64) {
        match self.access {
            Access::Lsb => self.cr = u16::from(value),
            Access::Msb => self.cr = u16::from(value) << 8,
            Access::LsbMsb if !self.write_msb_next => {
                self.cr = (self.cr & 0xFF00) | u16::from(value);
                self.write_msb_next = true;
                self.null_count = true;
                if self.mode == 0 {
                    // Writing the first byte stops counting, OUT goes low.
                    let count = self.count(t);
                    self.run = Run::Idle { count };
                    self.pending_reload = None;
                }
                return;
            }
            Access::LsbMsb => {
                self.cr = (self.cr & 0x00FF) | (u16::from(value) << 8);
                self.write_msb_next = false;
            }
        }
        self.cr_valid = true;
        self.null_count = true;
        self.load(t);
    }

    /// A complete count was written at tick `t`.
    fn load(&mut self, t: u64) {
        let reload = self.reload_from_cr();
        match self.mode {
            0 | 4 => self.start(reload, t),
            2 | 3 => match self.run {
                Run::Active {
                    reload: old,
                    counted,
                    since: Some(since),
                } => {
                    // Takes effect when the current period ends.
                    let e = Self::elapsed(counted, Some(since), t);
                    let old = u64::from(old);
                    let end = since.saturating_add((e / old + 1) * old - counted);
                    self.pending_reload = Some((end, reload));
                }
                _ => self.start(reload, t),
            },
            // Modes 1 and 5 wait for a gate trigger.
            _ => {}
        }
    }

    fn start(&mut self, reload: u32, t: u64) {
        self.null_count = false;
        self.pending_reload = None;
        self.run = Run::Active {
            reload,
            counted: 0,
            since: self.gate.then_some(t),
        };
    }

    fn set_gate(&mut self, gate: bool, t: u64) {
        if gate == self.gate {
            return;
        }
        self.gate = gate;
        match (self.mode, gate) {
            // Modes 0 and 4: the gate suspends and resumes counting.
            (0 | 4, _) => {
                if let Run::Active { reload, counted, since } = self.run {
                    self.run = Run::Active {
                        reload,
                        counted: Self::elapsed(counted, since, t),
                        since: gate.then_some(t),
                    };
                }
            }
            // Modes 2 and 3: low stops counting (OUT high), high reloads.
            (2 | 3, false) => {
                if let Run::Active { reload, .. } = self.run {
                    let reload = self.pending_reload.take().map_or(reload, |(_, r)| r);
                    self.run = Run::Active {
                        reload,
                        counted: 0,
                        since: None,
                    };
                }
            }
            // Modes 1, 2, 3, 5: a rising gate (re)triggers with the count.
            (_, true) if self.cr_valid => self.start(self.reload_from_cr(), t),
            _ => {}
        }
    }
}

/// The 8254 with port 0x61.
#[derive(Debug)]
pub struct Pit {
    counters: [Counter; 3],
    irq0: IrqLine,
    /// Next rising edge of OUT0, in ticks.
    next_irq_tick: Option<u64>,
    /// Port 0x61 bits 1-3 (speaker data, parity and channel check enables).
    port61: u8,
    /// Periodic IRQ0 edges that fell due while the machine could not
    /// deliver them (its run loop came late), still to be delivered.
    backlog: u32,
    /// Tick of the last edge pulsed from the backlog.
    last_backlog_tick: u64,
}

/// Most ticks kept for late delivery (a second at 1 kHz): beyond that the
/// guest was not running at all and catching up serves nobody.
const MAX_BACKLOG: u32 = 1000;
/// Spacing of backlog edges, in PIT ticks (~84 µs): time for the guest to
/// take one timer interrupt before the next, so the PIC does not merge
/// them.
const BACKLOG_SPACING: u64 = 100;

impl Pit {
    /// A PIT whose counter 0 pulses `irq0`. Counters start unprogrammed (no
    /// IRQ0 until the BIOS or OS loads a count); gates 0 and 1 are tied
    /// high, gate 2 is low until port 0x61 raises it.
    pub fn new(irq0: IrqLine) -> Self {
        Self {
            counters: [Counter::new(true), Counter::new(true), Counter::new(false)],
            irq0,
            next_irq_tick: None,
            port61: 0,
            backlog: 0,
            last_backlog_tick: 0,
        }
    }

    /// Back to power-on state (system reset).
    pub fn reset(&mut self) {
        let irq0 = self.irq0.clone();
        *self = Self::new(irq0);
    }

    /// Whether the speaker is sounding: gate 2 and speaker data both on.
    pub fn speaker_enabled(&self) -> bool {
        self.counters[2].gate && self.port61 & 0x02 != 0
    }

    /// OUT of counter `n` (0-2) at `now`.
    pub fn out(&mut self, n: usize, now: Nanos) -> bool {
        let t = tick_at(now);
        let c = &mut self.counters[n.min(2)];
        c.settle(t);
        c.out(t)
    }

    fn settle(&mut self, t: u64) {
        for c in &mut self.counters {
            c.settle(t);
        }
    }

    fn reschedule_irq0(&mut self, t: u64) {
        self.next_irq_tick = self.counters[0].next_rising_edge(t);
    }

    /// Edges of counter 0 due at or before tick `t`, counting from the
    /// scheduled one (periodic modes can have several).
    fn due_edges(&self, t: u64) -> u32 {
        let Some(edge) = self.next_irq_tick.filter(|&e| t >= e) else {
            return 0;
        };
        let c = &self.counters[0];
        match (c.mode, c.run) {
            (2 | 3, Run::Active { reload, .. }) if reload >= 2 => (1 + (t - edge) / u64::from(reload)).min(u64::from(MAX_BACKLOG)) as u32,
            _ => 1,
        }
    }

    fn read_u8(&mut self, port: u16, now: Nanos) -> u8 {
        let t = tick_at(now);
        self.settle(t);
        match port {
            0x40..=0x42 => self.counters[usize::from(port - COUNTER0)].read(t),
            PORT_61 => {
                let refresh = (now / REFRESH_TOGGLE_NS) & 1 == 1;
                u8::from(self.counters[2].gate) | (self.port61 & 0x0E) | (u8::from(refresh) << 4) | (u8::from(self.counters[2].out(t)) << 5)
            }
            // The command register is write-only; the 8254 leaves the bus
            // floating.
            _ => 0xFF,
        }
    }

    fn write_u8(&mut self, port: u16, value: u8, now: Nanos) {
        // An IRQ0 edge that is already due happened before this write,
        // even if the machine has not called `advance` yet: deliver it
        // before reprogramming can move it.
        self.advance(now);
        let t = tick_at(now);
        if port == COUNTER0 || (port == COMMAND && value >> 6 == 0) {
            // The guest reprograms the timer: old ticks no longer matter.
            self.backlog = 0;
        }
        match port {
            0x40..=0x42 => self.counters[usize::from(port - COUNTER0)].write(value, t),
            COMMAND => self.command(value, t),
            PORT_61 => {
                self.port61 = value & 0x0E;
                self.counters[2].set_gate(value & 1 != 0, t);
            }
            _ => rate_limited!(debug, port, "PIT write to a port it does not own"),
        }
        self.reschedule_irq0(t);
    }

    fn command(&mut self, value: u8, t: u64) {
        let select = value >> 6;
        if select == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches
            // status, bits 1-3 select counters 0-2.
            for (i, c) in self.counters.iter_mut().enumerate() {
                if value & (2 << i) == 0 {
                    continue;
                }
                if value & 0x20 == 0 {
                    c.latch_count(t);
                }
                if value & 0x10 == 0 && c.status_latch.is_none() {
                    c.status_latch = Some(c.status(t));
                }
            }
            return;
        }
        let c = &mut self.counters[usize::from(select)];
        if value & 0x30 == 0 {
            c.latch_count(t);
        } else {
            c.program(value, t);
        }
    }
}

impl PortIo for Pit {
    fn port_read(&mut self, port: u16, size: u8, now: Nanos) -> u32 {
        read_bytewise(port, size, |p| self.read_u8(p, now))
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, now: Nanos) {
        write_bytewise(port, size, value, |p, v| self.write_u8(p, v, now));
    }
}

impl Timed for Pit {
    fn next_deadline(&self) -> Option<Nanos> {
        let backlog = (self.backlog > 0).then(|| self.last_backlog_tick + BACKLOG_SPACING);
        [self.next_irq_tick, backlog].into_iter().flatten().min().map(time_of_tick)
    }

    /// Edges due are delivered; periodic edges the machine missed (it
    /// called late) are kept and delivered one at a time, spaced so each
    /// becomes its own interrupt: an OS counting timer ticks (Linux's
    /// jiffies) then loses none, as QEMU's "delay" lost-tick policy does.
    fn advance(&mut self, now: Nanos) {
        let t = tick_at(now);
        self.settle(t);
        let due = self.due_edges(t);
        if due > 0 {
            self.irq0.pulse();
            self.backlog = (self.backlog + due - 1).min(MAX_BACKLOG);
            self.last_backlog_tick = t;
        } else if self.backlog > 0 && t >= self.last_backlog_tick + BACKLOG_SPACING {
            self.irq0.pulse();
            self.backlog -= 1;
            self.last_backlog_tick = t;
        }
        self.reschedule_irq0(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IrqLines;
    use crate::testutil::XorShift;

    fn setup() -> (Pit, IrqLines) {
        let lines = IrqLines::new();
        (Pit::new(lines.line(0)), lines)
    }

    fn out(pit: &mut Pit, port: u16, value: u8, now: Nanos) {
        pit.port_write(port, 1, u32::from(value), now);
    }

    fn inb(pit: &mut Pit, port: u16, now: Nanos) -> u8 {
        pit.port_read(port, 1, now) as u8
    }

    /// Latch and read counter `n` (LSB/MSB access).
    fn latched(pit: &mut Pit, n: u8, now: Nanos) -> u16 {
        out(pit, COMMAND, n << 6, now);
        let lo = inb(pit, COUNTER0 + u16::from(n), now);
        let hi = inb(pit, COUNTER0 + u16::from(n), now);
        u16::from(lo) | (u16::from(hi) << 8)
    }

    #[test]
    fn tick_conversions_round_trip() {
        for tick in [0, 1, 2, 1193, 1_193_182, 123_456_789] {
            let ns = time_of_tick(tick);
            assert_eq!(tick_at(ns), tick);
            if ns > 0 {
                assert_eq!(tick_at(ns - 1), tick - 1);
            }
        }
    }

    #[test]
    fn mode2_periodic_irq0_edges() {
        let (mut pit, lines) = setup();
        let start = 1_000_000;
        // Linux's periodic setup: 0x34, then LATCH (1193 for HZ=1000).
        out(&mut pit, COMMAND, 0x34, start);
        out(&mut pit, COUNTER0, (1193u16 & 0xFF) as u8, start);
        out(&mut pit, COUNTER0, (1193u16 >> 8) as u8, start);
        let t0 = tick_at(start);
        for k in 1..=5u64 {
            let deadline = pit.next_deadline().unwrap();
            assert_eq!(deadline, time_of_tick(t0 + k * 1193));
            pit.advance(deadline - 1);
            assert_eq!(lines.take_rising_edges(), 0);
            pit.advance(deadline);
            assert_eq!(lines.take_rising_edges(), 1);
        }
        // Count goes N..1 within each period.
        let now = time_of_tick(t0 + 5 * 1193 + 100);
        assert_eq!(latched(&mut pit, 0, now), 1193 - 100);
    }

    #[test]
    fn late_advance_keeps_missed_ticks_and_delivers_them_spaced() {
        let (mut pit, lines) = setup();
        out(&mut pit, COMMAND, 0x34, 0);
        out(&mut pit, COUNTER0, 0xA9, 0);
        out(&mut pit, COUNTER0, 0x04, 0); // 1193 ticks ~ 1 ms
        let late = 10_500_000; // ~10.5 periods later: 10 edges due
        pit.advance(late);
        assert_eq!(lines.take_rising_edges(), 1, "one edge at a time");
        // From then on the machine is on time: by the end of period 20
        // every one of the 20 edges has been delivered, each as its own
        // edge (the PIC would merge edges taken together).
        let end = time_of_tick(20 * 1193);
        let mut delivered = 1;
        while let Some(d) = pit.next_deadline().filter(|&d| d <= end) {
            pit.advance(d);
            let e = lines.take_rising_edges();
            assert!(e <= 1);
            delivered += e;
        }
        assert_eq!(delivered, 20);
        // Reprogramming drops a backlog.
        pit.advance(end + 30_000_000);
        assert_eq!(lines.take_rising_edges(), 1);
        out(&mut pit, COMMAND, 0x34, end + 30_000_000);
        assert_eq!(pit.backlog, 0);
    }

    #[test]
    fn due_edge_is_delivered_before_reprogramming() {
        let (mut pit, lines) = setup();
        out(&mut pit, COMMAND, 0x30, 0);
        out(&mut pit, COUNTER0, 10, 0);
        out(&mut pit, COUNTER0, 0, 0);
        // The deadline passed but the machine has not called `advance`.
        let late = time_of_tick(20);
        out(&mut pit, COUNTER0, 10, late);
        assert_eq!(lines.take_rising_edges(), 1);
        out(&mut pit, COUNTER0, 0, late);
        assert_eq!(pit.next_deadline(), Some(time_of_tick(30)));
    }

    #[test]
    fn mode3_square_wave_out_and_count() {
        let (mut pit, lines) = setup();
        out(&mut pit, COMMAND, 0x36, 0);
        out(&mut pit, COUNTER0, 100, 0);
        out(&mut pit, COUNTER0, 0, 0);
        assert!(pit.out(0, time_of_tick(10)));
        assert!(!pit.out(0, time_of_tick(50)));
        assert!(!pit.out(0, time_of_tick(99)));
        assert!(pit.out(0, time_of_tick(100)));
        // Counts down by two.
        assert_eq!(latched(&mut pit, 0, time_of_tick(10)), 80);
        assert_eq!(pit.next_deadline(), Some(time_of_tick(100)));
        pit.advance(time_of_tick(100));
        assert_eq!(lines.take_rising_edges(), 1);
        assert_eq!(pit.next_deadline(), Some(time_of_tick(200)));
    }

    #[test]
    fn mode0_one_shot_and_rewrite() {
        let (mut pit, lines) = setup();
        // Linux oneshot clockevents: 0x30, then count LSB/MSB per event.
        out(&mut pit, COMMAND, 0x30, 0);
        assert!(!pit.out(0, 0));
        out(&mut pit, COUNTER0, 50, 0);
        out(&mut pit, COUNTER0, 0, 0);
        assert_eq!(pit.next_deadline(), Some(time_of_tick(50)));
        assert!(!pit.out(0, time_of_tick(49)));
        pit.advance(time_of_tick(60));
        assert_eq!(lines.take_rising_edges(), 1);
        assert!(pit.out(0, time_of_tick(60)));
        assert_eq!(pit.next_deadline(), None);
        // Keeps counting past zero, wrapping.
        assert_eq!(latched(&mut pit, 0, time_of_tick(60)), 0xFFF6);
        // A new count: the first byte stops counting and drops OUT.
        let t = time_of_tick(100);
        out(&mut pit, COUNTER0, 20, t);
        assert!(!pit.out(0, t));
        out(&mut pit, COUNTER0, 0, t);
        assert_eq!(pit.next_deadline(), Some(time_of_tick(120)));
    }

    #[test]
    fn counter2_gate_and_out_via_port61() {
        let (mut pit, _lines) = setup();
        // Linux's pit_calibrate_tsc: gate on, speaker off, mode 0.
        out(&mut pit, PORT_61, 0x01, 0);
        out(&mut pit, COMMAND, 0xB0, 0);
        out(&mut pit, 0x42, 0x10, 0);
        out(&mut pit, 0x42, 0x00, 0);
        assert_eq!(inb(&mut pit, PORT_61, time_of_tick(15)) & 0x20, 0);
        assert_eq!(inb(&mut pit, PORT_61, time_of_tick(16)) & 0x20, 0x20);
        assert_eq!(inb(&mut pit, PORT_61, 0) & 0x03, 0x01);
        // Gate low suspends mode 0 counting.
        out(&mut pit, PORT_61, 0x00, time_of_tick(4));
        assert_eq!(latched(&mut pit, 2, time_of_tick(1000)), 12);
        out(&mut pit, PORT_61, 0x01, time_of_tick(1000));
        assert_eq!(latched(&mut pit, 2, time_of_tick(1005)), 7);
        assert!(!pit.speaker_enabled());
        out(&mut pit, PORT_61, 0x03, time_of_tick(1005));
        assert!(pit.speaker_enabled());
    }

    #[test]
    fn mode1_triggered_by_gate() {
        let (mut pit, _lines) = setup();
        out(&mut pit, COMMAND, 0xB2, 0); // counter 2, mode 1
        out(&mut pit, 0x42, 30, 0);
        out(&mut pit, 0x42, 0, 0);
        assert!(pit.out(2, time_of_tick(100)));
        out(&mut pit, PORT_61, 0x01, time_of_tick(100)); // trigger
        assert!(!pit.out(2, time_of_tick(101)));
        assert!(pit.out(2, time_of_tick(130)));
        // Retrigger.
        out(&mut pit, PORT_61, 0x00, time_of_tick(140));
        out(&mut pit, PORT_61, 0x01, time_of_tick(150));
        assert!(!pit.out(2, time_of_tick(170)));
    }

    #[test]
    fn mode4_strobe_edge() {
        let (mut pit, lines) = setup();
        out(&mut pit, COMMAND, 0x38, 0);
        out(&mut pit, COUNTER0, 10, 0);
        out(&mut pit, COUNTER0, 0, 0);
        assert!(pit.out(0, time_of_tick(9)));
        assert!(!pit.out(0, time_of_tick(10)));
        assert!(pit.out(0, time_of_tick(11)));
        assert_eq!(pit.next_deadline(), Some(time_of_tick(11)));
        pit.advance(time_of_tick(11));
        assert_eq!(lines.take_rising_edges(), 1);
        assert_eq!(pit.next_deadline(), None);
    }

    #[test]
    fn mode2_new_count_waits_for_period_end() {
        let (mut pit, _lines) = setup();
        out(&mut pit, COMMAND, 0x34, 0);
        out(&mut pit, COUNTER0, 100, 0);
        out(&mut pit, COUNTER0, 0, 0);
        let t = time_of_tick(30);
        out(&mut pit, COUNTER0, 50, t);
        out(&mut pit, COUNTER0, 0, t);
        assert_eq!(latched(&mut pit, 0, time_of_tick(40)), 60);
        assert_eq!(pit.next_deadline(), Some(time_of_tick(100)));
        pit.advance(time_of_tick(100));
        assert_eq!(pit.next_deadline(), Some(time_of_tick(150)));
        assert_eq!(latched(&mut pit, 0, time_of_tick(110)), 40);
    }

    #[test]
    fn readback_status_and_count() {
        let (mut pit, _lines) = setup();
        out(&mut pit, COMMAND, 0x34, 0);
        // Before a count: null count set, OUT high (mode 2).
        out(&mut pit, COMMAND, 0xE2, 0); // status only, counter 0
        assert_eq!(inb(&mut pit, COUNTER0, 0), 0x80 | 0x40 | 0x30 | 0x04);
        out(&mut pit, COUNTER0, 0x00, 0);
        out(&mut pit, COUNTER0, 0x10, 0); // 4096
        // Status and count together: status first, then LSB, MSB.
        let t = time_of_tick(96);
        out(&mut pit, COMMAND, 0xC2, t);
        assert_eq!(inb(&mut pit, COUNTER0, t), 0x80 | 0x30 | 0x04);
        // A second latch command does not overwrite the pending latch.
        out(&mut pit, COMMAND, 0x00, time_of_tick(500));
        assert_eq!(inb(&mut pit, COUNTER0, t), 0xA0); // 4096 - 96 = 0x0FA0
        assert_eq!(inb(&mut pit, COUNTER0, t), 0x0F);
    }

    #[test]
    fn lsb_and_msb_only_access_and_bcd() {
        let (mut pit, _lines) = setup();
        out(&mut pit, COMMAND, 0x50, 0); // counter 1, LSB only, mode 0
        out(&mut pit, 0x41, 0x20, 0);
        assert_eq!(inb(&mut pit, 0x41, time_of_tick(2)), 0x1E);
        out(&mut pit, COMMAND, 0x61, 0); // counter 1, MSB only, mode 0, BCD
        out(&mut pit, 0x41, 0x12, 0); // 1200 BCD
        out(&mut pit, COMMAND, 0x40, time_of_tick(1));
        assert_eq!(inb(&mut pit, 0x41, time_of_tick(1)), 0x11);
        out(&mut pit, COMMAND, 0xD4, time_of_tick(3)); // read-back count of counter 1
        // Reprogramming drops that unread latch.
        out(&mut pit, COMMAND, 0x71, 0); // LSB/MSB BCD mode 0
        out(&mut pit, 0x41, 0x00, 0);
        out(&mut pit, 0x41, 0x00, 0); // 0 = 10000 in BCD
        out(&mut pit, COMMAND, 0x40, time_of_tick(1));
        assert_eq!(inb(&mut pit, 0x41, 0), 0x99);
        assert_eq!(inb(&mut pit, 0x41, 0), 0x99);
    }

    #[test]
    fn unlatched_lsb_msb_reads_alternate() {
        let (mut pit, _lines) = setup();
        // Linux's quick_pit_calibrate reads counter 2 without latching.
        out(&mut pit, PORT_61, 0x01, 0);
        out(&mut pit, COMMAND, 0xB0, 0);
        out(&mut pit, 0x42, 0xFF, 0);
        out(&mut pit, 0x42, 0xFF, 0);
        let t = time_of_tick(0x100);
        assert_eq!(inb(&mut pit, 0x42, t), 0xFF);
        assert_eq!(inb(&mut pit, 0x42, t), 0xFE);
    }

    #[test]
    fn refresh_toggle_flips_with_virtual_time() {
        let (mut pit, _lines) = setup();
        let a = inb(&mut pit, PORT_61, 0) & 0x10;
        let b = inb(&mut pit, PORT_61, REFRESH_TOGGLE_NS) & 0x10;
        let c = inb(&mut pit, PORT_61, 2 * REFRESH_TOGGLE_NS) & 0x10;
        assert_ne!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn fuzz_random_port_traffic() {
        let (mut pit, _lines) = setup();
        let mut rng = XorShift::new(0x8254);
        let ports = [0x40, 0x41, 0x42, 0x43, 0x61, 0x44];
        let mut now: Nanos = 0;
        for _ in 0..30_000 {
            now += rng.below(5_000);
            if rng.below(50) == 0 {
                now += rng.below(NANOS_PER_SEC);
            }
            let port = rng.pick(&ports);
            match rng.below(4) {
                0 => {
                    pit.port_read(port, rng.size(), now);
                }
                1 => {
                    pit.advance(now);
                    if let Some(d) = pit.next_deadline() {
                        assert!(d > now);
                    }
                }
                _ => {
                    // Bias towards valid control words.
                    let v = rng.next_u64() as u32;
                    pit.port_write(port, rng.size(), v, now);
                }
            }
        }
        // Far-future time does not overflow.
        pit.advance(u64::MAX);
        pit.port_read(0x40, 1, u64::MAX);
    }
}
