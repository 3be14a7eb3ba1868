//! `--display text`: Linux's VGA console (console=tty0) drawn on the host
//! terminal, and keys typed on the host terminal reaching the guest
//! through the PS/2 keyboard (set 2 scan codes, translated by the i8042).
//! The test types a command, powers off, and reads the text screen saved
//! at exit.

mod common;

use common::{Guest, asset, initramfs};
use std::time::Duration;

#[test]
fn keyboard_types_into_vga_console() {
    let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-vga.txt", std::process::id()));
    let args: Vec<String> = [
        "--kernel",
        &asset("vmlinuz").display().to_string(),
        "--initrd",
        &initramfs().display().to_string(),
        "--append",
        "console=tty0 panic=-1",
        "--display",
        "text",
        "--no-reboot",
        "--timeout",
        "900",
        "--screenshot",
        &shot.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut g = Guest::start(&args);
    // The screen is drawn as ANSI updates; a line that changed is drawn as
    // one run of characters.
    g.wait_for("ringvisor-guest: ready", Duration::from_secs(600));
    std::thread::sleep(Duration::from_secs(2));
    g.send("echo kb-$((6*7))-ok");
    std::thread::sleep(Duration::from_secs(2));
    g.send("poweroff -f");
    assert_eq!(g.wait_exit(Duration::from_secs(120)), Some(0));
    let text = std::fs::read_to_string(&shot).expect("screenshot written");
    let _ = std::fs::remove_file(&shot);
    assert!(text.contains("kb-42-ok"), "screen:\n{text}");
    assert!(g.log.contains("\x1b["), "the screen was drawn with ANSI sequences");
}
