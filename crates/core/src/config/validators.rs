//! The built-in config validators: the rules every change of the target config follows.
//!
//! Each is a named [`ConfigValidator`] (the name is its rule, shown with every violation), run
//! by [`validate_update`] on the stored target (`old`, none on a first install) and the new
//! spec. All of them run and every violation is reported together: an operator fixes a refused
//! update in one round, not one rule per restart.
//!
//! Why these rules: a reservation and a volume are the memory of a pod (DESIGN.md principle
//! 3). A change that would orphan one (a shrinking count, a removed pod type), resize one (a
//! volume), or move it to a different owner (user, pre-reserved role) silently loses data or
//! leaks resources, so it is refused unless the author opted into decommissioning. The same
//! goes for who owns them on the cluster: reservations are made to the service's role by its
//! principal, and a scheduler subscribed under another role is offered none of them, so a
//! changed role or principal would leave every pod waiting for resources it can never get.

use std::collections::BTreeMap;

use super::{ConfigValidator, ConfigViolation};
use crate::spec::{PlacementRule, PodSpec, ServiceSpec, VolumeSpec};

/// The longest service name that still fits in one DNS label.
const DNS_LABEL_MAX: usize = 63;

/// Runs every validator on the change from `old` to `new` and returns every violation, in
/// validator order. Empty when the change is accepted. Pure: the CLI calls it before it
/// restarts anything (`cairn update`), the scheduler calls it at every start.
pub fn validate_update(
    old: Option<&ServiceSpec>,
    new: &ServiceSpec,
    validators: &[Box<dyn ConfigValidator>],
) -> Vec<ConfigViolation> {
    validators
        .iter()
        .flat_map(|v| v.validate(old, new))
        .collect()
}

/// The built-in validators, in the order they report.
pub fn default_validators() -> Vec<Box<dyn ConfigValidator>> {
    vec![
        Box::new(ServiceNameCannotContainDoubleUnderscores),
        Box::new(ServiceNameCannotBreakDns),
        Box::new(PodCountCannotShrink),
        Box::new(PodTypeCannotBeRemoved),
        Box::new(VolumesCannotChange),
        Box::new(UserCannotChange),
        Box::new(RoleCannotChange),
        Box::new(PrincipalCannotChange),
        Box::new(PlacementRuleIsValid),
        Box::new(PreReservedRoleCannotChange),
        Box::new(PortNamesAreUnique),
    ]
}

fn violation(rule: &str, path: Option<String>, message: String) -> ConfigViolation {
    ConfigViolation {
        validator: rule.to_string(),
        path,
        message,
    }
}

/// `__` separates the service name from the rest in Mesos task and reservation names that
/// other tools split on; a name containing it would be split wrongly.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceNameCannotContainDoubleUnderscores;

impl ConfigValidator for ServiceNameCannotContainDoubleUnderscores {
    fn name(&self) -> &str {
        "service_name_cannot_contain_double_underscores"
    }

    fn validate(&self, _old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        if !new.name.contains("__") {
            return Vec::new();
        }
        vec![violation(
            self.name(),
            Some("name".into()),
            format!("`{}` contains `__`", new.name),
        )]
    }
}

/// The service name (without its `/` folders) becomes a DNS label. Checked on new installs
/// only: a running service with a long name cannot be renamed, so refusing its updates would
/// only strand it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceNameCannotBreakDns;

impl ConfigValidator for ServiceNameCannotBreakDns {
    fn name(&self) -> &str {
        "service_name_cannot_break_dns"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        if old.is_some() {
            return Vec::new();
        }
        let label: String = new.name.chars().filter(|c| *c != '/').collect();
        if label.len() <= DNS_LABEL_MAX {
            return Vec::new();
        }
        vec![violation(
            self.name(),
            Some("name".into()),
            format!(
                "`{}` is {} characters without slashes; at most {DNS_LABEL_MAX}",
                new.name,
                label.len()
            ),
        )]
    }
}

/// A lower count orphans the highest instances' reservations and volumes: refused unless the
/// new spec sets `allow-decommission` (the author asks for the decommission plan).
#[derive(Debug, Clone, Copy, Default)]
pub struct PodCountCannotShrink;

impl ConfigValidator for PodCountCannotShrink {
    fn name(&self) -> &str {
        "pod_count_cannot_shrink"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        let Some(old) = old else {
            return Vec::new();
        };
        new.pods
            .iter()
            .filter_map(|pod| Some((pod, old.pod(&pod.type_name)?)))
            .filter(|(pod, before)| pod.count < before.count && !pod.allow_decommission)
            .map(|(pod, before)| {
                violation(
                    self.name(),
                    Some(format!("pods.{}.count", pod.type_name)),
                    format!(
                        "the count went from {} to {}; set allow-decommission to remove instances",
                        before.count, pod.count
                    ),
                )
            })
            .collect()
    }
}

/// A removed pod type orphans all its instances. Its permission is on the old spec: the
/// release that still has the pod type must have said it may go.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodTypeCannotBeRemoved;

impl ConfigValidator for PodTypeCannotBeRemoved {
    fn name(&self) -> &str {
        "pod_type_cannot_be_removed"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        let Some(old) = old else {
            return Vec::new();
        };
        old.pods
            .iter()
            .filter(|pod| new.pod(&pod.type_name).is_none() && !pod.allow_decommission)
            .map(|pod| {
                violation(
                    self.name(),
                    Some(format!("pods.{}", pod.type_name)),
                    "the pod type was removed; the running release must set allow-decommission on it first".into(),
                )
            })
            .collect()
    }
}

/// A persistent volume is created once and reused by every relaunch: its path, type and size
/// cannot change (Mesos cannot resize a volume, and a moved path loses the data).
#[derive(Debug, Clone, Copy, Default)]
pub struct VolumesCannotChange;

/// Every volume of a pod by where it is declared (`pods.data.tasks.node.volumes`) and path.
fn pod_volumes(pod: &PodSpec) -> BTreeMap<(String, String), &VolumeSpec> {
    let base = format!("pods.{}", pod.type_name);
    let own = pod.volumes.iter().map(|v| (format!("{base}.volumes"), v));
    let sets = pod.resource_sets.iter().flat_map(|s| {
        let at = format!("{base}.resource-sets.{}.volumes", s.id);
        s.volumes.iter().map(move |v| (at.clone(), v))
    });
    let tasks = pod.tasks.iter().flat_map(|t| {
        let at = format!("{base}.tasks.{}.volumes", t.name);
        t.volumes.iter().map(move |v| (at.clone(), v))
    });
    own.chain(sets)
        .chain(tasks)
        .map(|(at, v)| ((at, v.path.clone()), v))
        .collect()
}

fn volume_words(v: &VolumeSpec) -> String {
    format!("{:?} {} MB at `{}`", v.type_, v.size_mb, v.path)
}

impl ConfigValidator for VolumesCannotChange {
    fn name(&self) -> &str {
        "volumes_cannot_change"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        let Some(old) = old else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for pod in &new.pods {
            let Some(before) = old.pod(&pod.type_name) else {
                continue;
            };
            let (was, now) = (pod_volumes(before), pod_volumes(pod));
            for (key, v) in &was {
                match now.get(key) {
                    Some(n) if n == v => {}
                    Some(n) => out.push(violation(
                        self.name(),
                        Some(key.0.clone()),
                        format!("{} would become {}", volume_words(v), volume_words(n)),
                    )),
                    None => out.push(violation(
                        self.name(),
                        Some(key.0.clone()),
                        format!("{} would be removed", volume_words(v)),
                    )),
                }
            }
            for (key, n) in now.iter().filter(|(k, _)| !was.contains_key(*k)) {
                out.push(violation(
                    self.name(),
                    Some(key.0.clone()),
                    format!("{} would be added to running pods", volume_words(n)),
                ));
            }
        }
        out
    }
}

/// Files on volumes belong to the user the tasks ran as; another user could not read them.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserCannotChange;

impl ConfigValidator for UserCannotChange {
    fn name(&self) -> &str {
        "user_cannot_change"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        let Some(old) = old else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if old.user != new.user {
            out.push(violation(
                self.name(),
                Some("user".into()),
                format!("`{}` would become `{}`", old.user, new.user),
            ));
        }
        for pod in &new.pods {
            let Some(before) = old.pod(&pod.type_name) else {
                continue;
            };
            // The user a pod's tasks actually run as: its own, else the service's.
            let was = before.user.as_deref().unwrap_or(&old.user);
            let now = pod.user.as_deref().unwrap_or(&new.user);
            if was != now && old.user == new.user {
                out.push(violation(
                    self.name(),
                    Some(format!("pods.{}.user", pod.type_name)),
                    format!("`{was}` would become `{now}`"),
                ));
            }
        }
        out
    }
}

/// Every reservation and volume of the service is made to its role: a scheduler subscribed
/// under another one is never offered them again, so each pod would wait for ever for its
/// resources (and the old ones would leak). dcos-commons allowed it only with a framework
/// subscribed to both roles at once, which cairn's scheduler is not.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoleCannotChange;

impl ConfigValidator for RoleCannotChange {
    fn name(&self) -> &str {
        "role_cannot_change"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        match old {
            Some(old) if old.role != new.role => vec![violation(
                self.name(),
                Some("role".into()),
                format!(
                    "`{}` would become `{}`: the service's reservations and volumes are held by its role",
                    old.role, new.role
                ),
            )],
            _ => Vec::new(),
        }
    }
}

/// Reservations and volumes carry the principal that made them, and Mesos lets a framework
/// re-register only under the principal it has; a changed principal strands them as a changed
/// role does.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrincipalCannotChange;

impl ConfigValidator for PrincipalCannotChange {
    fn name(&self) -> &str {
        "principal_cannot_change"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        match old {
            Some(old) if old.principal != new.principal => vec![violation(
                self.name(),
                Some("scheduler.principal".into()),
                format!(
                    "`{}` would become `{}`: the service's reservations and volumes were made by its principal",
                    old.principal, new.principal
                ),
            )],
            _ => Vec::new(),
        }
    }
}

/// A placement that parses can still be unsatisfiable for ever (`MAX_PER:0`, `GROUP_BY` over
/// no groups, a regular expression that does not compile): refused before it strands a step.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlacementRuleIsValid;

fn rule_problem(rule: &PlacementRule) -> Option<String> {
    match rule {
        PlacementRule::MaxPer { max: 0, field } => {
            Some(format!("`{field}:MAX_PER:0` allows no instance anywhere"))
        }
        PlacementRule::GroupBy {
            groups: Some(0),
            field,
        } => Some(format!("`{field}:GROUP_BY:0` spreads over no groups")),
        PlacementRule::Like { regex, .. } | PlacementRule::Unlike { regex, .. } => {
            regex_automata::meta::Regex::new(&format!("^(?:{regex})$"))
                .err()
                .map(|e| format!("invalid regular expression `{regex}`: {e}"))
        }
        _ => None,
    }
}

/// `UNIQUE` and `CLUSTER` on the same field cannot both hold for two instances.
fn contradiction(rules: &[PlacementRule]) -> Option<String> {
    rules.iter().find_map(|r| {
        let PlacementRule::Unique { field } = r else {
            return None;
        };
        rules
            .iter()
            .any(|o| matches!(o, PlacementRule::Cluster { field: f, .. } if f == field))
            .then(|| format!("`{field}:UNIQUE` and `{field}:CLUSTER` contradict each other for more than one instance"))
    })
}

impl ConfigValidator for PlacementRuleIsValid {
    fn name(&self) -> &str {
        "placement_rule_is_valid"
    }

    fn validate(&self, _old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        let mut out = Vec::new();
        for pod in &new.pods {
            let Some(placement) = &pod.placement else {
                continue;
            };
            let at = format!("pods.{}.placement", pod.type_name);
            let problems = placement.rules().iter().filter_map(rule_problem);
            let clash = contradiction(placement.rules()).filter(|_| pod.count > 1);
            for m in problems.chain(clash) {
                out.push(violation(self.name(), Some(at.clone()), m));
            }
        }
        out
    }
}

/// Resources reserved from a pre-reserved role are refined from it; a different role would
/// leave the existing reservations unreachable.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreReservedRoleCannotChange;

impl ConfigValidator for PreReservedRoleCannotChange {
    fn name(&self) -> &str {
        "pre_reserved_role_cannot_change"
    }

    fn validate(&self, old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        let Some(old) = old else {
            return Vec::new();
        };
        let shown = |r: &Option<String>| r.clone().unwrap_or_else(|| "*".into());
        new.pods
            .iter()
            .filter_map(|pod| Some((pod, old.pod(&pod.type_name)?)))
            .filter(|(pod, before)| pod.pre_reserved_role != before.pre_reserved_role)
            .map(|(pod, before)| {
                violation(
                    self.name(),
                    Some(format!("pods.{}.pre-reserved-role", pod.type_name)),
                    format!(
                        "`{}` would become `{}`",
                        shown(&before.pre_reserved_role),
                        shown(&pod.pre_reserved_role)
                    ),
                )
            })
            .collect()
    }
}

/// Port names become `PORT_<NAME>` variables and endpoint names, so two ports of one name
/// anywhere in the service would shadow each other.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortNamesAreUnique;

fn port_paths(spec: &ServiceSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pod in &spec.pods {
        for s in &pod.resource_sets {
            for p in &s.resources.ports {
                let at = format!("pods.{}.resource-sets.{}.ports", pod.type_name, s.id);
                out.push((p.name.clone(), at));
            }
        }
        for t in &pod.tasks {
            for p in &t.resources.ports {
                let at = format!("pods.{}.tasks.{}.ports", pod.type_name, t.name);
                out.push((p.name.clone(), at));
            }
        }
    }
    out
}

impl ConfigValidator for PortNamesAreUnique {
    fn name(&self) -> &str {
        "port_names_are_unique"
    }

    fn validate(&self, _old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        let mut first: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::new();
        for (name, at) in port_paths(new) {
            match first.get(&name) {
                Some(earlier) => out.push(violation(
                    self.name(),
                    Some(format!("{at}.{name}")),
                    format!("port name `{name}` is also used at {earlier}.{name}"),
                )),
                None => {
                    first.insert(name, at);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Placement, PortSpec};

    fn spec(count: u32) -> ServiceSpec {
        use crate::spec::TaskSpec;
        ServiceSpec::builder("svc")
            .pod(
                PodSpec::builder("data")
                    .count(count)
                    .volume(VolumeSpec::root("data", 100))
                    .task(
                        TaskSpec::builder("node")
                            .cmd("run")
                            .cpus(0.5)
                            .memory_mb(256)
                            .port(PortSpec::new("http", 0)),
                    ),
            )
            .build()
            .unwrap()
    }

    fn names(v: &[ConfigViolation]) -> Vec<&str> {
        v.iter().map(|v| v.validator.as_str()).collect()
    }

    fn check(old: Option<&ServiceSpec>, new: &ServiceSpec) -> Vec<ConfigViolation> {
        validate_update(old, new, &default_validators())
    }

    #[test]
    fn an_unchanged_spec_and_a_first_install_pass_every_rule() {
        assert!(check(None, &spec(3)).is_empty());
        assert!(check(Some(&spec(3)), &spec(3)).is_empty());
    }

    #[test]
    fn a_service_name_with_double_underscores_is_refused() {
        let mut s = spec(1);
        s.name = "my__svc".into();
        assert_eq!(
            names(&check(Some(&spec(1)), &s)),
            ["service_name_cannot_contain_double_underscores"]
        );
    }

    #[test]
    fn a_long_service_name_is_refused_on_install_only() {
        let mut s = spec(1);
        s.name = format!("/folder/{}", "a".repeat(64));
        assert_eq!(names(&check(None, &s)), ["service_name_cannot_break_dns"]);
        let mut old = spec(1);
        old.name = s.name.clone();
        assert!(check(Some(&old), &s).is_empty());
    }

    #[test]
    fn a_shrinking_count_is_refused_unless_the_new_spec_allows_decommission() {
        let v = check(Some(&spec(3)), &spec(2));
        assert_eq!(names(&v), ["pod_count_cannot_shrink"]);
        assert_eq!(v[0].path.as_deref(), Some("pods.data.count"));
        let mut allowed = spec(2);
        allowed.pods[0].allow_decommission = true;
        assert!(check(Some(&spec(3)), &allowed).is_empty());
    }

    #[test]
    fn a_removed_pod_type_is_refused_unless_the_old_spec_allowed_decommission() {
        let mut old = spec(1);
        let mut extra = old.pods[0].clone();
        extra.type_name = "extra".into();
        extra.tasks[0].resources.ports[0].name = "http2".into();
        old.pods.push(extra);
        assert_eq!(
            names(&check(Some(&old), &spec(1))),
            ["pod_type_cannot_be_removed"]
        );
        old.pods[1].allow_decommission = true;
        assert!(check(Some(&old), &spec(1)).is_empty());
    }

    #[test]
    fn a_volume_size_type_or_path_change_is_refused() {
        let mut bigger = spec(1);
        bigger.pods[0].volumes[0].size_mb = 200;
        let v = check(Some(&spec(1)), &bigger);
        assert_eq!(names(&v), ["volumes_cannot_change"]);
        assert!(v[0].message.contains("100 MB") && v[0].message.contains("200 MB"));
        let mut moved = spec(1);
        moved.pods[0].volumes[0] = VolumeSpec::mount("other", 100);
        // The old path is removed and the new one added: two violations, both named.
        assert_eq!(
            names(&check(Some(&spec(1)), &moved)),
            ["volumes_cannot_change", "volumes_cannot_change"]
        );
    }

    #[test]
    fn a_changed_user_is_refused_for_the_service_and_for_a_pod() {
        let mut s = spec(1);
        s.user = "other".into();
        assert_eq!(names(&check(Some(&spec(1)), &s)), ["user_cannot_change"]);
        let mut p = spec(1);
        p.pods[0].user = Some("other".into());
        let v = check(Some(&spec(1)), &p);
        assert_eq!(v[0].path.as_deref(), Some("pods.data.user"));
    }

    #[test]
    fn a_changed_role_or_principal_is_refused_by_name_and_a_first_install_chooses_freely() {
        let mut moved = spec(1);
        moved.role = "other-role".into();
        let v = check(Some(&spec(1)), &moved);
        assert_eq!(names(&v), ["role_cannot_change"]);
        assert_eq!(v[0].path.as_deref(), Some("role"));
        assert!(v[0]
            .message
            .contains("`svc-role` would become `other-role`"));
        let mut other = spec(1);
        other.principal = "someone".into();
        let v = check(Some(&spec(1)), &other);
        assert_eq!(names(&v), ["principal_cannot_change"]);
        assert_eq!(v[0].path.as_deref(), Some("scheduler.principal"));
        assert!(check(None, &moved).is_empty());
        assert!(check(None, &other).is_empty());
    }

    #[test]
    fn a_placement_that_can_never_be_satisfied_is_refused() {
        let mut s = spec(1);
        s.pods[0].placement = Some(Placement::parse("rack:LIKE:[a-").unwrap());
        assert_eq!(names(&check(None, &s)), ["placement_rule_is_valid"]);
        let mut two = spec(2);
        two.pods[0].placement = Some(Placement::parse("hostname:UNIQUE,hostname:CLUSTER").unwrap());
        let v = check(None, &two);
        assert!(v[0].message.contains("contradict"), "{v:?}");
        s.pods[0].placement = Some(Placement::parse("hostname:UNIQUE").unwrap());
        assert!(check(None, &s).is_empty());
    }

    #[test]
    fn a_changed_pre_reserved_role_is_refused() {
        let mut s = spec(1);
        s.pods[0].pre_reserved_role = Some("slave_public".into());
        assert_eq!(
            names(&check(Some(&spec(1)), &s)),
            ["pre_reserved_role_cannot_change"]
        );
    }

    #[test]
    fn a_port_name_used_twice_in_the_service_is_refused() {
        let mut s = spec(1);
        let mut other = s.pods[0].clone();
        other.type_name = "other".into();
        other.volumes.clear();
        s.pods.push(other);
        let v = check(None, &s);
        assert_eq!(names(&v), ["port_names_are_unique"]);
        assert_eq!(
            v[0].path.as_deref(),
            Some("pods.other.tasks.node.ports.http")
        );
    }

    #[test]
    fn every_violation_of_every_rule_is_reported_together() {
        let mut s = spec(2);
        s.pods[0].volumes[0].size_mb = 1;
        s.user = "other".into();
        assert_eq!(
            names(&check(Some(&spec(3)), &s)),
            [
                "pod_count_cannot_shrink",
                "volumes_cannot_change",
                "user_cannot_change"
            ]
        );
    }
}
