//! The machine-level part: the mode-switch trampolines (global asm), the
//! control block they share with the signal handler, and the signal handler.
//!
//! Everything here runs only in the forked child process.
//!
//! # How a case runs
//!
//! 1. `native32_enter` (64-bit, in this binary) saves the host's callee-saved
//!    registers, RSP, segment selectors, FCW, MXCSR (and FS/GS bases),
//!    `FXRSTOR`s the case's x87/SSE image, loads DS/ES (and optionally FS/GS)
//!    with the flat user data selector 0x2b, builds an `IRETQ` frame
//!    (EIP, CS 0x23, EFLAGS, ESP, SS 0x2b), loads the other seven guest GPRs
//!    and executes `IRETQ`. `IRET` loads EFLAGS atomically with the switch to
//!    32-bit code, so a TF set by the caller traps *after the first guest
//!    instruction* (a `POPFD; JMP` entry would trap before it).
//! 2. The guest code runs in compatibility mode. After its last byte sits the
//!    exit sentinel `EA <EXIT_STUB_ADDR> 33 00` (`JMP FAR 0x33:stub`), which
//!    changes neither registers nor flags.
//! 3. The stub (a read-only page at [`crate::EXIT_STUB_ADDR`], 64-bit code)
//!    is `JMP [RIP+2]` through an aligned pointer to `native32_exit64`, which
//!    stores the eight GPRs RIP-relatively into the control block (64-bit
//!    mode ignores the DS/ES/SS the guest may have left), switches to the
//!    saved host stack, `PUSHFQ`s the final flags and joins the common exit.
//! 4. A fault in the guest is delivered by Linux as a signal on an alternate
//!    stack. The handler copies the guest registers, trap number, error code,
//!    CR2 and siginfo out of the `ucontext` into the control block, and
//!    **rewrites the context** (RIP = `native32_fault_resume`, CS 0x33,
//!    SS 0x2b, RSP = saved host RSP, EFLAGS = 0x202); `rt_sigreturn` then
//!    resumes there with the guest's FPU state restored by the kernel. No
//!    `siglongjmp` is used.
//! 5. The common exit records the segment selectors, `FXSAVE`s the final
//!    x87/SSE state, re-initialises the FPU to the host's FCW/MXCSR, restores
//!    DS/ES/SS/FS/GS (selectors, then the FS/GS bases with `WRFSBASE`/
//!    `WRGSBASE`, or `arch_prctl` where those are unavailable), restores the callee-saved registers and returns to Rust.

use std::cell::UnsafeCell;
use std::mem::offset_of;

use crate::fx::FxArea;
use crate::{EXIT_STUB_ADDR, SEL_CODE32, SEL_CODE64, SEL_DATA};

/// The control block shared by the trampolines and the signal handler.
/// `repr(C)` because the assembly addresses its fields by offset.
#[repr(C, align(64))]
pub(crate) struct Ctl {
    // ---- host state, saved by native32_enter ----
    pub host_rsp: u64,
    pub host_fsbase: u64,
    pub host_gsbase: u64,
    pub host_mxcsr: u32,
    pub host_fcw: u16,
    pub host_ds: u16,
    pub host_es: u16,
    pub host_ss: u16,
    pub host_fs: u16,
    pub host_gs: u16,
    // ---- configuration ----
    /// 1: use RDFSBASE/WRFSBASE; 0: arch_prctl (two system calls per case).
    pub use_fsgsbase: u32,
    /// 1: load FS and GS with the flat data selector too.
    pub flat_fs_gs: u32,
    /// 1 while guest code may be running (the signal handler checks it).
    pub running: u32,
    /// 1 once the signal handler has recorded this case's result.
    pub captured: u32,
    // ---- guest input ----
    pub in_gpr: [u32; 8],
    pub in_eip: u32,
    pub in_eflags: u32,
    // ---- guest output ----
    /// 0: left through the exit sentinel; 1: left through a signal.
    pub exit_kind: u32,
    pub out_gpr: [u32; 8],
    pub out_eip: u32,
    pub out_eflags: u32,
    /// ES, CS, SS, DS, FS, GS.
    pub out_sreg: [u16; 6],
    pub sig_signo: i32,
    pub sig_code: i32,
    pub sig_errno: i32,
    pub sig_syscall: i32,
    pub trapno: u32,
    pub err: u32,
    pub cr2: u64,
    pub si_addr: u64,
    pub fx_in: FxArea,
    pub fx_out: FxArea,
}

impl Ctl {
    const ZERO: Ctl = Ctl {
        host_rsp: 0,
        host_fsbase: 0,
        host_gsbase: 0,
        host_mxcsr: 0,
        host_fcw: 0,
        host_ds: 0,
        host_es: 0,
        host_ss: 0,
        host_fs: 0,
        host_gs: 0,
        use_fsgsbase: 0,
        flat_fs_gs: 0,
        running: 0,
        captured: 0,
        in_gpr: [0; 8],
        in_eip: 0,
        in_eflags: 0,
        exit_kind: 0,
        out_gpr: [0; 8],
        out_eip: 0,
        out_eflags: 0,
        out_sreg: [0; 6],
        sig_signo: 0,
        sig_code: 0,
        sig_errno: 0,
        sig_syscall: 0,
        trapno: 0,
        err: 0,
        cr2: 0,
        si_addr: 0,
        fx_in: FxArea::ZERO,
        fx_out: FxArea::ZERO,
    };
}

/// The one control block of the (single-threaded) child process. A static,
/// not a thread-local: the guest may have changed FS, so neither the
/// trampolines nor the signal handler may rely on TLS.
pub(crate) struct CtlCell(UnsafeCell<Ctl>);

// SAFETY: only the single thread of the forked child touches the cell (the
// parent never runs a case), and the signal handler only runs synchronously
// on that thread while it executes guest code.
unsafe impl Sync for CtlCell {}

pub(crate) static CTL: CtlCell = CtlCell(UnsafeCell::new(Ctl::ZERO));

impl CtlCell {
    pub(crate) fn get(&self) -> *mut Ctl {
        self.0.get()
    }
}

unsafe extern "C" {
    /// Runs the case described by `CTL` (the argument is `CTL`'s address,
    /// passed only so that the compiler sees the block escape).
    fn native32_enter(ctl: *mut Ctl);
    /// Target of the rewritten signal context (never called from Rust).
    fn native32_fault_resume();
    /// 64-bit code reached from the low exit stub (never called from Rust).
    fn native32_exit64();
    /// Signal handler entry: clears EFLAGS.AC, then jumps to `on_signal`.
    fn native32_sig_entry();
}

// Labels: global names for the entry points; numeric local labels avoid
// digits-only-0/1 names, which Intel syntax would read as binary literals.
std::arch::global_asm!(
    ".pushsection .text.native32,\"ax\",@progbits",
    ".p2align 4",
    ".globl native32_enter",
    "native32_enter:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov [rip + {ctl} + {host_rsp}], rsp",
    "mov word ptr [rip + {ctl} + {host_ds}], ds",
    "mov word ptr [rip + {ctl} + {host_es}], es",
    "mov word ptr [rip + {ctl} + {host_ss}], ss",
    "mov word ptr [rip + {ctl} + {host_fs}], fs",
    "mov word ptr [rip + {ctl} + {host_gs}], gs",
    "fnstcw word ptr [rip + {ctl} + {host_fcw}]",
    "stmxcsr dword ptr [rip + {ctl} + {host_mxcsr}]",
    "cmp dword ptr [rip + {ctl} + {use_fsgsbase}], 0",
    "je 2f",
    "rdfsbase rax",
    "mov [rip + {ctl} + {host_fsbase}], rax",
    "rdgsbase rax",
    "mov [rip + {ctl} + {host_gsbase}], rax",
    "2:",
    "fxrstor [rip + {ctl} + {fx_in}]",
    "mov eax, {sel_data}",
    "mov ds, eax",
    "mov es, eax",
    "cmp dword ptr [rip + {ctl} + {flat_fs_gs}], 0",
    "je 3f",
    "mov fs, eax",
    "mov gs, eax",
    "3:",
    // IRETQ frame: SS, RSP, RFLAGS, CS, RIP.
    "push {sel_data}",
    "mov eax, dword ptr [rip + {ctl} + {in_gpr} + 16]",
    "push rax",
    "mov eax, dword ptr [rip + {ctl} + {in_eflags}]",
    "push rax",
    "push {sel_code32}",
    "mov eax, dword ptr [rip + {ctl} + {in_eip}]",
    "push rax",
    "mov eax, dword ptr [rip + {ctl} + {in_gpr} + 0]",
    "mov ecx, dword ptr [rip + {ctl} + {in_gpr} + 4]",
    "mov edx, dword ptr [rip + {ctl} + {in_gpr} + 8]",
    "mov ebx, dword ptr [rip + {ctl} + {in_gpr} + 12]",
    "mov ebp, dword ptr [rip + {ctl} + {in_gpr} + 20]",
    "mov esi, dword ptr [rip + {ctl} + {in_gpr} + 24]",
    "mov edi, dword ptr [rip + {ctl} + {in_gpr} + 28]",
    "iretq",
    //
    // Normal exit: reached in 64-bit mode from the low stub, with every
    // guest GPR and the guest's flags live. Only flag-neutral instructions
    // until PUSHFQ.
    ".p2align 4",
    ".globl native32_exit64",
    "native32_exit64:",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 0], eax",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 4], ecx",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 8], edx",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 12], ebx",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 16], esp",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 20], ebp",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 24], esi",
    "mov dword ptr [rip + {ctl} + {out_gpr} + 28], edi",
    "mov rsp, [rip + {ctl} + {host_rsp}]",
    "pushfq",
    "pop rax",
    "mov dword ptr [rip + {ctl} + {out_eflags}], eax",
    "mov dword ptr [rip + {ctl} + {exit_kind}], 0",
    "mov word ptr [rip + {ctl} + {out_sreg} + 2], {sel_code32}",
    "jmp 4f",
    //
    // Fault exit: the signal handler filled the output fields and pointed
    // the context here; the kernel restored the guest's FPU state.
    ".p2align 4",
    ".globl native32_fault_resume",
    "native32_fault_resume:",
    "mov rsp, [rip + {ctl} + {host_rsp}]",
    "4:",
    "push 2",
    "popfq",
    "mov word ptr [rip + {ctl} + {out_sreg} + 0], es",
    "mov word ptr [rip + {ctl} + {out_sreg} + 4], ss",
    "mov word ptr [rip + {ctl} + {out_sreg} + 6], ds",
    "mov word ptr [rip + {ctl} + {out_sreg} + 8], fs",
    "mov word ptr [rip + {ctl} + {out_sreg} + 10], gs",
    "fxsave [rip + {ctl} + {fx_out}]",
    "fninit",
    "fldcw word ptr [rip + {ctl} + {host_fcw}]",
    "ldmxcsr dword ptr [rip + {ctl} + {host_mxcsr}]",
    "mov ax, word ptr [rip + {ctl} + {host_ds}]",
    "mov ds, ax",
    "mov ax, word ptr [rip + {ctl} + {host_es}]",
    "mov es, ax",
    "mov ax, word ptr [rip + {ctl} + {host_ss}]",
    "mov ss, ax",
    "mov ax, word ptr [rip + {ctl} + {host_fs}]",
    "mov fs, ax",
    "mov ax, word ptr [rip + {ctl} + {host_gs}]",
    "mov gs, ax",
    // Selector reloads may or may not have changed the bases (a guest
    // loading a null selector clears the base on some CPUs, with the
    // selector value unchanged), so always rewrite both bases.
    "cmp dword ptr [rip + {ctl} + {use_fsgsbase}], 0",
    "je 8f",
    "mov rax, [rip + {ctl} + {host_fsbase}]",
    "wrfsbase rax",
    "mov rax, [rip + {ctl} + {host_gsbase}]",
    "wrgsbase rax",
    "jmp 9f",
    "8:",
    "mov eax, {sys_arch_prctl}",
    "mov edi, {arch_set_fs}",
    "mov rsi, [rip + {ctl} + {host_fsbase}]",
    "syscall",
    "mov eax, {sys_arch_prctl}",
    "mov edi, {arch_set_gs}",
    "mov rsi, [rip + {ctl} + {host_gsbase}]",
    "syscall",
    "9:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    //
    // Signal entry: the kernel does not clear EFLAGS.AC for a handler, and
    // with AC=1 at CPL 3 a misaligned access in Rust code would raise #AC.
    ".p2align 4",
    ".globl native32_sig_entry",
    "native32_sig_entry:",
    "pushfq",
    "and dword ptr [rsp], 0xFFFBFFFF",
    "popfq",
    "jmp {handler}",
    ".popsection",
    ctl = sym CTL,
    handler = sym on_signal,
    host_rsp = const offset_of!(Ctl, host_rsp),
    host_fsbase = const offset_of!(Ctl, host_fsbase),
    host_gsbase = const offset_of!(Ctl, host_gsbase),
    host_mxcsr = const offset_of!(Ctl, host_mxcsr),
    host_fcw = const offset_of!(Ctl, host_fcw),
    host_ds = const offset_of!(Ctl, host_ds),
    host_es = const offset_of!(Ctl, host_es),
    host_ss = const offset_of!(Ctl, host_ss),
    host_fs = const offset_of!(Ctl, host_fs),
    host_gs = const offset_of!(Ctl, host_gs),
    use_fsgsbase = const offset_of!(Ctl, use_fsgsbase),
    flat_fs_gs = const offset_of!(Ctl, flat_fs_gs),
    in_gpr = const offset_of!(Ctl, in_gpr),
    in_eip = const offset_of!(Ctl, in_eip),
    in_eflags = const offset_of!(Ctl, in_eflags),
    exit_kind = const offset_of!(Ctl, exit_kind),
    out_gpr = const offset_of!(Ctl, out_gpr),
    out_eflags = const offset_of!(Ctl, out_eflags),
    out_sreg = const offset_of!(Ctl, out_sreg),
    fx_in = const offset_of!(Ctl, fx_in),
    fx_out = const offset_of!(Ctl, fx_out),
    sel_data = const SEL_DATA,
    sel_code32 = const SEL_CODE32,
    sys_arch_prctl = const libc::SYS_arch_prctl,
    arch_set_fs = const ARCH_SET_FS,
    arch_set_gs = const ARCH_SET_GS,
);

const ARCH_SET_GS: i32 = 0x1001;
const ARCH_SET_FS: i32 = 0x1002;
const ARCH_GET_FS: i32 = 0x1003;
const ARCH_GET_GS: i32 = 0x1004;

/// The signal handler proper (entered through `native32_sig_entry`).
///
/// Must not use thread-locals (the guest may have replaced FS) nor allocate.
extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let ctl = CTL.get();
    // SAFETY: the kernel passes valid siginfo and ucontext pointers to an
    // SA_SIGINFO handler; CTL is only touched by this (single) thread, which
    // is inside guest code or our trampolines whenever `running` is 1.
    unsafe {
        if (*ctl).running == 0 {
            // Not a guest fault: a bug of the child itself. Die with the
            // default action when the instruction is retried.
            libc::signal(sig, libc::SIG_DFL);
            return;
        }
        if (*ctl).captured != 0 {
            // A second signal for the same case, delivered on the way out
            // (a trap that was pending behind the first one): the first
            // one is the result. Any other signal here is a fault in our
            // own exit path: die on the retried instruction.
            if sig != libc::SIGTRAP && sig != libc::SIGSYS {
                (*ctl).running = 0;
                libc::signal(sig, libc::SIG_DFL);
            }
            return;
        }
        (*ctl).captured = 1;
        let uc = uctx.cast::<libc::ucontext_t>();
        let g = &mut (*uc).uc_mcontext.gregs;
        let r = |i: libc::c_int| g[i as usize] as u64;
        let csgsfs = r(libc::REG_CSGSFS);
        let cs = csgsfs as u16;
        let rip = r(libc::REG_RIP);

        // TF set by the guest's last instruction: the sentinel far jump
        // traps on arrival at the 64-bit stub. That is a normal completion.
        let at_stub = cs == SEL_CODE64 && rip == u64::from(EXIT_STUB_ADDR);
        let completed = sig == libc::SIGTRAP && at_stub;

        let order = [
            libc::REG_RAX,
            libc::REG_RCX,
            libc::REG_RDX,
            libc::REG_RBX,
            libc::REG_RSP,
            libc::REG_RBP,
            libc::REG_RSI,
            libc::REG_RDI,
        ];
        for (k, reg) in order.into_iter().enumerate() {
            (*ctl).out_gpr[k] = r(reg) as u32;
        }
        (*ctl).out_eip = rip as u32;
        (*ctl).out_eflags = r(libc::REG_EFL) as u32;
        (*ctl).out_sreg[1] = if at_stub { SEL_CODE32 } else { cs };
        (*ctl).exit_kind = if completed { 0 } else { 1 };
        (*ctl).trapno = r(libc::REG_TRAPNO) as u32;
        (*ctl).err = r(libc::REG_ERR) as u32;
        (*ctl).cr2 = r(libc::REG_CR2);
        (*ctl).sig_signo = (*info).si_signo;
        (*ctl).sig_code = (*info).si_code;
        (*ctl).sig_errno = (*info).si_errno;
        (*ctl).si_addr = (*info).si_addr() as u64;
        // SIGSYS (seccomp): `_sigsys { void *call_addr; int syscall; u32 arch }`
        // at offset 16 of siginfo.
        (*ctl).sig_syscall = if sig == libc::SIGSYS {
            info.cast::<u8>().add(24).cast::<i32>().read_unaligned()
        } else {
            -1
        };

        // Leave the guest: resume in 64-bit code on the host stack with
        // clean flags.
        g[libc::REG_RIP as usize] = native32_fault_resume as *const () as usize as i64;
        let csgsfs = (csgsfs & 0x0000_FFFF_FFFF_0000) | u64::from(SEL_CODE64) | (u64::from(SEL_DATA) << 48);
        g[libc::REG_CSGSFS as usize] = csgsfs as i64;
        g[libc::REG_RSP as usize] = (*ctl).host_rsp as i64;
        g[libc::REG_EFL as usize] = 0x202;
    }
}

/// Runs the case currently described in `CTL`'s input fields.
pub(crate) fn enter() {
    let ctl = CTL.get();
    // SAFETY: `native32_enter` follows the SysV ABI (callee-saved registers,
    // RSP, DF=0, FCW and MXCSR are restored before it returns). It only runs
    // guest code in 32-bit compatibility mode, which can touch memory below
    // 4 GiB only; our own state lives above (binary, stack, heap, CTL). The
    // caller has installed the signal handlers, the alternate signal stack
    // and the exit stub page (see `setup`).
    unsafe {
        (*ctl).running = 1;
        (*ctl).captured = 0;
        native32_enter(ctl);
        (*ctl).running = 0;
    }
}

/// Errors of the one-time child setup (an `errno` value and what failed).
pub(crate) type SetupError = (&'static str, i32);

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// One-time setup of the child process: signal handlers on an alternate
/// stack, the exit stub page, FS/GS base bookkeeping, and a seccomp filter
/// that turns every system call but the child's own into SIGSYS (required:
/// without it guest code could act on the system through `int 0x80`).
pub(crate) fn setup(force_no_fsgsbase: bool) -> Result<(), SetupError> {
    let ctl = CTL.get();
    // SAFETY: plain system calls on memory we own: a fresh anonymous mapping
    // (kernel-chosen address, so above 4 GiB on x86-64 Linux) for the
    // alternate stack, a MAP_FIXED_NOREPLACE mapping for the stub page
    // (fails instead of replacing anything), sigaction with a handler that
    // matches the SA_SIGINFO signature. CTL is only used by this thread.
    unsafe {
        // Die with the parent; no core dumps of crashed children.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        let nocore = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &nocore);

        // Alternate signal stack: guest ESP is not a usable host stack.
        const ALT_LEN: usize = 256 * 1024;
        let alt = libc::mmap(
            std::ptr::null_mut(),
            ALT_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if alt == libc::MAP_FAILED {
            return Err(("mmap alternate stack", errno()));
        }
        let ss = libc::stack_t {
            ss_sp: alt,
            ss_flags: 0,
            ss_size: ALT_LEN,
        };
        if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
            return Err(("sigaltstack", errno()));
        }

        let sigs = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP, libc::SIGSYS];
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        for s in sigs {
            libc::sigaddset(&mut mask, s);
        }
        for s in sigs {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = native32_sig_entry as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            sa.sa_mask = mask;
            if libc::sigaction(s, &sa, std::ptr::null_mut()) != 0 {
                return Err(("sigaction", errno()));
            }
        }
        // The forking thread may have had some of them blocked.
        libc::sigprocmask(libc::SIG_UNBLOCK, &mask, std::ptr::null_mut());

        // FS/GS bases of the host, to restore after guest code.
        let hwcap2 = libc::getauxval(libc::AT_HWCAP2);
        let fsgsbase = !force_no_fsgsbase && hwcap2 & HWCAP2_FSGSBASE != 0;
        (*ctl).use_fsgsbase = u32::from(fsgsbase);
        if !fsgsbase {
            let mut fs: u64 = 0;
            let mut gs: u64 = 0;
            libc::syscall(libc::SYS_arch_prctl, ARCH_GET_FS, &mut fs as *mut u64);
            libc::syscall(libc::SYS_arch_prctl, ARCH_GET_GS, &mut gs as *mut u64);
            (*ctl).host_fsbase = fs;
            (*ctl).host_gsbase = gs;
        }

        // The exit stub: `jmp qword [rip+2]`, two pad bytes, then the 8-byte
        // (aligned: the guest may have set EFLAGS.AC) target address.
        let page = crate::PAGE as usize;
        let stub = libc::mmap(
            EXIT_STUB_ADDR as usize as *mut libc::c_void,
            page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        );
        if stub as usize != EXIT_STUB_ADDR as usize {
            return Err(("mmap exit stub", errno()));
        }
        let bytes = std::slice::from_raw_parts_mut(stub.cast::<u8>(), page);
        bytes.fill(0xCC);
        bytes[0..8].copy_from_slice(&[0xFF, 0x25, 0x02, 0x00, 0x00, 0x00, 0xCC, 0xCC]);
        let target = native32_exit64 as *const () as usize as u64;
        bytes[8..16].copy_from_slice(&target.to_le_bytes());
        if libc::mprotect(stub, page, libc::PROT_READ | libc::PROT_EXEC) != 0 {
            return Err(("mprotect exit stub", errno()));
        }

        install_seccomp()
    }
}

const HWCAP2_FSGSBASE: u64 = 1 << 1;

/// The 64-bit system calls the child itself makes after setup (plus what
/// `abort` on a panic would need to end the process).
const ALLOWED_SYSCALLS: [libc::c_long; 14] = [
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_arch_prctl,
    libc::SYS_getpid,
    libc::SYS_exit,
    libc::SYS_exit_group,
];

/// Installs a seccomp filter that turns every system call except the
/// child's own few 64-bit ones into SIGSYS: all a 32-bit guest can issue
/// (`int 0x80`, `syscall` from compatibility mode, `sysenter`) and most of
/// what guest code that escaped to 64-bit mode could try (no `kill`, no file
/// system, no `fork`).
fn install_seccomp() -> Result<(), SetupError> {
    const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS
    const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K (0)
    const BPF_RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    const SECCOMP_RET_ALLOW: u32 = 0x7FFF_0000;
    const N: usize = ALLOWED_SYSCALLS.len();
    let stmt = |code, k| libc::sock_filter { code, jt: 0, jf: 0, k };
    // 0: A = arch; 1: arch != x86-64 -> trap; 2: A = nr;
    // 3..3+N: nr == allowed[i] -> allow; 3+N: trap; 4+N: allow.
    let mut filter = [stmt(BPF_RET_K, libc::SECCOMP_RET_TRAP); N + 5];
    filter[0] = stmt(BPF_LD_W_ABS, 4);
    filter[1] = libc::sock_filter {
        code: BPF_JEQ_K,
        jt: 0,
        jf: (N + 1) as u8,
        k: AUDIT_ARCH_X86_64,
    };
    filter[2] = stmt(BPF_LD_W_ABS, 0);
    for (i, &nr) in ALLOWED_SYSCALLS.iter().enumerate() {
        filter[3 + i] = libc::sock_filter {
            code: BPF_JEQ_K,
            jt: (N - i) as u8,
            jf: 0,
            k: nr as u32,
        };
    }
    filter[N + 4] = stmt(BPF_RET_K, SECCOMP_RET_ALLOW);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl and seccomp only read `prog`/`filter`, which outlive the
    // calls; the filter allows every system call this process still makes.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(("prctl(PR_SET_NO_NEW_PRIVS)", errno()));
        }
        if libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(("seccomp", errno()));
        }
    }
    Ok(())
}
