//! `ringvisor bench`: performance figures that go into docs/performance.md.
//!
//! `interp` runs a fixed CPU-bound guest program on the interpreter and
//! reports MIPS (guest instructions retired per second of host time). The
//! program runs in 32-bit protected mode with paging on (4 MiB identity
//! pages) at CPL 0 and mixes what real code does: a linear-congruential
//! fill of a 64 KiB buffer (IMUL, ADD, stores), a bitwise CRC-32 over it
//! (shifts, conditional branches, XOR), and an insertion sort of 1024
//! dwords (loads, compares, stores, nested loops). It ends with HLT and is
//! repeated for the requested number of rounds.

use anyhow::{Result, anyhow};
use cpu::segment::{DescTable, Segment};
use cpu::state::sreg;
use cpu::{CpuState, Engine, Exit, Interpreter, NullBus};
use iced_x86::code_asm::*;
use memory::GuestMemory;
use std::process::ExitCode;
use std::time::Instant;
use x86::descriptor::Descriptor;

#[derive(clap::Args)]
pub struct Args {
    /// What to measure: `interp` (MIPS on a fixed guest program) or `boot`
    /// (time from start to a Linux shell, then idle host CPU).
    #[arg(value_parser = ["interp", "boot"], default_value = "interp")]
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
}

const CODE: u32 = 0x10_0000;
const BUF: u32 = 0x20_0000;
const PDIR: u32 = 0x1000;

/// The benchmark program.
pub fn program(rounds: u32) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    let mut iter = a.create_label();
    let mut fill = a.create_label();
    let mut crc = a.create_label();
    let mut bit = a.create_label();
    let mut nox = a.create_label();
    let mut outer_sort = a.create_label();
    let mut inner_sort = a.create_label();
    let mut place = a.create_label();
    a.mov(ebp, rounds)?;
    a.set_label(&mut iter)?;
    // 1. LCG fill of 16384 dwords.
    a.mov(edi, BUF)?;
    a.mov(ecx, 16384u32)?;
    a.mov(eax, ebp)?;
    a.set_label(&mut fill)?;
    a.imul_3(eax, eax, 1_103_515_245)?;
    a.add(eax, 12345)?;
    a.mov(dword_ptr(edi), eax)?;
    a.add(edi, 4)?;
    a.dec(ecx)?;
    a.jnz(fill)?;
    // 2. Bitwise CRC-32 of the first 16 KiB.
    a.mov(esi, BUF)?;
    a.mov(ecx, 16384u32)?;
    a.mov(edx, 0xFFFF_FFFFu32)?;
    a.set_label(&mut crc)?;
    a.movzx(eax, byte_ptr(esi))?;
    a.xor(edx, eax)?;
    a.mov(ebx, 8)?;
    a.set_label(&mut bit)?;
    a.shr(edx, 1)?;
    a.jnc(nox)?;
    a.xor(edx, 0xEDB8_8320u32)?;
    a.set_label(&mut nox)?;
    a.dec(ebx)?;
    a.jnz(bit)?;
    a.inc(esi)?;
    a.dec(ecx)?;
    a.jnz(crc)?;
    a.mov(dword_ptr(BUF + 0x1_0000), edx)?;
    // 3. Insertion sort of the first 1024 dwords.
    a.mov(esi, 1)?;
    a.set_label(&mut outer_sort)?;
    a.mov(eax, dword_ptr(esi * 4 + BUF))?;
    a.mov(edi, esi)?;
    a.set_label(&mut inner_sort)?;
    a.test(edi, edi)?;
    a.jz(place)?;
    a.mov(edx, dword_ptr(edi * 4 + BUF - 4))?;
    a.cmp(edx, eax)?;
    a.jbe(place)?;
    a.mov(dword_ptr(edi * 4 + BUF), edx)?;
    a.dec(edi)?;
    a.jmp(inner_sort)?;
    a.set_label(&mut place)?;
    a.mov(dword_ptr(edi * 4 + BUF), eax)?;
    a.inc(esi)?;
    a.cmp(esi, 1024)?;
    a.jb(outer_sort)?;
    a.dec(ebp)?;
    a.jnz(iter)?;
    a.hlt()?;
    a.assemble(CODE as u64)
}

/// A CPU in flat 32-bit protected mode with paging by 4 MiB identity pages.
pub fn setup(mem: &mut GuestMemory, code: &[u8]) -> CpuState {
    let mut s = CpuState::reset();
    let code_d = Descriptor::new(0x00CF_9B00_0000_FFFF);
    let data_d = Descriptor::new(0x00CF_9300_0000_FFFF);
    s.cr0 = x86::cr::cr0::PE | x86::cr::cr0::ET | x86::cr::cr0::PG;
    s.cr4 = x86::cr::cr4::PSE;
    s.cr3 = PDIR;
    s.gdtr = DescTable { base: 0, limit: 0 };
    s.seg[sreg::CS] = Segment::from_descriptor(0x08, code_d);
    for i in [sreg::DS, sreg::ES, sreg::SS, sreg::FS, sreg::GS] {
        s.seg[i] = Segment::from_descriptor(0x10, data_d);
    }
    s.gpr[4] = 0x8_0000;
    s.eip = CODE;
    s.set_eflags(2);
    // Page directory: 4 MiB identity pages, present, writable, accessed, dirty.
    let pd: Vec<u8> = (0..1024u32).flat_map(|i| ((i << 22) | 0xE3).to_le_bytes()).collect();
    mem.write_phys(PDIR as u64, &pd);
    mem.write_phys(CODE as u64, code);
    s
}

pub fn run(a: Args) -> Result<ExitCode> {
    if a.what == "boot" {
        let assets = std::path::PathBuf::from(std::env::var_os("RINGVISOR_ASSETS").unwrap_or_else(|| "target/guest-assets".into()));
        let kernel = a.kernel.unwrap_or_else(|| assets.join("vmlinuz"));
        let initrd = a.initrd.unwrap_or_else(|| assets.join("initramfs.cpio.gz"));
        return boot(a.engine, kernel, initrd, a.append, &a.ready, a.idle);
    }
    let code = program(a.rounds).map_err(|e| anyhow!("assembling the benchmark: {e}"))?;
    let mut mem = GuestMemory::new(16 << 20)?;
    let mut s = setup(&mut mem, &code);
    let mut recomp;
    let mut interp;
    let engine: &mut dyn Engine = match a.engine {
        exec::Choice::Interpreter => {
            interp = Interpreter::new();
            &mut interp
        }
        exec::Choice::Recompiler => {
            recomp = recompiler::Recompiler::new(1)?;
            &mut recomp
        }
        exec::Choice::Auto => {
            recomp = recompiler::Recompiler::new(exec::AUTO_THRESHOLD)?;
            &mut recomp
        }
    };
    let mut bus = NullBus::default();
    let t = Instant::now();
    loop {
        match engine.run(&mut s, &mut mem, &mut bus, 10_000_000) {
            Exit::Budget => continue,
            Exit::Halted => break,
            other => return Err(anyhow!("benchmark stopped unexpectedly: {other:?}\n")),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let n = engine.instructions();
    let crc = u32::from_le_bytes({
        let mut b = [0u8; 4];
        mem.read_phys(BUF as u64 + 0x1_0000, &mut b);
        b
    });
    println!(
        "{}: {n} instructions in {secs:.3} s = {:.1} MIPS (rounds {}, crc {crc:08x})",
        engine.name(),
        n as f64 / secs / 1e6,
        a.rounds
    );
    let report = engine.stats_report();
    if !report.is_empty() {
        println!("  {report}");
    }
    Ok(ExitCode::SUCCESS)
}

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
