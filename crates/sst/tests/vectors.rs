//! The real-chip vectors in `../shared/testdata/sst` (read in place, never
//! copied): every case must pass or be skipped by a written rule.

use sst::{Chip, run_dir};
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/sst")
        .join(name)
}

fn check(name: &str, chip: Chip, min_passed: usize) {
    let d = dir(name);
    assert!(
        d.is_dir(),
        "test vectors missing at {} (the repository expects ../shared beside it)",
        d.display()
    );
    let r = run_dir(&d, chip, "").expect("vectors load");
    for f in r.files.iter().filter(|f| f.failed > 0) {
        eprintln!("{}: {} failed", f.name, f.failed);
        for d in &f.failures {
            eprintln!("    {d}");
        }
    }
    for (rule, n) in r.skips_by_rule() {
        eprintln!("skipped by {rule}: {n}");
    }
    eprintln!("{name}: {} passed, {} failed, {} skipped", r.passed(), r.failed(), r.skipped());
    assert_eq!(r.failed(), 0);
    // Guard against rules that skip too much.
    assert!(r.passed() >= min_passed, "only {} cases passed", r.passed());
}

#[test]
fn real_mode_80286() {
    check("80286-real-first100", Chip::I80286, 31_000);
}

#[test]
fn where_8086_and_i686_agree() {
    check("8086-first100", Chip::I8086, 27_000);
}
