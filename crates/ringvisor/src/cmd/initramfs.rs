//! `ringvisor initramfs`: build the guest's initial RAM filesystem (a newc
//! cpio archive, gzip-compressed) from a static busybox and an init
//! script, without root rights or host tools (device nodes are written
//! straight into the archive).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A statically linked i386 busybox.
    #[arg(long, value_name = "FILE")]
    busybox: PathBuf,
    /// The /init script.
    #[arg(long, value_name = "FILE")]
    init: PathBuf,
    /// Extra files: HOST_PATH:GUEST_PATH (repeatable).
    #[arg(long = "add", value_name = "SRC:DST")]
    add: Vec<String>,
    /// Output file.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
}

/// A newc cpio archive being written.
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let hdr = format!(
            "070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.out.extend_from_slice(hdr.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), &[]);
    }
    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, 0o100000 | mode, (0, 0), data);
    }
    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, (0, 0), target.as_bytes());
    }
    fn chardev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020600, (major, minor), &[]);
    }
}

pub fn run(a: Args) -> Result<std::process::ExitCode> {
    let busybox = std::fs::read(&a.busybox).with_context(|| format!("cannot read busybox {}", a.busybox.display()))?;
    if busybox.get(0..4) != Some(b"\x7FELF") {
        anyhow::bail!("{} is not an ELF executable", a.busybox.display());
    }
    let init = std::fs::read(&a.init).with_context(|| format!("cannot read init script {}", a.init.display()))?;
    let mut extra = Vec::new();
    for spec in &a.add {
        let (src, dst) = spec.split_once(':').with_context(|| format!("--add '{spec}' is not SRC:DST"))?;
        let data = std::fs::read(src).with_context(|| format!("cannot read {src}"))?;
        extra.push((dst.to_string(), data));
    }
    let image = build(&busybox, &init, &extra)?;
    std::fs::write(&a.output, image).with_context(|| format!("cannot write {}", a.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// A gzip-compressed newc archive with busybox (and its `sh` link), the
/// device nodes a console needs, `/init`, and `extra` files (guest path,
/// contents).
pub fn build(busybox: &[u8], init: &[u8], extra: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    if busybox.get(0..4) != Some(b"\x7FELF") {
        anyhow::bail!("busybox is not an ELF executable");
    }
    let mut c = Cpio { out: Vec::new(), ino: 0 };
    for d in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "etc",
        "mnt",
        "lib",
        "lib/modules",
    ] {
        c.dir(d);
    }
    c.chardev("dev/console", 5, 1);
    c.chardev("dev/null", 1, 3);
    c.chardev("dev/ttyS0", 4, 64);
    c.file("bin/busybox", 0o755, busybox);
    c.symlink("bin/sh", "busybox");
    c.file("init", 0o755, init);
    for (dst, data) in extra {
        let dst = dst.trim_start_matches('/');
        // Parent directories (duplicates are harmless in newc).
        let parts: Vec<&str> = dst.split('/').collect();
        for i in 1..parts.len() {
            c.dir(&parts[..i].join("/"));
        }
        c.file(dst, 0o644, data);
    }
    c.entry("TRAILER!!!", 0, (0, 0), &[]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&c.out)?;
    Ok(gz.finish()?)
}
