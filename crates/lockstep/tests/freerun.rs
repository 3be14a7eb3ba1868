//! The recompiler running free (chained blocks, the jump cache, flags left
//! in operand form between blocks) against the interpreter: random loops
//! must end in the same state and memory on both (see `looped`).

use cpu::{Engine, Interpreter};
use lockstep::looped::{differences, looped_program, run_free};
use recompiler::Recompiler;

const PROGRAMS: u64 = 400;
const MAX: u64 = 200_000;

#[test]
fn random_loops_end_alike_on_the_interpreter_and_the_free_running_recompiler() {
    let mut rec = Recompiler::new(1).expect("recompiler");
    let mut instructions = 0;
    for seed in 0..PROGRAMS {
        let (mut sa, mut ma) = looped_program(seed);
        let (mut sb, mut mb) = looped_program(seed);
        let mut interp = Interpreter::new();
        run_free(&mut interp, &mut sa, &mut ma, MAX);
        rec.flush();
        let before = rec.instructions();
        run_free(&mut rec, &mut sb, &mut mb, MAX);
        instructions += rec.instructions() - before;
        assert!(sa.halted, "seed {seed}: the interpreter did not reach the HLT");
        let d = differences((&sa, &ma), (&sb, &mb));
        assert!(d.is_empty(), "seed {seed}: {}", d.join("\n"));
    }
    // The loops ran on chained blocks, mostly.
    let s = &rec.stats;
    println!(
        "{PROGRAMS} programs, {instructions} instructions; {} dispatcher entries, {} chains patched",
        s.entries, s.chains
    );
    assert!(
        s.chains > PROGRAMS && s.entries * 4 < instructions,
        "entries {} chains {}",
        s.entries,
        s.chains
    );
}
