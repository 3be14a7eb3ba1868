//! The virtual clock: nanoseconds since the machine started, derived from
//! the host's monotonic clock. Devices never read the host clock; they get
//! this time as an argument, so a deterministic clock (advanced by
//! instruction count, for tests and record/replay) can replace it here
//! without touching them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct Clock {
    start: Instant,
    /// Wall-clock time at start (Unix seconds) for the RTC.
    wall_start: i64,
}

impl Clock {
    pub fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self {
            start: Instant::now(),
            wall_start: wall,
        }
    }

    /// Virtual nanoseconds now.
    #[inline]
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn wall_start(&self) -> i64 {
        self.wall_start
    }

    /// How long from now until virtual time `t` (zero if past).
    pub fn until(&self, t: u64) -> Duration {
        Duration::from_nanos(t.saturating_sub(self.now()))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
