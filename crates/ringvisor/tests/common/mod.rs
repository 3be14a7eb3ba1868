//! Shared helpers for tests that boot real guests: the guest assets
//! (fetched by scripts/guest-assets.sh), building the initramfs, and a
//! serial console driven through ringvisor's stdin/stdout.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The asset directory (scripts/guest-assets.sh fills it).
pub fn assets() -> PathBuf {
    std::env::var_os("RINGVISOR_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/guest-assets"))
}

/// Path of an asset, failing clearly when the script has not run.
pub fn asset(name: &str) -> PathBuf {
    let p = assets().join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/guest-assets.sh first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Build the test initramfs (busybox + guest/init) once per test binary.
pub fn initramfs() -> PathBuf {
    let out = assets().join(format!("initramfs-test-{}.cpio.gz", std::process::id()));
    if !out.exists() {
        let init = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guest/init");
        let status = Command::new(env!("CARGO_BIN_EXE_ringvisor"))
            .args(["initramfs", "--busybox"])
            .arg(asset("busybox"))
            .arg("--init")
            .arg(&init)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "building the initramfs failed");
    }
    out
}

/// A running ringvisor with its serial console on stdin/stdout.
pub struct Guest {
    pub child: Child,
    stdin: ChildStdin,
    rx: Receiver<Vec<u8>>,
    /// Everything the console printed so far.
    pub log: String,
    consumed: usize,
    pub started: Instant,
}

impl Guest {
    /// Start `ringvisor run` with these extra arguments and the serial
    /// console on stdio.
    pub fn start(args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringvisor"))
            .arg("run")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            rx,
            log: String::new(),
            consumed: 0,
            started: Instant::now(),
        }
    }

    /// Boot Debian's kernel with the test initramfs on this engine
    /// configuration (extra `run` arguments).
    pub fn linux(extra: &[&str]) -> Self {
        let mut args: Vec<String> = vec![
            "--kernel".into(),
            asset("vmlinuz").display().to_string(),
            "--initrd".into(),
            initramfs().display().to_string(),
            "--append".into(),
            "console=ttyS0 panic=-1".into(),
            "--memory".into(),
            "256M".into(),
            "--no-reboot".into(),
            "--timeout".into(),
            "1500".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start(&args)
    }

    /// Wait until the console has printed `needle` (after what earlier
    /// waits consumed); returns the text up to and including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.log[self.consumed..].find(needle) {
                let end = self.consumed + pos + needle.len();
                let text = self.log[self.consumed..end].to_string();
                self.consumed = end;
                return text;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.log.push_str(&String::from_utf8_lossy(&b)),
                Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {needle:?}; console so far:\n{}", self.log),
                Err(RecvTimeoutError::Disconnected) => panic!("ringvisor exited while waiting for {needle:?}; console:\n{}", self.log),
            }
        }
    }

    /// Type a line on the console.
    pub fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Run a shell command and return its output (between unique markers).
    pub fn command(&mut self, cmd: &str, timeout: Duration) -> String {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let begin = format!("@@B{n}@@");
        let end = format!("@@E{n}@@");
        // The markers are built by the shell so that the echoed command
        // line itself does not match them.
        self.send(&format!("echo @@B{n}''@@; {cmd}; echo @@E{n}''@@"));
        self.wait_for(&begin, timeout);
        let out = self.wait_for(&end, timeout);
        out.trim_end_matches(&end)
            .trim_matches(|c| c == '\r' || c == '\n')
            .replace('\r', "")
    }

    /// Wait for ringvisor to exit; returns its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                while let Ok(b) = self.rx.try_recv() {
                    self.log.push_str(&String::from_utf8_lossy(&b));
                }
                return s.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("ringvisor did not exit; console:\n{}", self.log);
            }
            while let Ok(b) = self.rx.recv_timeout(Duration::from_millis(50)) {
                self.log.push_str(&String::from_utf8_lossy(&b));
            }
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
