//! Strategies: which steps of a phase may start now.
//!
//! A step that needs launching starts only when it is *released*. Serial releases the first
//! step that is not complete (so the next pod starts only once the previous one is running and
//! ready); parallel releases every step. The canaries add operator gates: `serial-canary` and
//! `parallel-canary` hold the first step until a first `continue`, and the rest until a second
//! one, after which they run serially or in parallel. Across all strategies, a step never
//! starts while an earlier step of the same pod instance is unfinished, so custom task groups
//! (`[[init],[server]]`) run in order even in a parallel phase.
//!
//! Serial takes one member down at a time, whatever took it down. A pod whose step is not
//! complete and whose task is down already (an operator restarted it, it crashed, it runs but
//! is not ready) goes first: rolling it takes no second member down, and no other step starts
//! until it is back and ready. So a `cairn pod restart` during a rollout does not let the
//! rollout kill a second member, and a member left not ready by a bad config is the first one
//! a fixed config rolls out to.

use std::collections::HashSet;

use crate::spec::{PodInstanceName, Strategy};

use super::assess::StepState;

/// What holds or frees a phase besides its own steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseGate {
    /// The phase's strategy across steps.
    pub strategy: Strategy,
    /// Operator `continue`s received (canaries need 1, then 2).
    pub continues: u32,
    /// Interrupted by an operator: nothing new starts.
    pub interrupted: bool,
    /// An earlier phase of a serial plan is not complete yet.
    pub blocked: bool,
}

/// Whether a step may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// It may start now.
    Released,
    /// Its turn has not come.
    Pending,
    /// Held by an operator gate, with the reason.
    Waiting(String),
}

/// The release of every step of a phase, in order: `pods[i]` is step i's pod instance,
/// `states[i]` its state and `down[i]` whether its tasks were launched and are not running and
/// ready now (empty: none is). Under an interrupt only the steps of pods that are down stay
/// released: they finish what was begun.
pub fn release(
    pods: &[&PodInstanceName],
    states: &[StepState],
    down: &[bool],
    gate: PhaseGate,
) -> Vec<Release> {
    let complete: Vec<bool> = states.iter().map(|s| *s == StepState::Complete).collect();
    let down = |i: usize| down.get(i).copied().unwrap_or(false);
    let mut out: Vec<Release> = match gate.strategy {
        Strategy::Serial => serial(&complete, &down, 0),
        Strategy::Parallel => parallel(&complete, 0),
        Strategy::SerialCanary | Strategy::ParallelCanary => canary(&complete, &down, gate),
    };
    hold_behind_own_pod(pods, &complete, &mut out);
    if gate.blocked {
        out.iter_mut()
            .filter(|r| **r == Release::Released)
            .for_each(|r| *r = Release::Pending);
    } else if gate.interrupted {
        // An interrupt starts nothing new, but a step whose pod is down already (its old task
        // killed for the rollout, or stopped) is in flight: holding it would leave the pod
        // down for as long as the plan stays interrupted.
        for (i, r) in out.iter_mut().enumerate() {
            if *r == Release::Released && !down(i) {
                *r = Release::Waiting(INTERRUPTED.into());
            }
        }
    }
    out
}

/// The reason of a step an interrupt holds (the plan's words add how to resume it).
pub const INTERRUPTED: &str = "interrupted";

/// The first incomplete step at or after `from` whose pod is down is released, else the first
/// incomplete one.
fn serial(complete: &[bool], down: &dyn Fn(usize) -> bool, from: usize) -> Vec<Release> {
    let incomplete = || (from..complete.len()).filter(|i| !complete[*i]);
    let first = incomplete()
        .find(|i| down(*i))
        .or_else(|| incomplete().next());
    (0..complete.len())
        .map(|i| {
            if Some(i) == first {
                Release::Released
            } else {
                Release::Pending
            }
        })
        .collect()
}

/// Every incomplete step at or after `from` is released.
fn parallel(complete: &[bool], from: usize) -> Vec<Release> {
    (0..complete.len())
        .map(|i| {
            if i >= from && !complete[i] {
                Release::Released
            } else {
                Release::Pending
            }
        })
        .collect()
}

fn canary(complete: &[bool], down: &dyn Fn(usize) -> bool, gate: PhaseGate) -> Vec<Release> {
    let mut out = vec![Release::Pending; complete.len()];
    if complete.is_empty() {
        return out;
    }
    if !complete[0] {
        out[0] = if gate.continues >= 1 {
            Release::Released
        } else {
            Release::Waiting("canary: waiting for `continue` to start the first step".into())
        };
        return out;
    }
    if gate.continues < 2 {
        for (i, r) in out.iter_mut().enumerate().skip(1) {
            if !complete[i] {
                *r = Release::Waiting(
                    "canary: first step done, waiting for `continue` to start the rest".into(),
                );
            }
        }
        return out;
    }
    if gate.strategy == Strategy::SerialCanary {
        serial(complete, down, 1)
    } else {
        parallel(complete, 1)
    }
}

/// A released step waits while an earlier step of its pod instance is unfinished. One pass,
/// remembering the pod instances seen unfinished so far (phases have thousands of steps).
fn hold_behind_own_pod(pods: &[&PodInstanceName], complete: &[bool], out: &mut [Release]) {
    let mut unfinished: HashSet<&PodInstanceName> = HashSet::new();
    for ((pod, done), release) in pods.iter().zip(complete).zip(out.iter_mut()) {
        if *release == Release::Released && unfinished.contains(pod) {
            *release = Release::Pending;
        }
        if !done {
            unfinished.insert(pod);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::assess::{Doing, Note};

    /// Steps of instances p-0, p-1, ... (or all of p-0 when `same_pod`).
    fn run(states: &[StepState], gate: PhaseGate, same_pod: bool) -> Vec<Release> {
        let pods: Vec<PodInstanceName> = (0..states.len())
            .map(|i| PodInstanceName::new("p", if same_pod { 0 } else { i as u32 }))
            .collect();
        let refs: Vec<&PodInstanceName> = pods.iter().collect();
        release(&refs, states, &[], gate)
    }

    fn launch() -> StepState {
        StepState::NeedsLaunch {
            launch: vec!["t".into()],
            kills: vec![],
        }
    }

    fn gate(strategy: Strategy, continues: u32) -> PhaseGate {
        PhaseGate {
            strategy,
            continues,
            interrupted: false,
            blocked: false,
        }
    }

    fn released(r: &[Release]) -> Vec<usize> {
        r.iter()
            .enumerate()
            .filter(|(_, r)| **r == Release::Released)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn serial_releases_only_the_first_unfinished_step() {
        // Goal: serial gates on the step before. Method: complete, in flight, pending.
        let note = Note {
            task: 0,
            what: Doing::Launched,
        };
        let s = [
            StepState::Complete,
            StepState::InFlight(crate::plan::Status::Started, note),
            launch(),
        ];
        assert_eq!(
            released(&run(&s, gate(Strategy::Serial, 0), false)),
            vec![1]
        );
    }

    #[test]
    fn serial_releases_first_the_step_of_a_pod_that_is_down_and_nothing_else() {
        // Goal: one member down at a time. Method: p-2 is down (restarted, not ready) while
        // p-1 is next in order; then p-0 and p-1 are one pod whose later step is down.
        let pods: Vec<PodInstanceName> = (0..3).map(|i| PodInstanceName::new("p", i)).collect();
        let refs: Vec<&PodInstanceName> = pods.iter().collect();
        let s = [StepState::Complete, launch(), launch()];
        let g = gate(Strategy::Serial, 0);
        assert_eq!(
            released(&release(&refs, &s, &[false, false, true], g)),
            vec![2]
        );
        assert_eq!(released(&release(&refs, &s, &[], g)), vec![1]);
        let same = [&pods[0], &pods[1], &pods[1]];
        assert_eq!(
            released(&release(&same, &s, &[false, true, true], g)),
            vec![1],
            "a down pod's first incomplete step goes first"
        );
    }

    #[test]
    fn parallel_releases_every_unfinished_step() {
        // Goal: parallel releases all but the complete. Method: one complete, two pending.
        let s = [StepState::Complete, launch(), launch()];
        assert_eq!(
            released(&run(&s, gate(Strategy::Parallel, 0), false)),
            vec![1, 2]
        );
    }

    #[test]
    fn a_canary_needs_one_continue_for_the_first_step_and_another_for_the_rest() {
        // Goal: the two canary gates. Method: 0, 1 and 2 continues, before and after step 0.
        let fresh = [launch(), launch(), launch()];
        let r = run(&fresh, gate(Strategy::ParallelCanary, 0), false);
        assert!(matches!(r[0], Release::Waiting(_)));
        assert_eq!(
            released(&run(&fresh, gate(Strategy::ParallelCanary, 1), false)),
            vec![0]
        );
        let first_done = [StepState::Complete, launch(), launch()];
        let r = run(&first_done, gate(Strategy::ParallelCanary, 1), false);
        assert!(matches!(r[1], Release::Waiting(_)));
        assert_eq!(
            released(&run(&first_done, gate(Strategy::ParallelCanary, 2), false)),
            vec![1, 2]
        );
        assert_eq!(
            released(&run(&first_done, gate(Strategy::SerialCanary, 2), false)),
            vec![1]
        );
    }

    #[test]
    fn steps_of_one_pod_instance_run_in_order_even_in_parallel() {
        // Goal: task groups of one instance stay ordered. Method: two steps of p-0, parallel.
        let s = [launch(), launch()];
        assert_eq!(
            released(&run(&s, gate(Strategy::Parallel, 0), true)),
            vec![0]
        );
    }

    #[test]
    fn an_interrupt_holds_new_steps_but_lets_the_step_of_a_pod_that_is_down_finish() {
        // Goal: an interrupt never leaves a pod down. Method: serial and parallel phases where
        // p-1's old task was killed for the rollout (down) and p-2 is untouched.
        let pods: Vec<PodInstanceName> = (0..3).map(|i| PodInstanceName::new("p", i)).collect();
        let refs: Vec<&PodInstanceName> = pods.iter().collect();
        let s = [StepState::Complete, launch(), launch()];
        for strategy in [Strategy::Serial, Strategy::Parallel] {
            let mut g = gate(strategy, 0);
            g.interrupted = true;
            let r = release(&refs, &s, &[false, true, false], g);
            assert_eq!(released(&r), vec![1], "{strategy:?}");
            let r = release(&refs, &s, &[], g);
            assert!(released(&r).is_empty(), "{strategy:?}: nothing new starts");
            assert_eq!(r[1], Release::Waiting(INTERRUPTED.into()));
        }
    }

    #[test]
    fn interrupt_holds_and_an_earlier_phase_blocks() {
        // Goal: operator and plan gates. Method: interrupted, then blocked.
        let s = [launch()];
        let mut g = gate(Strategy::Serial, 0);
        g.interrupted = true;
        assert!(matches!(run(&s, g, false)[0], Release::Waiting(_)));
        g.blocked = true;
        assert_eq!(run(&s, g, false)[0], Release::Pending);
        let pods = [PodInstanceName::new("p", 0)];
        assert_eq!(
            release(&[&pods[0]], &s, &[true], g)[0],
            Release::Pending,
            "a blocked phase starts nothing, down or not"
        );
    }
}
