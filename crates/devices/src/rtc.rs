//! The MC146818 real-time clock and its 128 bytes of CMOS RAM, at
//! 0x70 (index, bit 7 disables NMI) and 0x71 (data), interrupting on IRQ8.
//!
//! **Time keeping.** The clock is a count of seconds since the Unix epoch,
//! started from the wall-clock time the machine gives at construction and
//! moved by virtual time only; the time registers (seconds ... year, and
//! the century byte 0x32) are computed from it on each read, in BCD or
//! binary and in 12- or 24-hour form as register B says. A guest write to a
//! time register re-encodes the clock; out-of-range values are clamped into
//! range (a real chip would store them and count on from there) and a day
//! past the end of its month rolls into the next one. Switching DM or 24/12
//! reformats the time instead of leaving the old bytes in place, which no
//! guest relies on. The day of week is derived from the date; a guest write
//! to it is kept as an offset. DSE (daylight saving) is stored only.
//!
//! **Divider and events.** Second boundaries and periodic ticks follow a
//! divider phase that starts when the divider leaves reset (first update
//! 500 ms later, as the datasheet says) and keeps running while SET holds
//! the time. UIP reads 1 during the 244 µs (8 cycles of 32.768 kHz) before
//! each update. The flags of register C (PF, AF, UF) are computed for the
//! interval since the last look, so a guest that polls them sees them
//! without any timer; [`Timed::next_deadline`] asks for a callback only for
//! an enabled interrupt, and only while IRQF is clear (once IRQ8 is raised,
//! nothing changes for the guest until it reads register C).
//!
//! IRQ8 is driven as a level equal to IRQF; the PC routes it edge-triggered,
//! so a guest gets the next interrupt only after reading register C.

use crate::{IrqLine, NANOS_PER_SEC, Nanos, PortIo, Timed, from_bcd, rate_limited, read_bytewise, to_bcd, write_bytewise};

/// Index port (bit 7: NMI disable).
pub const INDEX_PORT: u16 = 0x70;
/// Data port.
pub const DATA_PORT: u16 = 0x71;

/// Register indices of the clock.
pub mod reg {
    pub const SECONDS: u8 = 0x00;
    pub const SECONDS_ALARM: u8 = 0x01;
    pub const MINUTES: u8 = 0x02;
    pub const MINUTES_ALARM: u8 = 0x03;
    pub const HOURS: u8 = 0x04;
    pub const HOURS_ALARM: u8 = 0x05;
    pub const DAY_OF_WEEK: u8 = 0x06;
    pub const DAY_OF_MONTH: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    pub const A: u8 = 0x0A;
    pub const B: u8 = 0x0B;
    pub const C: u8 = 0x0C;
    pub const D: u8 = 0x0D;
    /// CMOS shutdown status byte (BIOS warm boot protocol).
    pub const SHUTDOWN_STATUS: u8 = 0x0F;
    pub const EQUIPMENT: u8 = 0x14;
    pub const BASE_MEMORY_LO: u8 = 0x15;
    pub const BASE_MEMORY_HI: u8 = 0x16;
    pub const EXTENDED_MEMORY_LO: u8 = 0x17;
    pub const EXTENDED_MEMORY_HI: u8 = 0x18;
    pub const CHECKSUM_HI: u8 = 0x2E;
    pub const CHECKSUM_LO: u8 = 0x2F;
    pub const EXTENDED_MEMORY_POST_LO: u8 = 0x30;
    pub const EXTENDED_MEMORY_POST_HI: u8 = 0x31;
    /// Century, kept with the clock (IBM PS/2 / ACPI FADT convention).
    pub const CENTURY: u8 = 0x32;
    /// Memory above 16 MiB, in 64 KiB units (SeaBIOS/Bochs convention).
    pub const MEMORY_ABOVE_16M_LO: u8 = 0x34;
    pub const MEMORY_ABOVE_16M_HI: u8 = 0x35;
    /// Memory above 4 GiB, in 64 KiB units, 3 bytes (SeaBIOS/QEMU).
    pub const MEMORY_ABOVE_4G: u8 = 0x5B;
}

/// Register A bit 7: update in progress.
const A_UIP: u8 = 0x80;
/// Register B bits.
const B_SET: u8 = 0x80;
const B_PIE: u8 = 0x40;
const B_AIE: u8 = 0x20;
const B_UIE: u8 = 0x10;
const B_DM_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;
/// Register C bits (PF, AF, UF line up with PIE, AIE, UIE).
const C_IRQF: u8 = 0x80;
const C_FLAGS: u8 = 0x70;
/// Register D bit 7: valid RAM and time (the battery is fine).
const D_VRT: u8 = 0x80;

/// Cycles of the 32.768 kHz time base.
const HZ_32K: i128 = 32_768;
const NS: i128 = NANOS_PER_SEC as i128;
/// UIP is set this many time-base cycles before each update (244 µs).
const UIP_CYCLES: i128 = 8;
const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01 and 9999-12-31 23:59:59: the clock stays within these so the
/// date arithmetic never overflows.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12; days
/// past the end of the month run on into the next).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Broken-down time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl DateTime {
    fn from_unix(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let tod = secs.rem_euclid(SECS_PER_DAY) as u32;
        Self {
            year,
            month,
            day,
            hour: tod / 3600,
            minute: tod / 60 % 60,
            second: tod % 60,
        }
    }

    fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECS_PER_DAY + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }
}

/// The MC146818 RTC with its CMOS RAM.
#[derive(Debug)]
pub struct Rtc {
    irq: IrqLine,
    index: u8,
    nmi_disabled: bool,
    /// Everything that is plain storage: the alarm registers and
    /// 0x0E-0x7F. Time registers, A-D and 0x32 are not read from here.
    ram: [u8; 128],
    /// Register A bits 6-0 (divider, rate select).
    reg_a: u8,
    reg_b: u8,
    /// Register C flags (PF, AF, UF) latched so far.
    reg_c: u8,
    /// The running clock: `secs` at `base` (a second boundary).
    secs: i64,
    base: i128,
    /// The time fields while the clock is stopped (SET or divider reset):
    /// written field by field and not normalized until the clock runs
    /// again, so a guest can pass through "February 31" on its way to
    /// setting December 31.
    frozen: Option<DateTime>,
    /// A second boundary of the divider chain.
    phase: i128,
    /// Day-of-week register minus the computed day of week, mod 7.
    wday_offset: u8,
    /// Flags have been computed up to this time.
    synced_to: Nanos,
}

impl Rtc {
    /// An RTC whose clock reads `unix_secs` (seconds since 1970-01-01
    /// UTC, or local time if the guest expects that) at virtual time 0,
    /// with register A = 0x26 (divider on, 1024 Hz rate), B = 0x02 (24-hour,
    /// BCD), as a BIOS leaves them. Its interrupt goes to `irq` (IRQ8).
    pub fn new(irq: IrqLine, unix_secs: i64) -> Self {
        Self::new_at(irq, unix_secs, 0)
    }

    /// As [`Rtc::new`], for a wall clock that was `into_second_ns`
    /// nanoseconds into second `unix_secs` at virtual time 0: the RTC's
    /// seconds then tick over with the host's, instead of up to a second
    /// late (an OS reads the RTC once, in whole seconds, and keeps time
    /// from there).
    pub fn new_at(irq: IrqLine, unix_secs: i64, into_second_ns: u32) -> Self {
        // Second boundaries (and the update cycle) fall where the host's do.
        let offset = -i128::from(into_second_ns.min(999_999_999));
        Self {
            irq,
            index: 0,
            nmi_disabled: false,
            ram: [0; 128],
            reg_a: 0x26,
            reg_b: B_24H,
            reg_c: 0,
            // Clamp to years 0000-9999 so the date arithmetic never
            // overflows.
            secs: unix_secs.clamp(MIN_SECS, MAX_SECS),
            base: offset,
            frozen: None,
            phase: offset,
            wday_offset: 0,
            synced_to: 0,
        }
    }

    /// System reset: the RESET pin clears PIE, AIE, UIE, SQWE and the
    /// flags; time and RAM survive (they are battery backed).
    pub fn reset(&mut self, now: Nanos) {
        self.sync(now);
        self.reg_b &= !(B_PIE | B_AIE | B_UIE | 0x08);
        self.reg_c = 0;
        self.nmi_disabled = false;
        self.update_irq();
    }

    /// Whether the guest has disabled NMI through bit 7 of port 0x70.
    pub fn nmi_disabled(&self) -> bool {
        self.nmi_disabled
    }

    /// A byte of CMOS RAM as the machine stores it (0x0E-0x7F; lower
    /// indices and the century byte are clock registers and read as 0).
    pub fn nvram(&self, index: u8) -> u8 {
        match index {
            0x0E..=0x7F if index != reg::CENTURY => self.ram[usize::from(index)],
            _ => 0,
        }
    }

    /// Store a byte of CMOS RAM (0x0E-0x7F except the century byte; other
    /// indices are ignored). Call [`Rtc::update_checksum`] after changing
    /// bytes in 0x10-0x2D.
    pub fn set_nvram(&mut self, index: u8, value: u8) {
        if (0x0E..=0x7F).contains(&index) && index != reg::CENTURY {
            self.ram[usize::from(index)] = value;
        }
    }

    /// Fill the memory-size bytes the BIOS and OSes read, from the RAM
    /// below 4 GiB and above it (bytes), then the checksum:
    /// base memory 640 KiB (0x15/0x16), extended memory above 1 MiB in KiB
    /// capped at 0xFFFF (0x17/0x18 and 0x30/0x31), memory above 16 MiB in
    /// 64 KiB units capped at 0xFFFF (0x34/0x35), memory above 4 GiB in
    /// 64 KiB units (0x5B-0x5D).
    pub fn set_memory_size(&mut self, below_4g: u64, above_4g: u64) {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        let base_kib = (below_4g / KIB).min(640) as u16;
        let ext_kib = (below_4g.saturating_sub(MIB) / KIB).min(0xFFFF) as u16;
        let above_16m = (below_4g.saturating_sub(16 * MIB) / (64 * KIB)).min(0xFFFF) as u16;
        let above_4g = (above_4g / (64 * KIB)).min(0xFF_FFFF) as u32;
        let put16 = |rtc: &mut Self, lo: u8, v: u16| {
            rtc.set_nvram(lo, v as u8);
            rtc.set_nvram(lo + 1, (v >> 8) as u8);
        };
        put16(self, reg::BASE_MEMORY_LO, base_kib);
        put16(self, reg::EXTENDED_MEMORY_LO, ext_kib);
        put16(self, reg::EXTENDED_MEMORY_POST_LO, ext_kib);
        put16(self, reg::MEMORY_ABOVE_16M_LO, above_16m);
        for i in 0..3u8 {
            self.set_nvram(reg::MEMORY_ABOVE_4G + i, (above_4g >> (8 * i)) as u8);
        }
        self.update_checksum();
    }

    /// Set the equipment byte (0x14: bit 0 floppy present, bit 1 FPU,
    /// bits 4-5 primary display, 00 = EGA/VGA; bits 6-7 floppies - 1) and
    /// the checksum.
    pub fn set_equipment(&mut self, equipment: u8) {
        self.set_nvram(reg::EQUIPMENT, equipment);
        self.update_checksum();
    }

    /// Recompute the standard checksum (0x2E high, 0x2F low) over
    /// 0x10-0x2D.
    pub fn update_checksum(&mut self) {
        let sum: u16 = self.ram[0x10..=0x2D].iter().fold(0u16, |acc, &b| acc.wrapping_add(u16::from(b)));
        self.ram[usize::from(reg::CHECKSUM_HI)] = (sum >> 8) as u8;
        self.ram[usize::from(reg::CHECKSUM_LO)] = sum as u8;
    }

    /// The current time as Unix seconds (for a machine that wants to log or
    /// save it).
    pub fn unix_time(&self, now: Nanos) -> i64 {
        self.secs_at(now)
    }

    // ---- clock -----------------------------------------------------------

    fn divider_running(&self) -> bool {
        // 000 and 001 are other crystals, 010 is 32.768 kHz; all count.
        // 11x holds the divider in reset.
        (self.reg_a >> 4) & 7 <= 2
    }

    fn clock_running(&self) -> bool {
        self.divider_running() && self.reg_b & B_SET == 0
    }

    /// The last second boundary of the divider at or before `t`.
    fn boundary_before(&self, t: i128) -> i128 {
        self.phase + (t - self.phase).div_euclid(NS) * NS
    }

    fn secs_at(&self, now: Nanos) -> i64 {
        match self.frozen {
            Some(fields) => fields.to_unix(),
            None => {
                let elapsed = (i128::from(now) - self.base).div_euclid(NS);
                // At most ~1.8e10 s (u64 nanoseconds): no overflow, and
                // the date arithmetic copes with years past 9999.
                let elapsed = elapsed.clamp(0, i128::from(i64::MAX)) as i64;
                self.secs.saturating_add(elapsed)
            }
        }
    }

    /// The time fields at `now`.
    fn fields_at(&self, now: Nanos) -> DateTime {
        self.frozen.unwrap_or_else(|| DateTime::from_unix(self.secs_at(now)))
    }

    /// Stop the clock at `now` (SET or a divider reset).
    fn freeze(&mut self, now: Nanos) {
        if self.frozen.is_none() {
            self.frozen = Some(self.fields_at(now));
        }
    }

    /// Start the clock at `now` from the frozen fields.
    fn thaw(&mut self, now: Nanos) {
        if let Some(fields) = self.frozen.take() {
            self.secs = fields.to_unix().clamp(MIN_SECS, MAX_SECS);
            self.base = self.boundary_before(i128::from(now));
        }
    }

    /// Period of the periodic interrupt in time-base cycles, if enabled.
    fn periodic_cycles(&self) -> Option<i128> {
        match self.reg_a & 0x0F {
            0 => None,
            rs @ 1..=2 => Some(1 << (rs + 6)),
            rs => Some(1 << (rs - 1)),
        }
    }

    /// Index of the periodic tick at or before `t`.
    fn periodic_index(&self, t: i128, period: i128) -> i128 {
        ((t - self.phase) * HZ_32K).div_euclid(NS * period)
    }

    fn update_in_progress(&self, now: Nanos) -> bool {
        if !self.clock_running() {
            return false;
        }
        let into_second = (i128::from(now) - self.phase).rem_euclid(NS);
        into_second * HZ_32K >= (HZ_32K - UIP_CYCLES) * NS
    }

    // ---- register formats ------------------------------------------------

    fn binary(&self) -> bool {
        self.reg_b & B_DM_BINARY != 0
    }

    fn encode(&self, v: u32) -> u8 {
        let v = (v % 100) as u8;
        if self.binary() { v } else { to_bcd(v) }
    }

    fn decode(&self, v: u8) -> u32 {
        u32::from(if self.binary() { v } else { from_bcd(v) })
    }

    fn encode_hour(&self, hour: u32) -> u8 {
        if self.reg_b & B_24H != 0 {
            self.encode(hour)
        } else {
            let h12 = if hour.is_multiple_of(12) { 12 } else { hour % 12 };
            self.encode(h12) | if hour >= 12 { 0x80 } else { 0 }
        }
    }

    /// Hour register value to 0-23 (None when out of range).
    fn decode_hour(&self, v: u8) -> Option<u32> {
        if self.reg_b & B_24H != 0 {
            let h = self.decode(v);
            (h < 24).then_some(h)
        } else {
            let h12 = self.decode(v & 0x7F);
            let pm = v & 0x80 != 0;
            (1..=12).contains(&h12).then_some(h12 % 12 + if pm { 12 } else { 0 })
        }
    }

    /// Day of week of `secs`, 0 = Sunday (1970-01-01 was a Thursday).
    fn weekday_index(secs: i64) -> u8 {
        (secs.div_euclid(SECS_PER_DAY) + 4).rem_euclid(7) as u8
    }

    /// The day-of-week register (1 = Sunday) for `secs`.
    fn day_of_week(&self, secs: i64) -> u8 {
        (Self::weekday_index(secs) + self.wday_offset) % 7 + 1
    }

    fn read_time_register(&self, index: u8, now: Nanos) -> u8 {
        let t = self.fields_at(now);
        let secs = t.to_unix();
        match index {
            reg::SECONDS => self.encode(t.second),
            reg::MINUTES => self.encode(t.minute),
            reg::HOURS => self.encode_hour(t.hour),
            reg::DAY_OF_WEEK => self.encode(u32::from(self.day_of_week(secs))),
            reg::DAY_OF_MONTH => self.encode(t.day),
            reg::MONTH => self.encode(t.month),
            reg::YEAR => self.encode(t.year.rem_euclid(100) as u32),
            _ => self.encode(t.year.div_euclid(100).clamp(0, 99) as u32),
        }
    }

    fn write_time_register(&mut self, index: u8, value: u8, now: Nanos) {
        let mut t = self.fields_at(now);
        let v = self.decode(value);
        match index {
            reg::SECONDS => t.second = v.min(59),
            reg::MINUTES => t.minute = v.min(59),
            reg::HOURS => {
                t.hour = self.decode_hour(value).unwrap_or_else(|| {
                    rate_limited!(debug, value, "RTC hour out of range, clamped");
                    23
                })
            }
            reg::DAY_OF_WEEK => {
                let wanted = v.clamp(1, 7) as u8;
                let computed = Self::weekday_index(t.to_unix());
                self.wday_offset = (wanted + 6 - computed) % 7;
                return;
            }
            reg::DAY_OF_MONTH => t.day = v.clamp(1, 31),
            reg::MONTH => t.month = v.clamp(1, 12),
            reg::YEAR => t.year = t.year.div_euclid(100) * 100 + i64::from(v.min(99)),
            _ => t.year = i64::from(v.min(99)) * 100 + t.year.rem_euclid(100),
        }
        if self.frozen.is_some() {
            self.frozen = Some(t);
        } else {
            self.secs = t.to_unix().clamp(MIN_SECS, MAX_SECS);
            self.base = self.boundary_before(i128::from(now));
        }
    }

    // ---- alarm -----------------------------------------------------------

    /// The alarm as (hour, minute, second), `None` fields being "don't
    /// care" (0xC0-0xFF); `None` overall if a field can never match.
    fn alarm(&self) -> Option<(Option<u32>, Option<u32>, Option<u32>)> {
        let field = |index: u8, max: u32| -> Option<Option<u32>> {
            let v = self.ram[usize::from(index)];
            if v & 0xC0 == 0xC0 {
                return Some(None);
            }
            let d = self.decode(v);
            (d <= max).then_some(Some(d))
        };
        let hour_raw = self.ram[usize::from(reg::HOURS_ALARM)];
        let hour = if hour_raw & 0xC0 == 0xC0 {
            None
        } else {
            Some(self.decode_hour(hour_raw)?)
        };
        Some((hour, field(reg::MINUTES_ALARM, 59)?, field(reg::SECONDS_ALARM, 59)?))
    }

    /// The first second after `secs` whose time matches the alarm.
    fn next_alarm_after(&self, secs: i64) -> Option<i64> {
        let (h, m, s) = self.alarm()?;
        let day_start = secs.div_euclid(SECS_PER_DAY) * SECS_PER_DAY;
        let tod = secs.rem_euclid(SECS_PER_DAY);
        let span = |fixed: Option<u32>, n: u32| match fixed {
            Some(v) => v..v + 1,
            None => 0..n,
        };
        for day in 0..2i64 {
            for hh in span(h, 24) {
                let hour_start = day * SECS_PER_DAY + i64::from(hh) * 3600;
                if hour_start + 3599 <= tod {
                    continue;
                }
                for mm in span(m, 60) {
                    let minute_start = hour_start + i64::from(mm) * 60;
                    if minute_start + 59 <= tod {
                        continue;
                    }
                    for ss in span(s, 60) {
                        let at = minute_start + i64::from(ss);
                        if at > tod {
                            return Some(day_start + at);
                        }
                    }
                }
            }
        }
        None
    }

    // ---- events ----------------------------------------------------------

    /// Latch the flags of the events in (synced_to, now].
    fn sync(&mut self, now: Nanos) {
        if now <= self.synced_to {
            return;
        }
        let (a, b) = (i128::from(self.synced_to), i128::from(now));
        if self.divider_running()
            && let Some(period) = self.periodic_cycles()
            && self.periodic_index(b, period) > self.periodic_index(a, period)
        {
            self.reg_c |= B_PIE; // PF
        }
        if self.clock_running() {
            let (sa, sb) = (self.secs_at(self.synced_to), self.secs_at(now));
            if sb > sa {
                self.reg_c |= B_UIE; // UF
                if self.next_alarm_after(sa).is_some_and(|at| at <= sb) {
                    self.reg_c |= B_AIE; // AF
                }
            }
        }
        self.synced_to = now;
        self.update_irq();
    }

    fn irqf(&self) -> bool {
        self.reg_c & self.reg_b & C_FLAGS != 0
    }

    fn update_irq(&self) {
        self.irq.set_level(self.irqf());
    }

    // ---- ports -----------------------------------------------------------

    fn read_register(&mut self, now: Nanos) -> u8 {
        self.sync(now);
        match self.index {
            reg::SECONDS | reg::MINUTES | reg::HOURS => self.read_time_register(self.index, now),
            reg::DAY_OF_WEEK..=reg::YEAR | reg::CENTURY => self.read_time_register(self.index, now),
            reg::A => self.reg_a | if self.update_in_progress(now) { A_UIP } else { 0 },
            reg::B => self.reg_b,
            reg::C => {
                let value = self.reg_c | if self.irqf() { C_IRQF } else { 0 };
                self.reg_c = 0;
                self.update_irq();
                value
            }
            reg::D => D_VRT,
            i => self.ram[usize::from(i)],
        }
    }

    fn write_register(&mut self, value: u8, now: Nanos) {
        self.sync(now);
        match self.index {
            reg::SECONDS | reg::MINUTES | reg::HOURS => self.write_time_register(self.index, value, now),
            reg::DAY_OF_WEEK..=reg::YEAR | reg::CENTURY => self.write_time_register(self.index, value, now),
            reg::A => {
                let was_divider = self.divider_running();
                self.reg_a = value & 0x7F;
                if !was_divider && self.divider_running() {
                    // Out of reset: the first update comes 500 ms later.
                    self.phase = i128::from(now) - NS / 2;
                }
                self.run_or_stop(now);
            }
            reg::B => {
                self.reg_b = value;
                if value & B_SET != 0 {
                    // SET stops updates and clears UIE.
                    self.reg_b &= !B_UIE;
                }
                self.run_or_stop(now);
                self.update_irq();
            }
            reg::C | reg::D => {
                rate_limited!(debug, index = self.index, "RTC write to read-only register");
            }
            i => self.ram[usize::from(i)] = value,
        }
    }

    /// Freeze or restart the clock after A or B changed.
    fn run_or_stop(&mut self, now: Nanos) {
        if self.clock_running() {
            self.thaw(now);
        } else {
            self.freeze(now);
        }
    }

    fn read_u8(&mut self, port: u16, now: Nanos) -> u8 {
        match port {
            DATA_PORT => self.read_register(now),
            // The index register is write-only on PCs.
            _ => 0xFF,
        }
    }

    fn write_u8(&mut self, port: u16, value: u8, now: Nanos) {
        match port {
            INDEX_PORT => {
                self.index = value & 0x7F;
                self.nmi_disabled = value & 0x80 != 0;
            }
            DATA_PORT => self.write_register(value, now),
            _ => rate_limited!(debug, port, "RTC write to a port it does not own"),
        }
    }
}

impl PortIo for Rtc {
    fn port_read(&mut self, port: u16, size: u8, now: Nanos) -> u32 {
        read_bytewise(port, size, |p| self.read_u8(p, now))
    }

    fn port_write(&mut self, port: u16, size: u8, value: u32, now: Nanos) {
        write_bytewise(port, size, value, |p, v| self.write_u8(p, v, now));
    }
}

impl Timed for Rtc {
    fn next_deadline(&self) -> Option<Nanos> {
        if self.irqf() {
            return None;
        }
        let from = i128::from(self.synced_to);
        let mut next: Option<i128> = None;
        let mut consider = |t: i128| next = Some(next.map_or(t, |n| n.min(t)));
        if self.reg_b & B_PIE != 0
            && self.divider_running()
            && let Some(period) = self.periodic_cycles()
        {
            let k = self.periodic_index(from, period) + 1;
            let offset = (k * period * NS + HZ_32K - 1).div_euclid(HZ_32K);
            consider(self.phase + offset);
        }
        if self.clock_running() {
            if self.reg_b & B_UIE != 0 {
                consider(self.boundary_before(from) + NS);
            }
            if self.reg_b & B_AIE != 0
                && let Some(at) = self.next_alarm_after(self.secs_at(self.synced_to))
            {
                let delta = i128::from(at.saturating_sub(self.secs));
                consider(self.base + delta * NS);
            }
        }
        next.map(|t| t.clamp(0, i128::from(u64::MAX)) as Nanos)
    }

    fn advance(&mut self, now: Nanos) {
        self.sync(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IrqLines;
    use crate::testutil::XorShift;

    /// 2024-02-29 23:59:58 UTC, a Thursday.
    const LEAP_EVE: i64 = 1_709_251_198;

    #[test]
    fn seconds_tick_with_the_host_wall_clock() {
        let lines = IrqLines::new();
        // Started 0.9 s into a second: the next second begins 0.1 s later.
        let rtc = Rtc::new_at(lines.line(8), 1_000_000_000, 900_000_000);
        assert_eq!(rtc.unix_time(0), 1_000_000_000);
        assert_eq!(rtc.unix_time(99_999_999), 1_000_000_000);
        assert_eq!(rtc.unix_time(100_000_000), 1_000_000_001);
        assert_eq!(rtc.unix_time(1_100_000_000), 1_000_000_002);
    }

    fn setup(secs: i64) -> (Rtc, IrqLines) {
        let lines = IrqLines::new();
        (Rtc::new(lines.line(8), secs), lines)
    }

    fn read(rtc: &mut Rtc, index: u8, now: Nanos) -> u8 {
        rtc.port_write(INDEX_PORT, 1, u32::from(index), now);
        rtc.port_read(DATA_PORT, 1, now) as u8
    }

    fn write(rtc: &mut Rtc, index: u8, value: u8, now: Nanos) {
        rtc.port_write(INDEX_PORT, 1, u32::from(index), now);
        rtc.port_write(DATA_PORT, 1, u32::from(value), now);
    }

    #[test]
    fn civil_conversions() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for d in [-800_000, -1, 0, 59, 365, 11_016, 19_782, 2_932_896] {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
        // Day overflow rolls into the next month.
        assert_eq!(days_from_civil(2023, 2, 31), days_from_civil(2023, 3, 3));
    }

    #[test]
    fn bcd_time_and_rollover() {
        let (mut rtc, _) = setup(LEAP_EVE);
        assert_eq!(read(&mut rtc, reg::SECONDS, 0), 0x58);
        assert_eq!(read(&mut rtc, reg::MINUTES, 0), 0x59);
        assert_eq!(read(&mut rtc, reg::HOURS, 0), 0x23);
        assert_eq!(read(&mut rtc, reg::DAY_OF_WEEK, 0), 5);
        assert_eq!(read(&mut rtc, reg::DAY_OF_MONTH, 0), 0x29);
        assert_eq!(read(&mut rtc, reg::MONTH, 0), 0x02);
        assert_eq!(read(&mut rtc, reg::YEAR, 0), 0x24);
        assert_eq!(read(&mut rtc, reg::CENTURY, 0), 0x20);
        // Two seconds of virtual time later it is March 1st.
        let t = 2 * NANOS_PER_SEC;
        assert_eq!(read(&mut rtc, reg::SECONDS, t), 0x00);
        assert_eq!(read(&mut rtc, reg::DAY_OF_MONTH, t), 0x01);
        assert_eq!(read(&mut rtc, reg::MONTH, t), 0x03);
        assert_eq!(read(&mut rtc, reg::DAY_OF_WEEK, t), 6);
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let (mut rtc, _) = setup(LEAP_EVE);
        write(&mut rtc, reg::B, B_DM_BINARY, 0); // binary, 12-hour
        assert_eq!(read(&mut rtc, reg::SECONDS, 0), 58);
        assert_eq!(read(&mut rtc, reg::HOURS, 0), 0x80 | 11);
        write(&mut rtc, reg::B, 0, 0); // BCD 12-hour
        assert_eq!(read(&mut rtc, reg::HOURS, 0), 0x80 | 0x11);
        // 12 AM is midnight.
        write(&mut rtc, reg::HOURS, 0x12, 0);
        write(&mut rtc, reg::B, B_24H, 0);
        assert_eq!(read(&mut rtc, reg::HOURS, 0), 0x00);
    }

    #[test]
    fn guest_sets_time_under_set_bit() {
        let (mut rtc, _) = setup(LEAP_EVE);
        // Linux's mc146818_set_time: SET, write fields, clear SET.
        write(&mut rtc, reg::B, B_SET | B_24H, 0);
        write(&mut rtc, reg::YEAR, 0x99, 0);
        write(&mut rtc, reg::CENTURY, 0x19, 0);
        write(&mut rtc, reg::MONTH, 0x12, 0);
        write(&mut rtc, reg::DAY_OF_MONTH, 0x31, 0);
        write(&mut rtc, reg::HOURS, 0x23, 0);
        write(&mut rtc, reg::MINUTES, 0x59, 0);
        write(&mut rtc, reg::SECONDS, 0x59, 0);
        // Frozen while SET.
        let t = 5 * NANOS_PER_SEC;
        assert_eq!(read(&mut rtc, reg::SECONDS, t), 0x59);
        write(&mut rtc, reg::B, B_24H, t);
        let t2 = t + 2 * NANOS_PER_SEC;
        assert_eq!(read(&mut rtc, reg::YEAR, t2), 0x00);
        assert_eq!(read(&mut rtc, reg::CENTURY, t2), 0x20);
        assert_eq!(read(&mut rtc, reg::MONTH, t2), 0x01);
        assert_eq!(rtc.unix_time(t2) / SECS_PER_DAY, 10_957); // 2000-01-01
    }

    #[test]
    fn day_of_week_write_is_kept() {
        let (mut rtc, _) = setup(LEAP_EVE);
        write(&mut rtc, reg::DAY_OF_WEEK, 2, 0);
        assert_eq!(read(&mut rtc, reg::DAY_OF_WEEK, 0), 2);
        assert_eq!(read(&mut rtc, reg::DAY_OF_WEEK, 3 * NANOS_PER_SEC), 3);
        write(&mut rtc, reg::DAY_OF_WEEK, 7, 0);
        assert_eq!(read(&mut rtc, reg::DAY_OF_WEEK, 0), 7);
    }

    #[test]
    fn uip_window_before_each_update() {
        let (mut rtc, _) = setup(LEAP_EVE);
        let second = NANOS_PER_SEC;
        assert_eq!(read(&mut rtc, reg::A, 0) & A_UIP, 0);
        assert_eq!(read(&mut rtc, reg::A, second - 250_000) & A_UIP, 0);
        assert_eq!(read(&mut rtc, reg::A, second - 244_000) & A_UIP, A_UIP);
        assert_eq!(read(&mut rtc, reg::A, second - 1) & A_UIP, A_UIP);
        assert_eq!(read(&mut rtc, reg::A, second) & A_UIP, 0);
        assert_eq!(read(&mut rtc, reg::SECONDS, second - 1), 0x58);
        assert_eq!(read(&mut rtc, reg::SECONDS, second), 0x59);
        // No UIP while SET holds the clock.
        write(&mut rtc, reg::B, B_SET | B_24H, second);
        assert_eq!(read(&mut rtc, reg::A, 2 * second - 1) & A_UIP, 0);
    }

    #[test]
    fn divider_reset_then_first_update_after_half_second() {
        let (mut rtc, _) = setup(LEAP_EVE);
        write(&mut rtc, reg::A, 0x70, 0); // divider reset
        let t = 3 * NANOS_PER_SEC + 123;
        assert_eq!(read(&mut rtc, reg::SECONDS, t), 0x58);
        write(&mut rtc, reg::A, 0x26, t);
        let half = NANOS_PER_SEC / 2;
        assert_eq!(read(&mut rtc, reg::SECONDS, t + half - 1), 0x58);
        assert_eq!(read(&mut rtc, reg::SECONDS, t + half), 0x59);
    }

    #[test]
    fn periodic_interrupt_rate_and_register_c_clearing() {
        let (mut rtc, lines) = setup(LEAP_EVE);
        // 1024 Hz (rate 6): one tick every 976.5625 µs.
        write(&mut rtc, reg::B, B_24H | B_PIE, 0);
        let deadline = rtc.next_deadline().unwrap();
        assert_eq!(deadline, 976_563);
        rtc.advance(deadline - 1);
        assert!(!lines.line(8).is_high());
        rtc.advance(deadline);
        assert!(lines.line(8).is_high());
        assert_eq!(lines.take_rising_edges(), 1 << 8);
        assert_eq!(rtc.next_deadline(), None); // waiting for a read of C
        let c = read(&mut rtc, reg::C, deadline + 10);
        assert_eq!(c, C_IRQF | 0x40);
        assert!(!lines.line(8).is_high());
        assert_eq!(read(&mut rtc, reg::C, deadline + 20), 0);
        // Rate 15: 2 Hz.
        write(&mut rtc, reg::A, 0x2F, deadline + 20);
        assert_eq!(rtc.next_deadline(), Some(NANOS_PER_SEC / 2));
        // Count interrupts over one second at rate 3 (8192 Hz).
        write(&mut rtc, reg::A, 0x23, deadline + 20);
        let mut now = deadline + 20;
        let mut count = 0;
        while let Some(d) = rtc.next_deadline() {
            if d > deadline + 20 + NANOS_PER_SEC {
                break;
            }
            now = d;
            rtc.advance(now);
            assert_ne!(read(&mut rtc, reg::C, now) & C_IRQF, 0);
            count += 1;
        }
        assert!((8191..=8192).contains(&count), "{count}");
        assert!(now > deadline);
    }

    #[test]
    fn polled_flags_without_interrupts() {
        let (mut rtc, lines) = setup(LEAP_EVE);
        assert_eq!(rtc.next_deadline(), None);
        // UF and PF appear in C even with the interrupts disabled.
        let c = read(&mut rtc, reg::C, NANOS_PER_SEC);
        assert_eq!(c, 0x40 | 0x10);
        assert!(!lines.line(8).is_high());
    }

    #[test]
    fn update_ended_interrupt() {
        let (mut rtc, lines) = setup(LEAP_EVE);
        write(&mut rtc, reg::B, B_24H | B_UIE, 100);
        assert_eq!(rtc.next_deadline(), Some(NANOS_PER_SEC));
        rtc.advance(NANOS_PER_SEC);
        assert!(lines.line(8).is_high());
        assert_eq!(read(&mut rtc, reg::C, NANOS_PER_SEC) & 0x90, 0x90);
    }

    #[test]
    fn alarm_interrupt() {
        let (mut rtc, lines) = setup(LEAP_EVE); // 23:59:58
        write(&mut rtc, reg::HOURS_ALARM, 0x00, 0);
        write(&mut rtc, reg::MINUTES_ALARM, 0x00, 0);
        write(&mut rtc, reg::SECONDS_ALARM, 0x01, 0);
        write(&mut rtc, reg::B, B_24H | B_AIE, 0);
        assert_eq!(rtc.next_deadline(), Some(3 * NANOS_PER_SEC));
        rtc.advance(3 * NANOS_PER_SEC - 1);
        assert!(!lines.line(8).is_high());
        rtc.advance(3 * NANOS_PER_SEC);
        assert!(lines.line(8).is_high());
        assert_eq!(read(&mut rtc, reg::C, 3 * NANOS_PER_SEC) & 0xA0, 0xA0);
        // "Don't care" hours and minutes: once a minute at second 01.
        write(&mut rtc, reg::HOURS_ALARM, 0xC0, 0);
        write(&mut rtc, reg::MINUTES_ALARM, 0xFF, 0);
        assert_eq!(rtc.next_deadline(), Some(63 * NANOS_PER_SEC));
        // An alarm that can never match gives no deadline.
        write(&mut rtc, reg::SECONDS_ALARM, 0x75, 0);
        assert_eq!(rtc.next_deadline(), None);
    }

    #[test]
    fn index_port_nmi_bit_and_nvram() {
        let (mut rtc, _) = setup(0);
        rtc.port_write(INDEX_PORT, 1, 0x80 | 0x40, 0);
        assert!(rtc.nmi_disabled());
        rtc.port_write(DATA_PORT, 1, 0x5A, 0);
        assert_eq!(rtc.nvram(0x40), 0x5A);
        assert_eq!(rtc.port_read(DATA_PORT, 1, 0), 0x5A);
        rtc.port_write(INDEX_PORT, 1, 0x40, 0);
        assert!(!rtc.nmi_disabled());
        assert_eq!(read(&mut rtc, reg::D, 0), D_VRT);
        assert_eq!(rtc.port_read(INDEX_PORT, 1, 0), 0xFF);
    }

    #[test]
    fn memory_size_bytes_and_checksum() {
        let (mut rtc, _) = setup(0);
        rtc.set_memory_size(3 * 1024 * 1024 * 1024, 2 * 1024 * 1024 * 1024);
        rtc.set_equipment(0x06);
        assert_eq!(rtc.nvram(0x15), 0x80);
        assert_eq!(rtc.nvram(0x16), 0x02);
        assert_eq!((rtc.nvram(0x17), rtc.nvram(0x18)), (0xFF, 0xFF));
        assert_eq!((rtc.nvram(0x30), rtc.nvram(0x31)), (0xFF, 0xFF));
        // (3 GiB - 16 MiB) / 64 KiB = 48896 = 0xBF00.
        assert_eq!((rtc.nvram(0x34), rtc.nvram(0x35)), (0x00, 0xBF));
        // 2 GiB / 64 KiB = 0x8000.
        assert_eq!((rtc.nvram(0x5B), rtc.nvram(0x5C), rtc.nvram(0x5D)), (0, 0x80, 0));
        let sum: u16 = (0x10..=0x2D).map(|i| u16::from(rtc.nvram(i))).sum();
        assert_eq!(u16::from(rtc.nvram(0x2E)) << 8 | u16::from(rtc.nvram(0x2F)), sum);
        // 32 MiB machine.
        rtc.set_memory_size(32 * 1024 * 1024, 0);
        assert_eq!(u16::from(rtc.nvram(0x18)) << 8 | u16::from(rtc.nvram(0x17)), 31 * 1024);
        assert_eq!(u16::from(rtc.nvram(0x35)) << 8 | u16::from(rtc.nvram(0x34)), 256);
    }

    #[test]
    fn fuzz_random_port_traffic() {
        let (mut rtc, _) = setup(LEAP_EVE);
        let mut rng = XorShift::new(0x146818);
        let mut now: Nanos = 0;
        for _ in 0..30_000 {
            now += rng.below(200_000);
            if rng.below(100) == 0 {
                now += rng.below(1 << 50);
            }
            match rng.below(5) {
                0 => {
                    rtc.port_read(rng.pick(&[0x70, 0x71, 0x72]), rng.size(), now);
                }
                1 => {
                    rtc.advance(now);
                    if let Some(d) = rtc.next_deadline() {
                        assert!(d > now, "deadline {d} not after {now}");
                    }
                }
                2 => rtc.port_write(0x70, 1, rng.below(16) as u32, now),
                _ => {
                    let port = rng.pick(&[0x70, 0x71, 0x71, 0x71]);
                    rtc.port_write(port, rng.size(), rng.next_u64() as u32, now);
                }
            }
        }
        rtc.advance(u64::MAX);
    }
}
