//! Placement rules against an agent, counting where the pod type already runs.
//!
//! Counts come from the stored tasks (each pod instance's agent, hostname and attributes, from
//! its TaskInfo labels) plus the placements decided earlier in the same cycle, so three pods
//! with `hostname:UNIQUE` offered three agents in one batch still land on three agents.

use std::collections::{BTreeMap, HashMap};

use regex_automata::meta::Regex;

use crate::spec::{PlacementField, PlacementRule, PodInstanceName};

use super::view::AgentFacts;

/// A rule with its regular expression compiled once.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule.
    pub rule: PlacementRule,
    /// LIKE/UNLIKE: the expression anchored to match the whole value; `Err`: why it is invalid.
    regex: Option<Result<Regex, String>>,
}

impl CompiledRule {
    /// Compiles `rule`.
    pub fn new(rule: PlacementRule) -> CompiledRule {
        let regex = match &rule {
            PlacementRule::Like { regex, .. } | PlacementRule::Unlike { regex, .. } => Some(
                Regex::new(&format!("^(?:{regex})$"))
                    .map_err(|e| format!("invalid regular expression `{regex}`: {e}")),
            ),
            _ => None,
        };
        CompiledRule { rule, regex }
    }

    /// Compiles every rule of a pod's placement.
    pub fn all(placement: Option<&crate::spec::Placement>) -> Vec<CompiledRule> {
        placement
            .map(|p| p.rules().iter().cloned().map(CompiledRule::new).collect())
            .unwrap_or_default()
    }
}

/// One pod instance with a home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The pod instance.
    pub pod_instance: PodInstanceName,
    /// Where it is.
    pub facts: AgentFacts,
}

/// Where every pod instance is, for placement rules and ranking.
#[derive(Debug, Clone, Default)]
pub struct PlacementContext {
    /// Placed pod instances by pod type.
    placed: HashMap<String, Vec<Placed>>,
    /// Pod type → agent id → instances there (ranking asks this for every candidate).
    per_agent: HashMap<String, HashMap<String, u32>>,
    /// Pod type → hostname → indexes into `placed` (hostname rules are the common case; other
    /// fields scan).
    per_host: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Agents offered in this cycle (GROUP_BY spreads over the values they show).
    offered: Vec<AgentFacts>,
    /// The ranking tie-break seed.
    pub seed: u64,
}

impl PlacementContext {
    /// An empty context with the ranking seed.
    pub fn new(seed: u64) -> PlacementContext {
        PlacementContext {
            seed,
            ..PlacementContext::default()
        }
    }

    /// Records a pod instance's home.
    pub fn place(&mut self, placed: Placed) {
        let pod_type = placed.pod_instance.pod_type().to_string();
        *self
            .per_agent
            .entry(pod_type.clone())
            .or_default()
            .entry(placed.facts.agent_id.clone())
            .or_insert(0) += 1;
        let list = self.placed.entry(pod_type.clone()).or_default();
        self.per_host
            .entry(pod_type)
            .or_default()
            .entry(placed.facts.hostname.clone())
            .or_default()
            .push(list.len());
        list.push(placed);
    }

    /// Records an agent offered in this cycle.
    pub fn offered(&mut self, facts: AgentFacts) {
        self.offered.push(facts);
    }

    /// Instances of `pod_type` on agent `agent_id`.
    pub fn count_on_agent(&self, pod_type: &str, agent_id: &str) -> u32 {
        self.per_agent
            .get(pod_type)
            .and_then(|m| m.get(agent_id))
            .copied()
            .unwrap_or(0)
    }

    /// Other instances of the pod's type whose `field` is `value`.
    fn others_with<'a>(
        &'a self,
        pod: &'a PodInstanceName,
        field: &'a PlacementField,
        value: &'a str,
    ) -> Box<dyn Iterator<Item = &'a Placed> + 'a> {
        let placed: &'a [Placed] = self.placed.get(pod.pod_type()).map_or(&[], Vec::as_slice);
        let others = move |p: &&Placed| &p.pod_instance != pod;
        if *field == PlacementField::Hostname {
            let indexes: &'a [usize] = self
                .per_host
                .get(pod.pod_type())
                .and_then(|m| m.get(value))
                .map_or(&[], Vec::as_slice);
            return Box::new(indexes.iter().map(move |i| &placed[*i]).filter(others));
        }
        Box::new(
            placed
                .iter()
                .filter(others)
                .filter(move |p| field_value(&p.facts, field) == Some(value)),
        )
    }

    /// Instance counts of the pod's type (others) per value of `field`, over the values seen
    /// on placed pods and offered agents.
    fn counts(&self, pod: &PodInstanceName, field: &PlacementField) -> BTreeMap<String, usize> {
        let mut counts: BTreeMap<String, usize> = self
            .offered
            .iter()
            .filter_map(|f| field_value(f, field))
            .map(|v| (v.to_string(), 0))
            .collect();
        for p in self.placed.get(pod.pod_type()).into_iter().flatten() {
            if &p.pod_instance == pod {
                continue;
            }
            if let Some(v) = field_value(&p.facts, field) {
                *counts.entry(v.to_string()).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// The value of `field` on an agent.
pub fn field_value<'a>(facts: &'a AgentFacts, field: &PlacementField) -> Option<&'a str> {
    match field {
        PlacementField::Hostname => Some(facts.hostname.as_str()),
        PlacementField::Zone => facts.zone.as_deref(),
        PlacementField::Region => facts.region.as_deref(),
        PlacementField::Attribute(a) => facts.attributes.get(a).map(String::as_str),
    }
}

/// Checks every rule; the first violated one is the reason.
pub fn check_rules(
    rules: &[CompiledRule],
    pod: &PodInstanceName,
    agent: &AgentFacts,
    ctx: &PlacementContext,
) -> Result<(), String> {
    rules
        .iter()
        .try_for_each(|r| check_rule(r, pod, agent, ctx))
}

fn check_rule(
    compiled: &CompiledRule,
    pod: &PodInstanceName,
    agent: &AgentFacts,
    ctx: &PlacementContext,
) -> Result<(), String> {
    use PlacementRule::*;
    let field = rule_field(&compiled.rule);
    let value = field_value(agent, field);
    let missing = || format!("{field}: the agent has no value for `{field}`");
    match &compiled.rule {
        Unique { .. } => {
            let v = value.ok_or_else(missing)?;
            match ctx.others_with(pod, field, v).next() {
                Some(other) => Err(format!(
                    "{field}:UNIQUE: {} is already on {field} {v}",
                    other.pod_instance
                )),
                None => Ok(()),
            }
        }
        MaxPer { max, .. } => {
            let v = value.ok_or_else(missing)?;
            let n = ctx.others_with(pod, field, v).count();
            if n >= *max as usize {
                Err(format!(
                    "{field}:MAX_PER:{max}: {n} instance(s) already on {field} {v}"
                ))
            } else {
                Ok(())
            }
        }
        Cluster { value: want, .. } => cluster(pod, field, value, want.as_deref(), ctx),
        GroupBy { .. } => group_by(pod, field, value, ctx),
        Like { regex, .. } | Unlike { regex, .. } => {
            let like = matches!(compiled.rule, Like { .. });
            let re = match &compiled.regex {
                Some(Ok(re)) => re,
                Some(Err(e)) => return Err(e.clone()),
                None => return Ok(()),
            };
            let matched = value.is_some_and(|v| re.is_match(v));
            match (like, matched) {
                (true, false) => Err(format!(
                    "{field}:LIKE:{regex}: {field} is `{}`",
                    value.unwrap_or("")
                )),
                (false, true) => Err(format!(
                    "{field}:UNLIKE:{regex}: {field} is `{}`",
                    value.unwrap_or("")
                )),
                _ => Ok(()),
            }
        }
        Is { value: want, .. } => match value {
            Some(v) if v == want => Ok(()),
            v => Err(format!(
                "{field}:IS:{want}: {field} is `{}`",
                v.unwrap_or("")
            )),
        },
        IsNot { value: want, .. } => match value {
            Some(v) if v == want => Err(format!("{field}:IS_NOT:{want}: {field} is `{v}`")),
            _ => Ok(()),
        },
    }
}

fn rule_field(rule: &PlacementRule) -> &PlacementField {
    use PlacementRule::*;
    match rule {
        Unique { field }
        | Cluster { field, .. }
        | GroupBy { field, .. }
        | Like { field, .. }
        | Unlike { field, .. }
        | MaxPer { field, .. }
        | Is { field, .. }
        | IsNot { field, .. } => field,
    }
}

/// CLUSTER: the fixed value, or whichever value the first instance got.
fn cluster(
    pod: &PodInstanceName,
    field: &PlacementField,
    value: Option<&str>,
    want: Option<&str>,
    ctx: &PlacementContext,
) -> Result<(), String> {
    let first = ctx
        .placed
        .get(pod.pod_type())
        .into_iter()
        .flatten()
        .filter(|p| &p.pod_instance != pod)
        .find_map(|p| field_value(&p.facts, field));
    match want.or(first) {
        Some(w) if value != Some(w) => Err(format!(
            "{field}:CLUSTER: instances go to {field} {w}, this is `{}`",
            value.unwrap_or("")
        )),
        _ => Ok(()),
    }
}

/// GROUP_BY, best effort: refuse a value that already has more instances than the least used
/// value known (from placed pods and this cycle's offers), so instances spread evenly over
/// what the scheduler can see.
fn group_by(
    pod: &PodInstanceName,
    field: &PlacementField,
    value: Option<&str>,
    ctx: &PlacementContext,
) -> Result<(), String> {
    let Some(v) = value else {
        return Err(format!("{field}: the agent has no value for `{field}`"));
    };
    let counts = ctx.counts(pod, field);
    let here = counts.get(v).copied().unwrap_or(0);
    let least = counts.values().copied().min().unwrap_or(0);
    if here > least {
        Err(format!(
            "{field}:GROUP_BY: {here} instance(s) on {field} {v}, another value has {least}"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Placement;

    fn agent(host: &str, rack: &str) -> AgentFacts {
        AgentFacts {
            agent_id: format!("id-{host}"),
            hostname: host.into(),
            attributes: [("rack".to_string(), rack.to_string())].into(),
            zone: None,
            region: None,
        }
    }

    fn rules(text: &str) -> Vec<CompiledRule> {
        CompiledRule::all(Some(&Placement::parse(text).unwrap()))
    }

    fn ctx_with(placed: &[(u32, AgentFacts)]) -> PlacementContext {
        let mut ctx = PlacementContext::new(0);
        for (i, f) in placed {
            ctx.place(Placed {
                pod_instance: PodInstanceName::new("data", *i),
                facts: f.clone(),
            });
        }
        ctx
    }

    #[test]
    fn unique_refuses_a_host_that_already_has_an_instance() {
        // Goal: UNIQUE counts other instances only. Method: a taken host, a free one, a relaunch.
        let ctx = ctx_with(&[(0, agent("a", "r1"))]);
        let pod = PodInstanceName::new("data", 1);
        let err =
            check_rules(&rules("hostname:UNIQUE"), &pod, &agent("a", "r1"), &ctx).unwrap_err();
        assert_eq!(err, "hostname:UNIQUE: data-0 is already on hostname a");
        assert!(check_rules(&rules("hostname:UNIQUE"), &pod, &agent("b", "r1"), &ctx).is_ok());
        // An instance does not collide with itself (a relaunch).
        let me = PodInstanceName::new("data", 0);
        assert!(check_rules(&rules("hostname:UNIQUE"), &me, &agent("a", "r1"), &ctx).is_ok());
    }

    #[test]
    fn max_per_cluster_like_unlike_is_and_is_not_follow_marathon() {
        // Goal: each operator's meaning. Method: two placed pods, one agent per case.
        let ctx = ctx_with(&[(0, agent("a", "r1")), (1, agent("b", "r1"))]);
        let pod = PodInstanceName::new("data", 2);
        let ok = |r: &str, a: AgentFacts| check_rules(&rules(r), &pod, &a, &ctx).is_ok();
        assert!(!ok("rack:MAX_PER:2", agent("c", "r1")));
        assert!(ok("rack:MAX_PER:2", agent("c", "r2")));
        assert!(ok("rack:CLUSTER", agent("c", "r1")));
        assert!(!ok("rack:CLUSTER", agent("c", "r2")));
        assert!(ok("rack:CLUSTER:r2", agent("c", "r2")));
        assert!(ok("hostname:LIKE:[a-c]", agent("c", "r2")));
        assert!(!ok("hostname:LIKE:[a-b]", agent("c", "r2")));
        assert!(
            !ok("hostname:LIKE:c.", agent("c", "r2")),
            "LIKE matches the whole value"
        );
        assert!(!ok("hostname:UNLIKE:c|d", agent("c", "r2")));
        assert!(ok("rack:IS:r2", agent("c", "r2")));
        assert!(!ok("rack:IS_NOT:r2", agent("c", "r2")));
        assert!(
            !ok("zone:IS:z", agent("c", "r2")),
            "a missing attribute is not equal"
        );
    }

    #[test]
    fn group_by_prefers_the_least_used_value_it_knows() {
        // Goal: best-effort spreading. Method: one value used, one offered.
        let mut ctx = ctx_with(&[(0, agent("a", "r1"))]);
        ctx.offered(agent("b", "r2"));
        let pod = PodInstanceName::new("data", 1);
        let r = rules("rack:GROUP_BY");
        assert!(check_rules(&r, &pod, &agent("c", "r1"), &ctx).is_err());
        assert!(check_rules(&r, &pod, &agent("b", "r2"), &ctx).is_ok());
    }
}
