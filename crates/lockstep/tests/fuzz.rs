//! Fuzzing the interpreter with hostile guests: random bytes as code, in
//! random modes (real, 16/32-bit protected at every CPL, paging on/off,
//! virtual-8086), over random descriptor tables, IDTs, TSSs and page
//! tables: the random machines of [`lockstep::programs::random_machine`],
//! which the lockstep campaign also runs. The interpreter must never
//! panic, never hang, and always return an architectural outcome. Runs for
//! a bounded time (`RINGVISOR_FUZZ_SECONDS`, default 10) from a printed
//! seed (`RINGVISOR_FUZZ_SEED` replays one).

use cpu::{Exit, Interpreter, NullBus};
use lockstep::programs::random_machine;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

#[test]
fn interpreter_survives_random_code() {
    let seconds: u64 = std::env::var("RINGVISOR_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("RINGVISOR_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let single = std::env::var("RINGVISOR_FUZZ_SEED").is_ok();
    eprintln!("fuzz: seed {seed}, {seconds} s");
    let mut interp = Interpreter::new();
    let start = Instant::now();
    let mut cases = 0u64;
    let mut insns = 0u64;
    let mut exits = [0u64; 4];
    while (single && cases == 0) || (!single && start.elapsed() < Duration::from_secs(seconds)) {
        let case_seed = seed.wrapping_add(cases);
        let (mut s, mut mem) = random_machine(case_seed);
        interp.flush();
        let mut bus = NullBus::default();
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut e = Exit::Budget;
            for _ in 0..4 {
                e = interp.run(&mut s, &mut mem, &mut bus, 500);
                if e != Exit::Budget {
                    break;
                }
            }
            e
        }));
        let exit = result.unwrap_or_else(|_| panic!("interpreter panicked: replay with RINGVISOR_FUZZ_SEED={case_seed}"));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "case took {:?}: replay with RINGVISOR_FUZZ_SEED={case_seed}",
            t.elapsed()
        );
        exits[match exit {
            Exit::Budget => 0,
            Exit::Halted => 1,
            Exit::Shutdown => 2,
            Exit::Stopped => 3,
        }] += 1;
        insns += interp.stats.instructions;
        interp.stats.instructions = 0;
        cases += 1;
    }
    eprintln!("fuzz: {cases} cases, {insns} instructions, exits budget/halted/shutdown/stopped = {exits:?}");
    assert!(cases > 0);
}
