//! Lockstep: the recompiler against the interpreter, block by block, on
//! random user programs and random machines in every mode. CI runs a
//! fixed campaign of more than a million guest instructions; the count
//! is printed. `LOCKSTEP_SEED` picks another campaign.

use lockstep::{Campaign, campaign};

#[test]
fn recompiler_matches_interpreter_in_lockstep() {
    let mut c = Campaign::CI;
    if let Some(seed) = std::env::var("LOCKSTEP_SEED").ok().and_then(|s| s.parse().ok()) {
        c.seed = seed;
    }
    let seed = c.seed;
    match campaign(&c) {
        Ok(r) => {
            eprintln!("lockstep (seed {seed}): {r}");
            assert!(r.totals.instructions >= 1_000_000, "too few instructions compared: {r}");
        }
        Err((what, d)) => panic!("{what}:\n{d}"),
    }
}
