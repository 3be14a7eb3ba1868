//! BIOS boot: Debian's SeaBIOS (ringvisor's default firmware) shows its
//! banner on the VGA text screen, boots a hard-disk image (SYSLINUX on
//! FAT) and an ISO (ISOLINUX, El Torito) to the Linux shell, and the
//! kernel drives the disk itself through ata_piix: a file written and
//! synced on one boot is there on the next.
//!
//! The images come from scripts/guest-images.sh (scripts/test.sh runs it).

mod common;

use common::{Guest, assets};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(600);
const CMD: Duration = Duration::from_secs(120);

fn image(name: &str) -> PathBuf {
    let p = assets().join("images").join(name);
    assert!(p.exists(), "{} is missing: run scripts/guest-images.sh first", p.display());
    p
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!("{}-{name}", std::process::id()))
}

fn bios_args(timeout: u32, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["--memory", "256M", "--no-reboot", "--timeout"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(timeout.to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn seabios_banner_on_vga_text_screen() {
    let shot = tmp("screen.txt");
    // No bootable device: SeaBIOS shows its banner and the boot attempts.
    let mut g = Guest::start(&bios_args(
        8,
        &["--bios", "/usr/share/seabios/bios.bin", "--screenshot", &path_str(&shot)],
    ));
    let status = g.wait_exit(Duration::from_secs(120));
    assert_eq!(status, Some(124), "expected the timeout to end the run");
    let text = std::fs::read_to_string(&shot).expect("screenshot written");
    let _ = std::fs::remove_file(&shot);
    assert!(text.contains("SeaBIOS (version"), "screen:\n{text}");
    assert!(text.contains("Booting from"), "screen:\n{text}");
}

/// Boot `image` (a copy) through SeaBIOS, check ata_piix and the file on
/// it, write a file, sync, power off; boot again and read it back.
fn disk_write_survives_reboot(image_name: &str, format: &str) {
    let disk = tmp(image_name);
    std::fs::copy(image(image_name), &disk).unwrap();
    let disk_arg = format!("{},format={format}", disk.display());
    let mut g = Guest::start(&bios_args(900, &["--disk", &disk_arg]));
    g.wait_for("SYSLINUX 6.04", BOOT);
    g.wait_for("ringvisor-guest: ready", BOOT);
    eprintln!("{image_name} boot: shell after {:.1} s", g.started.elapsed().as_secs_f64());
    let drivers = g.command("lsmod", CMD);
    assert!(drivers.contains("ata_piix"), "ata_piix not loaded: {drivers}");
    let hello = g.command("mount /dev/sda1 /mnt && cat /mnt/hello.txt", CMD);
    assert!(hello.contains("hello from the ringvisor test image"), "{hello}");
    // More than a cluster of new data, so a qcow2 image must allocate.
    g.command(
        "echo written-by-first-boot > /mnt/new.txt && dd if=/dev/zero of=/mnt/big bs=64k count=16 && sync && umount /mnt",
        CMD,
    );
    g.send("poweroff -f");
    assert_eq!(g.wait_exit(CMD), Some(0));

    let mut g = Guest::start(&bios_args(900, &["--disk", &disk_arg]));
    g.wait_for("ringvisor-guest: ready", BOOT);
    let again = g.command("mount -o ro /dev/sda1 /mnt && cat /mnt/new.txt && wc -c < /mnt/big", CMD);
    assert!(again.contains("written-by-first-boot") && again.contains("1048576"), "{again}");
    g.send("poweroff -f");
    assert_eq!(g.wait_exit(CMD), Some(0));
    let _ = std::fs::remove_file(&disk);
}

#[test]
fn disk_boot_write_survives_reboot() {
    disk_write_survives_reboot("disk.img", "raw");
}

#[test]
fn qcow2_disk_boot_write_survives_reboot() {
    disk_write_survives_reboot("disk.qcow2", "qcow2");
}

#[test]
fn cdrom_boot_to_shell() {
    let iso = image("boot.iso");
    let mut g = Guest::start(&bios_args(900, &["--cdrom", &path_str(&iso)]));
    g.wait_for("ISOLINUX 6.04", BOOT);
    g.wait_for("ringvisor-guest: ready", BOOT);
    eprintln!("CD boot: shell after {:.1} s", g.started.elapsed().as_secs_f64());
    let hello = g.command("mount /dev/sr0 /mnt && cat /mnt/hello.txt", CMD);
    assert!(hello.contains("hello from the ringvisor test image"), "{hello}");
    g.send("poweroff -f");
    assert_eq!(g.wait_exit(CMD), Some(0));
}

#[test]
fn guest_reboot_runs_seabios_again() {
    // Without --no-reboot: the guest's reboot resets the PC (PAM back to
    // ROM, devices reset) and SeaBIOS boots the CD a second time.
    let iso = image("boot.iso");
    let args: Vec<String> = ["--memory", "256M", "--timeout", "900", "--cdrom", &path_str(&iso)]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut g = Guest::start(&args);
    g.wait_for("ISOLINUX 6.04", BOOT);
    g.wait_for("ringvisor-guest: ready", BOOT);
    g.send("reboot -f");
    g.wait_for("ISOLINUX 6.04", BOOT);
    g.wait_for("ringvisor-guest: ready", BOOT);
    let hello = g.command("mount /dev/sr0 /mnt && cat /mnt/hello.txt", CMD);
    assert!(hello.contains("hello from the ringvisor test image"), "{hello}");
    g.send("poweroff -f");
    assert_eq!(g.wait_exit(CMD), Some(0));
}
