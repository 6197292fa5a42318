//! Names derived from a spec (`data-2`, `data-2-node`) and the character rules for all names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::{ServiceSpec, TaskSpec};

/// A name that could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Not of the form `<pod>-<index>`.
    #[error("`{0}` is not a pod instance name (expected `<pod-type>-<index>`, e.g. `data-2`)")]
    NotPodInstance(String),
    /// No pod and task of the spec make this task name.
    #[error("`{0}` names no task of this service")]
    UnknownTask(String),
    /// Several pods and tasks of the spec make this task name.
    #[error("`{0}` could name several tasks of this service")]
    AmbiguousTask(String),
}

/// One instance of a pod type: `"<pod-type>-<index>"`, e.g. `data-2`.
///
/// Parsing is unambiguous although pod types may contain `-` and digits: the index is what
/// follows the last `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodInstanceName {
    pod_type: String,
    index: u32,
}

impl PodInstanceName {
    /// Instance `index` of `pod_type`.
    pub fn new(pod_type: impl Into<String>, index: u32) -> Self {
        Self {
            pod_type: pod_type.into(),
            index,
        }
    }

    /// The pod type, e.g. `data`.
    pub fn pod_type(&self) -> &str {
        &self.pod_type
    }

    /// The instance index, from 0.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Parses `data-2`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = || NameError::NotPodInstance(s.to_string());
        let (pod_type, index) = s.rsplit_once('-').ok_or_else(err)?;
        // `u32::from_str` accepts a leading `+`; an index is digits only, and `data-02` is not
        // the same name as `data-2`, so only the canonical form parses.
        let canonical = !index.is_empty()
            && index.bytes().all(|b| b.is_ascii_digit())
            && (index == "0" || !index.starts_with('0'));
        if pod_type.is_empty() || !canonical {
            return Err(err());
        }
        let index = index.parse().map_err(|_| err())?;
        Ok(Self::new(pod_type, index))
    }
}

impl fmt::Display for PodInstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pod_type, self.index)
    }
}

impl FromStr for PodInstanceName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// Stored as its display form (`"data-2"`): that is also how labels and store keys name it.
impl Serialize for PodInstanceName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PodInstanceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A task of a pod instance: displayed `"<pod-type>-<index>-<task>"`, e.g. `data-2-node`, the
/// Mesos task name.
///
/// The display form alone is ambiguous (pod types and task names both may contain `-`), so it
/// is parsed against a spec ([`TaskName::parse`]) and stored in JSON as its two parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskName {
    /// The pod instance, e.g. `data-2`.
    pub pod_instance: PodInstanceName,
    /// The task name inside the pod, e.g. `node`.
    pub task: String,
}

impl TaskName {
    /// Task `task` of `pod_instance`.
    pub fn new(pod_instance: PodInstanceName, task: impl Into<String>) -> Self {
        Self {
            pod_instance,
            task: task.into(),
        }
    }

    /// Resolves `data-2-node` against the pods and tasks of `spec`. The instance index is not
    /// checked against the pod's count: a task of a decommissioned instance still has a name.
    pub fn parse(s: &str, spec: &ServiceSpec) -> Result<Self, NameError> {
        let mut found = Vec::new();
        for pod in &spec.pods {
            let Some(rest) = s
                .strip_prefix(pod.type_name.as_str())
                .and_then(|r| r.strip_prefix('-'))
            else {
                continue;
            };
            let Some((index, task)) = rest.split_once('-') else {
                continue;
            };
            let Ok(instance) = PodInstanceName::parse(&format!("{}-{index}", pod.type_name)) else {
                continue;
            };
            if pod.task(task).is_some() {
                found.push(TaskName::new(instance, task));
            }
        }
        match found.len() {
            0 => Err(NameError::UnknownTask(s.to_string())),
            1 => Ok(found.remove(0)),
            _ => Err(NameError::AmbiguousTask(s.to_string())),
        }
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pod_instance, self.task)
    }
}

/// The longest DNS label. Pod, task and service names end up in Mesos-DNS names.
pub(crate) const DNS_LABEL_MAX: usize = cairn_proto::dns::LABEL_MAX;

/// The DNS label that `name` becomes wherever a label is needed: the discovery name of a task
/// (`<pod>-<index>-<task>`, which Mesos-DNS publishes), and the test that tells two names of a
/// spec apart.
///
/// ASCII letters are lowercased, `_` and `.` become `-`, any other character outside
/// `[a-z0-9-]` is dropped, `-` is trimmed from the start, and the result is cut to 63
/// characters and trimmed of `-` at its end. This is Mesos-DNS's own rule for task names, so
/// the label cairn advertises is the one a lookup finds whether or not a task carries a
/// discovery name. `Custom_Pod-A-0-init_x` becomes `custom-pod-a-0-init-x`.
///
/// Spec validation makes sure no pod type or task name derives an empty label and no two
/// names of one spec derive the same one.
pub fn dns_label(name: &str) -> String {
    cairn_proto::dns::label(name)
}

/// `FRAMEWORK_HOST`: the domain a service's tasks are named under, `<service>.<tld>`, the
/// service's name written as the SDK writes it (folder slashes dropped, dots as `-`):
/// `/prod/kafka.a` under `mesos` is `prodkafka-a.mesos`.
pub fn framework_host(service: &str, tld: &str) -> String {
    cairn_proto::dns::framework_host(service, tld)
}

/// The name a task is published under in DNS (its `DiscoveryInfo.name`): the label of
/// `<pod>-<index>-<task>`, or of `<prefix>-<index>` when the task's `discovery` gives a prefix.
pub fn discovery_name(pod_instance: &PodInstanceName, task: &TaskSpec) -> String {
    match task.discovery.as_ref().and_then(|d| d.prefix.as_deref()) {
        Some(prefix) => dns_label(&format!("{prefix}-{}", pod_instance.index())),
        None => dns_label(&format!("{pod_instance}-{}", task.name)),
    }
}

/// A task's stable name, `<discovery name>.<service>.<tld>` (`data-0-node.my-service.mesos`):
/// the same wherever and however often the task is launched, resolved by Mesos-DNS on a real
/// cluster and by the embedded cluster's hosts file on one machine.
pub fn task_host(
    service: &str,
    tld: &str,
    pod_instance: &PodInstanceName,
    task: &TaskSpec,
) -> String {
    format!(
        "{}.{}",
        discovery_name(pod_instance, task),
        framework_host(service, tld)
    )
}

/// Why `name` cannot be a pod type or task name, or `None`.
///
/// Names are what the DC/OS SDK accepts in practice (letters of either case, digits, `-` and
/// `_`, e.g. `custom-pod-A`, `init_system_keyspaces`), but no character that breaks an API path,
/// a file name or a store key (`/`, `.`, whitespace, control characters...). Where a DNS label
/// is needed one is derived ([`dns_label`]), so a name needs a letter or a digit.
pub(crate) fn pod_or_task_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > DNS_LABEL_MAX {
        return Some(format!(
            "`{name}` is {} characters; at most {DNS_LABEL_MAX} (its DNS label must fit in one)",
            name.len()
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Some(format!(
            "`{name}` must contain only letters, digits, `-` and `_` (it names API paths, files and task ids)"
        ));
    }
    if name.starts_with('-') {
        return Some(format!(
            "`{name}` must not start with `-` (on a command line it would read as an option)"
        ));
    }
    if dns_label(name).is_empty() {
        return Some(format!(
            "`{name}` needs a letter or a digit (it has no DNS label otherwise)"
        ));
    }
    None
}

/// Why `name` is not a DNS label of `[a-z0-9-]`, or `None` when it is one.
pub(crate) fn dns_label_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > DNS_LABEL_MAX {
        return Some(format!(
            "`{name}` is {} characters; at most {DNS_LABEL_MAX} fit a DNS label",
            name.len()
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some(format!(
            "`{name}` must contain only lowercase letters, digits and `-` (it becomes part of DNS names)"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some(format!("`{name}` must not start or end with `-`"));
    }
    None
}

/// Why `name` is not a plain identifier (`[A-Za-z0-9_-]`, as used in API paths), or `None`.
pub(crate) fn identifier_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > DNS_LABEL_MAX {
        return Some(format!(
            "`{name}` is longer than {DNS_LABEL_MAX} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Some(format!(
            "`{name}` must contain only letters, digits, `-` and `_` (it appears in API paths)"
        ));
    }
    None
}

/// Why `name` is not an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`), or `None`.
pub(crate) fn env_name_problem(name: &str) -> Option<String> {
    let mut bytes = name.bytes();
    let ok = match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
            bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        _ => false,
    };
    (!ok).then(|| {
        format!("`{name}` is not an environment variable name (letters, digits, `_`; not starting with a digit)")
    })
}

/// Why `role` cannot be a Mesos reservation role, or `None`.
pub(crate) fn role_problem(role: &str) -> Option<String> {
    if role.is_empty() {
        return Some("must not be empty".into());
    }
    if role == "*" {
        return Some("`*` is the unreserved role; resources cannot be reserved to it".into());
    }
    if role == "." || role == ".." || role.starts_with('-') || role.starts_with('/') {
        return Some(format!(
            "`{role}` is not a Mesos role (no `.`, `..`, leading `-` or `/`)"
        ));
    }
    if role
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Some(format!(
            "`{role}` is not a Mesos role (no whitespace, control characters or `\\`)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_instance_name_round_trips_through_its_display_form() {
        let n = PodInstanceName::parse("my-pod-1-12").unwrap();
        assert_eq!(n.pod_type(), "my-pod-1");
        assert_eq!(n.index(), 12);
        assert_eq!(n.to_string(), "my-pod-1-12");
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            "\"my-pod-1-12\"".to_string()
        );
        let back: PodInstanceName = serde_json::from_str("\"my-pod-1-12\"").unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn pod_instance_names_with_capitals_and_underscores_parse_at_the_last_dash() {
        let n = PodInstanceName::parse("Custom_Pod-A-0").unwrap();
        assert_eq!((n.pod_type(), n.index()), ("Custom_Pod-A", 0));
        let n = PodInstanceName::parse("init_x-7-3").unwrap();
        assert_eq!((n.pod_type(), n.index()), ("init_x-7", 3));
        assert!(PodInstanceName::parse("Custom_Pod-A").is_err());
    }

    #[test]
    fn pod_instance_name_rejects_missing_or_non_canonical_indexes() {
        for bad in ["data", "data-", "-2", "data-x", "data-+2", "data-02"] {
            assert!(PodInstanceName::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(PodInstanceName::parse("data-0").unwrap().index(), 0);
    }

    #[test]
    fn dns_label_rules_name_the_offending_value() {
        assert_eq!(dns_label_problem("data"), None);
        assert!(dns_label_problem("Data").unwrap().contains("lowercase"));
        assert!(dns_label_problem("-a").unwrap().contains("start or end"));
        assert!(dns_label_problem(&"a".repeat(64))
            .unwrap()
            .contains("64 characters"));
    }

    #[test]
    fn dns_labels_are_derived_as_mesos_dns_derives_them() {
        assert_eq!(dns_label("Custom_Pod-A-0-init_x"), "custom-pod-a-0-init-x");
        assert_eq!(dns_label("data-0-node"), "data-0-node");
        assert_eq!(dns_label("_a.b_"), "a-b");
        assert_eq!(dns_label("x y/z\u{e9}"), "xyz");
        assert_eq!(dns_label("__"), "");
        // Cut to 63, and a `-` left at the cut is trimmed too.
        let long = format!("{}_{}", "a".repeat(62), "b".repeat(10));
        assert_eq!(dns_label(&long), "a".repeat(62));
        for name in ["Data", "init_system_keyspaces", &long] {
            assert_eq!(dns_label_problem(&dns_label(name)), None, "{name}");
        }
    }

    #[test]
    fn pod_and_task_names_take_capitals_and_underscores_but_nothing_that_breaks_a_path() {
        for good in ["custom-pod-A", "init_system_keyspaces", "_x", "x-", "A1"] {
            assert_eq!(pod_or_task_name_problem(good), None, "{good}");
        }
        for (bad, says) in [
            ("", "must not be empty"),
            ("a/b", "only letters"),
            ("a.b", "only letters"),
            ("..", "only letters"),
            ("a b", "only letters"),
            ("a\tb", "only letters"),
            ("-a", "must not start with `-`"),
            ("__", "needs a letter or a digit"),
        ] {
            let problem = pod_or_task_name_problem(bad).unwrap_or_default();
            assert!(problem.contains(says), "{bad:?}: {problem}");
        }
        assert!(pod_or_task_name_problem(&"a".repeat(64))
            .unwrap()
            .contains("64 characters"));
    }

    #[test]
    fn env_names_follow_the_shell_rules() {
        assert_eq!(env_name_problem("PORT_HTTP"), None);
        assert_eq!(env_name_problem("_x1"), None);
        assert!(env_name_problem("1X").is_some());
        assert!(env_name_problem("A-B").is_some());
        assert!(env_name_problem("").is_some());
    }
}
