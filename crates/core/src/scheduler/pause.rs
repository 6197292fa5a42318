//! `cairn pod pause|resume`: a paused pod's RUNNING tasks run a no-op in place of their
//! command, without checks, on the same reservations and volumes, so that an operator can
//! inspect or repair its data; resuming relaunches them with their command.
//!
//! What is paused is the operator's word, stored as `Properties/paused/<pod>` (so a restart, a
//! kill -9 or an update keeps it); what runs paused is what the launch says (its
//! [`labels::PAUSED`] label). A task whose launch disagrees with its pod's word is read as one
//! of an older config (`decide::Context::facts`): the rollout kills it and launches it again,
//! paused or not, in place, one pod at a time as any rollout. The kill is the scheduler's, so
//! it is no failure.

use std::collections::{BTreeMap, BTreeSet};

use crate::labels;
use crate::plan::CommandRefusal;
use crate::store::{property_key, WriteOp};
use crate::time::Time;

use super::Scheduler;

/// Prefix of the properties naming paused pods (`paused/<pod>`, its value when it was paused).
const PAUSED_PREFIX: &str = "paused/";

/// The paused pod instances the stored properties name.
pub(super) fn from_properties(properties: &BTreeMap<String, Vec<u8>>) -> BTreeSet<String> {
    properties
        .keys()
        .filter_map(|k| k.strip_prefix(PAUSED_PREFIX))
        .map(str::to_string)
        .collect()
}

impl Scheduler {
    /// `pause <pod>`: refused for a pod paused already, one never launched, or while
    /// uninstalling.
    pub(super) fn pause_pod(&mut self, now: Time, pod: &str) -> Result<(), CommandRefusal> {
        self.check_pausable(pod)?;
        if self.paused.contains(pod) {
            return Err(CommandRefusal(format!(
                "pod `{pod}` is paused already (`resume` brings its command back)"
            )));
        }
        self.paused.insert(pod.to_string());
        self.outbox.persist(vec![WriteOp::Put {
            key: property_key(&format!("{PAUSED_PREFIX}{pod}")),
            value: now.as_millis().to_string().into_bytes(),
        }]);
        // A crash-looping pod is paused at once, not after its backoff.
        self.backoff.reset(pod);
        self.refresh(now);
        Ok(())
    }

    /// `resume <pod>`: refused for a pod that is not paused.
    pub(super) fn resume_pod(&mut self, now: Time, pod: &str) -> Result<(), CommandRefusal> {
        self.check_pausable(pod)?;
        if !self.paused.remove(pod) {
            return Err(CommandRefusal(format!("pod `{pod}` is not paused")));
        }
        self.outbox.persist(vec![WriteOp::Delete {
            key: property_key(&format!("{PAUSED_PREFIX}{pod}")),
        }]);
        self.backoff.reset(pod);
        self.refresh(now);
        Ok(())
    }

    fn check_pausable(&self, pod: &str) -> Result<(), CommandRefusal> {
        if self.is_uninstalling() {
            return Err(CommandRefusal(
                "the service is uninstalling; its pods cannot be paused or resumed".into(),
            ));
        }
        self.pod_records(pod)?;
        if self.recovery_state.replace.contains_key(pod) {
            return Err(CommandRefusal(format!(
                "pod `{pod}` is being replaced; pause or resume it once it runs again"
            )));
        }
        Ok(())
    }

    /// Whether pod instance `pod` is paused (the operator's word, whatever runs now).
    pub fn is_paused(&self, pod: &str) -> bool {
        self.paused.contains(pod)
    }
}

/// Whether a task launched as `info` disagrees with its pod's pause: `paused` are the paused
/// pods, `pod` the task's pod instance.
pub(crate) fn pause_differs(
    info: &cairn_proto::TaskInfo,
    pod: &str,
    paused: &BTreeSet<String>,
) -> bool {
    labels::launched_paused(info) != paused.contains(pod)
}
