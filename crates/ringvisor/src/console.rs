//! Host consoles for the guest's character devices: `stdio` (raw mode on a
//! terminal, with QEMU's Ctrl-A escapes), `none`, `file:PATH` and
//! `unix:PATH` (a listening socket; the first client to connect is the
//! console).

use anyhow::{Context, Result, bail};
use machine::machine::HostInput;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// Where a character device goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Stdio,
    None,
    File(PathBuf),
    Unix(PathBuf),
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stdio" => Ok(Backend::Stdio),
            "none" | "null" => Ok(Backend::None),
            _ => match s.split_once(':') {
                Some(("file", p)) if !p.is_empty() => Ok(Backend::File(p.into())),
                Some(("unix", p)) if !p.is_empty() => Ok(Backend::Unix(p.into())),
                _ => Err(format!("'{s}' is not a console (use stdio, none, file:PATH or unix:PATH)")),
            },
        }
    }
}

/// Restores the terminal's mode when dropped.
pub struct RawModeGuard {
    saved: Option<rustix::termios::Termios>,
}

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(std::io::stdin().as_fd(), rustix::termios::OptionalActions::Now, t);
        }
    }
}

/// Put stdin in raw mode if it is a terminal.
pub fn raw_stdin() -> RawModeGuard {
    let fd = std::io::stdin();
    let fd = fd.as_fd();
    if !rustix::termios::isatty(fd) {
        return RawModeGuard { saved: None };
    }
    let Ok(saved) = rustix::termios::tcgetattr(fd) else {
        return RawModeGuard { saved: None };
    };
    let mut raw = saved.clone();
    raw.make_raw();
    // Keep output post-processing so host-side messages stay readable.
    raw.output_modes |= rustix::termios::OutputModes::OPOST;
    if rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).is_err() {
        return RawModeGuard { saved: None };
    }
    RawModeGuard { saved: Some(saved) }
}

/// Ctrl-A, the escape prefix (as in QEMU).
const ESCAPE: u8 = 0x01;

/// Read stdin in a thread and forward it, interpreting Ctrl-A escapes when
/// `escapes` (a terminal): Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A,
/// Ctrl-A h prints help.
pub fn spawn_stdin_reader(tx: Sender<HostInput>, escapes: bool) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        let mut after_escape = false;
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n);
            for &b in &buf[..n] {
                if !escapes {
                    out.push(b);
                } else if after_escape {
                    after_escape = false;
                    match b {
                        b'x' | b'X' => {
                            let _ = tx.send(HostInput::Serial(std::mem::take(&mut out)));
                            let _ = tx.send(HostInput::Quit);
                            return;
                        }
                        ESCAPE => out.push(ESCAPE),
                        b'h' | b'?' => eprint!("\r\nC-a x    exit ringvisor\r\nC-a C-a  send C-a\r\nC-a h    this help\r\n"),
                        _ => {}
                    }
                } else if b == ESCAPE {
                    after_escape = true;
                } else {
                    out.push(b);
                }
            }
            if !out.is_empty() && tx.send(HostInput::Serial(out)).is_err() {
                return;
            }
        }
    });
}

/// A writer to whichever client is connected to a console socket.
#[derive(Clone, Default)]
struct SocketWriter(Arc<Mutex<Option<UnixStream>>>);

impl Write for SocketWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut g) = self.0.lock()
            && let Some(s) = g.as_mut()
            && s.write_all(data).is_err()
        {
            *g = None;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Listen on `path`; each client replaces the previous one. Input from
/// the client goes to `tx` when given.
fn listen(path: &PathBuf, tx: Option<Sender<HostInput>>) -> Result<SocketWriter> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    let writer = SocketWriter::default();
    let slot = writer.0.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reader = stream.try_clone();
            if let Ok(mut g) = slot.lock() {
                *g = Some(stream);
            }
            if let (Some(tx), Ok(mut r)) = (tx.clone(), reader) {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 256];
                    while let Ok(n) = r.read(&mut buf) {
                        if n == 0 || tx.send(HostInput::Serial(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    Ok(writer)
}

/// The output sink of a backend; `input` gets the backend's input, if it
/// has any (only one backend may read stdin).
pub fn open(backend: &Backend, input: Option<Sender<HostInput>>) -> Result<Option<Box<dyn Write + Send>>> {
    Ok(match backend {
        Backend::None => None,
        Backend::Stdio => Some(Box::new(std::io::stdout())),
        Backend::File(p) => Some(Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        Backend::Unix(p) => Some(Box::new(listen(p, input)?)),
    })
}

/// Reject two devices both reading stdin.
pub fn check_stdio(users: &[&Backend]) -> Result<()> {
    if users.iter().filter(|b| ***b == Backend::Stdio).count() > 1 {
        bail!("only one of --serial and --debugcon can use stdio");
    }
    Ok(())
}
