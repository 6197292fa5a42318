//! svc.yml exactly as written: serde structs with the dcos-commons key names.
//!
//! Every struct denies unknown keys, at every level (dcos-commons silently dropped unknown
//! pod-level keys, so a typo such as `placment:` went unnoticed). Maps whose order matters
//! (pods, tasks, plans, phases, ports, volumes) are read into an [`OrderedMap`], which keeps the
//! YAML order and rejects a repeated key. Numbers that have a valid range are read wider than
//! the model's types (`count` as i64) so that conversion can say `must be >= 0` with the path,
//! together with every other problem, instead of stopping at the first type error.
//!
//! Keys that only make sense on DC/OS (or that cairn does not run yet) are read here too, so
//! that conversion can refuse them by name; the table of what is refused and why is in
//! [`crate::spec::convert`].

// The fields are the svc.yml keys of the same name (kebab-case); their meaning is documented
// once, on the model types in `model.rs`, rather than twice.
#![allow(missing_docs)]

use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A YAML mapping kept in document order; a repeated key is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<T>(pub Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> OrderedMap<T> {
    /// The entries in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                collect_map(map).map(OrderedMap)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// Reads a mapping's entries in order, refusing a key seen before. The YAML library adds the
/// path of the mapping and the line to the error.
fn collect_map<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    mut map: A,
) -> Result<Vec<(String, T)>, A::Error> {
    let mut entries: Vec<(String, T)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
    while let Some(key) = map.next_key::<String>()? {
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
        }
        let value = map.next_value()?;
        entries.push((key, value));
    }
    Ok(entries)
}

/// The top of svc.yml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServiceSpec {
    pub name: Option<String>,
    pub web_url: Option<String>,
    pub scheduler: Option<RawScheduler>,
    pub pods: Option<OrderedMap<RawPod>>,
    pub plans: Option<OrderedMap<RawPlan>>,
    pub replacement_failure_policy: Option<RawReplacementFailurePolicy>,
}

/// `replacement-failure-policy:`, in seconds or (older specs) minutes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawReplacementFailurePolicy {
    pub permanent_failure_timeout_secs: Option<i64>,
    pub permanent_failure_timeout_mins: Option<i64>,
    pub min_replace_delay_secs: Option<i64>,
    pub min_replace_delay_mins: Option<i64>,
}

/// `scheduler:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawScheduler {
    pub principal: Option<String>,
    pub user: Option<String>,
    pub zookeeper: Option<String>,
}

/// `pods.<type>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPod {
    pub count: Option<i64>,
    pub allow_decommission: Option<bool>,
    pub placement: Option<String>,
    pub uris: Option<Vec<String>>,
    pub volume: Option<RawVolume>,
    pub volumes: Option<OrderedMap<RawVolume>>,
    pub resource_sets: Option<OrderedMap<RawResourceSet>>,
    pub tasks: Option<OrderedMap<RawTask>>,
    pub pre_reserved_role: Option<String>,
    pub user: Option<String>,
    /// `RLIMIT_<NAME>: {soft, hard}`; a name with no value (or both unset) is unlimited.
    pub rlimits: Option<OrderedMap<Option<RawRlimit>>>,
    // Recognised, refused (see the table in `convert`).
    pub container: Option<IgnoredAny>,
    pub host_volumes: Option<IgnoredAny>,
    pub share_pid_namespace: Option<bool>,
    pub image: Option<String>,
    pub networks: Option<IgnoredAny>,
    pub secrets: Option<IgnoredAny>,
    pub seccomp_unconfined: Option<bool>,
    pub seccomp_profile_name: Option<String>,
    pub ipc_mode: Option<String>,
    pub shm_size: Option<IgnoredAny>,
    pub external_volumes: Option<IgnoredAny>,
}

/// `pods.<type>.rlimits.<RLIMIT_NAME>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRlimit {
    pub soft: Option<i64>,
    pub hard: Option<i64>,
}

/// `pods.<type>.tasks.<name>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTask {
    pub goal: Option<String>,
    pub essential: Option<bool>,
    pub cmd: Option<String>,
    pub env: Option<OrderedMap<Option<String>>>,
    pub cpus: Option<f64>,
    // A number as the SDK reads it (`1` or `1.0`); conversion refuses a fraction.
    pub gpus: Option<f64>,
    pub memory: Option<i64>,
    pub ports: Option<OrderedMap<RawPort>>,
    pub health_check: Option<RawHealthCheck>,
    pub readiness_check: Option<RawReadinessCheck>,
    pub volume: Option<RawVolume>,
    pub volumes: Option<OrderedMap<RawVolume>>,
    pub resource_set: Option<String>,
    pub discovery: Option<RawDiscovery>,
    pub labels: Option<RawLabels>,
    pub kill_grace_period: Option<i64>,
    pub uris: Option<Vec<String>>,
    pub configs: Option<OrderedMap<RawConfig>>,
    pub resource_limits: Option<RawResourceLimits>,
    // Recognised, refused (see the table in `convert`).
    pub transport_encryption: Option<IgnoredAny>,
    pub ipc_mode: Option<String>,
    pub shm_size: Option<IgnoredAny>,
}

/// `resource-limits:` of a task or resource set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResourceLimits {
    pub cpus: Option<RawLimit>,
    pub memory: Option<RawLimit>,
}

/// A limit: a number, or `unlimited` (SDK specs also quote numbers).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawLimit {
    Number(f64),
    Text(String),
}

/// `pods.<type>.tasks.<name>.configs.<name>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    pub template: Option<String>,
    pub dest: Option<String>,
}

/// `pods.<type>.resource-sets.<id>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawResourceSet {
    pub cpus: Option<f64>,
    // A number as the SDK reads it (`1` or `1.0`); conversion refuses a fraction.
    pub gpus: Option<f64>,
    pub memory: Option<i64>,
    pub ports: Option<OrderedMap<RawPort>>,
    pub volume: Option<RawVolume>,
    pub volumes: Option<OrderedMap<RawVolume>>,
    pub resource_limits: Option<RawResourceLimits>,
}

/// `ports.<name>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPort {
    pub port: Option<i64>,
    pub env_key: Option<String>,
    pub advertise: Option<bool>,
    pub vip: Option<RawVip>,
    pub ranges: Option<Vec<RawRange>>,
}

/// `ports.<name>.vip:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawVip {
    pub port: Option<i64>,
    pub prefix: Option<String>,
    pub protocol: Option<String>,
}

/// `ports.<name>.ranges[i]:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRange {
    pub begin: Option<i64>,
    pub end: Option<i64>,
}

/// `health-check:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHealthCheck {
    pub cmd: Option<String>,
    pub interval: Option<i64>,
    pub grace_period: Option<i64>,
    pub max_consecutive_failures: Option<i64>,
    pub delay: Option<i64>,
    pub timeout: Option<i64>,
}

/// `readiness-check:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawReadinessCheck {
    pub cmd: Option<String>,
    pub interval: Option<i64>,
    pub delay: Option<i64>,
    pub timeout: Option<i64>,
}

/// `volume:` or `volumes.<name>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawVolume {
    pub path: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub size: Option<i64>,
    // Recognised, refused.
    pub profiles: Option<IgnoredAny>,
}

/// `discovery:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDiscovery {
    pub prefix: Option<String>,
    pub visibility: Option<String>,
}

/// `labels:` either as a mapping or, as dcos-commons wrote it, a `k1:v1,k2:v2` string.
#[derive(Debug, PartialEq)]
pub enum RawLabels {
    /// `labels: {k: v}`.
    Map(Vec<(String, Option<String>)>),
    /// `labels: "k:v,k2:v2"`.
    Csv(String),
}

impl<'de> Deserialize<'de> for RawLabels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLabels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping or a `key:value,key:value` string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawLabels, E> {
                Ok(RawLabels::Csv(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawLabels, A::Error> {
                collect_map(map).map(RawLabels::Map)
            }
        }
        d.deserialize_any(V)
    }
}

/// `plans.<name>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPlan {
    pub strategy: Option<String>,
    pub phases: Option<OrderedMap<RawPhase>>,
}

/// `plans.<name>.phases.<name>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPhase {
    pub strategy: Option<String>,
    pub pod: Option<String>,
    /// Each entry a one-key mapping: `- default: [[init], [server]]` or `- 0: [[node]]`.
    pub steps: Option<Vec<OrderedMap<Vec<Vec<String>>>>>,
}
