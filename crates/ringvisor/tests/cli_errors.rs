//! Bad user input gets one clear line and status 1, never a panic.

use std::process::{Command, Output};

fn ringvisor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringvisor")).args(args).output().unwrap()
}

fn assert_clear_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "panic: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
}

fn tmp(name: &str, data: &[u8]) -> String {
    let d = std::env::temp_dir().join(format!("ringvisor-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, data).unwrap();
    p.display().to_string()
}

#[test]
fn missing_kernel() {
    let out = ringvisor(&["run", "--kernel", "/nonexistent/vmlinuz"]);
    assert_clear_error(&out, "cannot read kernel /nonexistent/vmlinuz");
}

#[test]
fn corrupt_kernel() {
    let k = tmp("garbage", &[0x55; 4096]);
    let out = ringvisor(&["run", "--kernel", &k]);
    assert_clear_error(&out, "is not a bootable kernel");
}

#[test]
fn truncated_bzimage() {
    let mut img = vec![0u8; 0x400];
    img[0x1FE] = 0x55;
    img[0x1FF] = 0xAA;
    img[0x202..0x206].copy_from_slice(b"HdrS");
    img[0x206] = 0x0F;
    img[0x207] = 0x02;
    img[0x211] = 1;
    img[0x1F1] = 20;
    let k = tmp("trunc", &img);
    let out = ringvisor(&["run", "--kernel", &k]);
    assert_clear_error(&out, "ends inside its setup code");
}

#[test]
fn missing_initrd() {
    let k = tmp("k2", &[0x55; 4096]);
    let out = ringvisor(&["run", "--kernel", &k, "--initrd", "/nonexistent/initrd"]);
    assert_clear_error(&out, "cannot read initrd");
}

#[test]
fn bad_memory_size() {
    let out = ringvisor(&["run", "--kernel", "x", "--memory", "12Q"]);
    assert_clear_error(&out, "unknown size suffix");
    let k = tmp("k3", &[0x55; 4096]);
    let out = ringvisor(&["run", "--kernel", &k, "--memory", "8G"]);
    assert_clear_error(&out, "is larger than");
}

#[test]
fn bad_rom() {
    let r = tmp("rom", &[0; 1000]);
    let out = ringvisor(&["run", "--bios", &r]);
    assert_clear_error(&out, "multiple of 4 KiB");
}

#[test]
fn unknown_option_and_nothing_to_boot() {
    let out = ringvisor(&["run", "--frobnicate"]);
    assert_clear_error(&out, "unexpected argument '--frobnicate'");
    let out = ringvisor(&["run"]);
    assert_clear_error(&out, "nothing to boot");
}

#[test]
fn missing_disk_image() {
    let out = ringvisor(&["run", "--disk", "/nonexistent/disk.img"]);
    assert_clear_error(&out, "disk image /nonexistent/disk.img: no such file");
}

#[test]
fn foreign_disk_format() {
    let d = tmp("disk.vmdk", b"KDMV\x01\0\0\0 not really a vmdk, but its magic says so");
    let out = ringvisor(&["run", "--disk", &d]);
    assert_clear_error(&out, "is a VMDK image; only raw and qcow2 are supported");
}

#[test]
fn corrupt_qcow2_disk() {
    let d = tmp("disk.qcow2", b"QFI\xfb\0\0\0\x09garbage");
    let out = ringvisor(&["run", "--disk", &d]);
    assert_clear_error(&out, "not a valid qcow2 image");
}

#[test]
fn bad_disk_option() {
    let d = tmp("disk.raw", &[0; 4096]);
    let out = ringvisor(&["run", "--disk", &format!("{d},cache=none")]);
    assert_clear_error(&out, "unknown disk option 'cache=none'");
}

#[test]
fn missing_cdrom_image() {
    let out = ringvisor(&["run", "--cdrom", "/nonexistent/cd.iso"]);
    assert_clear_error(&out, "/nonexistent/cd.iso: no such file");
}

#[test]
fn bad_boot_device() {
    let out = ringvisor(&["run", "--boot", "floppy"]);
    assert_clear_error(&out, "'floppy' is not a boot device");
}

#[test]
fn display_text_with_serial_stdio() {
    let out = ringvisor(&["run", "--display", "text", "--serial", "stdio"]);
    assert_clear_error(&out, "--display text uses the terminal");
}
