//! `ringvisor bench boot`: time from start to a Linux shell, then the host
//! CPU an idle guest uses.

use anyhow::{Result, anyhow};
use std::process::ExitCode;
use std::time::Instant;

/// A writer that keeps what the guest printed, for waiting on a line.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn contains(&self, needle: &str) -> bool {
        self.0.lock().map(|v| String::from_utf8_lossy(&v).contains(needle)).unwrap_or(false)
    }
}

/// CPU time this process has used (user + system), from /proc.
fn cpu_time() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = rustix::param::clock_ticks_per_second();
    Some(std::time::Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// `ringvisor bench boot`: wall time from start to the guest's ready line
/// (printed by the test initramfs's /init just before the shell), then the
/// host CPU the idle guest uses over `idle` seconds.
pub fn boot(
    engine: exec::Choice,
    kernel: std::path::PathBuf,
    initrd: std::path::PathBuf,
    append: String,
    ready: &str,
    idle: f64,
) -> Result<ExitCode> {
    use machine::machine::HostIo;
    use machine::{Config, Firmware, Machine};
    let capture = Capture::default();
    let io = HostIo {
        serial: Some(Box::new(capture.clone())),
        ..HostIo::default()
    };
    let config = Config {
        memory: 256 << 20,
        firmware: Firmware::Kernel {
            kernel,
            initrd: Some(initrd),
            cmdline: append,
        },
        debug_exit: None,
        debugcon_port: 0xE9,
        no_reboot: true,
        engine,
        switch_every: None,
        stats: false,
    };
    let t = Instant::now();
    let mut m = Machine::new(config, io)?;
    while !capture.contains(ready) {
        if t.elapsed().as_secs() > 3600 {
            return Err(anyhow!("no ready line after an hour"));
        }
        match m.run(Some(std::time::Duration::from_millis(100))) {
            machine::Outcome::Timeout => {}
            other => {
                return Err(anyhow!("the guest stopped before the ready line: {other:?}"));
            }
        }
    }
    let boot = t.elapsed();
    let instructions = m.engine.instructions();
    println!(
        "boot to shell: {:.2} s wall, {} guest instructions ({:.1} MIPS average)",
        boot.as_secs_f64(),
        instructions,
        instructions as f64 / boot.as_secs_f64() / 1e6
    );
    if idle > 0.0 {
        let c0 = cpu_time();
        let t0 = Instant::now();
        m.run(Some(std::time::Duration::from_secs_f64(idle)));
        let wall = t0.elapsed();
        if let (Some(a), Some(b)) = (c0, cpu_time()) {
            println!(
                "idle guest: {:.1}% of one host CPU over {:.1} s",
                100.0 * (b - a).as_secs_f64() / wall.as_secs_f64(),
                wall.as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
