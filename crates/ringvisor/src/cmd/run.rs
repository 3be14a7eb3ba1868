//! `ringvisor run`: build a PC and run it.

use crate::console::{self, Backend};
use anyhow::{Result, bail};
use machine::machine::{HostIo, Outcome};
use machine::{Config, Firmware, Machine};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Boot this kernel directly (Linux bzImage or Multiboot).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Initial ramdisk (Linux) or module (Multiboot) for --kernel.
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Option<PathBuf>,
    /// Kernel command line for --kernel.
    #[arg(long, value_name = "STRING", default_value = "", requires = "kernel")]
    append: String,
    /// Firmware ROM image mapped at the top of 4 GiB (the CPU starts at its reset vector).
    #[arg(long, value_name = "FILE", conflicts_with = "kernel")]
    bios: Option<PathBuf>,
    /// Guest RAM (e.g. 256M, 1G; a bare number is MiB).
    #[arg(long, short = 'm', default_value = "256M", value_parser = crate::size::parse)]
    memory: u64,
    /// COM1: stdio, none, file:PATH or unix:PATH.
    #[arg(long, default_value = "stdio")]
    serial: Backend,
    /// Debug console at port 0xE9: stdio, none, file:PATH or unix:PATH.
    #[arg(long, default_value = "none")]
    debugcon: Backend,
    /// Write each byte the guest sends to port 0x80 (POST codes), one hex value per line.
    #[arg(long, value_name = "FILE")]
    post_log: Option<PathBuf>,
    /// A write of value v to this port ends ringvisor with status (v << 1) | 1.
    #[arg(long, value_name = "PORT", value_parser = parse_port)]
    debug_exit: Option<u16>,
    /// Execution engine: auto (interpret cold code, recompile hot code), interpreter, recompiler.
    #[arg(long, default_value = "auto")]
    engine: exec::Choice,
    /// Stress test: move the guest between interpreter and recompiler every N instructions.
    #[arg(long, value_name = "N")]
    switch_every: Option<u64>,
    /// Stop after this many seconds (status 124).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Exit when the guest resets instead of rebooting it.
    #[arg(long)]
    no_reboot: bool,
    /// Print statistics at the end (engine exits, port and MMIO accesses,
    /// interrupts, translations, fallbacks) to stderr.
    #[arg(long)]
    stats: bool,
}

fn parse_port(s: &str) -> Result<u16, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16),
        None => s.parse(),
    };
    v.map_err(|_| format!("'{s}' is not an I/O port (0-65535, decimal or 0x hex)"))
}

pub fn run(a: Args) -> Result<ExitCode> {
    let firmware = match (&a.kernel, &a.bios) {
        (Some(k), _) => Firmware::Kernel {
            kernel: k.clone(),
            initrd: a.initrd.clone(),
            cmdline: a.append.clone(),
        },
        (None, Some(b)) => Firmware::Bios { rom: b.clone() },
        (None, None) => bail!("nothing to boot: give --kernel FILE or --bios FILE"),
    };
    if let Some(t) = a.timeout
        && !(t.is_finite() && t > 0.0)
    {
        bail!("--timeout must be a positive number of seconds");
    }
    console::check_stdio(&[&a.serial, &a.debugcon])?;
    let config = Config {
        memory: a.memory,
        firmware,
        debug_exit: a.debug_exit,
        debugcon_port: 0xE9,
        no_reboot: a.no_reboot,
        engine: a.engine,
        switch_every: a.switch_every,
        stats: a.stats,
    };

    let (tx, rx) = std::sync::mpsc::channel();
    let mut _raw = None;
    let serial_input = match a.serial {
        Backend::Stdio => {
            let guard = console::raw_stdin();
            let escapes = guard_is_raw(&guard);
            _raw = Some(guard);
            console::spawn_stdin_reader(tx.clone(), escapes);
            None
        }
        Backend::Unix(_) => Some(tx.clone()),
        _ => None,
    };
    let io = HostIo {
        serial: console::open(&a.serial, serial_input)?,
        debugcon: console::open(&a.debugcon, None)?,
        post_log: match &a.post_log {
            Some(p) => Some(Box::new(
                std::fs::File::create(p).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?,
            )),
            None => None,
        },
        input: Some(rx),
    };
    drop(tx);
    let mut m = Machine::new(config, io)?;
    let outcome = m.run(a.timeout.map(Duration::from_secs_f64));
    m.flush_output();
    drop(_raw);
    if let Some(r) = m.stats_report() {
        eprint!("{r}");
    }
    Ok(match outcome {
        Outcome::PoweredOff | Outcome::Reset | Outcome::Quit => ExitCode::SUCCESS,
        Outcome::TripleFault => {
            eprintln!("ringvisor: triple fault; CPU state:\n{}", m.dump_state());
            ExitCode::from(2)
        }
        Outcome::DebugExit(v) => ExitCode::from((((v << 1) | 1) & 0xFF) as u8),
        Outcome::Timeout => {
            eprintln!("ringvisor: timeout after {} s", a.timeout.unwrap_or(0.0));
            if std::env::var_os("RINGVISOR_DUMP").is_some() {
                eprintln!("{}", m.dump_state());
            }
            ExitCode::from(124)
        }
    })
}

fn guard_is_raw(_g: &console::RawModeGuard) -> bool {
    rustix::termios::isatty(std::io::stdin())
}
