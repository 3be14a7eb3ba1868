//! The `ringvisor` command line.

mod cmd;
mod console;
mod size;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ringvisor",
    version,
    about = "A virtual machine monitor for x86 PCs (software virtualization, raw-mode design)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a virtual PC.
    Run(Box<cmd::run::Args>),
    /// Build an initramfs (newc cpio) around a static busybox.
    Initramfs(cmd::initramfs::Args),
    /// Run SingleStepTests CPU vectors (*.json.gz) against the interpreter.
    Sst(cmd::sst::Args),
    /// Measure performance: engine MIPS, boot times (direct and through SeaBIOS), comparison with QEMU TCG and the host.
    Bench(cmd::bench::Args),
    /// Compare the recompiler with the interpreter, block by block, on
    /// generated guests.
    Lockstep(cmd::lockstep::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RINGVISOR_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One clear line (clap's first), status 1 like every other
            // user error.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("ringvisor: {first} (see ringvisor --help)");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(*a),
        Command::Initramfs(a) => cmd::initramfs::run(a),
        Command::Sst(a) => cmd::sst::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Lockstep(a) => cmd::lockstep::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringvisor: {e:#}");
            ExitCode::from(1)
        }
    }
}
