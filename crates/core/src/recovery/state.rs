//! Recovery's persisted memory, as properties, so that a scheduler restart resets nothing:
//!
//! * `Properties/failure-since/<pod>`: when the pod started failing (ms, decimal). The
//!   permanent-failure timer runs from it; a restart does not reset it (dcos-commons keeps it
//!   in memory and its comments admit restarts reset it).
//! * `Properties/replace/<pod>`: the pod is to be replaced (why, in words).
//! * `Properties/last-replace`: when the last destructive replacement happened (ms).
//! * `Properties/survivors/<pod>`: the pod's essential task failed and the whole pod is being
//!   relaunched; the task ids (a JSON list) that were alive when that began, which it kills
//!   first. Any other live task of the pod was launched by the relaunch itself, and is kept:
//!   without this memory a task relaunched by an early step looks like a survivor again while a
//!   later step's task is still down, and is killed over and over.
//! * `Properties/reclaim/<resource-id>`: a reservation (or volume) of a replaced pod, with its
//!   agent, to DESTROY and UNRESERVE when it is offered again.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::Resource;
use serde::{Deserialize, Serialize};

use crate::store::{property_key, WriteOp};
use crate::time::Time;

/// Property prefix of failure start times.
pub const FAILURE_SINCE: &str = "failure-since/";
/// Property prefix of replacement marks.
pub const REPLACE: &str = "replace/";
/// Property of the last replacement's time.
pub const LAST_REPLACE: &str = "last-replace";
/// Property prefix of reservations to reclaim.
pub const RECLAIM: &str = "reclaim/";
/// Property prefix of the survivors of a pod's essential-task failure.
pub const SURVIVORS: &str = "survivors/";

/// A reservation of a replaced pod, waiting to be offered again and reclaimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReclaimEntry {
    /// The agent it lives on.
    pub agent_id: String,
    /// The resource as it was launched (with its reservation and volume, if any).
    pub resource: Resource,
    /// When the ACCEPT releasing it last went out, if one did (an ACCEPT can fail without a
    /// word: the entry stays until an offer shows it applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Time>,
}

/// Why a pod is marked for replacement. Stored as its words (`as_str`), which older stores
/// hold too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceReason {
    /// Its permanent-failure timer ran out. Automatic, so held by the min replace delay.
    FailureTimeout,
    /// An operator asked (`pod replace`). Not held.
    Operator,
}

impl ReplaceReason {
    /// The words stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplaceReason::FailureTimeout => "failed longer than the permanent-failure timeout",
            ReplaceReason::Operator => "operator replace",
        }
    }

    /// Whether the min replace delay holds the replacement: only automatic ones wait.
    pub fn is_automatic(self) -> bool {
        self == ReplaceReason::FailureTimeout
    }

    /// A stored mark. Anything but the timer's words is an operator's: a mark the scheduler
    /// did not write is honoured, without the delay, as it always was.
    fn from_stored(words: &[u8]) -> ReplaceReason {
        if words == ReplaceReason::FailureTimeout.as_str().as_bytes() {
            ReplaceReason::FailureTimeout
        } else {
            ReplaceReason::Operator
        }
    }
}

impl std::fmt::Display for ReplaceReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What recovery remembers across restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryState {
    /// Pod instance → when it started failing.
    pub failure_since: BTreeMap<String, Time>,
    /// Pod instance → why it is to be replaced.
    pub replace: BTreeMap<String, ReplaceReason>,
    /// When the last destructive replacement happened.
    pub last_replace: Option<Time>,
    /// Resource id → the reservation to reclaim.
    pub reclaim: BTreeMap<String, ReclaimEntry>,
    /// Pod instance whose essential task failed → the task ids alive when its whole-pod
    /// relaunch began (the survivors it kills); kept until the pod is healthy again.
    pub survivors: BTreeMap<String, BTreeSet<String>>,
}

fn time_value(t: Time) -> Vec<u8> {
    t.as_millis().to_string().into_bytes()
}

fn parse_time(v: &[u8]) -> Option<Time> {
    std::str::from_utf8(v)
        .ok()?
        .parse()
        .ok()
        .map(Time::from_millis)
}

impl RecoveryState {
    /// Reads the state from the stored properties. A value that does not parse is skipped: it
    /// can only make recovery forget a timer (which restarts) or a reclaim (a leak), never act
    /// wrongly.
    pub fn from_properties(props: &BTreeMap<String, Vec<u8>>) -> RecoveryState {
        let mut s = RecoveryState::default();
        for (key, value) in props {
            if let Some(pod) = key.strip_prefix(FAILURE_SINCE) {
                if let Some(t) = parse_time(value) {
                    s.failure_since.insert(pod.to_string(), t);
                }
            } else if let Some(pod) = key.strip_prefix(REPLACE) {
                s.replace
                    .insert(pod.to_string(), ReplaceReason::from_stored(value));
            } else if key == LAST_REPLACE {
                s.last_replace = parse_time(value);
            } else if let Some(id) = key.strip_prefix(RECLAIM) {
                if let Ok(e) = serde_json::from_slice(value) {
                    s.reclaim.insert(id.to_string(), e);
                }
            } else if let Some(pod) = key.strip_prefix(SURVIVORS) {
                if let Ok(ids) = serde_json::from_slice(value) {
                    s.survivors.insert(pod.to_string(), ids);
                }
            }
        }
        s
    }

    /// Starts `pod`'s failure timer at `now` unless it runs already.
    pub fn start_failure(&mut self, pod: &str, now: Time) -> Option<WriteOp> {
        if self.failure_since.contains_key(pod) {
            return None;
        }
        self.failure_since.insert(pod.to_string(), now);
        Some(WriteOp::Put {
            key: property_key(&format!("{FAILURE_SINCE}{pod}")),
            value: time_value(now),
        })
    }

    /// Stops `pod`'s failure timer, if it runs, and forgets its survivors: the failure is over.
    pub fn end_failure(&mut self, pod: &str) -> Vec<WriteOp> {
        let mut ops = Vec::new();
        if self.failure_since.remove(pod).is_some() {
            ops.push(WriteOp::Delete {
                key: property_key(&format!("{FAILURE_SINCE}{pod}")),
            });
        }
        if self.survivors.remove(pod).is_some() {
            ops.push(WriteOp::Delete {
                key: property_key(&format!("{SURVIVORS}{pod}")),
            });
        }
        ops
    }

    /// Remembers the survivors of `pod`'s essential-task failure, unless its whole-pod relaunch
    /// has begun already (the first set stands: later live tasks are the relaunch's own).
    pub fn begin_whole_relaunch(&mut self, pod: &str, ids: &BTreeSet<String>) -> Option<WriteOp> {
        if self.survivors.contains_key(pod) {
            return None;
        }
        self.survivors.insert(pod.to_string(), ids.clone());
        Some(WriteOp::Put {
            key: property_key(&format!("{SURVIVORS}{pod}")),
            value: serde_json::to_vec(ids).unwrap_or_default(),
        })
    }

    /// Marks `pod` for replacement.
    pub fn mark_replace(&mut self, pod: &str, why: ReplaceReason) -> WriteOp {
        self.replace.insert(pod.to_string(), why);
        WriteOp::Put {
            key: property_key(&format!("{REPLACE}{pod}")),
            value: why.as_str().as_bytes().to_vec(),
        }
    }

    /// `pod` was replaced at `now`: its marks go, its old reservations are to be reclaimed.
    pub fn replaced(
        &mut self,
        pod: &str,
        now: Time,
        reclaim: BTreeMap<String, ReclaimEntry>,
    ) -> Vec<WriteOp> {
        let mut ops: Vec<WriteOp> = self.end_failure(pod);
        if self.replace.remove(pod).is_some() {
            ops.push(WriteOp::Delete {
                key: property_key(&format!("{REPLACE}{pod}")),
            });
        }
        self.last_replace = Some(now);
        ops.push(WriteOp::Put {
            key: property_key(LAST_REPLACE),
            value: time_value(now),
        });
        for (id, entry) in reclaim {
            ops.push(WriteOp::Put {
                key: property_key(&format!("{RECLAIM}{id}")),
                value: serde_json::to_vec(&entry).unwrap_or_default(),
            });
            self.reclaim.insert(id, entry);
        }
        ops
    }

    /// Queues reservations to reclaim without a replacement (a decommission or uninstall).
    pub fn queue_reclaims(&mut self, reclaim: BTreeMap<String, ReclaimEntry>) -> Vec<WriteOp> {
        reclaim
            .into_iter()
            .map(|(id, entry)| {
                let op = WriteOp::Put {
                    key: property_key(&format!("{RECLAIM}{id}")),
                    value: serde_json::to_vec(&entry).unwrap_or_default(),
                };
                self.reclaim.insert(id, entry);
                op
            })
            .collect()
    }

    /// Resource ids to reclaim that were reserved for pod instance `pod` (by their
    /// `pod_instance` reservation label).
    pub fn reclaims_of(&self, pod: &str) -> Vec<String> {
        self.reclaim
            .iter()
            .filter(|(_, e)| {
                e.resource
                    .reservation_labels()
                    .and_then(|l| l.get(crate::labels::POD_INSTANCE))
                    == Some(pod)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Forgets reservations to reclaim (reclaimed, or their agent is gone).
    pub fn forget_reclaims(&mut self, ids: &[String]) -> Vec<WriteOp> {
        ids.iter()
            .filter(|id| self.reclaim.remove(*id).is_some())
            .map(|id| WriteOp::Delete {
                key: property_key(&format!("{RECLAIM}{id}")),
            })
            .collect()
    }

    /// Marks reclaims as sent at `now` (their ACCEPT is about to go out).
    pub fn mark_reclaims_sent(&mut self, ids: &[String], now: Time) -> Vec<WriteOp> {
        let mut writes = Vec::new();
        for id in ids {
            if let Some(entry) = self.reclaim.get_mut(id) {
                entry.sent_at = Some(now);
                writes.push(WriteOp::Put {
                    key: property_key(&format!("{RECLAIM}{id}")),
                    value: serde_json::to_vec(&*entry).unwrap_or_default(),
                });
            }
        }
        writes
    }

    /// Resource ids to reclaim on `agent`.
    pub fn reclaims_on(&self, agent: &str) -> Vec<String> {
        self.reclaim
            .iter()
            .filter(|(_, e)| e.agent_id == agent)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{apply, WriteBatch};

    fn load(entries: &BTreeMap<String, Vec<u8>>) -> RecoveryState {
        let props = entries
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("Properties/")?.to_string(), v.clone())))
            .collect();
        RecoveryState::from_properties(&props)
    }

    #[test]
    fn the_recovery_state_survives_a_round_trip_through_the_store() {
        let mut s = RecoveryState::default();
        let mut ops = Vec::new();
        ops.extend(s.start_failure("a-0", Time::from_millis(5)));
        let ids: BTreeSet<String> = ["a-0-node__1".to_string()].into();
        ops.extend(s.begin_whole_relaunch("a-0", &ids));
        assert!(
            s.begin_whole_relaunch("a-0", &BTreeSet::new()).is_none(),
            "the first survivors stand"
        );
        assert!(
            s.start_failure("a-0", Time::from_millis(9)).is_none(),
            "kept"
        );
        ops.push(s.mark_replace("a-1", ReplaceReason::Operator));
        ops.push(s.mark_replace("a-3", ReplaceReason::FailureTimeout));
        let entry = ReclaimEntry {
            sent_at: None,
            agent_id: "agent-0".into(),
            resource: Resource::default(),
        };
        ops.extend(s.replaced(
            "a-2",
            Time::from_millis(7),
            [("r1".to_string(), entry)].into(),
        ));
        let mut entries = BTreeMap::new();
        apply(&mut entries, &WriteBatch { id: 1, ops });
        assert_eq!(load(&entries), s);
        assert_eq!(s.reclaims_on("agent-0"), vec!["r1".to_string()]);

        let mut ops = s.forget_reclaims(&["r1".into()]);
        ops.extend(s.end_failure("a-0"));
        apply(&mut entries, &WriteBatch { id: 2, ops });
        assert_eq!(load(&entries), s);
        assert!(s.reclaim.is_empty() && s.failure_since.is_empty());
        assert!(
            s.survivors.is_empty(),
            "a failure's end forgets its survivors"
        );
    }

    #[test]
    fn a_replace_mark_the_scheduler_did_not_write_is_an_operators() {
        let timer = ReplaceReason::FailureTimeout;
        assert_eq!(ReplaceReason::from_stored(timer.as_str().as_bytes()), timer);
        assert_eq!(
            ReplaceReason::from_stored(b"replace it, said the admin"),
            ReplaceReason::Operator
        );
        assert!(timer.is_automatic() && !ReplaceReason::Operator.is_automatic());
    }
}
