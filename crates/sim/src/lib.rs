//! `cairn-sim`: seeded deterministic simulation of the cairn scheduler (issue 5, proof 1).
//!
//! One run = one seed. The seed draws a service shape (1–3 pod types, 1–5 instances, volumes,
//! readiness checks, sidecars, FINISH/ONCE goals, serial/parallel phases, `hostname:UNIQUE`,
//! pods whose deploy steps launch their tasks one after the other),
//! a cluster of 2–6 agents, and every fault: task crashes, agent loss and return, duplicated,
//! delayed and reordered status updates, rescinded offers, failed store writes, scheduler
//! crashes between any two writes, dropped streams, agents that forget an executor (its tasks
//! reported TASK_GONE while the agent stays registered with the pod's volume), and stores that
//! come back from a restart without a key (`FrameworkID`, a `TaskInfo`): the scheduler passes
//! the takeover check against the modelled master's GET_STATE before every SUBSCRIBE, and the
//! operator answers a refusal as it says (`--adopt-framework`, or `--force` for a pod whose
//! record and task are both gone). After the fault phase, faults stop and
//! every plan must reach COMPLETE within a bound. The safety and liveness invariants
//! are checked as the run goes ([`sim`]). There is no clock, no thread and no IO: the same
//! seed replays the same run, so a failure is a seed (`CAIRN_SEED=<n> cargo test -p
//! cairn-sim replay`).
//!
//! [`cluster`] models the Mesos master and agents; [`shape`] draws services; [`rng`] is the
//! only source of randomness.
//!
//! Running it: `cargo test -p cairn-sim` runs 1,000 seeds (`CAIRN_SIM_SEEDS=<n>` for more);
//! `cargo run -p cairn-sim --release -- --seeds 100000 [--from N]` runs any number and prints
//! seeds/s; `cargo run -p cairn-sim --release --example trace -- <seed> [lines] [no-gone]`
//! prints one run's long trace. Agents removed for good are among the default faults (see
//! [`Faults::agent_gone`]); `--no-gone` / `no-gone` turn them off.
#![warn(missing_docs)]

pub mod cluster;
pub mod rng;
pub mod shape;
pub mod sim;

pub use sim::{run, run_with, Failure, Faults, Options, Report};
