#!/usr/bin/env bash
# The demo: fetch Debian's i686 kernel and busybox (once), build
# ringvisor, and boot Linux to an interactive shell on this terminal.
# Quit with Ctrl-A x (or type `poweroff -f` in the guest).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/guest-assets.sh
cargo build --release -p ringvisor
assets=${RINGVISOR_ASSETS:-target/guest-assets}
./target/release/ringvisor initramfs --busybox "$assets/busybox" --init guest/init -o "$assets/initramfs.cpio.gz"
exec ./target/release/ringvisor run --kernel "$assets/vmlinuz" --initrd "$assets/initramfs.cpio.gz" \
    --append "console=ttyS0" --memory 256M "$@"
