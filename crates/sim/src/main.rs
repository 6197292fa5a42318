//! `cargo run -p cairn-sim --release -- --seeds 100000 [--from N] [--no-gone]`: runs seeds,
//! prints the rate and counts, and every failure with its replay line. `--no-gone` turns off
//! agents removed for good (on by default, see `Faults::agent_gone`).

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seeds: u64 = 1_000;
    let mut from: u64 = 0;
    let mut opts = cairn_sim::Options::default();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--no-gone" {
            opts.faults.agent_gone = 0.0;
            i += 1;
            continue;
        }
        let value = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (args[i].as_str(), value) {
            ("--seeds", Some(v)) => seeds = v,
            ("--from", Some(v)) => from = v,
            _ => {
                eprintln!("usage: cairn-sim [--seeds N] [--from N] [--no-gone]");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let start = Instant::now();
    let (mut failed, mut restarts, mut faults, mut launches, mut steps) = (0u64, 0, 0, 0, 0);
    let (mut adoptions, mut rebuilt, mut forced) = (0u64, 0, 0);
    for seed in from..from + seeds {
        match cairn_sim::run_with(seed, &opts) {
            Ok(r) => {
                restarts += r.restarts;
                faults += r.faults;
                launches += r.launches;
                steps += r.steps;
                adoptions += r.adoptions;
                rebuilt += r.rebuilt;
                forced += r.forced;
            }
            Err(f) => {
                failed += 1;
                println!("{f}");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{seeds} seeds from {from} in {secs:.1}s ({:.1} seeds/s): {failed} failed; {steps} steps, \
         {faults} faults, {restarts} scheduler restarts, {launches} launches; takeovers: \
         {adoptions} adopted, {rebuilt} records rebuilt, {forced} forced",
        seeds as f64 / secs
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
