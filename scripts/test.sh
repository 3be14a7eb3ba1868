#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): guest assets,
# formatting and lint gates, then every test in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/guest-images.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
