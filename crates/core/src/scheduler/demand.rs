//! Whether the scheduler wants offers: SUPPRESS when no step needs resources, REVIVE when one
//! starts needing them.
//!
//! A SUPPRESS goes out once when demand ends, not on every event. A REVIVE goes out when a pod
//! instance starts needing resources that did not before (it also clears the long decline
//! filters of offers nobody needed), at most once per `revive_min_interval`: a revive that
//! comes too soon is deferred to a timer.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::time::Time;

/// A call the demand tracker asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DemandCall {
    Suppress,
    Revive,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Demand {
    suppressed: bool,
    wanted: BTreeSet<String>,
    last_revive: Option<Time>,
    revive_due: Option<Time>,
}

impl Demand {
    /// A new subscription: not suppressed. After a failover the master may still hold our old
    /// decline filters, so outstanding work revives; a first registration has none.
    pub fn subscribed(
        &mut self,
        now: Time,
        wanted: BTreeSet<String>,
        failover: bool,
        min_interval: Duration,
    ) -> Option<DemandCall> {
        self.suppressed = false;
        self.revive_due = None;
        if failover {
            self.wanted.clear();
        } else {
            self.wanted = wanted.clone();
        }
        self.update(now, wanted, min_interval)
    }

    /// The pod instances that need resources now.
    pub fn update(
        &mut self,
        now: Time,
        wanted: BTreeSet<String>,
        min_interval: Duration,
    ) -> Option<DemandCall> {
        let new_work = wanted.iter().any(|w| !self.wanted.contains(w));
        self.wanted = wanted;
        if self.wanted.is_empty() {
            self.revive_due = None;
            if self.suppressed {
                return None;
            }
            self.suppressed = true;
            return Some(DemandCall::Suppress);
        }
        if new_work || self.suppressed {
            return self.revive(now, min_interval);
        }
        None
    }

    fn revive(&mut self, now: Time, min_interval: Duration) -> Option<DemandCall> {
        match self.last_revive {
            Some(last) if now < last.plus(min_interval) => {
                self.revive_due = Some(last.plus(min_interval));
                None
            }
            _ => {
                self.last_revive = Some(now);
                self.revive_due = None;
                self.suppressed = false;
                Some(DemandCall::Revive)
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.revive_due
    }

    /// A deferred revive whose time has come.
    pub fn handle_timeout(&mut self, now: Time, min_interval: Duration) -> Option<DemandCall> {
        match self.revive_due {
            Some(due) if now >= due && !self.wanted.is_empty() => self.revive(now, min_interval),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const FIVE: Duration = Duration::from_secs(5);

    #[test]
    fn suppress_once_then_revive_for_new_work_at_most_every_interval() {
        // Goal: the demand calls and the revive rate limit. Method: a timeline.
        let mut d = Demand::default();
        let t = |s: u64| Time::from_millis(s * 1000);
        assert_eq!(
            d.subscribed(t(0), set(&[]), false, FIVE),
            Some(DemandCall::Suppress)
        );
        assert_eq!(d.update(t(1), set(&[]), FIVE), None, "suppress only once");
        assert_eq!(
            d.update(t(2), set(&["a-0"]), FIVE),
            Some(DemandCall::Revive)
        );
        assert_eq!(
            d.update(t(3), set(&["a-0"]), FIVE),
            None,
            "same work, no revive"
        );
        assert_eq!(d.update(t(4), set(&["a-0", "a-1"]), FIVE), None, "too soon");
        assert_eq!(d.poll_timeout(), Some(t(7)));
        assert_eq!(d.handle_timeout(t(7), FIVE), Some(DemandCall::Revive));
        assert_eq!(d.update(t(8), set(&[]), FIVE), Some(DemandCall::Suppress));
    }
}
