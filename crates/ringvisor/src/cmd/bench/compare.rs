//! `ringvisor bench compare`: one Linux guest and its workloads on every
//! system that can run them, timed from the host, with ratios.
//!
//! The guest is Debian's i686 kernel with an initramfs whose `/init` prints
//! a marker line when its shell would be ready, then hashes `md5_mib` MiB
//! of zeros with busybox `md5sum`, runs a busybox shell loop of `loops`
//! iterations, and powers off, printing a marker after each step. Each
//! system runs as a child process with the serial console on a pipe; the
//! host timestamps the markers as they arrive:
//!
//! - boot: process start to the ready marker;
//! - md5sum: ready marker to the md5 marker;
//! - shell loop: md5 marker to the loop marker.
//!
//! "native" runs the same two workloads with the same i386 busybox on the
//! host (x86-64 Linux runs i386 binaries). Every guest's md5 sum is
//! checked against the host's, so a wrong engine cannot look fast.

use anyhow::{Context, Result, anyhow, bail};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Options {
    pub kernel: PathBuf,
    pub busybox: PathBuf,
    pub qemu: PathBuf,
    pub loops: u32,
    pub md5_mib: u32,
    pub only: Vec<String>,
    /// Rounds of runs; the table shows each system's median.
    pub repeat: u32,
}

const READY: &str = "bench: ready";
const MD5_DONE: &str = "bench: md5 done";
const LOOP_DONE: &str = "bench: loop done";
/// Longest a single system may take for the whole guest.
const RUN_LIMIT: Duration = Duration::from_secs(1800);

fn md5_command(mib: u32) -> String {
    format!("dd if=/dev/zero bs=1M count={mib} 2>/dev/null | md5sum")
}

fn loop_command(loops: u32) -> String {
    format!("i=0; while [ $i -lt {loops} ]; do i=$((i+1)); done")
}

fn init_script(o: &Options) -> String {
    format!(
        "#!/bin/sh\n\
         /bin/busybox --install -s\n\
         mount -t proc proc /proc\n\
         mount -t devtmpfs devtmpfs /dev 2>/dev/null\n\
         echo '{READY}'\n\
         {md5}\n\
         echo '{MD5_DONE}'\n\
         {lp}\n\
         echo '{LOOP_DONE}'\n\
         poweroff -f\n",
        md5 = md5_command(o.md5_mib),
        lp = loop_command(o.loops)
    )
}

/// Timings of one system (seconds); `None` where it does not apply.
#[derive(Default)]
struct Row {
    name: &'static str,
    boot: Option<f64>,
    md5: Option<f64>,
    shell: Option<f64>,
}

pub fn run(o: &Options) -> Result<ExitCode> {
    let busybox =
        std::fs::read(&o.busybox).with_context(|| format!("cannot read busybox {} (run scripts/guest-assets.sh)", o.busybox.display()))?;
    if !o.kernel.is_file() {
        bail!("no kernel at {} (run scripts/guest-assets.sh)", o.kernel.display());
    }
    let dir = PathBuf::from("target/bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let initrd = dir.join("bench-initramfs.cpio.gz");
    let image = super::super::initramfs::build(&busybox, init_script(o).as_bytes(), &[])?;
    std::fs::write(&initrd, image).with_context(|| format!("cannot write {}", initrd.display()))?;
    let wanted = |name: &str| o.only.is_empty() || o.only.iter().any(|w| w == name);

    let native = native_md5(o)?;
    println!(
        "workloads: boot to shell; md5sum of {} MiB of zeros (sum {native}); busybox shell loop of {} iterations",
        o.md5_mib, o.loops
    );
    // Every system once per round, so that a change in the host's load
    // (this is often a shared virtual machine) falls on all of them
    // alike; the median of the rounds then drops a disturbed run.
    let mut rounds = Vec::new();
    let mut qemu = wanted("qemu");
    for round in 1..=o.repeat {
        if o.repeat > 1 {
            println!("round {round} of {}", o.repeat);
        }
        rounds.push(run_round(o, &initrd, &native, &wanted, &mut qemu)?);
    }
    if o.repeat > 1 {
        println!("\nmedians of {} rounds:", o.repeat);
    }
    print_table(&medians(&rounds));
    Ok(ExitCode::SUCCESS)
}

/// Each system's median over the rounds, column by column.
fn medians(rounds: &[Vec<Row>]) -> Vec<Row> {
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| {
            if v.len() % 2 == 1 {
                v[v.len() / 2]
            } else {
                (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
            }
        })
    };
    let Some(first) = rounds.first() else { return Vec::new() };
    first
        .iter()
        .map(|r| {
            let runs: Vec<&Row> = rounds.iter().flatten().filter(|x| x.name == r.name).collect();
            let column = |f: fn(&Row) -> Option<f64>| median(runs.iter().filter_map(|x| f(x)).collect());
            Row {
                name: r.name,
                boot: column(|x| x.boot),
                md5: column(|x| x.md5),
                shell: column(|x| x.shell),
            }
        })
        .collect()
}

/// One run of every wanted system; `qemu` goes false when QEMU cannot run.
fn run_round(o: &Options, initrd: &std::path::Path, native: &str, wanted: &dyn Fn(&str) -> bool, qemu: &mut bool) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    if wanted("native") {
        rows.push(run_native(o)?);
    }
    let me = std::env::current_exe().context("cannot find the ringvisor binary")?;
    let append = "console=ttyS0 quiet";
    for (name, engine) in [
        ("ringvisor interpreter", "interpreter"),
        ("ringvisor recompiler", "recompiler"),
        ("ringvisor auto", "auto"),
    ] {
        if !wanted(engine) {
            continue;
        }
        let mut c = Command::new(&me);
        c.args([
            "run",
            "--engine",
            engine,
            "--serial",
            "stdio",
            "--no-reboot",
            "--memory",
            "256M",
            "--append",
            append,
        ]);
        c.arg("--kernel").arg(&o.kernel).arg("--initrd").arg(initrd);
        rows.push(run_guest(name, c, native)?);
    }
    if *qemu {
        let mut c = Command::new(&o.qemu);
        c.args([
            "-accel",
            "tcg",
            "-m",
            "256",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
            "-append",
            append,
        ]);
        c.arg("-kernel").arg(&o.kernel).arg("-initrd").arg(initrd);
        match run_guest("QEMU TCG", c, native) {
            Ok(r) => rows.push(r),
            Err(e) => {
                eprintln!("QEMU skipped: {e:#} (install qemu-system-x86, or pass --qemu PATH)");
                *qemu = false;
            }
        }
    }
    Ok(rows)
}

/// The host's md5 of the workload (the reference for every guest).
fn native_md5(o: &Options) -> Result<String> {
    let out = Command::new(&o.busybox)
        .args(["sh", "-c", &md5_command(o.md5_mib)])
        .output()
        .with_context(|| format!("cannot run {} on the host", o.busybox.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("busybox md5sum printed nothing on the host"))
}

fn run_native(o: &Options) -> Result<Row> {
    let time = |cmd: &str| -> Result<f64> {
        let t = Instant::now();
        let st = Command::new(&o.busybox).args(["sh", "-c", cmd]).stdout(Stdio::null()).status()?;
        if !st.success() {
            bail!("'{cmd}' failed on the host: {st}");
        }
        Ok(t.elapsed().as_secs_f64())
    };
    Ok(Row {
        name: "native (host CPU)",
        boot: None,
        md5: Some(time(&md5_command(o.md5_mib))?),
        shell: Some(time(&loop_command(o.loops))?),
    })
}

/// Run one guest to power-off, timestamping the markers on its console.
fn run_guest(name: &'static str, mut c: Command, md5: &str) -> Result<Row> {
    eprintln!("running {name}...");
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = c.spawn().with_context(|| format!("cannot start {name}"))?;
    let out = child.stdout.take().ok_or_else(|| anyhow!("no console pipe"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = Vec::new();
        while r.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send((Instant::now(), String::from_utf8_lossy(&line).trim().to_string()));
            line.clear();
        }
    });
    let at = |marker: &str| -> Result<Instant> {
        loop {
            let left = RUN_LIMIT.saturating_sub(t0.elapsed());
            match rx.recv_timeout(left) {
                Ok((t, l)) if l.ends_with(marker) => return Ok(t),
                Ok((_, l)) if marker == MD5_DONE && l.contains("  -") && !l.starts_with(md5) => {
                    bail!("{name} computed a wrong md5 sum: {l}")
                }
                Ok(_) => {}
                Err(_) => bail!("{name} did not print '{marker}'"),
            }
        }
    };
    let result = (|| {
        let ready = at(READY)?;
        let md5_done = at(MD5_DONE)?;
        let loop_done = at(LOOP_DONE)?;
        Ok(Row {
            name,
            boot: Some((ready - t0).as_secs_f64()),
            md5: Some((md5_done - ready).as_secs_f64()),
            shell: Some((loop_done - md5_done).as_secs_f64()),
        })
    })();
    // Power-off ends the guest; do not wait long for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return result;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn print_table(rows: &[Row]) {
    let qemu = rows.iter().find(|r| r.name == "QEMU TCG");
    let native = rows.iter().find(|r| r.name.starts_with("native"));
    let cell = |v: Option<f64>, reference: Option<f64>, faster_is: &str| -> String {
        match (v, reference) {
            (Some(v), Some(r)) if r > 0.0 => format!("{v:8.2} s ({:5.2}x {faster_is})", v / r),
            (Some(v), _) => format!("{v:8.2} s{:>15}", ""),
            (None, _) => format!("{:>10}{:>15}", "-", ""),
        }
    };
    println!();
    println!("{:<24} {:>25} {:>25} {:>25}", "system", "boot to shell", "md5sum", "shell loop");
    for r in rows {
        println!(
            "{:<24} {:>25} {:>25} {:>25}",
            r.name,
            cell(r.boot, qemu.and_then(|q| q.boot), "QEMU"),
            cell(r.md5, qemu.and_then(|q| q.md5), "QEMU"),
            cell(r.shell, qemu.and_then(|q| q.shell), "QEMU")
        );
    }
    if let Some(n) = native {
        println!();
        println!("slowdown against the host CPU:");
        for r in rows.iter().filter(|r| !r.name.starts_with("native")) {
            let f = |v: Option<f64>, nv: Option<f64>| match (v, nv) {
                (Some(v), Some(nv)) if nv > 0.0 => format!("{:8.1}x", v / nv),
                _ => format!("{:>9}", "-"),
            };
            println!("{:<24} md5sum {}  shell loop {}", r.name, f(r.md5, n.md5), f(r.shell, n.shell));
        }
    }
    println!();
    println!("(times relative to QEMU TCG: below 1.00x is faster than QEMU)");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &'static str, boot: Option<f64>, md5: f64) -> Row {
        Row {
            name,
            boot,
            md5: Some(md5),
            shell: None,
        }
    }

    #[test]
    fn the_table_gives_each_systems_median_column_by_column() {
        let rounds = vec![
            vec![row("a", Some(5.0), 1.0), row("b", None, 2.0)],
            vec![row("a", Some(9.0), 3.0), row("b", None, 2.5)],
            vec![row("a", Some(6.0), 2.0), row("b", None, 8.0)],
        ];
        let m = medians(&rounds);
        assert_eq!(m.iter().map(|r| r.name).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((m[0].boot, m[0].md5, m[0].shell), (Some(6.0), Some(2.0), None));
        assert_eq!((m[1].boot, m[1].md5), (None, Some(2.5)));
        // An even count: the mean of the middle two.
        let m = medians(&rounds[..2]);
        assert_eq!(m[0].boot, Some(7.0));
    }
}
