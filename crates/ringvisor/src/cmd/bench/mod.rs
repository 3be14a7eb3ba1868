//! `ringvisor bench`: performance figures that go into docs/performance.md.
//!
//! - `interp`: MIPS of an engine on a fixed CPU-bound guest program;
//! - `boot`: time to a Linux shell, and the idle guest's host CPU;
//! - `bios`: SeaBIOS booting a disk image: time to the boot loader and to
//!   the shell;
//! - `compare`: the same Linux guest and workloads on ringvisor's engines,
//!   QEMU TCG and natively on the host, with ratios.

mod boot;
mod compare;
mod interp;

use anyhow::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// What to measure: `interp` (MIPS on a fixed guest program), `boot`
    /// (time from start to a Linux shell, then idle host CPU), `bios`
    /// (SeaBIOS booting a disk image: time to the boot loader and to the
    /// shell) or `compare` (Linux workloads on every engine, QEMU TCG and
    /// the host).
    #[arg(value_parser = ["interp", "boot", "bios", "compare"], default_value = "interp")]
    what: String,
    /// Rounds of the interpreter workload (one round is about 2.9 million instructions).
    #[arg(long, default_value_t = 100)]
    rounds: u32,
    /// For `boot`: the kernel (default: the guest assets' vmlinuz).
    #[arg(long)]
    kernel: Option<std::path::PathBuf>,
    /// For `boot`: the initramfs (default: the guest assets' initramfs.cpio.gz).
    #[arg(long)]
    initrd: Option<std::path::PathBuf>,
    /// For `boot`: kernel command line.
    #[arg(long, default_value = "console=ttyS0")]
    append: String,
    /// For `boot`: the line that means the shell is ready.
    #[arg(long, default_value = "ringvisor-guest: ready")]
    ready: String,
    /// Engine to measure.
    #[arg(long, default_value = "interpreter")]
    engine: exec::Choice,
    /// For `boot`: seconds of idling to measure afterwards (0: skip).
    #[arg(long, default_value_t = 10.0)]
    idle: f64,
    /// For `bios`: the disk image SeaBIOS boots (default: the guest images' disk.img).
    #[arg(long)]
    disk: Option<std::path::PathBuf>,
    /// For `bios`: the boot loader's banner on COM1.
    #[arg(long, default_value = "SYSLINUX")]
    loader: String,
    /// For `compare`: the QEMU binary.
    #[arg(long, default_value = "qemu-system-i386")]
    qemu: std::path::PathBuf,
    /// For `compare`: iterations of the busybox shell loop.
    #[arg(long, default_value_t = 100_000)]
    loops: u32,
    /// For `compare`: MiB that md5sum hashes.
    #[arg(long, default_value_t = 64)]
    md5_mib: u32,
    /// For `compare`: only these systems (comma-separated: interpreter,
    /// recompiler, auto, qemu, native).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// For `compare`: rounds of runs (every system once per round); the
    /// table gives each system's median.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
    repeat: u32,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let assets = std::path::PathBuf::from(std::env::var_os("RINGVISOR_ASSETS").unwrap_or_else(|| "target/guest-assets".into()));
    let kernel = a.kernel.clone().unwrap_or_else(|| assets.join("vmlinuz"));
    match a.what.as_str() {
        "boot" => {
            let initrd = a.initrd.unwrap_or_else(|| assets.join("initramfs.cpio.gz"));
            boot::boot(a.engine, kernel, initrd, a.append, &a.ready, a.idle)
        }
        "bios" => {
            let disk = a.disk.unwrap_or_else(|| assets.join("images/disk.img"));
            boot::bios(a.engine, disk, &a.loader, &a.ready)
        }
        "compare" => compare::run(&compare::Options {
            kernel,
            busybox: assets.join("busybox"),
            qemu: a.qemu,
            loops: a.loops,
            md5_mib: a.md5_mib,
            only: a.only,
            repeat: a.repeat,
        }),
        _ => interp::run(a.rounds, a.engine),
    }
}
