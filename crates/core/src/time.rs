//! Wall-clock time as the caller tells it: the core never reads a clock.
//!
//! [`Time`] is milliseconds since the UNIX epoch rather than a monotonic instant because some
//! deadlines are persisted (a permanent-failure timer must survive a scheduler restart), and an
//! `Instant` means nothing to the next process. The driver passes `now` into every input.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the UNIX epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub u64);

impl Time {
    /// The time `millis` milliseconds after the epoch.
    pub fn from_millis(millis: u64) -> Time {
        Time(millis)
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `d`, saturating at the end of time rather than wrapping.
    pub fn plus(self, d: Duration) -> Time {
        let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(millis))
    }

    /// How long after `earlier` this is; zero when `earlier` is later (clocks step back).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_and_since_saturate_instead_of_wrapping() {
        // Goal: time arithmetic never wraps. Method: the edges.
        let t = Time::from_millis(1_000);
        assert_eq!(t.plus(Duration::from_secs(2)).as_millis(), 3_000);
        assert_eq!(Time(u64::MAX).plus(Duration::from_secs(1)), Time(u64::MAX));
        assert_eq!(Time(3_000).since(t), Duration::from_secs(2));
        assert_eq!(t.since(Time(3_000)), Duration::ZERO);
    }
}
