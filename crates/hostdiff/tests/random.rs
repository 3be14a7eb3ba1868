//! The differential test: random programs on the host CPU and in the
//! interpreter must agree.
//!
//! A fixed seed and count make it reproducible. Run with `--nocapture` to
//! see the totals; `HOSTDIFF_SEED` (hex) and `HOSTDIFF_COUNT` pick another
//! run, `HOSTDIFF_SHOW` how many divergences are printed in full.

const SEED: u64 = 0x5EED_F00D_4057_D1FF;
const COUNT: usize = 50_000;
const MAX_ITEMS: u32 = 20;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn random_programs_agree_with_the_host() {
    let count = env("HOSTDIFF_COUNT").unwrap_or(COUNT);
    let seed = std::env::var("HOSTDIFF_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(SEED);
    let show = env("HOSTDIFF_SHOW").unwrap_or(20);
    let report = hostdiff::run_random(seed, count, MAX_ITEMS).expect("native32 runs");
    for d in report.divergences.iter().take(show) {
        eprintln!("{d}");
    }
    println!("hostdiff seed {seed:#x}: {report}");
    assert!(report.divergences.is_empty(), "seed {seed:#x}: {report}");
}
