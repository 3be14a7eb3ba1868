//! # native32: run 32-bit x86 user code natively, as a test oracle
//!
//! A test-support library for differential tests of the interpreter: it runs
//! a snippet of 32-bit x86 code **on the host CPU** in 32-bit compatibility
//! mode (CS = 0x23 under x86-64 Linux), from a given register, flags, x87/SSE
//! and memory state, and returns the final state or the first exception.
//! The interpreter runs the same bytes ([`code_image`]) from the same state
//! at the same linear addresses, and the two results are compared.
//!
//! ```no_run
//! use native32::{Case, Outcome, Region, State32, EAX, EBX, STACK_TOP};
//! // add eax, ebx
//! let mut case = Case::new([0x01, 0xD8]);
//! case.state.gpr[EAX] = 0xFFFF_FFFF;
//! case.state.gpr[EBX] = 1;
//! case.regions.push(Region::stack(0x1000));
//! case.state.gpr[native32::ESP] = STACK_TOP;
//! match native32::run_batch(&[case]).unwrap().remove(0) {
//!     Outcome::Completed(s) => assert_eq!(s.state.gpr[EAX], 0),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! ## Address layout (guest linear = host virtual, all below 4 GiB)
//!
//! | range | use |
//! | --- | --- |
//! | `0x0000_0000..0x0001_0000` | never mapped |
//! | [`EXIT_STUB_ADDR`] `0x0FFF_0000` (one page) | 64-bit exit stub, reserved |
//! | [`CODE_BASE`] `0x1000_0000..0x1010_0000` | the code image, read+execute, reserved |
//! | everything else up to `0xFFFF_F000` | the caller's [`Region`]s |
//!
//! The code image is the code bytes, then the 7-byte exit sentinel
//! `EA <0x0FFF0000> 33 00` (`JMP FAR 0x33:stub`, back to 64-bit mode; it
//! changes no register or flag), then [`CODE_FILL`] (`HLT`, which faults with
//! #GP(0) at CPL 3) up to the page end. A run **completes** when execution
//! reaches [`code_end`] (`CODE_BASE + code.len()`). Suggested places for
//! data: [`DATA_BASE`] and a stack ending at [`STACK_TOP`]
//! ([`Region::stack`]).
//!
//! ## Machine state
//!
//! - GPRs, EIP, EFLAGS are loaded with one `IRETQ` into compatibility mode,
//!   so TF, DF, AC, NT, RF, ID and the arithmetic flags really take effect, and
//!   a TF set by the caller traps after the first guest instruction. Not
//!   settable from ring 3 (silently kept): IF = 1, IOPL = 0, VM = VIF = VIP = 0.
//! - CS = 0x23, DS = ES = SS = 0x2b (flat 4 GiB user segments). FS and GS are
//!   left as the host process has them (selector 0 on x86-64 Linux; base = the
//!   host's TLS base, useless to the guest) unless [`Case::flat_fs_gs`] loads
//!   them with 0x2b too. Whatever the guest does to segment registers is
//!   undone after the run (selectors and FS/GS bases); the final selectors
//!   are reported in [`Snapshot::sregs`].
//! - x87/SSE: [`State32::fpu`] is `FXRSTOR`ed before the run (default:
//!   [`FxArea::default`], the `FNINIT` state with MXCSR 0x1F80); the final
//!   `FXSAVE` image is in the snapshot's `state.fpu`.
//! - Final EFLAGS is captured by `PUSHFQ` right after the sentinel (normal
//!   end) or taken from the signal context (exception).
//!
//! ## How it is isolated
//!
//! Each batch runs in a **forked child process** (the test process never
//! executes guest code). The child maps each case's memory with
//! `MAP_FIXED_NOREPLACE`, runs it, and streams the result through a pipe;
//! the parent reads with a per-case deadline ([`Runner::timeout`]), kills a
//! hung child ([`Outcome::Timeout`]), reports a dead one
//! ([`Outcome::Crashed`]) and forks a fresh child for the remaining cases.
//! In the child a seccomp filter turns every system call into SIGSYS except
//! the few 64-bit ones the child itself needs (`mmap`, `mprotect`, `writev`,
//! `exit`, ...): all 32-bit ones (`int 0x80`, reported as an exception with
//! vector 0x80) and whatever code that far-jumped to 64-bit mode might try,
//! so guest code cannot act on the system.
//!
//! Exceptions arrive as signals (SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP,
//! SIGSYS) on an alternate stack; the handler copies registers, `trapno`,
//! error code and CR2 out of the `ucontext` and **rewrites the context**
//! (RIP = a 64-bit recovery stub, CS = 0x33) so that `rt_sigreturn` leaves
//! guest mode; no `siglongjmp`. See `native.rs` for the full sequence.
//!
//! ## Limitations (see also [`Fault`])
//!
//! - Exceptions are what Linux reports: `vector` = `trapno`. `INT n` for
//!   n ∉ {3, 4, 0x80} gives #GP with error code `n*8+2` (DPL 0 gates);
//!   `HLT`, `CLI`, `IN`/`OUT` give #GP(0). `INT 0x80` is a system call,
//!   blocked by seccomp and reported as vector 0x80 with EIP after it.
//!   `SYSCALL` (and `SYSENTER` on Intel) in compatibility mode return to
//!   the 32-bit vDSO's landing pad, which a 64-bit process does not have:
//!   the reported EIP is meaningless (vector 0xFF). On AMD `SYSENTER` is #UD.
//! - With the default FS/GS (null selector), any FS:/GS: access is #GP(0).
//! - `SGDT/SIDT/SLDT/SMSW/STR` are emulated by Linux (UMIP) with fake
//!   values; `CPUID`, `RDTSC(P)`, `RDRAND` are host-dependent.
//! - For faults the CPU pushes EFLAGS with RF = 1; the fault state's
//!   `eflags` shows it (traps such as #BP, #OF, #DB-step have RF = 0).
//! - On AMD CPUs FOP/FIP/FDP are only saved when FSW.ES = 1 (and the kernel
//!   may rewrite them on context switches); FCS/FDS may read as 0.
//! - XMM8–15 and the upper halves of YMM registers are not controlled
//!   (they carry over between cases of a batch).
//! - The host is a VM: event delivery goes through the hypervisor. Once in
//!   several hundred thousand runs, `INT1` (`ICEBP`, `F1`) was reported with
//!   EIP at the instruction instead of after it.
//! - Memory outside the regions and the code image is unmapped (#PF with
//!   P = 0). Pages of a region are always present (P = 1 on protection
//!   faults).

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

mod child;
pub mod fx;
mod native;
mod parent;
mod wire;

pub use fx::FxArea;

/// Page size of the host and of region granularity.
pub const PAGE: u32 = 4096;
/// The user 32-bit code selector of x86-64 Linux.
pub const SEL_CODE32: u16 = 0x23;
/// The user data selector of x86-64 Linux (flat, 4 GiB).
pub const SEL_DATA: u16 = 0x2B;
/// The user 64-bit code selector of x86-64 Linux.
pub const SEL_CODE64: u16 = 0x33;

/// Address of the 64-bit exit stub page (reserved).
pub const EXIT_STUB_ADDR: u32 = 0x0FFF_0000;
/// Linear address of the first code byte.
pub const CODE_BASE: u32 = 0x1000_0000;
/// Size of the reserved code window at [`CODE_BASE`].
pub const CODE_AREA_LEN: u32 = 0x0010_0000;
/// Length of the exit sentinel appended to the code.
pub const EXIT_SENTINEL_LEN: usize = 7;
/// Longest accepted code.
pub const MAX_CODE_LEN: usize = CODE_AREA_LEN as usize - EXIT_SENTINEL_LEN;
/// Filler after the sentinel up to the end of the code's last page (`HLT`).
pub const CODE_FILL: u8 = 0xF4;
/// Lowest address a region may start at.
pub const LOWEST_REGION_ADDR: u32 = 0x0001_0000;
/// The reserved window (exit stub and code), closed-open.
pub const RESERVED: std::ops::Range<u32> = EXIT_STUB_ADDR..CODE_BASE + CODE_AREA_LEN;
/// Suggested base of a data region.
pub const DATA_BASE: u32 = 0x2000_0000;
/// Suggested end (initial ESP) of a stack region, see [`Region::stack`].
pub const STACK_TOP: u32 = 0x3000_0000;

/// Indices into [`State32::gpr`] (the x86 register encoding order).
pub const EAX: usize = 0;
/// See [`EAX`].
pub const ECX: usize = 1;
/// See [`EAX`].
pub const EDX: usize = 2;
/// See [`EAX`].
pub const EBX: usize = 3;
/// See [`EAX`].
pub const ESP: usize = 4;
/// See [`EAX`].
pub const EBP: usize = 5;
/// See [`EAX`].
pub const ESI: usize = 6;
/// See [`EAX`].
pub const EDI: usize = 7;

/// EFLAGS bits often used in tests.
pub mod flags {
    /// Carry.
    pub const CF: u32 = 1 << 0;
    /// Always-one bit 1.
    pub const FIXED: u32 = 1 << 1;
    /// Parity.
    pub const PF: u32 = 1 << 2;
    /// Auxiliary carry.
    pub const AF: u32 = 1 << 4;
    /// Zero.
    pub const ZF: u32 = 1 << 6;
    /// Sign.
    pub const SF: u32 = 1 << 7;
    /// Trap (single step).
    pub const TF: u32 = 1 << 8;
    /// Interrupt enable (always 1 in the guest).
    pub const IF: u32 = 1 << 9;
    /// Direction.
    pub const DF: u32 = 1 << 10;
    /// Overflow.
    pub const OF: u32 = 1 << 11;
    /// Nested task.
    pub const NT: u32 = 1 << 14;
    /// Resume.
    pub const RF: u32 = 1 << 16;
    /// Alignment check.
    pub const AC: u32 = 1 << 18;
    /// CPUID available.
    pub const ID: u32 = 1 << 21;
    /// The arithmetic flags.
    pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
}

/// 32-bit register state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State32 {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (see [`EAX`] ...).
    pub gpr: [u32; 8],
    /// Linear address (CS base is 0). Initial default: [`CODE_BASE`].
    pub eip: u32,
    /// EFLAGS. Bit 1 is forced to 1; IF/IOPL/VM/VIF/VIP cannot be changed
    /// from ring 3 (IF stays 1).
    pub eflags: u32,
    /// x87/SSE state. Input: `None` = [`FxArea::default`]. Output: always
    /// `Some`, the `FXSAVE` image at the end / at the fault.
    pub fpu: Option<Box<FxArea>>,
}

impl Default for State32 {
    /// Zero GPRs, EIP = [`CODE_BASE`], EFLAGS = 0x202, default FPU.
    fn default() -> Self {
        State32 {
            gpr: [0; 8],
            eip: CODE_BASE,
            eflags: flags::FIXED | flags::IF,
            fpu: None,
        }
    }
}

/// Segment selectors at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sregs {
    /// ES.
    pub es: u16,
    /// CS (0x23 unless the guest far-jumped elsewhere).
    pub cs: u16,
    /// SS.
    pub ss: u16,
    /// DS.
    pub ds: u16,
    /// FS.
    pub fs: u16,
    /// GS.
    pub gs: u16,
}

/// Access rights of a region (x86 pages are always readable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Read-only, not executable (writes fault with #PF, error code P|W|U).
    R,
    /// Read/write, not executable.
    RW,
    /// Read/execute.
    RX,
    /// Read/write/execute (e.g. for self-modifying code).
    RWX,
}

/// A block of guest memory at a fixed linear address.
///
/// `base` must be page-aligned; the mapping covers `data.len()` rounded up
/// to whole pages (the tail of the last page reads as zero but is neither
/// initialised from nor reported back in `data`, so prefer page multiples).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Linear address of `data[0]`.
    pub base: u32,
    /// Initial contents.
    pub data: Vec<u8>,
    /// Access rights.
    pub perm: Perm,
}

impl Region {
    /// A region with the given contents and rights.
    pub fn new(base: u32, data: Vec<u8>, perm: Perm) -> Self {
        Region { base, data, perm }
    }
    /// `len` zero bytes, read/write, at `base`.
    pub fn zeroed(base: u32, len: usize) -> Self {
        Region::new(base, vec![0; len], Perm::RW)
    }
    /// A zeroed read/write stack of `len` bytes ending at [`STACK_TOP`]
    /// (set ESP to `STACK_TOP` or lower yourself).
    pub fn stack(len: usize) -> Self {
        Region::zeroed(STACK_TOP - len as u32, len)
    }
    /// Linear address one past the last byte of `data`.
    pub fn end(&self) -> u64 {
        u64::from(self.base) + self.data.len() as u64
    }
    /// Whether `addr..addr+len` lies within `data`.
    pub fn contains(&self, addr: u32, len: usize) -> bool {
        u64::from(addr) >= u64::from(self.base) && u64::from(addr) + len as u64 <= self.end()
    }
}

/// One test case: code, initial state, memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Case {
    /// Code bytes, placed at [`CODE_BASE`].
    pub code: Vec<u8>,
    /// Initial state.
    pub state: State32,
    /// Data regions (returned, in this order, in [`Snapshot::memory`]).
    pub regions: Vec<Region>,
    /// Load FS and GS with the flat data selector 0x2b (default: leave the
    /// host's selectors, see the crate docs).
    pub flat_fs_gs: bool,
}

impl Case {
    /// A case with default state and no regions.
    pub fn new(code: impl Into<Vec<u8>>) -> Self {
        Case {
            code: code.into(),
            ..Case::default()
        }
    }
    /// Builder: sets the state.
    pub fn with_state(mut self, state: State32) -> Self {
        self.state = state;
        self
    }
    /// Builder: adds a region.
    pub fn with_region(mut self, region: Region) -> Self {
        self.regions.push(region);
        self
    }
}

/// Register, selector and memory state at the end of a run or at a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Registers; `fpu` is always `Some`. `eip` is [`code_end`] on
    /// completion; at a fault, the EIP the exception reported (the faulting
    /// instruction for faults, the next one for traps).
    pub state: State32,
    /// Segment selectors.
    pub sregs: Sregs,
    /// Contents of each region (same order and length as the case's).
    pub memory: Vec<Vec<u8>>,
}

/// Description of the exception that ended a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Exception vector: the kernel's `trapno` (0 #DE, 1 #DB, 3 #BP, 4 #OF,
    /// 5 #BR, 6 #UD, 13 #GP, 14 #PF, 16 #MF, 17 #AC, 19 #XM, ...). For
    /// SIGSYS (a system call made by the guest) 0x80 if the instruction was
    /// `INT 0x80`, else 0xFF (`SYSCALL`/`SYSENTER`, whose EIP Linux replaces
    /// with a bogus landing-pad address; see the crate docs).
    pub vector: u8,
    /// The error code the CPU pushed (0 for exceptions without one). For
    /// #PF: P=1, W=2, U=4, RSVD=8, I/D=16.
    pub error_code: u32,
    /// EIP at delivery, a linear address (see [`Fault::code_offset`]).
    pub eip: u32,
    /// CR2 for page faults (the faulting linear address), else `None`.
    pub fault_addr: Option<u32>,
    /// The host signal (SIGSEGV, SIGFPE, ...).
    pub signal: i32,
    /// `si_code` of the signal (e.g. SEGV_MAPERR = 1, SEGV_ACCERR = 2).
    pub si_code: i32,
    /// `si_addr` of the signal (raw, 64-bit).
    pub si_addr: u64,
    /// For SIGSYS: the system call number the guest requested.
    pub syscall: Option<i32>,
}

impl Fault {
    /// EIP as an offset into the code, if it lies in the code window.
    pub fn code_offset(&self) -> Option<u32> {
        self.eip.checked_sub(CODE_BASE).filter(|&o| o < CODE_AREA_LEN)
    }

    fn from_raw(raw: &wire::RawResult, case: &Case) -> Fault {
        let is_sys = raw.signo == libc::SIGSYS;
        let vector = if is_sys {
            let int80 = raw
                .eip
                .checked_sub(CODE_BASE + 2)
                .and_then(|o| case.code.get(o as usize..o as usize + 2))
                .is_some_and(|b| b == [0xCD, 0x80]);
            if int80 { 0x80 } else { 0xFF }
        } else {
            raw.trapno as u8
        };
        Fault {
            vector,
            error_code: if is_sys { 0 } else { raw.err },
            eip: raw.eip,
            fault_addr: (!is_sys && raw.trapno == 14).then_some(raw.cr2 as u32),
            signal: raw.signo,
            si_code: raw.si_code,
            si_addr: raw.si_addr,
            syscall: is_sys.then_some(raw.syscall),
        }
    }
}

/// Result of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Execution reached [`code_end`].
    Completed(Snapshot),
    /// The first exception ended the run.
    Exception {
        /// What was raised.
        fault: Fault,
        /// State at delivery.
        snapshot: Snapshot,
    },
    /// The case did not finish within [`Runner::timeout`]; its child was
    /// killed.
    Timeout,
    /// The child process died without reporting (a bug, or guest code that
    /// escaped to 64-bit mode).
    Crashed {
        /// Wait status, in words.
        reason: String,
    },
    /// The case's memory could not be mapped (e.g. an address already in
    /// use in the child process).
    SetupFailed {
        /// The step that failed.
        what: String,
        /// `errno`.
        errno: i32,
    },
}

impl Outcome {
    /// The final or fault-time snapshot, if the case ran.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            Outcome::Completed(s) | Outcome::Exception { snapshot: s, .. } => Some(s),
            _ => None,
        }
    }
    /// The snapshot of a completed run.
    pub fn completed(&self) -> Option<&Snapshot> {
        match self {
            Outcome::Completed(s) => Some(s),
            _ => None,
        }
    }
    /// The fault of an exception outcome.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Outcome::Exception { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

/// Errors detected before anything runs, or of the process machinery.
#[derive(Debug)]
pub enum Error {
    /// A case is not acceptable.
    Invalid {
        /// Index of the case in the batch.
        case: usize,
        /// Why.
        reason: String,
    },
    /// A system call of the parent failed.
    Os {
        /// Which.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The child's one-time setup failed.
    ChildSetup {
        /// Which step.
        what: String,
        /// `errno`.
        errno: i32,
    },
}

impl Error {
    fn os(what: &'static str) -> Error {
        Error::Os {
            what,
            source: std::io::Error::last_os_error(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid { case, reason } => write!(f, "case {case}: {reason}"),
            Error::Os { what, source } => write!(f, "{what}: {source}"),
            Error::ChildSetup { what, errno } => {
                write!(f, "child setup: {what}: {}", std::io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The exit sentinel: `JMP FAR 0x33:EXIT_STUB_ADDR`.
pub fn exit_sentinel() -> [u8; EXIT_SENTINEL_LEN] {
    let a = EXIT_STUB_ADDR.to_le_bytes();
    [0xEA, a[0], a[1], a[2], a[3], SEL_CODE64 as u8, 0x00]
}

/// Linear address at which a run of `code_len` code bytes completes.
pub fn code_end(code_len: usize) -> u32 {
    CODE_BASE + code_len as u32
}

/// The exact bytes mapped at [`CODE_BASE`] for `code`: the code, the exit
/// sentinel, and [`CODE_FILL`] up to the end of the page.
pub fn code_image(code: &[u8]) -> Vec<u8> {
    let len = (code.len() + EXIT_SENTINEL_LEN).div_ceil(PAGE as usize) * PAGE as usize;
    let mut v = vec![0; len];
    write_code_image(&mut v, code);
    v
}

/// Fills `dst` (at least `code.len() + EXIT_SENTINEL_LEN` bytes) with the
/// code image. Allocation-free (used by the child).
pub(crate) fn write_code_image(dst: &mut [u8], code: &[u8]) {
    let n = code.len();
    dst[..n].copy_from_slice(code);
    dst[n..n + EXIT_SENTINEL_LEN].copy_from_slice(&exit_sentinel());
    dst[n + EXIT_SENTINEL_LEN..].fill(CODE_FILL);
}

/// The host CPU's MXCSR_MASK (bits `FXRSTOR` accepts in MXCSR).
pub fn mxcsr_mask() -> u32 {
    static MASK: OnceLock<u32> = OnceLock::new();
    *MASK.get_or_init(|| {
        let mut fx = FxArea::ZERO;
        // SAFETY: FXSR is part of the x86-64 baseline; `fx` is a 512-byte,
        // 16-byte-aligned buffer, as FXSAVE requires.
        unsafe { std::arch::x86_64::_fxsave(fx.0.as_mut_ptr()) };
        match fx.mxcsr_mask() {
            0 => 0xFFBF,
            m => m,
        }
    })
}

fn validate(index: usize, case: &Case) -> Result<(), Error> {
    let bad = |reason: String| Error::Invalid { case: index, reason };
    if case.code.len() > MAX_CODE_LEN {
        return Err(bad(format!("code is {} bytes, at most {MAX_CODE_LEN}", case.code.len())));
    }
    let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(case.regions.len());
    for (i, r) in case.regions.iter().enumerate() {
        if r.data.is_empty() {
            return Err(bad(format!("region {i} is empty")));
        }
        if r.base % PAGE != 0 {
            return Err(bad(format!("region {i} base {:#x} is not page-aligned", r.base)));
        }
        let start = u64::from(r.base);
        let end = start + (r.data.len() as u64).div_ceil(u64::from(PAGE)) * u64::from(PAGE);
        if start < u64::from(LOWEST_REGION_ADDR) || end > 1 << 32 {
            return Err(bad(format!(
                "region {i} {start:#x}..{end:#x} is outside {LOWEST_REGION_ADDR:#x}..0x1_0000_0000"
            )));
        }
        if start < u64::from(RESERVED.end) && end > u64::from(RESERVED.start) {
            return Err(bad(format!(
                "region {i} {start:#x}..{end:#x} overlaps the reserved {:#x}..{:#x}",
                RESERVED.start, RESERVED.end
            )));
        }
        if let Some(&(_, _, j)) = spans.iter().find(|&&(s, e, _)| start < e && end > s) {
            return Err(bad(format!("regions {j} and {i} overlap")));
        }
        spans.push((start, end, i));
    }
    if let Some(fx) = &case.state.fpu {
        let mask = mxcsr_mask();
        if fx.mxcsr() & !mask != 0 {
            return Err(bad(format!(
                "MXCSR {:#x} has bits outside MXCSR_MASK {mask:#x} (FXRSTOR would #GP)",
                fx.mxcsr()
            )));
        }
    }
    Ok(())
}

/// Runs cases in a child process. Cheap to create; holds only settings.
#[derive(Clone, Debug)]
pub struct Runner {
    /// How long one case may take (from the previous result) before its
    /// child is killed and it is reported as [`Outcome::Timeout`].
    pub timeout: Duration,
    /// Testing aid: restore FS/GS bases with `arch_prctl` even where
    /// `WRFSBASE` is available.
    #[doc(hidden)]
    pub force_no_fsgsbase: bool,
}

impl Default for Runner {
    fn default() -> Self {
        Runner {
            timeout: Duration::from_secs(2),
            force_no_fsgsbase: false,
        }
    }
}

impl Runner {
    /// A runner with the default 2-second per-case timeout.
    pub fn new() -> Self {
        Runner::default()
    }
    /// Builder: sets the per-case timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Runs one case (one child process).
    pub fn run(&self, case: &Case) -> Result<Outcome, Error> {
        let mut v = self.run_batch(std::slice::from_ref(case))?;
        Ok(v.pop().expect("one outcome per case"))
    }
    /// Runs many cases in one child process (a fresh one after a timeout
    /// or crash) and returns one outcome per case, in order. Every case is
    /// validated first; nothing runs if one is invalid.
    pub fn run_batch(&self, cases: &[Case]) -> Result<Vec<Outcome>, Error> {
        for (i, c) in cases.iter().enumerate() {
            validate(i, c)?;
        }
        if cases.is_empty() {
            return Ok(Vec::new());
        }
        parent::run_batch(cases, self)
    }
}

/// Runs `code` from `state` with `regions` mapped, with default settings.
pub fn run(code: &[u8], state: &State32, regions: &[Region]) -> Result<Outcome, Error> {
    Runner::default().run(&Case {
        code: code.to_vec(),
        state: state.clone(),
        regions: regions.to_vec(),
        flat_fs_gs: false,
    })
}

/// Runs a batch with default settings, see [`Runner::run_batch`].
pub fn run_batch(cases: &[Case]) -> Result<Vec<Outcome>, Error> {
    Runner::default().run_batch(cases)
}
