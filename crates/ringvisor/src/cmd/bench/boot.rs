//! `ringvisor bench boot`: time from start to a Linux shell, then the host
//! CPU an idle guest uses; `ringvisor bench bios`: the same through
//! SeaBIOS and a boot loader on a disk image.

use anyhow::{Result, anyhow};
use machine::Machine;
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
    use machine::Firmware;
    let (capture, io) = capture_serial();
    let config = headless(
        engine,
        Firmware::Kernel {
            kernel,
            initrd: Some(initrd),
            cmdline: append,
        },
        Vec::new(),
    );
    let t = Instant::now();
    let mut m = Machine::new(config, io)?;
    let boot = run_until(&mut m, &capture, ready, t)?;
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

/// Run `m` until `capture` holds `needle`; the time since `t`.
fn run_until(m: &mut Machine, capture: &Capture, needle: &str, t: Instant) -> Result<std::time::Duration> {
    while !capture.contains(needle) {
        if t.elapsed().as_secs() > 3600 {
            return Err(anyhow!("no {needle:?} after an hour"));
        }
        match m.run(Some(std::time::Duration::from_millis(100))) {
            machine::Outcome::Timeout => {}
            other => return Err(anyhow!("the guest stopped before {needle:?}: {other:?}")),
        }
    }
    Ok(t.elapsed())
}

/// `ringvisor bench bios`: SeaBIOS boots `disk` (read-only): wall time to
/// the boot loader's banner on COM1 (`loader`), then to the Linux shell.
pub fn bios(engine: exec::Choice, disk: std::path::PathBuf, loader: &str, ready: &str) -> Result<ExitCode> {
    use machine::{DiskConfig, Firmware};
    let (capture, io) = capture_serial();
    let config = headless(
        engine,
        Firmware::Bios {
            rom: "/usr/share/seabios/bios.bin".into(),
            vga_bios: Some("/usr/share/seabios/vgabios-stdvga.bin".into()),
        },
        vec![DiskConfig {
            path: disk,
            format: None,
            read_only: true,
        }],
    );
    let t = Instant::now();
    let mut m = Machine::new(config, io)?;
    let to_loader = run_until(&mut m, &capture, loader, t)?;
    println!("SeaBIOS to the boot loader ({loader:?}): {:.2} s wall", to_loader.as_secs_f64());
    let to_shell = run_until(&mut m, &capture, ready, t)?;
    println!("SeaBIOS boot to the Linux shell: {:.2} s wall", to_shell.as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// A console that keeps what COM1 printed, and the host I/O using it.
fn capture_serial() -> (Capture, machine::machine::HostIo) {
    let capture = Capture::default();
    let io = machine::machine::HostIo {
        serial: Some(Box::new(capture.clone())),
        ..machine::machine::HostIo::default()
    };
    (capture, io)
}

/// The benchmark machine: 256 MiB, no reboot, no statistics.
fn headless(engine: exec::Choice, firmware: machine::Firmware, disks: Vec<machine::DiskConfig>) -> machine::Config {
    machine::Config {
        memory: 256 << 20,
        firmware,
        debug_exit: None,
        debugcon_port: 0xE9,
        no_reboot: true,
        engine,
        switch_every: None,
        stats: false,
        disks,
        cdrom: None,
        boot: None,
    }
}
