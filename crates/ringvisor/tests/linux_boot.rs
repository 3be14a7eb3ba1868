//! Debian's i686 kernel boots with a busybox initramfs to a shell on the
//! serial console; commands typed there give the right answers; `poweroff
//! -f` ends ringvisor with status 0.

mod common;

use common::Guest;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BOOT: Duration = Duration::from_secs(1200);
const CMD: Duration = Duration::from_secs(300);

/// One guest at a time: on the 2-core CI machine, four guests booting at
/// once deschedule each other for milliseconds in the middle of Linux's
/// PIT-against-TSC calibration loop, which then gives up and marks the TSC
/// unstable (see docs/NOTES.md); the clock checks below assume one guest
/// per core, as a user runs it.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Boot, check the shell, power off. Shared by the engine variants.
pub fn boot_and_check(extra: &[&str]) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut g = Guest::linux(extra);
    g.wait_for("ringvisor-guest: ready", BOOT);
    let boot_time = g.started.elapsed();
    eprintln!("shell ready after {:.1} s", boot_time.as_secs_f64());

    let uname = g.command("uname -a", CMD);
    assert!(
        uname.contains("Linux ringvisor 6.") && uname.contains("-686") && uname.contains("i686"),
        "uname: {uname}"
    );

    let cpuinfo = g.command("cat /proc/cpuinfo", CMD);
    assert!(cpuinfo.contains("GenuineIntel"), "cpuinfo: {cpuinfo}");
    for flag in ["fpu", "tsc", "cx8", "cmov", "mmx", "fxsr"] {
        assert!(
            cpuinfo
                .lines()
                .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == flag)),
            "flag {flag} missing: {cpuinfo}"
        );
    }

    let interrupts = g.command("cat /proc/interrupts", CMD);
    assert!(interrupts.contains("timer"), "interrupts: {interrupts}");
    let timer: u64 = interrupts
        .lines()
        .find(|l| l.contains("timer"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(timer > 10, "timer interrupts not counting: {interrupts}");
    assert!(
        interrupts.contains("ttyS0") || interrupts.contains("serial"),
        "no serial interrupt: {interrupts}"
    );

    let sum = g.command("i=0; s=0; while [ $i -lt 2000 ]; do i=$((i+1)); s=$((s+i*i)); done; echo $s", CMD);
    assert_eq!(sum.lines().last().unwrap_or(""), "2668667000", "loop: {sum}");

    let host = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let guest: i64 = g.command("date +%s", CMD).lines().last().unwrap_or("0").trim().parse().unwrap_or(0);
    let host_after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(
        guest >= host - 1 && guest <= host_after + 1,
        "guest date {guest}, host {host}..{host_after}"
    );

    g.send("poweroff -f");
    assert_eq!(g.wait_exit(CMD), Some(0), "console:\n{}", g.log);
}

#[test]
fn debian_boots_to_shell_on_interpreter() {
    boot_and_check(&["--engine", "interpreter"]);
}

#[test]
fn debian_boots_to_shell_on_recompiler() {
    boot_and_check(&["--engine", "recompiler"]);
}

#[test]
fn debian_boots_to_shell_on_auto() {
    boot_and_check(&["--engine", "auto"]);
}

#[test]
fn debian_boots_to_shell_switching_engines() {
    // Move the CPU between interpreter and recompiler every 100,000
    // instructions, all through boot and the shell session.
    boot_and_check(&["--engine", "auto", "--switch-every", "100000"]);
}
