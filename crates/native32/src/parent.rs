//! The parent side: forks a child for (the rest of) a batch, reads its
//! results with a per-case deadline, kills and replaces it when a case hangs
//! or the child dies.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::child::{child_main, max_mappings};
use crate::wire::{HEADER_LEN, RawResult, ST_CASE_SETUP, ST_CHILD_SETUP, ST_COMPLETED};
use crate::{Case, Error, Fault, Outcome, Runner, Snapshot, Sregs, State32};

/// How often a waiting parent checks whether the child is still alive
/// (needed because a concurrently forked sibling may hold a copy of the
/// pipe's write end, so EOF is not a reliable death signal).
const LIVENESS_SLICE: Duration = Duration::from_millis(20);

struct Child {
    pid: libc::pid_t,
    fd: RawFd,
    /// Wait status once reaped.
    status: Option<i32>,
    /// Bytes read from the pipe but not consumed yet: `buf[pos..end]`.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

const READ_BUF: usize = 256 * 1024;

enum Read {
    Ok,
    Timeout,
    Died,
}

impl Child {
    fn spawn(cases: &[Case], runner: &Runner) -> Result<Child, Error> {
        // Allocated before fork: the child must not allocate.
        let maps = Vec::with_capacity(max_mappings(cases));
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(Error::os("pipe2"));
        }
        // SAFETY: the child branch only calls async-signal-safe system calls
        // and allocation-free code (`child_main`), and ends with `_exit`, so
        // forking a possibly multi-threaded process is sound.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = Error::os("fork");
            close(fds[0]);
            close(fds[1]);
            return Err(e);
        }
        if pid == 0 {
            close(fds[0]);
            child_main(cases, fds[1], runner.force_no_fsgsbase, maps);
        }
        close(fds[1]);
        // SAFETY: fcntl on the read end we own; the child's write end is a
        // separate open file description and stays blocking.
        unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };
        Ok(Child {
            pid,
            fd: fds[0],
            status: None,
            buf: vec![0; READ_BUF],
            pos: 0,
            end: 0,
        })
    }

    /// Reaps the child if it has exited; true if it is gone.
    fn try_reap(&mut self, block: bool) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut st = 0;
        let flags = if block { 0 } else { libc::WNOHANG };
        loop {
            // SAFETY: waits for our own child; `st` is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut st, flags) };
            if r == self.pid {
                self.status = Some(st);
                return true;
            }
            if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return r < 0;
        }
    }

    fn kill(&mut self) {
        if self.status.is_none() {
            // SAFETY: signals our own, not yet reaped child (the pid cannot
            // have been reused before we reap it).
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            self.try_reap(true);
        }
    }

    fn death_reason(&mut self) -> String {
        self.try_reap(true);
        match self.status {
            Some(st) if libc::WIFSIGNALED(st) => {
                format!("child killed by signal {}", libc::WTERMSIG(st))
            }
            Some(st) if libc::WIFEXITED(st) => {
                format!("child exited with status {}", libc::WEXITSTATUS(st))
            }
            Some(st) => format!("child ended with wait status {st:#x}"),
            None => "child vanished".to_string(),
        }
    }

    /// Fills `out` from the pipe by `deadline`.
    fn read_exact(&mut self, mut out: &mut [u8], deadline: Instant) -> Read {
        loop {
            let n = (self.end - self.pos).min(out.len());
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            out = &mut out[n..];
            if out.is_empty() {
                return Read::Ok;
            }
            // The buffer is empty: refill it.
            match self.fill(deadline) {
                Read::Ok => {}
                other => return other,
            }
        }
    }

    /// Reads whatever the pipe holds (at least one byte) into the empty
    /// buffer, waiting until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Read {
        self.pos = 0;
        self.end = 0;
        loop {
            // SAFETY: reads into our own buffer, within its length (the
            // descriptor is non-blocking).
            let n = unsafe { libc::read(self.fd, self.buf.as_mut_ptr().cast(), self.buf.len()) };
            if n > 0 {
                self.end = n as usize;
                return Read::Ok;
            }
            if n == 0 {
                return Read::Died; // EOF: every writer is gone
            }
            match std::io::Error::last_os_error().kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => {}
                _ => return Read::Died,
            }
            // Nothing yet: wait, in slices, checking that the child lives.
            let now = Instant::now();
            if now >= deadline {
                return Read::Timeout;
            }
            let slice = (deadline - now).min(LIVENESS_SLICE);
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = slice.as_millis().max(1) as i32;
            // SAFETY: `pfd` is one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r == 0 && self.try_reap(false) && !self.readable_now() {
                return Read::Died;
            }
        }
    }

    fn readable_now(&self) -> bool {
        if self.pos < self.end {
            return true;
        }
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid pollfd; zero timeout.
        let r = unsafe { libc::poll(&mut pfd, 1, 0) };
        r > 0 && pfd.revents & libc::POLLIN != 0
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Normally the child has exited (or is about to) by now.
        if !self.try_reap(false) {
            self.kill();
        }
        close(self.fd);
    }
}

fn close(fd: RawFd) {
    // SAFETY: closes a descriptor this module created and owns.
    unsafe { libc::close(fd) };
}

/// Runs every case (already validated) and returns one outcome per case.
pub(crate) fn run_batch(cases: &[Case], runner: &Runner) -> Result<Vec<Outcome>, Error> {
    let mut out = Vec::with_capacity(cases.len());
    while out.len() < cases.len() {
        let start = out.len();
        let mut child = Child::spawn(&cases[start..], runner)?;
        for case in &cases[start..] {
            let (outcome, alive) = read_one(&mut child, case, runner.timeout)?;
            out.push(outcome);
            if !alive {
                break; // killed or dead: respawn for the remaining cases
            }
        }
        if out.len() == cases.len() {
            child.try_reap(true);
        }
    }
    Ok(out)
}

/// Reads one case's result; the flag is false when the child had to be
/// killed or has died (the result is then `Timeout` or `Crashed`).
fn read_one(child: &mut Child, case: &Case, timeout: Duration) -> Result<(Outcome, bool), Error> {
    let deadline = Instant::now() + timeout;
    let mut hdr = [0u8; HEADER_LEN];
    match child.read_exact(&mut hdr, deadline) {
        Read::Ok => {}
        Read::Timeout => {
            child.kill();
            return Ok((Outcome::Timeout, false));
        }
        Read::Died => {
            let reason = child.death_reason();
            child.kill();
            return Ok((Outcome::Crashed { reason }, false));
        }
    }
    let raw = RawResult::decode(&hdr);
    if raw.status == ST_CHILD_SETUP {
        child.kill();
        return Err(Error::ChildSetup {
            what: raw.what(),
            errno: raw.errno,
        });
    }
    let mut memory = Vec::with_capacity(case.regions.len());
    for r in &case.regions {
        let mut buf = vec![0u8; r.data.len()];
        match child.read_exact(&mut buf, deadline) {
            Read::Ok => memory.push(buf),
            Read::Timeout | Read::Died => {
                let reason = format!("truncated result: {}", child.death_reason());
                child.kill();
                return Ok((Outcome::Crashed { reason }, false));
            }
        }
    }
    if raw.status == ST_CASE_SETUP {
        let o = Outcome::SetupFailed {
            what: raw.what(),
            errno: raw.errno,
        };
        return Ok((o, true));
    }
    let [es, cs, ss, ds, fs, gs] = raw.sreg;
    let snapshot = Snapshot {
        state: State32 {
            gpr: raw.gpr,
            eip: raw.eip,
            eflags: raw.eflags,
            fpu: Some(Box::new(raw.fx.clone())),
        },
        sregs: Sregs { es, cs, ss, ds, fs, gs },
        memory,
    };
    if raw.status == ST_COMPLETED {
        return Ok((Outcome::Completed(snapshot), true));
    }
    let fault = Fault::from_raw(&raw, case);
    Ok((Outcome::Exception { fault, snapshot }, true))
}
