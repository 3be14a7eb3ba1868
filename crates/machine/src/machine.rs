//! The machine and its run loop.

use crate::MachineError;
use crate::board::Board;
use crate::boot::{bios, linux, multiboot, seabios};
use crate::chipset::{BusMaster, Chipset};
use crate::clock::Clock;
use crate::config::{Config, Firmware};
use crate::display::TextDisplay;
use crate::stats::{Report, RunStats};
use cpu::state::sreg;
use cpu::{CpuState, Exit};
use devices::vga::pci::StdVgaPci;
use exec::ExecManager;
use memory::GuestMemory;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};
use x86::flags as fl;

/// What the host sends the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostInput {
    /// Bytes typed on the serial console.
    Serial(Vec<u8>),
    /// The user asked to quit (escape key).
    Quit,
}

/// Where the machine's output goes, and where its input comes from.
#[derive(Default)]
pub struct HostIo {
    pub serial: Option<Box<dyn Write + Send>>,
    pub debugcon: Option<Box<dyn Write + Send>>,
    pub post_log: Option<Box<dyn Write + Send>>,
    pub input: Option<Receiver<HostInput>>,
    /// `--display text`: draw the VGA text screen here; host input then
    /// goes to the keyboard instead of COM1.
    pub display: Option<Box<dyn Write + Send>>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// HLT with interrupts disabled and nothing that can wake the CPU:
    /// how a PC without ACPI powers off.
    PoweredOff,
    /// The guest reset the machine and `no_reboot` was set.
    Reset,
    /// A triple fault with `no_reboot` set.
    TripleFault,
    /// The guest wrote this value to the debug-exit port.
    DebugExit(u32),
    /// The run's time limit passed.
    Timeout,
    /// The user quit.
    Quit,
}

/// Instruction budget of one engine run: long enough to amortise the
/// loop, short enough to serve timers and consoles promptly. The budget
/// is sized from the engine's measured speed so that a run ends near the
/// next device deadline and lasts at most `MAX_RUN`.
const MIN_BUDGET: u64 = 1_000;
const MAX_BUDGET: u64 = 2_000_000;
const MAX_RUN_NS: f64 = 1_000_000.0;
/// Longest idle sleep without a device deadline.
const IDLE_SLEEP: Duration = Duration::from_millis(50);

pub struct Machine {
    pub cpu: CpuState,
    pub mem: GuestMemory,
    pub engine: ExecManager,
    pub board: Board,
    pub io: HostIo,
    config: Config,
    /// Files read at build time, kept for reboots.
    kernel: Vec<u8>,
    initrd: Option<Vec<u8>>,
    rom: Option<Vec<u8>>,
    pending_input: VecDeque<u8>,
    pub resets: u64,
    /// Host nanoseconds per guest instruction, a moving average.
    ns_per_insn: f64,
    /// Run-loop statistics, when `Config::stats` asked for them.
    stats: Option<Box<RunStats>>,
    chipset: Chipset,
    display: Option<TextDisplay>,
}

fn read(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, MachineError> {
    std::fs::read(path).map_err(|source| MachineError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

impl Machine {
    /// Build a machine and load its firmware or kernel.
    pub fn new(config: Config, io: HostIo) -> Result<Self, MachineError> {
        let mut mem = GuestMemory::new(config.memory)?;
        let clock = Clock::new();
        let mut board = Board::new(clock, config.debug_exit, config.debugcon_port);
        board.rtc.set_memory_size(config.memory, 0);
        // An FPU and a VGA, no floppy.
        board.rtc.set_equipment(0x02);
        crate::storage::attach(&mut board, &config)?;
        let vga_fn = StdVgaPci::new(board.vga.vram_size() as u64, 0).map_err(|e| MachineError::Config(e.to_string()))?;
        board
            .pci
            .add(StdVgaPci::devfn(), Box::new(vga_fn))
            .map_err(|e| MachineError::Config(e.to_string()))?;
        let (kernel, initrd, rom) = match &config.firmware {
            Firmware::Kernel { kernel, initrd, .. } => (
                read("kernel", kernel)?,
                initrd.as_deref().map(|p| read("initrd", p)).transpose()?,
                None,
            ),
            Firmware::Bios { rom, .. } => (Vec::new(), None, Some(read("firmware image", rom)?)),
        };
        let chipset = Chipset::new(&mut mem, None)?;
        let engine = ExecManager::new(config.engine, config.switch_every)
            .map_err(|e| MachineError::Config(format!("cannot set up the {:?} engine: {e}", config.engine)))?;
        let mut m = Self {
            cpu: CpuState::reset(),
            mem,
            engine,
            board,
            io,
            config,
            kernel,
            initrd,
            rom,
            pending_input: VecDeque::new(),
            resets: 0,
            ns_per_insn: 5.0,
            stats: None,
            chipset,
            display: None,
        };
        m.display = m.io.display.take().map(TextDisplay::new);
        if m.config.stats {
            m.stats = Some(Box::default());
            m.board.io_stats = Some(Box::default());
            m.engine.enable_stats();
        }
        if let Some(rom) = m.rom.take() {
            let window = bios::map(&mut m.mem, rom.clone()).map_err(|reason| MachineError::BadImage {
                path: m.firmware_path(),
                reason,
            })?;
            m.chipset.set_bios(window);
            m.rom = Some(rom);
            if let Firmware::Bios { vga_bios, .. } = &m.config.firmware {
                let vga = vga_bios.as_deref().map(|p| read("VGA BIOS", p)).transpose()?;
                m.board.fw_cfg = Some(seabios::fw_cfg(&m.config, vga)?);
            }
        }
        m.chipset.sync(&mut m.board, &mut m.mem);
        m.boot()?;
        Ok(m)
    }

    fn firmware_path(&self) -> String {
        match &self.config.firmware {
            Firmware::Kernel { kernel, .. } => kernel.display().to_string(),
            Firmware::Bios { rom, .. } => rom.display().to_string(),
        }
    }

    /// Put the CPU at the start of the firmware or kernel.
    fn boot(&mut self) -> Result<(), MachineError> {
        self.cpu = CpuState::reset();
        let Firmware::Kernel {
            cmdline,
            initrd: initrd_path,
            ..
        } = &self.config.firmware
        else {
            return Ok(());
        };
        let ram = self.config.memory;
        let path = self.firmware_path();
        // No firmware will set a video mode: leave the VGA as a BIOS would.
        self.board.vga.set_standard_mode(devices::vga::StandardMode::Text80x25);
        let bad = |reason: String| MachineError::BadKernel {
            path: path.clone(),
            reason,
        };
        if linux::is_bzimage(&self.kernel) {
            linux::load(&mut self.cpu, &mut self.mem, ram, &self.kernel, self.initrd.as_deref(), cmdline).map_err(bad)?;
        } else if multiboot::find_header(&self.kernel).is_some() {
            let name = initrd_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            let mods: Vec<multiboot::Module> = self
                .initrd
                .iter()
                .map(|d| multiboot::Module {
                    data: d,
                    cmdline: name.clone(),
                })
                .collect();
            multiboot::load(&mut self.cpu, &mut self.mem, ram, &self.kernel, cmdline, &mods).map_err(bad)?;
        } else {
            return Err(bad("neither a Linux bzImage nor a Multiboot kernel".into()));
        }
        Ok(())
    }

    /// Reset the whole PC (CPU, devices) and boot again.
    pub fn reset(&mut self) {
        self.resets += 1;
        self.board.reset();
        // PAM is back to its reset value: the reset vector's far jump
        // into 0xF0000 must read the ROM, not last boot's shadow copy.
        self.chipset.sync(&mut self.board, &mut self.mem);
        self.engine.flush();
        if let Err(e) = self.boot() {
            // The images were valid at start; a failure now is a bug, but
            // not worth a panic: stay in the reset state.
            tracing::error!("reboot failed: {e}");
        }
    }

    /// Run until the guest powers off, resets (with `no_reboot`), exits,
    /// the user quits, or `timeout` passes. Disk writes are synced to the
    /// host files before it returns.
    pub fn run(&mut self, timeout: Option<Duration>) -> Outcome {
        let o = self.run_loop(timeout);
        self.flush_disks();
        if let Some(d) = &mut self.display {
            d.draw(&self.board.vga, true);
            d.finish();
        }
        o
    }

    /// Sync every disk image to its host file.
    pub fn flush_disks(&mut self) {
        if let Some(ide) = self.board.pci.ide_mut()
            && let Err(e) = ide.flush_all()
        {
            tracing::error!("flushing disk images failed: {e}");
        }
    }

    /// Serve what devices asked of the machine during the last run:
    /// remapping after chipset register writes, bus-master transfers.
    fn serve_requests(&mut self) {
        if std::mem::take(&mut self.board.requests.remap) {
            self.chipset.sync(&mut self.board, &mut self.mem);
        }
        if std::mem::take(&mut self.board.requests.dma) {
            let now = self.board.clock.now();
            let mut bm = BusMaster(&mut self.mem);
            if let Some(ide) = self.board.pci.ide_mut() {
                ide.run_dma(&mut bm, now);
            }
            if let Some(f) = &mut self.board.fw_cfg {
                f.run_dma(&mut bm);
            }
        }
    }

    fn run_loop(&mut self, timeout: Option<Duration>) -> Outcome {
        let deadline = timeout.map(|t| Instant::now() + t);
        // Host time the loop itself takes between engine runs (not idle
        // sleep) is held back from the guest's clock.
        let mut overhead_from: Option<Instant> = None;
        loop {
            if let Some(t) = overhead_from.take() {
                self.board.clock.stall(t.elapsed().as_nanos() as u64);
                if let Some(st) = &mut self.stats {
                    st.between_runs.add(t);
                }
            }
            let now = self.board.clock.now();
            let until = self
                .board
                .next_deadline()
                .map_or(MAX_RUN_NS, |d| (d.saturating_sub(now) as f64).min(MAX_RUN_NS));
            let budget = ((until / self.ns_per_insn) as u64).clamp(MIN_BUDGET, MAX_BUDGET);
            let before = self.engine.instructions();
            let started = Instant::now();
            let exit = self.engine.run(&mut self.cpu, &mut self.mem, &mut self.board, budget);
            overhead_from = Some(Instant::now());
            if let Some(st) = &mut self.stats {
                st.exits.entry(exit_reason(exit)).or_default().add(started);
            }
            let ran = self.engine.instructions() - before;
            if ran >= MIN_BUDGET {
                let measured = started.elapsed().as_nanos() as f64 / ran as f64;
                self.ns_per_insn = (0.8 * self.ns_per_insn + 0.2 * measured).clamp(0.2, 1000.0);
            }
            self.sync_a20();
            self.serve_requests();
            self.flush_output();
            let now = self.board.clock.now();
            self.board.advance(now);
            if let Some(o) = self.take_input() {
                return o;
            }
            if let Some(v) = self.board.requests.debug_exit.take() {
                return Outcome::DebugExit(v);
            }
            if std::mem::take(&mut self.board.requests.reset) {
                if self.config.no_reboot {
                    return Outcome::Reset;
                }
                self.reset();
                continue;
            }
            match exit {
                Exit::Shutdown => {
                    if self.config.no_reboot {
                        return Outcome::TripleFault;
                    }
                    self.reset();
                }
                Exit::Halted => {
                    if !self.cpu.flag(fl::IF) {
                        self.flush_output();
                        return Outcome::PoweredOff;
                    }
                    // Sleeping is not overhead: the guest waits in real time.
                    overhead_from = None;
                    let slept = Instant::now();
                    let o = self.idle(deadline);
                    if let Some(st) = &mut self.stats {
                        st.idle.add(slept);
                    }
                    if let Some(o) = o {
                        return o;
                    }
                }
                Exit::Budget | Exit::Stopped => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.flush_output();
                return Outcome::Timeout;
            }
        }
    }

    /// The statistics of the run so far (`None` unless `Config::stats`).
    pub fn stats_report(&self) -> Option<String> {
        let run = self.stats.as_deref()?;
        let io = self.board.io_stats.as_deref()?;
        let board = &self.board;
        Some(
            Report {
                run,
                io,
                instructions: self.engine.instructions(),
                port_name: &|p| board.port_name(p),
                mmio_name: &|r| board.mmio_name(r),
                engines: self.engine.stats_reports(),
                switches: self.engine.stats.switches,
            }
            .render(),
        )
    }

    /// The guest waits for an interrupt: sleep until the next device
    /// deadline or host input, so an idle guest costs no host CPU.
    fn idle(&mut self, deadline: Option<Instant>) -> Option<Outcome> {
        if self.board.interrupt_pending_now() {
            return None;
        }
        let mut wait = match self.board.next_deadline() {
            Some(d) => self.board.clock.until(d),
            None => IDLE_SLEEP,
        };
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        if !self.pending_input.is_empty() {
            wait = wait.min(Duration::from_millis(1));
        }
        if self.display.is_some() {
            // Keep the screen and the keyboard going while the guest idles.
            wait = wait.min(crate::display::FRAME);
        }
        if wait.is_zero() {
            return None;
        }
        match &self.io.input {
            Some(rx) => match rx.recv_timeout(wait) {
                Ok(HostInput::Serial(b)) => self.host_typed(&b),
                Ok(HostInput::Quit) => return Some(Outcome::Quit),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.io.input = None;
                }
            },
            None => std::thread::sleep(wait),
        }
        let now = self.board.clock.now();
        self.board.advance(now);
        self.feed_serial();
        None
    }

    /// Drain host input without blocking; feed the UART.
    fn take_input(&mut self) -> Option<Outcome> {
        let mut typed = Vec::new();
        let mut quit = false;
        if let Some(rx) = &self.io.input {
            loop {
                match rx.try_recv() {
                    Ok(HostInput::Serial(b)) => typed.extend(b),
                    Ok(HostInput::Quit) => {
                        quit = true;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.io.input = None;
                        break;
                    }
                }
            }
        }
        self.host_typed(&typed);
        if quit {
            return Some(Outcome::Quit);
        }
        self.feed_serial();
        None
    }

    /// Bytes from the host console: for the keyboard with a display,
    /// otherwise for COM1.
    fn host_typed(&mut self, bytes: &[u8]) {
        match &mut self.display {
            Some(d) => d.type_bytes(bytes),
            None => self.pending_input.extend(bytes),
        }
    }

    /// Move pending host input into COM1 as far as its FIFO has room, and
    /// typed keys into the keyboard.
    fn feed_serial(&mut self) {
        if let Some(d) = &mut self.display {
            d.feed(&mut self.board.kbc);
        }
        let room = self.board.uarts[0].rx_space().min(self.pending_input.len());
        if room > 0 {
            let bytes: Vec<u8> = self.pending_input.drain(..room).collect();
            self.board.uarts[0].push_input(&bytes);
        }
    }

    /// Hand device output to the host sinks.
    pub fn flush_output(&mut self) {
        let serial = self.board.uarts[0].take_output();
        if !serial.is_empty()
            && let Some(w) = &mut self.io.serial
        {
            let _ = w.write_all(&serial);
            let _ = w.flush();
        }
        if let Some(d) = &mut self.display {
            d.draw(&self.board.vga, false);
        }
        let mut dbg = self.board.debugcon.take_output();
        dbg.extend(self.board.firmware_log.take_output());
        if !dbg.is_empty()
            && let Some(w) = &mut self.io.debugcon
        {
            let _ = w.write_all(&dbg);
            let _ = w.flush();
        }
        let post = self.board.post.take_codes();
        if !post.is_empty()
            && let Some(w) = &mut self.io.post_log
        {
            for (_, code) in post {
                let _ = writeln!(w, "{code:02x}");
            }
            let _ = w.flush();
        }
    }

    /// Apply the A20 gate the board's devices set.
    fn sync_a20(&mut self) {
        if self.board.a20 != self.cpu.a20_enabled() {
            tracing::debug!(on = self.board.a20, "A20 gate");
            self.cpu.set_a20(self.board.a20);
            self.engine.state_changed();
        }
    }

    /// A readable dump of the CPU state (triple faults, debugging).
    pub fn dump_state(&self) -> String {
        let s = &self.cpu;
        let g = &s.gpr;
        let mut out = format!(
            "EAX={:08x} EBX={:08x} ECX={:08x} EDX={:08x}\nESI={:08x} EDI={:08x} EBP={:08x} ESP={:08x}\nEIP={:08x} EFL={:08x} CPL={} CR0={:08x} CR2={:08x} CR3={:08x} CR4={:08x}\n",
            g[0],
            g[3],
            g[1],
            g[2],
            g[6],
            g[7],
            g[5],
            g[4],
            s.eip,
            s.eflags(),
            s.cpl,
            s.cr0,
            s.cr2,
            s.cr3,
            s.cr4
        );
        for (name, i) in [
            ("ES", sreg::ES),
            ("CS", sreg::CS),
            ("SS", sreg::SS),
            ("DS", sreg::DS),
            ("FS", sreg::FS),
            ("GS", sreg::GS),
        ] {
            let sg = &s.seg[i];
            out += &format!(
                "{name} ={:04x} base={:08x} limit={:08x} attr={:04x}\n",
                sg.selector,
                sg.base(),
                sg.limit(),
                sg.attr()
            );
        }
        out += &format!(
            "GDT={:08x}/{:x} IDT={:08x}/{:x} LDTR={:04x} TR={:04x}\n",
            s.gdtr.base, s.gdtr.limit, s.idtr.base, s.idtr.limit, s.ldtr.selector, s.tr.selector
        );
        if !s.paging() {
            let mut code = [0u8; 16];
            self.mem.read_phys(s.seg[sreg::CS].base().wrapping_add(s.eip) as u64, &mut code);
            out += &format!(
                "code at CS:EIP: {}\n",
                code.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
            );
        }
        out += &format!("instructions: {} resets: {}\n", self.engine.instructions(), self.resets);
        out
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// How statistics name an engine's return.
fn exit_reason(e: Exit) -> &'static str {
    match e {
        Exit::Budget => "budget (device deadline, timers)",
        Exit::Halted => "HLT",
        Exit::Shutdown => "shutdown (triple fault)",
        Exit::Stopped => "stopped (device request)",
    }
}
