//! The simulator's test suite: a sweep of seeds, the replay of one seed from `CAIRN_SEED`, and
//! named regression seeds for bugs the simulator found.

use cairn_sim::{run, run_with, Options};

/// Seeds in the default sweep (debug build, 2 cores: see the crate docs for the rate).
const SWEEP: u64 = 1_000;

fn check(seed: u64) {
    if let Err(f) = run(seed) {
        panic!("{f}");
    }
}

#[test]
fn a_thousand_seeds_keep_every_invariant_and_reach_complete() {
    // Goal: the core keeps perf-reliability.md §2.6 under every seeded mix of faults. Method:
    // run SWEEP seeds (spread over two threads: the runs are independent), collect failures,
    // print each with its replay line.
    let half = SWEEP / 2;
    let worker = |from: u64| {
        std::thread::spawn(move || {
            (from..from + half)
                .filter_map(|s| run(s).err())
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
        })
    };
    let (a, b) = (worker(0), worker(half));
    let mut failures = a.join().expect("worker");
    failures.extend(b.join().expect("worker"));
    assert!(
        failures.is_empty(),
        "{} of {SWEEP} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn replay() {
    // Goal: `CAIRN_SEED=<n> cargo test -p cairn-sim replay` replays a failure exactly.
    // Method: run the one seed; without the variable, run seed 0 (a smoke test).
    let seed = std::env::var("CAIRN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    check(seed);
}

#[test]
fn the_same_seed_replays_the_same_run() {
    // Goal: determinism, the premise of every replay. Method: run one seed twice; the reports
    // (steps, faults, restarts, launches, time to complete) are equal.
    let opts = Options::default();
    let a = run_with(7, &opts).map_err(|f| f.to_string());
    let b = run_with(7, &opts).map_err(|f| f.to_string());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
