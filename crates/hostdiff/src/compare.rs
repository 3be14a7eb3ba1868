//! Comparison of the host's and the interpreter's outcomes.
//!
//! Compared: the kind of outcome (completed or exception); all eight GPRs,
//! EIP, EFLAGS (every bit, except the undefined arithmetic flags the
//! program reports, see [`crate::undefined`]), the six segment selectors
//! and the contents of every region; for exceptions also the vector, the
//! error code and, for #PF, CR2.
//!
//! Three differences are masked:
//! - RF in the EFLAGS image of a single-step #DB taken between two
//!   iterations of a `REP` string instruction: the interpreter follows the
//!   SDM (vol. 3, 17.3.1.1: RF set, so an instruction breakpoint does not
//!   fire again when the instruction resumes), the AMD host pushes RF = 0
//!   (see [`vendor_flag_mask`]);
//! - the I/D bit (bit 4) of a #PF error code: the host runs with EFER.NXE
//!   and reports instruction-fetch faults with I/D = 1; the modelled P6
//!   has no NX and never sets it;
//! - the RPL of a *null* selector in DS, ES, FS or GS after an exception:
//!   on the host the exception goes through the kernel, whose return to
//!   user mode (`IRET` on AMD) reloads a null selector as 0, so a `3`
//!   loaded by the program reads back as `0`. Not a property of the
//!   instruction under test.

use native32::{Fault, Outcome, Snapshot};

/// #PF error-code bits that are not compared (I/D).
pub const PF_ERROR_IGNORED: u32 = 1 << 4;

const NAMES: [&str; 8] = ["EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"];

fn flag_names(v: u32) -> String {
    const BITS: [(u32, &str); 15] = [
        (0, "CF"),
        (2, "PF"),
        (4, "AF"),
        (6, "ZF"),
        (7, "SF"),
        (8, "TF"),
        (9, "IF"),
        (10, "DF"),
        (11, "OF"),
        (12, "IOPL0"),
        (13, "IOPL1"),
        (14, "NT"),
        (16, "RF"),
        (18, "AC"),
        (21, "ID"),
    ];
    let v: Vec<&str> = BITS.iter().filter(|(b, _)| v & (1 << b) != 0).map(|&(_, n)| n).collect();
    v.join(" ")
}

fn snapshots(host: &Snapshot, interp: &Snapshot, flag_mask: u32, out: &mut Vec<String>) {
    for (k, name) in NAMES.iter().enumerate() {
        let (h, i) = (host.state.gpr[k], interp.state.gpr[k]);
        if h != i {
            out.push(format!("{name}: host {h:#010x}, interpreter {i:#010x}"));
        }
    }
    if host.state.eip != interp.state.eip {
        out.push(format!(
            "EIP: host {:#010x}, interpreter {:#010x}",
            host.state.eip, interp.state.eip
        ));
    }
    let (h, i) = (host.state.eflags & !flag_mask, interp.state.eflags & !flag_mask);
    if h != i {
        out.push(format!(
            "EFLAGS: host {h:#010x}, interpreter {i:#010x} (differ: {}; masked: {})",
            flag_names(h ^ i),
            flag_names(flag_mask)
        ));
    }
    if host.sregs != interp.sregs {
        out.push(format!("selectors: host {:?}, interpreter {:?}", host.sregs, interp.sregs));
    }
    for (r, (hm, im)) in host.memory.iter().zip(&interp.memory).enumerate() {
        if hm != im {
            let diffs: Vec<usize> = (0..hm.len().min(im.len())).filter(|&k| hm[k] != im[k]).collect();
            let first = diffs.first().copied().unwrap_or(0);
            out.push(format!(
                "region {r}: {} bytes differ, first at +{first:#x}: host {:02x?}, interpreter {:02x?}",
                diffs.len(),
                &hm[first..(first + 8).min(hm.len())],
                &im[first..(first + 8).min(im.len())],
            ));
        }
    }
}

fn faults(host: &Fault, interp: &Fault, out: &mut Vec<String>) {
    if host.vector != interp.vector {
        out.push(format!("vector: host {}, interpreter {}", host.vector, interp.vector));
        return;
    }
    let ignore = if host.vector == x86::exception::PF { PF_ERROR_IGNORED } else { 0 };
    if (host.error_code ^ interp.error_code) & !ignore != 0 {
        out.push(format!(
            "error code: host {:#x}, interpreter {:#x}",
            host.error_code, interp.error_code
        ));
    }
    if host.fault_addr != interp.fault_addr {
        out.push(format!("CR2: host {:x?}, interpreter {:x?}", host.fault_addr, interp.fault_addr));
    }
}

/// EFLAGS bits not compared because the interpreter deliberately follows
/// Intel where the AMD host differs: RF after a single-step #DB that
/// interrupted a `REP` string instruction (EIP still on it).
pub fn vendor_flag_mask(case: &native32::Case, host: &Outcome) -> u32 {
    let Some(f) = host.fault() else { return 0 };
    if f.vector != x86::exception::DB {
        return 0;
    }
    let Some(off) = f.code_offset().map(|o| o as usize) else {
        return 0;
    };
    let Some(bytes) = case.code.get(off..) else {
        return 0;
    };
    let mut d = iced_x86::Decoder::with_ip(32, bytes, u64::from(f.eip), 0);
    let i = d.decode();
    if i.is_string_instruction() && (i.has_rep_prefix() || i.has_repne_prefix()) {
        x86::flags::RF
    } else {
        0
    }
}

/// Differences between the host's outcome and the interpreter's, in words
/// (empty when they agree). `flag_mask`: EFLAGS bits not compared.
pub fn compare(host: &Outcome, interp: &Outcome, flag_mask: u32) -> Vec<String> {
    let mut out = Vec::new();
    match (host, interp) {
        (Outcome::Completed(h), Outcome::Completed(i)) => snapshots(h, i, flag_mask, &mut out),
        (Outcome::Exception { fault: hf, snapshot: hs }, Outcome::Exception { fault: jf, snapshot: js }) => {
            faults(hf, jf, &mut out);
            let mut js = js.clone();
            let null = |host: u16, interp: &mut u16| {
                if host == 0 && *interp & !3 == 0 {
                    *interp = 0;
                }
            };
            null(hs.sregs.ds, &mut js.sregs.ds);
            null(hs.sregs.es, &mut js.sregs.es);
            null(hs.sregs.fs, &mut js.sregs.fs);
            null(hs.sregs.gs, &mut js.sregs.gs);
            snapshots(hs, &js, flag_mask, &mut out);
        }
        (h, i) => out.push(format!("outcome: host {}, interpreter {}", describe(h), describe(i))),
    }
    out
}

/// A one-line description of an outcome.
pub fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Completed(s) => format!("completed at {:#x}", s.state.eip),
        Outcome::Exception { fault, .. } => format!(
            "exception {} (error {:#x}) at {:#x}{}",
            fault.vector,
            fault.error_code,
            fault.eip,
            fault.fault_addr.map(|a| format!(", CR2 {a:#x}")).unwrap_or_default()
        ),
        Outcome::Timeout => "timeout".into(),
        Outcome::Crashed { reason } => format!("crashed ({reason})"),
        Outcome::SetupFailed { what, errno } => format!("setup failed ({what}, errno {errno})"),
    }
}
