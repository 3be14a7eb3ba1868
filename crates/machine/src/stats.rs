//! Statistics for `--stats`: where a run's time went, as VirtualBox's
//! statistics manager reports it. Software engines do not exit for I/O:
//! port and MMIO accesses are calls from the engine into the board, so
//! they are counted and timed there, while engine runs are counted by
//! the reason they returned.
//!
//! Collected only when asked for: every counted event costs two clock
//! reads, which a run without `--stats` does not pay.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// Count and host time of one kind of event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timed {
    pub count: u64,
    pub ns: u64,
}

impl Timed {
    pub fn add(&mut self, since: Instant) {
        self.count += 1;
        self.ns += since.elapsed().as_nanos() as u64;
    }
}

/// Accesses to one port or MMIO region.
#[derive(Clone, Copy, Debug, Default)]
pub struct Access {
    pub reads: Timed,
    pub writes: Timed,
}

/// What the board counts: I/O by port and MMIO region, interrupts by
/// vector.
#[derive(Clone, Debug)]
pub struct IoStats {
    pub ports: BTreeMap<u16, Access>,
    pub mmio: BTreeMap<u32, Access>,
    pub interrupts: [u64; 256],
}

impl Default for IoStats {
    fn default() -> Self {
        Self {
            ports: BTreeMap::new(),
            mmio: BTreeMap::new(),
            interrupts: [0; 256],
        }
    }
}

/// What the run loop counts: engine runs by exit reason, idle sleeps and
/// its own work between runs.
#[derive(Clone, Debug)]
pub struct RunStats {
    pub started: Instant,
    pub exits: BTreeMap<&'static str, Timed>,
    pub idle: Timed,
    /// Device timers, consoles and input between engine runs.
    pub between_runs: Timed,
}

impl Default for RunStats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            exits: BTreeMap::new(),
            idle: Timed::default(),
            between_runs: Timed::default(),
        }
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn per(ns: u64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { ns as f64 / count as f64 }
}

/// Everything for the report, gathered by the machine.
pub struct Report<'a> {
    pub run: &'a RunStats,
    pub io: &'a IoStats,
    pub instructions: u64,
    /// Name of the device behind a port, and of an MMIO region.
    pub port_name: &'a dyn Fn(u16) -> &'static str,
    pub mmio_name: &'a dyn Fn(u32) -> String,
    /// Each engine's own report (name, lines).
    pub engines: Vec<(&'static str, String)>,
    pub switches: u64,
}

impl Report<'_> {
    pub fn render(&self) -> String {
        let mut o = String::new();
        let wall = self.run.started.elapsed();
        let _ = writeln!(
            o,
            "ringvisor statistics: {:.2} s, {} instructions ({:.1} MIPS over the run)",
            wall.as_secs_f64(),
            self.instructions,
            self.instructions as f64 / wall.max(Duration::from_micros(1)).as_secs_f64() / 1e6
        );
        let _ = writeln!(o, "engine runs by exit reason:            count      time      avg");
        let row = |o: &mut String, name: &str, t: &Timed| {
            let _ = writeln!(
                o,
                "  {name:<32} {:>10} {:>8.3} s {:>7.1} us",
                t.count,
                secs(t.ns),
                per(t.ns, t.count) / 1e3
            );
        };
        for (reason, t) in &self.run.exits {
            row(&mut o, reason, t);
        }
        row(&mut o, "idle sleep (HLT)", &self.run.idle);
        row(&mut o, "between runs (timers, consoles)", &self.run.between_runs);
        if self.switches > 0 {
            let _ = writeln!(o, "  engine switches                  {:>10}", self.switches);
        }
        let io_table = |o: &mut String, title: &str, rows: Vec<(String, Access)>| {
            let _ = writeln!(o, "{title:<38}reads    writes      time   avg ns");
            for (name, a) in rows {
                let ns = a.reads.ns + a.writes.ns;
                let n = a.reads.count + a.writes.count;
                let _ = writeln!(
                    o,
                    "  {name:<30} {:>10} {:>9} {:>7.3} s {:>8.0}",
                    a.reads.count,
                    a.writes.count,
                    secs(ns),
                    per(ns, n)
                );
            }
        };
        let ports = self
            .io
            .ports
            .iter()
            .map(|(&p, &a)| (format!("{p:#06x} {}", (self.port_name)(p)), a))
            .collect();
        io_table(&mut o, "port I/O:", ports);
        if !self.io.mmio.is_empty() {
            let mmio = self.io.mmio.iter().map(|(&r, &a)| ((self.mmio_name)(r), a)).collect();
            io_table(&mut o, "MMIO:", mmio);
        }
        let irqs: Vec<String> = self
            .io
            .interrupts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(v, n)| format!("{v:#04x}: {n}"))
            .collect();
        if !irqs.is_empty() {
            let _ = writeln!(o, "external interrupts by vector: {}", irqs.join(", "));
        }
        for (name, lines) in &self.engines {
            if !lines.is_empty() {
                let _ = writeln!(o, "{name}:");
                for l in lines.lines() {
                    let _ = writeln!(o, "  {l}");
                }
            }
        }
        o
    }
}
