//! Crash-loop backoff per pod instance: the n-th failure in a row delays the relaunch by
//! `initial × factor^(n-1)`, at most `max`; a pod that ran healthy for `reset_after` starts
//! over.
//!
//! The state is in memory on purpose: after a scheduler restart every pod starts over at no
//! delay, so a restart never delays a first relaunch (at worst a crash-looping pod gets a few
//! fast retries again, which the cap then slows down).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::time::Time;

/// The backoff's tunables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay after the first failure. 2 s: a one-off crash is relaunched almost at once, but a
    /// task dying on start does not spin the offer cycle.
    pub initial: Duration,
    /// Growth per further failure in a row. 2: reaches the cap in 8 failures (~4 minutes of
    /// crash looping), rather than dcos-commons' 1.15, which takes dozens.
    pub factor: f64,
    /// The longest delay. 5 min (dcos-commons' FRAMEWORK_MAX_LAUNCH_DELAY): a fixed bug or a
    /// returned dependency is noticed within 5 minutes.
    pub max: Duration,
    /// How long a pod must run healthy (RUNNING and ready) for its next failure to count as a
    /// first one again. 5 min: longer than a typical start-up-then-crash cycle.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            factor: 2.0,
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(300),
        }
    }
}

impl BackoffPolicy {
    /// The delay after `failures` failures in a row (1: the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(secs)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PodBackoff {
    failures: u32,
    /// The relaunch is held until then; cleared by `handle_timeout`.
    until: Option<Time>,
    /// Since when the pod has been healthy, if it is.
    healthy_since: Option<Time>,
}

/// Backoff state of every pod instance.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    pods: BTreeMap<String, PodBackoff>,
}

impl Backoff {
    /// A task of `pod` failed (not killed by the scheduler): hold its relaunch. Returns the
    /// delay.
    pub fn failed(&mut self, policy: &BackoffPolicy, pod: &str, now: Time) -> Duration {
        let b = self.pods.entry(pod.to_string()).or_default();
        if b.healthy_since
            .is_some_and(|h| now.since(h) >= policy.reset_after)
        {
            b.failures = 0;
        }
        b.failures = b.failures.saturating_add(1);
        b.healthy_since = None;
        let delay = policy.delay(b.failures);
        b.until = Some(now.plus(delay));
        delay
    }

    /// Every RUNNING-goal task of `pod` is running and ready.
    pub fn healthy(&mut self, pod: &str, now: Time) {
        if let Some(b) = self.pods.get_mut(pod) {
            b.healthy_since.get_or_insert(now);
        }
    }

    /// Forget `pod` (restarted or replaced by an operator: a deliberate fresh start).
    pub fn reset(&mut self, pod: &str) {
        self.pods.remove(pod);
    }

    /// Until when `pod`'s relaunch is held, if it is.
    pub fn delayed_until(&self, pod: &str) -> Option<Time> {
        self.pods.get(pod).and_then(|b| b.until)
    }

    /// Failures in a row of `pod`.
    pub fn failures(&self, pod: &str) -> u32 {
        self.pods.get(pod).map_or(0, |b| b.failures)
    }

    /// The next end of a delay.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.pods.values().filter_map(|b| b.until).min()
    }

    /// Ends the delays that are over; true when one did (the plans changed).
    pub fn handle_timeout(&mut self, now: Time) -> bool {
        let mut ended = false;
        for b in self.pods.values_mut() {
            if b.until.is_some_and(|u| u <= now) {
                b.until = None;
                ended = true;
            }
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn delays_double_from_two_seconds_up_to_five_minutes() {
        let p = BackoffPolicy::default();
        let d: Vec<u64> = (1..=10).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(d, vec![2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(p.delay(u32::MAX), secs(300), "no overflow");
    }

    #[test]
    fn failures_in_a_row_grow_the_delay_and_a_healthy_spell_resets_it() {
        let p = BackoffPolicy::default();
        let mut b = Backoff::default();
        let t0 = Time::from_millis(0);
        assert_eq!(b.failed(&p, "a-0", t0), secs(2));
        assert_eq!(b.delayed_until("a-0"), Some(t0.plus(secs(2))));
        assert_eq!(b.poll_timeout(), Some(t0.plus(secs(2))));
        assert!(!b.handle_timeout(t0.plus(secs(1))));
        assert!(b.handle_timeout(t0.plus(secs(2))));
        assert_eq!(b.delayed_until("a-0"), None);
        // Healthy for less than reset_after: the next failure still counts as a second one.
        b.healthy("a-0", t0.plus(secs(10)));
        assert_eq!(b.failed(&p, "a-0", t0.plus(secs(20))), secs(4));
        // Healthy for 5 minutes: back to the first delay.
        b.healthy("a-0", t0.plus(secs(30)));
        assert_eq!(b.failed(&p, "a-0", t0.plus(secs(330))), secs(2));
        b.reset("a-0");
        assert_eq!(b.failures("a-0"), 0);
    }
}
