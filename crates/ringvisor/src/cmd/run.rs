//! `ringvisor run`: build a PC and run it.

use crate::console::{self, Backend};
use anyhow::{Result, bail};
use devices::block::ImageFormat;
use machine::machine::{HostIo, Outcome};
use machine::{BootDevice, Config, DiskConfig, Firmware, Machine};
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
    /// Without --kernel and --bios: Debian's SeaBIOS (package seabios).
    #[arg(long, value_name = "FILE", conflicts_with = "kernel")]
    bios: Option<PathBuf>,
    /// VGA BIOS offered to SeaBIOS (default: SeaBIOS's vgabios-stdvga.bin when installed).
    #[arg(long, value_name = "FILE", conflicts_with = "kernel")]
    vga_bios: Option<PathBuf>,
    /// Hard disk: FILE[,format=raw|qcow2][,readonly] (repeatable: primary master, primary slave, secondary slave).
    #[arg(long = "disk", value_name = "FILE[,OPTS]", value_parser = parse_disk)]
    disks: Vec<DiskConfig>,
    /// CD-ROM medium (an ISO image) in the drive at the secondary master.
    #[arg(long, value_name = "FILE")]
    cdrom: Option<PathBuf>,
    /// First boot device for the BIOS: disk or cdrom (QEMU's c and d also work).
    #[arg(long, value_name = "DEVICE", value_parser = parse_boot)]
    boot: Option<BootDevice>,
    /// The VGA screen: none, or text (drawn on this terminal, which then types on the PS/2 keyboard).
    #[arg(long, default_value = "none", value_parser = ["none", "text"])]
    display: String,
    /// At exit, save the screen: FILE.png as an image, any other name as the text screen.
    #[arg(long, value_name = "FILE")]
    screenshot: Option<PathBuf>,
    /// Guest RAM (e.g. 256M, 1G; a bare number is MiB).
    #[arg(long, short = 'm', default_value = "256M", value_parser = crate::size::parse)]
    memory: u64,
    /// COM1: stdio, none, file:PATH or unix:PATH (default stdio, or none with --display text).
    #[arg(long)]
    serial: Option<Backend>,
    /// Debug console (port 0xE9, and SeaBIOS's log port 0x402): stdio, none, file:PATH or unix:PATH.
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

/// `FILE[,format=raw|qcow2][,readonly]`.
fn parse_disk(s: &str) -> Result<DiskConfig, String> {
    let mut parts = s.split(',');
    let path = parts.next().filter(|p| !p.is_empty()).ok_or("--disk needs a file name")?;
    let mut d = DiskConfig {
        path: path.into(),
        format: None,
        read_only: false,
    };
    for opt in parts {
        match opt {
            "readonly" | "readonly=on" => d.read_only = true,
            "format=raw" => d.format = Some(ImageFormat::Raw),
            "format=qcow2" => d.format = Some(ImageFormat::Qcow2),
            _ => return Err(format!("unknown disk option '{opt}' (use format=raw, format=qcow2 or readonly)")),
        }
    }
    Ok(d)
}

fn parse_boot(s: &str) -> Result<BootDevice, String> {
    match s {
        "disk" | "c" | "hd" => Ok(BootDevice::Disk),
        "cdrom" | "d" | "cd" => Ok(BootDevice::Cdrom),
        _ => Err(format!("'{s}' is not a boot device (use disk or cdrom)")),
    }
}

/// Where Debian's seabios package puts its images.
const SEABIOS: &str = "/usr/share/seabios/bios.bin";
const VGABIOS: &str = "/usr/share/seabios/vgabios-stdvga.bin";

/// The firmware to boot: a kernel, the given ROM, or SeaBIOS.
fn firmware(a: &Args) -> Result<Firmware> {
    if let Some(k) = &a.kernel {
        return Ok(Firmware::Kernel {
            kernel: k.clone(),
            initrd: a.initrd.clone(),
            cmdline: a.append.clone(),
        });
    }
    let rom = match &a.bios {
        Some(b) => b.clone(),
        None if a.disks.is_empty() && a.cdrom.is_none() => {
            bail!("nothing to boot: give --kernel FILE, --disk FILE, --cdrom FILE or --bios FILE")
        }
        None if std::path::Path::new(SEABIOS).exists() => PathBuf::from(SEABIOS),
        None => bail!(
            "booting --disk/--cdrom needs SeaBIOS at {SEABIOS} (Debian package seabios: apt-get install seabios; \
             scripts/guest-images.sh does) or --bios FILE"
        ),
    };
    let vga_bios = match &a.vga_bios {
        Some(v) => Some(v.clone()),
        None => Some(PathBuf::from(VGABIOS)).filter(|p| p.exists()),
    };
    Ok(Firmware::Bios { rom, vga_bios })
}

pub fn run(a: Args) -> Result<ExitCode> {
    let display = a.display == "text";
    let serial = a.serial.clone().unwrap_or(if display { Backend::None } else { Backend::Stdio });
    if display && (serial == Backend::Stdio || a.debugcon == Backend::Stdio) {
        bail!("--display text uses the terminal: --serial and --debugcon cannot be stdio with it");
    }
    let firmware = firmware(&a)?;
    if let Some(t) = a.timeout
        && !(t.is_finite() && t > 0.0)
    {
        bail!("--timeout must be a positive number of seconds");
    }
    console::check_stdio(&[&serial, &a.debugcon])?;
    let config = Config {
        memory: a.memory,
        firmware,
        debug_exit: a.debug_exit,
        debugcon_port: 0xE9,
        no_reboot: a.no_reboot,
        engine: a.engine,
        switch_every: a.switch_every,
        stats: a.stats,
        disks: a.disks.clone(),
        cdrom: a.cdrom.clone(),
        boot: a.boot,
    };

    let (tx, rx) = std::sync::mpsc::channel();
    let mut _raw = None;
    let serial_input = match serial {
        _ if display => {
            let guard = console::raw_stdin();
            _raw = Some(guard);
            console::spawn_stdin_reader(tx.clone(), true);
            None
        }
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
        serial: console::open(&serial, serial_input)?,
        debugcon: console::open(&a.debugcon, None)?,
        post_log: match &a.post_log {
            Some(p) => Some(Box::new(
                std::fs::File::create(p).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?,
            )),
            None => None,
        },
        input: Some(rx),
        display: display.then(|| Box::new(std::io::stdout()) as Box<dyn std::io::Write + Send>),
    };
    drop(tx);
    let mut m = Machine::new(config, io)?;
    let outcome = m.run(a.timeout.map(Duration::from_secs_f64));
    m.flush_output();
    drop(_raw);
    if let Some(p) = &a.screenshot {
        screenshot(&m, p)?;
    }
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

/// Save the screen as the user asked: PNG by extension, otherwise text.
fn screenshot(m: &Machine, path: &std::path::Path) -> Result<()> {
    let vga = &m.board.vga;
    let data = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        vga.render()
            .to_png()
            .map_err(|e| anyhow::anyhow!("cannot encode the screenshot: {e}"))?
    } else {
        match vga.text_screen() {
            Some(t) => t.text().into_bytes(),
            None => bail!("the screen is in a graphics mode: save the screenshot as a .png"),
        }
    };
    std::fs::write(path, data).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
