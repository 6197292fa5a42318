//! The target config: which spec the service runs, stored by id, and the rules a change must
//! follow.
//!
//! Each start of a scheduler compares the spec it was given with the stored target. The same
//! spec keeps its id; a different (or first) spec becomes the new target under a fresh
//! [`ConfigId`], after every [`ConfigValidator`] accepted the change: the built-in ones
//! ([`validators`]: volumes cannot change, pods cannot shrink, ...) and the author's.
//!
//! A refused change does not stop a running service: the stored target stays in force and the
//! violations are shown as the deploy plan's errors ([`TargetChoice::Refused`]). Only a first
//! install has nothing to fall back to, and is refused outright.

pub mod validators;

pub use validators::{default_validators, validate_update};

use crate::ids::{stable_hash, IdSource};
use crate::spec::ServiceSpec;
use crate::store::{ConfigId, StoredState};
use crate::time::Time;

/// One reason a config change is refused. A value, not an error: every violation is reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigViolation {
    /// The validator that refused, named as its rule (`volumes_cannot_change`).
    pub validator: String,
    /// Where in the spec, in svc.yml vocabulary (`pods.data.volumes`), if it is one place.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{} ({}): {}", path, self.validator, self.message),
            None => write!(f, "{}: {}", self.validator, self.message),
        }
    }
}

/// A rule a config change must follow: `old` is the stored target (none on first start).
pub trait ConfigValidator: Send {
    /// The rule's name, e.g. `volumes_cannot_change`.
    fn name(&self) -> &str;
    /// Every violation of the rule by the change from `old` to `new`; empty when accepted.
    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation>;
}

/// What starting with a spec means for the stored target.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetChoice {
    /// The spec is the stored target: keep its id, write nothing.
    Unchanged(ConfigId),
    /// The spec is new: store it under this id and make it the target.
    New(ConfigId),
    /// The change was refused: the stored target (this id, this spec) stays in force, and the
    /// violations are reported.
    Refused {
        /// The stored target kept.
        kept: ConfigId,
        /// Its spec, which the scheduler runs instead of the refused one.
        spec: Box<ServiceSpec>,
        /// Every violation, in validator order.
        violations: Vec<ConfigViolation>,
    },
}

impl TargetChoice {
    /// The id the service runs under.
    pub fn id(&self) -> &ConfigId {
        match self {
            Self::Unchanged(id) | Self::New(id) | Self::Refused { kept: id, .. } => id,
        }
    }
}

/// Compares `spec` with the stored target and runs every validator on a change (the built-in
/// ones, then `validators`).
///
/// The new id is drawn from `ids`, which the scheduler seeds with its seed, `now` and a hash of
/// the spec's JSON, so the id is fresh per start yet reproducible in a simulation.
///
/// # Errors
/// The violations, when a first install is refused (there is no target to keep running).
pub fn choose_target(
    spec: &ServiceSpec,
    stored: &StoredState,
    validators: &[Box<dyn ConfigValidator>],
    ids: &mut IdSource,
) -> Result<TargetChoice, Vec<ConfigViolation>> {
    let old = stored
        .target
        .as_ref()
        .and_then(|id| stored.configs.get(id).map(|s| (id, s)));
    if let Some((id, old_spec)) = old {
        if old_spec == spec {
            return Ok(TargetChoice::Unchanged(id.clone()));
        }
    }
    let old_spec = old.map(|(_, s)| s);
    let violations = violations_of(old_spec, spec, validators);
    match (violations.is_empty(), old) {
        (true, _) => Ok(TargetChoice::New(ConfigId(ids.uuid()))),
        (false, None) => Err(violations),
        (false, Some((id, old_spec))) => Ok(TargetChoice::Refused {
            kept: id.clone(),
            spec: Box::new(old_spec.clone()),
            violations,
        }),
    }
}

/// Every violation of the change from `old` to `new`: the built-in validators' first, then
/// those of the author's `validators`. What a start (and a spec handed to a running scheduler)
/// is judged by.
pub fn violations_of(
    old: Option<&ServiceSpec>,
    new: &ServiceSpec,
    validators: &[Box<dyn ConfigValidator>],
) -> Vec<ConfigViolation> {
    let mut violations = validate_update(old, new, &default_validators());
    violations.extend(validate_update(old, new, validators));
    violations
}

/// The hash of a spec's stored form, one of the inputs of the scheduler's id source.
pub fn spec_hash(spec: &ServiceSpec) -> u64 {
    // A spec always serializes (plain data); an empty fallback only weakens the id's entropy.
    let json = serde_json::to_vec(spec).unwrap_or_default();
    stable_hash(&json)
}

/// The id-source inputs for a scheduler started at `now` over `stored` with `spec`.
pub fn id_inputs(spec: &ServiceSpec, stored: &StoredState, now: Time) -> [u64; 3] {
    let store_shape = stored.tasks.len() as u64
        ^ stored
            .framework_id
            .as_ref()
            .map_or(0, |f| stable_hash(f.value.as_bytes()));
    [now.as_millis(), spec_hash(spec), store_shape]
}

/// A pod spec without what does not need a relaunch to change: the count (new instances are
/// launched, removed ones decommissioned), the placement (it only decides where new instances
/// go) and `allow-decommission`. dcos-commons ignores the same fields.
fn rollout_shape(pod: &crate::spec::PodSpec) -> crate::spec::PodSpec {
    crate::spec::PodSpec {
        count: 0,
        placement: None,
        allow_decommission: false,
        ..pod.clone()
    }
}

/// Whether tasks of `pod_type` launched under `old` need no relaunch to run under `new`.
pub fn same_pod_rollout(old: &ServiceSpec, new: &ServiceSpec, pod_type: &str) -> bool {
    match (old.pod(pod_type), new.pod(pod_type)) {
        (Some(a), Some(b)) => {
            rollout_shape(a) == rollout_shape(b)
                && old.role == new.role
                && old.principal == new.principal
                && old.user == new.user
        }
        _ => false,
    }
}

/// Stored tasks whose config differs from the target `id` only in what needs no relaunch
/// (see [`same_pod_rollout`]) are relabelled to the target: growing a count, or changing one pod
/// type, leaves every other pod running. Returns the writes of the updated TaskInfos; `tasks` is
/// updated in place.
pub fn relabel_unchanged(
    tasks: &mut std::collections::BTreeMap<String, crate::store::TaskRecord>,
    configs: &std::collections::BTreeMap<ConfigId, ServiceSpec>,
    id: &ConfigId,
    spec: &ServiceSpec,
) -> Vec<crate::store::WriteOp> {
    use crate::labels::{task_config, task_pod_instance, TARGET_CONFIGURATION};
    let mut writes = Vec::new();
    for (name, record) in tasks.iter_mut() {
        let info = &record.info;
        let (Some(config), Some(pod)) = (task_config(info), task_pod_instance(info)) else {
            continue;
        };
        if config == *id {
            continue;
        }
        let Some(old) = configs.get(&config) else {
            continue;
        };
        if !same_pod_rollout(old, spec, pod.pod_type()) {
            continue;
        }
        let labels = record.info.labels.get_or_insert_with(Default::default);
        labels.insert(TARGET_CONFIGURATION, id.0.clone());
        writes.push(crate::store::WriteOp::Put {
            key: crate::store::task_info_key(name),
            // A TaskInfo is plain data and always serializes.
            value: serde_json::to_vec(&record.info).unwrap_or_default(),
        });
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{PodSpec, TaskSpec};

    fn spec(count: u32, cpus: f64) -> ServiceSpec {
        ServiceSpec::builder("svc")
            .pod(
                PodSpec::builder("data").count(count).task(
                    TaskSpec::builder("node")
                        .cmd("run")
                        .cpus(cpus)
                        .memory_mb(64),
                ),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn count_placement_and_allow_decommission_need_no_relaunch_but_resources_do() {
        let mut placed = spec(5, 1.0);
        placed.pods[0].allow_decommission = true;
        placed.pods[0].placement = Some(crate::spec::Placement::parse("hostname:UNIQUE").unwrap());
        assert!(same_pod_rollout(&spec(3, 1.0), &placed, "data"));
        assert!(!same_pod_rollout(&spec(3, 1.0), &spec(3, 2.0), "data"));
        assert!(!same_pod_rollout(&spec(3, 1.0), &spec(3, 1.0), "other"));
    }
}
