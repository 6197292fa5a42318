//! `cargo run -p cairn-sim --example trace -- <seed> [lines] [no-gone]`: one seed with a long
//! trace tail, for reading a failure; `no-gone` turns off agents removed for good (on by
//! default).

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let lines: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(400);
    let mut opts = cairn_sim::Options {
        trace_lines: lines,
        ..cairn_sim::Options::default()
    };
    if args.next().as_deref() == Some("no-gone") {
        opts.faults.agent_gone = 0.0;
    }
    match cairn_sim::run_with(seed, &opts) {
        Ok(r) => println!("seed {seed} passed: {r:?}"),
        Err(f) => println!("{f}"),
    }
}
