//! The forked child: maps each case's memory at its fixed addresses, runs
//! it, and writes the result into the pipe. It never allocates (the parent
//! may have had other threads holding allocator locks at `fork` time) and
//! never returns: it ends with `_exit`.

use std::os::fd::RawFd;

use crate::native::{self, CTL};
use crate::wire::{HEADER_LEN, RawResult, ST_CASE_SETUP, ST_CHILD_SETUP, ST_COMPLETED, ST_EXCEPTION};
use crate::{CODE_BASE, Case, PAGE, Perm, write_code_image};

const CANARY_VALUE: u64 = 0x6e61_7469_7665_3332;

thread_local! {
    /// Read after every case: proves that the FS base (TLS) was restored.
    static CANARY: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A mapping the child keeps between cases (reused when the next case
/// wants the same base, length and protection: refilling is much cheaper
/// than unmapping and mapping again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    base: u32,
    len: usize,
    prot: i32,
}

/// Number of mappings the child may keep: the largest case's count.
pub(crate) fn max_mappings(cases: &[Case]) -> usize {
    cases.iter().map(|c| c.regions.len() + 1).max().unwrap_or(1)
}

/// Entry of the child process: runs `cases` in order and exits. `maps` is an
/// empty vector with capacity [`max_mappings`], allocated by the parent.
pub(crate) fn child_main(cases: &[Case], fd: RawFd, force_no_fsgsbase: bool, mut maps: Vec<Mapping>) -> ! {
    CANARY.set(CANARY_VALUE);
    match native::setup(force_no_fsgsbase) {
        Ok(()) => {}
        Err((what, errno)) => {
            let mut r = RawResult::new(ST_CHILD_SETUP);
            r.errno = errno;
            r.set_what(what);
            send(fd, &r, &[]);
            exit(3);
        }
    }
    for case in cases {
        let r = run_case(case, &mut maps);
        if CANARY.get() != CANARY_VALUE {
            exit(5); // thread-local storage broken: FS base not restored
        }
        let mapped = r.status == ST_COMPLETED || r.status == ST_EXCEPTION;
        if mapped {
            // The regions stay mapped readable at `base` (at least) until the
            // next case's `prepare`.
            send(fd, &r, &case.regions);
        } else {
            // Nothing ran: send back the initial contents.
            send(fd, &r, &[]);
            for region in &case.regions {
                if !write_all(fd, region.data.as_ptr(), region.data.len()) {
                    exit(4);
                }
            }
        }
    }
    exit(0)
}

/// Sends the header and then the current contents of `regions` (which must
/// be mapped readable), with as few system calls as possible.
fn send(fd: RawFd, r: &RawResult, regions: &[crate::Region]) {
    let mut hdr = [0u8; HEADER_LEN];
    r.encode(&mut hdr);
    const CHUNK: usize = 16;
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut iov = [empty; CHUNK];
    iov[0] = libc::iovec {
        iov_base: hdr.as_mut_ptr().cast(),
        iov_len: HEADER_LEN,
    };
    let mut n = 1;
    let mut rest = regions;
    loop {
        while n < CHUNK && !rest.is_empty() {
            iov[n] = libc::iovec {
                iov_base: rest[0].base as usize as *mut libc::c_void,
                iov_len: rest[0].data.len(),
            };
            n += 1;
            rest = &rest[1..];
        }
        if !writev_all(fd, &mut iov[..n]) {
            exit(4);
        }
        if rest.is_empty() {
            return;
        }
        n = 0;
    }
}

/// `writev` until every byte of `iov` is written.
fn writev_all(fd: RawFd, mut iov: &mut [libc::iovec]) -> bool {
    while !iov.is_empty() {
        // SAFETY: every iovec describes readable memory: the header buffer
        // or a region mapping that stays mapped during the call.
        let w = unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as i32) };
        if w < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        let mut w = w as usize;
        while let Some(first) = iov.first_mut() {
            if w < first.iov_len {
                // SAFETY: advances within the same buffer (w < iov_len).
                first.iov_base = unsafe { first.iov_base.cast::<u8>().add(w) }.cast();
                first.iov_len -= w;
                break;
            }
            w -= first.iov_len;
            iov = &mut iov[1..];
        }
    }
    true
}

fn exit(code: i32) -> ! {
    // SAFETY: `_exit` ends the process without running atexit handlers or
    // destructors of the parent's state, which this forked copy must not do.
    unsafe { libc::_exit(code) }
}

/// Writes `len` bytes from `ptr` (which must be readable) to `fd`.
fn write_all(fd: RawFd, mut ptr: *const u8, mut len: usize) -> bool {
    while len > 0 {
        // SAFETY: callers pass a pointer to `len` readable bytes (a slice, or
        // a region mapping that stays mapped until after the write).
        let n = unsafe { libc::write(fd, ptr.cast(), len) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        let n = n as usize;
        // SAFETY: `n <= len`, so the pointer stays within the same buffer.
        ptr = unsafe { ptr.add(n) };
        len -= n;
    }
    true
}

fn prot(perm: Perm) -> i32 {
    match perm {
        Perm::R => libc::PROT_READ,
        Perm::RW => libc::PROT_READ | libc::PROT_WRITE,
        Perm::RX => libc::PROT_READ | libc::PROT_EXEC,
        Perm::RWX => libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
    }
}

fn page_round(len: usize) -> usize {
    len.div_ceil(PAGE as usize) * PAGE as usize
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn slice_at<'a>(base: u32, len: usize) -> &'a mut [u8] {
    // SAFETY: only called for a mapping of `len` bytes at `base` that the
    // child created and that is currently readable and writable; no other
    // reference to it exists while the slice lives (guest code is not
    // running).
    unsafe { std::slice::from_raw_parts_mut(base as usize as *mut u8, len) }
}

fn protect(m: Mapping, prot: i32) -> Result<(), i32> {
    // SAFETY: changes the protection of a mapping the child created.
    if unsafe { libc::mprotect(m.base as usize as *mut libc::c_void, m.len, prot) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// Makes `m` exist with every page populated and its contents written by
/// `fill`, reusing an identical mapping left by the previous case.
fn prepare(m: Mapping, maps: &mut Vec<Mapping>, fill: impl FnOnce(&mut [u8])) -> Result<(), i32> {
    const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
    if maps.contains(&m) {
        if m.prot & libc::PROT_WRITE == 0 {
            protect(m, RW)?;
        }
        fill(slice_at(m.base, m.len));
        if m.prot != RW {
            protect(m, m.prot)?;
        }
        return Ok(());
    }
    let addr = m.base as usize as *mut libc::c_void;
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping (it
    // fails with EEXIST instead), so this cannot clobber the child's own
    // memory; the parent validated that the range is below 4 GiB and
    // outside the reserved stub/code window (or is the code window).
    let p = unsafe {
        libc::mmap(
            addr,
            m.len,
            RW,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(errno());
    }
    if p != addr {
        // Old kernels treat the flag as a hint only.
        // SAFETY: `p` is the mapping just created, of length `m.len`.
        unsafe { libc::munmap(p, m.len) };
        return Err(libc::EEXIST);
    }
    if maps.len() < maps.capacity() {
        maps.push(m); // within capacity: no allocation
    }
    fill(slice_at(m.base, m.len));
    if m.prot != RW {
        protect(m, m.prot)?;
    }
    Ok(())
}

fn unmap(m: Mapping) {
    // SAFETY: unmaps a range the child mapped for an earlier case; the
    // parent validated that it does not overlap the stub page.
    unsafe { libc::munmap(m.base as usize as *mut libc::c_void, m.len) };
}

fn case_mappings(case: &Case) -> impl Iterator<Item = Mapping> + '_ {
    let code = Mapping {
        base: CODE_BASE,
        len: page_round(case.code.len() + crate::EXIT_SENTINEL_LEN),
        prot: libc::PROT_READ | libc::PROT_EXEC,
    };
    std::iter::once(code).chain(case.regions.iter().map(|r| Mapping {
        base: r.base,
        len: page_round(r.data.len()),
        prot: prot(r.perm),
    }))
}

fn run_case(case: &Case, maps: &mut Vec<Mapping>) -> RawResult {
    // Drop the previous case's mappings that this case does not want as is.
    maps.retain(|m| {
        let keep = case_mappings(case).any(|w| w == *m);
        if !keep {
            unmap(*m);
        }
        keep
    });
    let mut res = Ok(());
    for (i, m) in case_mappings(case).enumerate() {
        res = if i == 0 {
            prepare(m, maps, |b| write_code_image(b, &case.code)).map_err(|e| ("map code", e))
        } else {
            let data = &case.regions[i - 1].data;
            prepare(m, maps, |b| {
                b[..data.len()].copy_from_slice(data);
                b[data.len()..].fill(0);
            })
            .map_err(|e| ("map region", e))
        };
        if res.is_err() {
            break;
        }
    }
    if let Err((what, e)) = res {
        let mut out = RawResult::new(ST_CASE_SETUP);
        out.errno = e;
        out.set_what(what);
        return out;
    }

    let ctl = CTL.get();
    let s = &case.state;
    // SAFETY: the child is single-threaded and no guest code runs now, so
    // nothing else accesses the control block.
    unsafe {
        (*ctl).in_gpr = s.gpr;
        (*ctl).in_eip = s.eip;
        (*ctl).in_eflags = s.eflags | 0x2;
        (*ctl).flat_fs_gs = u32::from(case.flat_fs_gs);
        match &s.fpu {
            Some(fx) => (*ctl).fx_in = (**fx).clone(),
            None => (*ctl).fx_in = crate::fx::FxArea::default(),
        }
    }
    native::enter();
    // SAFETY: as above; the guest has finished.
    unsafe {
        let c = &*ctl;
        let mut out = RawResult::new(if c.exit_kind == 0 { ST_COMPLETED } else { ST_EXCEPTION });
        out.gpr = c.out_gpr;
        out.eip = if c.exit_kind == 0 {
            CODE_BASE + case.code.len() as u32
        } else {
            c.out_eip
        };
        out.eflags = c.out_eflags;
        out.sreg = c.out_sreg;
        if c.exit_kind != 0 {
            out.signo = c.sig_signo;
            out.si_code = c.sig_code;
            out.si_errno = c.sig_errno;
            out.syscall = c.sig_syscall;
            out.trapno = c.trapno;
            out.err = c.err;
            out.cr2 = c.cr2;
            out.si_addr = c.si_addr;
        }
        out.fx = c.fx_out.clone();
        out
    }
}
