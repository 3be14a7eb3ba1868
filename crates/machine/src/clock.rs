//! The virtual clock: nanoseconds since the machine started, derived from
//! the host's monotonic clock. Devices never read the host clock; they get
//! this time as an argument, so a deterministic clock (advanced by
//! instruction count, for tests and record/replay) can replace it here
//! without touching them.
//!
//! Time the host spends on the monitor's own work while the guest cannot
//! run (translating code, the run loop between engine runs) is *stall*:
//! it is held back from the guest, so a guest timing a short loop against
//! the PIT (as Linux does to calibrate the TSC) sees no jumps that real
//! hardware would not show. The clock then catches up, running at most
//! 1/4 faster than the host, so within seconds guest time follows host
//! time again (the RTC and `date` agree with the host). At most
//! `MAX_LAG` is held back at any time: a recompiler boot stalls about a
//! second in translation, spread over its first seconds. Since the TSC, the
//! PIT and the RTC all read this one clock, their ratios are exact at all
//! times, catching up or not.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Catch-up rate: guest time runs at most 1/this faster than the host.
const CATCH_UP_DIVISOR: u64 = 4;
/// The most guest time is ever behind host time. Stalls matter to a guest
/// timing short intervals (milliseconds); beyond this the guest sees time
/// jump, as after a host that descheduled it, and its wall clock stays
/// within a fraction of a second of the host's.
const MAX_LAG: u64 = 200_000_000;

#[derive(Clone, Debug)]
pub struct Clock {
    start: Instant,
    /// Wall-clock time at start (Unix seconds and nanoseconds into that
    /// second) for the RTC.
    wall_start: i64,
    wall_start_ns: u32,
    /// How far guest time is behind host time (stall not yet caught up).
    lag: u64,
    /// Host time of the last reading, for the catch-up rate.
    last_host: u64,
    /// The last value returned (guest time never goes back).
    last: u64,
}

impl Clock {
    pub fn new() -> Self {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self {
            start: Instant::now(),
            wall_start: wall.as_secs() as i64,
            wall_start_ns: wall.subsec_nanos(),
            lag: 0,
            last_host: 0,
            last: 0,
        }
    }

    fn host(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Virtual nanoseconds now.
    #[inline]
    pub fn now(&mut self) -> u64 {
        let host = self.host();
        if self.lag > 0 {
            let catch = (host.saturating_sub(self.last_host) / CATCH_UP_DIVISOR).min(self.lag);
            self.lag -= catch;
        }
        self.last_host = host;
        let v = host.saturating_sub(self.lag).max(self.last);
        self.last = v;
        v
    }

    /// Hold back `ns` of host time that the guest could not use.
    pub fn stall(&mut self, ns: u64) {
        // The stalled time itself earns no catch-up credit.
        self.last_host = self.last_host.saturating_add(ns);
        self.lag = self.lag.saturating_add(ns).min(MAX_LAG);
    }

    pub fn wall_start(&self) -> i64 {
        self.wall_start
    }

    /// Nanoseconds into the second [`Clock::wall_start`] at virtual time 0.
    pub fn wall_start_ns(&self) -> u32 {
        self.wall_start_ns
    }

    /// How long in host time until virtual time `t` (zero if past).
    pub fn until(&mut self, t: u64) -> Duration {
        Duration::from_nanos(t.saturating_sub(self.now()))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_is_held_back_then_caught_up_monotonically() {
        let mut c = Clock::new();
        let a = c.now();
        std::thread::sleep(Duration::from_millis(20));
        c.stall(20_000_000);
        let b = c.now();
        assert!(b >= a && b - a < 5_000_000, "stall not held back: {a} -> {b}");
        // Catch-up: guest time gains on host time but never decreases.
        let mut prev = b;
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(5));
            let t = c.now();
            assert!(t >= prev);
            prev = t;
        }
        assert!(c.lag < 20_000_000);
    }

    #[test]
    fn lag_is_bounded() {
        let mut c = Clock::new();
        c.stall(10 * MAX_LAG);
        assert_eq!(c.lag, MAX_LAG);
        std::thread::sleep(Duration::from_millis(10));
        assert!(c.now() + MAX_LAG + 1_000_000 >= c.host(), "guest time more than MAX_LAG behind");
    }
}
