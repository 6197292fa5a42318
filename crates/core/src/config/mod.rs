//! The target config: which spec the service runs, stored by id, and the rules a change must
//! follow.
//!
//! Each start of a scheduler compares the spec it was given with the stored target. The same
//! spec keeps its id; a different (or first) spec becomes the new target under a fresh
//! [`ConfigId`], after every [`ConfigValidator`] accepted the change. Validators are values an
//! author supplies; the built-in ones (volumes cannot change, pods cannot shrink, ...) come with
//! issue 6.

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
}

impl TargetChoice {
    /// The id the service runs under.
    pub fn id(&self) -> &ConfigId {
        match self {
            Self::Unchanged(id) | Self::New(id) => id,
        }
    }
}

/// Compares `spec` with the stored target and runs every validator on a change.
///
/// The new id is drawn from `ids`, which the scheduler seeds with its seed, `now` and a hash of
/// the spec's JSON, so the id is fresh per start yet reproducible in a simulation.
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
    let violations: Vec<ConfigViolation> = validators
        .iter()
        .flat_map(|v| v.validate(old.map(|(_, s)| s), spec))
        .collect();
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(TargetChoice::New(ConfigId(ids.uuid())))
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
