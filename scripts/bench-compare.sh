#!/usr/bin/env bash
# The comparison benchmark of docs/performance.md: the same Debian i686
# kernel and workloads (boot to shell, md5sum of 64 MiB, a busybox shell
# loop) on ringvisor's engines, QEMU TCG and natively on the host, with
# ratios. Installs qemu-system-x86 from Debian when it is missing (as root),
# fetches the guest assets, builds ringvisor, and runs
# `ringvisor bench compare` (extra arguments are passed on, e.g.
# `--only recompiler,qemu` or `--loops 20000`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-system-i386 >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq --no-install-recommends qemu-system-x86; then
            # No package lists yet; the security index sometimes fails
            # while mirrors sync: go on with what arrived.
            apt-get update -qq || echo "bench-compare: apt-get update reported errors; continuing" >&2
            apt-get install -y -qq --no-install-recommends qemu-system-x86
        fi
    else
        echo "bench-compare: qemu-system-i386 is missing; install qemu-system-x86 (the QEMU row is skipped)" >&2
    fi
fi
./scripts/guest-assets.sh
cargo build --release -p ringvisor
exec ./target/release/ringvisor bench compare "$@"
